//! Differential tests: random event sequences replayed through a real Redis (with the time
//! fed by the test) and through postern-policy's in-memory tables and pure steps; every
//! verdict must be the same, and every key's TTL must be the time until its state equals
//! fresh state.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::single_match_else,
    missing_docs
)]

use std::collections::HashMap;

use postern_policy::concurrency::{
    Concurrency, ConcurrencyConfig, ConcurrencyRefusal, Lease, SlotClass,
};
use postern_policy::gcra::{self, GcraState};
use postern_policy::greylist::{Greylist, GreylistConfig, GreylistDecision, GreylistState};
use postern_policy::tarpit::{Offence, PenaltyBox, PenaltyConfig, SCORE_SCALE};
use postern_policy::{Key, Overflow, Quota, RateDecision, RateLimiter, RateMode};
use postern_redis::testing::RedisServer;
use postern_redis::{
    CALLER_CLOCK_SLACK_MS, Decision, Greylisting, LeasePool, Penalty, RateLimit, SharedLease,
    Store, StoreConfig,
};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};

fn server() -> RedisServer {
    RedisServer::start().unwrap_or_else(|e| panic!("{e}"))
}

fn store(server: &RedisServer, prefix: &str) -> Store {
    Store::open(
        &server.url(),
        StoreConfig {
            prefix: prefix.to_owned(),
            ..StoreConfig::default()
        },
    )
    .unwrap()
}

fn decided<T: std::fmt::Debug>(d: Decision<T>) -> T {
    match d {
        Decision::Decided(t) => t,
        Decision::Failed { error, .. } => panic!("Redis failed: {error}"),
    }
}

fn runner(cases: u32) -> TestRunner {
    TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    })
}

fn pttl(server: &RedisServer, key: &str) -> i64 {
    let client = redis::Client::open(server.url()).unwrap();
    let mut c = client.get_connection().unwrap();
    redis::cmd("PTTL").arg(key).query(&mut c).unwrap()
}

/// Start times: small, today's epoch milliseconds (nanosecond TATs beyond 2^53, which Lua's
/// doubles cannot hold exactly), and far in the future.
fn base_time() -> impl Strategy<Value = u64> {
    prop_oneof![
        Just(1_000_000_u64),
        1_700_000_000_000_u64..1_800_000_000_000,
        (1_u64 << 40)..(1_u64 << 44),
    ]
}

fn get(server: &RedisServer, key: &str) -> Option<Vec<u8>> {
    let client = redis::Client::open(server.url()).unwrap();
    let mut c = client.get_connection().unwrap();
    redis::cmd("GET").arg(key).query(&mut c).unwrap()
}

fn mode() -> impl Strategy<Value = RateMode> {
    prop_oneof![
        Just(RateMode::Leaky),
        Just(RateMode::Strict),
        Just(RateMode::ReadOnly)
    ]
}

#[test]
fn gcra_matches_in_memory_limiter_and_pure_step() {
    let server = server();
    let counter = std::cell::Cell::new(0_u32);
    let strategy = (
        (1_u64..20, base_time()),
        prop_oneof![1_u64..100_000, 1_u64..=gcra::MAX_PERIOD_MS],
        1_u64..8,
        mode(),
        prop::collection::vec((0_u64..8_000, 0_u8..3, 0_u64..10, 0_u8..3), 1..60),
    );
    runner(128)
        .run(&strategy, |((count, base), period, burst, mode, events)| {
            counter.set(counter.get() + 1);
            let case = counter.get();
            let quota = Quota::new(count, period)
                .and_then(|q| q.with_burst(burst))
                .map_err(|e| TestCaseError::reject(e.to_string()))?;
            let limit = RateLimit::new("r", quota, mode).unwrap();
            let prefix = format!("gcra{case}");
            let mut store = store(&server, &prefix);
            let mut memory = RateLimiter::new(quota, mode, 1000, Overflow::EvictOldest).unwrap();
            let mut records: HashMap<u8, Vec<u8>> = HashMap::new();
            let mut now = base;
            for (dt, k, cost, op) in events {
                now += dt;
                store.set_caller_time(Some(now));
                let key = Key::from_u128(u128::from(k) + 1);
                match op {
                    // A decision with the limit's mode.
                    0 => {
                        let got = decided(store.rate(&limit, key, cost));
                        prop_assert_eq!(got, memory.check(key, now, cost), "check at {}", now);
                        let step =
                            gcra::step(&quota, mode, records.get(&k).map(|r| &r[..]), now, cost)
                                .unwrap();
                        prop_assert_eq!(got, step.decision);
                        if let Some(s) = step.new_state {
                            records.insert(k, s.encode().to_vec());
                            let ttl = pttl(&server, &limit.redis_key(&prefix, key));
                            let want = step.fresh_after_ms - now;
                            if want == 0 {
                                prop_assert_eq!(ttl, -2, "a key equal to fresh state is deleted");
                            } else {
                                let want = i64::try_from(want + CALLER_CLOCK_SLACK_MS).unwrap();
                                prop_assert!(
                                    ttl <= want && ttl > want - 5_000,
                                    "ttl {} want {}",
                                    ttl,
                                    want
                                );
                            }
                        }
                    }
                    1 => {
                        let got = decided(store.rate_peek(&limit, key, cost));
                        prop_assert_eq!(got, memory.peek(key, now, cost), "peek at {}", now);
                    }
                    // Charging (cost within the burst, as callers that charge after a check).
                    _ => {
                        let cost = cost.min(burst);
                        let got = decided(store.rate_charge(&limit, key, cost));
                        memory.charge(key, now, cost);
                        let step = gcra::step(
                            &quota,
                            RateMode::Strict,
                            records.get(&k).map(|r| &r[..]),
                            now,
                            cost,
                        )
                        .unwrap();
                        prop_assert_eq!(got, step.decision);
                        if let Some(s) = step.new_state {
                            records.insert(k, s.encode().to_vec());
                        }
                    }
                }
            }
            // The records in Redis are the pure step's (or expired to fresh state).
            let client = redis::Client::open(server.url()).unwrap();
            let mut c = client.get_connection().unwrap();
            for (k, want) in &records {
                let key = limit.redis_key(&prefix, Key::from_u128(u128::from(*k) + 1));
                let got: Option<Vec<u8>> = redis::cmd("GET").arg(&key).query(&mut c).unwrap();
                let fresh = GcraState::decode(want).unwrap().fresh_after_ms() <= now;
                match got {
                    Some(g) => prop_assert_eq!(&g, want),
                    None => prop_assert!(fresh, "record of {} missing", key),
                }
            }
            Ok(())
        })
        .unwrap();
}

/// The reference for `rate_all`: postern policy simulate's `check_rates` then
/// `charge_rates` over in-memory limiters.
fn check_then_charge(
    limiters: &mut [RateLimiter],
    keys: &[Key],
    now: u64,
    cost: u64,
) -> Vec<RateDecision> {
    let mut out = Vec::new();
    for (l, &key) in limiters.iter_mut().zip(keys) {
        let mut d = l.peek(key, now, cost);
        if l.mode() == RateMode::Strict && matches!(d, RateDecision::Refused { .. }) {
            l.charge(key, now, cost);
            d = l.peek(key, now, cost);
        }
        out.push(d);
    }
    if out.iter().all(RateDecision::is_allowed) {
        for (l, &key) in limiters.iter_mut().zip(keys) {
            if l.mode() != RateMode::ReadOnly {
                l.charge(key, now, cost);
            }
        }
    }
    out
}

#[test]
fn rate_all_matches_check_then_charge() {
    let server = server();
    let counter = std::cell::Cell::new(0_u32);
    let limit = (1_u64..6, 1_u64..60_000, 1_u64..5, mode());
    let strategy = (
        prop::collection::vec(limit, 1..4),
        base_time(),
        prop::collection::vec((0_u64..5_000, 0_u8..3, 0_u64..6), 1..50),
    );
    runner(128)
        .run(&strategy, |(limits, base, events)| {
            counter.set(counter.get() + 1);
            let case = counter.get();
            let mut shared = Vec::new();
            let mut memory = Vec::new();
            for (i, (count, period, burst, mode)) in limits.into_iter().enumerate() {
                let quota = Quota::new(count, period)
                    .and_then(|q| q.with_burst(burst))
                    .map_err(|e| TestCaseError::reject(e.to_string()))?;
                shared.push(RateLimit::new(&format!("l{i}"), quota, mode).unwrap());
                memory.push(RateLimiter::new(quota, mode, 100, Overflow::EvictOldest).unwrap());
            }
            let mut store = store(&server, &format!("all{case}"));
            let mut now = base;
            for (dt, k, cost) in events {
                now += dt;
                store.set_caller_time(Some(now));
                // The first limit keys by client, the others by a shared sender key.
                let keys: Vec<Key> = (0..shared.len())
                    .map(|i| Key::from_u128(if i == 0 { u128::from(k) } else { 99 }))
                    .collect();
                let requests: Vec<(&RateLimit, Key, u64)> = shared
                    .iter()
                    .zip(&keys)
                    .map(|(l, &key)| (l, key, cost))
                    .collect();
                let got = decided(store.rate_all(&requests));
                let want = check_then_charge(&mut memory, &keys, now, cost);
                prop_assert_eq!(got, want, "at {}", now);
            }
            Ok(())
        })
        .unwrap();
}

#[test]
fn greylist_matches_in_memory_table() {
    let server = server();
    let counter = std::cell::Cell::new(0_u32);
    let strategy = (
        // Small times, so that the boundaries (delay, window, TTL) are hit exactly.
        0_u64..40,
        0_u64..80,
        0_u64..100,
        (0_u32..3, base_time()),
        prop::collection::vec((0_u64..50, 0_u8..4, 0_u8..2), 1..80),
    );
    runner(128)
        .run(
            &strategy,
            |(delay, extra, pass_ttl, (auto, base), events)| {
                counter.set(counter.get() + 1);
                let case = counter.get();
                let config = GreylistConfig {
                    delay_ms: delay,
                    retry_window_ms: delay + extra,
                    pass_ttl_ms: pass_ttl,
                    auto_allow_after: auto,
                    ..GreylistConfig::default()
                };
                let grey = Greylisting::new("g", config).unwrap();
                let mut store = store(&server, &format!("grey{case}"));
                let mut memory = Greylist::new(config).unwrap();
                let mut now = base;
                for (dt, k, c) in events {
                    now += dt;
                    store.set_caller_time(Some(now));
                    let key = Key::from_u128(u128::from(k) + 10);
                    let client = Key::from_u128(u128::from(c) + 100);
                    // A peek agrees with the in-memory peek and writes nothing.
                    let name = grey.redis_key(&format!("grey{case}"), key);
                    let client_name = grey.client_redis_key(&format!("grey{case}"), client);
                    let before = (get(&server, &name), get(&server, &client_name));
                    let peeked = decided(store.greylist_peek(&grey, key, client));
                    prop_assert_eq!(peeked, memory.peek(key, client, now), "peek at {}", now);
                    prop_assert_eq!(
                        (get(&server, &name), get(&server, &client_name)),
                        before,
                        "a peek wrote at {}",
                        now
                    );
                    let got = decided(store.greylist(&grey, key, client));
                    prop_assert_eq!(got, peeked, "peek then check at {}", now);
                    prop_assert_eq!(got, memory.check(key, client, now), "at {}", now);
                    // The key lives until its record equals a first sighting.
                    if got != GreylistDecision::ClientAllowed {
                        let record = get(&server, &name).expect("a greylisting record");
                        let fresh = GreylistState::decode(&record)
                            .unwrap()
                            .fresh_after_ms(&config);
                        let want = i64::try_from(fresh - now + CALLER_CLOCK_SLACK_MS).unwrap();
                        let ttl = pttl(&server, &name);
                        prop_assert!(
                            ttl <= want && ttl > want - 5_000,
                            "ttl {} want {}",
                            ttl,
                            want
                        );
                    }
                }
                Ok(())
            },
        )
        .unwrap();
}

#[test]
fn penalty_matches_in_memory_box() {
    let server = server();
    let counter = std::cell::Cell::new(0_u32);
    let strategy = (
        (
            prop_oneof![1_u64..5_000, 1_u64..=postern_redis::MAX_HALF_LIFE_MS],
            0_u32..4,
            0_u32..4,
            0_u64..2_000,
        ),
        (0_u64..10_000, 0_u32..12, any::<bool>(), base_time()),
        prop::collection::vec(
            (prop_oneof![0_u64..4_000, 0_u64..1 << 36], 0_u8..3, 0_u8..3),
            1..80,
        ),
    );
    runner(128)
        .run(&strategy, |(a, b, events)| {
            counter.set(counter.get() + 1);
            let case = counter.get();
            let (half_life_ms, unknown, error, delay_per_point_ms) = a;
            let (max_delay_ms, ban_threshold, ban_permanent, base) = b;
            let config = PenaltyConfig {
                half_life_ms,
                unknown_recipient_points: unknown,
                protocol_error_points: error,
                delay_per_point_ms,
                max_delay_ms,
                ban_threshold,
                ban_permanent,
                ..PenaltyConfig::default()
            };
            let penalty = Penalty::new("p", config).unwrap();
            let mut store = store(&server, &format!("pen{case}"));
            let mut memory = PenaltyBox::new(config).unwrap();
            let mut now = base;
            for (dt, c, op) in events {
                now += dt;
                store.set_caller_time(Some(now));
                let client = Key::from_u128(u128::from(c) + 1);
                match op {
                    0 => {
                        let got = decided(store.penalty_connect(&penalty, client));
                        prop_assert_eq!(got, memory.connect(client, now), "at {}", now);
                    }
                    _ => {
                        let offence = if op == 1 {
                            Offence::UnknownRecipient
                        } else {
                            Offence::ProtocolError
                        };
                        let got = decided(store.penalize(&penalty, client, offence));
                        memory.penalize(client, offence, now);
                        prop_assert_eq!(
                            got.score_at(&config, now) / SCORE_SCALE,
                            memory.points(client, now)
                        );
                        let ttl = pttl(&server, &penalty.redis_key(&format!("pen{case}"), client));
                        let want = got.fresh_after_ms(&config) - now;
                        if want == 0 {
                            prop_assert_eq!(ttl, -2);
                        } else {
                            let want = i64::try_from(want + CALLER_CLOCK_SLACK_MS).unwrap();
                            prop_assert!(ttl <= want && ttl > want - 5_000);
                        }
                    }
                }
            }
            Ok(())
        })
        .unwrap();
}

#[derive(Debug, Clone, Copy)]
enum LeaseEvent {
    Acquire(u8, bool),
    Renew(usize),
    Release(usize),
}

fn lease_event() -> impl Strategy<Value = LeaseEvent> {
    prop_oneof![
        3 => (0_u8..3, prop::bool::weighted(0.25)).prop_map(|(s, r)| LeaseEvent::Acquire(s, r)),
        1 => (0_usize..16).prop_map(LeaseEvent::Renew),
        2 => (0_usize..16).prop_map(LeaseEvent::Release),
    ]
}

#[test]
fn leases_match_in_memory_concurrency() {
    let server = server();
    let counter = std::cell::Cell::new(0_u32);
    let strategy = (
        1_u32..6,
        0_u32..3,
        0_u32..3,
        (1_u64..3_000, base_time()),
        prop::collection::vec((0_u64..1_000, lease_event()), 1..80),
    );
    runner(128)
        .run(
            &strategy,
            |(total, per_subject, reserved, (ttl, base), events)| {
                counter.set(counter.get() + 1);
                let case = counter.get();
                let config = ConcurrencyConfig {
                    total,
                    per_subject,
                    reserved: reserved.min(total),
                    lease_ttl_ms: ttl,
                };
                let pool = LeasePool::new("c", config).unwrap();
                let mut store = store(&server, &format!("lease{case}"));
                let mut memory = Concurrency::new(config).unwrap();
                let mut held: Vec<(Lease, SharedLease)> = Vec::new();
                let mut now = base;
                for (dt, ev) in events {
                    now += dt;
                    store.set_caller_time(Some(now));
                    match ev {
                        LeaseEvent::Acquire(s, reserved) => {
                            let class = if reserved {
                                SlotClass::Reserved
                            } else {
                                SlotClass::Normal
                            };
                            let subject = Key::from_u128(u128::from(s) + 1);
                            let got = decided(store.acquire(&pool, subject, class));
                            let want = memory.acquire(subject, class, now);
                            match (got, want) {
                                (Ok(r), Ok(m)) => {
                                    held.push((m, r));
                                    // The sets live until their last lease (the new one,
                                    // times never decrease here) expires.
                                    let names = pool.redis_keys(&format!("lease{case}"), subject);
                                    let want = i64::try_from(ttl + CALLER_CLOCK_SLACK_MS).unwrap();
                                    for name in [&names[2], &names[usize::from(reserved)]] {
                                        let got = pttl(&server, name);
                                        prop_assert!(
                                            got <= want && got > want - 5_000,
                                            "{} {}",
                                            name,
                                            got
                                        );
                                    }
                                }
                                (Err(a), Err(b)) => prop_assert_eq!(a, b),
                                (a, b) => {
                                    return Err(TestCaseError::fail(format!(
                                        "acquire at {now}: redis {a:?}, memory {b:?}"
                                    )));
                                }
                            }
                        }
                        LeaseEvent::Renew(i) if !held.is_empty() => {
                            let (m, r) = held[i % held.len()];
                            let got = decided(store.renew(&pool, &r));
                            prop_assert_eq!(got, memory.renew(m, now), "renew at {}", now);
                        }
                        LeaseEvent::Release(i) if !held.is_empty() => {
                            let (m, r) = held[i % held.len()];
                            let got = decided(store.release(&pool, &r));
                            prop_assert_eq!(got, memory.release(m), "release at {}", now);
                        }
                        _ => {}
                    }
                }
                Ok(())
            },
        )
        .unwrap();
}

#[test]
fn refusal_kinds_and_server_clock() {
    // The server's clock: decisions and TTLs without a caller time.
    let server = server();
    let mut store = store(&server, "clock");
    let quota = Quota::new(2, 60_000).unwrap();
    let limit = RateLimit::new("conn", quota, RateMode::Leaky).unwrap();
    let k = Key::from_u128(5);
    assert!(decided(store.rate(&limit, k, 1)).is_allowed());
    assert!(decided(store.rate(&limit, k, 1)).is_allowed());
    let refused = decided(store.rate(&limit, k, 1));
    let postern_policy::RateDecision::Refused { retry_after_ms } = refused else {
        panic!("{refused:?}");
    };
    assert!(retry_after_ms > 29_000 && retry_after_ms <= 30_000);
    // TTL: until TAT = now + 60 s, exactly (no slack on the server's clock).
    let ttl = pttl(&server, &limit.redis_key("clock", k));
    assert!(ttl > 59_000 && ttl <= 60_000, "{ttl}");
    assert_eq!(
        decided(store.rate(&limit, k, 3)),
        postern_policy::RateDecision::TooLarge
    );
    // rate_all: a cost above one burst refuses the event, and nothing is charged.
    let other = RateLimit::new("other", Quota::new(10, 60_000).unwrap(), RateMode::Leaky).unwrap();
    let k2 = Key::from_u128(6);
    let got = decided(store.rate_all(&[(&other, k2, 3), (&limit, k2, 3)]));
    assert_eq!(got[1], RateDecision::TooLarge);
    assert!(got[0].is_allowed());
    assert_eq!(
        decided(store.rate_peek(&other, k2, 1)),
        RateDecision::Allowed { remaining: 9 }
    );
    // The same limit and key twice is a usage error (falls back, counted).
    let twice = store.rate_all(&[(&other, k2, 1), (&other, k2, 1)]);
    assert!(matches!(
        twice.error(),
        Some(postern_redis::Error::Config { .. })
    ));
    assert!(decided(store.rate_all(&[])).is_empty());
    // Per-subject refusal kind.
    let pool = LeasePool::new(
        "c",
        ConcurrencyConfig {
            total: 10,
            per_subject: 1,
            reserved: 0,
            lease_ttl_ms: 60_000,
        },
    )
    .unwrap();
    let lease = decided(store.acquire(&pool, k, SlotClass::Normal)).unwrap();
    assert_eq!(
        decided(store.acquire(&pool, k, SlotClass::Normal)),
        Err(ConcurrencyRefusal::PerSubject)
    );
    assert!(decided(store.renew(&pool, &lease)));
    assert!(decided(store.release(&pool, &lease)));
    assert!(!decided(store.release(&pool, &lease)));
    assert_eq!(store.stats().script_loads, 1);
    assert_eq!(store.stats().failures, 1);
}
