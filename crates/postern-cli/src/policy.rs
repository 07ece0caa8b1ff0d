//! `postern policy simulate` and `postern policy bounce`.
//!
//! The config and event formats are documented in `crates/postern-policy/README.md`; the
//! acceptance contract is `shared/testdata/policy/README.md`.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::{self, BufRead, BufWriter, Write};
use std::net::IpAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand, ValueEnum};
use postern_policy::bounce::{
    self, AutoSubmitted, BounceDecision, BounceFacts, BounceOptions, ContentVerdict, DsnContent,
    FailurePhase, LoopSigns, Notify, RecipientStatus, Ret, Severity, SpfResult,
};
use postern_policy::concurrency::{Concurrency, ConcurrencyConfig, Lease, SlotClass};
use postern_policy::greylist::{Greylist, GreylistConfig, GreylistDecision};
use postern_policy::limits::{Session, SessionLimits};
use postern_policy::tarpit::{Offence, PenaltyBox, PenaltyConfig};
use postern_policy::{
    ClientPrefix, Key, Networks, Overflow, PrefixLengths, Quota, RateDecision, RateLimiter,
    RateMode, Reply, Subjects, Verdict,
};
use serde::Deserialize;
use serde_json::Value;

#[derive(Debug, Subcommand)]
pub(crate) enum PolicyCommand {
    /// Replay a log of SMTP events (JSON lines) through configured limits; print one JSON
    /// line per event with the decision.
    ///
    /// Exit status: 0 when every event was replayed, 1 on a bad event line, 2 on a bad
    /// config or unreadable input.
    Simulate(SimulateArgs),
    /// Decide whether a delivery failure may produce a DSN (bounce) and print the decision
    /// as JSON: `{"decision": "suppress", "reason": "...", "rule": 9}`.
    ///
    /// Without `--after-acceptance` the failure is known during the SMTP transaction and the
    /// decision is `reject_at_smtp`. Exit status 0, or 2 on usage errors.
    Bounce(BounceArgs),
}

#[derive(Debug, Args)]
pub(crate) struct SimulateArgs {
    /// The limits, as TOML.
    #[arg(long, value_name = "FILE.toml")]
    config: PathBuf,
    /// Events as JSON lines; `-` or nothing for standard input.
    events: Option<PathBuf>,
    /// Keep the state in this Redis (`redis://host:port/db`) instead of in memory, on the
    /// events' clock, under the key prefix `postern-simulate` (state persists across runs).
    #[arg(long, value_name = "URL")]
    redis: Option<String>,
}

pub(crate) fn run(cmd: &PolicyCommand) -> ExitCode {
    match cmd {
        PolicyCommand::Simulate(args) => simulate(args),
        PolicyCommand::Bounce(args) => bounce(args),
    }
}

// ---------------------------------------------------------------------------------------
// Configuration
// ---------------------------------------------------------------------------------------

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Config {
    #[serde(default)]
    subjects: SubjectsConfig,
    #[serde(default)]
    rate: Vec<RateConfig>,
    concurrency: Option<ConcurrencySection>,
    greylist: Option<GreylistSection>,
    limits: Option<LimitsSection>,
    tarpit: Option<TarpitSection>,
}

/// Where `[greylist]` stands among the `[[rate]]` tables of the file: the contract names the
/// first refusing limiter "in configuration order", and greylisting is one of `rcpt`'s.
#[derive(Debug, Deserialize, Default)]
struct Order {
    #[serde(default)]
    rate: Vec<toml::Spanned<serde::de::IgnoredAny>>,
    greylist: Option<toml::Spanned<serde::de::IgnoredAny>>,
}

impl Order {
    /// How many `[[rate]]` tables come before `[greylist]` (all of them without one).
    fn rates_before_greylist(text: &str) -> usize {
        let Ok(order) = toml::from_str::<Self>(text) else {
            return usize::MAX;
        };
        order.greylist.map_or(usize::MAX, |g| {
            let at = g.span().start;
            order.rate.iter().filter(|r| r.span().start < at).count()
        })
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SubjectsConfig {
    #[serde(default = "default_v4")]
    ipv4_prefix: u8,
    #[serde(default = "default_v6")]
    ipv6_prefix: u8,
}

fn default_v4() -> u8 {
    postern_policy::DEFAULT_IPV4_PREFIX
}

fn default_v6() -> u8 {
    postern_policy::DEFAULT_IPV6_PREFIX
}

impl Default for SubjectsConfig {
    fn default() -> Self {
        Self {
            ipv4_prefix: default_v4(),
            ipv6_prefix: default_v6(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
enum On {
    Connect,
    Mail,
    Rcpt,
    Data,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
enum KeyKind {
    Client,
    Sender,
    SenderDomain,
    User,
    Rcpt,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
enum ModeName {
    #[default]
    Leaky,
    Strict,
    ReadOnly,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
enum CostName {
    #[default]
    One,
    Size,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RateConfig {
    name: String,
    on: On,
    key: KeyKind,
    count: u64,
    period: String,
    burst: Option<u64>,
    #[serde(default)]
    mode: ModeName,
    #[serde(default)]
    cost: CostName,
    max_keys: Option<usize>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConcurrencySection {
    per_client: Option<u32>,
    total: Option<u32>,
    #[serde(default)]
    reserved: u32,
    #[serde(default)]
    allow: Vec<String>,
    lease_ttl: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
enum GreyKeyName {
    #[default]
    Triplet,
    SenderRcpt,
    SpfDomain,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct GreylistSection {
    #[serde(default)]
    key: GreyKeyName,
    delay: Option<String>,
    retry_window: Option<String>,
    pass_ttl: Option<String>,
    #[serde(default)]
    auto_allow_after: u32,
    max_keys: Option<usize>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LimitsSection {
    max_message_size: Option<u64>,
    max_recipients: Option<u32>,
    max_messages: Option<u32>,
    soft_error_limit: Option<u32>,
    hard_error_limit: Option<u32>,
    error_delay: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TarpitSection {
    half_life: Option<String>,
    unknown_rcpt_points: Option<u32>,
    error_points: Option<u32>,
    delay_per_point: Option<String>,
    max_delay: Option<String>,
    ban_threshold: Option<u32>,
    #[serde(default)]
    ban_permanent: bool,
}

/// `<integer><unit>` with unit ms, s, m, h or d, in milliseconds.
fn duration_ms(field: &str, text: &str) -> Result<u64, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .ok_or_else(|| format!("{field}: {text:?} needs a unit (ms, s, m, h or d)"))?;
    let (digits, unit) = text.split_at(split);
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("{field}: {text:?} does not start with an integer"))?;
    let scale = match unit {
        "ms" => 1,
        "s" => 1000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => return Err(format!("{field}: unknown unit {unit:?} (ms, s, m, h or d)")),
    };
    n.checked_mul(scale)
        .ok_or_else(|| format!("{field}: {text:?} is too long"))
}

fn opt_duration(field: &str, text: Option<&String>, default: u64) -> Result<u64, String> {
    text.map_or(Ok(default), |t| duration_ms(field, t))
}

// ---------------------------------------------------------------------------------------
// The simulator
// ---------------------------------------------------------------------------------------

struct Limiter {
    name: String,
    on: On,
    key: KeyKind,
    cost: CostName,
    gcra: RateLimiter,
}

struct Grey {
    key: GreyKeyName,
    table: Greylist,
}

struct Conn {
    prefix: ClientPrefix,
    client: Key,
    class: SlotClass,
    lease: Option<Lease>,
    shared_lease: Option<postern_redis::SharedLease>,
    sender: String,
    spf_pass: bool,
    user: Option<String>,
    session: Session,
}

struct Simulator {
    subjects: Subjects,
    rates: Vec<Limiter>,
    concurrency: Option<Concurrency>,
    allow: Networks,
    greylist: Option<Grey>,
    /// How many `[[rate]]` tables come before `[greylist]` in the file: greylisting's place
    /// among the limiters of `rcpt` in configuration order.
    rates_before_greylist: usize,
    limits: Option<SessionLimits>,
    tarpit: Option<PenaltyBox>,
    conns: HashMap<u64, Conn>,
    /// The latest `t` seen: an event with a smaller `t` is decided at this time (one clock
    /// for every limit, not one per limiter that only sees its own events).
    latest_t: u64,
    /// In memory, the first event's `t`: every limit counts from it, so that a trace may use
    /// any origin (the rate limiters work in `u64` nanoseconds, about 584 years of
    /// milliseconds, not any `u64` of them). With `--redis`, `t` is the clock the hosts sharing
    /// the state agree on and is used as given.
    origin: Option<u64>,
    /// `--redis`: the same limits over shared state in Redis (the tables above then only
    /// carry the configuration).
    redis: Option<Shared>,
}

/// One output line.
#[derive(Debug, Default)]
struct Outcome {
    decision: &'static str,
    reply: Option<Reply>,
    limit: Option<String>,
    retry_after_ms: Option<u64>,
    delay_ms: Option<u64>,
}

impl Outcome {
    fn accept() -> Self {
        Self {
            decision: "accept",
            ..Self::default()
        }
    }

    fn from_verdict(verdict: Verdict, limit: &str) -> Self {
        match verdict {
            Verdict::Accept => Self::accept(),
            Verdict::Delay { ms } => Self {
                decision: "accept",
                delay_ms: Some(ms),
                ..Self::default()
            },
            Verdict::Defer {
                reply,
                retry_after_ms,
            } => Self::refusal("defer", reply, limit, retry_after_ms),
            Verdict::Reject { reply } => Self::refusal("reject", reply, limit, None),
            Verdict::Disconnect {
                reply,
                retry_after_ms,
            } => Self::refusal("disconnect", reply, limit, retry_after_ms),
        }
    }

    fn refusal(
        decision: &'static str,
        reply: Reply,
        limit: &str,
        retry_after_ms: Option<u64>,
    ) -> Self {
        Self {
            decision,
            reply: Some(reply),
            limit: Some(limit.to_owned()),
            retry_after_ms,
            delay_ms: None,
        }
    }
}

impl Simulator {
    /// The simulator of `config`, read from `text` (for the order of its tables).
    fn new(config: &Config, text: &str) -> Result<Self, String> {
        let prefixes = PrefixLengths::new(config.subjects.ipv4_prefix, config.subjects.ipv6_prefix)
            .map_err(|e| e.to_string())?;
        let mut allow = Networks::new();
        let concurrency = match &config.concurrency {
            None => None,
            Some(c) => Some(concurrency(c, &mut allow)?),
        };
        Ok(Self {
            // A fixed seed: keys only live in this process, and runs are reproducible.
            subjects: Subjects::with_seed(prefixes, [0x706f_7374_6572_6e21, 0x7369_6d75_6c61_7465]),
            rates: rates(&config.rate)?,
            concurrency,
            allow,
            greylist: config.greylist.as_ref().map(greylist).transpose()?,
            rates_before_greylist: Order::rates_before_greylist(text),
            limits: config.limits.as_ref().map(limits).transpose()?,
            tarpit: config.tarpit.as_ref().map(tarpit).transpose()?,
            conns: HashMap::new(),
            latest_t: 0,
            origin: None,
            redis: None,
        })
    }
}

fn rates(config: &[RateConfig]) -> Result<Vec<Limiter>, String> {
    let mut rates = Vec::with_capacity(config.len());
    for (i, r) in config.iter().enumerate() {
        let ctx = |e: postern_policy::Error| format!("[[rate]] #{} ({}): {e}", i + 1, r.name);
        let period = duration_ms("period", &r.period)
            .map_err(|e| format!("[[rate]] #{} ({}): {e}", i + 1, r.name))?;
        let quota = Quota::new(r.count, period)
            .and_then(|q| q.with_burst(r.burst.unwrap_or(r.count)))
            .map_err(ctx)?;
        let mode = match r.mode {
            ModeName::Leaky => RateMode::Leaky,
            ModeName::Strict => RateMode::Strict,
            ModeName::ReadOnly => RateMode::ReadOnly,
        };
        let needs = match r.key {
            KeyKind::Client => None,
            KeyKind::Sender | KeyKind::SenderDomain | KeyKind::User => {
                (r.on == On::Connect).then_some("on = mail, rcpt or data")
            }
            KeyKind::Rcpt => (r.on != On::Rcpt).then_some("on = rcpt"),
        };
        if let Some(needs) = needs {
            return Err(format!(
                "[[rate]] #{} ({}): this key needs {needs}",
                i + 1,
                r.name
            ));
        }
        if r.cost == CostName::Size && !matches!(r.on, On::Mail | On::Data) {
            return Err(format!(
                "[[rate]] #{} ({}): cost = \"size\" needs on = mail or data",
                i + 1,
                r.name
            ));
        }
        let limiter = RateLimiter::new(
            quota,
            mode,
            r.max_keys.unwrap_or(1 << 20),
            Overflow::EvictOldest,
        )
        .map_err(ctx)?;
        rates.push(Limiter {
            name: r.name.clone(),
            on: r.on,
            key: r.key,
            cost: r.cost,
            gcra: limiter,
        });
    }
    Ok(rates)
}

fn concurrency(c: &ConcurrencySection, allow: &mut Networks) -> Result<Concurrency, String> {
    for net in &c.allow {
        let (ip, len) = match net.split_once('/') {
            Some((ip, len)) => (ip, Some(len)),
            None => (net.as_str(), None),
        };
        let ip: IpAddr = ip
            .parse()
            .map_err(|_| format!("[concurrency] allow: bad address {net:?}"))?;
        let len = match len {
            Some(l) => l
                .parse()
                .map_err(|_| format!("[concurrency] allow: bad prefix {net:?}"))?,
            None if ip.is_ipv4() => 32,
            None => 128,
        };
        allow
            .push(ip, len)
            .map_err(|e| format!("[concurrency] allow {net:?}: {e}"))?;
    }
    let cfg = ConcurrencyConfig {
        total: c.total.unwrap_or(10_000),
        per_subject: c.per_client.unwrap_or(0),
        reserved: c.reserved,
        // Without a configured lease lifetime, a slot is held until disconnect.
        lease_ttl_ms: opt_duration("lease_ttl", c.lease_ttl.as_ref(), u64::MAX)
            .map_err(|e| format!("[concurrency] {e}"))?,
    };
    Concurrency::new(cfg).map_err(|e| format!("[concurrency] {e}"))
}

fn greylist(g: &GreylistSection) -> Result<Grey, String> {
    let d = GreylistConfig::default();
    let err = |e: String| format!("[greylist] {e}");
    let cfg = GreylistConfig {
        delay_ms: opt_duration("delay", g.delay.as_ref(), d.delay_ms).map_err(err)?,
        retry_window_ms: opt_duration("retry_window", g.retry_window.as_ref(), d.retry_window_ms)
            .map_err(err)?,
        pass_ttl_ms: opt_duration("pass_ttl", g.pass_ttl.as_ref(), d.pass_ttl_ms).map_err(err)?,
        auto_allow_after: g.auto_allow_after,
        max_keys: g.max_keys.unwrap_or(d.max_keys),
        overflow: Overflow::EvictOldest,
    };
    Ok(Grey {
        key: g.key,
        table: Greylist::new(cfg).map_err(|e| format!("[greylist] {e}"))?,
    })
}

fn limits(l: &LimitsSection) -> Result<SessionLimits, String> {
    let d = SessionLimits::default();
    Ok(SessionLimits {
        max_message_size: l.max_message_size.unwrap_or(d.max_message_size),
        max_recipients: l.max_recipients.unwrap_or(d.max_recipients),
        max_messages: l.max_messages.unwrap_or(d.max_messages),
        soft_error_limit: l.soft_error_limit.unwrap_or(d.soft_error_limit),
        hard_error_limit: l.hard_error_limit.unwrap_or(d.hard_error_limit),
        error_delay_ms: opt_duration("error_delay", l.error_delay.as_ref(), d.error_delay_ms)
            .map_err(|e| format!("[limits] {e}"))?,
    })
}

fn tarpit(t: &TarpitSection) -> Result<PenaltyBox, String> {
    let d = PenaltyConfig::default();
    let err = |e: String| format!("[tarpit] {e}");
    let cfg = PenaltyConfig {
        half_life_ms: opt_duration("half_life", t.half_life.as_ref(), d.half_life_ms)
            .map_err(err)?,
        unknown_recipient_points: t.unknown_rcpt_points.unwrap_or(d.unknown_recipient_points),
        protocol_error_points: t.error_points.unwrap_or(d.protocol_error_points),
        delay_per_point_ms: opt_duration(
            "delay_per_point",
            t.delay_per_point.as_ref(),
            d.delay_per_point_ms,
        )
        .map_err(err)?,
        max_delay_ms: opt_duration("max_delay", t.max_delay.as_ref(), d.max_delay_ms)
            .map_err(err)?,
        ban_threshold: t.ban_threshold.unwrap_or(d.ban_threshold),
        ban_permanent: t.ban_permanent,
        ..d
    };
    PenaltyBox::new(cfg).map_err(|e| format!("[tarpit] {e}"))
}

// ---------------------------------------------------------------------------------------
// Events
// ---------------------------------------------------------------------------------------

#[derive(Debug, Deserialize)]
struct Event {
    t: u64,
    #[serde(rename = "event")]
    kind: String,
    conn: Option<u64>,
    ip: Option<String>,
    sender: Option<String>,
    rcpt: Option<String>,
    size: Option<u64>,
    status: Option<String>,
    user: Option<String>,
    spf: Option<String>,
}

/// 550 5.1.1 for a recipient the server does not know (RFC 3463 §3.2).
const REPLY_UNKNOWN_USER: Reply = Reply::new(
    550,
    postern_policy::EnhancedCode::new(5, 1, 1),
    "No such user here",
);

fn rate_key(subjects: &Subjects, kind: KeyKind, conn: &Conn, rcpt: Option<&str>) -> Option<Key> {
    match kind {
        KeyKind::Client => Some(conn.client),
        KeyKind::Sender => Some(subjects.sender(&conn.sender)),
        KeyKind::SenderDomain => Some(subjects.sender_domain(&conn.sender)),
        KeyKind::User => conn.user.as_deref().map(|u| subjects.user(u)),
        KeyKind::Rcpt => rcpt.map(|r| subjects.recipient(r)),
    }
}

impl Simulator {
    /// Check every rate limiter of `on` without charging. Returns the first refusal in
    /// configuration order, with the limiter's index in the file; strict limiters that refuse
    /// record the attempt.
    fn check_rates(
        &mut self,
        on: On,
        conn: &Conn,
        rcpt: Option<&str>,
        size: u64,
        t: u64,
    ) -> Option<(usize, String, RateDecision)> {
        let mut first = None;
        for (i, l) in self.rates.iter_mut().enumerate() {
            if l.on != on {
                continue;
            }
            let Some(key) = rate_key(&self.subjects, l.key, conn, rcpt) else {
                continue;
            };
            let cost = match l.cost {
                CostName::One => 1,
                CostName::Size => size,
            };
            let mut decision = match self.redis.as_mut() {
                Some(r) => r.peek(i, key, cost),
                None => l.gcra.peek(key, t, cost),
            };
            if decision.is_allowed() {
                continue;
            }
            if l.gcra.mode() == RateMode::Strict && matches!(decision, RateDecision::Refused { .. })
            {
                // Strict mode records the refused attempt; its retry time counts from there.
                if let Some(r) = self.redis.as_mut() {
                    r.charge(i, key, cost);
                    decision = r.peek(i, key, cost);
                } else {
                    l.gcra.charge(key, t, cost);
                    decision = l.gcra.peek(key, t, cost);
                }
            }
            if first.is_none() {
                first = Some((i, l.name.clone(), decision));
            }
        }
        first
    }

    /// The rate limiters of `rcpt` and greylisting, in configuration order: the first that
    /// refuses names the refusal, and then none is charged. Greylisting records an attempt
    /// (a first sighting, a pass) only when no limiter refuses or it is the one named; the
    /// others learn what it would decide from a peek.
    fn rcpt_limiters(&mut self, conn: &Conn, rcpt: &str, t: u64) -> Option<Outcome> {
        let refused = self.check_rates(On::Rcpt, conn, Some(rcpt), 0, t);
        let Some(g) = self.greylist.as_ref() else {
            return refused.map(|(_, name, d)| Self::rate_outcome(On::Rcpt, &name, d));
        };
        let key = match g.key {
            GreyKeyName::SenderRcpt => self.subjects.sender_recipient(&conn.sender, rcpt),
            GreyKeyName::SpfDomain if conn.spf_pass => {
                self.subjects.domain_recipient(&conn.sender, rcpt)
            }
            GreyKeyName::Triplet | GreyKeyName::SpfDomain => {
                self.subjects.triplet(conn.prefix, &conn.sender, rcpt)
            }
        };
        if let Some((i, name, d)) = refused {
            // A rate limiter refuses: greylisting is named instead only if it comes first in
            // the file and refuses too.
            let greylist_first = self.rates_before_greylist <= i;
            let grey_refuses = greylist_first
                && !match self.redis.as_mut() {
                    Some(r) => r.greylist_peek(key, conn.client),
                    None => g.table.peek(key, conn.client, t),
                }
                .is_accepted();
            if !grey_refuses {
                return Some(Self::rate_outcome(On::Rcpt, &name, d));
            }
        }
        let g = self.greylist.as_mut()?;
        let decision: GreylistDecision = match self.redis.as_mut() {
            Some(r) => r.greylist(key, conn.client),
            None => g.table.check(key, conn.client, t),
        };
        (!decision.is_accepted()).then(|| Outcome::from_verdict(decision.verdict(), "greylist"))
    }

    fn charge_rates(&mut self, on: On, conn: &Conn, rcpt: Option<&str>, size: u64, t: u64) {
        for (i, l) in self.rates.iter_mut().enumerate() {
            if l.on != on || l.gcra.mode() == RateMode::ReadOnly {
                continue;
            }
            let Some(key) = rate_key(&self.subjects, l.key, conn, rcpt) else {
                continue;
            };
            let cost = match l.cost {
                CostName::One => 1,
                CostName::Size => size,
            };
            match self.redis.as_mut() {
                Some(r) => r.charge(i, key, cost),
                None => l.gcra.charge(key, t, cost),
            }
        }
    }

    fn rate_outcome(on: On, name: &str, decision: RateDecision) -> Outcome {
        let verdict = match (on, decision) {
            (On::Connect, d) => d.connect_verdict(),
            (_, RateDecision::TooLarge) => Verdict::Reject {
                reply: postern_policy::REPLY_MESSAGE_TOO_BIG,
            },
            (_, d) => d.command_verdict(),
        };
        Outcome::from_verdict(verdict, name)
    }

    fn handle(&mut self, ev: &Event) -> Result<Outcome, String> {
        let origin = if self.redis.is_some() {
            0
        } else {
            *self.origin.get_or_insert(ev.t)
        };
        let t = ev.t.saturating_sub(origin).max(self.latest_t);
        self.latest_t = t;
        if let Some(r) = self.redis.as_mut() {
            r.store.set_caller_time(Some(t));
        }
        match ev.kind.as_str() {
            "connect" => self.connect(ev, t),
            "disconnect" => {
                let id = ev.conn.ok_or("disconnect: missing \"conn\"")?;
                if let Some(conn) = self.conns.remove(&id) {
                    if let (Some(lease), Some(c)) = (conn.lease, self.concurrency.as_mut()) {
                        c.release(lease);
                    }
                    if let (Some(lease), Some(r)) = (conn.shared_lease, self.redis.as_mut()) {
                        r.release(&lease);
                    }
                }
                Ok(Outcome::accept())
            }
            "mail" | "rcpt" | "data" | "rset" | "error" | "auth" | "helo" | "ehlo" | "noop"
            | "quit" => {
                let id = ev
                    .conn
                    .ok_or_else(|| format!("{}: missing \"conn\"", ev.kind))?;
                let mut conn = self
                    .conns
                    .remove(&id)
                    .ok_or_else(|| format!("{}: connection {id} was never opened", ev.kind))?;
                if let (Some(lease), Some(c)) = (conn.lease, self.concurrency.as_mut()) {
                    c.renew(lease, t);
                }
                if let (Some(lease), Some(r)) = (conn.shared_lease, self.redis.as_mut()) {
                    r.renew(&lease);
                }
                let out = self.in_session(ev, &mut conn, t);
                self.conns.insert(id, conn);
                out
            }
            other => Err(format!("unknown event {other:?}")),
        }
    }

    fn connect(&mut self, ev: &Event, t: u64) -> Result<Outcome, String> {
        let id = ev.conn.ok_or("connect: missing \"conn\"")?;
        let ip_text = ev.ip.as_deref().ok_or("connect: missing \"ip\"")?;
        let ip: IpAddr = ip_text
            .parse()
            .map_err(|_| format!("connect: bad ip {ip_text:?}"))?;
        if self.conns.contains_key(&id) {
            return Err(format!("connect: connection {id} is already open"));
        }
        let prefix = self.subjects.prefix(ip);
        let mut conn = Conn {
            prefix,
            client: self.subjects.client(prefix),
            class: if self.allow.contains(ip) {
                SlotClass::Reserved
            } else {
                SlotClass::Normal
            },
            lease: None,
            shared_lease: None,
            sender: String::new(),
            spf_pass: false,
            user: None,
            session: Session::new(),
        };
        let out = self.admit(&mut conn, t);
        // A refused connection is kept too, so that its `disconnect` is recognised.
        self.conns.insert(id, conn);
        Ok(out)
    }

    /// Concurrency, then rate limits, then the penalty box; all charged or none.
    fn admit(&mut self, conn: &mut Conn, t: u64) -> Outcome {
        if let Some(c) = self.concurrency.as_mut() {
            let (client, class) = (conn.client, conn.class);
            let acquired = match self.redis.as_mut() {
                Some(r) => r
                    .acquire(client, class)
                    .map(|l| conn.shared_lease = Some(l)),
                None => c.acquire(client, class, t).map(|l| conn.lease = Some(l)),
            };
            if let Err(refusal) = acquired {
                // "All limiters are checked, then all are charged or none": the rate limiters
                // are still checked, so that a strict one that refuses too records the attempt
                // (none is charged, and concurrency names the refusal, being checked first).
                let _ = self.check_rates(On::Connect, conn, None, 0, t);
                return Outcome::from_verdict(refusal.verdict(), "concurrency");
            }
        }
        let release = |sim: &mut Self, conn: &mut Conn| {
            if let (Some(lease), Some(c)) = (conn.lease.take(), sim.concurrency.as_mut()) {
                c.release(lease);
            }
            if let (Some(lease), Some(r)) = (conn.shared_lease.take(), sim.redis.as_mut()) {
                r.release(&lease);
            }
        };
        if let Some((_, name, decision)) = self.check_rates(On::Connect, conn, None, 0, t) {
            release(self, conn);
            return Self::rate_outcome(On::Connect, &name, decision);
        }
        let mut out = Outcome::accept();
        if let Some(tarpit) = self.tarpit.as_mut() {
            let verdict = match self.redis.as_mut() {
                Some(r) => r.penalty_connect(conn.client),
                None => tarpit.connect(conn.client, t),
            };
            if !verdict.is_accept() {
                release(self, conn);
                return Outcome::from_verdict(verdict, "tarpit");
            }
            out = Outcome::from_verdict(verdict, "tarpit");
        }
        self.charge_rates(On::Connect, conn, None, 0, t);
        out
    }

    fn in_session(&mut self, ev: &Event, conn: &mut Conn, t: u64) -> Result<Outcome, String> {
        let limits = self.limits.unwrap_or(SessionLimits {
            max_message_size: u64::MAX,
            max_recipients: u32::MAX,
            max_messages: u32::MAX,
            soft_error_limit: u32::MAX,
            hard_error_limit: 0,
            error_delay_ms: 0,
        });
        match ev.kind.as_str() {
            "mail" => {
                conn.sender = ev.sender.clone().unwrap_or_default();
                conn.spf_pass = ev
                    .spf
                    .as_deref()
                    .is_some_and(|s| s.eq_ignore_ascii_case("pass"));
                let mut session = conn.session;
                let verdict = session.mail(&limits, ev.size);
                if !verdict.is_accept() {
                    let limit = if matches!(verdict, Verdict::Disconnect { .. }) {
                        "messages_per_connection"
                    } else {
                        "message_size"
                    };
                    return Ok(Outcome::from_verdict(verdict, limit));
                }
                let size = ev.size.unwrap_or(0);
                if let Some((_, name, d)) = self.check_rates(On::Mail, conn, None, size, t) {
                    return Ok(Self::rate_outcome(On::Mail, &name, d));
                }
                self.charge_rates(On::Mail, conn, None, size, t);
                conn.session = session;
                Ok(Outcome::accept())
            }
            "rcpt" => {
                let rcpt = ev.rcpt.as_deref().ok_or("rcpt: missing \"rcpt\"")?;
                let status = ev.status.as_deref().unwrap_or("ok");
                if !status.eq_ignore_ascii_case("ok") {
                    return Ok(self.unknown_recipient(conn, &limits, t));
                }
                let verdict = conn.session.rcpt(&limits);
                if !verdict.is_accept() {
                    return Ok(Outcome::from_verdict(verdict, "recipients_per_message"));
                }
                if let Some(refused) = self.rcpt_limiters(conn, rcpt, t) {
                    return Ok(refused);
                }
                self.charge_rates(On::Rcpt, conn, Some(rcpt), 0, t);
                conn.session.recipient_accepted();
                Ok(Outcome::accept())
            }
            "data" => {
                let size = ev.size.unwrap_or(0);
                let mut session = conn.session;
                let verdict = session.data(&limits, size);
                conn.session.reset();
                if !verdict.is_accept() {
                    return Ok(Outcome::from_verdict(verdict, "message_size"));
                }
                if let Some((_, name, d)) = self.check_rates(On::Data, conn, None, size, t) {
                    return Ok(Self::rate_outcome(On::Data, &name, d));
                }
                self.charge_rates(On::Data, conn, None, size, t);
                Ok(Outcome::accept())
            }
            "rset" | "helo" | "ehlo" => {
                conn.session.reset();
                Ok(Outcome::accept())
            }
            "error" => {
                self.penalize(conn.client, Offence::ProtocolError, t);
                Ok(Outcome::from_verdict(conn.session.error(&limits), "errors"))
            }
            "auth" => {
                conn.user = Some(ev.user.clone().ok_or("auth: missing \"user\"")?);
                Ok(Outcome::accept())
            }
            _ => Ok(Outcome::accept()),
        }
    }

    /// A recipient the server itself refused: 550 5.1.1, counted as an error of the session
    /// and as an offence of the client's prefix.
    fn unknown_recipient(&mut self, conn: &mut Conn, limits: &SessionLimits, t: u64) -> Outcome {
        self.penalize(conn.client, Offence::UnknownRecipient, t);
        match conn.session.error(limits) {
            v @ Verdict::Disconnect { .. } => Outcome::from_verdict(v, "errors"),
            Verdict::Delay { ms } => Outcome {
                delay_ms: Some(ms),
                ..Outcome::refusal("reject", REPLY_UNKNOWN_USER, "unknown_recipient", None)
            },
            _ => Outcome::refusal("reject", REPLY_UNKNOWN_USER, "unknown_recipient", None),
        }
    }
}

/// `{"t": 0, "event": "connect", "decision": "accept", ...}`, keys in the contract's order.
fn render(t: u64, event: &str, out: &Outcome) -> String {
    let quote = |s: &str| Value::String(s.to_owned()).to_string();
    let mut line = format!(
        "{{\"t\": {t}, \"event\": {}, \"decision\": {}",
        quote(event),
        quote(out.decision)
    );
    if let Some(reply) = out.reply {
        let _ = write!(
            line,
            ", \"code\": {}, \"enhanced\": {}",
            reply.code,
            quote(&reply.enhanced.to_string())
        );
    }
    if let Some(limit) = &out.limit {
        let _ = write!(line, ", \"limit\": {}", quote(limit));
    }
    if let Some(ms) = out.retry_after_ms {
        let _ = write!(line, ", \"retry_after_ms\": {ms}");
    }
    if let Some(ms) = out.delay_ms {
        let _ = write!(line, ", \"delay_ms\": {ms}");
    }
    line.push('}');
    line
}

fn simulate(args: &SimulateArgs) -> ExitCode {
    let text = match std::fs::read_to_string(&args.config) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("postern: cannot read {}: {e}", args.config.display());
            return ExitCode::from(2);
        }
    };
    let config: Config = match toml::from_str(&text) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("postern: {}: {e}", args.config.display());
            return ExitCode::from(2);
        }
    };
    let mut sim = match Simulator::new(&config, &text) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("postern: {}: {e}", args.config.display());
            return ExitCode::from(2);
        }
    };
    if let Some(url) = &args.redis {
        match Shared::new(url, &sim) {
            Ok(shared) => sim.redis = Some(shared),
            Err(e) => {
                eprintln!("postern: --redis {url}: {e}");
                return ExitCode::from(2);
            }
        }
    }
    let input: Box<dyn BufRead> = match &args.events {
        Some(path) if path.as_os_str() != "-" => match std::fs::File::open(path) {
            Ok(f) => Box::new(io::BufReader::new(f)),
            Err(e) => {
                eprintln!("postern: cannot read {}: {e}", path.display());
                return ExitCode::from(2);
            }
        },
        _ => Box::new(io::stdin().lock()),
    };
    let stdout = io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    for (index, line) in input.lines().enumerate() {
        let n = index + 1;
        let line = match line {
            Ok(l) => l,
            Err(e) => {
                let _ = out.flush();
                eprintln!("postern: events line {n}: {e}");
                return ExitCode::from(2);
            }
        };
        if line.trim().is_empty() {
            continue;
        }
        let result = serde_json::from_str::<Event>(&line)
            .map_err(|e| e.to_string())
            .and_then(|ev| sim.handle(&ev).map(|o| render(ev.t, &ev.kind, &o)))
            .and_then(|text| match sim.redis_error() {
                Some(e) => Err(format!("redis: {e}")),
                None => Ok(text),
            });
        match result {
            Ok(text) => {
                if writeln!(out, "{text}").is_err() {
                    return ExitCode::from(2);
                }
            }
            Err(e) => {
                let _ = out.flush();
                eprintln!("postern: events line {n}: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
    if out.flush().is_err() {
        return ExitCode::from(2);
    }
    ExitCode::SUCCESS
}

// ---------------------------------------------------------------------------------------
// --redis: the same limits over shared state in Redis (postern-redis)
// ---------------------------------------------------------------------------------------

impl Simulator {
    /// The first Redis failure since the last call (`--redis`).
    fn redis_error(&mut self) -> Option<String> {
        self.redis.as_mut().and_then(|r| r.error.take())
    }

    /// Tarpit points for `client`, in Redis or in memory.
    fn penalize(&mut self, client: Key, offence: Offence, t: u64) {
        if let Some(tarpit) = self.tarpit.as_mut() {
            match self.redis.as_mut() {
                Some(r) => r.penalize(client, offence),
                None => tarpit.penalize(client, offence, t),
            }
        }
    }
}

/// The simulator's stateful limits in Redis, on the events' clock. The in-memory tables keep
/// the configuration; a failed Redis call is kept in `error` and ends the run (exit 1).
struct Shared {
    store: postern_redis::Store,
    /// One per `[[rate]]`, in configuration order.
    rates: Vec<postern_redis::RateLimit>,
    pool: Option<postern_redis::LeasePool>,
    grey: Option<postern_redis::Greylisting>,
    tarpit: Option<postern_redis::Penalty>,
    error: Option<String>,
}

impl Shared {
    fn new(url: &str, sim: &Simulator) -> Result<Self, String> {
        let config = postern_redis::StoreConfig {
            prefix: "postern-simulate".to_owned(),
            ..postern_redis::StoreConfig::default()
        };
        let err = |e: postern_redis::Error| e.to_string();
        let rates = sim
            .rates
            .iter()
            .map(|l| postern_redis::RateLimit::new(&l.name, *l.gcra.quota(), l.gcra.mode()))
            .collect::<Result<_, _>>()
            .map_err(|e| format!("[[rate]] name: {e}"))?;
        Ok(Self {
            store: postern_redis::Store::open(url, config).map_err(err)?,
            rates,
            pool: sim
                .concurrency
                .as_ref()
                .map(|c| postern_redis::LeasePool::new("concurrency", *c.config()))
                .transpose()
                .map_err(err)?,
            grey: sim
                .greylist
                .as_ref()
                .map(|g| postern_redis::Greylisting::new("greylist", *g.table.config()))
                .transpose()
                .map_err(err)?,
            tarpit: sim
                .tarpit
                .as_ref()
                .map(|t| postern_redis::Penalty::new("tarpit", *t.config()))
                .transpose()
                .map_err(err)?,
            error: None,
        })
    }

    /// The decision, or `fallback` with the error kept for the caller.
    fn take<T>(&mut self, d: postern_redis::Decision<T>, fallback: T) -> T {
        match d {
            postern_redis::Decision::Decided(t) => t,
            postern_redis::Decision::Failed { error, .. } => {
                self.error.get_or_insert_with(|| error.to_string());
                fallback
            }
        }
    }

    fn peek(&mut self, i: usize, key: Key, cost: u64) -> RateDecision {
        let Some(limit) = self.rates.get(i) else {
            return RateDecision::TooLarge;
        };
        let d = self.store.rate_peek(limit, key, cost);
        self.take(d, RateDecision::Allowed { remaining: 0 })
    }

    fn charge(&mut self, i: usize, key: Key, cost: u64) {
        if let Some(limit) = self.rates.get(i) {
            let d = self.store.rate_charge(limit, key, cost);
            self.take(d, RateDecision::Allowed { remaining: 0 });
        }
    }

    fn acquire(
        &mut self,
        client: Key,
        class: SlotClass,
    ) -> Result<postern_redis::SharedLease, postern_policy::concurrency::ConcurrencyRefusal> {
        let refused = Err(postern_policy::concurrency::ConcurrencyRefusal::Total);
        let Some(pool) = &self.pool else {
            return refused;
        };
        let d = self.store.acquire(pool, client, class);
        self.take(d, refused)
    }

    fn renew(&mut self, lease: &postern_redis::SharedLease) {
        if let Some(pool) = &self.pool {
            let d = self.store.renew(pool, lease);
            self.take(d, false);
        }
    }

    fn release(&mut self, lease: &postern_redis::SharedLease) {
        if let Some(pool) = &self.pool {
            let d = self.store.release(pool, lease);
            self.take(d, false);
        }
    }

    fn greylist(&mut self, key: Key, client: Key) -> GreylistDecision {
        self.greylisting(key, client, false)
    }

    fn greylist_peek(&mut self, key: Key, client: Key) -> GreylistDecision {
        self.greylisting(key, client, true)
    }

    /// A greylisting decision, recorded unless `peek`.
    fn greylisting(&mut self, key: Key, client: Key, peek: bool) -> GreylistDecision {
        let fallback = GreylistDecision::Untracked { accepted: false };
        let Some(grey) = &self.grey else {
            return fallback;
        };
        let d = if peek {
            self.store.greylist_peek(grey, key, client)
        } else {
            self.store.greylist(grey, key, client)
        };
        self.take(d, fallback)
    }

    fn penalize(&mut self, client: Key, offence: Offence) {
        if let Some(tarpit) = &self.tarpit {
            let d = self.store.penalize(tarpit, client, offence);
            self.take(d, postern_policy::tarpit::PenaltyState::default());
        }
    }

    fn penalty_connect(&mut self, client: Key) -> Verdict {
        let Some(tarpit) = &self.tarpit else {
            return Verdict::Accept;
        };
        let d = self.store.penalty_connect(tarpit, client);
        self.take(d, Verdict::Accept)
    }
}

// ---------------------------------------------------------------------------------------
// postern policy bounce
// ---------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum SpfArg {
    Pass,
    Fail,
    Softfail,
    Neutral,
    None,
    Temperror,
    Permerror,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum DkimArg {
    Pass,
    None,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum RecipientArg {
    Ok,
    Unknown,
    Full,
    Disabled,
    Policy,
    Other,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum ContentArg {
    Clean,
    Spam,
    Malware,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum RetArg {
    Full,
    Hdrs,
}

// One flag per fact of the failure, as on the command line.
#[allow(clippy::struct_excessive_bools)]
#[derive(Debug, Args)]
pub(crate) struct BounceArgs {
    /// SPF result of the MAIL FROM identity.
    #[arg(long, value_enum, default_value = "none")]
    spf: SpfArg,
    /// Whether a DKIM signature aligned with the MAIL FROM domain passed.
    #[arg(long = "dkim-aligned", value_enum, default_value = "none")]
    dkim_aligned: DkimArg,
    /// The recipient's status.
    #[arg(long, value_enum, default_value = "ok")]
    recipient: RecipientArg,
    /// The reverse-path is null (`MAIL FROM:<>`).
    #[arg(long)]
    null_sender: bool,
    /// The value of the message's `Auto-Submitted` header.
    #[arg(long, value_name = "VALUE")]
    auto_submitted: Option<String>,
    /// The recipient's NOTIFY parameter: NEVER, or a list of SUCCESS, FAILURE, DELAY.
    #[arg(long, value_name = "LIST")]
    notify: Option<String>,
    /// The message's RET parameter.
    #[arg(long, value_enum)]
    ret: Option<RetArg>,
    /// The failure happened after the message was accepted (default: during the transaction).
    #[arg(long)]
    after_acceptance: bool,
    /// The failure is transient (default: permanent).
    #[arg(long)]
    transient: bool,
    /// The sender authenticated to us.
    #[arg(long)]
    authenticated: bool,
    /// The content verdict.
    #[arg(long, value_enum, default_value = "clean")]
    content: ContentArg,
    /// The message is a multipart/report (a DSN or MDN).
    #[arg(long)]
    report: bool,
    /// The envelope sender is MAILER-DAEMON.
    #[arg(long)]
    mailer_daemon: bool,
    /// The message has more Received headers than the hop limit.
    #[arg(long)]
    too_many_hops: bool,
    /// Send DSNs despite SPF fail/softfail without aligned DKIM (rule 10 off).
    #[arg(long)]
    allow_unverified_spf_fail: bool,
}

fn bounce_facts(args: &BounceArgs) -> Result<BounceFacts, String> {
    let notify = match &args.notify {
        None => None,
        Some(text) => Some(Notify::parse(text).ok_or_else(|| {
            format!("--notify: {text:?} is not NEVER or a list of SUCCESS, FAILURE, DELAY")
        })?),
    };
    Ok(BounceFacts {
        phase: if args.after_acceptance {
            FailurePhase::AfterAcceptance
        } else {
            FailurePhase::InTransaction
        },
        severity: if args.transient {
            Severity::Transient
        } else {
            Severity::Permanent
        },
        null_sender: args.null_sender,
        notify,
        ret: args.ret.map(|r| match r {
            RetArg::Full => Ret::Full,
            RetArg::Hdrs => Ret::Headers,
        }),
        auto_submitted: args
            .auto_submitted
            .as_deref()
            .map_or(AutoSubmitted::No, AutoSubmitted::parse),
        loop_signs: LoopSigns {
            report: args.report,
            mailer_daemon: args.mailer_daemon,
            too_many_hops: args.too_many_hops,
        },
        authenticated: args.authenticated,
        spf: match args.spf {
            SpfArg::Pass => SpfResult::Pass,
            SpfArg::Fail => SpfResult::Fail,
            SpfArg::Softfail => SpfResult::SoftFail,
            SpfArg::Neutral => SpfResult::Neutral,
            SpfArg::None => SpfResult::None,
            SpfArg::Temperror => SpfResult::TempError,
            SpfArg::Permerror => SpfResult::PermError,
        },
        dkim_aligned_pass: args.dkim_aligned == DkimArg::Pass,
        content: match args.content {
            ContentArg::Clean => ContentVerdict::Clean,
            ContentArg::Spam => ContentVerdict::Spam,
            ContentArg::Malware => ContentVerdict::Malware,
        },
        recipient: match args.recipient {
            RecipientArg::Ok => RecipientStatus::Ok,
            RecipientArg::Unknown => RecipientStatus::Unknown,
            RecipientArg::Full => RecipientStatus::MailboxFull,
            RecipientArg::Disabled => RecipientStatus::Disabled,
            RecipientArg::Policy => RecipientStatus::Policy,
            RecipientArg::Other => RecipientStatus::Other,
        },
    })
}

fn bounce(args: &BounceArgs) -> ExitCode {
    let facts = match bounce_facts(args) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("postern: {e}");
            return ExitCode::from(2);
        }
    };
    let options = BounceOptions {
        suppress_unverified_spf_fail: !args.allow_unverified_spf_fail,
    };
    let verdict = bounce::decide(&facts, &options);
    let quote = |s: &str| Value::String(s.to_owned()).to_string();
    let body = match verdict.decision {
        BounceDecision::RejectAtSmtp => format!("\"decision\": {}", quote("reject_at_smtp")),
        BounceDecision::SendDsn { content } => format!(
            "\"decision\": {}, \"dsn\": {}",
            quote("send_dsn"),
            quote(match content {
                DsnContent::Full => "full",
                DsnContent::HeadersOnly => "headers_only",
            })
        ),
        BounceDecision::Suppress { reason } => format!(
            "\"decision\": {}, \"reason\": {}",
            quote("suppress"),
            quote(reason.as_str())
        ),
        BounceDecision::Quarantine => format!(
            "\"decision\": {}, \"reason\": {}",
            quote("quarantine"),
            quote("malware")
        ),
    };
    println!("{{{body}, \"rule\": {}}}", verdict.rule as u8);
    ExitCode::SUCCESS
}
