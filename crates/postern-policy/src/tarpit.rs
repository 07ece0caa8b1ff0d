//! The penalty box: unknown recipients and protocol errors raise a decaying score for the
//! client's prefix; the next connection from that prefix is delayed before the greeting, more
//! the higher the score, up to a maximum, and refused above a ban threshold.
//!
//! Scores are fixed-point (1000 per point) and halve every `half_life`, interpolated linearly
//! within a half-life, with integer arithmetic only.

use crate::Error;
use crate::state::{self, KIND_PENALTY, Writer};
use crate::subject::Key;
use crate::table::{Entry, Overflow, Slot, Table, TableStats};
use crate::verdict::{Clock, REPLY_BANNED_PERMANENT, REPLY_BANNED_TEMPORARY, Verdict};

/// Score units per point.
pub const SCORE_SCALE: u32 = 1000;

/// Penalty-box parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PenaltyConfig {
    /// Time for a score to halve (ms, at least 1).
    pub half_life_ms: u64,
    /// Points for an unknown recipient.
    pub unknown_recipient_points: u32,
    /// Points for a protocol error.
    pub protocol_error_points: u32,
    /// Greeting delay per point of score (ms).
    pub delay_per_point_ms: u64,
    /// Largest greeting delay (ms).
    pub max_delay_ms: u64,
    /// Score (in points) at or above which connections are refused; 0 never bans.
    pub ban_threshold: u32,
    /// Refuse banned connections with 554 5.7.1 instead of 421 4.7.0.
    pub ban_permanent: bool,
    /// Bound of the table.
    pub max_keys: usize,
    /// What a full table does (fail-open forgets new offenders, fail-closed bans them).
    pub overflow: Overflow,
}

impl Default for PenaltyConfig {
    fn default() -> Self {
        Self {
            half_life_ms: 600_000,
            unknown_recipient_points: 1,
            protocol_error_points: 1,
            delay_per_point_ms: 1000,
            max_delay_ms: 30_000,
            ban_threshold: 20,
            ban_permanent: false,
            max_keys: 1 << 18,
            overflow: Overflow::EvictOldest,
        }
    }
}

/// The score of one prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct PenaltyState {
    /// Score in [`SCORE_SCALE`] units at `updated_ms`.
    pub score: u32,
    /// When the score was last updated (ms).
    pub updated_ms: u64,
}

/// `score` after `elapsed` ms of decay with half-life `half_life` (at least 1 ms).
fn decay(score: u32, elapsed: u64, half_life: u64) -> u32 {
    let half_life = half_life.max(1);
    let halvings = elapsed / half_life;
    if halvings >= 32 {
        return 0;
    }
    let v = u64::from(score >> halvings);
    let rem = elapsed % half_life;
    // Linear interpolation between v and v/2 within the current half-life.
    let v = v - v.saturating_mul(rem) / half_life.saturating_mul(2);
    u32::try_from(v).unwrap_or(u32::MAX)
}

impl PenaltyState {
    /// Length of the encoding: version, kind, score, updated.
    pub const ENCODED_LEN: usize = 14;

    /// The score (in [`SCORE_SCALE`] units) at `now_ms`.
    pub fn score_at(&self, config: &PenaltyConfig, now_ms: u64) -> u32 {
        decay(
            self.score,
            now_ms.saturating_sub(self.updated_ms),
            config.half_life_ms,
        )
    }

    /// The record: `[version, kind=4, score (u32), updated (u64)]`, big-endian.
    pub fn encode(&self) -> [u8; Self::ENCODED_LEN] {
        let mut w = Writer::<{ Self::ENCODED_LEN }>::new(KIND_PENALTY);
        w.put(&self.score.to_be_bytes());
        w.put(&self.updated_ms.to_be_bytes());
        w.finish()
    }

    /// Decode a record written by [`encode`](Self::encode).
    ///
    /// # Errors
    /// [`Error::StateVersion`] or [`Error::State`] when the record is not a penalty record.
    pub fn decode(bytes: &[u8]) -> Result<Self, Error> {
        state::header(bytes, KIND_PENALTY, Self::ENCODED_LEN)?;
        Ok(Self {
            score: state::read_u32(bytes, 2)?,
            updated_ms: state::read_u64(bytes, 6)?,
        })
    }

    /// The time from which the score has decayed to 0 (equal to fresh state).
    pub fn fresh_after_ms(&self, config: &PenaltyConfig) -> u64 {
        let bits = u64::from(u32::BITS - self.score.leading_zeros());
        self.updated_ms
            .saturating_add(bits.saturating_mul(config.half_life_ms.max(1)))
    }

    /// Add `points` at `now_ms` (a pure step for external stores).
    #[must_use]
    pub fn penalize(&self, config: &PenaltyConfig, points: u32, now_ms: u64) -> Self {
        let now = now_ms.max(self.updated_ms);
        Self {
            score: self
                .score_at(config, now)
                .saturating_add(points.saturating_mul(SCORE_SCALE)),
            updated_ms: now,
        }
    }

    /// The verdict for a new connection at `now_ms` (a pure step for external stores).
    pub fn connect_verdict(&self, config: &PenaltyConfig, now_ms: u64) -> Verdict {
        verdict_for(config, self.score_at(config, now_ms))
    }
}

fn verdict_for(config: &PenaltyConfig, score: u32) -> Verdict {
    let points = score / SCORE_SCALE;
    if config.ban_threshold > 0 && points >= config.ban_threshold {
        let reply = if config.ban_permanent {
            REPLY_BANNED_PERMANENT
        } else {
            REPLY_BANNED_TEMPORARY
        };
        return Verdict::Disconnect {
            reply,
            retry_after_ms: None,
        };
    }
    let ms = u64::from(score).saturating_mul(config.delay_per_point_ms) / u64::from(SCORE_SCALE);
    let ms = ms.min(config.max_delay_ms);
    if ms == 0 {
        Verdict::Accept
    } else {
        Verdict::Delay { ms }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
struct Slotted {
    state: PenaltyState,
    expiry: u64,
}

impl Entry for Slotted {
    fn expiry(&self) -> u64 {
        self.expiry
    }
}

/// What happened in a session, for [`PenaltyBox::penalize`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Offence {
    /// RCPT TO an unknown user (address harvesting).
    UnknownRecipient,
    /// A protocol error (bad command, bad sequence, syntax).
    ProtocolError,
}

/// Penalty scores per client prefix over a bounded table.
#[derive(Debug)]
pub struct PenaltyBox {
    config: PenaltyConfig,
    table: Table<Slotted>,
    clock: Clock,
}

impl PenaltyBox {
    /// A penalty box with `config`.
    ///
    /// # Errors
    /// [`Error::Config`] when `max_keys` is out of range or `half_life_ms` is 0.
    pub fn new(config: PenaltyConfig) -> Result<Self, Error> {
        if config.half_life_ms == 0 {
            return Err(Error::Config {
                field: "half_life",
                reason: "must be at least 1 ms",
            });
        }
        Ok(Self {
            config,
            table: Table::new(config.max_keys, config.overflow)?,
            clock: Clock::new(),
        })
    }

    /// The configuration.
    pub const fn config(&self) -> &PenaltyConfig {
        &self.config
    }

    /// Table counters.
    pub fn stats(&self) -> TableStats {
        self.table.stats()
    }

    /// The current score of `client` in points (rounded down).
    pub fn points(&self, client: Key, now_ms: u64) -> u32 {
        let now = now_ms.max(self.clock.last_ms());
        self.table
            .get(client)
            .map_or(0, |s| s.state.score_at(&self.config, now) / SCORE_SCALE)
    }

    /// Raise the score of `client` for an offence.
    pub fn penalize(&mut self, client: Key, offence: Offence, now_ms: u64) {
        let now = self.clock.observe(now_ms);
        let config = self.config;
        let points = match offence {
            Offence::UnknownRecipient => config.unknown_recipient_points,
            Offence::ProtocolError => config.protocol_error_points,
        };
        let fresh = Slotted {
            state: PenaltyState::default(),
            expiry: 0,
        };
        if let Slot::Tracked(slot) = self.table.slot(client, now, fresh) {
            slot.state = slot.state.penalize(&config, points, now);
            slot.expiry = slot.state.fresh_after_ms(&config);
        }
    }

    /// The verdict for a new connection from `client`: accept, delay the greeting, or refuse
    /// (421 4.7.0, or 554 5.7.1 when `ban_permanent`).
    pub fn connect(&mut self, client: Key, now_ms: u64) -> Verdict {
        let now = self.clock.observe(now_ms);
        match self.table.get(client) {
            Some(s) => verdict_for(&self.config, s.state.score_at(&self.config, now)),
            None if self.table.overflow() == Overflow::FailClosed
                && self.table.stats().len >= self.table.stats().max_keys =>
            {
                verdict_for(
                    &self.config,
                    self.config.ban_threshold.saturating_mul(SCORE_SCALE),
                )
            }
            None => Verdict::Accept,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const C: Key = Key::from_u128(5);

    fn boxed() -> PenaltyBox {
        PenaltyBox::new(PenaltyConfig {
            half_life_ms: 1000,
            delay_per_point_ms: 500,
            max_delay_ms: 3000,
            ban_threshold: 10,
            ..PenaltyConfig::default()
        })
        .unwrap()
    }

    #[test]
    fn delay_escalates_with_score_up_to_max() {
        let mut b = boxed();
        assert_eq!(b.connect(C, 0), Verdict::Accept);
        b.penalize(C, Offence::UnknownRecipient, 0);
        assert_eq!(b.connect(C, 0), Verdict::Delay { ms: 500 });
        b.penalize(C, Offence::ProtocolError, 0);
        b.penalize(C, Offence::UnknownRecipient, 0);
        assert_eq!(b.connect(C, 0), Verdict::Delay { ms: 1500 });
        for _ in 0..4 {
            b.penalize(C, Offence::UnknownRecipient, 0);
        }
        assert_eq!(b.points(C, 0), 7);
        assert_eq!(b.connect(C, 0), Verdict::Delay { ms: 3000 });
        assert_eq!(b.connect(Key::from_u128(6), 0), Verdict::Accept);
    }

    #[test]
    fn ban_above_threshold_then_decay() {
        let mut b = boxed();
        for _ in 0..10 {
            b.penalize(C, Offence::UnknownRecipient, 0);
        }
        let v = b.connect(C, 0);
        assert!(matches!(v, Verdict::Disconnect { reply, .. } if reply.code == 421));
        // One half-life later: 5 points, a delay again.
        assert_eq!(b.points(C, 1000), 5);
        assert_eq!(b.connect(C, 1000), Verdict::Delay { ms: 2500 });
        // Half-way through the next half-life: linear interpolation to 3.75 points.
        assert_eq!(b.connect(C, 1500), Verdict::Delay { ms: 1875 });
        assert_eq!(b.connect(C, 100_000), Verdict::Accept);
    }

    #[test]
    fn permanent_ban_uses_554() {
        let mut b = PenaltyBox::new(PenaltyConfig {
            ban_threshold: 1,
            ban_permanent: true,
            ..PenaltyConfig::default()
        })
        .unwrap();
        b.penalize(C, Offence::UnknownRecipient, 0);
        let v = b.connect(C, 0);
        assert_eq!(
            v.reply().map(|r| (r.code, r.enhanced.to_string())),
            Some((554, "5.7.1".into()))
        );
    }

    #[test]
    fn backwards_clock_clamped_and_config_checked() {
        let mut b = boxed();
        b.penalize(C, Offence::UnknownRecipient, 10_000);
        b.penalize(C, Offence::UnknownRecipient, 0);
        assert_eq!(b.points(C, 0), 2);
        assert!(
            PenaltyBox::new(PenaltyConfig {
                half_life_ms: 0,
                ..PenaltyConfig::default()
            })
            .is_err()
        );
        assert_eq!(b.stats().len, 1);
        assert_eq!(b.config().ban_threshold, 10);
    }

    #[test]
    fn state_round_trip_and_fresh_time() {
        let cfg = PenaltyConfig {
            half_life_ms: 1000,
            ..PenaltyConfig::default()
        };
        let s = PenaltyState::default().penalize(&cfg, 3, 500);
        assert_eq!(PenaltyState::decode(&s.encode()), Ok(s));
        let fresh = s.fresh_after_ms(&cfg);
        assert_eq!(s.score_at(&cfg, fresh), 0);
        assert!(s.score_at(&cfg, fresh - 1000) > 0);
        assert_eq!(s.connect_verdict(&cfg, 500), Verdict::Delay { ms: 3000 });
    }

    #[test]
    fn decay_is_monotone() {
        let mut last = u32::MAX;
        for t in (0..40_000).step_by(250) {
            let v = decay(1_000_000, t, 1000);
            assert!(v <= last);
            last = v;
        }
        assert_eq!(decay(7, 0, 0), 7);
    }
}
