//! The TOML limits format of `postern policy simulate` (`shared/testdata/policy/README.md`),
//! as far as the example servers use it, turned into postern-policy limiters.
//!
//! ```toml
//! [subjects]
//! ipv4_prefix = 32
//! ipv6_prefix = 64
//!
//! [[rate]]                  # any number of GCRA limiters
//! name = "conn"
//! on = "connect"            # connect | mail | rcpt
//! key = "client"            # client | sender | sender_domain | user | rcpt
//! count = 3
//! period = "60s"            # ms, s, m, h or d
//! burst = 3                 # default: count
//! mode = "leaky"            # leaky | strict | read_only
//!
//! [concurrency]             # the proxy only: simultaneous sessions
//! per_client = 2
//! total = 100
//! allow = ["192.0.2.0/28"]  # these clients may use the reserved slots
//! reserved = 5
//!
//! [greylist]                # the policy server only
//! key = "triplet"           # triplet | sender_rcpt | spf_domain
//! delay = "300s"
//! retry_window = "2d"
//! pass_ttl = "35d"
//! auto_allow_after = 0
//! ```
//!
//! `[limits]` and `[tarpit]` are accepted (so one file serves the CLI and the examples) and
//! reported by [`Limits::unused`]. As in the CLI, all limiters of an event are checked, then
//! all are charged or none, and the first refusal in configuration order is reported. One
//! difference: the policy server greylists a recipient before its `rcpt` rate limits,
//! wherever `[greylist]` stands, so a recipient that greylisting defers is not charged to
//! them (and a greylisting pass is recorded even when a rate limit then refuses).

use std::net::IpAddr;

use postern_policy::concurrency::{Concurrency, ConcurrencyConfig, Lease, SlotClass};
use postern_policy::greylist::{Greylist, GreylistConfig};
use postern_policy::{
    ClientPrefix, Key, Networks, Overflow, PrefixLengths, Quota, RateDecision, RateLimiter,
    RateMode, Subjects, Verdict,
};
use serde::Deserialize;

use crate::{duration_ms, parse_cidr};

/// Keys a rate table holds by default.
pub const DEFAULT_MAX_KEYS: usize = 1 << 20;
/// Total sessions when `[concurrency]` sets none: the proxy never runs more threads than this.
pub const DEFAULT_TOTAL_SESSIONS: u32 = 1000;

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    subjects: SubjectsSection,
    #[serde(default)]
    rate: Vec<RateSection>,
    concurrency: Option<ConcurrencySection>,
    greylist: Option<GreylistSection>,
    limits: Option<toml::Value>,
    tarpit: Option<toml::Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SubjectsSection {
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

impl Default for SubjectsSection {
    fn default() -> Self {
        Self {
            ipv4_prefix: default_v4(),
            ipv6_prefix: default_v6(),
        }
    }
}

/// The event a rate limiter counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum On {
    /// A new connection.
    Connect,
    /// A new message (MAIL FROM).
    Mail,
    /// A recipient (RCPT TO).
    Rcpt,
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

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RateSection {
    name: String,
    on: On,
    key: KeyKind,
    count: u64,
    period: String,
    burst: Option<u64>,
    #[serde(default)]
    mode: ModeName,
    cost: Option<String>,
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

/// Which greylisting key a configuration uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum GreyKey {
    /// Client prefix, sender, recipient.
    #[default]
    Triplet,
    /// Sender and recipient.
    SenderRcpt,
    /// SPF-passing sender domain and recipient; the triplet when SPF did not pass.
    SpfDomain,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct GreylistSection {
    #[serde(default)]
    key: GreyKey,
    delay: Option<String>,
    retry_window: Option<String>,
    pass_ttl: Option<String>,
    #[serde(default)]
    auto_allow_after: u32,
    max_keys: Option<usize>,
}

struct Limiter {
    name: String,
    on: On,
    key: KeyKind,
    gcra: RateLimiter,
}

/// What refused an event: the limiter's name (a `[[rate]]` name, `concurrency` or
/// `greylist`) and the verdict with its reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// What refused.
    pub limit: String,
    /// The verdict (defer, reject or disconnect) and its reply.
    pub verdict: Verdict,
}

/// The facts of an event that rate keys are made of.
#[derive(Debug, Clone, Copy, Default)]
pub struct Facts<'a> {
    /// The client's address.
    pub ip: Option<IpAddr>,
    /// The envelope sender.
    pub sender: &'a str,
    /// The recipient, for `rcpt` events.
    pub rcpt: Option<&'a str>,
    /// The authenticated user, if any.
    pub user: Option<&'a str>,
}

/// Rate limiters, concurrency leases and greylisting built from a limits file.
pub struct Limits {
    subjects: Subjects,
    rates: Vec<Limiter>,
    concurrency: Concurrency,
    concurrency_configured: bool,
    allow: Networks,
    greylist: Option<(GreyKey, Greylist)>,
    unused: Vec<&'static str>,
}

impl Limits {
    /// Parse a limits file.
    ///
    /// # Errors
    /// A message naming the section and field that is wrong.
    pub fn from_toml(text: &str) -> Result<Self, String> {
        let file: File = toml::from_str(text).map_err(|e| e.to_string())?;
        let prefixes = PrefixLengths::new(file.subjects.ipv4_prefix, file.subjects.ipv6_prefix)
            .map_err(|e| format!("[subjects] {e}"))?;
        let mut unused = Vec::new();
        if file.limits.is_some() {
            unused.push("[limits]");
        }
        if file.tarpit.is_some() {
            unused.push("[tarpit]");
        }
        let mut allow = Networks::new();
        let concurrency = concurrency(file.concurrency.as_ref(), &mut allow)?;
        Ok(Self {
            subjects: Subjects::new(prefixes),
            rates: rates(&file.rate)?,
            concurrency,
            concurrency_configured: file.concurrency.is_some(),
            allow,
            greylist: file.greylist.as_ref().map(greylist).transpose()?,
            unused,
        })
    }

    /// Read and parse a limits file.
    ///
    /// # Errors
    /// When the file cannot be read or is wrong.
    pub fn load(path: &str) -> Result<Self, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
        Self::from_toml(&text).map_err(|e| format!("{path}: {e}"))
    }

    /// No limits but the default total of sessions (a server without `--config`).
    ///
    /// # Errors
    /// Never in practice: the defaults are valid.
    pub fn none() -> Result<Self, String> {
        Self::from_toml("")
    }

    /// Sections present in the file that the examples do not use.
    pub fn unused(&self) -> &[&'static str] {
        &self.unused
    }

    /// Whether `[concurrency]` was configured.
    pub fn has_concurrency(&self) -> bool {
        self.concurrency_configured
    }

    /// Whether `[greylist]` was configured.
    pub fn has_greylist(&self) -> bool {
        self.greylist.is_some()
    }

    /// Whether any `[[rate]]` counts events of `on`.
    pub fn has_rates(&self, on: On) -> bool {
        self.rates.iter().any(|l| l.on == on)
    }

    /// The client prefix of `ip` (the aggregated client of rate keys and triplets).
    pub fn prefix(&self, ip: IpAddr) -> ClientPrefix {
        self.subjects.prefix(ip)
    }

    /// Admit a connection from `ip` at `now_ms`: a concurrency lease (always: the total
    /// bounds the server's threads), then the `connect` rate limiters. A refused connection
    /// holds no lease and is charged nowhere.
    ///
    /// # Errors
    /// The refusal (421 4.7.0 and disconnect).
    pub fn admit(&mut self, ip: IpAddr, now_ms: u64) -> Result<Lease, Refusal> {
        let client = self.subjects.client_ip(ip);
        let class = if self.allow.contains(ip) {
            SlotClass::Reserved
        } else {
            SlotClass::Normal
        };
        let lease = self
            .concurrency
            .acquire(client, class, now_ms)
            .map_err(|refusal| Refusal {
                limit: "concurrency".to_owned(),
                verdict: refusal.verdict(),
            })?;
        let facts = Facts {
            ip: Some(ip),
            ..Facts::default()
        };
        if let Err(refusal) = self.check(On::Connect, &facts, now_ms) {
            self.concurrency.release(lease);
            return Err(refusal);
        }
        Ok(lease)
    }

    /// Give a lease back when the session ends.
    pub fn release(&mut self, lease: Lease) {
        self.concurrency.release(lease);
    }

    /// Sessions holding a lease now.
    pub fn active(&self) -> u32 {
        self.concurrency.active()
    }

    /// Check every rate limiter of `on`; if all allow, charge them all.
    ///
    /// # Errors
    /// The first refusal in configuration order: 421 and disconnect for `connect`, 450 4.7.1
    /// for `mail` and `rcpt`.
    pub fn check(&mut self, on: On, facts: &Facts<'_>, now_ms: u64) -> Result<(), Refusal> {
        let mut first = None;
        for l in self.rates.iter_mut().filter(|l| l.on == on) {
            let Some(key) = rate_key(&self.subjects, l.key, facts) else {
                continue;
            };
            let decision = l.gcra.peek(key, now_ms, 1);
            if decision.is_allowed() {
                continue;
            }
            // A strict limiter counts refused attempts too.
            if l.gcra.mode() == RateMode::Strict && matches!(decision, RateDecision::Refused { .. })
            {
                l.gcra.charge(key, now_ms, 1);
            }
            if first.is_none() {
                let verdict = match on {
                    On::Connect => decision.connect_verdict(),
                    On::Mail | On::Rcpt => decision.command_verdict(),
                };
                first = Some(Refusal {
                    limit: l.name.clone(),
                    verdict,
                });
            }
        }
        if let Some(refusal) = first {
            return Err(refusal);
        }
        for l in self.rates.iter_mut().filter(|l| l.on == on) {
            if l.gcra.mode() == RateMode::ReadOnly {
                continue;
            }
            if let Some(key) = rate_key(&self.subjects, l.key, facts) {
                l.gcra.charge(key, now_ms, 1);
            }
        }
        Ok(())
    }

    /// Greylist a recipient; `Ok` when there is no `[greylist]` or it passes.
    ///
    /// # Errors
    /// The deferral (451 4.7.1 with the time after which a retry passes).
    pub fn greylist(
        &mut self,
        ip: IpAddr,
        sender: &str,
        rcpt: &str,
        spf_pass: bool,
        now_ms: u64,
    ) -> Result<(), Refusal> {
        let Some((kind, table)) = self.greylist.as_mut() else {
            return Ok(());
        };
        let prefix = self.subjects.prefix(ip);
        let key = match kind {
            GreyKey::SenderRcpt => self.subjects.sender_recipient(sender, rcpt),
            GreyKey::SpfDomain if spf_pass => self.subjects.domain_recipient(sender, rcpt),
            GreyKey::Triplet | GreyKey::SpfDomain => self.subjects.triplet(prefix, sender, rcpt),
        };
        let decision = table.check(key, self.subjects.client(prefix), now_ms);
        if decision.is_accepted() {
            Ok(())
        } else {
            Err(Refusal {
                limit: "greylist".to_owned(),
                verdict: decision.verdict(),
            })
        }
    }
}

fn rate_key(subjects: &Subjects, kind: KeyKind, facts: &Facts<'_>) -> Option<Key> {
    match kind {
        KeyKind::Client => facts.ip.map(|ip| subjects.client_ip(ip)),
        KeyKind::Sender => Some(subjects.sender(facts.sender)),
        KeyKind::SenderDomain => Some(subjects.sender_domain(facts.sender)),
        KeyKind::User => facts.user.map(|u| subjects.user(u)),
        KeyKind::Rcpt => facts.rcpt.map(|r| subjects.recipient(r)),
    }
}

fn rates(config: &[RateSection]) -> Result<Vec<Limiter>, String> {
    let mut rates = Vec::with_capacity(config.len());
    for (i, r) in config.iter().enumerate() {
        let at = format!("[[rate]] #{} ({})", i + 1, r.name);
        let period = duration_ms("period", &r.period).map_err(|e| format!("{at}: {e}"))?;
        let quota = Quota::new(r.count, period)
            .and_then(|q| q.with_burst(r.burst.unwrap_or(r.count)))
            .map_err(|e| format!("{at}: {e}"))?;
        let mode = match r.mode {
            ModeName::Leaky => RateMode::Leaky,
            ModeName::Strict => RateMode::Strict,
            ModeName::ReadOnly => RateMode::ReadOnly,
        };
        if r.cost.as_deref().is_some_and(|c| c != "one") {
            return Err(format!("{at}: only cost = \"one\" is supported here"));
        }
        let needs = match r.key {
            KeyKind::Client => None,
            KeyKind::Sender | KeyKind::SenderDomain | KeyKind::User => {
                (r.on == On::Connect).then_some("on = mail or rcpt")
            }
            KeyKind::Rcpt => (r.on != On::Rcpt).then_some("on = rcpt"),
        };
        if let Some(needs) = needs {
            return Err(format!("{at}: this key needs {needs}"));
        }
        let gcra = RateLimiter::new(
            quota,
            mode,
            r.max_keys.unwrap_or(DEFAULT_MAX_KEYS),
            Overflow::EvictOldest,
        )
        .map_err(|e| format!("{at}: {e}"))?;
        rates.push(Limiter {
            name: r.name.clone(),
            on: r.on,
            key: r.key,
            gcra,
        });
    }
    Ok(rates)
}

fn default_concurrency() -> Result<Concurrency, String> {
    Concurrency::new(ConcurrencyConfig {
        total: DEFAULT_TOTAL_SESSIONS,
        per_subject: 0,
        reserved: 0,
        lease_ttl_ms: u64::MAX,
    })
    .map_err(|e| format!("[concurrency] {e}"))
}

fn concurrency(
    section: Option<&ConcurrencySection>,
    allow: &mut Networks,
) -> Result<Concurrency, String> {
    let Some(c) = section else {
        return default_concurrency();
    };
    for net in &c.allow {
        let (ip, len) = parse_cidr(net).map_err(|e| format!("[concurrency] allow: {e}"))?;
        allow
            .push(ip, len)
            .map_err(|e| format!("[concurrency] allow {net:?}: {e}"))?;
    }
    let lease_ttl_ms = match &c.lease_ttl {
        // Without a lease lifetime, a slot is held until the session ends.
        None => u64::MAX,
        Some(t) => duration_ms("lease_ttl", t).map_err(|e| format!("[concurrency] {e}"))?,
    };
    let config = ConcurrencyConfig {
        total: c.total.unwrap_or(DEFAULT_TOTAL_SESSIONS),
        per_subject: c.per_client.unwrap_or(0),
        reserved: c.reserved,
        lease_ttl_ms,
    };
    Concurrency::new(config).map_err(|e| format!("[concurrency] {e}"))
}

fn greylist(g: &GreylistSection) -> Result<(GreyKey, Greylist), String> {
    let d = GreylistConfig::default();
    let opt = |field: &str, text: Option<&String>, default: u64| {
        text.map_or(Ok(default), |t| duration_ms(field, t))
            .map_err(|e| format!("[greylist] {e}"))
    };
    let config = GreylistConfig {
        delay_ms: opt("delay", g.delay.as_ref(), d.delay_ms)?,
        retry_window_ms: opt("retry_window", g.retry_window.as_ref(), d.retry_window_ms)?,
        pass_ttl_ms: opt("pass_ttl", g.pass_ttl.as_ref(), d.pass_ttl_ms)?,
        auto_allow_after: g.auto_allow_after,
        max_keys: g.max_keys.unwrap_or(d.max_keys),
        overflow: Overflow::EvictOldest,
    };
    let table = Greylist::new(config).map_err(|e| format!("[greylist] {e}"))?;
    Ok((g.key, table))
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONFIG: &str = r#"
        [[rate]]
        name = "conn"
        on = "connect"
        key = "client"
        count = 2
        period = "60s"

        [[rate]]
        name = "rcpts"
        on = "rcpt"
        key = "sender"
        count = 1
        period = "1h"

        [concurrency]
        per_client = 1
        total = 10

        [greylist]
        delay = "10s"
        retry_window = "1h"
    "#;

    #[test]
    fn connect_rate_then_concurrency() {
        let mut limits = Limits::from_toml(CONFIG).unwrap();
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let first = limits.admit(ip, 0).unwrap();
        // Per-client concurrency of 1 refuses the second session and charges no rate.
        let refused = limits.admit(ip, 0).unwrap_err();
        assert_eq!(refused.limit, "concurrency");
        limits.release(first);
        let second = limits.admit(ip, 1).unwrap();
        limits.release(second);
        let refused = limits.admit(ip, 2).unwrap_err();
        assert_eq!(refused.limit, "conn");
        assert_eq!(refused.verdict.reply().map(|r| r.code), Some(421));
        assert_eq!(limits.active(), 0);
    }

    #[test]
    fn rcpt_rate_and_greylist() {
        let mut limits = Limits::from_toml(CONFIG).unwrap();
        let facts = Facts {
            sender: "a@example.org",
            rcpt: Some("b@example.net"),
            ..Facts::default()
        };
        assert!(limits.check(On::Rcpt, &facts, 0).is_ok());
        let refused = limits.check(On::Rcpt, &facts, 1).unwrap_err();
        assert_eq!(refused.verdict.reply().map(|r| r.code), Some(450));
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let deferred = limits
            .greylist(ip, "a@example.org", "b@example.net", false, 0)
            .unwrap_err();
        assert_eq!(deferred.limit, "greylist");
        assert!(
            limits
                .greylist(ip, "a@example.org", "b@example.net", false, 5_000)
                .is_err()
        );
        assert!(
            limits
                .greylist(ip, "a@example.org", "b@example.net", false, 10_000)
                .is_ok()
        );
    }

    #[test]
    fn config_errors_name_the_field() {
        let err = Limits::from_toml(
            "[[rate]]\nname = \"x\"\non = \"connect\"\nkey = \"sender\"\ncount = 1\nperiod = \"1s\"\n",
        );
        assert!(err.is_err_and(|e| e.contains("needs on = mail")));
        assert!(Limits::from_toml("[greylist]\ndelay = \"5\"\n").is_err());
        assert!(Limits::from_toml("[bogus]\n").is_err());
        let ok = Limits::from_toml("[limits]\nmax_recipients = 5\n").unwrap();
        assert_eq!(ok.unused(), ["[limits]"]);
    }
}
