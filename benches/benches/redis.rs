//! postern-redis benchmarks, against a local `redis-server` that the bench starts itself on a
//! free loopback port (and stops when done); without `redis-server` it fails and says how to
//! install it.
//!
//! - `redis/gcra/round_trip`: one GCRA decision (`Store::rate`), one `EVALSHA` round trip.
//! - `redis/gcra/pipelined_100`: 100 decisions in one pipeline (`Store::rate_batch`);
//!   throughput is in decisions.
//! - `redis/greylist/round_trip`, `redis/penalty/connect_round_trip`,
//!   `redis/lease/acquire_release`: the other decision kinds (the last is two round trips).
//! - `redis/floor/ping`: a bare `PING` round trip on the same kind of connection, the floor
//!   under every decision.
//!
//! Before criterion runs, the latency of single decisions is sampled (20 000 in a bench run,
//! 200 under `cargo test --benches`) and p50 / p99 are printed to stderr, with the
//! decisions per second of the unpipelined and pipelined loops, and Redis's own time per
//! script run (`INFO commandstats`).
//!
//! Run: `cargo bench -p postern-benches --bench redis`.

// A benchmark stops on a broken invariant: panicking on bad set-up is the point.
#![allow(
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::unwrap_used
)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput};
use postern_policy::concurrency::{ConcurrencyConfig, SlotClass};
use postern_policy::greylist::GreylistConfig;
use postern_policy::tarpit::PenaltyConfig;
use postern_policy::{Key, Quota, RateMode};
use postern_redis::testing::RedisServer;
use postern_redis::{Decision, Greylisting, LeasePool, Penalty, RateLimit, Store, StoreConfig};

const KEYS: u64 = 100_000;
const BATCH: usize = 100;

fn store(server: &RedisServer) -> Store {
    Store::open(&server.url(), StoreConfig::default()).unwrap()
}

fn limit() -> RateLimit {
    // 100 per second per key, burst 100: most decisions allow, some refuse.
    RateLimit::new("bench", Quota::new(100, 1_000).unwrap(), RateMode::Leaky).unwrap()
}

fn ok<T>(d: Decision<T>) -> T {
    match d {
        Decision::Decided(t) => t,
        Decision::Failed { error, .. } => panic!("Redis failed: {error}"),
    }
}

fn percentile(sorted: &[Duration], p: usize) -> Duration {
    sorted[(sorted.len() * p / 100).min(sorted.len() - 1)]
}

/// p50 / p99 of single decisions, and decisions per second with and without pipelining.
fn latency_report(server: &RedisServer, full: bool) {
    let mut store = store(server);
    let limit = limit();
    let n: u32 = if full { 20_000 } else { 200 };
    let mut samples = Vec::with_capacity(usize::try_from(n).unwrap());
    let start = Instant::now();
    for i in 0..u64::from(n) {
        let t = Instant::now();
        ok(store.rate(&limit, Key::from_u128(u128::from(i % KEYS)), 1));
        samples.push(t.elapsed());
    }
    let single_rate = f64::from(n) / start.elapsed().as_secs_f64();
    samples.sort_unstable();
    let batches = u64::from(n) / BATCH as u64;
    let start = Instant::now();
    for b in 0..batches {
        let reqs: Vec<(Key, u64)> = (0..BATCH as u64)
            .map(|i| (Key::from_u128(u128::from((b * BATCH as u64 + i) % KEYS)), 1))
            .collect();
        for d in store.rate_batch(&limit, &reqs) {
            ok(d);
        }
    }
    let piped = u32::try_from(batches * BATCH as u64).unwrap();
    let piped_rate = f64::from(piped) / start.elapsed().as_secs_f64();
    // Redis's own time per script run (INFO commandstats), to set against the round trip.
    let client = redis::Client::open(server.url()).unwrap();
    let mut raw = client.get_connection().unwrap();
    let info: String = redis::cmd("INFO")
        .arg("commandstats")
        .query(&mut raw)
        .unwrap();
    let evalsha = info
        .lines()
        .find(|l| l.starts_with("cmdstat_evalsha:"))
        .and_then(|l| l.split(',').find(|f| f.starts_with("usec_per_call=")))
        .unwrap_or("usec_per_call=?");
    eprintln!("redis/gcra server-side EVALSHA {evalsha} µs");
    eprintln!(
        "redis/gcra latency over {n} single decisions: p50 {:?}, p99 {:?}; {single_rate:.0} \
         decisions/s one round trip each, {piped_rate:.0} decisions/s pipelined by {BATCH}",
        percentile(&samples, 50),
        percentile(&samples, 99),
    );
}

fn benches(c: &mut Criterion, server: &RedisServer) {
    let mut s = store(server);
    let limit = limit();
    let mut group = c.benchmark_group("redis");
    group.throughput(Throughput::Elements(1));
    let mut i = 0_u64;
    group.bench_function("gcra/round_trip", |b| {
        b.iter(|| {
            i = (i + 1) % KEYS;
            black_box(ok(s.rate(&limit, Key::from_u128(u128::from(i)), 1)))
        });
    });
    group.throughput(Throughput::Elements(BATCH as u64));
    group.bench_function("gcra/pipelined_100", |b| {
        b.iter(|| {
            let reqs: Vec<(Key, u64)> = (0..BATCH)
                .map(|_| {
                    i = (i + 1) % KEYS;
                    (Key::from_u128(u128::from(i)), 1)
                })
                .collect();
            black_box(s.rate_batch(&limit, &reqs).len())
        });
    });
    group.throughput(Throughput::Elements(1));
    let grey = Greylisting::new("bench", GreylistConfig::default()).unwrap();
    group.bench_function("greylist/round_trip", |b| {
        b.iter(|| {
            i = (i + 1) % KEYS;
            let k = Key::from_u128(u128::from(i));
            black_box(ok(s.greylist(&grey, k, k)))
        });
    });
    let pen = Penalty::new("bench", PenaltyConfig::default()).unwrap();
    group.bench_function("penalty/connect_round_trip", |b| {
        b.iter(|| {
            i = (i + 1) % KEYS;
            black_box(ok(s.penalty_connect(&pen, Key::from_u128(u128::from(i)))))
        });
    });
    let pool = LeasePool::new("bench", ConcurrencyConfig::default()).unwrap();
    group.bench_function("lease/acquire_release", |b| {
        b.iter(|| {
            i = (i + 1) % KEYS;
            let lease = ok(s.acquire(&pool, Key::from_u128(u128::from(i)), SlotClass::Normal))
                .expect("a free slot");
            black_box(ok(s.release(&pool, &lease)))
        });
    });
    let client = redis::Client::open(server.url()).unwrap();
    let mut raw = client.get_connection().unwrap();
    group.bench_function("floor/ping", |b| {
        b.iter(|| {
            let pong: String = redis::cmd("PING").query(&mut raw).unwrap();
            black_box(pong)
        });
    });
    group.finish();
}

fn main() {
    let server = RedisServer::start().unwrap_or_else(|e| panic!("{e}"));
    let full = std::env::args().any(|a| a == "--bench");
    latency_report(&server, full);
    let mut c = Criterion::default().configure_from_args();
    benches(&mut c, &server);
    c.final_summary();
}
