//! The shared limiters: each one has a name (its identity in Redis) and the parameters of
//! postern-policy's decision, and names its Redis keys.

use std::fmt::Write as _;

use postern_policy::concurrency::{ConcurrencyConfig, MAX_LEASES, SlotClass};
use postern_policy::greylist::GreylistConfig;
use postern_policy::tarpit::PenaltyConfig;
use postern_policy::{Key, Quota, RateMode};

use crate::Error;

/// The longest limiter name or key prefix, in bytes.
pub const MAX_NAME_LEN: usize = 64;

/// The longest half-life of a shared penalty box: 2^32 ms (about 49 days). The script's
/// exact integer arithmetic on Lua's doubles relies on it.
pub const MAX_HALF_LIFE_MS: u64 = 1 << 32;

/// The longest time a key is kept: 2^45 ms (about 1115 years). Longer lifetimes (a lease
/// TTL of `u64::MAX`, "held until released") are capped to it; a record kept this long is
/// as good as kept forever.
pub const MAX_TTL_MS: u64 = 1 << 45;

/// Names and prefixes are 1 to [`MAX_NAME_LEN`] bytes of ASCII letters, digits, `-`, `_` and
/// `.` (prefixes may also contain `:`), so that keys cannot collide across fields.
pub(crate) fn check_name(field: &'static str, name: &str, colon: bool) -> Result<(), Error> {
    if name.is_empty() || name.len() > MAX_NAME_LEN {
        return Err(Error::Config {
            field,
            reason: "must be 1 to MAX_NAME_LEN bytes long",
        });
    }
    let ok = name.bytes().all(|b| {
        b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.') || (colon && b == b':')
    });
    if ok {
        Ok(())
    } else {
        Err(Error::Config {
            field,
            reason: "may only contain ASCII letters, digits, '-', '_' and '.'",
        })
    }
}

/// `{prefix}:{kind}:{name}:{params}:{key as 32 hex digits}`.
fn key_name(prefix: &str, kind: &str, name: &str, params: &str, key: Option<Key>) -> String {
    let mut s = String::with_capacity(prefix.len() + name.len() + params.len() + 48);
    s.push_str(prefix);
    s.push(':');
    s.push_str(kind);
    s.push(':');
    s.push_str(name);
    if !params.is_empty() {
        s.push(':');
        s.push_str(params);
    }
    if let Some(key) = key {
        let _ = write!(s, ":{:032x}", key.as_u128());
    }
    s
}

/// A GCRA rate limit shared by every host that uses the same name and parameters.
///
/// Its keys carry the quota (`count`, `period`, `burst`): a record holds a theoretical arrival
/// time whose meaning depends on them, so a changed limit starts from fresh keys instead of
/// misreading old ones (the old keys expire on their own). The mode is not part of the key:
/// leaky, strict and read-only decisions read the same record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateLimit {
    name: String,
    quota: Quota,
    mode: RateMode,
}

impl RateLimit {
    /// A limit named `name` (see [`MAX_NAME_LEN`] for the allowed bytes).
    ///
    /// # Errors
    /// [`Error::Config`] for a bad name.
    pub fn new(name: &str, quota: Quota, mode: RateMode) -> Result<Self, Error> {
        check_name("name", name, false)?;
        Ok(Self {
            name: name.to_owned(),
            quota,
            mode,
        })
    }

    /// The name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The quota.
    pub const fn quota(&self) -> &Quota {
        &self.quota
    }

    /// The mode.
    pub const fn mode(&self) -> RateMode {
        self.mode
    }

    /// The Redis key of `key` under `prefix`.
    pub fn redis_key(&self, prefix: &str, key: Key) -> String {
        let q = self.quota;
        let params = format!(
            "v{}-{}per{}ms-b{}",
            postern_policy::STATE_VERSION,
            q.count(),
            q.period_ms(),
            q.burst()
        );
        key_name(prefix, "gcra", &self.name, &params, Some(key))
    }
}

/// Greylisting shared by every host that uses the same name.
///
/// Its keys carry the name and the state version but not the delays: a greylisting record
/// (first seen, last pass, passes) means the same under any delay, window or TTL, so a
/// changed delay applies to the existing triplets instead of greylisting every sender anew.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Greylisting {
    name: String,
    config: GreylistConfig,
}

impl Greylisting {
    /// Greylisting named `name` with `config` (`max_keys` and `overflow` do not apply:
    /// Redis's `maxmemory` bounds the keys, and expired keys leave on their own).
    ///
    /// # Errors
    /// [`Error::Config`] for a bad name or a retry window shorter than the delay.
    pub fn new(name: &str, config: GreylistConfig) -> Result<Self, Error> {
        check_name("name", name, false)?;
        if config.retry_window_ms < config.delay_ms {
            return Err(Error::Config {
                field: "retry_window",
                reason: "must not be shorter than the delay",
            });
        }
        Ok(Self {
            name: name.to_owned(),
            config,
        })
    }

    /// The name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The configuration.
    pub const fn config(&self) -> &GreylistConfig {
        &self.config
    }

    /// The Redis key of a greylisting key (triplet or pair) under `prefix`.
    pub fn redis_key(&self, prefix: &str, key: Key) -> String {
        let v = format!("v{}", postern_policy::STATE_VERSION);
        key_name(prefix, "grey", &self.name, &v, Some(key))
    }

    /// The Redis key of a client's pass counter (auto-allowing) under `prefix`.
    pub fn client_redis_key(&self, prefix: &str, client: Key) -> String {
        let v = format!("v{}", postern_policy::STATE_VERSION);
        key_name(prefix, "grey-client", &self.name, &v, Some(client))
    }
}

/// A penalty box shared by every host that uses the same name.
///
/// Its keys carry the name and the state version: a score is in
/// [`SCORE_SCALE`](postern_policy::tarpit::SCORE_SCALE) units whatever the half-life, so a
/// changed half-life or threshold applies to the existing scores.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Penalty {
    name: String,
    config: PenaltyConfig,
}

impl Penalty {
    /// A penalty box named `name` with `config` (`max_keys` and `overflow` do not apply).
    ///
    /// # Errors
    /// [`Error::Config`] for a bad name or a half-life outside 1 ..= [`MAX_HALF_LIFE_MS`].
    pub fn new(name: &str, config: PenaltyConfig) -> Result<Self, Error> {
        check_name("name", name, false)?;
        if config.half_life_ms == 0 || config.half_life_ms > MAX_HALF_LIFE_MS {
            return Err(Error::Config {
                field: "half_life",
                reason: "must be between 1 ms and MAX_HALF_LIFE_MS",
            });
        }
        Ok(Self {
            name: name.to_owned(),
            config,
        })
    }

    /// The name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The configuration.
    pub const fn config(&self) -> &PenaltyConfig {
        &self.config
    }

    /// The Redis key of a client's score under `prefix`.
    pub fn redis_key(&self, prefix: &str, client: Key) -> String {
        let v = format!("v{}", postern_policy::STATE_VERSION);
        key_name(prefix, "penalty", &self.name, &v, Some(client))
    }
}

/// Concurrency leases shared by every host that uses the same name: one pool of `total`
/// slots, `per_subject` per subject, `reserved` for allow-listed clients.
///
/// The pool's keys carry only its name: they hold the live leases (id and expiry), which stay
/// valid under any limit, so a changed limit applies at once to the sessions already held.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeasePool {
    name: String,
    config: ConcurrencyConfig,
}

impl LeasePool {
    /// A pool named `name` with `config` (a lease TTL above [`MAX_TTL_MS`] is capped to it).
    ///
    /// # Errors
    /// [`Error::Config`] for a bad name, `total` 0 or above
    /// [`MAX_LEASES`](postern_policy::concurrency::MAX_LEASES), or `reserved > total`.
    pub fn new(name: &str, config: ConcurrencyConfig) -> Result<Self, Error> {
        check_name("name", name, false)?;
        if config.total == 0 || config.total > MAX_LEASES {
            return Err(Error::Config {
                field: "total",
                reason: "must be between 1 and MAX_LEASES",
            });
        }
        if config.reserved > config.total {
            return Err(Error::Config {
                field: "reserved",
                reason: "must not exceed total",
            });
        }
        Ok(Self {
            name: name.to_owned(),
            config,
        })
    }

    /// The name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The configuration.
    pub const fn config(&self) -> &ConcurrencyConfig {
        &self.config
    }

    /// The Redis keys of the pool under `prefix`: normal leases, reserved leases, the
    /// leases of `subject`, and the lease id counter.
    pub fn redis_keys(&self, prefix: &str, subject: Key) -> [String; 4] {
        [
            key_name(prefix, "lease", &self.name, "normal", None),
            key_name(prefix, "lease", &self.name, "reserved", None),
            key_name(prefix, "lease", &self.name, "subject", Some(subject)),
            key_name(prefix, "lease", &self.name, "seq", None),
        ]
    }
}

/// A lease held in a [`LeasePool`]: renew it while the session lives, release it at the end.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SharedLease {
    pub(crate) id: u64,
    pub(crate) subject: Key,
    pub(crate) class: SlotClass,
}

impl SharedLease {
    /// The lease id (unique in its pool, from Redis's counter).
    pub const fn id(&self) -> u64 {
        self.id
    }

    /// The subject that holds it.
    pub const fn subject(&self) -> Key {
        self.subject
    }

    /// Its slot class.
    pub const fn class(&self) -> SlotClass {
        self.class
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_checked_and_keys_carry_parameters() {
        let q = Quota::new(3, 60_000).unwrap();
        assert!(RateLimit::new("", q, RateMode::Leaky).is_err());
        assert!(RateLimit::new("a:b", q, RateMode::Leaky).is_err());
        assert!(RateLimit::new(&"x".repeat(65), q, RateMode::Leaky).is_err());
        let l = RateLimit::new("conn", q, RateMode::Leaky).unwrap();
        let k = l.redis_key("pst", Key::from_u128(0xab));
        assert_eq!(
            k,
            "pst:gcra:conn:v1-3per60000ms-b3:000000000000000000000000000000ab"
        );
        let l2 = RateLimit::new("conn", q.with_burst(4).unwrap(), RateMode::Strict).unwrap();
        assert_ne!(l2.redis_key("pst", Key::from_u128(0xab)), k);
        assert!(check_name("prefix", "a:b", true).is_ok());
        let pool = LeasePool::new("smtp", ConcurrencyConfig::default()).unwrap();
        let keys = pool.redis_keys("p", Key::from_u128(1));
        assert_eq!(keys[0], "p:lease:smtp:normal");
        assert!(keys[2].starts_with("p:lease:smtp:subject:"));
        assert!(
            LeasePool::new(
                "x",
                ConcurrencyConfig {
                    reserved: 2,
                    total: 1,
                    ..ConcurrencyConfig::default()
                }
            )
            .is_err()
        );
        assert!(
            Penalty::new(
                "x",
                PenaltyConfig {
                    half_life_ms: MAX_HALF_LIFE_MS + 1,
                    ..PenaltyConfig::default()
                }
            )
            .is_err()
        );
        assert!(
            Greylisting::new(
                "x",
                GreylistConfig {
                    retry_window_ms: 1,
                    ..GreylistConfig::default()
                }
            )
            .is_err()
        );
    }
}
