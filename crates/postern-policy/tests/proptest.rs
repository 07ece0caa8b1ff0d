//! Invariants: GCRA never admits more than `burst + elapsed / T` in any window; tables never
//! exceed `max_keys`; state records round-trip; the pure steps agree with the tables.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use postern_policy::concurrency::LeaseState;
use postern_policy::gcra::{self, GcraState};
use postern_policy::greylist::{self, Greylist, GreylistConfig, GreylistState};
use postern_policy::mta_sts::{StsPolicy, parse_record};
use postern_policy::tarpit::{Offence, PenaltyBox, PenaltyConfig, PenaltyState};
use postern_policy::{Key, Overflow, Quota, RateDecision, RateLimiter, RateMode};
use proptest::prelude::*;

fn mode() -> impl Strategy<Value = RateMode> {
    prop_oneof![Just(RateMode::Leaky), Just(RateMode::Strict)]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// In any window [a, b] between two admitted requests, the admitted cost is at most
    /// `burst + (b - a) / T`.
    #[test]
    fn gcra_never_admits_more_than_burst_plus_rate(
        count in 1_u64..20,
        period_ms in 1_u64..5000,
        burst in 1_u64..10,
        mode in mode(),
        steps in prop::collection::vec((0_u64..400, 1_u64..4), 1..200),
    ) {
        let quota = Quota::new(count, period_ms).unwrap().with_burst(burst).unwrap();
        let t_ns = u128::from(quota.emission_interval_ns());
        let mut limiter = RateLimiter::new(quota, mode, 16, Overflow::EvictOldest).unwrap();
        let key = Key::from_u128(1);
        let mut now = 0_u64;
        let mut admitted: Vec<(u64, u64)> = Vec::new();
        for (dt, cost) in steps {
            now += dt;
            if limiter.check(key, now, cost).is_allowed() {
                admitted.push((now, cost));
            }
        }
        for i in 0..admitted.len() {
            let mut total = 0_u128;
            for j in i..admitted.len() {
                total += u128::from(admitted[j].1);
                let window_ns = u128::from(admitted[j].0 - admitted[i].0) * 1_000_000;
                let bound = u128::from(burst) + window_ns / t_ns;
                prop_assert!(total <= bound, "window {i}..={j}: {total} > {bound}");
            }
        }
    }

    /// From a fresh state exactly `burst` requests pass at once.
    #[test]
    fn gcra_fresh_burst_is_exact(count in 1_u64..100, period_ms in 1_u64..100_000, burst in 1_u64..50, now in 0_u64..1_000_000_000) {
        let quota = Quota::new(count, period_ms).unwrap().with_burst(burst).unwrap();
        let mut limiter = RateLimiter::new(quota, RateMode::Leaky, 4, Overflow::EvictOldest).unwrap();
        let key = Key::from_u128(9);
        for _ in 0..burst {
            prop_assert!(limiter.check(key, now, 1).is_allowed());
        }
        let refused = limiter.check(key, now, 1);
        let RateDecision::Refused { retry_after_ms } = refused else {
            panic!("request {} allowed: {refused:?}", burst + 1);
        };
        // Retrying after retry_after succeeds.
        prop_assert!(limiter.check(key, now + retry_after_ms, 1).is_allowed());
    }

    /// After a refusal, a retry exactly `retry_after_ms` later is allowed, in both modes.
    #[test]
    fn retry_after_is_exact(
        count in 1_u64..20,
        period_ms in 1_u64..100_000,
        burst in 1_u64..5,
        mode in mode(),
        steps in prop::collection::vec(0_u64..2000, 1..50),
    ) {
        let quota = Quota::new(count, period_ms).unwrap().with_burst(burst).unwrap();
        let mut limiter = RateLimiter::new(quota, mode, 4, Overflow::EvictOldest).unwrap();
        let key = Key::from_u128(5);
        let mut now = 0;
        for dt in steps {
            now += dt;
            if let RateDecision::Refused { retry_after_ms } = limiter.check(key, now, 1) {
                prop_assert!(retry_after_ms > 0);
                now += retry_after_ms;
                prop_assert!(limiter.check(key, now, 1).is_allowed());
            }
        }
    }

    /// The pure step over encoded records decides exactly as the in-memory limiter.
    #[test]
    fn gcra_step_matches_limiter(
        mode in prop_oneof![Just(RateMode::Leaky), Just(RateMode::Strict), Just(RateMode::ReadOnly)],
        steps in prop::collection::vec((0_u64..3000, 1_u64..3), 1..100),
    ) {
        let quota = Quota::new(5, 10_000).unwrap().with_burst(3).unwrap();
        let mut limiter = RateLimiter::new(quota, mode, 4, Overflow::EvictOldest).unwrap();
        let key = Key::from_u128(3);
        let mut stored: Option<Vec<u8>> = None;
        let mut now = 0;
        for (dt, cost) in steps {
            now += dt;
            let step = gcra::step(&quota, mode, stored.as_deref(), now, cost).unwrap();
            prop_assert_eq!(step.decision, limiter.check(key, now, cost));
            prop_assert!(step.fresh_after_ms >= now);
            if let Some(s) = step.new_state {
                stored = Some(s.encode().to_vec());
            }
        }
    }

    /// Tables never hold more than `max_keys` keys, whatever the traffic.
    #[test]
    fn tables_never_exceed_max_keys(
        max_keys in 1_usize..40,
        overflow in prop_oneof![Just(Overflow::EvictOldest), Just(Overflow::FailOpen), Just(Overflow::FailClosed)],
        ops in prop::collection::vec((0_u128..200, 0_u64..5000), 1..400),
    ) {
        let quota = Quota::new(2, 60_000).unwrap();
        let mut rate = RateLimiter::new(quota, RateMode::Strict, max_keys, overflow).unwrap();
        let mut grey = Greylist::new(GreylistConfig { max_keys, overflow, ..GreylistConfig::default() }).unwrap();
        let mut pbox = PenaltyBox::new(PenaltyConfig { max_keys, overflow, ..PenaltyConfig::default() }).unwrap();
        let mut now = 0;
        for (k, dt) in ops {
            now += dt;
            let key = Key::from_u128(k);
            let _ = rate.check(key, now, 1);
            let _ = grey.check(key, Key::from_u128(k % 7), now);
            pbox.penalize(key, Offence::UnknownRecipient, now);
            prop_assert!(rate.stats().len <= max_keys);
            prop_assert!(grey.stats().len <= max_keys);
            prop_assert!(grey.client_stats().len <= max_keys);
            prop_assert!(pbox.stats().len <= max_keys);
        }
    }

    /// State records round-trip, and any bytes either decode to a record that re-encodes to
    /// the same bytes or are refused.
    #[test]
    fn state_records_round_trip(tat in any::<u64>(), first in any::<u64>(), last in any::<u64>(), passes in any::<u32>(), score in any::<u32>()) {
        let g = GcraState { tat_ns: tat };
        prop_assert_eq!(GcraState::decode(&g.encode()), Ok(g));
        let gl = GreylistState { first_seen_ms: first, last_pass_ms: last, passes };
        prop_assert_eq!(GreylistState::decode(&gl.encode()), Ok(gl));
        let l = LeaseState { expires_ms: last };
        prop_assert_eq!(LeaseState::decode(&l.encode()), Ok(l));
        let p = PenaltyState { score, updated_ms: first };
        prop_assert_eq!(PenaltyState::decode(&p.encode()), Ok(p));
    }

    #[test]
    fn arbitrary_bytes_decode_or_fail_cleanly(bytes in prop::collection::vec(any::<u8>(), 0..30)) {
        if let Ok(s) = GcraState::decode(&bytes) { prop_assert_eq!(&s.encode()[..], &bytes[..]); }
        if let Ok(s) = GreylistState::decode(&bytes) { prop_assert_eq!(&s.encode()[..], &bytes[..]); }
        if let Ok(s) = LeaseState::decode(&bytes) { prop_assert_eq!(&s.encode()[..], &bytes[..]); }
        if let Ok(s) = PenaltyState::decode(&bytes) { prop_assert_eq!(&s.encode()[..], &bytes[..]); }
    }

    /// The greylisting step over records agrees with the table.
    #[test]
    fn greylist_step_matches_table(steps in prop::collection::vec(0_u64..(3 * 86_400_000), 1..40)) {
        let cfg = GreylistConfig { auto_allow_after: 0, ..GreylistConfig::default() };
        let mut table = Greylist::new(cfg).unwrap();
        let mut stored: Option<[u8; GreylistState::ENCODED_LEN]> = None;
        let mut now = 0;
        for dt in steps {
            now += dt;
            let (d, next, fresh) = greylist::step(&cfg, stored.as_ref().map(|b| &b[..]), now).unwrap();
            prop_assert_eq!(d, table.check(Key::from_u128(1), Key::from_u128(2), now));
            prop_assert!(fresh > now);
            stored = Some(next.encode());
        }
    }

    /// The MTA-STS parsers never panic, and a parsed policy's patterns match their own
    /// domains' one-label children as the wildcard rule says.
    #[test]
    fn mta_sts_parsers_total(text in "\\PC{0,200}") {
        let _ = parse_record(&text);
        if let Ok(policy) = StsPolicy::parse(&text) {
            for p in &policy.mx {
                let rendered = p.to_string();
                let host = rendered.strip_prefix("*.").map_or(rendered.clone(), |d| format!("x.{d}"));
                prop_assert!(p.matches(&host));
            }
        }
    }
}
