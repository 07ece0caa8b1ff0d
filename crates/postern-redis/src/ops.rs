//! Each decision as a script call (keys and arguments) and the reading of its reply.
//!
//! The scripts make the state transition atomically in Redis; the reply carries the time
//! used and the record before and after. The Rust side then runs postern-policy's pure step
//! on the same record and time: its decision is the one returned (so `remaining` and
//! `retry_after_ms` are postern-policy's own arithmetic), and a script whose transition
//! differs from it is reported as [`Error::Diverged`] instead of trusted.

use postern_policy::concurrency::{ConcurrencyRefusal, SlotClass};
use postern_policy::gcra::GcraState;
use postern_policy::greylist::{self, GreylistDecision, GreylistState};
use postern_policy::tarpit::{Offence, PenaltyState};
use postern_policy::{Key, RateDecision, RateMode, Verdict, gcra};
use redis::Value;

use crate::Error;
use crate::limits::{Greylisting, LeasePool, MAX_TTL_MS, Penalty, RateLimit, SharedLease};
use crate::scripts::Kind;

/// One script invocation.
#[derive(Debug, Clone)]
pub(crate) struct Call {
    pub(crate) kind: Kind,
    pub(crate) keys: Vec<String>,
    pub(crate) args: Vec<Vec<u8>>,
}

/// Reads a script's reply into a decision.
pub(crate) type Finish<T> = Box<dyn FnOnce(Value) -> Result<T, Error> + Send>;

/// A decision ready to run: either decided without Redis, or a call and its reader.
pub(crate) enum Prepared<T> {
    Ready(T),
    Call(Call, Finish<T>),
}

/// What every call needs from the store: the key prefix, the caller's time (`None`: the
/// server's `TIME`), and the expiry slack.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ctx<'a> {
    pub(crate) prefix: &'a str,
    pub(crate) now_ms: Option<u64>,
    pub(crate) slack_ms: u64,
}

impl Ctx<'_> {
    fn time_arg(&self) -> Vec<u8> {
        self.now_ms
            .map(|t| t.to_be_bytes().to_vec())
            .unwrap_or_default()
    }

    fn slack_arg(&self) -> Vec<u8> {
        self.slack_ms.to_string().into_bytes()
    }
}

fn reply_err(kind: Kind, what: &'static str) -> Error {
    Error::Reply {
        script: kind.name(),
        what,
    }
}

/// The script's array reply of exactly `N` items.
fn items<const N: usize>(kind: Kind, reply: Value) -> Result<[Value; N], Error> {
    match reply {
        Value::Array(v) => <[Value; N]>::try_from(v)
            .map_err(|_| reply_err(kind, "an array of the script's length")),
        _ => Err(reply_err(kind, "an array")),
    }
}

fn u64_item(kind: Kind, v: &Value) -> Result<u64, Error> {
    match v {
        // Scripts return a u64 below 2^53 as an integer when that is cheaper for them.
        Value::Int(n) => u64::try_from(*n).map_err(|_| reply_err(kind, "an 8-byte integer")),
        Value::BulkString(b) => <[u8; 8]>::try_from(b.as_slice())
            .map(u64::from_be_bytes)
            .map_err(|_| reply_err(kind, "an 8-byte integer")),
        _ => Err(reply_err(kind, "an 8-byte integer")),
    }
}

fn bytes_item(kind: Kind, v: Value) -> Result<Option<Vec<u8>>, Error> {
    match v {
        Value::Nil => Ok(None),
        Value::BulkString(b) => Ok(Some(b)),
        _ => Err(reply_err(kind, "a record or nil")),
    }
}

fn int_item(kind: Kind, v: &Value) -> Result<i64, Error> {
    match v {
        Value::Int(i) => Ok(*i),
        _ => Err(reply_err(kind, "an integer")),
    }
}

fn code_item(kind: Kind, v: &Value) -> Result<u8, Error> {
    match v {
        Value::BulkString(b) if b.len() == 1 => b.first().copied().ok_or(reply_err(kind, "a code")),
        _ => Err(reply_err(kind, "a one-letter code")),
    }
}

fn state_err(kind: Kind) -> impl Fn(postern_policy::Error) -> Error {
    move |source| Error::State {
        script: kind.name(),
        source,
    }
}

const fn diverged(kind: Kind) -> Error {
    Error::Diverged {
        script: kind.name(),
    }
}

/// A GCRA decision for `key` with `mode` (the limit's own, or read-only / strict for
/// peek and charge).
pub(crate) fn rate(
    ctx: Ctx<'_>,
    limit: &RateLimit,
    key: Key,
    cost: u64,
    mode: RateMode,
) -> Prepared<RateDecision> {
    let quota = *limit.quota();
    let t_ns = quota.emission_interval_ns();
    // τ = burst · T, below 2^62 (Quota checks it).
    let tau_ns = quota.burst().saturating_mul(t_ns);
    // A cost above the burst can never pass and records nothing: no round trip.
    let Some(increment) = cost.checked_mul(t_ns).filter(|&i| i <= tau_ns) else {
        return Prepared::Ready(RateDecision::TooLarge);
    };
    let mode_arg = match mode {
        RateMode::Leaky => b"l",
        RateMode::Strict => b"s",
        RateMode::ReadOnly => b"r",
    };
    let call = Call {
        kind: Kind::Gcra,
        keys: vec![limit.redis_key(ctx.prefix, key)],
        args: vec![
            ctx.time_arg(),
            increment.to_be_bytes().to_vec(),
            tau_ns.to_be_bytes().to_vec(),
            mode_arg.to_vec(),
            ctx.slack_arg(),
        ],
    };
    let finish = move |reply: Value| {
        let kind = Kind::Gcra;
        let [now, old, allowed, written] = items::<4>(kind, reply)?;
        let now = u64_item(kind, &now)?;
        let old = bytes_item(kind, old)?;
        let allowed = int_item(kind, &allowed)?;
        let written = bytes_item(kind, written)?;
        let step = gcra::step(&quota, mode, old.as_deref(), now, cost).map_err(state_err(kind))?;
        let expected = step.new_state.map(|s| s.encode().to_vec());
        if allowed != i64::from(step.decision.is_allowed()) || written != expected {
            return Err(diverged(kind));
        }
        Ok(step.decision)
    };
    Prepared::Call(call, Box::new(finish))
}

/// Several limits of one event: all checked, then all charged or none.
pub(crate) fn rate_all(
    ctx: Ctx<'_>,
    requests: &[(&RateLimit, Key, u64)],
) -> Result<Prepared<Vec<RateDecision>>, Error> {
    let kind = Kind::GcraAll;
    let mut keys = Vec::with_capacity(requests.len());
    let mut args = vec![ctx.time_arg(), ctx.slack_arg(), b"0".to_vec()];
    // Per request: quota, mode, cost, and whether it can pass at all.
    let mut plan = Vec::with_capacity(requests.len());
    let mut too_large = false;
    for &(limit, key, cost) in requests {
        let quota = *limit.quota();
        let t_ns = quota.emission_interval_ns();
        let tau_ns = quota.burst().saturating_mul(t_ns);
        let increment = cost.checked_mul(t_ns).filter(|&i| i <= tau_ns);
        too_large |= increment.is_none();
        let name = limit.redis_key(ctx.prefix, key);
        if keys.contains(&name) {
            return Err(Error::Config {
                field: "requests",
                reason: "must name distinct limit and key pairs",
            });
        }
        keys.push(name);
        args.push(increment.unwrap_or(tau_ns).to_be_bytes().to_vec());
        args.push(tau_ns.to_be_bytes().to_vec());
        // A cost above the burst never records, whatever the mode.
        let mode: &[u8] = match (limit.mode(), increment) {
            (_, None) | (RateMode::ReadOnly, _) => b"r",
            (RateMode::Leaky, _) => b"l",
            (RateMode::Strict, _) => b"s",
        };
        args.push(mode.to_vec());
        plan.push((quota, limit.mode(), cost, increment.is_some()));
    }
    if too_large && let Some(flag) = args.get_mut(2) {
        *flag = b"1".to_vec();
    }
    if requests.is_empty() {
        return Ok(Prepared::Ready(Vec::new()));
    }
    let call = Call { kind, keys, args };
    let finish = move |reply: Value| {
        let Value::Array(items) = reply else {
            return Err(reply_err(kind, "an array"));
        };
        if let [_, Value::Int(_), Value::BulkString(bad)] = items.as_slice() {
            GcraState::decode(bad).map_err(state_err(kind))?;
            return Err(reply_err(kind, "a record the script can decode"));
        }
        let [now, olds, allowed, written] = <[Value; 4]>::try_from(items)
            .map_err(|_| reply_err(kind, "an array of the script's length"))?;
        let now = u64_item(kind, &now)?;
        let list = |v: Value| match v {
            Value::Array(v) if v.len() == plan.len() => Ok(v),
            _ => Err(reply_err(kind, "one item per request")),
        };
        let (olds, allowed, written) = (list(olds)?, list(allowed)?, list(written)?);
        let mut out = Vec::with_capacity(plan.len());
        let mut refused = too_large;
        let mut steps = Vec::with_capacity(plan.len());
        for (((quota, mode, cost, fits), old), ok) in plan.iter().zip(olds).zip(&allowed) {
            let old = bytes_item(kind, old)?;
            let peek = gcra::step(quota, RateMode::ReadOnly, old.as_deref(), now, *cost)
                .map_err(state_err(kind))?;
            let charged = gcra::step(quota, RateMode::Strict, old.as_deref(), now, *cost)
                .map_err(state_err(kind))?;
            if *fits && int_item(kind, ok)? != i64::from(peek.decision.is_allowed()) {
                return Err(diverged(kind));
            }
            refused |= !peek.decision.is_allowed();
            steps.push((*mode, peek.decision, charged));
        }
        for ((mode, peek, charged), written) in steps.into_iter().zip(written) {
            let strict_refusal =
                mode == RateMode::Strict && matches!(peek, RateDecision::Refused { .. });
            let records = mode != RateMode::ReadOnly && (!refused || strict_refusal);
            let expected = records
                .then(|| charged.new_state.map(|s| s.encode().to_vec()))
                .flatten();
            if bytes_item(kind, written)? != expected {
                return Err(diverged(kind));
            }
            // A strict refusal reports the retry time from the recorded attempt.
            out.push(if strict_refusal {
                charged.decision
            } else {
                peek
            });
        }
        Ok(out)
    };
    Ok(Prepared::Call(call, Box::new(finish)))
}

/// A greylisting decision for `key` from `client`; with `peek`, the decision without
/// writing anything.
pub(crate) fn greylist(
    ctx: Ctx<'_>,
    grey: &Greylisting,
    key: Key,
    client: Key,
    peek: bool,
) -> Prepared<GreylistDecision> {
    let config = *grey.config();
    let call = Call {
        kind: Kind::Greylist,
        keys: vec![
            grey.redis_key(ctx.prefix, key),
            grey.client_redis_key(ctx.prefix, client),
        ],
        args: vec![
            ctx.time_arg(),
            config.delay_ms.to_be_bytes().to_vec(),
            config.retry_window_ms.to_be_bytes().to_vec(),
            config.pass_ttl_ms.to_be_bytes().to_vec(),
            config.auto_allow_after.to_string().into_bytes(),
            ctx.slack_arg(),
            if peek { b"1".to_vec() } else { Vec::new() },
        ],
    };
    let finish = move |reply: Value| {
        let kind = Kind::Greylist;
        let [now, code, retry, old, written] = items::<5>(kind, reply)?;
        let now = u64_item(kind, &now)?;
        let code = code_item(kind, &code)?;
        let old = bytes_item(kind, old)?;
        let written = bytes_item(kind, written)?;
        match code {
            b'C' => return Ok(GreylistDecision::ClientAllowed),
            b'E' => {
                if let Some(bytes) = &old {
                    GreylistState::decode(bytes).map_err(state_err(kind))?;
                }
                return Err(reply_err(kind, "a record the script can decode"));
            }
            _ => {}
        }
        let (decision, next, _) =
            greylist::step(&config, old.as_deref(), now).map_err(state_err(kind))?;
        let retry = match retry {
            Value::Nil => None,
            v => Some(u64_item(kind, &v)?),
        };
        let same = match (code, decision) {
            (b'F', GreylistDecision::FirstPass) | (b'K', GreylistDecision::Known) => {
                retry.is_none()
            }
            (b'D', GreylistDecision::Defer { retry_after_ms }) => retry == Some(retry_after_ms),
            _ => false,
        };
        if !same || written.as_deref() != Some(&next.encode()[..]) {
            return Err(diverged(kind));
        }
        Ok(decision)
    };
    Prepared::Call(call, Box::new(finish))
}

fn penalty_call(ctx: Ctx<'_>, penalty: &Penalty, client: Key, op: &[u8], points: u32) -> Call {
    Call {
        kind: Kind::Penalty,
        keys: vec![penalty.redis_key(ctx.prefix, client)],
        args: vec![
            ctx.time_arg(),
            op.to_vec(),
            points.to_string().into_bytes(),
            penalty.config().half_life_ms.to_string().into_bytes(),
            ctx.slack_arg(),
        ],
    }
}

/// Add the points of `offence` to `client`'s score; returns the new state.
pub(crate) fn penalize(
    ctx: Ctx<'_>,
    penalty: &Penalty,
    client: Key,
    offence: Offence,
) -> Prepared<PenaltyState> {
    let config = *penalty.config();
    let points = match offence {
        Offence::UnknownRecipient => config.unknown_recipient_points,
        Offence::ProtocolError => config.protocol_error_points,
    };
    let call = penalty_call(ctx, penalty, client, b"p", points);
    let finish = move |reply: Value| {
        let kind = Kind::Penalty;
        let [now, old, written, ok] = items::<4>(kind, reply)?;
        let now = u64_item(kind, &now)?;
        let old = bytes_item(kind, old)?;
        let written = bytes_item(kind, written)?;
        let ok = int_item(kind, &ok)?;
        let before = match &old {
            Some(bytes) => PenaltyState::decode(bytes).map_err(state_err(kind))?,
            None => PenaltyState::default(),
        };
        let after = before.penalize(&config, points, now);
        if ok != 1 || written.as_deref() != Some(&after.encode()[..]) {
            return Err(diverged(kind));
        }
        Ok(after)
    };
    Prepared::Call(call, Box::new(finish))
}

/// The verdict for a new connection from `client` (accept, delay, or ban).
pub(crate) fn penalty_connect(ctx: Ctx<'_>, penalty: &Penalty, client: Key) -> Prepared<Verdict> {
    let config = *penalty.config();
    let call = penalty_call(ctx, penalty, client, b"r", 0);
    let finish = move |reply: Value| {
        let kind = Kind::Penalty;
        let [now, old, _, _] = items::<4>(kind, reply)?;
        let now = u64_item(kind, &now)?;
        let state = match bytes_item(kind, old)? {
            Some(bytes) => PenaltyState::decode(&bytes).map_err(state_err(kind))?,
            None => PenaltyState::default(),
        };
        Ok(state.connect_verdict(&config, now))
    };
    Prepared::Call(call, Box::new(finish))
}

#[derive(Debug, Clone, Copy)]
pub(crate) enum LeaseOp {
    Acquire,
    Renew(u64),
    Release(u64),
}

fn lease_call(ctx: Ctx<'_>, pool: &LeasePool, subject: Key, class: SlotClass, op: LeaseOp) -> Call {
    let c = pool.config();
    let (op, id): (&[u8], u64) = match op {
        LeaseOp::Acquire => (b"a", 0),
        LeaseOp::Renew(id) => (b"n", id),
        LeaseOp::Release(id) => (b"x", id),
    };
    let class: &[u8] = match class {
        SlotClass::Normal => b"n",
        SlotClass::Reserved => b"r",
    };
    Call {
        kind: Kind::Lease,
        keys: pool.redis_keys(ctx.prefix, subject).into(),
        args: vec![
            ctx.time_arg(),
            op.to_vec(),
            class.to_vec(),
            c.lease_ttl_ms.min(MAX_TTL_MS).to_string().into_bytes(),
            c.total.to_string().into_bytes(),
            c.per_subject.to_string().into_bytes(),
            c.reserved.to_string().into_bytes(),
            id.to_string().into_bytes(),
            ctx.slack_arg(),
        ],
    }
}

/// Take a slot of `pool` for a session of `subject`.
pub(crate) fn acquire(
    ctx: Ctx<'_>,
    pool: &LeasePool,
    subject: Key,
    class: SlotClass,
) -> Prepared<Result<SharedLease, ConcurrencyRefusal>> {
    let call = lease_call(ctx, pool, subject, class, LeaseOp::Acquire);
    let finish = move |reply: Value| {
        let kind = Kind::Lease;
        let [now, code, id] = items::<3>(kind, reply)?;
        u64_item(kind, &now)?;
        match code_item(kind, &code)? {
            b'A' => {
                let id = u64::try_from(int_item(kind, &id)?)
                    .map_err(|_| reply_err(kind, "a positive lease id"))?;
                Ok(Ok(SharedLease { id, subject, class }))
            }
            b'T' => Ok(Err(ConcurrencyRefusal::Total)),
            b'S' => Ok(Err(ConcurrencyRefusal::PerSubject)),
            _ => Err(reply_err(kind, "code A, T or S")),
        }
    };
    Prepared::Call(call, Box::new(finish))
}

/// Renew or release a lease: whether it was held.
pub(crate) fn lease_update(
    ctx: Ctx<'_>,
    pool: &LeasePool,
    lease: &SharedLease,
    release: bool,
) -> Prepared<bool> {
    let op = if release {
        LeaseOp::Release(lease.id)
    } else {
        LeaseOp::Renew(lease.id)
    };
    let call = lease_call(ctx, pool, lease.subject, lease.class, op);
    let finish = move |reply: Value| {
        let kind = Kind::Lease;
        let [now, held, _] = items::<3>(kind, reply)?;
        u64_item(kind, &now)?;
        match int_item(kind, &held)? {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(reply_err(kind, "0 or 1")),
        }
    };
    Prepared::Call(call, Box::new(finish))
}
