//! What the blocking and the async store share: configuration, the caller's clock, the
//! failure policy, counters and the reconnect backoff.

use std::time::{Duration, Instant};

use postern_policy::{EnhancedCode, Reply, Verdict};

use crate::Error;
use crate::limits::check_name;
use crate::ops::Ctx;

/// Default time to set up a connection (TCP connect and handshake): 250 ms.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_millis(250);
/// Default time to wait for a reply: 250 ms. An SMTP command can wait that long; a Redis
/// on the same network answers in well under a millisecond.
pub const DEFAULT_IO_TIMEOUT: Duration = Duration::from_millis(250);
/// Default time after a connection failure during which no new connection is tried (the
/// decisions fall back at once instead of each paying the connect timeout).
pub const DEFAULT_RECONNECT_BACKOFF: Duration = Duration::from_secs(1);
/// The longest connect timeout, I/O timeout or backoff a configuration accepts: 60 s.
pub const MAX_TIMEOUT: Duration = Duration::from_secs(60);
/// Default key prefix.
pub const DEFAULT_PREFIX: &str = "postern";
/// Extra life given to every key when the caller supplies the time
/// ([`Store::set_caller_time`](crate::Store::set_caller_time)): Redis expires keys by its own
/// clock, which may run ahead of a replayed one; a record kept longer than needed is read as
/// fresh state anyway, so only memory is spent. With the server's clock there is no slack:
/// a key expires exactly when its state equals fresh state.
pub const CALLER_CLOCK_SLACK_MS: u64 = 60_000;
/// The most decisions one pipeline (`*_batch`) sends at once.
pub const MAX_BATCH: usize = 10_000;

/// The reply of a fail-closed decision: 451 4.3.0 (RFC 3463 §3.4, "other or undefined mail
/// system status"): the client retries later, when the policy store is back.
pub const REPLY_STORE_UNAVAILABLE: Reply = Reply::new(
    451,
    EnhancedCode::new(4, 3, 0),
    "Policy service unavailable, try again later",
);

/// What a decision does when Redis cannot decide (down, slow, garbage).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum FailureMode {
    /// Accept, and count the failure (mail keeps flowing while Redis is down; the limits are
    /// not enforced meanwhile). The default.
    #[default]
    Open,
    /// Defer with [`REPLY_STORE_UNAVAILABLE`] (451 4.3.0): nothing passes unchecked.
    Closed,
}

impl FailureMode {
    /// The fallback verdict.
    pub const fn verdict(self) -> Verdict {
        match self {
            Self::Open => Verdict::Accept,
            Self::Closed => Verdict::Defer {
                reply: REPLY_STORE_UNAVAILABLE,
                retry_after_ms: None,
            },
        }
    }
}

/// How a store talks to Redis.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreConfig {
    /// Prefix of every key ([`DEFAULT_PREFIX`]); hosts that share limits use the same one.
    pub prefix: String,
    /// Fail open or closed ([`FailureMode::Open`]).
    pub failure: FailureMode,
    /// Connection set-up timeout ([`DEFAULT_CONNECT_TIMEOUT`]): TCP connect and handshake.
    /// Resolving a host name in the URL happens before it and is not bounded by it (the
    /// system resolver blocks): give Redis's address as an IP literal where a hang on a dead
    /// resolver matters.
    pub connect_timeout: Duration,
    /// Reply timeout ([`DEFAULT_IO_TIMEOUT`]).
    pub io_timeout: Duration,
    /// No reconnection is tried this long after a failure ([`DEFAULT_RECONNECT_BACKOFF`]).
    pub reconnect_backoff: Duration,
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self {
            prefix: DEFAULT_PREFIX.to_owned(),
            failure: FailureMode::Open,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            io_timeout: DEFAULT_IO_TIMEOUT,
            reconnect_backoff: DEFAULT_RECONNECT_BACKOFF,
        }
    }
}

impl StoreConfig {
    pub(crate) fn validate(&self) -> Result<(), Error> {
        check_name("prefix", &self.prefix, true)?;
        for (field, d) in [
            ("connect_timeout", self.connect_timeout),
            ("io_timeout", self.io_timeout),
        ] {
            if d.is_zero() || d > MAX_TIMEOUT {
                return Err(Error::Config {
                    field,
                    reason: "must be between 1 ns and MAX_TIMEOUT",
                });
            }
        }
        if self.reconnect_backoff > MAX_TIMEOUT {
            return Err(Error::Config {
                field: "reconnect_backoff",
                reason: "must be at most MAX_TIMEOUT",
            });
        }
        Ok(())
    }
}

/// Counters, for monitoring.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct StoreStats {
    /// Decisions made by Redis.
    pub decided: u64,
    /// Decisions that fell back to the [`FailureMode`] (Redis down, slow, garbage).
    pub failures: u64,
    /// Connections opened (the first one included).
    pub connects: u64,
    /// Times the scripts were loaded into Redis (after `NOSCRIPT`).
    pub script_loads: u64,
}

/// A decision: made by Redis, or by the failure policy when Redis could not make it.
#[derive(Debug)]
#[must_use]
pub enum Decision<T> {
    /// Redis decided.
    Decided(T),
    /// Redis could not decide; `verdict` is the configured fallback (accept, or 451 4.3.0).
    Failed {
        /// What went wrong.
        error: Error,
        /// The fallback verdict.
        verdict: Verdict,
    },
}

impl<T> Decision<T> {
    /// The decision, if Redis made it.
    pub const fn decided(&self) -> Option<&T> {
        match self {
            Self::Decided(t) => Some(t),
            Self::Failed { .. } => None,
        }
    }

    /// The decision, if Redis made it.
    pub fn into_decided(self) -> Option<T> {
        match self {
            Self::Decided(t) => Some(t),
            Self::Failed { .. } => None,
        }
    }

    /// The error, if Redis could not decide.
    pub const fn error(&self) -> Option<&Error> {
        match self {
            Self::Decided(_) => None,
            Self::Failed { error, .. } => Some(error),
        }
    }

    /// The verdict: `f` of the decision, or the fallback.
    pub fn verdict_with(&self, f: impl FnOnce(&T) -> Verdict) -> Verdict {
        match self {
            Self::Decided(t) => f(t),
            Self::Failed { verdict, .. } => *verdict,
        }
    }
}

/// The shared state of a store.
#[derive(Debug)]
pub(crate) struct Core {
    pub(crate) config: StoreConfig,
    caller_now: Option<u64>,
    last_caller_ms: u64,
    pub(crate) stats: StoreStats,
    retry_at: Option<Instant>,
}

impl Core {
    pub(crate) fn new(config: StoreConfig) -> Result<Self, Error> {
        config.validate()?;
        Ok(Self {
            config,
            caller_now: None,
            last_caller_ms: 0,
            stats: StoreStats::default(),
            retry_at: None,
        })
    }

    /// Use the caller's time (clamped so that it never goes backwards), or the server's.
    pub(crate) fn set_caller_time(&mut self, now_ms: Option<u64>) {
        self.caller_now = now_ms.map(|t| {
            self.last_caller_ms = self.last_caller_ms.max(t);
            self.last_caller_ms
        });
    }

    pub(crate) fn ctx(&self) -> Ctx<'_> {
        Ctx {
            prefix: &self.config.prefix,
            now_ms: self.caller_now,
            slack_ms: if self.caller_now.is_some() {
                CALLER_CLOCK_SLACK_MS
            } else {
                0
            },
        }
    }

    /// Fails fast while Redis is marked down.
    pub(crate) fn check_backoff(&mut self) -> Result<(), Error> {
        if let Some(at) = self.retry_at {
            let now = Instant::now();
            if now < at {
                let left = at.duration_since(now).as_millis();
                return Err(Error::Backoff {
                    retry_in_ms: u64::try_from(left).unwrap_or(u64::MAX).max(1),
                });
            }
            self.retry_at = None;
        }
        Ok(())
    }

    /// Marks Redis down after a connection-level failure.
    pub(crate) fn mark_down(&mut self) {
        if !self.config.reconnect_backoff.is_zero() {
            self.retry_at = Instant::now().checked_add(self.config.reconnect_backoff);
        }
    }

    pub(crate) fn decide<T>(&mut self, result: Result<T, Error>) -> Decision<T> {
        match result {
            Ok(t) => {
                self.stats.decided = self.stats.decided.saturating_add(1);
                Decision::Decided(t)
            }
            Err(error) => {
                self.stats.failures = self.stats.failures.saturating_add(1);
                Decision::Failed {
                    error,
                    verdict: self.config.failure.verdict(),
                }
            }
        }
    }
}

/// Whether a client error means the connection is unusable (drop it and back off): anything
/// but an error reply of the server, which leaves the connection in sync.
pub(crate) fn breaks_connection(e: &redis::RedisError) -> bool {
    !matches!(
        e.kind(),
        redis::ErrorKind::Server(_) | redis::ErrorKind::Extension
    )
}

/// The crate error for a client error while running `kind`'s script.
pub(crate) fn map_redis_error(script: &'static str, source: redis::RedisError) -> Error {
    if source.is_timeout() {
        Error::Timeout { script }
    } else {
        Error::Redis { script, source }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_validated_and_fallbacks() {
        assert!(StoreConfig::default().validate().is_ok());
        let bad = StoreConfig {
            io_timeout: Duration::ZERO,
            ..StoreConfig::default()
        };
        assert!(bad.validate().is_err());
        let bad = StoreConfig {
            prefix: "a b".into(),
            ..StoreConfig::default()
        };
        assert!(bad.validate().is_err());
        assert_eq!(FailureMode::Open.verdict(), Verdict::Accept);
        let v = FailureMode::Closed.verdict();
        assert_eq!(
            v.reply().map(|r| (r.code, r.enhanced.to_string())),
            Some((451, "4.3.0".to_string()))
        );
    }

    #[test]
    fn caller_clock_is_monotone() {
        let mut core = Core::new(StoreConfig::default()).unwrap();
        core.set_caller_time(Some(100));
        core.set_caller_time(Some(50));
        assert_eq!(core.ctx().now_ms, Some(100));
        assert_eq!(core.ctx().slack_ms, CALLER_CLOCK_SLACK_MS);
        core.set_caller_time(None);
        assert_eq!(core.ctx().now_ms, None);
        assert_eq!(core.ctx().slack_ms, 0);
    }
}
