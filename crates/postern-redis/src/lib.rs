//! Shared policy state in Redis: many MX hosts, one set of limits.
//!
//! [postern-policy](postern_policy) decides rate limits (GCRA), concurrency leases, penalty
//! scores and greylisting in memory, for one host. This crate applies the same decisions to
//! state kept in Redis (or Valkey), so that a client limited on one host is limited on all:
//!
//! - every decision is one Lua script run atomically in Redis (`EVALSHA`, loaded with
//!   `SCRIPT LOAD` when Redis answers `NOSCRIPT`): read the record, decide, write, expire, in
//!   one round trip, never read-modify-write over two;
//! - several limits of one event can be checked and charged all-or-none in one script
//!   ([`Store::rate_all`]), so that hosts racing on the same client cannot both pass a check
//!   and then both charge;
//! - time comes from Redis's `TIME`, so that hosts with skewed clocks agree;
//! - records are postern-policy's versioned state encodings
//!   ([`GcraState`](postern_policy::gcra::GcraState),
//!   [`GreylistState`](postern_policy::greylist::GreylistState),
//!   [`PenaltyState`](postern_policy::tarpit::PenaltyState)); leases are sorted sets of ids
//!   scored by expiry. Keys expire exactly when their state equals fresh state, so Redis
//!   memory stays bounded by the active clients;
//! - the Rust side re-runs postern-policy's pure step on the record and time the script used:
//!   its decision is the one returned, and a script that computed another transition is an
//!   [`Error::Diverged`] rather than a silent difference. The test suite replays random event
//!   sequences through Redis and through postern-policy's in-memory tables and compares every
//!   verdict;
//! - Redis down, slow (timeouts) or answering garbage gives the configured fallback
//!   ([`FailureMode::Open`]: accept and count; [`FailureMode::Closed`]: 451 4.3.0), never a
//!   panic or a hang; the store reconnects once Redis is back.
//!
//! Limiters are named ([`RateLimit`], [`Greylisting`], [`Penalty`], [`LeasePool`]); hosts that
//! use the same [`StoreConfig::prefix`], names and parameters share state. Subject keys
//! ([`Key`](postern_policy::Key)) must come from [`Subjects`](postern_policy::Subjects) with
//! the same seed on every host ([`Subjects::with_seed`](postern_policy::Subjects::with_seed)),
//! built by the same postern version (the key hash is a fixed SipHash-2-4, so the Rust
//! release a host was built with does not matter).
//!
//! # Example
//!
//! A store whose Redis cannot be reached falls back at once, as configured (this part runs
//! without a server: nothing listens on port 1):
//! ```
//! use postern_policy::{Key, Quota, RateMode, Verdict};
//! use postern_redis::{Decision, FailureMode, RateLimit, Store, StoreConfig};
//!
//! let limit = RateLimit::new("conn", Quota::new(3, 60_000)?, RateMode::Leaky)?;
//! let mut store = Store::open(
//!     "redis://127.0.0.1:1/",
//!     StoreConfig { failure: FailureMode::Closed, ..StoreConfig::default() },
//! )?;
//! let decision = store.rate(&limit, Key::from_u128(7), 1);
//! assert!(matches!(decision, Decision::Failed { .. }));
//! let verdict = decision.verdict_with(|d| d.connect_verdict());
//! assert_eq!(verdict.reply().map(|r| r.code), Some(451));
//! assert_eq!(store.stats().failures, 1);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! With a Redis server (not run as a doctest: it needs one listening; the crate's tests
//! start their own):
//! ```no_run
//! use std::net::IpAddr;
//! use postern_policy::{PrefixLengths, Quota, RateMode, Subjects, Verdict};
//! use postern_redis::{RateLimit, Store, StoreConfig};
//!
//! // Every host: the same seed, prefix, names and parameters.
//! let subjects = Subjects::with_seed(PrefixLengths::default(), [0x1234, 0x5678]);
//! let limit = RateLimit::new("conn", Quota::new(3, 60_000)?, RateMode::Leaky)?;
//! let mut store = Store::open("redis://10.0.0.5:6379/", StoreConfig::default())?;
//! let client = subjects.client_ip("192.0.2.1".parse::<IpAddr>()?);
//! match store.rate(&limit, client, 1).verdict_with(|d| d.connect_verdict()) {
//!     Verdict::Accept => { /* greet */ }
//!     refusal => { /* send refusal.reply() and close */ }
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Keys
//! With `P` the [`StoreConfig::prefix`], `N` the limiter's name and `K` the subject key in 32
//! hex digits:
//!
//! | decision | key | value | expires |
//! |---|---|---|---|
//! | GCRA | `P:gcra:N:v1-{count}per{period}ms-b{burst}:K` | `GcraState` (10 bytes) | at `ceil(TAT)` (deleted when the TAT is not after now) |
//! | greylisting | `P:grey:N:v1:K`, client passes `P:grey-client:N:v1:K` | `GreylistState` (22 bytes) | one ms past the retry window or pass TTL |
//! | penalty | `P:penalty:N:v1:K` | `PenaltyState` (14 bytes) | when the score has decayed to 0 |
//! | leases | `P:lease:N:normal`, `P:lease:N:reserved`, `P:lease:N:subject:K` | sorted sets: lease id scored by expiry (ms) | with their last lease |
//! | lease ids | `P:lease:N:seq` | counter | never |
//!
//! Only the GCRA key carries the limit's parameters: a TAT means something else under another
//! quota. Greylisting records, penalty scores and leases mean the same under any delay,
//! half-life or limit, so a changed setting applies to the existing state. Expiry times are
//! Redis's; with the caller's clock
//! ([`Store::set_caller_time`]) keys live [`CALLER_CLOCK_SLACK_MS`] longer.
//!
//! # Limits
//! [`MAX_NAME_LEN`] (names, prefix), [`MAX_HALF_LIFE_MS`] (penalty half-life: the scripts'
//! exact integer arithmetic on Lua doubles needs it), [`MAX_TTL_MS`] (longest key life; a
//! longer lease TTL is capped), [`MAX_BATCH`] (one pipeline), [`MAX_TIMEOUT`], and the
//! defaults [`DEFAULT_CONNECT_TIMEOUT`], [`DEFAULT_IO_TIMEOUT`],
//! [`DEFAULT_RECONNECT_BACKOFF`]. Times handled by the lease script stay below 2^53 ms.
//!
//! # Features
//! - `async`: `AsyncStore`, the same decisions on a multiplexed tokio connection.
//! - `testing`: `testing::RedisServer`, a throw-away `redis-server` on a free loopback port.
#![forbid(unsafe_code)]

mod core;
mod error;
mod limits;
mod ops;
mod scripts;
mod store;

#[cfg(feature = "async")]
mod async_store;
#[cfg(feature = "testing")]
pub mod testing;

#[cfg(feature = "async")]
pub use async_store::AsyncStore;
pub use core::{
    CALLER_CLOCK_SLACK_MS, DEFAULT_CONNECT_TIMEOUT, DEFAULT_IO_TIMEOUT, DEFAULT_PREFIX,
    DEFAULT_RECONNECT_BACKOFF, Decision, FailureMode, MAX_BATCH, MAX_TIMEOUT,
    REPLY_STORE_UNAVAILABLE, StoreConfig, StoreStats,
};
pub use error::Error;
pub use limits::{
    Greylisting, LeasePool, MAX_HALF_LIFE_MS, MAX_NAME_LEN, MAX_TTL_MS, Penalty, RateLimit,
    SharedLease,
};
pub use store::Store;
