//! Policy decisions from C: rate limits, concurrency leases, the penalty box, greylisting,
//! bounce (DSN) suppression, whether to offer STARTTLS, and whether an outbound delivery
//! may go in clear. Time is always an argument (`now_ms`, any origin, milliseconds).

use std::net::IpAddr;

use postern_policy::bounce::{
    AutoSubmitted, BounceDecision, BounceFacts, BounceOptions, ContentVerdict, DsnContent,
    FailurePhase, LoopSigns, Notify, RecipientStatus, Ret, Severity, SpfResult,
};
use postern_policy::concurrency::{
    Concurrency, ConcurrencyConfig, DEFAULT_LEASE_TTL_MS, Lease, SlotClass,
};
use postern_policy::greylist::{Greylist, GreylistConfig, GreylistKey};
use postern_policy::mta_sts::{StsMode, StsPolicy};
use postern_policy::tarpit::{Offence, PenaltyBox, PenaltyConfig};
use postern_policy::tls::{
    DaneStatus, ListenerRole, OutboundDecision, OutboundFacts, OutboundOptions, Reputation,
    StartTlsDecision, StartTlsFacts, StartTlsOptions, TlsAuth, TlsFailure, TlsOverride,
};
use postern_policy::{
    Key, Overflow, PrefixLengths, Quota, RateDecision, RateLimiter, RateMode, Reply, Subjects,
    Verdict,
};

use crate::dns::write_text;
use crate::spf::{
    POSTERN_SPF_FAIL, POSTERN_SPF_NEUTRAL, POSTERN_SPF_NONE, POSTERN_SPF_PASS,
    POSTERN_SPF_PERMERROR, POSTERN_SPF_SOFTFAIL, POSTERN_SPF_TEMPERROR,
};
use crate::{
    OutParam, free_handle, guard, handle, input, into_handle, out_param, output, postern_result,
};

/// Verdict: go on.
pub const POSTERN_ACTION_ACCEPT: u32 = 0;
/// Verdict: wait `ms` before answering (tarpit).
pub const POSTERN_ACTION_DELAY: u32 = 1;
/// Verdict: answer the 4xx reply; `ms` is the retry-after time (0: none given).
pub const POSTERN_ACTION_DEFER: u32 = 2;
/// Verdict: answer the 5xx reply.
pub const POSTERN_ACTION_REJECT: u32 = 3;
/// Verdict: answer the 421 reply and close; `ms` is the retry-after time (0: none given).
pub const POSTERN_ACTION_DISCONNECT: u32 = 4;

/// Size of a reply buffer that always suffices for a verdict's reply text.
pub const POSTERN_REPLY_MAX: usize = 512;

/// Rate-limit mode: refused attempts are not counted (the default).
pub const POSTERN_RATE_LEAKY: u32 = 0;
/// Rate-limit mode: every attempt counts, refused or not (Exim's `strict`).
pub const POSTERN_RATE_STRICT: u32 = 1;
/// Rate-limit mode: decide without recording anything.
pub const POSTERN_RATE_READ_ONLY: u32 = 2;

/// Subject: the client address, aggregated by the limiter's prefix lengths.
pub const POSTERN_SUBJECT_CLIENT: u32 = 0;
/// Subject: the sender address (lower case, `+ext` and BATV `prvs=` removed).
pub const POSTERN_SUBJECT_SENDER: u32 = 1;
/// Subject: the sender's domain.
pub const POSTERN_SUBJECT_SENDER_DOMAIN: u32 = 2;
/// Subject: the authenticated user.
pub const POSTERN_SUBJECT_USER: u32 = 3;
/// Subject: a recipient address.
pub const POSTERN_SUBJECT_RECIPIENT: u32 = 4;

/// Greylist key: client prefix, sender and recipient (RFC 6647 §4.3, the default).
pub const POSTERN_GREYLIST_TRIPLET: u32 = 0;
/// Greylist key: sender and recipient only.
pub const POSTERN_GREYLIST_SENDER_RECIPIENT: u32 = 1;
/// Greylist key: the sender's domain and the recipient (use when SPF passed for the sender).
pub const POSTERN_GREYLIST_SPF_DOMAIN_RECIPIENT: u32 = 2;

/// Every policy error is about a configuration value the caller gave.
fn config_error(_: postern_policy::Error) -> postern_result {
    postern_result::InvalidArgument
}

fn text(bytes: &[u8]) -> Result<&str, postern_result> {
    core::str::from_utf8(bytes).map_err(|_| postern_result::InvalidArgument)
}

/// A client address given as text (`192.0.2.1`, `2001:db8::1`).
fn client_ip(bytes: &[u8]) -> Result<IpAddr, postern_result> {
    text(bytes)?
        .parse()
        .map_err(|_| postern_result::InvalidArgument)
}

/// Checked verdict out-parameters: the reply buffer is checked before any state changes.
struct VerdictOut<'a> {
    action: OutParam<'a, u32>,
    ms: OutParam<'a, u64>,
    reply: ReplyOut<'a>,
}

impl VerdictOut<'_> {
    /// # Safety
    /// As [`ReplyOut::new`]; `action` and `ms` must be writable.
    unsafe fn new(
        action: *mut u32,
        ms: *mut u64,
        reply: *mut u8,
        reply_cap: usize,
        reply_len: *mut usize,
    ) -> Result<Self, postern_result> {
        let (action, ms) = (out_param(action)?, out_param(ms)?);
        // SAFETY: the caller's contract.
        let reply = unsafe { ReplyOut::new(reply, reply_cap, reply_len)? };
        Ok(Self { action, ms, reply })
    }

    fn write(self, verdict: &Verdict) -> Result<postern_result, postern_result> {
        let (action, ms) = match *verdict {
            Verdict::Accept => (POSTERN_ACTION_ACCEPT, 0),
            Verdict::Delay { ms } => (POSTERN_ACTION_DELAY, ms),
            Verdict::Defer { retry_after_ms, .. } => {
                (POSTERN_ACTION_DEFER, retry_after_ms.unwrap_or(0))
            }
            Verdict::Reject { .. } => (POSTERN_ACTION_REJECT, 0),
            Verdict::Disconnect { retry_after_ms, .. } => {
                (POSTERN_ACTION_DISCONNECT, retry_after_ms.unwrap_or(0))
            }
        };
        self.reply.write(verdict.reply())?;
        self.action.write(action);
        self.ms.write(ms);
        Ok(postern_result::Ok)
    }
}

/// A checked reply-text buffer, checked before any state changes: skipped (NULL, 0, NULL)
/// or at least [`POSTERN_REPLY_MAX`] bytes, so that any reply fits.
struct ReplyOut<'a> {
    buf: &'a mut [u8],
    len: Option<OutParam<'a, usize>>,
}

impl ReplyOut<'_> {
    /// # Safety
    /// `reply` must be writable for `reply_cap` bytes and `reply_len` writable (or all three
    /// NULL/0, to skip the reply text).
    unsafe fn new(
        reply: *mut u8,
        reply_cap: usize,
        reply_len: *mut usize,
    ) -> Result<Self, postern_result> {
        if reply.is_null() && reply_cap == 0 && reply_len.is_null() {
            return Ok(Self {
                buf: &mut [],
                len: None,
            });
        }
        let len = out_param(reply_len)?;
        if reply_cap < POSTERN_REPLY_MAX {
            len.write(POSTERN_REPLY_MAX);
            return Err(postern_result::BufferTooSmall);
        }
        // SAFETY: the caller's contract.
        let buf = unsafe { output(reply, reply_cap)? };
        Ok(Self {
            buf,
            len: Some(len),
        })
    }

    /// Writes the reply's text (empty for none), unless the buffer was skipped.
    fn write(self, reply: Option<&Reply>) -> Result<postern_result, postern_result> {
        match self.len {
            Some(len) => {
                let line = reply.map(ToString::to_string).unwrap_or_default();
                write_text(line.as_bytes(), self.buf, len)
            }
            None => Ok(postern_result::Ok),
        }
    }
}

/// A GCRA rate limiter (`count` per `period` with a `burst`) over a bounded table of
/// subjects. Not thread-safe; may move between threads.
pub struct postern_rate_limiter {
    limiter: RateLimiter,
    subjects: Subjects,
}

/// Make a rate limiter: `count` requests per `period_ms` with a `burst` (0: `count`), in
/// `mode` (`POSTERN_RATE_LEAKY`, `_STRICT`, `_READ_ONLY`), tracking at most `max_keys`
/// subjects (evicting those equivalent to fresh state, then the oldest); client addresses are
/// aggregated by `ipv4_prefix` / `ipv6_prefix` (e.g. 32 and 64).
///
/// # Safety
/// `out` must be writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn postern_rate_limiter_new(
    count: u64,
    period_ms: u64,
    burst: u64,
    mode: u32,
    max_keys: usize,
    ipv4_prefix: u8,
    ipv6_prefix: u8,
    out: *mut *mut postern_rate_limiter,
) -> u32 {
    guard(|| {
        let out = out_param(out)?;
        let mut quota = Quota::new(count, period_ms).map_err(config_error)?;
        if burst != 0 {
            quota = quota.with_burst(burst).map_err(config_error)?;
        }
        let mode = match mode {
            POSTERN_RATE_LEAKY => RateMode::Leaky,
            POSTERN_RATE_STRICT => RateMode::Strict,
            POSTERN_RATE_READ_ONLY => RateMode::ReadOnly,
            _ => return Err(postern_result::InvalidArgument),
        };
        let prefixes = PrefixLengths::new(ipv4_prefix, ipv6_prefix).map_err(config_error)?;
        let limiter =
            RateLimiter::new(quota, mode, max_keys, Overflow::EvictOldest).map_err(config_error)?;
        out.write(into_handle(postern_rate_limiter {
            limiter,
            subjects: Subjects::new(prefixes),
        }));
        Ok(postern_result::Ok)
    })
}

/// Release a rate limiter; NULL is a no-op.
///
/// # Safety
/// `limiter` must be NULL or a handle from `postern_rate_limiter_new` not yet freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn postern_rate_limiter_free(limiter: *mut postern_rate_limiter) {
    let _ = guard(|| {
        // SAFETY: per this function's contract.
        unsafe { free_handle(limiter) };
        Ok(postern_result::Ok)
    });
}

/// Charge `cost` (1 for a connection, a message or a recipient; octets for a size limit)
/// to `subject` (kind `POSTERN_SUBJECT_*`; for `POSTERN_SUBJECT_CLIENT` the IP address as
/// text) at `now_ms`. `at_connect`: a refusal is `POSTERN_ACTION_DISCONNECT` with
/// `421 4.7.0`, else `POSTERN_ACTION_DEFER` with `450 4.7.1`; `*ms` is then the retry-after
/// time. The reply text (`"421 4.7.0 ..."`, no CRLF) goes to `reply`, which must hold
/// `POSTERN_REPLY_MAX` bytes (checked before anything is charged), or pass NULL, 0, NULL to
/// skip it.
///
/// # Safety
/// `limiter` must be a live handle; `subject` must hold `subject_len` readable bytes; the
/// out-parameters must be writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn postern_rate_limiter_check(
    limiter: *mut postern_rate_limiter,
    subject_kind: u32,
    subject: *const u8,
    subject_len: usize,
    now_ms: u64,
    cost: u64,
    at_connect: bool,
    action: *mut u32,
    ms: *mut u64,
    reply: *mut u8,
    reply_cap: usize,
    reply_len: *mut usize,
) -> u32 {
    guard(|| {
        // SAFETY: per this function's contract.
        let (rl, subject, out) = unsafe {
            (
                handle(limiter)?,
                input(subject, subject_len)?,
                VerdictOut::new(action, ms, reply, reply_cap, reply_len)?,
            )
        };
        let key = rl.key(subject_kind, text(subject)?)?;
        out.write(&rate_verdict(
            &rl.limiter.check(key, now_ms, cost),
            at_connect,
        ))
    })
}

/// What `postern_rate_limiter_check` would decide for the same arguments, charging nothing
/// and changing no state (whatever the limiter's mode): for a caller that checks several
/// limits of one event and charges them all or none (check each with this, then charge with
/// `postern_rate_limiter_check` only when none refuses). Same outputs, same reply buffer
/// rule.
///
/// # Safety
/// As for `postern_rate_limiter_check`; the handle is only read.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn postern_rate_limiter_peek(
    limiter: *const postern_rate_limiter,
    subject_kind: u32,
    subject: *const u8,
    subject_len: usize,
    now_ms: u64,
    cost: u64,
    at_connect: bool,
    action: *mut u32,
    ms: *mut u64,
    reply: *mut u8,
    reply_cap: usize,
    reply_len: *mut usize,
) -> u32 {
    guard(|| {
        // SAFETY: per this function's contract: a live handle, only read here.
        let (rl, subject, out) = unsafe {
            (
                limiter.as_ref().ok_or(postern_result::Null)?,
                input(subject, subject_len)?,
                VerdictOut::new(action, ms, reply, reply_cap, reply_len)?,
            )
        };
        let key = rl.key(subject_kind, text(subject)?)?;
        out.write(&rate_verdict(
            &rl.limiter.peek(key, now_ms, cost),
            at_connect,
        ))
    })
}

/// A rate decision as the verdict of a connection or of a command.
fn rate_verdict(decision: &RateDecision, at_connect: bool) -> Verdict {
    if at_connect {
        decision.connect_verdict()
    } else {
        decision.command_verdict()
    }
}

impl postern_rate_limiter {
    /// The key of a subject of kind `POSTERN_SUBJECT_*`.
    fn key(&self, kind: u32, subject: &str) -> Result<Key, postern_result> {
        Ok(match kind {
            POSTERN_SUBJECT_CLIENT => {
                let ip: IpAddr = subject
                    .parse()
                    .map_err(|_| postern_result::InvalidArgument)?;
                self.subjects.client_ip(ip)
            }
            POSTERN_SUBJECT_SENDER => self.subjects.sender(subject),
            POSTERN_SUBJECT_SENDER_DOMAIN => self.subjects.sender_domain(subject),
            POSTERN_SUBJECT_USER => self.subjects.user(subject),
            POSTERN_SUBJECT_RECIPIENT => self.subjects.recipient(subject),
            _ => return Err(postern_result::InvalidArgument),
        })
    }
}

/// A greylist (RFC 6647). Not thread-safe; may move between threads.
pub struct postern_greylist {
    greylist: Greylist,
    subjects: Subjects,
    key: GreylistKey,
}

/// Make a greylist keyed by `key_kind` (`POSTERN_GREYLIST_*`): a new key is deferred for
/// `delay_ms`; a retry after that and within `retry_window_ms` of the first attempt passes;
/// a passed key is accepted for `pass_ttl_ms` after it was last seen; a client whose keys
/// passed `auto_allow_after` times is accepted outright (0: never). 0 for any duration takes
/// the library default (300 s, 2 days, 35 days). At most `max_keys` keys are tracked.
///
/// # Safety
/// `out` must be writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn postern_greylist_new(
    key_kind: u32,
    delay_ms: u64,
    retry_window_ms: u64,
    pass_ttl_ms: u64,
    auto_allow_after: u32,
    max_keys: usize,
    ipv4_prefix: u8,
    ipv6_prefix: u8,
    out: *mut *mut postern_greylist,
) -> u32 {
    guard(|| {
        let out = out_param(out)?;
        let key = match key_kind {
            POSTERN_GREYLIST_TRIPLET => GreylistKey::Triplet,
            POSTERN_GREYLIST_SENDER_RECIPIENT => GreylistKey::SenderRecipient,
            POSTERN_GREYLIST_SPF_DOMAIN_RECIPIENT => GreylistKey::SpfDomainRecipient,
            _ => return Err(postern_result::InvalidArgument),
        };
        let defaults = GreylistConfig::default();
        let pick = |given: u64, default: u64| if given == 0 { default } else { given };
        let config = GreylistConfig {
            delay_ms: pick(delay_ms, defaults.delay_ms),
            retry_window_ms: pick(retry_window_ms, defaults.retry_window_ms),
            pass_ttl_ms: pick(pass_ttl_ms, defaults.pass_ttl_ms),
            auto_allow_after,
            max_keys,
            overflow: Overflow::EvictOldest,
        };
        let prefixes = PrefixLengths::new(ipv4_prefix, ipv6_prefix).map_err(config_error)?;
        let greylist = Greylist::new(config).map_err(config_error)?;
        out.write(into_handle(postern_greylist {
            greylist,
            subjects: Subjects::new(prefixes),
            key,
        }));
        Ok(postern_result::Ok)
    })
}

/// Release a greylist; NULL is a no-op.
///
/// # Safety
/// `greylist` must be NULL or a handle from `postern_greylist_new` not yet freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn postern_greylist_free(greylist: *mut postern_greylist) {
    let _ = guard(|| {
        // SAFETY: per this function's contract.
        unsafe { free_handle(greylist) };
        Ok(postern_result::Ok)
    });
}

/// Check a delivery attempt from client `ip` (text) for `sender` to `rcpt` at `now_ms`:
/// `POSTERN_ACTION_ACCEPT`, or `POSTERN_ACTION_DEFER` with `451 4.7.1` and the time after
/// which a retry passes in `*ms`. Reply buffer as for `postern_rate_limiter_check`.
///
/// # Safety
/// `greylist` must be a live handle; the inputs must hold their lengths in readable bytes;
/// the out-parameters must be writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn postern_greylist_check(
    greylist: *mut postern_greylist,
    ip: *const u8,
    ip_len: usize,
    sender: *const u8,
    sender_len: usize,
    rcpt: *const u8,
    rcpt_len: usize,
    now_ms: u64,
    action: *mut u32,
    ms: *mut u64,
    reply: *mut u8,
    reply_cap: usize,
    reply_len: *mut usize,
) -> u32 {
    guard(|| {
        // SAFETY: per this function's contract.
        let (g, ip, sender, rcpt, out) = unsafe {
            (
                handle(greylist)?,
                input(ip, ip_len)?,
                input(sender, sender_len)?,
                input(rcpt, rcpt_len)?,
                VerdictOut::new(action, ms, reply, reply_cap, reply_len)?,
            )
        };
        let (key, client) = g.keys(ip, sender, rcpt)?;
        out.write(&g.greylist.check(key, client, now_ms).verdict())
    })
}

/// What `postern_greylist_check` would decide for the same attempt, recording nothing (no
/// first sighting, no pass): for a caller that checks several limits of one recipient and
/// records them all or none. A key the greylist does not hold is a first sighting, even
/// when its table is full and `postern_greylist_check` could not track it. Same outputs,
/// same reply buffer rule.
///
/// # Safety
/// As for `postern_greylist_check`; the handle is only read.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn postern_greylist_peek(
    greylist: *const postern_greylist,
    ip: *const u8,
    ip_len: usize,
    sender: *const u8,
    sender_len: usize,
    rcpt: *const u8,
    rcpt_len: usize,
    now_ms: u64,
    action: *mut u32,
    ms: *mut u64,
    reply: *mut u8,
    reply_cap: usize,
    reply_len: *mut usize,
) -> u32 {
    guard(|| {
        // SAFETY: per this function's contract: a live handle, only read here.
        let (g, ip, sender, rcpt, out) = unsafe {
            (
                greylist.as_ref().ok_or(postern_result::Null)?,
                input(ip, ip_len)?,
                input(sender, sender_len)?,
                input(rcpt, rcpt_len)?,
                VerdictOut::new(action, ms, reply, reply_cap, reply_len)?,
            )
        };
        let (key, client) = g.keys(ip, sender, rcpt)?;
        out.write(&g.greylist.peek(key, client, now_ms).verdict())
    })
}

impl postern_greylist {
    /// The greylisting key of an attempt (by this greylist's key kind) and its client's key
    /// (for auto-allowing): `ip` an address as text, `sender` and `rcpt` UTF-8.
    fn keys(&self, ip: &[u8], sender: &[u8], rcpt: &[u8]) -> Result<(Key, Key), postern_result> {
        let ip = client_ip(ip)?;
        let (sender, rcpt) = (text(sender)?, text(rcpt)?);
        let prefix = self.subjects.prefix(ip);
        let key = match self.key {
            GreylistKey::Triplet => self.subjects.triplet(prefix, sender, rcpt),
            GreylistKey::SenderRecipient => self.subjects.sender_recipient(sender, rcpt),
            GreylistKey::SpfDomainRecipient => self.subjects.domain_recipient(sender, rcpt),
        };
        Ok((key, self.subjects.client(prefix)))
    }
}

/// Concurrency flag: an allow-listed session: it may use the reserved slots and has no
/// per-client limit.
pub const POSTERN_SLOT_RESERVED: u32 = 1;

/// Concurrency limits: simultaneous sessions in total and per client prefix, as leases
/// that expire unless renewed (so a crashed session frees its slot). Acquiring and releasing
/// never allocate. Not thread-safe; may move between threads.
pub struct postern_concurrency {
    slots: Concurrency,
    subjects: Subjects,
}

/// Make concurrency limits: at most `total` sessions (up to 1048576), at most `per_client`
/// per client prefix (`ipv4_prefix` / `ipv6_prefix` bits; 0: no per-client limit), of which
/// `reserved` only for sessions acquired with `POSTERN_SLOT_RESERVED`. A lease not renewed
/// within `lease_ttl_ms` (0: 10 minutes) is freed.
///
/// # Safety
/// `out` must be writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn postern_concurrency_new(
    total: u32,
    per_client: u32,
    reserved: u32,
    lease_ttl_ms: u64,
    ipv4_prefix: u8,
    ipv6_prefix: u8,
    out: *mut *mut postern_concurrency,
) -> u32 {
    guard(|| {
        let out = out_param(out)?;
        let config = ConcurrencyConfig {
            total,
            per_subject: per_client,
            reserved,
            lease_ttl_ms: if lease_ttl_ms == 0 {
                DEFAULT_LEASE_TTL_MS
            } else {
                lease_ttl_ms
            },
        };
        let prefixes = PrefixLengths::new(ipv4_prefix, ipv6_prefix).map_err(config_error)?;
        let slots = Concurrency::new(config).map_err(config_error)?;
        out.write(into_handle(postern_concurrency {
            slots,
            subjects: Subjects::new(prefixes),
        }));
        Ok(postern_result::Ok)
    })
}

/// Release concurrency limits; NULL is a no-op.
///
/// # Safety
/// `slots` must be NULL or a handle from `postern_concurrency_new` not yet freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn postern_concurrency_free(slots: *mut postern_concurrency) {
    let _ = guard(|| {
        // SAFETY: per this function's contract.
        unsafe { free_handle(slots) };
        Ok(postern_result::Ok)
    });
}

/// Take a slot for a new session from client `ip` (text) at `now_ms` (`flags`:
/// `POSTERN_SLOT_*`): `POSTERN_ACTION_ACCEPT` with the lease in `*lease` (keep it, renew it
/// at each command with `postern_concurrency_renew`, release it when the session ends), or
/// `POSTERN_ACTION_DISCONNECT` with `421 4.7.0` (`*lease` is 0). Reply buffer as for
/// `postern_rate_limiter_check`.
///
/// # Safety
/// `slots` must be a live handle; `ip` must hold `ip_len` readable bytes; the
/// out-parameters must be writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn postern_concurrency_acquire(
    slots: *mut postern_concurrency,
    ip: *const u8,
    ip_len: usize,
    flags: u32,
    now_ms: u64,
    lease: *mut u64,
    action: *mut u32,
    ms: *mut u64,
    reply: *mut u8,
    reply_cap: usize,
    reply_len: *mut usize,
) -> u32 {
    guard(|| {
        // SAFETY: per this function's contract.
        let (c, ip, lease, out) = unsafe {
            (
                handle(slots)?,
                input(ip, ip_len)?,
                out_param(lease)?,
                VerdictOut::new(action, ms, reply, reply_cap, reply_len)?,
            )
        };
        let class = match flags {
            0 => SlotClass::Normal,
            POSTERN_SLOT_RESERVED => SlotClass::Reserved,
            _ => return Err(postern_result::InvalidArgument),
        };
        let ip = client_ip(ip)?;
        let client = c.subjects.client_ip(ip);
        match c.slots.acquire(client, class, now_ms) {
            Ok(held) => {
                lease.write(held.to_u64());
                out.write(&Verdict::Accept)
            }
            Err(refusal) => {
                lease.write(0);
                out.write(&refusal.verdict())
            }
        }
    })
}

/// Extend `lease` to `now_ms` plus the lease lifetime; `*held` is false when the lease had
/// already expired or been released (the session should then end, or acquire again).
///
/// # Safety
/// `slots` must be a live handle; `held` must be writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn postern_concurrency_renew(
    slots: *mut postern_concurrency,
    lease: u64,
    now_ms: u64,
    held: *mut bool,
) -> u32 {
    guard(|| {
        // SAFETY: per this function's contract.
        let (c, held) = unsafe { (handle(slots)?, out_param(held)?) };
        held.write(c.slots.renew(Lease::from_u64(lease), now_ms));
        Ok(postern_result::Ok)
    })
}

/// Release `lease` when its session ends; `*held` (may be NULL) tells whether it was still
/// held (false: it had expired, or was released before).
///
/// # Safety
/// `slots` must be a live handle; `held` must be NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn postern_concurrency_release(
    slots: *mut postern_concurrency,
    lease: u64,
    held: *mut bool,
) -> u32 {
    guard(|| {
        // SAFETY: per this function's contract.
        let c = unsafe { handle(slots)? };
        let was = c.slots.release(Lease::from_u64(lease));
        if !held.is_null() {
            out_param(held)?.write(was);
        }
        Ok(postern_result::Ok)
    })
}

/// The number of sessions holding a lease now (expired leases are counted until the next
/// acquire or renew notices them).
///
/// # Safety
/// `slots` must be a live handle; `active` must be writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn postern_concurrency_active(
    slots: *const postern_concurrency,
    active: *mut u32,
) -> u32 {
    guard(|| {
        let active = out_param(active)?;
        // SAFETY: per this function's contract: a live handle, only read here.
        let c = unsafe { slots.as_ref() }.ok_or(postern_result::Null)?;
        active.write(c.slots.active());
        Ok(postern_result::Ok)
    })
}

/// Offence: RCPT TO an unknown user (address harvesting).
pub const POSTERN_OFFENCE_UNKNOWN_RECIPIENT: u32 = 0;
/// Offence: a protocol error (bad command, bad sequence, syntax).
pub const POSTERN_OFFENCE_PROTOCOL_ERROR: u32 = 1;
/// Penalty-box flag: refuse banned clients with `554 5.7.1` (else `421 4.7.0`).
pub const POSTERN_PENALTY_BAN_PERMANENT: u32 = 1;

/// A penalty box (tarpit): unknown recipients and protocol errors raise a decaying score
/// for the client's prefix; its next connections are delayed before the greeting, more the
/// higher the score, and refused above a ban threshold. Not thread-safe; may move between
/// threads.
pub struct postern_penalty_box {
    penalties: PenaltyBox,
    subjects: Subjects,
}

/// Make a penalty box. Scores halve every `half_life_ms`; an unknown recipient adds
/// `unknown_recipient_points`, a protocol error `protocol_error_points`; a connection is
/// delayed `delay_per_point_ms` per point of score, at most `max_delay_ms`, and refused at
/// `ban_threshold` points or more (0: never). 0 for a duration or a number of points takes
/// the library default (10 min half-life, 1 point, 1 s per point, at most 30 s). `flags`:
/// `POSTERN_PENALTY_*`. At most `max_keys` client prefixes (`ipv4_prefix` / `ipv6_prefix`
/// bits, e.g. 32 and 64) are tracked, evicting the oldest.
///
/// # Safety
/// `out` must be writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn postern_penalty_box_new(
    half_life_ms: u64,
    unknown_recipient_points: u32,
    protocol_error_points: u32,
    delay_per_point_ms: u64,
    max_delay_ms: u64,
    ban_threshold: u32,
    flags: u32,
    max_keys: usize,
    ipv4_prefix: u8,
    ipv6_prefix: u8,
    out: *mut *mut postern_penalty_box,
) -> u32 {
    guard(|| {
        let out = out_param(out)?;
        if flags & !POSTERN_PENALTY_BAN_PERMANENT != 0 {
            return Err(postern_result::InvalidArgument);
        }
        let defaults = PenaltyConfig::default();
        let pick = |given: u64, default: u64| if given == 0 { default } else { given };
        let pick_points = |given: u32, default: u32| if given == 0 { default } else { given };
        let config = PenaltyConfig {
            half_life_ms: pick(half_life_ms, defaults.half_life_ms),
            unknown_recipient_points: pick_points(
                unknown_recipient_points,
                defaults.unknown_recipient_points,
            ),
            protocol_error_points: pick_points(
                protocol_error_points,
                defaults.protocol_error_points,
            ),
            delay_per_point_ms: pick(delay_per_point_ms, defaults.delay_per_point_ms),
            max_delay_ms: pick(max_delay_ms, defaults.max_delay_ms),
            ban_threshold,
            ban_permanent: flags & POSTERN_PENALTY_BAN_PERMANENT != 0,
            max_keys,
            overflow: Overflow::EvictOldest,
        };
        let prefixes = PrefixLengths::new(ipv4_prefix, ipv6_prefix).map_err(config_error)?;
        let penalties = PenaltyBox::new(config).map_err(config_error)?;
        out.write(into_handle(postern_penalty_box {
            penalties,
            subjects: Subjects::new(prefixes),
        }));
        Ok(postern_result::Ok)
    })
}

/// Release a penalty box; NULL is a no-op.
///
/// # Safety
/// `penalties` must be NULL or a handle from `postern_penalty_box_new` not yet freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn postern_penalty_box_free(penalties: *mut postern_penalty_box) {
    let _ = guard(|| {
        // SAFETY: per this function's contract.
        unsafe { free_handle(penalties) };
        Ok(postern_result::Ok)
    });
}

/// Raise the score of client `ip` (text) for `offence` (`POSTERN_OFFENCE_*`) at `now_ms`.
///
/// # Safety
/// `penalties` must be a live handle; `ip` must hold `ip_len` readable bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn postern_penalty_box_penalize(
    penalties: *mut postern_penalty_box,
    ip: *const u8,
    ip_len: usize,
    offence: u32,
    now_ms: u64,
) -> u32 {
    guard(|| {
        // SAFETY: per this function's contract.
        let (p, ip) = unsafe { (handle(penalties)?, input(ip, ip_len)?) };
        let offence = match offence {
            POSTERN_OFFENCE_UNKNOWN_RECIPIENT => Offence::UnknownRecipient,
            POSTERN_OFFENCE_PROTOCOL_ERROR => Offence::ProtocolError,
            _ => return Err(postern_result::InvalidArgument),
        };
        let ip = client_ip(ip)?;
        let client = p.subjects.client_ip(ip);
        p.penalties.penalize(client, offence, now_ms);
        Ok(postern_result::Ok)
    })
}

/// The verdict for a new connection from client `ip` (text) at `now_ms`:
/// `POSTERN_ACTION_ACCEPT`, `POSTERN_ACTION_DELAY` (wait `*ms` before the greeting), or
/// for a banned client `POSTERN_ACTION_DISCONNECT` with `421 4.7.0` (`554 5.7.1` with
/// `POSTERN_PENALTY_BAN_PERMANENT`): answer it and close. Reply buffer as for
/// `postern_rate_limiter_check`. `*points`, when not NULL, receives the client's score in
/// whole points.
///
/// # Safety
/// `penalties` must be a live handle; `ip` must hold `ip_len` readable bytes; the
/// out-parameters must be writable (`points` may be NULL).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn postern_penalty_box_connect(
    penalties: *mut postern_penalty_box,
    ip: *const u8,
    ip_len: usize,
    now_ms: u64,
    action: *mut u32,
    ms: *mut u64,
    reply: *mut u8,
    reply_cap: usize,
    reply_len: *mut usize,
    points: *mut u32,
) -> u32 {
    guard(|| {
        // SAFETY: per this function's contract.
        let (p, ip, out) = unsafe {
            (
                handle(penalties)?,
                input(ip, ip_len)?,
                VerdictOut::new(action, ms, reply, reply_cap, reply_len)?,
            )
        };
        let ip = client_ip(ip)?;
        let client = p.subjects.client_ip(ip);
        let verdict = p.penalties.connect(client, now_ms);
        if !points.is_null() {
            out_param(points)?.write(p.penalties.points(client, now_ms));
        }
        out.write(&verdict)
    })
}

/// Bounce flag: the failure happened after the message was accepted (else during the SMTP
/// transaction, where it is rejected, never bounced).
pub const POSTERN_BOUNCE_AFTER_ACCEPTANCE: u32 = 1;
/// Bounce flag: the failure is transient (else permanent).
pub const POSTERN_BOUNCE_TRANSIENT: u32 = 2;
/// Bounce flag: the reverse-path is null (`MAIL FROM:<>`).
pub const POSTERN_BOUNCE_NULL_SENDER: u32 = 4;
/// Bounce flag: the sender authenticated to us (submission).
pub const POSTERN_BOUNCE_AUTHENTICATED: u32 = 8;
/// Bounce flag: a DKIM signature aligned with the MAIL FROM domain passed.
pub const POSTERN_BOUNCE_DKIM_ALIGNED_PASS: u32 = 16;
/// Bounce flag: the message is a report (`multipart/report`, a DSN or MDN).
pub const POSTERN_BOUNCE_LOOP_REPORT: u32 = 32;
/// Bounce flag: the sender is a mailer-daemon / postmaster-style address.
pub const POSTERN_BOUNCE_LOOP_MAILER_DAEMON: u32 = 64;
/// Bounce flag: too many `Received:` hops.
pub const POSTERN_BOUNCE_LOOP_TOO_MANY_HOPS: u32 = 128;
/// Bounce flag: the DSN should return headers only (`RET=HDRS`).
pub const POSTERN_BOUNCE_RET_HEADERS: u32 = 256;
/// Bounce flag: the DSN should return the full message (`RET=FULL`).
pub const POSTERN_BOUNCE_RET_FULL: u32 = 512;
/// Bounce flag: the content scanner found spam.
pub const POSTERN_BOUNCE_SPAM: u32 = 1024;
/// Bounce flag: the content scanner found malware.
pub const POSTERN_BOUNCE_MALWARE: u32 = 2048;
/// Bounce option: do not suppress DSNs for SPF fail/softfail senders without an aligned
/// DKIM pass (suppressed by default).
pub const POSTERN_BOUNCE_ALLOW_UNVERIFIED_SPF_FAIL: u32 = 4096;

/// Recipient status: deliverable.
pub const POSTERN_RECIPIENT_OK: u32 = 0;
/// Recipient status: unknown user.
pub const POSTERN_RECIPIENT_UNKNOWN: u32 = 1;
/// Recipient status: mailbox full.
pub const POSTERN_RECIPIENT_MAILBOX_FULL: u32 = 2;
/// Recipient status: mailbox disabled.
pub const POSTERN_RECIPIENT_DISABLED: u32 = 3;
/// Recipient status: refused by policy.
pub const POSTERN_RECIPIENT_POLICY: u32 = 4;
/// Recipient status: another failure.
pub const POSTERN_RECIPIENT_OTHER: u32 = 5;

/// Bounce decision: reject during the SMTP transaction (the client keeps the message).
pub const POSTERN_BOUNCE_REJECT_AT_SMTP: u32 = 0;
/// Bounce decision: send a DSN with the full message.
pub const POSTERN_BOUNCE_SEND_DSN_FULL: u32 = 1;
/// Bounce decision: send a DSN with the headers only.
pub const POSTERN_BOUNCE_SEND_DSN_HEADERS: u32 = 2;
/// Bounce decision: send nothing (the reason says why).
pub const POSTERN_BOUNCE_SUPPRESS: u32 = 3;
/// Bounce decision: keep the message for a human.
pub const POSTERN_BOUNCE_QUARANTINE: u32 = 4;

/// Decide whether a delivery failure may produce a DSN, so that no backscatter goes out
/// (the rule table is in postern-policy's `bounce` docs). `flags`: `POSTERN_BOUNCE_*`;
/// `spf`: the MAIL FROM's SPF result (`POSTERN_SPF_*`); `recipient`:
/// `POSTERN_RECIPIENT_*`; `auto_submitted`: the `Auto-Submitted:` value (empty if none);
/// `notify`: the RCPT `NOTIFY=` value (empty if none, e.g. `"FAILURE,DELAY"`). Writes the
/// decision (`POSTERN_BOUNCE_REJECT_AT_SMTP` ...) and, for a suppression, the reason
/// (`"spf_fail_unknown_recipient"`, ...; else empty) into `reason`.
///
/// # Safety
/// The inputs must hold their lengths in readable bytes; `reason` must hold `reason_cap`
/// writable bytes; the out-parameters must be writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn postern_bounce_decide(
    flags: u32,
    spf: u32,
    recipient: u32,
    auto_submitted: *const u8,
    auto_submitted_len: usize,
    notify: *const u8,
    notify_len: usize,
    decision: *mut u32,
    reason: *mut u8,
    reason_cap: usize,
    reason_len: *mut usize,
) -> u32 {
    guard(|| {
        // SAFETY: per this function's contract.
        let (auto_submitted, notify, reason) = unsafe {
            (
                input(auto_submitted, auto_submitted_len)?,
                input(notify, notify_len)?,
                output(reason, reason_cap)?,
            )
        };
        let (decision, reason_len) = (out_param(decision)?, out_param(reason_len)?);
        if flags >= POSTERN_BOUNCE_ALLOW_UNVERIFIED_SPF_FAIL << 1 {
            return Err(postern_result::InvalidArgument);
        }
        let flag = |f: u32| flags & f != 0;
        let notify = text(notify)?;
        let facts = BounceFacts {
            phase: if flag(POSTERN_BOUNCE_AFTER_ACCEPTANCE) {
                FailurePhase::AfterAcceptance
            } else {
                FailurePhase::InTransaction
            },
            severity: if flag(POSTERN_BOUNCE_TRANSIENT) {
                Severity::Transient
            } else {
                Severity::Permanent
            },
            null_sender: flag(POSTERN_BOUNCE_NULL_SENDER),
            notify: if notify.is_empty() {
                None
            } else {
                Some(Notify::parse(notify).ok_or(postern_result::InvalidArgument)?)
            },
            ret: match (
                flag(POSTERN_BOUNCE_RET_HEADERS),
                flag(POSTERN_BOUNCE_RET_FULL),
            ) {
                (true, true) => return Err(postern_result::InvalidArgument),
                (true, false) => Some(Ret::Headers),
                (false, true) => Some(Ret::Full),
                (false, false) => None,
            },
            auto_submitted: AutoSubmitted::parse(text(auto_submitted)?),
            loop_signs: LoopSigns {
                report: flag(POSTERN_BOUNCE_LOOP_REPORT),
                mailer_daemon: flag(POSTERN_BOUNCE_LOOP_MAILER_DAEMON),
                too_many_hops: flag(POSTERN_BOUNCE_LOOP_TOO_MANY_HOPS),
            },
            authenticated: flag(POSTERN_BOUNCE_AUTHENTICATED),
            spf: match spf {
                POSTERN_SPF_NONE => SpfResult::None,
                POSTERN_SPF_NEUTRAL => SpfResult::Neutral,
                POSTERN_SPF_PASS => SpfResult::Pass,
                POSTERN_SPF_FAIL => SpfResult::Fail,
                POSTERN_SPF_SOFTFAIL => SpfResult::SoftFail,
                POSTERN_SPF_TEMPERROR => SpfResult::TempError,
                POSTERN_SPF_PERMERROR => SpfResult::PermError,
                _ => return Err(postern_result::InvalidArgument),
            },
            dkim_aligned_pass: flag(POSTERN_BOUNCE_DKIM_ALIGNED_PASS),
            content: match (flag(POSTERN_BOUNCE_SPAM), flag(POSTERN_BOUNCE_MALWARE)) {
                (_, true) => ContentVerdict::Malware,
                (true, false) => ContentVerdict::Spam,
                (false, false) => ContentVerdict::Clean,
            },
            recipient: match recipient {
                POSTERN_RECIPIENT_OK => RecipientStatus::Ok,
                POSTERN_RECIPIENT_UNKNOWN => RecipientStatus::Unknown,
                POSTERN_RECIPIENT_MAILBOX_FULL => RecipientStatus::MailboxFull,
                POSTERN_RECIPIENT_DISABLED => RecipientStatus::Disabled,
                POSTERN_RECIPIENT_POLICY => RecipientStatus::Policy,
                POSTERN_RECIPIENT_OTHER => RecipientStatus::Other,
                _ => return Err(postern_result::InvalidArgument),
            },
        };
        let options = BounceOptions {
            suppress_unverified_spf_fail: !flag(POSTERN_BOUNCE_ALLOW_UNVERIFIED_SPF_FAIL),
        };
        let verdict = postern_policy::bounce::decide(&facts, &options);
        let (code, why) = match verdict.decision {
            BounceDecision::RejectAtSmtp => (POSTERN_BOUNCE_REJECT_AT_SMTP, ""),
            BounceDecision::SendDsn {
                content: DsnContent::Full,
            } => (POSTERN_BOUNCE_SEND_DSN_FULL, ""),
            BounceDecision::SendDsn {
                content: DsnContent::HeadersOnly,
            } => (POSTERN_BOUNCE_SEND_DSN_HEADERS, ""),
            BounceDecision::Suppress { reason } => (POSTERN_BOUNCE_SUPPRESS, reason.as_str()),
            BounceDecision::Quarantine => (POSTERN_BOUNCE_QUARANTINE, ""),
        };
        write_text(why.as_bytes(), reason, reason_len)?;
        decision.write(code);
        Ok(postern_result::Ok)
    })
}

/// Reputation class: bad (withheld from by default).
pub const POSTERN_REPUTATION_BAD: u32 = 0;
/// Reputation class: poor.
pub const POSTERN_REPUTATION_POOR: u32 = 1;
/// Reputation class: neutral (unknown clients).
pub const POSTERN_REPUTATION_NEUTRAL: u32 = 2;
/// Reputation class: good.
pub const POSTERN_REPUTATION_GOOD: u32 = 3;
/// As a threshold: never withhold on reputation alone.
pub const POSTERN_REPUTATION_NEVER: u32 = 4;

/// STARTTLS flag: the listener is a submission port (else MX).
pub const POSTERN_STARTTLS_SUBMISSION: u32 = 1;
/// STARTTLS flag: TLS is already active on this connection.
pub const POSTERN_STARTTLS_TLS_ACTIVE: u32 = 2;
/// STARTTLS flag: an override for the client's network says offer.
pub const POSTERN_STARTTLS_OVERRIDE_OFFER: u32 = 4;
/// STARTTLS flag: an override for the client's network says withhold.
pub const POSTERN_STARTTLS_OVERRIDE_WITHHOLD: u32 = 8;
/// STARTTLS flag: the protected domain publishes MTA-STS enforce or DANE.
pub const POSTERN_STARTTLS_DOMAIN_ENFORCES_TLS: u32 = 16;
/// STARTTLS flag: the sender is known to enforce TLS.
pub const POSTERN_STARTTLS_SENDER_ENFORCES_TLS: u32 = 32;

/// STARTTLS decision: advertise it.
pub const POSTERN_STARTTLS_OFFER: u32 = 0;
/// STARTTLS decision: TLS is already active; nothing to advertise.
pub const POSTERN_STARTTLS_ALREADY_ACTIVE: u32 = 1;
/// STARTTLS decision: withhold the keywords written to `keywords`.
pub const POSTERN_STARTTLS_WITHHOLD: u32 = 2;

fn reputation(value: u32) -> Result<Option<Reputation>, postern_result> {
    Ok(Some(match value {
        POSTERN_REPUTATION_BAD => Reputation::Bad,
        POSTERN_REPUTATION_POOR => Reputation::Poor,
        POSTERN_REPUTATION_NEUTRAL => Reputation::Neutral,
        POSTERN_REPUTATION_GOOD => Reputation::Good,
        POSTERN_REPUTATION_NEVER => return Ok(None),
        _ => return Err(postern_result::InvalidArgument),
    }))
}

/// Decide whether to offer STARTTLS to a client of reputation `reputation`
/// (`POSTERN_REPUTATION_*`), withholding it at or below `withhold_at_or_below`
/// (`POSTERN_REPUTATION_BAD` is the default policy; `POSTERN_REPUTATION_NEVER` never
/// withholds on reputation). Never withholds where that would make enforced-TLS mail queue
/// and bounce. On `POSTERN_STARTTLS_WITHHOLD`, `keywords` receives the comma-separated
/// keywords to withhold (`"STARTTLS,REQUIRETLS"`), ready for `postern_proxy_new`; else it is
/// empty.
///
/// # Safety
/// `keywords` must hold `keywords_cap` writable bytes; the out-parameters must be writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn postern_starttls_decide(
    reputation_class: u32,
    withhold_at_or_below: u32,
    flags: u32,
    decision: *mut u32,
    keywords: *mut u8,
    keywords_cap: usize,
    keywords_len: *mut usize,
) -> u32 {
    guard(|| {
        // SAFETY: per this function's contract.
        let keywords = unsafe { output(keywords, keywords_cap)? };
        let (decision, keywords_len) = (out_param(decision)?, out_param(keywords_len)?);
        if flags >= POSTERN_STARTTLS_SENDER_ENFORCES_TLS << 1 {
            return Err(postern_result::InvalidArgument);
        }
        let flag = |f: u32| flags & f != 0;
        let facts = StartTlsFacts {
            role: if flag(POSTERN_STARTTLS_SUBMISSION) {
                ListenerRole::Submission
            } else {
                ListenerRole::Mx
            },
            tls_active: flag(POSTERN_STARTTLS_TLS_ACTIVE),
            reputation: reputation(reputation_class)?.ok_or(postern_result::InvalidArgument)?,
            override_for_network: match (
                flag(POSTERN_STARTTLS_OVERRIDE_OFFER),
                flag(POSTERN_STARTTLS_OVERRIDE_WITHHOLD),
            ) {
                (true, true) => return Err(postern_result::InvalidArgument),
                (true, false) => Some(TlsOverride::Offer),
                (false, true) => Some(TlsOverride::Withhold),
                (false, false) => None,
            },
            domain_enforces_tls: flag(POSTERN_STARTTLS_DOMAIN_ENFORCES_TLS),
            sender_enforces_tls: flag(POSTERN_STARTTLS_SENDER_ENFORCES_TLS),
        };
        let options = StartTlsOptions {
            withhold_at_or_below: reputation(withhold_at_or_below)?,
        };
        let (code, list) = match postern_policy::tls::starttls(&facts, &options) {
            StartTlsDecision::Offer => (POSTERN_STARTTLS_OFFER, String::new()),
            StartTlsDecision::AlreadyActive => (POSTERN_STARTTLS_ALREADY_ACTIVE, String::new()),
            StartTlsDecision::Withhold { keywords, .. } => {
                (POSTERN_STARTTLS_WITHHOLD, keywords.join(","))
            }
        };
        write_text(list.as_bytes(), keywords, keywords_len)?;
        decision.write(code);
        Ok(postern_result::Ok)
    })
}

/// A parsed MTA-STS policy (RFC 8461 §3.2), for `postern_outbound_decide`. Cache it by the
/// policy id of the domain's `_mta-sts` TXT record, for at most its `max_age`. Immutable:
/// may be shared between threads.
pub struct postern_sts_policy {
    policy: StsPolicy,
}

/// MTA-STS mode: `enforce`.
pub const POSTERN_STS_ENFORCE: u32 = 0;
/// MTA-STS mode: `testing` (report only).
pub const POSTERN_STS_TESTING: u32 = 1;
/// MTA-STS mode: `none`.
pub const POSTERN_STS_NONE: u32 = 2;

/// Parse an MTA-STS policy body as fetched from
/// `https://mta-sts.<domain>/.well-known/mta-sts.txt` (at most 65536 bytes); on success
/// `*mode` receives `POSTERN_STS_*` and `*max_age_secs` how long it may be cached.
/// `POSTERN_RESULT_INVALID_ARGUMENT` for a body that is not a valid policy (treat the
/// domain as having none).
///
/// # Safety
/// `body` must hold `body_len` readable bytes; the out-parameters must be writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn postern_sts_policy_parse(
    body: *const u8,
    body_len: usize,
    mode: *mut u32,
    max_age_secs: *mut u32,
    out: *mut *mut postern_sts_policy,
) -> u32 {
    guard(|| {
        // SAFETY: per this function's contract.
        let body = unsafe { input(body, body_len)? };
        let (mode, max_age_secs, out) =
            (out_param(mode)?, out_param(max_age_secs)?, out_param(out)?);
        let policy = StsPolicy::parse(text(body)?).map_err(config_error)?;
        mode.write(match policy.mode {
            StsMode::Enforce => POSTERN_STS_ENFORCE,
            StsMode::Testing => POSTERN_STS_TESTING,
            StsMode::None => POSTERN_STS_NONE,
        });
        max_age_secs.write(policy.max_age_secs);
        out.write(into_handle(postern_sts_policy { policy }));
        Ok(postern_result::Ok)
    })
}

/// Release a policy; NULL is a no-op.
///
/// # Safety
/// `policy` must be NULL or a handle from `postern_sts_policy_parse` not yet freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn postern_sts_policy_free(policy: *mut postern_sts_policy) {
    let _ = guard(|| {
        // SAFETY: per this function's contract.
        unsafe { free_handle(policy) };
        Ok(postern_result::Ok)
    });
}

/// Outbound flag: the message was submitted with `REQUIRETLS` (RFC 8689).
pub const POSTERN_OUTBOUND_REQUIRETLS: u32 = 1;
/// Outbound flag: the message carries `TLS-Required: No` (RFC 8689 §5).
pub const POSTERN_OUTBOUND_TLS_REQUIRED_NO: u32 = 2;
/// Outbound flag: this MX offered STARTTLS on an earlier connection.
pub const POSTERN_OUTBOUND_LEARNED_TLS: u32 = 4;
/// Outbound flag: this MX offers STARTTLS now (in its EHLO reply).
pub const POSTERN_OUTBOUND_OFFERS_STARTTLS: u32 = 8;
/// Outbound flag: this MX offers REQUIRETLS now.
pub const POSTERN_OUTBOUND_OFFERS_REQUIRETLS: u32 = 16;
/// Outbound flag: other MX hosts remain to be tried.
pub const POSTERN_OUTBOUND_MORE_MX: u32 = 32;
/// Outbound option: when a STARTTLS downgrade is suspected and nothing else requires TLS,
/// try the next MX or defer instead of sending in clear.
pub const POSTERN_OUTBOUND_REFUSE_SUSPECTED_DOWNGRADE: u32 = 64;

/// DANE status of the MX: no DNSSEC-validated TLSA records (DANE does not apply).
pub const POSTERN_DANE_NONE: u32 = 0;
/// DANE status: validated, usable TLSA records (RFC 7672 §2.2).
pub const POSTERN_DANE_USABLE: u32 = 1;
/// DANE status: validated TLSA records, none usable.
pub const POSTERN_DANE_UNUSABLE: u32 = 2;
/// DANE status: the TLSA lookup failed or was bogus.
pub const POSTERN_DANE_INDETERMINATE: u32 = 3;

/// TLS authentication: none required (as input: the domain is not on the forced-TLS list).
pub const POSTERN_TLS_AUTH_NONE: u32 = 0;
/// TLS authentication: encryption only, any certificate.
pub const POSTERN_TLS_AUTH_UNAUTHENTICATED: u32 = 1;
/// TLS authentication: PKIX validation with the MX host name.
pub const POSTERN_TLS_AUTH_PKIX: u32 = 2;
/// TLS authentication: DANE TLSA matching.
pub const POSTERN_TLS_AUTH_DANE: u32 = 3;

/// Outbound decision: use TLS if offered, else plaintext is allowed.
pub const POSTERN_OUTBOUND_OPPORTUNISTIC: u32 = 0;
/// Outbound decision: use TLS with the given authentication; never fall back to plaintext.
pub const POSTERN_OUTBOUND_REQUIRE_TLS: u32 = 1;
/// Outbound decision: do not use this MX; try the next one.
pub const POSTERN_OUTBOUND_TRY_NEXT_MX: u32 = 2;
/// Outbound decision: no usable MX now: keep the message queued (`451 4.7.5`).
pub const POSTERN_OUTBOUND_DEFER: u32 = 3;
/// Outbound decision: the message cannot be delivered as required: bounce (`5.7.30`).
pub const POSTERN_OUTBOUND_BOUNCE: u32 = 4;

/// TLS failure: none.
pub const POSTERN_TLS_FAILURE_NONE: u32 = 0;
/// TLS failure: the MX does not offer STARTTLS but TLS is required.
pub const POSTERN_TLS_FAILURE_NO_STARTTLS: u32 = 1;
/// TLS failure: the message requires REQUIRETLS and the MX does not offer it.
pub const POSTERN_TLS_FAILURE_NO_REQUIRETLS: u32 = 2;
/// TLS failure: the MX host does not match the MTA-STS policy.
pub const POSTERN_TLS_FAILURE_MX_MISMATCH: u32 = 3;
/// TLS failure: the DANE lookup failed.
pub const POSTERN_TLS_FAILURE_DANE_INDETERMINATE: u32 = 4;

fn auth_code(auth: TlsAuth) -> u32 {
    match auth {
        TlsAuth::Unauthenticated => POSTERN_TLS_AUTH_UNAUTHENTICATED,
        TlsAuth::Pkix => POSTERN_TLS_AUTH_PKIX,
        TlsAuth::Dane => POSTERN_TLS_AUTH_DANE,
    }
}

fn failure_code(failure: TlsFailure) -> u32 {
    match failure {
        TlsFailure::NoStartTls => POSTERN_TLS_FAILURE_NO_STARTTLS,
        TlsFailure::NoRequireTls => POSTERN_TLS_FAILURE_NO_REQUIRETLS,
        TlsFailure::MxMismatch => POSTERN_TLS_FAILURE_MX_MISMATCH,
        TlsFailure::DaneIndeterminate => POSTERN_TLS_FAILURE_DANE_INDETERMINATE,
    }
}

/// Decide whether an outbound delivery to MX `mx_host` may go in clear, after its EHLO
/// reply (RFC 8689 REQUIRETLS and `TLS-Required: No`, RFC 7672 DANE, RFC 8461 MTA-STS, the
/// local forced-TLS list, downgrade detection; the order is in postern-policy's `tls`
/// docs). `flags`: `POSTERN_OUTBOUND_*` facts and options; `dane`: `POSTERN_DANE_*`;
/// `policy`: the recipient domain's cached MTA-STS policy, or NULL; `forced_tls`:
/// `POSTERN_TLS_AUTH_*` when the domain is on the local forced-TLS list, else
/// `POSTERN_TLS_AUTH_NONE`. Writes the decision (`POSTERN_OUTBOUND_*`), the required
/// authentication (`POSTERN_TLS_AUTH_*`, for `POSTERN_OUTBOUND_REQUIRE_TLS`), the failure
/// (`POSTERN_TLS_FAILURE_*`), whether a downgrade is suspected (the MX offered STARTTLS
/// before and does not now), and for a defer or bounce the reply for logs and DSNs
/// (reply buffer as for `postern_rate_limiter_check`; empty otherwise).
///
/// # Safety
/// `mx_host` must hold `mx_host_len` readable bytes; `policy` must be NULL or a live
/// handle; the out-parameters must be writable (the reply ones may be NULL with
/// `reply_cap` 0).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn postern_outbound_decide(
    flags: u32,
    dane: u32,
    policy: *const postern_sts_policy,
    mx_host: *const u8,
    mx_host_len: usize,
    forced_tls: u32,
    decision: *mut u32,
    auth: *mut u32,
    failure: *mut u32,
    downgrade_suspected: *mut bool,
    reply: *mut u8,
    reply_cap: usize,
    reply_len: *mut usize,
) -> u32 {
    guard(|| {
        // SAFETY: per this function's contract.
        let mx_host = unsafe { input(mx_host, mx_host_len)? };
        let (decision, auth, failure, downgrade_suspected) = (
            out_param(decision)?,
            out_param(auth)?,
            out_param(failure)?,
            out_param(downgrade_suspected)?,
        );
        // SAFETY: per this function's contract.
        let reply = unsafe { ReplyOut::new(reply, reply_cap, reply_len)? };
        if flags >= POSTERN_OUTBOUND_REFUSE_SUSPECTED_DOWNGRADE << 1 {
            return Err(postern_result::InvalidArgument);
        }
        let flag = |f: u32| flags & f != 0;
        // SAFETY: per this function's contract: NULL or a live handle, only read here.
        let policy = unsafe { policy.as_ref() }.map(|p| &p.policy);
        let facts = OutboundFacts {
            requiretls: flag(POSTERN_OUTBOUND_REQUIRETLS),
            tls_required_no: flag(POSTERN_OUTBOUND_TLS_REQUIRED_NO),
            dane: match dane {
                POSTERN_DANE_NONE => DaneStatus::None,
                POSTERN_DANE_USABLE => DaneStatus::Usable,
                POSTERN_DANE_UNUSABLE => DaneStatus::Unusable,
                POSTERN_DANE_INDETERMINATE => DaneStatus::Indeterminate,
                _ => return Err(postern_result::InvalidArgument),
            },
            mta_sts: policy,
            mx_host: text(mx_host)?,
            forced_tls: match forced_tls {
                POSTERN_TLS_AUTH_NONE => None,
                POSTERN_TLS_AUTH_UNAUTHENTICATED => Some(TlsAuth::Unauthenticated),
                POSTERN_TLS_AUTH_PKIX => Some(TlsAuth::Pkix),
                POSTERN_TLS_AUTH_DANE => Some(TlsAuth::Dane),
                _ => return Err(postern_result::InvalidArgument),
            },
            learned_tls: flag(POSTERN_OUTBOUND_LEARNED_TLS),
            offers_starttls: flag(POSTERN_OUTBOUND_OFFERS_STARTTLS),
            offers_requiretls: flag(POSTERN_OUTBOUND_OFFERS_REQUIRETLS),
            more_mx: flag(POSTERN_OUTBOUND_MORE_MX),
        };
        let options = OutboundOptions {
            refuse_suspected_downgrade: flag(POSTERN_OUTBOUND_REFUSE_SUSPECTED_DOWNGRADE),
        };
        let verdict = postern_policy::tls::outbound(&facts, &options);
        let (code, needed, why, line) = match verdict.decision {
            OutboundDecision::Opportunistic => (
                POSTERN_OUTBOUND_OPPORTUNISTIC,
                POSTERN_TLS_AUTH_NONE,
                None,
                None,
            ),
            OutboundDecision::RequireTls { auth } => {
                (POSTERN_OUTBOUND_REQUIRE_TLS, auth_code(auth), None, None)
            }
            OutboundDecision::TryNextMx { failure } => (
                POSTERN_OUTBOUND_TRY_NEXT_MX,
                POSTERN_TLS_AUTH_NONE,
                Some(failure),
                None,
            ),
            OutboundDecision::Defer { failure, reply } => (
                POSTERN_OUTBOUND_DEFER,
                POSTERN_TLS_AUTH_NONE,
                Some(failure),
                Some(reply),
            ),
            OutboundDecision::Bounce { failure, reply } => (
                POSTERN_OUTBOUND_BOUNCE,
                POSTERN_TLS_AUTH_NONE,
                Some(failure),
                Some(reply),
            ),
        };
        reply.write(line.as_ref())?;
        decision.write(code);
        auth.write(needed);
        failure.write(why.map_or(POSTERN_TLS_FAILURE_NONE, failure_code));
        downgrade_suspected.write(verdict.downgrade_suspected);
        Ok(postern_result::Ok)
    })
}
