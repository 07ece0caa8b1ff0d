//! postern-policy benchmarks.
//!
//! - `policy/rate/check_1M_keys`: one GCRA decision (`RateLimiter::check`, leaky) on a table
//!   holding 1 000 000 keys, cycling through all of them so that nearly every decision
//!   misses the CPU caches, as on a busy MX.
//! - `policy/rate/floor_dependent_read_64MiB`: one dependent random read (a pointer chase
//!   through a 64 MiB array), the memory-latency floor under a cold decision on the machine
//!   at hand.
//! - `policy/rate/check_hot_key`: the same decision on one key (cache-resident).
//! - `policy/subject/client_ipv6` and `policy/subject/triplet`: key derivation.
//! - `policy/greylist/check_known`: a greylisting check of a passed triplet (key derivation
//!   included) on a table of 100 000 triplets.
//! - `policy/bounce/decide`: the DSN suppression table over a rotation of fact sets.
//!
//! Memory per tracked key is measured when the 1M-key table is built and printed to stderr:
//! the table's own capacity-based figure (`RateLimiter::heap_bytes`) and the growth of the
//! process's resident set (`/proc/self/statm`) while the keys are inserted.
//!
//! Run: `cargo bench -p postern-benches --bench policy`; compare with `-- --save-baseline NAME`
//! and `-- --baseline NAME`.

// A benchmark stops on a broken invariant: panicking on bad set-up is the point.
#![allow(
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::unwrap_used
)]

use std::hint::black_box;
use std::net::{IpAddr, Ipv6Addr};

use criterion::{Criterion, criterion_group, criterion_main};
use postern_policy::bounce::{
    self, AutoSubmitted, BounceFacts, BounceOptions, FailurePhase, RecipientStatus, SpfResult,
};
use postern_policy::greylist::{Greylist, GreylistConfig};
use postern_policy::{Key, Overflow, PrefixLengths, Quota, RateLimiter, RateMode, Subjects};

const KEYS: u64 = 1_000_000;

/// A bijective mix of the key index, so that consecutive indices land far apart.
fn key_of(i: u64) -> Key {
    let x = u128::from(i.wrapping_mul(0x9e37_79b9_7f4a_7c15));
    Key::from_u128((x << 64) | u128::from(i))
}

/// Resident set size in bytes (Linux), or 0 when unavailable.
fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| {
            s.split_whitespace()
                .nth(1)
                .and_then(|p| p.parse::<u64>().ok())
        })
        .map_or(0, |pages| pages * 4096)
}

/// A permutation of `0..n` that is one cycle (Sattolo's algorithm, xorshift random numbers).
fn random_cycle(n: usize) -> Vec<usize> {
    let mut next: Vec<usize> = (0..n).collect();
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    for i in (1..n).rev() {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let j = usize::try_from(state % u64::try_from(i).unwrap_or(1)).unwrap_or(0);
        next.swap(i, j);
    }
    next
}

fn full_limiter() -> RateLimiter {
    let quota = Quota::new(1_000_000, 1000).expect("quota");
    let before = rss_bytes();
    let mut limiter =
        RateLimiter::new(quota, RateMode::Leaky, 1 << 20, Overflow::EvictOldest).expect("limiter");
    for i in 0..KEYS {
        let _ = limiter.check(key_of(i), 0, 1);
    }
    let after = rss_bytes();
    assert_eq!(limiter.stats().len as u64, KEYS);
    #[allow(clippy::cast_precision_loss)] // reporting only
    {
        eprintln!(
            "policy/rate memory: {} keys, table {} bytes = {:.1} bytes/key (capacity-based); \
             RSS grew {} bytes = {:.1} bytes/key",
            KEYS,
            limiter.heap_bytes(),
            limiter.heap_bytes() as f64 / KEYS as f64,
            after.saturating_sub(before),
            after.saturating_sub(before) as f64 / KEYS as f64,
        );
    }
    limiter
}

fn rate(c: &mut Criterion) {
    let mut group = c.benchmark_group("policy/rate");
    let mut limiter = full_limiter();
    let mut i = 0_u64;
    let mut now = 0_u64;
    group.bench_function("check_1M_keys", |b| {
        b.iter(|| {
            i += 1;
            if i == KEYS {
                i = 0;
                now += 1;
            }
            black_box(limiter.check(black_box(key_of(i)), now, 1))
        });
    });
    // The hardware floor: memory latency, as a chase through one random cycle over a 64 MiB
    // array (about the size of the 1M-key table, 56 MiB). Each read depends on the one
    // before, as one cold decision's bucket read does on nothing faster than DRAM.
    let floor = random_cycle(1 << 23);
    let mut at = 0_usize;
    group.bench_function("floor_dependent_read_64MiB", |b| {
        b.iter(|| {
            at = floor[at];
            black_box(at)
        });
    });
    drop(floor);
    let mut hot = RateLimiter::new(
        Quota::new(1_000_000, 1000).expect("quota"),
        RateMode::Leaky,
        16,
        Overflow::EvictOldest,
    )
    .expect("limiter");
    let key = key_of(7);
    let mut t = 0_u64;
    group.bench_function("check_hot_key", |b| {
        b.iter(|| {
            t += 1;
            black_box(hot.check(black_box(key), t, 1))
        });
    });
    group.finish();
}

fn subjects(c: &mut Criterion) {
    let mut group = c.benchmark_group("policy/subject");
    let s = Subjects::new(PrefixLengths::default());
    let ip = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 1, 2, 3, 4, 5, 6));
    group.bench_function("client_ipv6", |b| {
        b.iter(|| black_box(s.client_ip(black_box(ip))));
    });
    let prefix = s.prefix(ip);
    group.bench_function("triplet", |b| {
        b.iter(|| {
            black_box(s.triplet(
                prefix,
                black_box("prvs=0123456789=News+May@Shop.example"),
                black_box("bob@example.net"),
            ))
        });
    });
    group.finish();
}

fn greylist(c: &mut Criterion) {
    let mut group = c.benchmark_group("policy/greylist");
    let s = Subjects::new(PrefixLengths::default());
    let mut grey = Greylist::new(GreylistConfig {
        auto_allow_after: 0,
        ..GreylistConfig::default()
    })
    .expect("greylist");
    let client = s.client_ip("192.0.2.1".parse().expect("ip"));
    for i in 0..100_000_u64 {
        let _ = grey.check(key_of(i), client, 0);
    }
    let prefix = s.prefix("192.0.2.1".parse().expect("ip"));
    let known = s.triplet(prefix, "news@shop.example", "bob@example.net");
    let _ = grey.check(known, client, 0);
    assert!(grey.check(known, client, 300_000).is_accepted());
    let mut now = 300_000_u64;
    group.bench_function("check_known", |b| {
        b.iter(|| {
            now += 1;
            let key = s.triplet(
                prefix,
                black_box("news@shop.example"),
                black_box("bob@example.net"),
            );
            black_box(grey.check(key, client, now))
        });
    });
    group.finish();
}

fn bounce_table(c: &mut Criterion) {
    let mut group = c.benchmark_group("policy/bounce");
    let facts = [
        BounceFacts {
            phase: FailurePhase::AfterAcceptance,
            spf: SpfResult::SoftFail,
            recipient: RecipientStatus::Unknown,
            ..BounceFacts::default()
        },
        BounceFacts {
            phase: FailurePhase::AfterAcceptance,
            spf: SpfResult::Pass,
            ..BounceFacts::default()
        },
        BounceFacts {
            phase: FailurePhase::AfterAcceptance,
            auto_submitted: AutoSubmitted::AutoReplied,
            ..BounceFacts::default()
        },
        BounceFacts::default(),
    ];
    let options = BounceOptions::default();
    let mut i = 0_usize;
    group.bench_function("decide", |b| {
        b.iter(|| {
            i = (i + 1) % facts.len();
            black_box(bounce::decide(black_box(&facts[i]), &options))
        });
    });
    group.finish();
}

criterion_group!(benches, rate, subjects, greylist, bounce_table);
criterion_main!(benches);
