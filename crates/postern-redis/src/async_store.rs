//! The async store (feature `async`), on redis's multiplexed tokio connection.

use postern_policy::concurrency::{ConcurrencyRefusal, SlotClass};
use postern_policy::greylist::GreylistDecision;
use postern_policy::tarpit::{Offence, PenaltyState};
use postern_policy::{Key, RateDecision, RateMode, Verdict};
use redis::Value;
use redis::aio::MultiplexedConnection;

use crate::Error;
use crate::core::{
    Core, Decision, MAX_BATCH, StoreConfig, StoreStats, breaks_connection, map_redis_error,
};
use crate::limits::{Greylisting, LeasePool, Penalty, RateLimit, SharedLease};
use crate::ops::{self, Call, Prepared};
use crate::scripts::Kind;
use crate::store::{is_noscript, pipeline, slot_result};

/// [`Store`](crate::Store)'s decisions for async callers (tokio), with the same scripts,
/// failure policy, timeouts and counters. The connection is multiplexed: clones of it would
/// share one socket; this store keeps one and reconnects after a failure.
pub struct AsyncStore {
    client: redis::Client,
    conn: Option<MultiplexedConnection>,
    core: Core,
}

impl core::fmt::Debug for AsyncStore {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("AsyncStore")
            .field("connected", &self.conn.is_some())
            .field("core", &self.core)
            .finish_non_exhaustive()
    }
}

impl AsyncStore {
    /// As [`Store::open`](crate::Store::open).
    ///
    /// # Errors
    /// [`Error::Url`] or [`Error::Config`].
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

    /// As [`Store::set_caller_time`](crate::Store::set_caller_time).
    pub fn set_caller_time(&mut self, now_ms: Option<u64>) {
        self.core.set_caller_time(now_ms);
    }

    async fn connection(&mut self) -> Result<MultiplexedConnection, Error> {
        if let Some(c) = &self.conn {
            return Ok(c.clone());
        }
        self.core.check_backoff()?;
        let cfg = &self.core.config;
        let config = redis::AsyncConnectionConfig::new()
            .set_connection_timeout(Some(cfg.connect_timeout))
            .set_response_timeout(Some(cfg.io_timeout));
        match self
            .client
            .get_multiplexed_async_connection_with_config(&config)
            .await
        {
            Ok(c) => {
                self.core.stats.connects = self.core.stats.connects.saturating_add(1);
                self.conn = Some(c.clone());
                Ok(c)
            }
            Err(source) => {
                self.core.mark_down();
                Err(Error::Connect { source })
            }
        }
    }

    fn broken(&mut self, kind: Kind, e: redis::RedisError) -> Error {
        if breaks_connection(&e) {
            self.conn = None;
            self.core.mark_down();
        }
        map_redis_error(kind.name(), e)
    }

    async fn exec(&mut self, kind: Kind, call: &Call) -> Result<Value, Error> {
        let mut conn = self.connection().await?;
        let calls = std::slice::from_ref(call);
        let mut reply = match pipeline(calls).query_async::<Vec<Value>>(&mut conn).await {
            Ok(r) => r,
            Err(e) => return Err(self.broken(kind, e)),
        };
        if reply.first().is_some_and(is_noscript) {
            self.core.stats.script_loads = self.core.stats.script_loads.saturating_add(1);
            for k in Kind::ALL {
                if let Err(e) = k.script().load_async(&mut conn).await {
                    return Err(self.broken(kind, e));
                }
            }
            reply = match pipeline(calls).query_async::<Vec<Value>>(&mut conn).await {
                Ok(r) => r,
                Err(e) => return Err(self.broken(kind, e)),
            };
        }
        let v = reply.into_iter().next().ok_or(Error::Reply {
            script: kind.name(),
            what: "a reply",
        })?;
        slot_result(kind, v)
    }

    async fn run<T>(&mut self, prepared: Prepared<T>) -> Decision<T> {
        let result = match prepared {
            Prepared::Ready(t) => return Decision::Decided(t),
            Prepared::Call(call, finish) => self.exec(call.kind, &call).await.and_then(finish),
        };
        self.core.decide(result)
    }

    /// As [`Store::rate`](crate::Store::rate).
    pub async fn rate(&mut self, limit: &RateLimit, key: Key, cost: u64) -> Decision<RateDecision> {
        let p = ops::rate(self.core.ctx(), limit, key, cost, limit.mode());
        self.run(p).await
    }

    /// As [`Store::rate_peek`](crate::Store::rate_peek).
    pub async fn rate_peek(
        &mut self,
        limit: &RateLimit,
        key: Key,
        cost: u64,
    ) -> Decision<RateDecision> {
        let p = ops::rate(self.core.ctx(), limit, key, cost, RateMode::ReadOnly);
        self.run(p).await
    }

    /// As [`Store::rate_charge`](crate::Store::rate_charge).
    pub async fn rate_charge(
        &mut self,
        limit: &RateLimit,
        key: Key,
        cost: u64,
    ) -> Decision<RateDecision> {
        let p = ops::rate(self.core.ctx(), limit, key, cost, RateMode::Strict);
        self.run(p).await
    }

    /// As [`Store::rate_all`](crate::Store::rate_all).
    pub async fn rate_all(
        &mut self,
        requests: &[(&RateLimit, Key, u64)],
    ) -> Decision<Vec<RateDecision>> {
        if requests.len() > MAX_BATCH {
            return self.core.decide(Err(Error::Config {
                field: "requests",
                reason: "must be at most MAX_BATCH",
            }));
        }
        match ops::rate_all(self.core.ctx(), requests) {
            Ok(prepared) => self.run(prepared).await,
            Err(e) => self.core.decide(Err(e)),
        }
    }

    /// As [`Store::greylist`](crate::Store::greylist).
    pub async fn greylist(
        &mut self,
        grey: &Greylisting,
        key: Key,
        client: Key,
    ) -> Decision<GreylistDecision> {
        let p = ops::greylist(self.core.ctx(), grey, key, client, false);
        self.run(p).await
    }

    /// As [`Store::greylist_peek`](crate::Store::greylist_peek).
    pub async fn greylist_peek(
        &mut self,
        grey: &Greylisting,
        key: Key,
        client: Key,
    ) -> Decision<GreylistDecision> {
        let p = ops::greylist(self.core.ctx(), grey, key, client, true);
        self.run(p).await
    }

    /// As [`Store::penalize`](crate::Store::penalize).
    pub async fn penalize(
        &mut self,
        penalty: &Penalty,
        client: Key,
        offence: Offence,
    ) -> Decision<PenaltyState> {
        let p = ops::penalize(self.core.ctx(), penalty, client, offence);
        self.run(p).await
    }

    /// As [`Store::penalty_connect`](crate::Store::penalty_connect).
    pub async fn penalty_connect(&mut self, penalty: &Penalty, client: Key) -> Decision<Verdict> {
        let p = ops::penalty_connect(self.core.ctx(), penalty, client);
        self.run(p).await
    }

    /// As [`Store::acquire`](crate::Store::acquire).
    pub async fn acquire(
        &mut self,
        pool: &LeasePool,
        subject: Key,
        class: SlotClass,
    ) -> Decision<Result<SharedLease, ConcurrencyRefusal>> {
        let p = ops::acquire(self.core.ctx(), pool, subject, class);
        self.run(p).await
    }

    /// As [`Store::renew`](crate::Store::renew).
    pub async fn renew(&mut self, pool: &LeasePool, lease: &SharedLease) -> Decision<bool> {
        let p = ops::lease_update(self.core.ctx(), pool, lease, false);
        self.run(p).await
    }

    /// As [`Store::release`](crate::Store::release).
    pub async fn release(&mut self, pool: &LeasePool, lease: &SharedLease) -> Decision<bool> {
        let p = ops::lease_update(self.core.ctx(), pool, lease, true);
        self.run(p).await
    }
}
