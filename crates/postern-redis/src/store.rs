//! The blocking store.

use postern_policy::concurrency::{ConcurrencyRefusal, SlotClass};
use postern_policy::greylist::GreylistDecision;
use postern_policy::tarpit::{Offence, PenaltyState};
use postern_policy::{Key, RateDecision, RateMode, Verdict};
use redis::{Connection, Value};

use crate::Error;
use crate::core::{
    Core, Decision, MAX_BATCH, StoreConfig, StoreStats, breaks_connection, map_redis_error,
};
use crate::limits::{Greylisting, LeasePool, Penalty, RateLimit, SharedLease};
use crate::ops::{self, Call, Prepared};
use crate::scripts::Kind;

/// Policy decisions over shared state in Redis, on one blocking connection.
///
/// Each decision is one `EVALSHA` round trip; the connection is opened on first use and
/// again after a failure (once [`StoreConfig::reconnect_backoff`] is over). Any failure gives
/// the configured fallback ([`Decision::Failed`]), never a panic or a hang: a call waits at
/// most the connect timeout (only when it has to connect) plus the I/O timeout per round trip
/// (one; after a `NOSCRIPT` reply, four script loads and one retry more). After a connection
/// failure, calls fall back at once until the reconnect backoff is over.
pub struct Store {
    client: redis::Client,
    conn: Option<Connection>,
    core: Core,
}

impl core::fmt::Debug for Store {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Store")
            .field("connected", &self.conn.is_some())
            .field("core", &self.core)
            .finish_non_exhaustive()
    }
}

/// Builds the pipeline of `calls` (one `EVALSHA` each); errors stay in their slots.
pub(crate) fn pipeline<'a>(calls: impl IntoIterator<Item = &'a Call>) -> redis::Pipeline {
    let mut p = redis::pipe();
    p.ignore_errors();
    for c in calls {
        let cmd = p.cmd("EVALSHA");
        cmd.arg(c.kind.script().get_hash()).arg(c.keys.len());
        for k in &c.keys {
            cmd.arg(k.as_str());
        }
        for a in &c.args {
            cmd.arg(a.as_slice());
        }
    }
    p
}

/// Whether a reply slot is a `NOSCRIPT` error.
pub(crate) fn is_noscript(v: &Value) -> bool {
    matches!(v, Value::ServerError(e) if e.kind() == Some(redis::ServerErrorKind::NoScript))
}

/// A reply slot as a result.
pub(crate) fn slot_result(kind: Kind, v: Value) -> Result<Value, Error> {
    match v {
        Value::ServerError(e) => Err(Error::Redis {
            script: kind.name(),
            source: e.into(),
        }),
        v => Ok(v),
    }
}

impl Store {
    /// A store for the Redis at `url` (`redis://host:port/db`, `rediss://` is not built in).
    /// No connection is made until the first decision.
    ///
    /// # Errors
    /// [`Error::Url`] for a URL that does not parse, [`Error::Config`] for a configuration
    /// out of range.
    pub fn open(url: &str, config: StoreConfig) -> Result<Self, Error> {
        let core = Core::new(config)?;
        let client = redis::Client::open(url).map_err(|source| Error::Url { source })?;
        Ok(Self {
            client,
            conn: None,
            core,
        })
    }

    /// The configuration.
    pub const fn config(&self) -> &StoreConfig {
        &self.core.config
    }

    /// The counters.
    pub const fn stats(&self) -> StoreStats {
        self.core.stats
    }

    /// Whether a connection is open now.
    pub const fn is_connected(&self) -> bool {
        self.conn.is_some()
    }

    /// Decide with the caller's time `now_ms` (milliseconds, any origin; a time earlier than
    /// one already given is clamped to it) instead of Redis's `TIME`, or with Redis's again
    /// (`None`, the default). For replays of recorded traffic (`postern policy simulate
    /// --redis`) and tests; hosts that share state in production use the server's clock,
    /// so that skewed hosts agree. Keys written on the caller's clock live
    /// [`CALLER_CLOCK_SLACK_MS`](crate::CALLER_CLOCK_SLACK_MS) longer.
    pub fn set_caller_time(&mut self, now_ms: Option<u64>) {
        self.core.set_caller_time(now_ms);
    }

    fn connection(&mut self) -> Result<&mut Connection, Error> {
        if self.conn.is_none() {
            self.core.check_backoff()?;
            let cfg = &self.core.config;
            let io = Some(cfg.io_timeout);
            let opened = self
                .client
                .get_connection_with_timeout(cfg.connect_timeout)
                .and_then(|c| {
                    c.set_read_timeout(io)?;
                    c.set_write_timeout(io)?;
                    Ok(c)
                });
            match opened {
                Ok(c) => {
                    self.core.stats.connects = self.core.stats.connects.saturating_add(1);
                    self.conn = Some(c);
                }
                Err(source) => {
                    self.core.mark_down();
                    return Err(Error::Connect { source });
                }
            }
        }
        self.conn.as_mut().ok_or(Error::Backoff { retry_in_ms: 0 })
    }

    fn broken(&mut self, kind: Kind, e: redis::RedisError) -> Error {
        if breaks_connection(&e) {
            self.conn = None;
            self.core.mark_down();
        }
        map_redis_error(kind.name(), e)
    }

    /// Runs `calls` (all of one kind) in one pipeline; loads the scripts and retries the
    /// calls that met `NOSCRIPT`.
    fn exec(&mut self, kind: Kind, calls: &[Call]) -> Result<Vec<Result<Value, Error>>, Error> {
        let conn = self.connection()?;
        let mut replies = match pipeline(calls).query::<Vec<Value>>(conn) {
            Ok(r) => r,
            Err(e) => return Err(self.broken(kind, e)),
        };
        if replies.len() != calls.len() {
            self.conn = None;
            return Err(Error::Reply {
                script: kind.name(),
                what: "one reply per call",
            });
        }
        let missing: Vec<usize> = (0..replies.len())
            .filter(|&i| replies.get(i).is_some_and(is_noscript))
            .collect();
        if !missing.is_empty() {
            self.core.stats.script_loads = self.core.stats.script_loads.saturating_add(1);
            let conn = self.connection()?;
            let loaded = Kind::ALL
                .iter()
                .try_for_each(|k| k.script().load(conn).map(drop));
            if let Err(e) = loaded {
                return Err(self.broken(kind, e));
            }
            let retry = pipeline(missing.iter().filter_map(|&i| calls.get(i)));
            let conn = self.connection()?;
            let again = match retry.query::<Vec<Value>>(conn) {
                Ok(r) => r,
                Err(e) => return Err(self.broken(kind, e)),
            };
            for (i, v) in missing.into_iter().zip(again) {
                if let Some(slot) = replies.get_mut(i) {
                    *slot = v;
                }
            }
        }
        Ok(replies.into_iter().map(|v| slot_result(kind, v)).collect())
    }

    fn run<T>(&mut self, prepared: Prepared<T>) -> Decision<T> {
        let result = match prepared {
            Prepared::Ready(t) => return Decision::Decided(t),
            Prepared::Call(call, finish) => self
                .exec(call.kind, std::slice::from_ref(&call))
                .and_then(|r| {
                    r.into_iter().next().unwrap_or(Err(Error::Reply {
                        script: call.kind.name(),
                        what: "a reply",
                    }))
                })
                .and_then(finish),
        };
        self.core.decide(result)
    }

    /// A GCRA decision for `key` at `cost`, recorded as the limit's mode says.
    pub fn rate(&mut self, limit: &RateLimit, key: Key, cost: u64) -> Decision<RateDecision> {
        self.run(ops::rate(self.core.ctx(), limit, key, cost, limit.mode()))
    }

    /// What [`rate`](Self::rate) would decide, without recording anything.
    pub fn rate_peek(&mut self, limit: &RateLimit, key: Key, cost: u64) -> Decision<RateDecision> {
        self.run(ops::rate(
            self.core.ctx(),
            limit,
            key,
            cost,
            RateMode::ReadOnly,
        ))
    }

    /// Record a request as strict mode does (as if allowed, even when refused), for callers
    /// that check several limits with [`rate_peek`](Self::rate_peek) and charge all or none;
    /// returns the strict-mode decision. A cost above the burst records nothing.
    pub fn rate_charge(
        &mut self,
        limit: &RateLimit,
        key: Key,
        cost: u64,
    ) -> Decision<RateDecision> {
        self.run(ops::rate(
            self.core.ctx(),
            limit,
            key,
            cost,
            RateMode::Strict,
        ))
    }

    /// [`rate`](Self::rate) for many requests in one pipeline (one round trip), in order.
    /// At most [`MAX_BATCH`](crate::MAX_BATCH) requests; beyond it every decision fails
    /// with [`Error::Config`] (and falls back).
    pub fn rate_batch(
        &mut self,
        limit: &RateLimit,
        requests: &[(Key, u64)],
    ) -> Vec<Decision<RateDecision>> {
        if requests.len() > MAX_BATCH {
            return requests
                .iter()
                .map(|_| {
                    self.core.decide(Err(Error::Config {
                        field: "requests",
                        reason: "must be at most MAX_BATCH",
                    }))
                })
                .collect();
        }
        let ctx = self.core.ctx();
        let prepared: Vec<_> = requests
            .iter()
            .map(|&(key, cost)| ops::rate(ctx, limit, key, cost, limit.mode()))
            .collect();
        let calls: Vec<Call> = prepared
            .iter()
            .filter_map(|p| match p {
                Prepared::Call(c, _) => Some(c.clone()),
                Prepared::Ready(_) => None,
            })
            .collect();
        let mut replies = if calls.is_empty() {
            Ok(Vec::new())
        } else {
            self.exec(Kind::Gcra, &calls)
        }
        .map(Vec::into_iter);
        let mut out = Vec::with_capacity(prepared.len());
        for p in prepared {
            let result = match p {
                Prepared::Ready(d) => Ok(d),
                Prepared::Call(_, finish) => match &mut replies {
                    Ok(it) => it
                        .next()
                        .unwrap_or(Err(Error::Reply {
                            script: Kind::Gcra.name(),
                            what: "one reply per call",
                        }))
                        .and_then(finish),
                    Err(e) => Err(copy_error(e)),
                },
            };
            out.push(self.core.decide(result));
        }
        out
    }

    /// Several limits of one event (for example per client and per sender at MAIL) in one
    /// atomic script: every limit is checked; if all allow, all are charged, else none is
    /// (a strict limit that refuses still records its own attempt, and reports the retry
    /// time from it). The decisions come in the order of `requests`, each as
    /// [`rate_peek`](Self::rate_peek) would give it, so that the first refusal names the
    /// limit to report. This is how `postern policy simulate` combines its limiters, without
    /// the race between hosts of checking and charging in two round trips.
    ///
    /// At most [`MAX_BATCH`](crate::MAX_BATCH) requests, each naming a distinct limit and
    /// key; otherwise the decision fails with [`Error::Config`] (and falls back).
    pub fn rate_all(&mut self, requests: &[(&RateLimit, Key, u64)]) -> Decision<Vec<RateDecision>> {
        if requests.len() > MAX_BATCH {
            return self.core.decide(Err(Error::Config {
                field: "requests",
                reason: "must be at most MAX_BATCH",
            }));
        }
        match ops::rate_all(self.core.ctx(), requests) {
            Ok(prepared) => self.run(prepared),
            Err(e) => self.core.decide(Err(e)),
        }
    }

    /// A greylisting decision for `key` (triplet or pair) from `client` (its prefix key, for
    /// auto-allowing).
    pub fn greylist(
        &mut self,
        grey: &Greylisting,
        key: Key,
        client: Key,
    ) -> Decision<GreylistDecision> {
        self.run(ops::greylist(self.core.ctx(), grey, key, client, false))
    }

    /// What [`greylist`](Self::greylist) would decide, without recording anything: for a
    /// caller that checks several limits of one event and records them all or none.
    pub fn greylist_peek(
        &mut self,
        grey: &Greylisting,
        key: Key,
        client: Key,
    ) -> Decision<GreylistDecision> {
        self.run(ops::greylist(self.core.ctx(), grey, key, client, true))
    }

    /// Raise `client`'s penalty score for `offence`; returns the new state.
    pub fn penalize(
        &mut self,
        penalty: &Penalty,
        client: Key,
        offence: Offence,
    ) -> Decision<PenaltyState> {
        self.run(ops::penalize(self.core.ctx(), penalty, client, offence))
    }

    /// The penalty box's verdict for a new connection from `client`: accept, delay the
    /// greeting, or refuse.
    pub fn penalty_connect(&mut self, penalty: &Penalty, client: Key) -> Decision<Verdict> {
        self.run(ops::penalty_connect(self.core.ctx(), penalty, client))
    }

    /// Take a slot of `pool` for a session of `subject`.
    pub fn acquire(
        &mut self,
        pool: &LeasePool,
        subject: Key,
        class: SlotClass,
    ) -> Decision<Result<SharedLease, ConcurrencyRefusal>> {
        self.run(ops::acquire(self.core.ctx(), pool, subject, class))
    }

    /// Extend a lease to now + the pool's lease TTL; false if it expired or was released.
    pub fn renew(&mut self, pool: &LeasePool, lease: &SharedLease) -> Decision<bool> {
        self.run(ops::lease_update(self.core.ctx(), pool, lease, false))
    }

    /// Release a lease; false if it was not held (expired and freed, or released before).
    pub fn release(&mut self, pool: &LeasePool, lease: &SharedLease) -> Decision<bool> {
        self.run(ops::lease_update(self.core.ctx(), pool, lease, true))
    }
}

/// A copy of a pipeline-wide error for each decision of the batch.
pub(crate) fn copy_error(e: &Error) -> Error {
    match e {
        Error::Timeout { script } => Error::Timeout { script },
        Error::Backoff { retry_in_ms } => Error::Backoff {
            retry_in_ms: *retry_in_ms,
        },
        Error::Reply { script, what } => Error::Reply { script, what },
        Error::Redis { script, source } => Error::Redis {
            script,
            source: source.clone(),
        },
        Error::Connect { source } => Error::Connect {
            source: source.clone(),
        },
        Error::Url { source } => Error::Url {
            source: source.clone(),
        },
        Error::Config { field, reason } => Error::Config { field, reason },
        Error::State { script, source } => Error::State {
            script,
            source: *source,
        },
        Error::Diverged { script } => Error::Diverged { script },
    }
}
