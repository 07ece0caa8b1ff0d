//! Fuzz harness bodies, shared by the cargo-fuzz targets in `fuzz/` and by the stable replay
//! test `tests/fuzz_replay.rs`. Each asserts invariants, not only the absence of panics.
//! Not part of the public API.
// Harnesses assert, so they may panic and index: a panic is how a fuzzer reports a finding.
#![allow(
    clippy::indexing_slicing,
    clippy::missing_panics_doc,
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used
)]

use crate::concurrency::{self, Concurrency, ConcurrencyConfig, LeaseState, SlotClass};
use crate::gcra::{self, GcraState};
use crate::greylist::{self, Greylist, GreylistConfig, GreylistState};
use crate::mta_sts::{self, MAX_MAX_AGE_SECS, MxPattern, StsMode, StsPolicy};
use crate::tarpit::{Offence, PenaltyBox, PenaltyConfig, PenaltyState};
use crate::{Key, Overflow, Quota, RateLimiter, RateMode};

/// Reads integers from the front of the input; zeros once it runs out.
struct Bytes<'a>(&'a [u8]);

impl Bytes<'_> {
    fn u8(&mut self) -> u8 {
        match self.0.split_first() {
            Some((&b, rest)) => {
                self.0 = rest;
                b
            }
            None => 0,
        }
    }

    fn u16(&mut self) -> u16 {
        u16::from_be_bytes([self.u8(), self.u8()])
    }

    fn u64(&mut self) -> u64 {
        let mut v = 0_u64;
        for _ in 0..8 {
            v = (v << 8) | u64::from(self.u8());
        }
        v
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

fn mode_of(b: u8) -> RateMode {
    match b % 3 {
        0 => RateMode::Leaky,
        1 => RateMode::Strict,
        _ => RateMode::ReadOnly,
    }
}

fn overflow_of(b: u8) -> Overflow {
    match b % 3 {
        0 => Overflow::EvictOldest,
        1 => Overflow::FailOpen,
        _ => Overflow::FailClosed,
    }
}

/// State records: input is a selector byte (record kind and mode), an 8-byte `now`, an 8-byte
/// cost, then the record. Decoding either fails or re-encodes to the same bytes; the pure
/// steps never panic and report a fresh-after time not before `now` (GCRA, greylisting).
pub fn policy_state(data: &[u8]) {
    let mut b = Bytes(data);
    let selector = b.u8();
    let now = b.u64();
    let cost = b.u64() % 1_000;
    let record = b.0;
    if let Ok(s) = GcraState::decode(record) {
        assert_eq!(&s.encode()[..], record);
    }
    if let Ok(s) = GreylistState::decode(record) {
        assert_eq!(&s.encode()[..], record);
    }
    if let Ok(s) = LeaseState::decode(record) {
        assert_eq!(&s.encode()[..], record);
        assert_eq!(s.fresh_after_ms(), s.expires_ms);
    }
    if let Ok(s) = PenaltyState::decode(record) {
        assert_eq!(&s.encode()[..], record);
        let cfg = PenaltyConfig::default();
        let later = s.penalize(&cfg, 1, now);
        assert!(later.updated_ms >= s.updated_ms);
        // The fresh-after time saturates at u64::MAX ("never") for times near the end of
        // the clock; otherwise the score is gone by then.
        let fresh = later.fresh_after_ms(&cfg);
        if fresh < u64::MAX {
            assert_eq!(later.score_at(&cfg, fresh), 0);
        }
        let _ = s.connect_verdict(&cfg, now);
    }
    let quota = Quota::new(10, 60_000).unwrap().with_burst(5).unwrap();
    let mode = mode_of(selector >> 2);
    match gcra::step(&quota, mode, Some(record), now, cost) {
        Ok(step) => {
            assert!(step.fresh_after_ms >= now);
            if mode == RateMode::ReadOnly {
                assert!(step.new_state.is_none());
            }
        }
        Err(_) => assert!(GcraState::decode(record).is_err()),
    }
    let cfg = GreylistConfig::default();
    if let Ok((_, next, fresh)) = greylist::step(&cfg, Some(record), now) {
        assert!(fresh > now || now == u64::MAX || fresh == u64::MAX);
        assert_eq!(GreylistState::decode(&next.encode()), Ok(next));
    }
    let leases: Vec<&[u8]> = record.chunks(LeaseState::ENCODED_LEN).collect();
    if let Ok(Ok(lease)) = concurrency::acquire_step(leases, u32::from(selector), now, cost) {
        assert!(lease.expires_ms >= now);
    }
}

/// Configurations: the input chooses quota, modes and table bounds, then a run of events
/// (key, time step, cost). Invalid configurations must be refused with an error; valid ones
/// must keep every table within `max_keys`, concurrency within `total`, and GCRA within
/// `burst + elapsed / T` for one watched key.
pub fn policy_config(data: &[u8]) {
    let mut b = Bytes(data);
    let count = u64::from(b.u16());
    let period_ms = b.u64() % (1 << 40);
    let burst = u64::from(b.u16());
    let mode = mode_of(b.u8());
    let overflow = overflow_of(b.u8());
    let max_keys = usize::from(b.u8());
    let total = u32::from(b.u8());
    let reserved = u32::from(b.u8() % 8);
    let quota = Quota::new(count, period_ms).and_then(|q| q.with_burst(burst));
    // Valid exactly when the counts are positive, the period in range, T = period / count at
    // least 1 ns and burst · T below 2^62 ns.
    let t = (period_ms.saturating_mul(1_000_000))
        .checked_div(count)
        .unwrap_or(0);
    let valid = count > 0
        && period_ms > 0
        && period_ms <= gcra::MAX_PERIOD_MS
        && t > 0
        && burst > 0
        && u128::from(burst) * u128::from(t) < 1 << 62;
    let Ok(quota) = quota else {
        assert!(!valid, "refused a valid quota");
        return;
    };
    assert!(valid, "accepted an invalid quota");
    let Ok(mut rate) = RateLimiter::new(quota, mode, max_keys, overflow) else {
        assert_eq!(max_keys, 0);
        return;
    };
    let mut grey = Greylist::new(GreylistConfig {
        max_keys,
        overflow,
        ..GreylistConfig::default()
    })
    .unwrap();
    let mut pbox = PenaltyBox::new(PenaltyConfig {
        max_keys,
        overflow,
        ..PenaltyConfig::default()
    })
    .unwrap();
    let conc = Concurrency::new(ConcurrencyConfig {
        total,
        per_subject: 2,
        reserved,
        lease_ttl_ms: 10_000,
    });
    if conc.is_err() {
        assert!(total == 0 || reserved > total);
    }
    let mut conc = conc.ok();
    let watched = Key::from_u128(0);
    let t_ns = u128::from(quota.emission_interval_ns());
    let mut admitted: Vec<(u64, u64)> = Vec::new();
    let mut now = 0_u64;
    let mut leases = Vec::new();
    while !b.is_empty() {
        let key = Key::from_u128(u128::from(b.u8() % 64));
        now = now.saturating_add(u64::from(b.u16()));
        let cost = u64::from(b.u8() % 4);
        let allowed = rate.check(key, now, cost).is_allowed();
        if key == watched && allowed && rate.stats().untracked == 0 {
            admitted.push((now, cost));
        }
        let _ = grey.check(key, Key::from_u128(1), now);
        pbox.penalize(key, Offence::ProtocolError, now);
        let _ = pbox.connect(key, now);
        if let Some(c) = conc.as_mut() {
            let class = if cost == 3 {
                SlotClass::Reserved
            } else {
                SlotClass::Normal
            };
            if let Ok(lease) = c.acquire(key, class, now) {
                leases.push(lease);
            }
            if cost == 0
                && let Some(lease) = leases.pop()
            {
                c.release(lease);
            }
            assert!(c.active() <= total);
            assert!(c.active_for(key) <= total);
        }
        assert!(rate.stats().len <= max_keys);
        assert!(grey.stats().len <= max_keys);
        assert!(pbox.stats().len <= max_keys);
    }
    // The watched key is never evicted while the table has room for all 64 keys, so the
    // GCRA bound holds for it whenever max_keys >= 64.
    if max_keys >= 64 && mode != RateMode::ReadOnly {
        for i in 0..admitted.len() {
            let mut sum = 0_u128;
            for j in i..admitted.len() {
                sum += u128::from(admitted[j].1);
                let window = u128::from(admitted[j].0 - admitted[i].0) * 1_000_000;
                assert!(sum <= u128::from(quota.burst()) + window / t_ns);
            }
        }
    }
}

/// MTA-STS: the first byte selects the TXT record parser (even) or the policy parser (odd),
/// the rest is the text. A parsed record has a 1-32 character alphanumeric id; a parsed
/// policy renders to text that parses back to it, has `mx` patterns unless its mode is
/// `none`, a `max_age` within the limit, and patterns that match their own domains as
/// RFC 8461 §4.1 says.
pub fn mta_sts(data: &[u8]) {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = core::str::from_utf8(rest) else {
        return;
    };
    if selector % 2 == 0 {
        if let Ok(r) = mta_sts::parse_record(text) {
            assert!(!r.id.is_empty() && r.id.len() <= mta_sts::MAX_ID_LEN);
            assert!(r.id.bytes().all(|b| b.is_ascii_alphanumeric()));
            assert!(text.starts_with("v=STSv1"));
        }
        let _ = mta_sts::select_record(text.split('\n'));
        return;
    }
    let Ok(policy) = StsPolicy::parse(text) else {
        return;
    };
    assert!(policy.max_age_secs <= MAX_MAX_AGE_SECS);
    assert!(policy.mode == StsMode::None || !policy.mx.is_empty());
    let rendered = policy.to_string();
    assert_eq!(
        StsPolicy::parse(&rendered).as_ref(),
        Ok(&policy),
        "{rendered:?}"
    );
    for p in &policy.mx {
        let shown = p.to_string();
        assert_eq!(MxPattern::parse(&shown).as_ref(), Ok(p));
        match shown.strip_prefix("*.") {
            Some(domain) => {
                assert!(p.matches(&format!("mx.{domain}")));
                assert!(!p.matches(domain));
                assert!(!p.matches(&format!("a.b.{domain}")));
            }
            None => assert!(p.matches(&shown.to_ascii_uppercase())),
        }
    }
}
