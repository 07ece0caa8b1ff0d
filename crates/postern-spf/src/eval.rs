//! `check_host()` (RFC 7208 §4) as a state machine that asks its caller for DNS answers.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use postern_dns::{Answer, Name, Query, Record as DnsRecord, RecordType};

use crate::error::Error;
use crate::macros::{
    MacroContext, NeedValidated, check_macro_text, expand_text, has_percent, is_toplabel,
    write_octet,
};
use crate::outcome::{
    Identities, Identity, MatchedDirective, Outcome, Verdict, directive_in, spec_text, txt_record,
};
use crate::record::{
    DualCidr, MechanismRef, Qualifier, Span, TermRef, find_byte, is_spf_record, scan_record,
};

/// Most mechanisms and modifiers that query DNS (`include`, `a`, `mx`, `ptr`, `exists`,
/// `redirect`) per check; one more is permerror (RFC 7208 §4.6.4).
pub const MAX_DNS_TERMS: u32 = 10;

/// Default most void lookups (NXDOMAIN or no answer) per check; one more is permerror
/// (RFC 7208 §4.6.4, "SHOULD be 2"). Configurable with [`Options::max_void_lookups`].
pub const DEFAULT_MAX_VOID_LOOKUPS: u32 = 2;

/// Most MX records an `mx` mechanism may look at; more is permerror (RFC 7208 §4.6.4).
pub const MAX_MX_NAMES: usize = 10;

/// Most PTR names whose addresses are looked up for `ptr` and `%{p}`; the rest are ignored
/// (RFC 7208 §4.6.4).
pub const MAX_PTR_NAMES: usize = 10;

/// Longest domain name after macro expansion; longer ones lose labels on the left
/// (RFC 7208 §7.3).
pub const MAX_EXPANDED_DOMAIN: usize = 253;

/// Settings of a check.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// Void lookups allowed before permerror (default [`DEFAULT_MAX_VOID_LOOKUPS`]).
    pub max_void_lookups: u32,
    /// The receiving host's domain, for `%{r}` and `receiver=` (default `unknown`, as RFC 7208
    /// §7.2 suggests when it is not known).
    pub receiver: Arc<str>,
    /// Seconds since the epoch, for `%{t}`: the library reads no clock (default 0).
    pub timestamp: u64,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            max_void_lookups: DEFAULT_MAX_VOID_LOOKUPS,
            receiver: Arc::from("unknown"),
            timestamp: 0,
        }
    }
}

impl Options {
    /// Sets the receiver domain.
    #[must_use]
    pub fn with_receiver(mut self, receiver: &str) -> Self {
        self.receiver = Arc::from(receiver);
        self
    }

    /// Sets the void-lookup limit.
    #[must_use]
    pub fn with_max_void_lookups(mut self, max: u32) -> Self {
        self.max_void_lookups = max;
        self
    }

    /// Sets the time for `%{t}`.
    #[must_use]
    pub fn with_timestamp(mut self, timestamp: u64) -> Self {
        self.timestamp = timestamp;
        self
    }
}

/// What to check: the client, the HELO name, the MAIL FROM and which identity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Request<'a> {
    /// The SMTP client's address.
    pub ip: IpAddr,
    /// The HELO/EHLO name.
    pub helo: &'a str,
    /// The MAIL FROM reverse-path without angle brackets; empty for the null reverse-path.
    pub mail_from: &'a str,
    /// The identity to check.
    pub identity: Identity,
}

impl<'a> Request<'a> {
    /// Checks the MAIL FROM identity (RFC 7208 §2.4); with an empty `mail_from` the sender is
    /// `postmaster@<helo>` and the HELO identity is checked.
    pub fn mail_from(ip: IpAddr, mail_from: &'a str, helo: &'a str) -> Self {
        Self {
            ip,
            helo,
            mail_from,
            identity: Identity::MailFrom,
        }
    }

    /// Checks the HELO identity (RFC 7208 §2.3): sender `postmaster@<helo>`.
    pub fn helo(ip: IpAddr, helo: &'a str) -> Self {
        Self {
            ip,
            helo,
            mail_from: "",
            identity: Identity::Helo,
        }
    }
}

/// What the evaluator needs next.
#[derive(Debug, Clone, PartialEq, Eq)]
#[allow(
    clippy::large_enum_variant,
    reason = "the outcome keeps short identities inline; a box would cost an allocation per check"
)]
pub enum Step {
    /// Resolve this query and hand the answer to [`Evaluator::supply`] (or the raw packet to
    /// [`Evaluator::supply_wire`]), then call [`Evaluator::step`] again.
    Lookup(Query),
    /// The check is over. Further calls to `step` return the same outcome.
    Done(Outcome),
}

/// Why a piece of evaluation stopped before finishing.
enum Interrupt {
    /// An answer to this question is needed.
    Need(Name, RecordType),
    /// The whole check ends with this result (temperror, permerror).
    Abort(Verdict, String),
}

/// Reads answers already known to the evaluator and counts limits, for one piece of work
/// that may be run again from its start once a missing answer arrives. Because a rerun sees
/// the same answers in the same order, it counts the same; counts are kept only when the
/// piece finishes.
struct Cursor<'e> {
    cache: &'e Cache,
    terms: u32,
    voids: u32,
    max_voids: u32,
    /// The evaluator's reused buffers: an expanded domain-spec, a macro value being
    /// transformed.
    out: &'e mut String,
    scratch: &'e mut String,
    /// The last domain-spec with macros expanded into a name (see [`target_name`]).
    memo: &'e mut MemoCell,
}

/// A domain-spec with macros (by its place in a record text, which stays put during the
/// check), the current domain, the name it expanded to, and the void lookups its `%{p}`
/// counted. A piece that stops for a missing answer is run again and expands the same spec to
/// the same name: this saves the work, and the rerun counts those void lookups again, as a
/// rerun must count what the first run did.
#[derive(Debug)]
struct Memo {
    spec: (usize, usize),
    domain: Name,
    target: Option<Name>,
    voids: u32,
}

/// Holds the [`Memo`] of one evaluator. A clone starts empty: its answers are copies at
/// other addresses, so the key would not mean the same text.
#[derive(Debug, Default)]
struct MemoCell(Option<Memo>);

impl Clone for MemoCell {
    fn clone(&self) -> Self {
        Self(None)
    }
}

impl<'e> Cursor<'e> {
    fn count_term(&mut self) -> Result<(), Interrupt> {
        self.terms = self.terms.saturating_add(1);
        if self.terms > MAX_DNS_TERMS {
            return Err(Interrupt::Abort(
                Verdict::PermError,
                format!("more than {MAX_DNS_TERMS} DNS-querying terms"),
            ));
        }
        Ok(())
    }

    /// Counts one void lookup (RFC 7208 §4.6.4): permerror past the limit.
    fn count_void(&mut self) -> Result<(), Interrupt> {
        self.voids = self.voids.saturating_add(1);
        if self.voids > self.max_voids {
            return Err(Interrupt::Abort(
                Verdict::PermError,
                format!("more than {} void lookups", self.max_voids),
            ));
        }
        Ok(())
    }

    /// The answer to `(name, rtype)`, counting a void answer when `countable`.
    fn lookup(
        &mut self,
        name: &Name,
        rtype: RecordType,
        countable: bool,
    ) -> Result<&'e Answer, Interrupt> {
        self.lookup_entry(name, rtype, countable)
            .map(|(_, answer)| answer)
    }

    /// [`Cursor::lookup`] with the index of the answer in the cache.
    fn lookup_entry(
        &mut self,
        name: &Name,
        rtype: RecordType,
        countable: bool,
    ) -> Result<(usize, &'e Answer), Interrupt> {
        let cache = self.cache;
        // Newest first: the answer just supplied is usually the one asked for.
        let Some((entry, (_, _, answer))) = cache.rfind(|(n, t, _)| *t == rtype && n == name)
        else {
            return Err(Interrupt::Need(name.clone(), rtype));
        };
        if countable && answer.is_void() {
            self.count_void()?;
        }
        Ok((entry, answer))
    }
}

/// The parts of the request that macros and matching use.
#[derive(Debug, Clone)]
struct Subject {
    ip: IpAddr,
    /// Sender, HELO name and receiver, copied into the outcome.
    identities: Identities,
    timestamp: u64,
}

impl Subject {
    fn macro_context<'s>(
        &'s self,
        domain: &'s str,
        validated: Option<&'s str>,
    ) -> MacroContext<'s> {
        let [local_part, sender_domain, helo, receiver] = self.identities.parts();
        MacroContext {
            local_part,
            sender_domain,
            domain,
            ip: self.ip,
            validated,
            helo,
            receiver,
            timestamp: self.timestamp,
        }
    }

    fn address_type(&self) -> RecordType {
        match self.ip {
            IpAddr::V4(_) => RecordType::A,
            IpAddr::V6(_) => RecordType::Aaaa,
        }
    }

    /// Whether an address record matches the client within the CIDR lengths.
    fn matches(&self, record: &DnsRecord, cidr: DualCidr) -> bool {
        match (self.ip, record) {
            (IpAddr::V4(ip), DnsRecord::A(net)) => in_v4(ip, *net, cidr.v4.unwrap_or(32)),
            (IpAddr::V6(ip), DnsRecord::Aaaa(net)) => in_v6(ip, *net, cidr.v6.unwrap_or(128)),
            _ => false,
        }
    }

    /// Whether the address record is exactly the client.
    fn is_client(&self, record: &DnsRecord) -> bool {
        self.matches(record, DualCidr::default())
    }

    /// The reverse-lookup name of the client (RFC 7208 §5.5).
    fn reverse_name(&self) -> Option<Name> {
        let mut text = String::with_capacity(72);
        match self.ip {
            IpAddr::V4(v4) => {
                for octet in v4.octets().iter().rev() {
                    write_octet(*octet, &mut text);
                    text.push('.');
                }
                text.push_str("in-addr.arpa");
            }
            IpAddr::V6(v6) => {
                for byte in v6.octets().iter().rev() {
                    for nibble in [byte & 0x0f, byte >> 4] {
                        text.push(char::from_digit(u32::from(nibble), 16).unwrap_or('0'));
                        text.push('.');
                    }
                }
                text.push_str("ip6.arpa");
            }
        }
        Name::from_string(text).ok()
    }
}

// `/0` matches everything; shifting by the full width is avoided (no overflow).
fn in_v4(ip: Ipv4Addr, net: Ipv4Addr, len: u8) -> bool {
    let mask = u32::MAX
        .checked_shl(32u32.saturating_sub(u32::from(len)))
        .unwrap_or(0);
    u32::from(ip) & mask == u32::from(net) & mask
}

fn in_v6(ip: Ipv6Addr, net: Ipv6Addr, len: u8) -> bool {
    let mask = u128::MAX
        .checked_shl(128u32.saturating_sub(u32::from(len)))
        .unwrap_or(0);
    u128::from(ip) & mask == u128::from(net) & mask
}

/// Whether a mechanism that needs no DNS (`all`, `ip4`, `ip6`) matches the client; `None`
/// for the others.
fn local_match<S>(ip: IpAddr, mechanism: MechanismRef<S>) -> Option<bool> {
    Some(match (mechanism, ip) {
        (MechanismRef::All, _) => true,
        (MechanismRef::Ip4(network, prefix), IpAddr::V4(ip)) => {
            in_v4(ip, network, prefix.unwrap_or(32))
        }
        (MechanismRef::Ip6(network, prefix), IpAddr::V6(ip)) => {
            in_v6(ip, network, prefix.unwrap_or(128))
        }
        (MechanismRef::Ip4(..) | MechanismRef::Ip6(..), _) => false,
        _ => return None,
    })
}

/// Where a fetched SPF record is: its TXT record in the evaluator's answers, which keep it
/// for the whole check, so that domain-specs are read from the text in place.
#[derive(Debug, Clone, Copy)]
struct Loaded {
    /// Index of the answer in the cache.
    entry: u32,
    /// Index of the TXT record in the answer.
    index: u32,
    /// Where its `redirect=` value is.
    redirect: Option<Span>,
    /// Where its `exp=` value is.
    exp: Option<Span>,
    /// Its directives in the evaluator's list: `base..end`.
    end: usize,
}

/// The text of a loaded record (empty if it is not there, which cannot happen).
fn record_text(cache: &Cache, loaded: Loaded) -> &[u8] {
    cache
        .get(loaded.entry as usize)
        .map_or(&[], |(_, _, answer)| {
            txt_record(answer, loaded.index as usize)
        })
}

/// A byte range of record text as stored (a TXT record is at most 64 KiB, far below
/// `u32::MAX`).
fn to_span((start, end): (usize, usize)) -> Span {
    (
        u32::try_from(start).unwrap_or(u32::MAX),
        u32::try_from(end).unwrap_or(u32::MAX),
    )
}

/// One directive of a checked record, its domain-specs as ranges of the record text.
type Stored = (Qualifier, MechanismRef<Span>);

/// A matched directive of the checked domain's record: where its text is, and the directive.
/// The owned [`Directive`] of the outcome is built from it only when the outcome is returned.
type Matched = (Loaded, Stored);

/// The outcome's form of a match: built at once when it has no domain-spec, else the place
/// of its text (built when asked for).
fn matched_directive(cache: &Cache, (loaded, (qualifier, mechanism)): Matched) -> MatchedDirective {
    let answer = match mechanism {
        MechanismRef::A(Some(_), _)
        | MechanismRef::Mx(Some(_), _)
        | MechanismRef::Ptr(Some(_))
        | MechanismRef::Include(_)
        | MechanismRef::Exists(_) => cache.get(loaded.entry as usize).map(|(_, _, a)| a),
        _ => None,
    };
    if let Some(answer) = answer {
        MatchedDirective::InRecord {
            answer: answer.clone(),
            index: loaded.index as usize,
            qualifier,
            mechanism,
        }
    } else {
        MatchedDirective::Built(directive_in(
            record_text(cache, loaded),
            qualifier,
            mechanism,
        ))
    }
}

/// Directives kept inline, without an allocation: enough for most records.
const INLINE_DIRECTIVES: usize = 12;

/// A list whose first element is kept inline: most checks have one record to evaluate and
/// one answer to keep, and then need no allocation.
#[derive(Debug, Clone)]
struct FirstInline<T> {
    first: Option<T>,
    /// Only used once `first` is set.
    rest: Vec<T>,
}

impl<T> FirstInline<T> {
    const fn new() -> Self {
        Self {
            first: None,
            rest: Vec::new(),
        }
    }

    fn push(&mut self, value: T) {
        if self.first.is_none() {
            self.first = Some(value);
        } else {
            if self.rest.capacity() == 0 {
                // Past the first, room for an include chain five deep in one allocation.
                self.rest = Vec::with_capacity(7);
            }
            self.rest.push(value);
        }
    }

    fn pop(&mut self) -> Option<T> {
        self.rest.pop().or_else(|| self.first.take())
    }

    fn last(&self) -> Option<&T> {
        self.rest.last().or(self.first.as_ref())
    }

    fn last_mut(&mut self) -> Option<&mut T> {
        match self.rest.last_mut() {
            Some(last) => Some(last),
            None => self.first.as_mut(),
        }
    }

    fn get(&self, index: usize) -> Option<&T> {
        match index.checked_sub(1) {
            None => self.first.as_ref(),
            Some(index) => self.rest.get(index),
        }
    }

    /// The last element that satisfies `pred`, with its index.
    fn rfind(&self, mut pred: impl FnMut(&T) -> bool) -> Option<(usize, &T)> {
        if let Some((index, value)) = self.rest.iter().enumerate().rfind(|(_, v)| pred(v)) {
            return Some((index.saturating_add(1), value));
        }
        self.first.as_ref().filter(|v| pred(v)).map(|v| (0, v))
    }

    fn clear(&mut self) {
        self.first = None;
        self.rest.clear();
    }
}

/// The answers known to an evaluator, in the order they came.
type Cache = FirstInline<(Name, RecordType, Answer)>;

/// A list of `Copy` values whose first `N` are kept inline.
#[derive(Debug, Clone)]
struct InlineVec<T: Copy, const N: usize> {
    len: usize,
    inline: [Option<T>; N],
    /// Elements `N..len`.
    spill: Vec<T>,
}

impl<T: Copy, const N: usize> InlineVec<T, N> {
    const fn new() -> Self {
        Self {
            len: 0,
            inline: [None; N],
            spill: Vec::new(),
        }
    }

    fn len(&self) -> usize {
        self.len
    }

    fn get(&self, index: usize) -> Option<T> {
        if index >= self.len {
            return None;
        }
        match index.checked_sub(N) {
            None => self.inline.get(index).copied().flatten(),
            Some(index) => self.spill.get(index).copied(),
        }
    }

    fn push(&mut self, value: T) {
        if let Some(slot) = self.inline.get_mut(self.len) {
            *slot = Some(value);
        } else {
            if self.spill.capacity() == 0 {
                self.spill = Vec::with_capacity(2 * N);
            }
            self.spill.push(value);
        }
        self.len = self.len.saturating_add(1);
    }

    fn truncate(&mut self, len: usize) {
        if len < self.len {
            self.len = len;
            self.spill.truncate(len.saturating_sub(N));
        }
    }
}

/// One SPF record being evaluated for one domain (RFC 7208 §4.6).
#[derive(Debug, Clone)]
struct Frame {
    domain: Name,
    /// `None` until the record has been fetched.
    record: Option<Loaded>,
    /// Where this frame's directives start in the evaluator's list (those of the frames
    /// below come first).
    base: usize,
    /// Index of the next directive in the evaluator's list.
    pos: usize,
    /// Started by an `include` of the frame below, with this qualifier.
    included: Option<Qualifier>,
    /// The record came from a `redirect=`: no record is permerror (RFC 7208 §6.1).
    redirected: bool,
    /// The domain as written, when that differs from `domain` (see [`name_and_written`]).
    written: Option<Box<str>>,
}

impl Frame {
    fn new(
        domain: Name,
        written: Option<Box<str>>,
        base: usize,
        included: Option<Qualifier>,
    ) -> Self {
        Self {
            domain,
            written,
            record: None,
            base,
            pos: base,
            included,
            redirected: false,
        }
    }

    /// The domain as written (its `%{d}`).
    fn written(&self) -> &str {
        written_or(self.written.as_deref(), &self.domain)
    }
}

/// A fail whose explanation is being fetched (RFC 7208 §6.2).
#[derive(Debug, Clone)]
struct Explain {
    /// The record with the `exp=`.
    record: Loaded,
    domain: Name,
    /// The domain as written, when that differs from `domain`.
    written: Option<Box<str>>,
    /// The matched directive, for the outcome.
    mechanism: Option<Matched>,
}

/// What finishing a piece of work did.
enum Effect {
    Record(Loaded),
    NoRecord(Verdict, String),
    NoMatch,
    /// The current directive of the top frame matched.
    Match(Qualifier),
    /// Evaluate the target's record (given as a name and as written: see
    /// [`name_and_written`]); the include's qualifier.
    Include(Name, Option<Box<str>>, Qualifier),
    Redirect(Name, Option<Box<str>>),
    Default,
    Explained(Option<String>),
}

/// The `check_host()` state machine (RFC 7208 §4). It does no I/O: [`step`](Self::step)
/// returns the next DNS [`Query`] to answer, or the [`Outcome`].
///
/// ```
/// use postern_dns::{Name, Query, Zone};
/// use postern_spf::{Evaluator, Options, Request, Step, Verdict};
///
/// let zone = Zone::from_json(r#"{"example.com": [{"type": "TXT", "value": "v=spf1 ip4:192.0.2.0/24 -all"}]}"#)?;
/// let request = Request::mail_from("192.0.2.7".parse()?, "alice@example.com", "mx.example.com");
/// let mut eval = Evaluator::new(&request, &Options::default());
/// let outcome = loop {
///     match eval.step() {
///         Step::Lookup(query) => eval.supply(query.id(), zone.resolve(&query))?,
///         Step::Done(outcome) => break outcome,
///     }
/// };
/// assert_eq!(outcome.verdict, Verdict::Pass);
/// assert_eq!(outcome.mechanism().unwrap().to_string(), "ip4:192.0.2.0/24");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct Evaluator {
    subject: Subject,
    identity: Identity,
    max_voids: u32,
    frames: FirstInline<Frame>,
    cache: Cache,
    pending: Option<Query>,
    next_id: u32,
    terms: u32,
    voids: u32,
    /// Set once the top frame failed and has an `exp=` (boxed: rare, and large).
    explain: Option<Box<Explain>>,
    /// The directives of the records being evaluated, frame above frame; reused.
    directives: InlineVec<Stored, INLINE_DIRECTIVES>,
    /// Reused buffers for macro expansion (see [`Cursor`]).
    out: String,
    scratch: String,
    memo: MemoCell,
    /// The matched top-level directive (the outcome keeps it, see [`matched_directive`]).
    mechanism: Option<Matched>,
    /// Set when the check is over (the rest of the outcome is the evaluator's state).
    finished: Option<Finished>,
}

/// How a check ended.
#[derive(Debug, Clone)]
struct Finished {
    verdict: Verdict,
    explanation: Option<String>,
    problem: Option<String>,
}

impl Evaluator {
    /// Starts `check_host()` for the request (RFC 7208 §4.1). Never fails: a request that
    /// cannot be checked (malformed domain) ends with [`Verdict::None`].
    pub fn new(request: &Request<'_>, options: &Options) -> Self {
        // RFC 7208 §5 (ip6): an IPv4-mapped IPv6 client is checked as the IPv4 address.
        let ip = match request.ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
            v4 @ IpAddr::V4(_) => v4,
        };
        let (helo_identity, local_part, sender_domain) = sender(request);
        // The identities, usually inline (no allocation), copied into the outcome.
        let subject = Subject {
            ip,
            identities: Identities::new(local_part, sender_domain, request.helo, &options.receiver),
            timestamp: options.timestamp,
        };
        // RFC 7208 §4.3: a malformed or single-label domain gives none without any lookup.
        let (domain, written) = initial_domain(sender_domain).unzip();
        let finished = domain.is_none().then(|| Finished {
            verdict: Verdict::None,
            explanation: None,
            problem: Some("malformed or single-label domain".to_owned()),
        });
        // The first piece of work is always the checked domain's TXT lookup (RFC 7208 §4.4):
        // asked at once.
        let pending = domain
            .as_ref()
            .map(|domain| Query::new(1, domain.clone(), RecordType::Txt));
        // Built in place, returned as built (the evaluator is large: its first answer,
        // frame and directives are inline).
        Self {
            identity: if helo_identity {
                Identity::Helo
            } else {
                Identity::MailFrom
            },
            max_voids: options.max_void_lookups,
            frames: FirstInline {
                first: domain.map(|domain| Frame::new(domain, written.flatten(), 0, None)),
                rest: Vec::new(),
            },
            cache: FirstInline::new(),
            next_id: if pending.is_some() { 2 } else { 1 },
            pending,
            terms: 0,
            voids: 0,
            explain: None,
            directives: InlineVec::new(),
            out: String::new(),
            scratch: String::new(),
            memo: MemoCell::default(),
            mechanism: None,
            finished,
            subject,
        }
    }

    /// Advances as far as possible without a missing DNS answer.
    pub fn step(&mut self) -> Step {
        loop {
            if let Some(query) = &self.pending {
                return Step::Lookup(query.clone());
            }
            if let Some(finished) = &self.finished {
                return Step::Done(self.outcome(finished));
            }
            if self.local_terms() {
                continue;
            }
            match self.work() {
                Ok(effect) => self.apply(effect),
                Err(Interrupt::Need(name, rtype)) => {
                    let id = self.next_id;
                    self.next_id = self.next_id.wrapping_add(1);
                    self.pending = Some(Query::new(id, name, rtype));
                }
                Err(Interrupt::Abort(verdict, problem)) => {
                    self.finish(verdict, None, Some(problem));
                }
            }
        }
    }

    /// Evaluates the top frame's next directives that need no DNS (`ip4`, `ip6`, `all`) in
    /// one loop, without the general piece of work; whether any was evaluated. The result
    /// is the one [`Evaluator::work`] would reach term by term.
    fn local_terms(&mut self) -> bool {
        if self.explain.is_some() {
            return false;
        }
        let Some(frame) = self.frames.last_mut() else {
            return false;
        };
        let Some(loaded) = frame.record else {
            return false;
        };
        let start = frame.pos;
        let ip = self.subject.ip;
        while frame.pos < loaded.end {
            let Some((qualifier, Some(matched))) = self
                .directives
                .get(frame.pos)
                .map(|(qualifier, mechanism)| (qualifier, local_match(ip, mechanism)))
            else {
                break;
            };
            if matched {
                self.matched(qualifier);
                return true;
            }
            frame.pos = frame.pos.saturating_add(1);
        }
        frame.pos != start
    }

    /// The query waiting for an answer, if any.
    pub fn pending(&self) -> Option<&Query> {
        self.pending.as_ref()
    }

    /// Supplies the answer to the pending query `id`.
    ///
    /// # Errors
    /// [`Error::UnexpectedAnswer`] if `id` is not the pending query; the state is unchanged.
    pub fn supply(&mut self, id: u32, answer: Answer) -> Result<(), Error> {
        match self.pending.take() {
            Some(query) if query.id() == id => {
                // The pending query's name moves into the cache.
                let (_, name, rtype) = query.into_parts();
                self.cache.push((name, rtype, answer));
                Ok(())
            }
            other => {
                self.pending = other;
                Err(Error::UnexpectedAnswer { id })
            }
        }
    }

    /// Supplies the pending query's answer as a raw DNS response packet
    /// (see [`Answer::from_wire`]).
    ///
    /// # Errors
    /// [`Error::UnexpectedAnswer`] if `id` is not pending; [`Error::Dns`] if the packet is
    /// malformed, truncated or answers another question. The query stays pending, so the
    /// caller may retry (over TCP after truncation) or supply [`Answer::TempFail`].
    #[cfg(feature = "wire")]
    pub fn supply_wire(&mut self, id: u32, packet: &[u8]) -> Result<(), Error> {
        let query = match &self.pending {
            Some(query) if query.id() == id => query,
            _ => return Err(Error::UnexpectedAnswer { id }),
        };
        let answer =
            Answer::from_wire(query, packet).map_err(|source| Error::Dns { id, source })?;
        self.supply(id, answer)
    }

    fn finish(&mut self, verdict: Verdict, explanation: Option<String>, problem: Option<String>) {
        self.frames.clear();
        self.explain = None;
        if matches!(
            verdict,
            Verdict::TempError | Verdict::PermError | Verdict::None
        ) {
            self.mechanism = None;
        }
        self.finished = Some(Finished {
            verdict,
            explanation,
            problem,
        });
    }

    /// The outcome of a finished check (the counts no longer change once it is finished).
    fn outcome(&self, finished: &Finished) -> Outcome {
        Outcome {
            verdict: finished.verdict,
            matched: self.mechanism.map(|m| matched_directive(&self.cache, m)),
            explanation: finished.explanation.clone(),
            problem: finished.problem.clone(),
            dns_lookups: self.terms,
            void_lookups: self.voids,
            queries: self.next_id.saturating_sub(1),
            identity: self.identity,
            ip: self.subject.ip,
            identities: self.subject.identities.clone(),
        }
    }

    /// Runs the next piece of work from its start with the answers known so far.
    fn work(&mut self) -> Result<Effect, Interrupt> {
        let mut cur = Cursor {
            cache: &self.cache,
            terms: self.terms,
            voids: self.voids,
            max_voids: self.max_voids,
            out: &mut self.out,
            scratch: &mut self.scratch,
            memo: &mut self.memo,
        };
        let result = piece(
            &self.frames,
            self.explain.as_deref(),
            &self.subject,
            &mut cur,
            &mut self.directives,
        );
        let (terms, voids) = (cur.terms, cur.voids);
        // A piece stopped for a missing answer runs again from its start and counts again;
        // a finished or aborted one keeps its counts (the term or void that broke a limit too).
        if !matches!(result, Err(Interrupt::Need(..))) {
            (self.terms, self.voids) = (terms, voids);
        }
        result
    }

    fn apply(&mut self, effect: Effect) {
        match effect {
            Effect::Explained(text) => {
                let mechanism = self.explain.take().and_then(|e| e.mechanism);
                self.mechanism = mechanism;
                self.finish(Verdict::Fail, text, None);
            }
            Effect::Record(loaded) => {
                if let Some(frame) = self.frames.last_mut() {
                    frame.record = Some(loaded);
                    frame.pos = frame.base;
                }
            }
            Effect::NoRecord(verdict, problem) => {
                let (included, redirected) = self
                    .frames
                    .last()
                    .map_or((false, false), |f| (f.included.is_some(), f.redirected));
                if verdict == Verdict::None && (included || redirected) {
                    // RFC 7208 §5.2, §6.1: no record at an include or redirect target.
                    self.finish(Verdict::PermError, None, Some(problem));
                } else {
                    self.finish(verdict, None, Some(problem));
                }
            }
            Effect::NoMatch => {
                if let Some(frame) = self.frames.last_mut() {
                    frame.pos = frame.pos.saturating_add(1);
                }
            }
            Effect::Match(qualifier) => self.matched(qualifier),
            Effect::Include(target, written, qualifier) => {
                let base = self.directives.len();
                self.frames
                    .push(Frame::new(target, written, base, Some(qualifier)));
            }
            Effect::Redirect(target, written) => {
                if let Some(frame) = self.frames.last_mut() {
                    self.directives.truncate(frame.base);
                    frame.domain = target;
                    frame.written = written;
                    frame.record = None;
                    frame.pos = frame.base;
                    frame.redirected = true;
                }
            }
            // RFC 7208 §4.7: no match and no redirect gives neutral.
            Effect::Default => self.complete_frame(Verdict::Neutral, None),
        }
    }

    /// The current directive of the top frame matched. An included record that passes
    /// makes its `include` match in turn (RFC 7208 §5.2), record by record down to the one
    /// that ends the check.
    fn matched(&mut self, mut qualifier: Qualifier) {
        loop {
            let Some(frame) = self.frames.last() else {
                return;
            };
            let Some(include) = frame.included else {
                // The checked domain's own directive goes into the outcome.
                let directive = match (frame.record, self.directives.get(frame.pos)) {
                    (Some(loaded), Some(stored)) => Some((loaded, stored)),
                    _ => None,
                };
                self.complete_frame(Verdict::from(qualifier), directive);
                return;
            };
            if qualifier != Qualifier::Pass {
                self.complete_frame(Verdict::from(qualifier), None);
                return;
            }
            self.pop_frame();
            qualifier = include;
        }
    }

    /// Removes the top frame and its directives.
    fn pop_frame(&mut self) -> Option<Frame> {
        let frame = self.frames.pop()?;
        self.directives.truncate(frame.base);
        Some(frame)
    }

    /// The top frame ended with `verdict`.
    fn complete_frame(&mut self, verdict: Verdict, mechanism: Option<Matched>) {
        let Some(frame) = self.pop_frame() else {
            return;
        };
        if let Some(qualifier) = frame.included {
            // RFC 7208 §5.2: include matches on pass; fail, softfail and neutral do not match.
            if verdict == Verdict::Pass {
                self.matched(qualifier);
            } else if let Some(parent) = self.frames.last_mut() {
                parent.pos = parent.pos.saturating_add(1);
            }
            return;
        }
        self.mechanism = mechanism;
        // RFC 7208 §6.2: the explanation of the record that gave fail (never of an included
        // record, and after redirect only the target's).
        if let (Verdict::Fail, Some(loaded)) = (verdict, frame.record)
            && loaded.exp.is_some()
        {
            self.explain = Some(Box::new(Explain {
                record: loaded,
                domain: frame.domain,
                written: frame.written,
                mechanism: self.mechanism.take(),
            }));
            return;
        }
        self.finish(verdict, None, None);
    }
}

/// The next piece of work: explanation, record fetch, one term, or the end of a record.
fn piece(
    frames: &FirstInline<Frame>,
    explain: Option<&Explain>,
    subject: &Subject,
    cur: &mut Cursor<'_>,
    directives: &mut InlineVec<Stored, INLINE_DIRECTIVES>,
) -> Result<Effect, Interrupt> {
    let cache = cur.cache;
    if let Some(explain) = explain {
        let spec = explain.record.exp.map_or("", |range| {
            spec_text(record_text(cache, explain.record), range)
        });
        // RFC 7208 §6.2: any error while getting the explanation means none is used.
        let written = written_or(explain.written.as_deref(), &explain.domain);
        return match explanation(subject, cur, spec, &explain.domain, written) {
            Ok(text) => Ok(Effect::Explained(text)),
            Err(Interrupt::Abort(..)) => Ok(Effect::Explained(None)),
            Err(need) => Err(need),
        };
    }
    let Some(frame) = frames.last() else {
        return Err(Interrupt::Abort(
            Verdict::PermError,
            "internal: no frame".to_owned(),
        ));
    };
    let Some(loaded) = frame.record else {
        directives.truncate(frame.base);
        return fetch_record(subject, cur, &frame.domain, frame.written(), directives);
    };
    let text = record_text(cache, loaded);
    let next = if frame.pos < loaded.end {
        directives.get(frame.pos)
    } else {
        None
    };
    let Some((qualifier, mechanism)) = next else {
        // RFC 7208 §6.1: redirect applies when no mechanism matched.
        return match loaded.redirect {
            // Counted when the record was loaded (see fetch_record).
            Some(range) => {
                let spec = spec_text(text, range);
                match target_written(subject, cur, spec, (&frame.domain, frame.written()))? {
                    (Some(target), written) => Ok(Effect::Redirect(target, written)),
                    (None, _) => Err(Interrupt::Abort(
                        Verdict::PermError,
                        "invalid redirect target".to_owned(),
                    )),
                }
            }
            None => Ok(Effect::Default),
        };
    };
    let mechanism = mechanism.map(|s| spec_text(text, s));
    evaluate_mechanism(subject, cur, qualifier, mechanism, frame)
}

/// The checked identity of a request: whether it is the HELO identity, and the local part and
/// domain to check (RFC 7208 §4.3: a missing local-part is "postmaster"; a null reverse-path
/// is postmaster@<HELO>).
fn sender<'r>(request: &Request<'r>) -> (bool, &'r str, &'r str) {
    if request.identity == Identity::Helo || request.mail_from.is_empty() {
        return (true, "postmaster", request.helo);
    }
    // A byte loop: cheaper than a pattern search on an address this short.
    let at = request.mail_from.bytes().rposition(|b| b == b'@');
    match at.and_then(|at| {
        Some((
            request.mail_from.get(..at)?,
            request.mail_from.get(at.saturating_add(1)..)?,
        ))
    }) {
        Some(("", domain)) => (false, "postmaster", domain),
        Some((local, domain)) => (false, local, domain),
        None => (false, "postmaster", request.mail_from),
    }
}

/// RFC 7208 §4.3: the domain must be a valid, multi-label name ending in a top label.
/// The name, and the domain as written (see [`name_and_written`]).
fn initial_domain(text: &str) -> Option<(Name, Option<Box<str>>)> {
    name_and_written(text).filter(|(name, _)| ends_in_top_label(name.as_str()))
}

/// Whether a checked name has more than one label and its last is a top label (RFC 7208
/// §4.3).
fn ends_in_top_label(name: &str) -> bool {
    name.bytes()
        .rposition(|b| b == b'.')
        .and_then(|dot| name.get(dot.saturating_add(1)..))
        .is_some_and(is_toplabel)
}

/// Fetches, selects and checks the SPF record of `domain` (RFC 7208 §4.4, §4.5).
fn fetch_record(
    subject: &Subject,
    cur: &mut Cursor<'_>,
    domain: &Name,
    written: &str,
    directives: &mut InlineVec<Stored, INLINE_DIRECTIVES>,
) -> Result<Effect, Interrupt> {
    let (entry, answer) = cur.lookup_entry(domain, RecordType::Txt, false)?;
    let records = match answer {
        Answer::TempFail => {
            return Ok(Effect::NoRecord(
                Verdict::TempError,
                format!("DNS error looking up the SPF record of {domain}"),
            ));
        }
        Answer::NxDomain | Answer::NoData => &[][..],
        Answer::Records(records) => &records[..],
    };
    let mut found = records.iter().enumerate().filter_map(|(index, r)| match r {
        DnsRecord::Txt(text) if is_spf_record(text) => Some((index, text)),
        _ => None,
    });
    let Some((index, text)) = found.next() else {
        return Ok(Effect::NoRecord(
            Verdict::None,
            format!("no SPF record at {domain}"),
        ));
    };
    if found.next().is_some() {
        return Ok(Effect::NoRecord(
            Verdict::PermError,
            format!("more than one SPF record at {domain}"),
        ));
    }
    // The whole record is checked before anything is evaluated (RFC 7208 §4.6); its
    // directives are kept with their domain-specs as ranges of the text. The scanner checks
    // bytes (printable ASCII first), so the text needs no UTF-8 check.
    let (mut out, mut scratch) = (core::mem::take(cur.out), core::mem::take(cur.scratch));
    let mut self_include = false;
    // The leading directives that need no DNS (`ip4`, `ip6`, `all`) and do not match are
    // evaluated as they are read, and not kept: evaluation starts at the first that matches
    // or needs DNS.
    let mut leading = true;
    let checked = scan_record(text, |_, term| {
        if let TermRef::Directive(qualifier, mechanism) = term {
            if let MechanismRef::Include(spec) = mechanism {
                let spec = text.get(spec.0..spec.1).unwrap_or_default();
                self_include =
                    self_include || includes_itself(subject, spec, written, &mut out, &mut scratch);
            }
            if leading {
                if local_match(subject.ip, mechanism) == Some(false) {
                    return;
                }
                leading = false;
            }
            directives.push((qualifier, mechanism.map(to_span)));
        }
    });
    (*cur.out, *cur.scratch) = (out, scratch);
    Ok(match checked {
        Ok(_) if self_include => Effect::NoRecord(
            Verdict::PermError,
            format!("include has trivial recursion in the SPF record of {domain}"),
        ),
        Ok(modifiers) => {
            // A `redirect=` counts against the DNS-term limit when its record is loaded,
            // whether or not a mechanism matches first: the reference implementation (pyspf)
            // counts it while reading the modifiers, before evaluating any mechanism.
            if modifiers.redirect.is_some() {
                cur.count_term()?;
            }
            // Answers and records are far fewer than `u32::MAX` (the cache grows by one
            // answer per query, at most a few dozen).
            Effect::Record(Loaded {
                entry: u32::try_from(entry).unwrap_or(u32::MAX),
                index: u32::try_from(index).unwrap_or(u32::MAX),
                redirect: modifiers.redirect.map(to_span),
                exp: modifiers.exp.map(to_span),
                end: directives.len(),
            })
        }
        Err(_) if core::str::from_utf8(text).is_err() => Effect::NoRecord(
            Verdict::PermError,
            format!("non-ASCII byte in the SPF record of {domain}"),
        ),
        Err(problem) => Effect::NoRecord(
            Verdict::PermError,
            format!("{problem} in the SPF record of {domain}"),
        ),
    })
}

/// Whether an `include` of the record of the domain written as `written` targets that very
/// text (without `%{p}`, which would need DNS): a certain loop that the reference
/// implementation (pyspf) reports as permerror before evaluating anything, even when an
/// earlier mechanism would match. Like pyspf, it compares the texts exactly, but for a
/// trailing dot: a target that differs in case is evaluated in its turn, and then loops until
/// a processing limit (RFC 7208 §4.6.4) ends the check, unless an earlier mechanism matched.
fn includes_itself(
    subject: &Subject,
    spec: &[u8],
    written: &str,
    out: &mut String,
    scratch: &mut String,
) -> bool {
    let expanded = if find_byte(spec, b'%').is_some() {
        let Ok(spec) = core::str::from_utf8(spec) else {
            return false;
        };
        out.clear();
        let ctx = subject.macro_context(written, None);
        if expand_text(spec, false, &ctx, true, out, scratch).is_err() {
            return false;
        }
        out.as_bytes()
    } else {
        spec
    };
    expanded.strip_suffix(b".").unwrap_or(expanded) == written.as_bytes()
}

/// The validated domain name of the client (RFC 7208 §5.5, §7.3 `%{p}`): a PTR name whose
/// address lookup gives the client back, preferring `domain` itself, then a subdomain of it.
fn validated_names(subject: &Subject, cur: &mut Cursor<'_>) -> Result<Vec<Name>, Interrupt> {
    let Some(reverse) = subject.reverse_name() else {
        return Ok(Vec::new());
    };
    // RFC 7208 §5.5 says a DNS error on the PTR lookup means no match and one on an address
    // lookup skips that name; the reference implementation (pyspf) returns temperror for
    // both, and so do we, as for DNS errors everywhere else in check_host().
    let names: Vec<Name> = match cur.lookup(&reverse, RecordType::Ptr, true)? {
        Answer::TempFail => return Err(temperror("PTR records", &reverse)),
        Answer::Records(records) => records
            .iter()
            .filter_map(|r| match r {
                DnsRecord::Ptr(name) => Some(name.clone()),
                _ => None,
            })
            .take(MAX_PTR_NAMES)
            .collect(),
        _ => return Ok(Vec::new()),
    };
    let mut validated = Vec::new();
    for name in names {
        match cur.lookup(&name, subject.address_type(), true)? {
            Answer::TempFail => return Err(temperror("addresses", &name)),
            Answer::Records(records) if records.iter().any(|r| subject.is_client(r)) => {
                validated.push(name);
            }
            _ => {}
        }
    }
    Ok(validated)
}

fn choose_validated(validated: &[Name], domain: &Name) -> Option<String> {
    validated
        .iter()
        .find(|n| *n == domain)
        .or_else(|| validated.iter().find(|n| n.is_subdomain_of(domain)))
        .or_else(|| validated.first())
        .map(|n| n.as_str().to_owned())
}

/// Expands checked macro text (`exp`: explanation text) into `out`, looking up `%{p}` first
/// when it is used.
fn expand(
    subject: &Subject,
    cur: &mut Cursor<'_>,
    spec: &str,
    exp: bool,
    (domain, written): (&Name, &str),
    out: &mut String,
) -> Result<(), Interrupt> {
    let start = out.len();
    let ctx = subject.macro_context(written, None);
    if expand_text(spec, exp, &ctx, true, out, cur.scratch) == Err(NeedValidated) {
        // `%{p}`: look the name up, then start again.
        out.truncate(start);
        let validated = choose_validated(&validated_names(subject, cur)?, domain);
        let ctx = subject.macro_context(written, validated.as_deref());
        let _ = expand_text(spec, exp, &ctx, false, out, cur.scratch);
    }
    Ok(())
}

/// An expanded domain-spec as a name to query: a trailing dot dropped, labels removed on
/// the left beyond [`MAX_EXPANDED_DOMAIN`] (RFC 7208 §7.3). `None` if it is no valid name.
fn name_from_expanded(text: &str) -> Option<Name> {
    Name::new(shortened(text)?).ok()
}

/// An expanded domain-spec without its trailing dot, and without its leftmost labels while it
/// is longer than [`MAX_EXPANDED_DOMAIN`]; `None` if no dot is left to cut at.
fn shortened(text: &str) -> Option<&str> {
    let mut text = text.strip_suffix('.').unwrap_or(text);
    while text.len() > MAX_EXPANDED_DOMAIN {
        let dot = text.find('.')?;
        text = text.get(dot.saturating_add(1)..)?;
    }
    Some(text)
}

/// Expands a domain-spec (checked macro text) into a name to query (see
/// [`name_from_expanded`]); the expansion goes to the evaluator's reused buffer.
fn target_name(
    subject: &Subject,
    cur: &mut Cursor<'_>,
    spec: &str,
    domain: &Name,
) -> Result<Option<Name>, Interrupt> {
    // Most domain-specs are plain names: their expansion is themselves.
    if !has_percent(spec) {
        return Ok(name_from_expanded(spec));
    }
    let key = (spec.as_ptr().addr(), spec.len());
    if let Some(memo) = cur.memo.0.as_ref()
        && memo.spec == key
        && memo.domain == *domain
    {
        let (target, voids) = (memo.target.clone(), memo.voids);
        for _ in 0..voids {
            cur.count_void()?;
        }
        return Ok(target);
    }
    let voids_before = cur.voids;
    let mut out = core::mem::take(cur.out);
    out.clear();
    if out.capacity() == 0 {
        out = String::with_capacity(128);
    }
    let expanded = expand(
        subject,
        cur,
        spec,
        false,
        (domain, domain.as_str()),
        &mut out,
    );
    let name = expanded.map(|()| name_from_expanded(&out));
    *cur.out = out;
    if let Ok(target) = &name {
        cur.memo.0 = Some(Memo {
            spec: key,
            domain: domain.clone(),
            target: target.clone(),
            voids: cur.voids.saturating_sub(voids_before),
        });
    }
    name
}

/// [`target_name`] for an `include` or a `redirect=` of the record of `domain` (written as
/// `written`), with the target as written (see [`name_and_written`]): the domain of the
/// target's record, for its `%{d}` and its own `include`s. A domain-spec with macros is
/// expanded with `%{d}` as written, and without the memo of [`target_name`]: the piece that
/// reads it ends at once, so the memo would not be used (a `%{p}` that needs a lookup is
/// expanded again when the answer is in, and counted again).
fn target_written(
    subject: &Subject,
    cur: &mut Cursor<'_>,
    spec: &str,
    (domain, written): (&Name, &str),
) -> Result<(Option<Name>, Option<Box<str>>), Interrupt> {
    let split = |target: Option<(Name, Option<Box<str>>)>| {
        target.map_or((None, None), |(name, as_written)| (Some(name), as_written))
    };
    if !has_percent(spec) {
        return Ok(split(shortened(spec).and_then(name_and_written)));
    }
    let mut out = core::mem::take(cur.out);
    out.clear();
    let expanded = expand(subject, cur, spec, false, (domain, written), &mut out);
    let target = expanded.map(|()| split(shortened(&out).and_then(name_and_written)));
    *cur.out = out;
    target
}

/// `text` as a name, and as the domain as written when that differs from the name other than
/// by a trailing dot (when it has upper-case letters; `None` otherwise). That is the
/// `<domain>` of RFC 7208 §4.1 as given, which `%{d}` gives in explanations (as `%{o}` keeps
/// the sender's case) and which the reference implementation (pyspf) compares exactly (see
/// [`includes_itself`]).
fn name_and_written(text: &str) -> Option<(Name, Option<Box<str>>)> {
    let (name, upper) = Name::new_with_case(text).ok()?;
    let written = upper.then(|| Box::from(text.strip_suffix('.').unwrap_or(text)));
    Some((name, written))
}

/// The domain as written when given (see [`name_and_written`]), else the name's text.
fn written_or<'a>(written: Option<&'a str>, name: &'a Name) -> &'a str {
    written.unwrap_or_else(|| name.as_str())
}

fn target_or_current(
    subject: &Subject,
    cur: &mut Cursor<'_>,
    spec: Option<&str>,
    domain: &Name,
) -> Result<Option<Name>, Interrupt> {
    match spec {
        Some(spec) => target_name(subject, cur, spec, domain),
        None => Ok(Some(domain.clone())),
    }
}

fn temperror(what: &str, name: &Name) -> Interrupt {
    Interrupt::Abort(
        Verdict::TempError,
        format!("DNS error looking up {what} of {name}"),
    )
}

/// Evaluates one directive (RFC 7208 §5): `Match`, `Include` or `NoMatch`.
fn evaluate_mechanism(
    subject: &Subject,
    cur: &mut Cursor<'_>,
    qualifier: Qualifier,
    mech: MechanismRef<&str>,
    frame: &Frame,
) -> Result<Effect, Interrupt> {
    let domain = &frame.domain;
    let matched = |m: bool| {
        if m {
            Effect::Match(qualifier)
        } else {
            Effect::NoMatch
        }
    };
    if mech.queries_dns() {
        cur.count_term()?;
    }
    match mech {
        MechanismRef::All | MechanismRef::Ip4(..) | MechanismRef::Ip6(..) => {
            Ok(matched(local_match(subject.ip, mech).unwrap_or(false)))
        }
        MechanismRef::Include(spec) => {
            match target_written(subject, cur, spec, (domain, frame.written()))? {
                // The included record is fetched and evaluated by a new frame (RFC 7208 §5.2).
                (Some(target), written) => Ok(Effect::Include(target, written, qualifier)),
                (None, _) => Err(Interrupt::Abort(
                    Verdict::PermError,
                    "invalid include target".to_owned(),
                )),
            }
        }
        MechanismRef::A(spec, cidr) => {
            let Some(target) = target_or_current(subject, cur, spec, domain)? else {
                return Ok(Effect::NoMatch);
            };
            match cur.lookup(&target, subject.address_type(), true)? {
                Answer::TempFail => Err(temperror("addresses", &target)),
                answer => Ok(matched(
                    answer.records().iter().any(|r| subject.matches(r, cidr)),
                )),
            }
        }
        MechanismRef::Mx(spec, cidr) => {
            let Some(target) = target_or_current(subject, cur, spec, domain)? else {
                return Ok(Effect::NoMatch);
            };
            let mut exchanges: Vec<(u16, Option<&Name>)> =
                match cur.lookup(&target, RecordType::Mx, true)? {
                    Answer::TempFail => return Err(temperror("MX", &target)),
                    answer => answer
                        .records()
                        .iter()
                        .filter_map(|r| match r {
                            DnsRecord::Mx {
                                preference,
                                exchange,
                            } => Some((*preference, exchange.as_ref())),
                            _ => None,
                        })
                        .collect(),
                };
            // In preference order, as mail would go, and by name among equals: the order in
            // which the reference implementation looks them up, which decides which error or
            // void lookup comes first, whatever the order of the records in the answer.
            exchanges
                .sort_unstable_by_key(|&(preference, name)| (preference, name.map(Name::as_str)));
            if exchanges.len() > MAX_MX_NAMES {
                return Err(Interrupt::Abort(
                    Verdict::PermError,
                    format!("more than {MAX_MX_NAMES} MX records at {target}"),
                ));
            }
            // All exchanges are looked up before matching, as the reference implementation
            // does, so that limits and errors do not depend on record order.
            let mut any = false;
            for exchange in exchanges.iter().filter_map(|(_, e)| *e) {
                match cur.lookup(exchange, subject.address_type(), true)? {
                    Answer::TempFail => return Err(temperror("addresses", exchange)),
                    answer => any |= answer.records().iter().any(|r| subject.matches(r, cidr)),
                }
            }
            Ok(matched(any))
        }
        MechanismRef::Ptr(spec) => {
            let Some(target) = target_or_current(subject, cur, spec, domain)? else {
                return Ok(Effect::NoMatch);
            };
            let validated = validated_names(subject, cur)?;
            Ok(matched(
                validated.iter().any(|n| n.is_subdomain_of(&target)),
            ))
        }
        MechanismRef::Exists(spec) => {
            let Some(target) = target_name(subject, cur, spec, domain)? else {
                return Ok(Effect::NoMatch);
            };
            // RFC 7208 §5.7: always an A lookup, whatever the client's address family.
            match cur.lookup(&target, RecordType::A, true)? {
                Answer::TempFail => Err(temperror("A records", &target)),
                answer => Ok(matched(!answer.records().is_empty())),
            }
        }
    }
}

/// The explanation text of a fail (RFC 7208 §6.2); `None` when it cannot be used.
fn explanation(
    subject: &Subject,
    cur: &mut Cursor<'_>,
    spec: &str,
    domain: &Name,
    written: &str,
) -> Result<Option<String>, Interrupt> {
    let Some(target) = target_name(subject, cur, spec, domain)? else {
        return Ok(None);
    };
    let text = match cur.lookup(&target, RecordType::Txt, false)? {
        Answer::Records(records) => match &records[..] {
            [DnsRecord::Txt(text)] => text,
            _ => return Ok(None),
        },
        _ => return Ok(None),
    };
    let Ok(text) = core::str::from_utf8(text) else {
        return Ok(None);
    };
    if check_macro_text(text, true, 0).is_err() {
        return Ok(None);
    }
    let mut out = String::with_capacity(text.len());
    expand(subject, cur, text, true, (domain, written), &mut out)?;
    Ok(Some(out))
}

/// Runs a whole check, answering queries with `resolve` (a blocking helper over the
/// [`Evaluator`] step loop).
///
/// ```
/// use postern_dns::{Answer, Record, RecordType};
/// use postern_spf::{evaluate_with, Options, Request, Verdict};
///
/// let request = Request::mail_from("203.0.113.9".parse().unwrap(), "bob@example.org", "mx.example.org");
/// let outcome = evaluate_with(&request, &Options::default(), |query| {
///     match (query.name().as_str(), query.rtype()) {
///         ("example.org", RecordType::Txt) => {
///             Answer::Records(vec![Record::Txt(b"v=spf1 mx -all exp=why.example.org".to_vec())].into())
///         }
///         ("example.org", RecordType::Mx) => Answer::NoData,
///         ("why.example.org", RecordType::Txt) => {
///             Answer::Records(vec![Record::Txt(b"%{i} may not send for %{d}".to_vec())].into())
///         }
///         _ => Answer::NxDomain,
///     }
/// });
/// assert_eq!(outcome.verdict, Verdict::Fail);
/// assert_eq!(outcome.explanation.as_deref(), Some("203.0.113.9 may not send for example.org"));
/// assert_eq!((outcome.dns_lookups, outcome.void_lookups), (1, 1));
/// ```
pub fn evaluate_with<F>(request: &Request<'_>, options: &Options, mut resolve: F) -> Outcome
where
    F: FnMut(&Query) -> Answer,
{
    let mut eval = Evaluator::new(request, options);
    loop {
        match eval.step() {
            Step::Lookup(query) => {
                let answer = resolve(&query);
                // The id is the pending one, so this cannot fail.
                let _ = eval.supply(query.id(), answer);
            }
            Step::Done(outcome) => return outcome,
        }
    }
}

#[cfg(test)]
mod tests {
    use postern_dns::Zone;

    use super::*;

    fn zone(json: &str) -> Zone {
        Zone::from_json(json).unwrap()
    }

    fn check(zone: &Zone, ip: &str, mail_from: &str, options: &Options) -> Outcome {
        let request = Request::mail_from(ip.parse().unwrap(), mail_from, "helo.example.org");
        evaluate_with(&request, options, |q| zone.resolve(q))
    }

    #[test]
    fn zero_prefixes_match_everything_without_overflow() {
        let z = zone(
            r#"{"example.com": [{"type": "TXT", "value": "v=spf1 ip4:10.0.0.0/0 ip6:2001:db8::/0 -all"}]}"#,
        );
        for ip in [
            "203.0.113.9",
            "2001:db8:ffff::1",
            "::1",
            "::ffff:198.51.100.1",
        ] {
            let o = check(&z, ip, "a@example.com", &Options::default());
            assert_eq!(o.verdict, Verdict::Pass, "{ip}");
        }
        let z = zone(
            r#"{"example.com": [{"type": "TXT", "value": "v=spf1 a/0//0 -all"}, {"type": "A", "value": "10.0.0.1"}, {"type": "AAAA", "value": "::2"}]}"#,
        );
        assert_eq!(
            check(&z, "192.0.2.1", "a@example.com", &Options::default()).verdict,
            Verdict::Pass
        );
        assert_eq!(
            check(&z, "2001:db8::1", "a@example.com", &Options::default()).verdict,
            Verdict::Pass
        );
    }

    #[test]
    fn ipv4_mapped_clients_are_ipv4() {
        let z = zone(
            r#"{"example.com": [{"type": "TXT", "value": "v=spf1 ip6:::ffff:0:0/96 ip4:192.0.2.0/24 -all"}]}"#,
        );
        let o = check(
            &z,
            "::ffff:192.0.2.10",
            "a@example.com",
            &Options::default(),
        );
        assert_eq!(o.verdict, Verdict::Pass);
        assert_eq!(o.mechanism().unwrap().to_string(), "ip4:192.0.2.0/24");
        assert_eq!(o.ip, "192.0.2.10".parse::<IpAddr>().unwrap());
    }

    #[test]
    fn void_lookups_of_a_p_macro_count_whatever_the_term_order() {
        // No PTR record: `%{p}` costs one void PTR lookup, and `unknown.a.example.com` and
        // `v1.example.com` have no address: three void lookups in each order, one too many.
        for (record, voids_at_end) in [
            ("exists:%{p}.a.example.com a:v1.example.com +all", 3),
            (
                "a:%{p}.a.example.com a:known.example.com a:v1.example.com +all",
                3,
            ),
            (
                "a:known.example.com a:%{p}.a.example.com a:v1.example.com +all",
                3,
            ),
            ("mx:%{p}.a.example.com a:v1.example.com +all", 3),
            ("exists:%{p}.a.example.com +all", 2),
        ] {
            let z = zone(&format!(
                r#"{{"email.example.com": [{{"type": "TXT", "value": "v=spf1 {record}"}}],
                    "known.example.com": [{{"type": "A", "value": "127.0.0.1"}}]}}"#
            ));
            let o = check(&z, "192.0.2.3", "x@email.example.com", &Options::default());
            let expected = if voids_at_end > 2 {
                Verdict::PermError
            } else {
                Verdict::Pass
            };
            assert_eq!(
                (o.verdict, o.void_lookups),
                (expected, voids_at_end),
                "{record}"
            );
        }
    }

    #[test]
    fn mx_hosts_are_looked_up_by_preference_then_name_whatever_the_answer_order() {
        // Two void lookups before `mx`; then `a.example.com` (no address: the third void
        // lookup, permerror) and `b.example.com` (timeout, temperror) at the same preference.
        // The reference implementation looks them up as sorted by (preference, name), so the
        // void limit comes first in every order of the records.
        let mxs = [
            r#"{"type": "MX", "value": [10, "b.example.com"]}"#,
            r#"{"type": "MX", "value": [20, "b.example.com"]}"#,
            r#"{"type": "MX", "value": [10, "a.example.com"]}"#,
        ];
        for order in [[0, 1, 2], [2, 1, 0], [1, 0, 2]] {
            let records = order.map(|i| mxs[i]).join(", ");
            let z = zone(&format!(
                r#"{{"email.example.com": [{{"type": "TXT", "value": "v=spf1 a:v1.example.com a:v2.example.com mx:m.example.com +all"}}],
                    "m.example.com": [{records}],
                    "b.example.com": [{{"type": "TIMEOUT"}}]}}"#
            ));
            let o = check(&z, "192.0.2.3", "x@email.example.com", &Options::default());
            assert_eq!(
                (o.verdict, o.void_lookups),
                (Verdict::PermError, 3),
                "{records}"
            );
        }
    }

    #[test]
    fn d_macro_keeps_the_domain_as_written_like_o() {
        let z = zone(
            r#"{"email.example.com": [{"type": "TXT", "value": "v=spf1 -all exp=e.example.com"}],
                "r.example.com": [{"type": "TXT", "value": "v=spf1 redirect=Other.Example.COM"}],
                "other.example.com": [{"type": "TXT", "value": "v=spf1 -all exp=e.example.com"}],
                "e.example.com": [{"type": "TXT", "value": "o=%{o} d=%{d} d1=%{d1}"}]}"#,
        );
        let o = check(&z, "192.0.2.3", "x@EMAIL.Example.COM", &Options::default());
        assert_eq!(
            o.explanation.as_deref(),
            Some("o=EMAIL.Example.COM d=EMAIL.Example.COM d1=COM")
        );
        // After a redirect, `%{d}` is the target as the record wrote it.
        let o = check(&z, "192.0.2.3", "x@r.example.com", &Options::default());
        assert_eq!(
            o.explanation.as_deref(),
            Some("o=r.example.com d=Other.Example.COM d1=COM")
        );
    }

    #[test]
    fn an_include_of_the_domain_itself_is_permerror_only_when_written_the_same() {
        let z = zone(
            r#"{"email.example.com": [{"type": "TXT", "value": "v=spf1 ip4:192.0.2.3 include:email.example.com. -all"}]}"#,
        );
        let o = check(&z, "192.0.2.3", "x@email.example.com", &Options::default());
        assert_eq!(o.verdict, Verdict::PermError);
        // Written otherwise, it is evaluated in order: the ip4 before it matches.
        let o = check(&z, "192.0.2.3", "x@EMAIL.example.com", &Options::default());
        assert_eq!(o.verdict, Verdict::Pass);
        // When nothing matches first, the included record, reached as `email.example.com`,
        // includes itself as written: permerror there.
        let o = check(&z, "192.0.2.4", "x@EMAIL.example.com", &Options::default());
        assert_eq!((o.verdict, o.dns_lookups), (Verdict::PermError, 1));
    }

    #[test]
    fn limits() {
        // Eleven DNS-querying terms.
        let z = zone(
            r#"{"example.com": [{"type": "TXT", "value": "v=spf1 a a a a a a a a a a a -all"}, {"type": "A", "value": "10.0.0.1"}]}"#,
        );
        let o = check(&z, "192.0.2.1", "a@example.com", &Options::default());
        assert_eq!((o.verdict, o.dns_lookups), (Verdict::PermError, 11));
        // Void lookups, configurable.
        let z = zone(
            r#"{"example.com": [{"type": "TXT", "value": "v=spf1 a:x1.example.com a:x2.example.com a:x3.example.com ~all"}]}"#,
        );
        assert_eq!(
            check(&z, "192.0.2.1", "a@example.com", &Options::default()).verdict,
            Verdict::PermError
        );
        let relaxed = Options::default().with_max_void_lookups(3);
        let o = check(&z, "192.0.2.1", "a@example.com", &relaxed);
        assert_eq!((o.verdict, o.void_lookups), (Verdict::SoftFail, 3));
        let strict = Options::default().with_max_void_lookups(0);
        assert_eq!(
            check(&z, "192.0.2.1", "a@example.com", &strict).verdict,
            Verdict::PermError
        );
    }

    #[test]
    fn step_contract() {
        let z = zone(r#"{"example.com": [{"type": "TXT", "value": "v=spf1 mx -all"}]}"#);
        let request =
            Request::mail_from("192.0.2.1".parse().unwrap(), "a@example.com", "h.example");
        let mut eval = Evaluator::new(&request, &Options::default());
        let Step::Lookup(first) = eval.step() else {
            panic!("expected a lookup")
        };
        // Asking again gives the same pending query.
        assert_eq!(eval.step(), Step::Lookup(first.clone()));
        assert_eq!(eval.pending(), Some(&first));
        assert_eq!(
            eval.supply(first.id().wrapping_add(7), Answer::NxDomain),
            Err(Error::UnexpectedAnswer {
                id: first.id().wrapping_add(7)
            })
        );
        eval.supply(first.id(), z.resolve(&first)).unwrap();
        assert_eq!(
            eval.supply(first.id(), Answer::NxDomain),
            Err(Error::UnexpectedAnswer { id: first.id() })
        );
        let Step::Lookup(mx) = eval.step() else {
            panic!("expected the MX lookup")
        };
        assert_eq!(
            (mx.name().as_str(), mx.rtype()),
            ("example.com", RecordType::Mx)
        );
        // A raw packet: the query itself with QR set is an empty answer (NODATA).
        let mut packet = mx.to_wire(0x4242).unwrap();
        assert!(matches!(
            eval.supply_wire(mx.id(), &packet),
            Err(Error::Dns { .. })
        ));
        assert_eq!(
            eval.pending(),
            Some(&mx),
            "a rejected packet leaves the query pending"
        );
        packet[2] |= 0x80;
        eval.supply_wire(mx.id(), &packet).unwrap();
        let Step::Done(outcome) = eval.step() else {
            panic!("expected the outcome")
        };
        assert_eq!(
            (outcome.verdict, outcome.void_lookups, outcome.queries),
            (Verdict::Fail, 1, 2)
        );
        assert_eq!(eval.step(), Step::Done(outcome));
    }

    #[test]
    fn explanation_only_on_fail_and_only_from_the_top_record() {
        let z = zone(
            r#"{
            "example.com": [{"type": "TXT", "value": "v=spf1 include:inc.example.com ?ip4:192.0.2.9 -all exp=why.example.com"}],
            "inc.example.com": [{"type": "TXT", "value": "v=spf1 -all exp=other.example.com"}],
            "why.example.com": [{"type": "TXT", "value": "%{i} not allowed by %{d}"}],
            "other.example.com": [{"type": "TXT", "value": "never shown"}]
        }"#,
        );
        let o = check(&z, "192.0.2.1", "a@example.com", &Options::default());
        assert_eq!(o.verdict, Verdict::Fail);
        assert_eq!(
            o.explanation.as_deref(),
            Some("192.0.2.1 not allowed by example.com")
        );
        let o = check(&z, "192.0.2.9", "a@example.com", &Options::default());
        assert_eq!((o.verdict, o.explanation), (Verdict::Neutral, None));
    }

    #[test]
    fn a_clone_taken_at_any_step_finishes_like_the_original() {
        let z = zone(
            r#"{
            "example.com": [{"type": "TXT", "value": "v=spf1 exists:%{ir}.%{l1r+-}._spf.%{d} include:inc.%{d2} -all"}],
            "inc.example.com": [{"type": "TXT", "value": "v=spf1 a:%{l}.x.%{d} ip4:192.0.2.0/24 -all"}]
        }"#,
        );
        let request = Request::mail_from(
            "192.0.2.77".parse().unwrap(),
            "carol+lists@example.com",
            "h.example",
        );
        let whole = evaluate_with(&request, &Options::default(), |q| z.resolve(q));
        assert_eq!(whole.verdict, Verdict::Pass);
        assert_eq!(whole.mechanism().unwrap().to_string(), "include:inc.%{d2}");
        // Clone before each step (with the expansion memo of a rerun piece) and finish both.
        for stop in 0..8 {
            let mut eval = Evaluator::new(&request, &Options::default());
            for _ in 0..stop {
                if let Step::Lookup(q) = eval.step() {
                    eval.supply(q.id(), z.resolve(&q)).unwrap();
                }
            }
            let mut twin = eval.clone();
            for e in [&mut eval, &mut twin] {
                let outcome = loop {
                    match e.step() {
                        Step::Lookup(q) => e.supply(q.id(), z.resolve(&q)).unwrap(),
                        Step::Done(outcome) => break outcome,
                    }
                };
                assert_eq!(outcome, whole, "stop {stop}");
            }
        }
    }

    #[test]
    fn malformed_domains_are_none_without_lookups() {
        let z = Zone::new();
        for from in [
            "a@single",
            "a@[192.0.2.1]",
            "a@x..example.com",
            "a@example.123",
        ] {
            let o = check(&z, "192.0.2.1", from, &Options::default());
            assert_eq!((o.verdict, o.queries), (Verdict::None, 0), "{from}");
        }
    }
}
