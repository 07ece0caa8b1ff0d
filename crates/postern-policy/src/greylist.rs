//! Greylisting (RFC 6647): a first attempt for an unknown key is deferred; a retry after the
//! delay and within the retry window passes; a passed key stays accepted while it keeps coming
//! within `pass_ttl`. A client whose mail passed greylisting often enough is accepted without
//! it (postgrey's auto-whitelisting of clients).
//!
//! Keys are built by [`Subjects`](crate::Subjects): the triplet (client prefix, sender,
//! recipient; RFC 6647 §2.2), the weaker sender+recipient pair, or the SPF-verified sender
//! domain + recipient (RFC 6647 §2.3). [`GreylistKey`] names them for configurations.

use crate::Error;
use crate::state::{self, KIND_GREYLIST, Writer};
use crate::subject::Key;
use crate::table::{Entry, Overflow, Slot, Table, TableStats};
use crate::verdict::{Clock, REPLY_GREYLISTED, Verdict};

/// Default minimum delay before a retry passes: 300 s (RFC 6647 §6, "5 minutes" in practice;
/// postgrey's default).
pub const DEFAULT_DELAY_MS: u64 = 300_000;
/// Default retry window: a retry later than 2 days after the first attempt starts over.
pub const DEFAULT_RETRY_WINDOW_MS: u64 = 2 * 86_400_000;
/// Default life of a passed key after it was last seen: 35 days (postgrey's `--max-age`).
pub const DEFAULT_PASS_TTL_MS: u64 = 35 * 86_400_000;
/// Default number of passes after which a client is accepted without greylisting.
pub const DEFAULT_AUTO_ALLOW_AFTER: u32 = 5;
/// Default bound of each greylisting table.
pub const DEFAULT_GREYLIST_MAX_KEYS: usize = 1 << 20;

/// Which greylisting key a configuration uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum GreylistKey {
    /// Client prefix, normalised sender, recipient (the classic triplet).
    #[default]
    Triplet,
    /// Normalised sender and recipient (tolerates senders that retry from other hosts).
    SenderRecipient,
    /// SPF-passing sender domain and recipient; callers fall back to the triplet when SPF
    /// did not pass.
    SpfDomainRecipient,
}

/// Greylisting parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct GreylistConfig {
    /// Minimum time between the first attempt and a retry that passes.
    pub delay_ms: u64,
    /// A retry later than this after the first attempt, without a pass, starts over.
    pub retry_window_ms: u64,
    /// A passed key is accepted while each attempt comes within this of the last accepted.
    pub pass_ttl_ms: u64,
    /// Accept a client without greylisting after this many passes (0: never).
    pub auto_allow_after: u32,
    /// Bound of the key table and of the client table.
    pub max_keys: usize,
    /// What a full table does.
    pub overflow: Overflow,
}

impl Default for GreylistConfig {
    fn default() -> Self {
        Self {
            delay_ms: DEFAULT_DELAY_MS,
            retry_window_ms: DEFAULT_RETRY_WINDOW_MS,
            pass_ttl_ms: DEFAULT_PASS_TTL_MS,
            auto_allow_after: DEFAULT_AUTO_ALLOW_AFTER,
            max_keys: DEFAULT_GREYLIST_MAX_KEYS,
            overflow: Overflow::EvictOldest,
        }
    }
}

impl GreylistConfig {
    fn validate(&self) -> Result<(), Error> {
        if self.retry_window_ms < self.delay_ms {
            return Err(Error::Config {
                field: "retry_window",
                reason: "must not be shorter than the delay",
            });
        }
        Ok(())
    }
}

/// The outcome of a greylisting check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GreylistDecision {
    /// The key passed now, for the first time (the retry came after the delay).
    FirstPass,
    /// The key passed before and is still within `pass_ttl`.
    Known,
    /// The client is auto-allowed.
    ClientAllowed,
    /// Deferred (451 4.7.1); a retry after `retry_after_ms` passes.
    Defer {
        /// Milliseconds until a retry passes.
        retry_after_ms: u64,
    },
    /// The table is full under [`Overflow::FailOpen`] / [`Overflow::FailClosed`] and the key
    /// could not be tracked; `accepted` says which way it failed.
    Untracked {
        /// Whether the recipient is accepted.
        accepted: bool,
    },
}

impl GreylistDecision {
    /// Whether the recipient is accepted.
    pub const fn is_accepted(&self) -> bool {
        match self {
            Self::FirstPass | Self::Known | Self::ClientAllowed => true,
            Self::Defer { .. } => false,
            Self::Untracked { accepted } => *accepted,
        }
    }

    /// The verdict: accept, or defer with 451 4.7.1 and the retry time.
    pub fn verdict(&self) -> Verdict {
        match *self {
            Self::Defer { retry_after_ms } => Verdict::Defer {
                reply: REPLY_GREYLISTED,
                retry_after_ms: Some(retry_after_ms),
            },
            Self::Untracked { accepted: false } => Verdict::Defer {
                reply: REPLY_GREYLISTED,
                retry_after_ms: None,
            },
            _ => Verdict::Accept,
        }
    }
}

/// The state of one greylisting key: when it was first seen, when it last passed, how often.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct GreylistState {
    /// First attempt of the current round (ms).
    pub first_seen_ms: u64,
    /// Last accepted attempt (ms); meaningful when `passes > 0`.
    pub last_pass_ms: u64,
    /// Accepted attempts since the key was created (0: still waiting).
    pub passes: u32,
}

impl GreylistState {
    /// Length of the encoding: version, kind, first seen, last pass, passes.
    pub const ENCODED_LEN: usize = 22;

    /// The record: `[version, kind=2, first_seen (u64), last_pass (u64), passes (u32)]`,
    /// integers big-endian.
    pub fn encode(&self) -> [u8; Self::ENCODED_LEN] {
        let mut w = Writer::<{ Self::ENCODED_LEN }>::new(KIND_GREYLIST);
        w.put(&self.first_seen_ms.to_be_bytes());
        w.put(&self.last_pass_ms.to_be_bytes());
        w.put(&self.passes.to_be_bytes());
        w.finish()
    }

    /// Decode a record written by [`encode`](Self::encode).
    ///
    /// # Errors
    /// [`Error::StateVersion`] or [`Error::State`] when the record is not a greylisting
    /// record of this version and length.
    pub fn decode(bytes: &[u8]) -> Result<Self, Error> {
        state::header(bytes, KIND_GREYLIST, Self::ENCODED_LEN)?;
        Ok(Self {
            first_seen_ms: state::read_u64(bytes, 2)?,
            last_pass_ms: state::read_u64(bytes, 10)?,
            passes: state::read_u32(bytes, 18)?,
        })
    }

    /// The time (ms) from which this state equals fresh state (a first sighting).
    pub fn fresh_after_ms(&self, config: &GreylistConfig) -> u64 {
        if self.passes == 0 {
            self.first_seen_ms
                .saturating_add(config.retry_window_ms)
                .saturating_add(1)
        } else {
            self.last_pass_ms
                .saturating_add(config.pass_ttl_ms)
                .saturating_add(1)
        }
    }
}

/// The greylisting rule over one key's state (`None`: never seen or expired).
fn decide(
    config: &GreylistConfig,
    state: Option<GreylistState>,
    now: u64,
) -> (GreylistDecision, GreylistState) {
    let start = |now: u64| {
        (
            GreylistDecision::Defer {
                retry_after_ms: config.delay_ms,
            },
            GreylistState {
                first_seen_ms: now,
                last_pass_ms: 0,
                passes: 0,
            },
        )
    };
    let Some(s) = state else {
        return start(now);
    };
    if s.passes > 0 {
        if now.saturating_sub(s.last_pass_ms) <= config.pass_ttl_ms {
            let next = GreylistState {
                last_pass_ms: now.max(s.last_pass_ms),
                passes: s.passes.saturating_add(1),
                ..s
            };
            return (GreylistDecision::Known, next);
        }
        return start(now);
    }
    let elapsed = now.saturating_sub(s.first_seen_ms);
    if elapsed < config.delay_ms {
        let retry_after_ms = config.delay_ms - elapsed;
        return (GreylistDecision::Defer { retry_after_ms }, s);
    }
    if elapsed <= config.retry_window_ms {
        let next = GreylistState {
            last_pass_ms: now,
            passes: 1,
            ..s
        };
        return (GreylistDecision::FirstPass, next);
    }
    start(now)
}

/// One greylisting decision as a pure function over a stored record (`None` for a missing
/// key), for an external store that applies it atomically with its own clock as `now_ms`.
/// Returns the decision, the record to store and the time from which it equals fresh state.
/// Auto-allowing clients needs a second record per client (a [`GreylistState`] whose
/// `passes` and `last_pass_ms` count the client's passes).
///
/// # Errors
/// Those of [`GreylistState::decode`].
pub fn step(
    config: &GreylistConfig,
    state: Option<&[u8]>,
    now_ms: u64,
) -> Result<(GreylistDecision, GreylistState, u64), Error> {
    let old = state.map(GreylistState::decode).transpose()?;
    // A stored record past its life is a first sighting.
    let old = old.filter(|s| now_ms < s.fresh_after_ms(config));
    let (decision, next) = decide(config, old, now_ms);
    Ok((decision, next, next.fresh_after_ms(config)))
}

/// A table entry: the state plus its precomputed expiry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
struct Slotted {
    state: GreylistState,
    expiry: u64,
}

impl Entry for Slotted {
    fn expiry(&self) -> u64 {
        self.expiry
    }
}

/// Greylisting over bounded in-memory tables.
#[derive(Debug)]
pub struct Greylist {
    config: GreylistConfig,
    keys: Table<Slotted>,
    clients: Table<Slotted>,
    clock: Clock,
}

impl Greylist {
    /// Greylisting with `config`.
    ///
    /// # Errors
    /// [`Error::Config`] when `max_keys` is out of range or the retry window is shorter than
    /// the delay.
    pub fn new(config: GreylistConfig) -> Result<Self, Error> {
        config.validate()?;
        Ok(Self {
            config,
            keys: Table::new(config.max_keys, config.overflow)?,
            clients: Table::new(config.max_keys, config.overflow)?,
            clock: Clock::new(),
        })
    }

    /// The configuration.
    pub const fn config(&self) -> &GreylistConfig {
        &self.config
    }

    /// Counters of the key table.
    pub fn stats(&self) -> TableStats {
        self.keys.stats()
    }

    /// Counters of the client table.
    pub fn client_stats(&self) -> TableStats {
        self.clients.stats()
    }

    /// Whether `client` is auto-allowed at `now_ms`, without changing anything.
    pub fn client_allowed(&self, client: Key, now_ms: u64) -> bool {
        let now = now_ms.max(self.clock.last_ms());
        self.config.auto_allow_after > 0
            && self.clients.get(client).is_some_and(|c| {
                c.state.passes >= self.config.auto_allow_after
                    && now.saturating_sub(c.state.last_pass_ms) <= self.config.pass_ttl_ms
            })
    }

    /// What [`check`](Self::check) would decide for this attempt, changing nothing: for a
    /// caller that checks several limits of one event and records them all or none. A key
    /// the table does not hold (or holds past its life) is a first sighting, also when a full
    /// table would leave it untracked.
    pub fn peek(&self, key: Key, client: Key, now_ms: u64) -> GreylistDecision {
        let now = now_ms.max(self.clock.last_ms());
        if self.client_allowed(client, now) {
            return GreylistDecision::ClientAllowed;
        }
        let old = self
            .keys
            .get(key)
            .filter(|slot| slot.expiry > now)
            .map(|slot| slot.state);
        decide(&self.config, old, now).0
    }

    /// Check one attempt: `key` from [`Subjects`](crate::Subjects) (triplet or pair),
    /// `client` the client's key (for auto-allowing; pass the client prefix key).
    pub fn check(&mut self, key: Key, client: Key, now_ms: u64) -> GreylistDecision {
        let now = self.clock.observe(now_ms);
        let config = self.config;
        if self.client_allowed(client, now) {
            self.note_client_pass(client, now);
            return GreylistDecision::ClientAllowed;
        }
        let fail_accepts = self.keys.overflow() == Overflow::FailOpen;
        let fresh = Slotted {
            state: GreylistState::default(),
            expiry: 0,
        };
        let decision = match self.keys.slot(key, now, fresh) {
            Slot::Untracked => {
                return GreylistDecision::Untracked {
                    accepted: fail_accepts,
                };
            }
            Slot::Tracked(slot) => {
                let old = (slot.expiry > now).then_some(slot.state);
                let (decision, next) = decide(&config, old, now);
                slot.state = next;
                slot.expiry = next.fresh_after_ms(&config);
                decision
            }
        };
        if matches!(
            decision,
            GreylistDecision::FirstPass | GreylistDecision::Known
        ) {
            self.note_client_pass(client, now);
        }
        decision
    }

    fn note_client_pass(&mut self, client: Key, now: u64) {
        if self.config.auto_allow_after == 0 {
            return;
        }
        let ttl = self.config.pass_ttl_ms;
        let fresh = Slotted {
            state: GreylistState::default(),
            expiry: 0,
        };
        if let Slot::Tracked(slot) = self.clients.slot(client, now, fresh) {
            if slot.expiry <= now {
                slot.state = GreylistState::default();
            }
            slot.state.passes = slot.state.passes.saturating_add(1);
            slot.state.last_pass_ms = now;
            slot.expiry = now.saturating_add(ttl).saturating_add(1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: u64 = 86_400_000;

    fn grey(auto: u32) -> Greylist {
        Greylist::new(GreylistConfig {
            auto_allow_after: auto,
            ..GreylistConfig::default()
        })
        .unwrap()
    }

    const K: Key = Key::from_u128(1);
    const C: Key = Key::from_u128(2);

    #[test]
    fn first_attempt_deferred_then_passes_after_delay() {
        let mut g = grey(0);
        assert_eq!(
            g.check(K, C, 0),
            GreylistDecision::Defer {
                retry_after_ms: 300_000
            }
        );
        assert_eq!(
            g.check(K, C, 100_000),
            GreylistDecision::Defer {
                retry_after_ms: 200_000
            }
        );
        assert_eq!(g.check(K, C, 300_000), GreylistDecision::FirstPass);
        assert_eq!(g.check(K, C, 300_000 + DAY), GreylistDecision::Known);
        assert!(g.check(K, C, 300_000 + DAY).verdict() == Verdict::Accept);
    }

    proptest::proptest! {
        /// `peek` answers what `check` then decides, and changes nothing: two tables fed the
        /// same checks agree whatever peeks one of them gets in between.
        #[test]
        fn peek_predicts_check_and_changes_nothing(
            steps in proptest::collection::vec((0u8..3, 0u64..4 * DAY, proptest::bool::ANY), 1..40),
            auto in 0u32..3,
        ) {
            let (mut peeked, mut plain) = (grey(auto), grey(auto));
            let mut now = 0u64;
            for (key, dt, back) in steps {
                // Sometimes a clock that steps backwards, which both clamp.
                now = if back { now.saturating_sub(dt / 8) } else { now + dt };
                let key = Key::from_u128(u128::from(key));
                let first = peeked.peek(key, C, now);
                proptest::prop_assert_eq!(peeked.peek(key, C, now), first);
                proptest::prop_assert_eq!(peeked.check(key, C, now), first);
                proptest::prop_assert_eq!(plain.check(key, C, now), first);
            }
        }
    }

    #[test]
    fn retry_after_window_starts_over() {
        let mut g = grey(0);
        let _ = g.check(K, C, 0);
        // Exactly at the window edge it still passes ...
        let mut h = grey(0);
        let _ = h.check(K, C, 0);
        assert_eq!(h.check(K, C, 2 * DAY), GreylistDecision::FirstPass);
        // ... one ms later it starts over.
        assert_eq!(
            g.check(K, C, 2 * DAY + 1),
            GreylistDecision::Defer {
                retry_after_ms: 300_000
            }
        );
        assert_eq!(
            g.check(K, C, 2 * DAY + 300_001),
            GreylistDecision::FirstPass
        );
    }

    #[test]
    fn passed_key_expires_after_pass_ttl() {
        let mut g = grey(0);
        let _ = g.check(K, C, 0);
        assert_eq!(g.check(K, C, 300_000), GreylistDecision::FirstPass);
        assert_eq!(g.check(K, C, 300_000 + 35 * DAY), GreylistDecision::Known);
        assert_eq!(
            g.check(K, C, 300_001 + 70 * DAY),
            GreylistDecision::Defer {
                retry_after_ms: 300_000
            }
        );
        let v = g.check(K, C, 300_002 + 70 * DAY).verdict();
        let Verdict::Defer {
            reply,
            retry_after_ms,
        } = v
        else {
            panic!("expected a deferral, got {v:?}");
        };
        assert_eq!(
            (reply.code, reply.enhanced.to_string()),
            (451, "4.7.1".to_string())
        );
        assert_eq!(retry_after_ms, Some(299_999));
    }

    #[test]
    fn clients_auto_allowed_after_passes() {
        let mut g = grey(DEFAULT_AUTO_ALLOW_AFTER);
        for i in 0..5_u64 {
            let k = Key::from_u128(100 + u128::from(i));
            assert!(!g.check(k, C, i * 1_000_000).is_accepted());
            assert!(!g.client_allowed(C, i * 1_000_000));
            let t = i * 1_000_000 + 300_000;
            assert_eq!(g.check(k, C, t), GreylistDecision::FirstPass);
        }
        assert!(g.client_allowed(C, 4_300_000));
        assert_eq!(
            g.check(Key::from_u128(999), C, 4_300_000),
            GreylistDecision::ClientAllowed
        );
        // Another client is still greylisted.
        assert!(
            !g.check(Key::from_u128(999), Key::from_u128(3), 4_300_000)
                .is_accepted()
        );
        // The allowance expires after pass_ttl without passes.
        assert!(!g.client_allowed(C, 4_300_001 + 35 * DAY));
        assert_eq!(g.client_stats().len, 1);
    }

    #[test]
    fn backwards_clock_clamped() {
        let mut g = grey(0);
        let _ = g.check(K, C, 1_000_000);
        assert_eq!(
            g.check(K, C, 0),
            GreylistDecision::Defer {
                retry_after_ms: 300_000
            }
        );
        assert_eq!(g.check(K, C, 1_300_000), GreylistDecision::FirstPass);
    }

    #[test]
    fn config_validated_and_untracked() {
        assert!(
            Greylist::new(GreylistConfig {
                retry_window_ms: 1,
                ..GreylistConfig::default()
            })
            .is_err()
        );
        let mut g = Greylist::new(GreylistConfig {
            max_keys: 1,
            overflow: Overflow::FailClosed,
            auto_allow_after: 0,
            ..GreylistConfig::default()
        })
        .unwrap();
        let _ = g.check(K, C, 0);
        let d = g.check(Key::from_u128(9), C, 0);
        assert_eq!(d, GreylistDecision::Untracked { accepted: false });
        assert!(!d.verdict().is_accept());
        assert_eq!(g.stats().untracked, 1);
    }

    #[test]
    fn pure_step_matches_table() {
        let cfg = GreylistConfig {
            auto_allow_after: 0,
            ..GreylistConfig::default()
        };
        let mut g = Greylist::new(cfg).unwrap();
        let mut stored: Option<[u8; GreylistState::ENCODED_LEN]> = None;
        for now in [
            0,
            10,
            300_000,
            300_000 + DAY,
            300_000 + 40 * DAY,
            300_001 + 40 * DAY,
        ] {
            let (d, next, fresh) = step(&cfg, stored.as_ref().map(|b| &b[..]), now).unwrap();
            assert_eq!(d, g.check(K, C, now));
            assert!(fresh > now);
            stored = Some(next.encode());
        }
        let s = GreylistState {
            first_seen_ms: 1,
            last_pass_ms: 2,
            passes: 3,
        };
        assert_eq!(GreylistState::decode(&s.encode()), Ok(s));
        assert!(step(&cfg, Some(&[1, 1]), 0).is_err());
    }
}
