//! Mail-server policy as pure decisions with a caller clock: rate limits (GCRA), concurrency
//! leases, per-message and per-session limits, a tarpit / penalty box and greylisting
//! (RFC 6647).
//!
//! Nothing here does I/O or reads a clock. The caller reports each event with `now` in
//! milliseconds (any origin; a clock that steps backwards is clamped, never a panic) and gets
//! a [`Verdict`] back: accept, delay, defer (4xx), reject (5xx) or disconnect (421), with the
//! SMTP [`Reply`] code, RFC 3463 enhanced status code and a default text.
//!
//! - Subjects ([`Subjects`]): client addresses aggregated by prefix (IPv4 /32, IPv6 /64 by
//!   default), senders normalised (lower case, `+ext` and BATV `prvs=` removed), sender
//!   domains, authenticated users, recipients, each reduced to a 16-byte [`Key`].
//! - [`gcra`]: `count` per `period` with a `burst`, leaky, strict or read-only.
//! - [`concurrency`]: leases with an expiry, in total and per subject, with reserved slots.
//! - [`limits`]: message size (552 5.3.4), recipients per message (452 4.5.3), messages per
//!   session, soft and hard error limits.
//! - [`tarpit`]: a decaying penalty score per client prefix: greeting delays and bans.
//! - [`greylist`]: triplet, sender+recipient or SPF domain+recipient keys.
//! - [`tls`]: offer STARTTLS to this client? May this outbound delivery go in clear
//!   (REQUIRETLS, `TLS-Required: No`, DANE, [`mta_sts`] policies with MX pattern matching)?
//! - [`bounce`]: DSN suppression as a pure function over the facts of a failure, so that
//!   no backscatter goes out (the rule table is in the module docs).
//!
//! # Example
//! ```
//! use postern_policy::{Overflow, PrefixLengths, Quota, RateLimiter, RateMode, Subjects, Verdict};
//!
//! let subjects = Subjects::new(PrefixLengths::default());
//! // 3 connections per minute per client, in a burst of 3.
//! let mut conn_rate = RateLimiter::new(
//!     Quota::new(3, 60_000)?,
//!     RateMode::Leaky,
//!     100_000, // max_keys
//!     Overflow::EvictOldest,
//! )?;
//! let client = subjects.client_ip("2001:db8:1:2::7".parse().unwrap());
//! for _ in 0..3 {
//!     assert_eq!(conn_rate.check(client, 0, 1).connect_verdict(), Verdict::Accept);
//! }
//! // Another address of the same /64 is the same client: the 4th connection is refused.
//! let same = subjects.client_ip("2001:db8:1:2::8".parse().unwrap());
//! let verdict = conn_rate.check(same, 0, 1).connect_verdict();
//! let Verdict::Disconnect { reply, retry_after_ms } = verdict else { unreachable!() };
//! assert_eq!((reply.code, reply.enhanced.to_string()), (421, "4.7.0".to_string()));
//! assert_eq!(retry_after_ms, Some(20_000));
//! # Ok::<(), postern_policy::Error>(())
//! ```
//!
//! # Bounded memory
//! Every table holds at most `max_keys` keys (at most [`MAX_TABLE_KEYS`]). When it is full it
//! evicts the entries already equivalent to fresh state, then (under
//! [`Overflow::EvictOldest`]) the entries closest to expiry, in batches of
//! `max_keys /` [`EVICTION_BATCH_DIVISOR`]; or it fails open or closed, as the caller chose.
//! [`TableStats`] counts evictions. A rate key costs 24 bytes of entry (key and state side by
//! side, two to a 64-byte cache line) at a load factor of at most 4/7: 56 bytes per key of
//! `max_keys`.
//!
//! # Limits
//! Every bound is a documented constant: [`MAX_TABLE_KEYS`] and [`EVICTION_BATCH_DIVISOR`]
//! (tables), [`MAX_NETWORKS`] (network lists), [`gcra::MAX_PERIOD_MS`],
//! [`concurrency::MAX_LEASES`], [`limits::MAX_ERROR_DELAY_MS`], and for MTA-STS (RFC 8461)
//! [`mta_sts::MAX_POLICY_BYTES`], [`mta_sts::MAX_MAX_AGE_SECS`], [`mta_sts::MAX_MX_PATTERNS`]
//! and [`mta_sts::MAX_ID_LEN`]. Defaults are constants too (greylisting's 300 s / 2 d / 35 d /
//! 5 passes in [`greylist`], Postfix-like session limits in [`limits`]).
//!
//! # Shared state
//! Each stateful decision is also a pure step over a small versioned byte record
//! ([`gcra::step`], [`greylist::step`], [`concurrency::acquire_step`],
//! [`tarpit::PenaltyState`]), with the time after which the record equals fresh state, so
//! that an external store (Redis) can hold the state of many MX hosts, with its own clock.
#![forbid(unsafe_code)]

pub mod bounce;
pub mod concurrency;
mod error;
pub mod gcra;
pub mod greylist;
pub mod limits;
pub mod mta_sts;
mod probe;
mod siphash;
mod state;
mod subject;
mod table;
pub mod tarpit;
pub mod tls;
mod verdict;

#[doc(hidden)]
pub mod __fuzz;

pub use error::Error;
pub use gcra::{Quota, RateDecision, RateLimiter, RateMode};
pub use state::STATE_VERSION;
pub use subject::{
    ClientPrefix, DEFAULT_IPV4_PREFIX, DEFAULT_IPV6_PREFIX, Key, MAX_NETWORKS, Networks,
    PrefixLengths, SenderParts, SubjectKind, Subjects, normalize_sender, sender_parts,
};
pub use table::{EVICTION_BATCH_DIVISOR, MAX_TABLE_KEYS, Overflow, TableStats};
pub use verdict::*;
