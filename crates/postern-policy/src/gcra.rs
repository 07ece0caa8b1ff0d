//! Rate limits with the generic cell rate algorithm (GCRA), as in ATM's virtual scheduling
//! algorithm (ITU-T I.371) and redis-cell.
//!
//! With `T = period / count` (the emission interval) and `τ = burst · T` (the tolerance), a
//! request of cost `c` at `now` is allowed iff `max(TAT, now) + c·T − now ≤ τ`, and then the
//! theoretical arrival time becomes `TAT = max(TAT, now) + c·T`. A fresh key has `TAT = now`,
//! so exactly `burst` requests pass at once, then one per `T`. The state is one timestamp.
//!
//! Times are kept in nanoseconds internally (`T` is rounded down to a whole nanosecond, so the
//! rate is at most one request per period faster than asked for every ~10⁹ requests); the
//! interface takes and returns milliseconds. `retry_after_ms` is rounded up, so a retry after
//! it succeeds.

use crate::Error;
use crate::state::{self, KIND_GCRA, Writer};
use crate::subject::Key;
use crate::table::{Entry, Overflow, Slot, Table, TableStats};
use crate::verdict::{Clock, REPLY_RATE_LIMITED, REPLY_TOO_MANY_CONNECTIONS, Reply, Verdict};

/// Nanoseconds per millisecond.
const NS_PER_MS: u64 = 1_000_000;

/// The longest period a [`Quota`] accepts: 10 years of 366 days, in milliseconds.
pub const MAX_PERIOD_MS: u64 = 10 * 366 * 24 * 3600 * 1000;

/// How refusals are recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum RateMode {
    /// Refusals are not recorded: a client that keeps trying gets through at the configured
    /// rate (the default; Exim's `leaky`).
    #[default]
    Leaky,
    /// Every attempt is recorded, refused or not: a client must slow down below the rate to
    /// get through again (Exim's `strict`). A refusal's `retry_after_ms` counts from the
    /// recorded attempt.
    Strict,
    /// Decisions are computed but nothing is recorded (to test a limit on live traffic).
    ReadOnly,
}

/// `count` requests per `period` with a `burst`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Quota {
    count: u64,
    period_ms: u64,
    burst: u64,
    /// Emission interval T in nanoseconds.
    t_ns: u64,
    /// Tolerance τ = burst · T in nanoseconds.
    tau_ns: u64,
    /// ⌊(2⁶⁴ − 1) / T⌋: dividing by T is then a multiply and one correction.
    t_recip: u64,
}

impl Quota {
    /// `count` per `period_ms` milliseconds, with a burst of `count`.
    ///
    /// # Errors
    /// [`Error::Config`] when `count` or `period_ms` is 0, `period_ms` exceeds
    /// [`MAX_PERIOD_MS`], or `count` exceeds one per nanosecond of the period.
    pub fn new(count: u64, period_ms: u64) -> Result<Self, Error> {
        if count == 0 {
            return Err(Error::Config {
                field: "count",
                reason: "must be at least 1",
            });
        }
        if period_ms == 0 || period_ms > MAX_PERIOD_MS {
            return Err(Error::Config {
                field: "period",
                reason: "must be between 1 ms and MAX_PERIOD_MS",
            });
        }
        let period_nanos = period_ms.saturating_mul(NS_PER_MS);
        let t_ns = period_nanos / count;
        if t_ns == 0 {
            return Err(Error::Config {
                field: "count",
                reason: "must be at most one per nanosecond of the period",
            });
        }
        Self {
            count,
            period_ms,
            burst: count,
            t_ns,
            tau_ns: 0,
            t_recip: u64::MAX / t_ns,
        }
        .with_burst(count)
    }

    /// The same rate with another burst.
    ///
    /// # Errors
    /// [`Error::Config`] when `burst` is 0 or `burst · T` overflows 2⁶² nanoseconds.
    pub fn with_burst(self, burst: u64) -> Result<Self, Error> {
        if burst == 0 {
            return Err(Error::Config {
                field: "burst",
                reason: "must be at least 1",
            });
        }
        let tau_ns = burst
            .checked_mul(self.t_ns)
            .filter(|&t| t < 1 << 62)
            .ok_or(Error::Config {
                field: "burst",
                reason: "times the emission interval must stay below 2^62 ns",
            })?;
        Ok(Self {
            burst,
            tau_ns,
            ..self
        })
    }

    /// Requests per period.
    pub const fn count(&self) -> u64 {
        self.count
    }

    /// The period in milliseconds.
    pub const fn period_ms(&self) -> u64 {
        self.period_ms
    }

    /// The burst.
    pub const fn burst(&self) -> u64 {
        self.burst
    }

    /// The emission interval `T` in nanoseconds.
    pub const fn emission_interval_ns(&self) -> u64 {
        self.t_ns
    }

    /// `⌊x / T⌋` for `x < 2⁶²` (every `x ≤ τ`), without a division instruction (whose
    /// latency would hold up each decision): `⌊x · ⌊(2⁶⁴ − 1) / T⌋ / 2⁶⁴⌋` is the quotient or
    /// one less, since the reciprocal errs by less than `2⁶²` parts in `2⁶⁴` of `x / T`.
    #[allow(clippy::cast_possible_truncation)] // the high half of a 64 × 64-bit product
    fn div_t(&self, x: u64) -> u64 {
        let q = ((u128::from(x) * u128::from(self.t_recip)) >> 64) as u64;
        // (q + 1) · T ≤ x + T < 2⁶³: no overflow.
        if (q + 1) * self.t_ns <= x { q + 1 } else { q }
    }
}

/// The outcome of a rate decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RateDecision {
    /// Allowed; `remaining` more requests of cost 1 would be allowed right now.
    Allowed {
        /// Requests of cost 1 still allowed at this instant.
        remaining: u64,
    },
    /// Refused; a retry after `retry_after_ms` succeeds (in leaky mode, if nothing else is
    /// charged meanwhile).
    Refused {
        /// Milliseconds until the request would be allowed, rounded up.
        retry_after_ms: u64,
    },
    /// The cost exceeds the burst: the request can never be allowed.
    TooLarge,
}

impl RateDecision {
    /// Whether the request is allowed.
    pub const fn is_allowed(&self) -> bool {
        matches!(self, Self::Allowed { .. })
    }

    /// The verdict for a refusal at connection time: 421 4.7.0 and disconnect.
    pub fn connect_verdict(&self) -> Verdict {
        self.verdict_with(REPLY_TOO_MANY_CONNECTIONS, true)
    }

    /// The verdict for a refusal of a command (MAIL, RCPT, DATA): 450 4.7.1.
    pub fn command_verdict(&self) -> Verdict {
        self.verdict_with(REPLY_RATE_LIMITED, false)
    }

    /// The verdict with a reply of the caller's choice; `disconnect` closes the connection.
    pub fn verdict_with(&self, reply: Reply, disconnect: bool) -> Verdict {
        let retry_after_ms = match *self {
            Self::Allowed { .. } => return Verdict::Accept,
            Self::Refused { retry_after_ms } => Some(retry_after_ms),
            Self::TooLarge => None,
        };
        if disconnect {
            Verdict::Disconnect {
                reply,
                retry_after_ms,
            }
        } else {
            Verdict::Defer {
                reply,
                retry_after_ms,
            }
        }
    }
}

fn ceil_ms(ns: u64) -> u64 {
    ns.div_ceil(NS_PER_MS)
}

/// The pure GCRA computation: the decision, and the TAT to store if the request is charged.
fn compute(quota: &Quota, tat_ns: u64, instant_ns: u64, cost: u64) -> (RateDecision, u64) {
    let Some(increment) = cost.checked_mul(quota.t_ns).filter(|&i| i <= quota.tau_ns) else {
        return (RateDecision::TooLarge, tat_ns);
    };
    let new_tat = tat_ns.max(instant_ns).saturating_add(increment);
    let used = new_tat - instant_ns;
    if used <= quota.tau_ns {
        let remaining = quota.div_t(quota.tau_ns - used);
        (RateDecision::Allowed { remaining }, new_tat)
    } else {
        let retry_after_ms = ceil_ms(used - quota.tau_ns);
        (RateDecision::Refused { retry_after_ms }, new_tat)
    }
}

/// A strict-mode refusal has been recorded (TAT moved on as if allowed), so a retry succeeds
/// only after `new TAT + c·T − τ`: the refusal's `retry_after_ms` is computed with the new TAT.
fn strict_retry(
    quota: &Quota,
    mode: RateMode,
    decision: RateDecision,
    new_tat: u64,
    instant_ns: u64,
    cost: u64,
) -> RateDecision {
    match (mode, decision) {
        (RateMode::Strict, RateDecision::Refused { .. }) => {
            compute(quota, new_tat, instant_ns, cost).0
        }
        _ => decision,
    }
}

/// Decide a request on a tracked key's state and record it as `mode` says: an allowed
/// request inline, in as few instructions as the decision allows (the 1M-key rate check is
/// bound by how many decisions fit in the processor's window at once), the rest out of line.
#[inline]
fn record(
    quota: &Quota,
    mode: RateMode,
    tat: &mut Tat,
    instant_ns: u64,
    cost: u64,
) -> RateDecision {
    if let Some(increment) = cost.checked_mul(quota.t_ns)
        && increment <= quota.tau_ns
    {
        let new_tat = tat.0.max(instant_ns).saturating_add(increment);
        let used = new_tat - instant_ns;
        if used <= quota.tau_ns {
            tat.0 = new_tat;
            return RateDecision::Allowed {
                remaining: quota.div_t(quota.tau_ns - used),
            };
        }
    }
    record_not_allowed(quota, mode, tat, instant_ns, cost)
}

/// [`record`] for a request that is refused or too large.
#[cold]
#[inline(never)]
fn record_not_allowed(
    quota: &Quota,
    mode: RateMode,
    tat: &mut Tat,
    instant_ns: u64,
    cost: u64,
) -> RateDecision {
    let (decision, new_tat) = compute(quota, tat.0, instant_ns, cost);
    let record = match decision {
        RateDecision::Allowed { .. } => true,
        RateDecision::Refused { .. } => mode == RateMode::Strict,
        RateDecision::TooLarge => false,
    };
    if record {
        tat.0 = new_tat;
    }
    strict_retry(quota, mode, decision, new_tat, instant_ns, cost)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
struct Tat(u64);

impl Entry for Tat {
    fn expiry(&self) -> u64 {
        self.0
    }
}

/// A GCRA limiter over a bounded table of keys (one 8-byte timestamp per key).
#[derive(Debug)]
pub struct RateLimiter {
    quota: Quota,
    mode: RateMode,
    table: Table<Tat>,
    clock: Clock,
}

impl RateLimiter {
    /// A limiter tracking at most `max_keys` keys.
    ///
    /// # Errors
    /// [`Error::Config`] when `max_keys` is 0 or above
    /// [`MAX_TABLE_KEYS`](crate::MAX_TABLE_KEYS).
    pub fn new(
        quota: Quota,
        mode: RateMode,
        max_keys: usize,
        overflow: Overflow,
    ) -> Result<Self, Error> {
        Ok(Self {
            quota,
            mode,
            table: Table::new(max_keys, overflow)?,
            clock: Clock::new(),
        })
    }

    /// Allocate the whole table now, so that no decision ever allocates.
    pub fn preallocate(&mut self) {
        self.table.preallocate();
    }

    /// The quota.
    pub const fn quota(&self) -> &Quota {
        &self.quota
    }

    /// The mode.
    pub const fn mode(&self) -> RateMode {
        self.mode
    }

    /// Table counters.
    pub fn stats(&self) -> TableStats {
        self.table.stats()
    }

    /// Heap bytes held by the table (from its capacity and entry layout).
    pub fn heap_bytes(&self) -> usize {
        self.table.heap_bytes()
    }

    fn untracked(&self) -> RateDecision {
        match self.table.overflow() {
            Overflow::FailClosed => RateDecision::Refused {
                retry_after_ms: ceil_ms(self.quota.t_ns),
            },
            Overflow::FailOpen | Overflow::EvictOldest => RateDecision::Allowed { remaining: 0 },
        }
    }

    /// Decide a request of `cost` for `key` at `now_ms` and record it as the mode says.
    pub fn check(&mut self, key: Key, now_ms: u64, cost: u64) -> RateDecision {
        if self.mode == RateMode::ReadOnly {
            return self.peek_read_only(key, now_ms, cost);
        }
        let instant_ns = self.clock.observe(now_ms).saturating_mul(NS_PER_MS);
        // Fast path, a key tracked in its home bucket: one bucket read and the arithmetic,
        // no call (few instructions, so that many independent decisions fit in the
        // processor's window at once and their table reads overlap).
        if let Some(tat) = self.table.get_mut_at_home(key) {
            return record(&self.quota, self.mode, tat, instant_ns, cost);
        }
        self.check_elsewhere(key, instant_ns, cost)
    }

    /// [`check`](Self::check) in read-only mode (out of line: it is not the common case).
    #[inline(never)]
    fn peek_read_only(&self, key: Key, now_ms: u64, cost: u64) -> RateDecision {
        self.peek(key, now_ms, cost)
    }

    /// [`check`](Self::check) for a key not in its home bucket: further along, or new (then
    /// inserted, or not, as the overflow policy says).
    #[inline(never)]
    fn check_elsewhere(&mut self, key: Key, instant_ns: u64, cost: u64) -> RateDecision {
        match self.table.slot(key, instant_ns, Tat(0)) {
            Slot::Tracked(tat) => record(&self.quota, self.mode, tat, instant_ns, cost),
            Slot::Untracked => self.untracked(),
        }
    }

    /// What [`check`](Self::check) would decide, without recording anything.
    pub fn peek(&self, key: Key, now_ms: u64, cost: u64) -> RateDecision {
        let instant_ns = now_ms.max(self.clock.last_ms()).saturating_mul(NS_PER_MS);
        let tat = self.table.get(key).map_or(0, |t| t.0);
        compute(&self.quota, tat, instant_ns, cost).0
    }

    /// Record a request as if it had been allowed (`TAT = max(TAT, now) + c·T`), whatever the
    /// mode: for callers that combine several limiters and charge all or none, and for strict
    /// mode refusals decided with [`peek`](Self::peek).
    pub fn charge(&mut self, key: Key, now_ms: u64, cost: u64) {
        let instant_ns = self.clock.observe(now_ms).saturating_mul(NS_PER_MS);
        let increment = cost.saturating_mul(self.quota.t_ns);
        if let Slot::Tracked(tat) = self.table.slot(key, instant_ns, Tat(0)) {
            tat.0 = tat.0.max(instant_ns).saturating_add(increment);
        }
    }

    /// Forget `key` (for example after an operator cleared it).
    pub fn forget(&mut self, key: Key) {
        self.table.remove(key);
    }
}

/// The state of one GCRA key in an external store: its theoretical arrival time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct GcraState {
    /// Theoretical arrival time, in nanoseconds on the store's clock.
    pub tat_ns: u64,
}

impl GcraState {
    /// Length of the encoding: version, kind, 8-byte TAT.
    pub const ENCODED_LEN: usize = 10;

    /// The record: `[version, kind=1, TAT (u64, big-endian)]`.
    pub fn encode(&self) -> [u8; Self::ENCODED_LEN] {
        let mut w = Writer::<{ Self::ENCODED_LEN }>::new(KIND_GCRA);
        w.put(&self.tat_ns.to_be_bytes());
        w.finish()
    }

    /// Decode a record written by [`encode`](Self::encode).
    ///
    /// # Errors
    /// [`Error::StateVersion`] or [`Error::State`] when the record is not a GCRA record of
    /// this version and length.
    pub fn decode(bytes: &[u8]) -> Result<Self, Error> {
        state::header(bytes, KIND_GCRA, Self::ENCODED_LEN)?;
        Ok(Self {
            tat_ns: state::read_u64(bytes, 2)?,
        })
    }

    /// The time (ms) from which this state equals fresh state: the store may drop it then.
    pub const fn fresh_after_ms(&self) -> u64 {
        self.tat_ns.div_ceil(NS_PER_MS)
    }
}

/// The result of a pure [`step`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RateStep {
    /// The decision.
    pub decision: RateDecision,
    /// The state to store, or `None` when it is unchanged.
    pub new_state: Option<GcraState>,
    /// The time (ms) from which the key's state equals fresh state (the store's expiry).
    pub fresh_after_ms: u64,
}

/// One GCRA decision as a pure function over a stored record (`None` for a missing key), for
/// an external store that applies it atomically with its own clock as `now_ms`.
///
/// # Errors
/// Those of [`GcraState::decode`].
///
/// # Examples
/// ```
/// use postern_policy::gcra::{step, Quota, RateMode};
///
/// let quota = Quota::new(3, 60_000)?; // 3 per minute, burst 3
/// let mut stored: Option<Vec<u8>> = None;
/// for _ in 0..3 {
///     let s = step(&quota, RateMode::Leaky, stored.as_deref(), 1_000, 1)?;
///     assert!(s.decision.is_allowed());
///     stored = s.new_state.map(|st| st.encode().to_vec());
/// }
/// let s = step(&quota, RateMode::Leaky, stored.as_deref(), 1_000, 1)?;
/// assert!(!s.decision.is_allowed());
/// assert_eq!(s.fresh_after_ms, 61_000);
/// # Ok::<(), postern_policy::Error>(())
/// ```
pub fn step(
    quota: &Quota,
    mode: RateMode,
    state: Option<&[u8]>,
    now_ms: u64,
    cost: u64,
) -> Result<RateStep, Error> {
    let old = match state {
        Some(bytes) => GcraState::decode(bytes)?,
        None => GcraState { tat_ns: 0 },
    };
    let instant_ns = now_ms.saturating_mul(NS_PER_MS);
    let (decision, new_tat) = compute(quota, old.tat_ns, instant_ns, cost);
    let record = match (decision, mode) {
        (_, RateMode::ReadOnly) | (RateDecision::TooLarge, _) => false,
        (RateDecision::Allowed { .. }, _) => true,
        (RateDecision::Refused { .. }, m) => m == RateMode::Strict,
    };
    let kept = if record {
        GcraState { tat_ns: new_tat }
    } else {
        old
    };
    Ok(RateStep {
        decision: strict_retry(quota, mode, decision, new_tat, instant_ns, cost),
        new_state: record.then_some(kept),
        fresh_after_ms: kept.fresh_after_ms().max(now_ms),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limiter(count: u64, period_ms: u64, burst: u64, mode: RateMode) -> RateLimiter {
        let q = Quota::new(count, period_ms)
            .unwrap()
            .with_burst(burst)
            .unwrap();
        RateLimiter::new(q, mode, 1000, Overflow::EvictOldest).unwrap()
    }

    const K: Key = Key::from_u128(42);

    #[test]
    fn burst_then_one_per_interval() {
        let mut l = limiter(3, 60_000, 3, RateMode::Leaky);
        for i in 0..3 {
            assert_eq!(l.check(K, 0, 1), RateDecision::Allowed { remaining: 2 - i });
        }
        assert_eq!(
            l.check(K, 0, 1),
            RateDecision::Refused {
                retry_after_ms: 20_000
            }
        );
        assert_eq!(
            l.check(K, 19_999, 1),
            RateDecision::Refused { retry_after_ms: 1 }
        );
        assert!(l.check(K, 20_000, 1).is_allowed());
        assert_eq!(
            l.check(K, 20_001, 1),
            RateDecision::Refused {
                retry_after_ms: 19_999
            }
        );
        // Another key is independent.
        assert!(l.check(Key::from_u128(7), 20_001, 1).is_allowed());
    }

    #[test]
    fn burst_differs_from_count() {
        let mut l = limiter(10, 10_000, 2, RateMode::Leaky);
        assert!(l.check(K, 0, 1).is_allowed());
        assert!(l.check(K, 0, 1).is_allowed());
        assert_eq!(
            l.check(K, 0, 1),
            RateDecision::Refused {
                retry_after_ms: 1000
            }
        );
        assert!(l.check(K, 1000, 1).is_allowed());
    }

    #[test]
    fn strict_mode_records_refusals() {
        let mut l = limiter(3, 60_000, 3, RateMode::Strict);
        for _ in 0..3 {
            assert!(l.check(K, 0, 1).is_allowed());
        }
        // The refusal is recorded (TAT 60 s -> 80 s): a retry succeeds only at 40 s.
        let refused = |ms| RateDecision::Refused { retry_after_ms: ms };
        assert_eq!(l.check(K, 0, 1), refused(40_000));
        assert_eq!(l.check(K, 0, 1), refused(60_000));
        assert_eq!(l.check(K, 20_000, 1), refused(60_000));
        // Retrying exactly when told succeeds (TAT is 120 s by then).
        assert!(l.check(K, 80_000, 1).is_allowed());
    }

    #[test]
    fn read_only_mode_records_nothing() {
        let mut l = limiter(1, 1000, 1, RateMode::ReadOnly);
        assert!(l.check(K, 0, 1).is_allowed());
        assert!(l.check(K, 0, 1).is_allowed());
        assert_eq!(l.stats().len, 0);
        assert_eq!(l.mode(), RateMode::ReadOnly);
    }

    #[test]
    fn costs_and_too_large() {
        let mut l = limiter(1000, 1000, 1000, RateMode::Leaky);
        assert_eq!(l.check(K, 0, 600), RateDecision::Allowed { remaining: 400 });
        assert_eq!(
            l.check(K, 0, 600),
            RateDecision::Refused {
                retry_after_ms: 200
            }
        );
        assert_eq!(l.check(K, 0, 1001), RateDecision::TooLarge);
        assert_eq!(l.check(K, 0, u64::MAX), RateDecision::TooLarge);
        assert_eq!(
            RateDecision::TooLarge
                .command_verdict()
                .reply()
                .unwrap()
                .code,
            450
        );
    }

    #[test]
    fn fractional_interval_rounds_retry_up() {
        // 7 per second: T = 142857142 ns.
        let mut l = limiter(7, 1000, 1, RateMode::Leaky);
        assert!(l.check(K, 0, 1).is_allowed());
        assert_eq!(
            l.check(K, 0, 1),
            RateDecision::Refused {
                retry_after_ms: 143
            }
        );
        assert!(!l.check(K, 142, 1).is_allowed());
        assert!(l.check(K, 143, 1).is_allowed());
    }

    #[test]
    fn backwards_clock_is_clamped() {
        let mut l = limiter(1, 1000, 1, RateMode::Leaky);
        assert!(l.check(K, 5000, 1).is_allowed());
        // The clock steps back: treated as 5000, still refused, no panic.
        assert_eq!(
            l.check(K, 10, 1),
            RateDecision::Refused {
                retry_after_ms: 1000
            }
        );
        assert_eq!(
            l.peek(K, 0, 1),
            RateDecision::Refused {
                retry_after_ms: 1000
            }
        );
        assert!(l.check(K, 6000, 1).is_allowed());
        assert!(l.check(K, u64::MAX, 1).is_allowed());
    }

    #[test]
    fn peek_and_charge() {
        let mut l = limiter(2, 1000, 2, RateMode::Leaky);
        assert!(l.peek(K, 0, 1).is_allowed());
        l.charge(K, 0, 1);
        l.charge(K, 0, 1);
        assert_eq!(
            l.peek(K, 0, 1),
            RateDecision::Refused {
                retry_after_ms: 500
            }
        );
        l.forget(K);
        assert!(l.peek(K, 0, 1).is_allowed());
    }

    #[test]
    fn verdicts() {
        let r = RateDecision::Refused { retry_after_ms: 9 };
        assert_eq!(
            r.connect_verdict(),
            Verdict::Disconnect {
                reply: REPLY_TOO_MANY_CONNECTIONS,
                retry_after_ms: Some(9)
            }
        );
        assert_eq!(
            r.command_verdict(),
            Verdict::Defer {
                reply: REPLY_RATE_LIMITED,
                retry_after_ms: Some(9)
            }
        );
        assert_eq!(
            RateDecision::Allowed { remaining: 0 }.connect_verdict(),
            Verdict::Accept
        );
    }

    #[test]
    fn quota_validation() {
        assert!(Quota::new(0, 1000).is_err());
        assert!(Quota::new(1, 0).is_err());
        assert!(Quota::new(1, MAX_PERIOD_MS + 1).is_err());
        assert!(Quota::new(1_000_001, 1).is_err());
        assert!(Quota::new(1, 1000).unwrap().with_burst(0).is_err());
        assert!(
            Quota::new(1, MAX_PERIOD_MS)
                .unwrap()
                .with_burst(u64::MAX)
                .is_err()
        );
        let q = Quota::new(3, 60_000).unwrap();
        assert_eq!((q.count(), q.period_ms(), q.burst()), (3, 60_000, 3));
        assert_eq!(q.emission_interval_ns(), 20_000_000_000);
    }

    #[test]
    fn full_table_policies() {
        let q = Quota::new(1, 1000).unwrap();
        let mut closed = RateLimiter::new(q, RateMode::Leaky, 1, Overflow::FailClosed).unwrap();
        assert!(closed.check(Key::from_u128(1), 0, 1).is_allowed());
        assert_eq!(
            closed.check(Key::from_u128(2), 0, 1),
            RateDecision::Refused {
                retry_after_ms: 1000
            }
        );
        let mut open = RateLimiter::new(q, RateMode::Leaky, 1, Overflow::FailOpen).unwrap();
        assert!(open.check(Key::from_u128(1), 0, 1).is_allowed());
        assert!(open.check(Key::from_u128(2), 0, 1).is_allowed());
        assert!(open.check(Key::from_u128(2), 0, 1).is_allowed());
        assert_eq!(open.stats().untracked, 2);
    }

    proptest::proptest! {
        /// The limiter (with its inline fast path for allowed requests) decides and records
        /// exactly as the pure step over stored records does, in every recording mode, for
        /// any quota, costs (zero and too large included) and several keys.
        #[test]
        fn limiter_matches_pure_step(
            count in 1_u64..50,
            period_ms in 1_u64..5000,
            burst in 1_u64..60,
            strict in proptest::bool::ANY,
            events in proptest::collection::vec((0_u128..4, 0_u64..700, 0_u64..70), 1..200),
        ) {
            let quota = Quota::new(count, period_ms).unwrap().with_burst(burst).unwrap();
            let mode = if strict { RateMode::Strict } else { RateMode::Leaky };
            let mut limiter = RateLimiter::new(quota, mode, 16, Overflow::EvictOldest).unwrap();
            let mut stored: [Option<[u8; GcraState::ENCODED_LEN]>; 4] = [None; 4];
            let mut now = 0_u64;
            for (k, dt, cost) in events {
                now += dt;
                let slot = &mut stored[usize::try_from(k).unwrap()];
                let s = step(&quota, mode, slot.as_ref().map(|b| &b[..]), now, cost).unwrap();
                if let Some(st) = s.new_state {
                    *slot = Some(st.encode());
                }
                proptest::prop_assert_eq!(limiter.check(Key::from_u128(k + 1), now, cost), s.decision);
            }
        }

        /// The multiply-and-correct division gives `x / T` for every `x` below 2⁶² (τ is).
        #[test]
        fn reciprocal_division_is_exact(t in 1_u64..1 << 62, x in 0_u64..1 << 62, small in 0_u64..4096) {
            let q = Quota { t_ns: t, t_recip: u64::MAX / t, ..Quota::new(1, 1).unwrap() };
            for x in [x, small, x / t * t, (x / t * t).saturating_sub(1), (1 << 62) - 1] {
                proptest::prop_assert_eq!(q.div_t(x), x / t, "x = {}, t = {}", x, t);
            }
            let q = Quota { t_ns: small + 1, t_recip: u64::MAX / (small + 1), ..q };
            proptest::prop_assert_eq!(q.div_t(x), x / (small + 1));
        }
    }

    #[test]
    fn pure_step_matches_limiter() {
        let q = Quota::new(3, 60_000).unwrap();
        let mut l = RateLimiter::new(q, RateMode::Strict, 10, Overflow::EvictOldest).unwrap();
        let mut stored: Option<[u8; GcraState::ENCODED_LEN]> = None;
        for now in [0, 0, 0, 0, 10_000, 50_000, 200_000, 200_001] {
            let s = step(
                &q,
                RateMode::Strict,
                stored.as_ref().map(|b| &b[..]),
                now,
                1,
            )
            .unwrap();
            assert_eq!(s.decision, l.check(K, now, 1));
            if let Some(st) = s.new_state {
                stored = Some(st.encode());
            }
            assert!(s.fresh_after_ms >= now);
        }
        let s = step(&q, RateMode::ReadOnly, None, 0, 1).unwrap();
        assert_eq!(s.new_state, None);
        assert!(step(&q, RateMode::Leaky, Some(&[1, 2, 0]), 0, 1).is_err());
        let st = GcraState { tat_ns: 1_500_001 };
        assert_eq!(GcraState::decode(&st.encode()), Ok(st));
        assert_eq!(st.fresh_after_ms(), 2);
    }
}
