//! Two hosts, one Redis: independent stores (own connections, own threads) enforce one set of
//! limits between them, on Redis's clock.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

use std::net::IpAddr;
use std::sync::{Arc, Barrier};
use std::time::Duration;

use postern_policy::concurrency::{ConcurrencyConfig, ConcurrencyRefusal, SlotClass};
use postern_policy::greylist::{GreylistConfig, GreylistDecision};
use postern_policy::tarpit::{Offence, PenaltyConfig};
use postern_policy::{PrefixLengths, Quota, RateMode, Subjects, Verdict};
use postern_redis::testing::RedisServer;
use postern_redis::{Decision, Greylisting, LeasePool, Penalty, RateLimit, Store, StoreConfig};

/// The seed every host configures, so that they compute the same keys.
const SEED: [u64; 2] = [0x0123_4567_89ab_cdef, 0xfedc_ba98_7654_3210];

fn host(server: &RedisServer) -> (Store, Subjects) {
    let store = Store::open(&server.url(), StoreConfig::default()).unwrap();
    (store, Subjects::with_seed(PrefixLengths::default(), SEED))
}

fn decided<T: std::fmt::Debug>(d: Decision<T>) -> T {
    match d {
        Decision::Decided(t) => t,
        Decision::Failed { error, .. } => panic!("Redis failed: {error}"),
    }
}

#[test]
fn two_hosts_admit_one_burst_in_total() {
    const BURST: u64 = 7;
    const TRIES: usize = 40;
    let server = RedisServer::start().unwrap_or_else(|e| panic!("{e}"));
    // 7 connections per hour per client, burst 7: nothing refills during the test.
    let quota = Quota::new(BURST, 3_600_000).unwrap();
    let limit = Arc::new(RateLimit::new("conn", quota, RateMode::Leaky).unwrap());
    let barrier = Arc::new(Barrier::new(2));
    let ip: IpAddr = "2001:db8:1:2::7".parse().unwrap();
    let threads: Vec<_> = (0..2_u16)
        .map(|h| {
            let (mut store, subjects) = host(&server);
            let limit = Arc::clone(&limit);
            let barrier = Arc::clone(&barrier);
            std::thread::spawn(move || {
                // Each host sees the client from another address of its /64.
                let IpAddr::V6(v6) = ip else { unreachable!() };
                let mut seg = v6.segments();
                seg[7] = 100 + h;
                let client = subjects.client_ip(IpAddr::from(seg));
                barrier.wait();
                (0..TRIES)
                    .filter(|_| decided(store.rate(&limit, client, 1)).is_allowed())
                    .count()
            })
        })
        .collect();
    let admitted: Vec<usize> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    assert_eq!(
        admitted.iter().sum::<usize>(),
        usize::try_from(BURST).unwrap(),
        "per host: {admitted:?}"
    );
}

#[test]
fn two_hosts_share_leases_greylisting_and_penalties() {
    let server = RedisServer::start().unwrap_or_else(|e| panic!("{e}"));
    let (mut a, subjects) = host(&server);
    let (mut b, _) = host(&server);
    let client = subjects.client_ip("192.0.2.1".parse().unwrap());

    // Two connections per client across both hosts.
    let pool = LeasePool::new(
        "smtp",
        ConcurrencyConfig {
            total: 100,
            per_subject: 2,
            reserved: 0,
            lease_ttl_ms: 60_000,
        },
    )
    .unwrap();
    let l1 = decided(a.acquire(&pool, client, SlotClass::Normal)).unwrap();
    let _l2 = decided(b.acquire(&pool, client, SlotClass::Normal)).unwrap();
    assert_eq!(
        decided(a.acquire(&pool, client, SlotClass::Normal)),
        Err(ConcurrencyRefusal::PerSubject)
    );
    // A lease taken on one host is released from the other (a session handed over).
    assert!(decided(b.release(&pool, &l1)));
    assert!(decided(b.acquire(&pool, client, SlotClass::Normal)).is_ok());

    // Greylisting: the first attempt on A, the retry on B after the delay passes.
    let grey = Greylisting::new(
        "grey",
        GreylistConfig {
            delay_ms: 300,
            auto_allow_after: 0,
            ..GreylistConfig::default()
        },
    )
    .unwrap();
    let prefix = subjects.prefix("192.0.2.1".parse().unwrap());
    let triplet = subjects.triplet(prefix, "alice@example.org", "bob@example.net");
    assert!(matches!(
        decided(a.greylist(&grey, triplet, client)),
        GreylistDecision::Defer { .. }
    ));
    assert!(matches!(
        decided(b.greylist(&grey, triplet, client)),
        GreylistDecision::Defer { retry_after_ms } if retry_after_ms <= 300
    ));
    std::thread::sleep(Duration::from_millis(350));
    assert_eq!(
        decided(b.greylist(&grey, triplet, client)),
        GreylistDecision::FirstPass
    );
    assert_eq!(
        decided(a.greylist(&grey, triplet, client)),
        GreylistDecision::Known
    );

    // Penalties earned on A delay the next greeting on B.
    let pen = Penalty::new("tarpit", PenaltyConfig::default()).unwrap();
    assert_eq!(decided(b.penalty_connect(&pen, client)), Verdict::Accept);
    for _ in 0..3 {
        decided(a.penalize(&pen, client, Offence::UnknownRecipient));
    }
    let v = decided(b.penalty_connect(&pen, client));
    assert!(
        matches!(v, Verdict::Delay { ms } if ms > 2_900 && ms <= 3_000),
        "{v:?}"
    );
}
