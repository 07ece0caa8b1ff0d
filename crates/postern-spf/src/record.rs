//! SPF records (RFC 7208 §4.5, §4.6, §5, §6): parsing with positions, canonical printing.

use core::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

use crate::error::{Error, SyntaxProblem};
use crate::macros::{MacroString, Piece, check_macro_text, is_domain_end};

/// The result a directive gives when its mechanism matches (RFC 7208 §4.6.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Qualifier {
    /// `+` (or none): pass.
    Pass,
    /// `-`: fail.
    Fail,
    /// `~`: softfail.
    SoftFail,
    /// `?`: neutral.
    Neutral,
}

impl Qualifier {
    /// The prefix character; empty for `Pass` in canonical form.
    pub const fn prefix(self) -> &'static str {
        match self {
            Self::Pass => "",
            Self::Fail => "-",
            Self::SoftFail => "~",
            Self::Neutral => "?",
        }
    }
}

/// Optional CIDR prefix lengths of `a` and `mx` (RFC 7208 §5.6 `dual-cidr-length`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct DualCidr {
    /// `/n` for IPv4 clients (0-32); none means 32.
    pub v4: Option<u8>,
    /// `//n` for IPv6 clients (0-128); none means 128.
    pub v6: Option<u8>,
}

/// A mechanism (RFC 7208 §5).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Mechanism {
    /// `all`: always matches.
    All,
    /// `include:<domain-spec>`: matches if the other domain's check gives pass.
    Include(MacroString),
    /// `a[:<domain-spec>][cidr]`: the client is one of the domain's addresses.
    A {
        /// Target domain; none means the current domain.
        domain: Option<MacroString>,
        /// Prefix lengths.
        cidr: DualCidr,
    },
    /// `mx[:<domain-spec>][cidr]`: the client is one of the domain's mail exchangers.
    Mx {
        /// Target domain; none means the current domain.
        domain: Option<MacroString>,
        /// Prefix lengths.
        cidr: DualCidr,
    },
    /// `ptr[:<domain-spec>]`: the client's validated name is in the domain (deprecated).
    Ptr(Option<MacroString>),
    /// `ip4:<network>[/<len>]`.
    Ip4 {
        /// The network address as written.
        network: Ipv4Addr,
        /// Prefix length; none means 32.
        prefix: Option<u8>,
    },
    /// `ip6:<network>[/<len>]`.
    Ip6 {
        /// The network address as written.
        network: Ipv6Addr,
        /// Prefix length; none means 128.
        prefix: Option<u8>,
    },
    /// `exists:<domain-spec>`: the domain has an A record.
    Exists(MacroString),
}

impl Mechanism {
    /// Whether evaluating this mechanism queries DNS and so counts against
    /// [`MAX_DNS_TERMS`](crate::MAX_DNS_TERMS) (RFC 7208 §4.6.4).
    pub fn queries_dns(&self) -> bool {
        !matches!(self, Self::All | Self::Ip4 { .. } | Self::Ip6 { .. })
    }
}

/// A qualified mechanism.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Directive {
    /// The result on a match.
    pub qualifier: Qualifier,
    /// What to match.
    pub mechanism: Mechanism,
}

/// A modifier (RFC 7208 §6).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Modifier {
    /// `redirect=<domain-spec>`.
    Redirect(MacroString),
    /// `exp=<domain-spec>`.
    Exp(MacroString),
    /// Any other `name=value`; ignored by evaluation (RFC 7208 §6).
    Unknown {
        /// The name as written.
        name: String,
        /// The value.
        value: MacroString,
    },
}

/// One space-separated term of a record.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Term {
    /// A mechanism with its qualifier.
    Directive(Directive),
    /// A modifier.
    Modifier(Modifier),
}

/// A parsed SPF record: a reusable value that callers may cache, printing back to canonical
/// text (`parse(record.to_string()) == record`).
///
/// ```
/// use postern_spf::Record;
/// let record = Record::parse("v=spf1 +MX A:mail.example.com/24//64 ~ALL exp=why.%{d}")?;
/// assert_eq!(record.to_string(), "v=spf1 mx a:mail.example.com/24//64 ~all exp=why.%{d}");
/// assert_eq!(Record::parse(&record.to_string())?, record);
///
/// let err = Record::parse("v=spf1 ip4:192.0.2.0/33 -all").unwrap_err();
/// assert_eq!(err.to_string(), "SPF syntax error at offset 20: bad CIDR length");
/// # Ok::<(), postern_spf::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Record {
    pub(crate) terms: Vec<Term>,
}

/// Length of `v=spf1`, after which the terms start.
pub(crate) const VERSION_LEN: usize = 6;

/// Whether `text` is an SPF version 1 record: `v=spf1` followed by a space or the end
/// (RFC 7208 §4.5), compared case-insensitively.
pub fn is_spf_record(text: &[u8]) -> bool {
    text.get(..6)
        .is_some_and(|v| v.eq_ignore_ascii_case(b"v=spf1"))
        && text.get(6).is_none_or(|&b| b == b' ')
}

impl Record {
    /// Parses a whole record, `v=spf1` included.
    ///
    /// # Errors
    /// [`Error::Syntax`] with the byte offset of the first problem. During evaluation any such
    /// error makes the result permerror (RFC 7208 §4.6).
    pub fn parse(text: &str) -> Result<Self, Error> {
        let mut terms = Vec::with_capacity(8);
        scan_record(text, |_, term| terms.push(term.to_owned_term()))?;
        Ok(Self { terms })
    }

    /// All terms in order.
    pub fn terms(&self) -> &[Term] {
        &self.terms
    }

    /// The directives in order.
    pub fn directives(&self) -> impl Iterator<Item = &Directive> {
        self.terms.iter().filter_map(|t| match t {
            Term::Directive(d) => Some(d),
            Term::Modifier(_) => None,
        })
    }

    /// The `redirect=` domain-spec, if any.
    pub fn redirect(&self) -> Option<&MacroString> {
        self.terms.iter().find_map(|t| match t {
            Term::Modifier(Modifier::Redirect(d)) => Some(d),
            _ => None,
        })
    }

    /// The `exp=` domain-spec, if any.
    pub fn exp(&self) -> Option<&MacroString> {
        self.terms.iter().find_map(|t| match t {
            Term::Modifier(Modifier::Exp(d)) => Some(d),
            _ => None,
        })
    }
}

/// A mechanism as written, its domain-specs as `S`: text borrowed from the record (`&str`)
/// or its byte range (`Span`), the allocation-free forms the evaluator works on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MechanismRef<S> {
    All,
    Include(S),
    A(Option<S>, DualCidr),
    Mx(Option<S>, DualCidr),
    Ptr(Option<S>),
    Ip4(Ipv4Addr, Option<u8>),
    Ip6(Ipv6Addr, Option<u8>),
    Exists(S),
}

/// A byte range of record text.
pub(crate) type Span = (u32, u32);

impl<S> MechanismRef<S> {
    /// As [`Mechanism::queries_dns`].
    pub(crate) fn queries_dns(&self) -> bool {
        !matches!(self, Self::All | Self::Ip4(..) | Self::Ip6(..))
    }

    /// The same mechanism with each domain-spec mapped by `f`.
    pub(crate) fn map<T>(self, mut f: impl FnMut(S) -> T) -> MechanismRef<T> {
        match self {
            Self::All => MechanismRef::All,
            Self::Include(d) => MechanismRef::Include(f(d)),
            Self::A(d, cidr) => MechanismRef::A(d.map(f), cidr),
            Self::Mx(d, cidr) => MechanismRef::Mx(d.map(f), cidr),
            Self::Ptr(d) => MechanismRef::Ptr(d.map(f)),
            Self::Ip4(network, prefix) => MechanismRef::Ip4(network, prefix),
            Self::Ip6(network, prefix) => MechanismRef::Ip6(network, prefix),
            Self::Exists(d) => MechanismRef::Exists(f(d)),
        }
    }
}

impl MechanismRef<&str> {
    pub(crate) fn to_owned_mechanism(self) -> Mechanism {
        let spec = |s: &str| MacroString::from_checked(s);
        match self {
            Self::All => Mechanism::All,
            Self::Include(d) => Mechanism::Include(spec(d)),
            Self::A(domain, cidr) => Mechanism::A {
                domain: domain.map(spec),
                cidr,
            },
            Self::Mx(domain, cidr) => Mechanism::Mx {
                domain: domain.map(spec),
                cidr,
            },
            Self::Ptr(domain) => Mechanism::Ptr(domain.map(spec)),
            Self::Ip4(network, prefix) => Mechanism::Ip4 { network, prefix },
            Self::Ip6(network, prefix) => Mechanism::Ip6 { network, prefix },
            Self::Exists(d) => Mechanism::Exists(spec(d)),
        }
    }
}

/// A term as written, borrowing the record text (already checked).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TermRef<'a> {
    Directive(Qualifier, MechanismRef<&'a str>),
    Redirect(&'a str),
    Exp(&'a str),
    Unknown { name: &'a str, value: &'a str },
}

impl TermRef<'_> {
    pub(crate) fn to_owned_term(self) -> Term {
        match self {
            Self::Directive(qualifier, mechanism) => Term::Directive(Directive {
                qualifier,
                mechanism: mechanism.to_owned_mechanism(),
            }),
            Self::Redirect(d) => Term::Modifier(Modifier::Redirect(MacroString::from_checked(d))),
            Self::Exp(d) => Term::Modifier(Modifier::Exp(MacroString::from_checked(d))),
            Self::Unknown { name, value } => Term::Modifier(Modifier::Unknown {
                name: name.to_owned(),
                value: MacroString::from_checked(value),
            }),
        }
    }
}

/// Where the `redirect=` and `exp=` values of a checked record are (byte ranges).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Modifiers {
    pub(crate) redirect: Option<(usize, usize)>,
    pub(crate) exp: Option<(usize, usize)>,
}

/// Whether every byte is printable US-ASCII (RFC 7208 §3.1): eight bytes at a time.
fn all_printable(bytes: &[u8]) -> bool {
    const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
    const HIGH: u64 = u64::from_ne_bytes([0x80; 8]);
    let mut chunks = bytes.chunks_exact(8);
    let mut bad = 0u64;
    for chunk in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let x = u64::from_ne_bytes(word);
        // A byte below 0x20 (borrow into its high bit), or at 0x7f and above (the high bit
        // of the byte or of the byte plus one).
        bad |= (x.wrapping_sub(ONES * 0x20) & !x) | x | x.wrapping_add(ONES);
    }
    bad & HIGH == 0 && chunks.remainder().iter().all(|b| (0x20..=0x7e).contains(b))
}

/// Where the first space is: eight bytes at a time (terms are short, too short for a
/// vector search to pay for its setup).
fn find_space(bytes: &[u8]) -> Option<usize> {
    const ONES: u64 = u64::from_le_bytes([0x01; 8]);
    const HIGH: u64 = u64::from_le_bytes([0x80; 8]);
    const SPACES: u64 = u64::from_le_bytes([b' '; 8]);
    let mut chunks = bytes.chunks_exact(8);
    let mut offset = 0usize;
    for chunk in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        // A zero byte where the word has a space (the lowest one is exact).
        let x = u64::from_le_bytes(word) ^ SPACES;
        let found = x.wrapping_sub(ONES) & !x & HIGH;
        if found != 0 {
            return Some(offset + (found.trailing_zeros() / 8) as usize);
        }
        offset += 8;
    }
    chunks
        .remainder()
        .iter()
        .position(|&b| b == b' ')
        .map(|at| offset + at)
}

/// The next term of record text at or after `pos`: its byte range; `None` at the end
/// (RFC 7208 §4.6.1: terms are separated by one or more spaces).
fn next_term(bytes: &[u8], pos: usize) -> Option<(usize, usize)> {
    let rest = bytes.get(pos..)?;
    let skip = rest.iter().position(|&b| b != b' ')?;
    let start = pos.saturating_add(skip);
    let len = find_space(bytes.get(start..)?).unwrap_or(bytes.len().saturating_sub(start));
    Some((start, start.saturating_add(len)))
}

/// Checks a whole record, `v=spf1` included, calling `each` with every term and its offset
/// in order; the one parser behind [`Record::parse`] and the evaluator.
pub(crate) fn scan_record<'a>(
    text: &'a str,
    mut each: impl FnMut(usize, TermRef<'a>),
) -> Result<Modifiers, Error> {
    let bytes = text.as_bytes();
    if !all_printable(bytes) {
        let pos = bytes
            .iter()
            .position(|b| !(0x20..=0x7e).contains(b))
            .unwrap_or(0);
        let byte = bytes.get(pos).copied().unwrap_or(0);
        return Err(Error::syntax(pos, SyntaxProblem::BadByte(byte)));
    }
    if !is_spf_record(bytes) {
        return Err(Error::syntax(0, SyntaxProblem::NotSpf));
    }
    let mut modifiers = Modifiers::default();
    let mut pos = VERSION_LEN;
    while let Some((start, end)) = next_term(bytes, pos) {
        pos = end;
        let term_text = text.get(start..end).unwrap_or_default();
        let term = match quick_term(term_text) {
            Some(term) => term,
            None => parse_term(term_text, start)?,
        };
        let value_at = |value: &str| (end.saturating_sub(value.len()), end);
        match term {
            TermRef::Directive(..) => {}
            TermRef::Redirect(value) | TermRef::Exp(value) => {
                let slot = if matches!(term, TermRef::Redirect(_)) {
                    &mut modifiers.redirect
                } else {
                    &mut modifiers.exp
                };
                if slot.is_some() {
                    return Err(Error::syntax(start, SyntaxProblem::DuplicateModifier));
                }
                *slot = Some(value_at(value));
            }
            TermRef::Unknown { name, .. } => {
                // The reference implementation (pyspf) rejects any modifier given twice;
                // names of unknown modifiers compare exactly, as there.
                if earlier_modifier(bytes.get(..start).unwrap_or_default(), name) {
                    return Err(Error::syntax(start, SyntaxProblem::DuplicateModifier));
                }
            }
        }
        each(start, term);
    }
    Ok(modifiers)
}

/// Whether checked record text before a term has a modifier named exactly `name`.
fn earlier_modifier(before: &[u8], name: &str) -> bool {
    let mut pos = VERSION_LEN;
    while let Some((start, end)) = next_term(before, pos) {
        pos = end;
        let term = before.get(start..end).unwrap_or_default();
        if term.len() > name.len()
            && term.starts_with(name.as_bytes())
            && term.get(name.len()) == Some(&b'=')
        {
            return true;
        }
    }
    false
}

fn syntax(offset: usize, problem: SyntaxProblem) -> Error {
    Error::syntax(offset, problem)
}

fn is_name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.')
}

fn domain_spec(text: &str, offset: usize) -> Result<&str, Error> {
    if text.is_empty() {
        return Err(syntax(offset, SyntaxProblem::MissingDomain));
    }
    // Most domain-specs are plain names: one literal (a term has no spaces or controls).
    let last = if text.as_bytes().contains(&b'%') {
        check_macro_text(text, false, offset)?
    } else {
        Some(Piece::Literal(text))
    };
    if !is_domain_end(last) {
        return Err(syntax(offset, SyntaxProblem::BadDomainEnd));
    }
    Ok(text)
}

/// A CIDR length: `"0" / %x31-39 *DIGIT` up to `max` (RFC 7208 §5.6).
fn cidr_length(digits: &str, max: u8, offset: usize) -> Result<u8, Error> {
    let bad = || syntax(offset, SyntaxProblem::BadCidr);
    let bytes = digits.as_bytes();
    if bytes.is_empty() || bytes.len() > 3 || (bytes.len() > 1 && bytes.first() == Some(&b'0')) {
        return Err(bad());
    }
    let mut n = 0u16;
    for &b in bytes {
        if !b.is_ascii_digit() {
            return Err(bad());
        }
        n = n * 10 + u16::from(b - b'0');
    }
    match u8::try_from(n) {
        Ok(n) if n <= max => Ok(n),
        _ => Err(bad()),
    }
}

/// Splits a trailing `/digits` off `text`.
fn split_cidr(text: &str) -> Option<(&str, &str)> {
    let slash = text.bytes().rposition(|b| b == b'/')?;
    let (head, digits) = (text.get(..slash)?, text.get(slash.saturating_add(1)..)?);
    (!digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())).then_some((head, digits))
}

/// `[":" domain-spec] [dual-cidr-length]` after `a` or `mx`.
fn a_or_mx_args(rest: &str, offset: usize) -> Result<(Option<&str>, DualCidr), Error> {
    let mut cidr = DualCidr::default();
    let mut head = rest;
    if let Some((h, digits)) = split_cidr(head)
        && let Some(h2) = h.strip_suffix('/')
    {
        cidr.v6 = Some(cidr_length(digits, 128, offset.saturating_add(h2.len()))?);
        head = h2;
    }
    if let Some((h, digits)) = split_cidr(head)
        && !h.ends_with('/')
    {
        cidr.v4 = Some(cidr_length(digits, 32, offset.saturating_add(h.len()))?);
        head = h;
    }
    let domain = match head.strip_prefix(':') {
        Some(spec) => Some(domain_spec(spec, offset.saturating_add(1))?),
        None if head.is_empty() => None,
        None => return Err(syntax(offset, SyntaxProblem::UnexpectedArgument)),
    };
    Ok((domain, cidr))
}

fn required_domain(rest: &str, offset: usize) -> Result<&str, Error> {
    match rest.strip_prefix(':') {
        Some(spec) => domain_spec(spec, offset.saturating_add(1)),
        None if rest.is_empty() => Err(syntax(offset, SyntaxProblem::MissingDomain)),
        None => Err(syntax(offset, SyntaxProblem::UnexpectedArgument)),
    }
}

/// The usual, well-formed terms (`ip4`, `ip6`, `all`, `include`, `exists`, bare `a` and
/// `mx`, `redirect=`, `exp=`) recognised by their first bytes, their arguments read by the
/// general parser's functions; `None` for anything else or anything wrong, which
/// [`parse_term`] then decides (with the error and its position). Whatever it returns,
/// [`parse_term`] returns too (a property test checks it).
fn quick_term(term: &str) -> Option<TermRef<'_>> {
    let bytes = term.as_bytes();
    let (qualifier, body) = match bytes.split_first() {
        Some((b'-', rest)) => (Qualifier::Fail, rest),
        Some((b'~', rest)) => (Qualifier::SoftFail, rest),
        Some((b'?', rest)) => (Qualifier::Neutral, rest),
        Some((b'+', rest)) => (Qualifier::Pass, rest),
        _ => (Qualifier::Pass, bytes),
    };
    let has_prefix = body.len() != bytes.len();
    // The text after a keyword of `len` bytes (and its separator).
    let after = |len: usize| term.get(bytes.len().saturating_sub(body.len()).saturating_add(len)..);
    let keyword = |word: &[u8]| {
        body.get(..word.len())
            .is_some_and(|b| b.eq_ignore_ascii_case(word))
    };
    // The general parser's own functions for the arguments: only the dispatch is quicker.
    let mechanism = match body.first().map(u8::to_ascii_lowercase)? {
        b'i' if keyword(b"ip4:") => ip4_mechanism(after(3)?, 0).ok()?,
        b'i' if keyword(b"ip6:") => ip6_mechanism(after(3)?, 0).ok()?,
        b'i' if keyword(b"include:") => MechanismRef::Include(domain_spec(after(8)?, 0).ok()?),
        b'e' if keyword(b"exists:") => MechanismRef::Exists(domain_spec(after(7)?, 0).ok()?),
        b'a' if body.len() == 3 && keyword(b"all") => MechanismRef::All,
        b'a' if body.len() == 1 => MechanismRef::A(None, DualCidr::default()),
        b'm' if body.len() == 2 && keyword(b"mx") => MechanismRef::Mx(None, DualCidr::default()),
        b'r' if !has_prefix && keyword(b"redirect=") => {
            return Some(TermRef::Redirect(domain_spec(after(9)?, 0).ok()?));
        }
        b'e' if !has_prefix && keyword(b"exp=") => {
            return Some(TermRef::Exp(domain_spec(after(4)?, 0).ok()?));
        }
        _ => return None,
    };
    Some(TermRef::Directive(qualifier, mechanism))
}

/// Parses one term (no spaces) that starts at `start` in the record (RFC 7208 §4.6.1, §5, §6).
fn parse_term(term: &str, start: usize) -> Result<TermRef<'_>, Error> {
    let bytes = term.as_bytes();
    // RFC 7208 §4.6.1: a modifier is `name "=" macro-string`; the name starts with ALPHA.
    let name_len = bytes
        .iter()
        .position(|&b| !is_name_byte(b))
        .unwrap_or(bytes.len());
    if bytes.get(name_len) == Some(&b'=') {
        if !bytes.first().is_some_and(u8::is_ascii_alphabetic) {
            return Err(syntax(start, SyntaxProblem::BadModifierName));
        }
        let name = term.get(..name_len).unwrap_or_default();
        let value = term.get(name_len.saturating_add(1)..).unwrap_or_default();
        let value_offset = start.saturating_add(name_len).saturating_add(1);
        return Ok(if name.eq_ignore_ascii_case("redirect") {
            TermRef::Redirect(domain_spec(value, value_offset)?)
        } else if name.eq_ignore_ascii_case("exp") {
            TermRef::Exp(domain_spec(value, value_offset)?)
        } else {
            check_macro_text(value, false, value_offset)?;
            TermRef::Unknown { name, value }
        });
    }
    let qualifier = match bytes.first() {
        Some(b'-') => Some(Qualifier::Fail),
        Some(b'~') => Some(Qualifier::SoftFail),
        Some(b'?') => Some(Qualifier::Neutral),
        Some(b'+') => Some(Qualifier::Pass),
        _ => None,
    };
    let name_start = usize::from(qualifier.is_some());
    let after_q = term.get(name_start..).unwrap_or_default();
    let name_offset = start.saturating_add(name_start);
    let name_len = after_q
        .bytes()
        .position(|b| !b.is_ascii_alphanumeric())
        .unwrap_or(after_q.len());
    if name_len == 0 {
        return Err(syntax(name_offset, SyntaxProblem::UnknownMechanism));
    }
    let name = after_q.get(..name_len).unwrap_or_default();
    let rest = after_q.get(name_len..).unwrap_or_default();
    let rest_offset = name_offset.saturating_add(name_len);
    let is = |keyword: &str| name.eq_ignore_ascii_case(keyword);
    let mechanism = match name_len {
        3 if is("all") => {
            if !rest.is_empty() {
                return Err(syntax(rest_offset, SyntaxProblem::UnexpectedArgument));
            }
            MechanismRef::All
        }
        7 if is("include") => MechanismRef::Include(required_domain(rest, rest_offset)?),
        6 if is("exists") => MechanismRef::Exists(required_domain(rest, rest_offset)?),
        1 if is("a") => {
            let (domain, cidr) = a_or_mx_args(rest, rest_offset)?;
            MechanismRef::A(domain, cidr)
        }
        2 if is("mx") => {
            let (domain, cidr) = a_or_mx_args(rest, rest_offset)?;
            MechanismRef::Mx(domain, cidr)
        }
        3 if is("ptr") => MechanismRef::Ptr(match rest.strip_prefix(':') {
            Some(spec) => Some(domain_spec(spec, rest_offset.saturating_add(1))?),
            None if rest.is_empty() => None,
            None => return Err(syntax(rest_offset, SyntaxProblem::UnexpectedArgument)),
        }),
        3 if is("ip4") => ip4_mechanism(rest, rest_offset)?,
        3 if is("ip6") => ip6_mechanism(rest, rest_offset)?,
        _ => return Err(syntax(name_offset, SyntaxProblem::UnknownMechanism)),
    };
    Ok(TermRef::Directive(
        qualifier.unwrap_or(Qualifier::Pass),
        mechanism,
    ))
}

/// `ip4:<network>[/<len>]` after the name (RFC 7208 §5.6); the length is checked first.
fn ip4_mechanism(rest: &str, rest_offset: usize) -> Result<MechanismRef<&'static str>, Error> {
    let arg = rest
        .strip_prefix(':')
        .ok_or(syntax(rest_offset, SyntaxProblem::BadIp4))?;
    // One pass for the address up to the first `/`; the length is checked first.
    let (network, slash) = dotted_quad_prefix(arg);
    let prefix = match slash {
        Some(at) => {
            let len = arg.get(at.saturating_add(1)..).unwrap_or_default();
            let offset = rest_offset.saturating_add(1).saturating_add(at);
            Some(cidr_length(len, 32, offset)?)
        }
        None => None,
    };
    let network = network.ok_or(syntax(rest_offset.saturating_add(1), SyntaxProblem::BadIp4))?;
    Ok(MechanismRef::Ip4(network, prefix))
}

/// `ip6:<network>[/<len>]` after the name (RFC 7208 §5.6); the length is checked first.
fn ip6_mechanism(rest: &str, rest_offset: usize) -> Result<MechanismRef<&'static str>, Error> {
    let arg = rest
        .strip_prefix(':')
        .ok_or(syntax(rest_offset, SyntaxProblem::BadIp6))?;
    let (addr, prefix) = match split_slash(arg) {
        Some((addr, len)) => {
            let at = rest_offset.saturating_add(1).saturating_add(addr.len());
            (addr, Some(cidr_length(len, 128, at)?))
        }
        None => (arg, None),
    };
    let network = ipv6(addr).ok_or(syntax(rest_offset.saturating_add(1), SyntaxProblem::BadIp6))?;
    Ok(MechanismRef::Ip6(network, prefix))
}

/// Splits at the first `/` (a byte scan: cheaper than a pattern search on short terms).
fn split_slash(text: &str) -> Option<(&str, &str)> {
    let slash = text.bytes().position(|b| b == b'/')?;
    Some((text.get(..slash)?, text.get(slash.saturating_add(1)..)?))
}

/// An IPv6 address in RFC 4291 §2.2 text form: up to eight groups of 1-4 hex digits, one `::`
/// for a run of zero groups, optionally ending in a dotted quad. Accepts exactly what
/// `Ipv6Addr::from_str` accepts, at a fraction of its cost, in one pass over the bytes.
fn ipv6(text: &str) -> Option<Ipv6Addr> {
    let bytes = text.as_bytes();
    let hex = |b: Option<&u8>| match b {
        Some(&b @ b'0'..=b'9') => Some(u16::from(b - b'0')),
        Some(&b @ b'a'..=b'f') => Some(u16::from(b - b'a') + 10),
        Some(&b @ b'A'..=b'F') => Some(u16::from(b - b'A') + 10),
        _ => None,
    };
    // The groups before the `::` gap and those after it, gathered into two numbers 16 bits
    // at a time (no group array to move).
    let (mut head, mut tail) = (0u128, 0u128);
    let (mut groups, mut head_groups) = (0u32, 0u32);
    let mut gap = false;
    let mut push = |value: u16, gap: bool| {
        if gap {
            tail = (tail << 16) | u128::from(value);
        } else {
            head = (head << 16) | u128::from(value);
            head_groups += 1;
        }
    };
    let mut i = 0usize;
    if bytes.starts_with(b"::") {
        gap = true;
        i = 2;
    }
    while i < bytes.len() {
        // A group: one to four hex digits.
        let start = i;
        let mut value = hex(bytes.get(i))?;
        i = i.saturating_add(1);
        for _ in 0..3 {
            let Some(digit) = hex(bytes.get(i)) else {
                break;
            };
            value = (value << 4) | digit;
            i = i.saturating_add(1);
        }
        if bytes.get(i) == Some(&b'.') {
            // A trailing dotted quad takes the place of the last two groups.
            if groups > 6 {
                return None;
            }
            let v4 = dotted_quad(text.get(start..)?)?.octets();
            push(u16::from_be_bytes([v4[0], v4[1]]), gap);
            push(u16::from_be_bytes([v4[2], v4[3]]), gap);
            groups += 2;
            break;
        }
        if groups == 8 {
            return None;
        }
        groups += 1;
        push(value, gap);
        match bytes.get(i) {
            None => break,
            Some(b':') => {
                i = i.saturating_add(1);
                if bytes.get(i) == Some(&b':') {
                    if gap {
                        return None;
                    }
                    gap = true;
                    i = i.saturating_add(1);
                } else if i == bytes.len() {
                    return None;
                }
            }
            Some(_) => return None,
        }
    }
    match (gap, groups) {
        (false, 8) => Some(Ipv6Addr::from(head)),
        (true, 0..=7) => {
            // The head groups go to the top; the gap is zeros; the tail is at the bottom.
            let shift = 16 * (8 - head_groups);
            Some(Ipv6Addr::from(head.checked_shl(shift).unwrap_or(0) | tail))
        }
        _ => None,
    }
}

/// The `ip4-network` (RFC 7208 §5.6) before the first `/` of `text` (as [`dotted_quad`]),
/// and where that `/` is.
fn dotted_quad_prefix(text: &str) -> (Option<Ipv4Addr>, Option<usize>) {
    let bytes = text.as_bytes();
    let slash = bytes.iter().position(|&b| b == b'/');
    let head = bytes
        .get(..slash.unwrap_or(bytes.len()))
        .unwrap_or_default();
    (quad(head), slash)
}

/// `ip4-network` (RFC 7208 §5.6): four `dec-octet`s, no leading zeros.
fn dotted_quad(text: &str) -> Option<Ipv4Addr> {
    quad(text.as_bytes())
}

/// [`dotted_quad`] on bytes: octet by octet, one to three digits each.
fn quad(bytes: &[u8]) -> Option<Ipv4Addr> {
    let digit = |b: Option<&u8>| match b {
        Some(&b) if b.is_ascii_digit() => Some(u16::from(b - b'0')),
        _ => None,
    };
    let mut octets = [0u8; 4];
    let mut i = 0usize;
    for (n, octet) in octets.iter_mut().enumerate() {
        if n > 0 {
            if bytes.get(i) != Some(&b'.') {
                return None;
            }
            i = i.saturating_add(1);
        }
        let first = digit(bytes.get(i))?;
        i = i.saturating_add(1);
        let mut value = first;
        if let Some(second) = digit(bytes.get(i)) {
            if first == 0 {
                return None;
            }
            value = value * 10 + second;
            i = i.saturating_add(1);
            if let Some(third) = digit(bytes.get(i)) {
                value = value * 10 + third;
                i = i.saturating_add(1);
            }
        }
        *octet = u8::try_from(value).ok()?;
    }
    (i == bytes.len()).then_some(Ipv4Addr::from(octets))
}

fn write_cidr(f: &mut fmt::Formatter<'_>, cidr: DualCidr) -> fmt::Result {
    if let Some(v4) = cidr.v4 {
        write!(f, "/{v4}")?;
    }
    if let Some(v6) = cidr.v6 {
        write!(f, "//{v6}")?;
    }
    Ok(())
}

impl fmt::Display for Mechanism {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::All => f.write_str("all"),
            Self::Include(d) => write!(f, "include:{d}"),
            Self::Exists(d) => write!(f, "exists:{d}"),
            Self::A { domain, cidr } | Self::Mx { domain, cidr } => {
                f.write_str(if matches!(self, Self::A { .. }) {
                    "a"
                } else {
                    "mx"
                })?;
                if let Some(d) = domain {
                    write!(f, ":{d}")?;
                }
                write_cidr(f, *cidr)
            }
            Self::Ptr(domain) => {
                f.write_str("ptr")?;
                match domain {
                    Some(d) => write!(f, ":{d}"),
                    None => Ok(()),
                }
            }
            Self::Ip4 { network, prefix } => {
                write!(f, "ip4:{network}")?;
                prefix.map_or(Ok(()), |p| write!(f, "/{p}"))
            }
            Self::Ip6 { network, prefix } => {
                write!(f, "ip6:{network}")?;
                prefix.map_or(Ok(()), |p| write!(f, "/{p}"))
            }
        }
    }
}

impl fmt::Display for Directive {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}", self.qualifier.prefix(), self.mechanism)
    }
}

impl fmt::Display for Modifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Redirect(d) => write!(f, "redirect={d}"),
            Self::Exp(d) => write!(f, "exp={d}"),
            Self::Unknown { name, value } => write!(f, "{name}={value}"),
        }
    }
}

impl fmt::Display for Term {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Directive(d) => d.fmt(f),
            Self::Modifier(m) => m.fmt(f),
        }
    }
}

impl fmt::Display for Record {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("v=spf1")?;
        for term in &self.terms {
            write!(f, " {term}")?;
        }
        Ok(())
    }
}

impl core::str::FromStr for Record {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        Self::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_texts() {
        for text in [
            "::",
            "::1",
            "1::",
            "2001:db8::1",
            "2001:DB8:0:0:0:0:0:1",
            "1:2:3:4:5:6:7:8",
            "::ffff:192.0.2.1",
            "64:ff9b::192.0.2.33",
            "1:2:3:4:5:6:1.2.3.4",
            "1::2:3",
            "fe80::1:2:3:4:5:6",
            "1:2:3:4:5:6:7::",
            "::2:3:4:5:6:7:8",
            // Invalid ones.
            "",
            ":",
            ":::",
            "1:::2",
            "1::2::3",
            "12345::",
            "1:2:3:4:5:6:7:8:9",
            "1:2:3:4:5:6:7",
            ":1::",
            "1::2:",
            "g::",
            "1.2.3.4",
            "::1.2.3",
            "::1.2.3.4:5",
            "1:2:3:4:5:6:7:1.2.3.4",
            "::01.2.3.4",
            "1::2:3:4:5:6:7:8",
            " ::1",
            "::1 ",
        ] {
            assert_eq!(ipv6(text), text.parse::<Ipv6Addr>().ok(), "{text:?}");
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(5000))]

        #[test]
        fn ipv6_accepts_what_std_accepts(text in "[0-9a-fA-F:.]{0,42}") {
            proptest::prop_assert_eq!(ipv6(&text), text.parse::<Ipv6Addr>().ok());
        }

        #[test]
        fn ipv6_shaped_text_parses_as_std_does(
            text in "(::)?([0-9a-fA-F]{1,5}:{1,2}){0,9}[0-9a-fA-F]{0,5}(::)?"
        ) {
            proptest::prop_assert_eq!(ipv6(&text), text.parse::<Ipv6Addr>().ok());
        }

        #[test]
        fn find_space_finds_the_first_space(text in "[ a-z]{0,40}") {
            proptest::prop_assert_eq!(find_space(text.as_bytes()), text.find(' '));
        }

        #[test]
        fn ipv6_with_a_dotted_quad_parses_as_std_does(
            text in "(::)?([0-9a-fA-F]{1,4}:{1,2}){0,7}[0-9a-f]{0,2}[0-9]{1,3}[.][0-9]{1,3}[.][0-9]{1,3}[.][0-9]{1,4}(:|::)?"
        ) {
            proptest::prop_assert_eq!(ipv6(&text), text.parse::<Ipv6Addr>().ok());
        }

        #[test]
        fn dotted_quad_accepts_what_std_accepts(text in "[0-9.]{0,17}") {
            proptest::prop_assert_eq!(dotted_quad(&text), text.parse::<Ipv4Addr>().ok());
        }

        #[test]
        fn quick_terms_parse_as_the_general_parser_does(
            term in "[-+~?]?(ip4:|IP6:|ip6:|include:|exists:|all|a|mx|redirect=|exp=|)[0-9a-fA-F:./%{}_x-]{0,24}"
        ) {
            if let Some(quick) = quick_term(&term) {
                proptest::prop_assert_eq!(Ok(quick), parse_term(&term, 0));
            }
        }

        #[test]
        fn quick_ip4_terms_parse_as_the_general_parser_does(
            term in "ip4:[0-9]{1,4}[.][0-9]{1,3}[.][0-9]{1,3}[.][0-9]{1,4}(/[0-9]{1,3})?[/x]?"
        ) {
            if let Some(quick) = quick_term(&term) {
                proptest::prop_assert_eq!(Ok(quick), parse_term(&term, 0));
            }
        }

        #[test]
        fn one_pass_dotted_quad_agrees_with_split_then_parse(text in "[0-9./x]{0,20}") {
            let (head, slash) = match text.find('/') {
                Some(at) => (&text[..at], Some(at)),
                None => (text.as_str(), None),
            };
            proptest::prop_assert_eq!(dotted_quad_prefix(&text), (dotted_quad(head), slash));
        }
    }

    #[test]
    fn usual_terms_take_the_quick_path() {
        for term in [
            "ip4:192.0.2.0/24",
            "-ip4:10.0.0.1",
            "ip6:2001:db8::/32",
            "~IP6:::1",
            "include:_spf.example.com",
            "exists:x.example.org.",
            "include:%{d}.example.com",
            "-all",
            "a",
            "?mx",
            "redirect=_spf.example.net",
            "exp=explain.example.com",
        ] {
            let quick = quick_term(term);
            assert!(quick.is_some(), "{term}");
            assert_eq!(Ok(quick.unwrap()), parse_term(term, 0), "{term}");
        }
        for term in [
            "ip4:01.2.3.4",
            "ip4:1.2.3.4/33",
            "ip4:1.2.3.4/",
            "ip6:::1/129",
            "include:%{x}.example.com",
            "include:example.123",
            "-redirect=x.example.com",
            "a:example.com",
            "all/0",
        ] {
            assert!(quick_term(term).is_none(), "{term}");
        }
    }

    #[test]
    fn dotted_quads() {
        for (text, want) in [
            ("192.0.2.1", Some([192, 0, 2, 1])),
            ("0.0.0.0", Some([0, 0, 0, 0])),
            ("255.255.255.255", Some([255, 255, 255, 255])),
            ("10.0.100.9", Some([10, 0, 100, 9])),
            ("01.2.3.4", None),
            ("1.2.3.04", None),
            ("256.1.1.1", None),
            ("1.2.3", None),
            ("1.2.3.4.5", None),
            ("1..3.4", None),
            ("1.2.3.", None),
            ("1.2.3.4a", None),
            ("1234.1.1.1", None),
            ("", None),
        ] {
            assert_eq!(dotted_quad(text), want.map(Ipv4Addr::from), "{text}");
            assert_eq!(
                dotted_quad(text).is_some(),
                text.parse::<Ipv4Addr>().is_ok(),
                "{text}"
            );
        }
    }

    #[test]
    fn canonical_round_trip() {
        for (text, canonical) in [
            ("v=spf1", "v=spf1"),
            ("V=SPF1  +all ", "v=spf1 all"),
            (
                "v=spf1 a mx/24 a:x.example//64 mx:%{d}/0//0 ?ptr ptr:ex.com ~exists:%{ir}.bl.example -include:_spf.example.com",
                "v=spf1 a mx/24 a:x.example//64 mx:%{d}/0//0 ?ptr ptr:ex.com ~exists:%{ir}.bl.example -include:_spf.example.com",
            ),
            (
                "v=spf1 ip4:192.0.2.1 ip4:192.0.2.0/24 ip6:2001:DB8::/32 ip6:::1 redirect=_spf.example.com",
                "v=spf1 ip4:192.0.2.1 ip4:192.0.2.0/24 ip6:2001:db8::/32 ip6:::1 redirect=_spf.example.com",
            ),
            (
                "v=spf1 -all foo=%{l}bar moo.cow-far_out=man:dog/cat",
                "v=spf1 -all foo=%{l}bar moo.cow-far_out=man:dog/cat",
            ),
        ] {
            let r = Record::parse(text).unwrap();
            assert_eq!(r.to_string(), canonical);
            assert_eq!(Record::parse(canonical).unwrap(), r);
        }
    }

    #[test]
    fn syntax_errors_have_positions() {
        for (text, offset, problem) in [
            ("v=spf10 -all", 0, SyntaxProblem::NotSpf),
            ("spf1 -all", 0, SyntaxProblem::NotSpf),
            ("v=spf1 -all\u{96}", 11, SyntaxProblem::BadByte(0xc2)),
            ("v=spf1 a:x.example\rptr", 18, SyntaxProblem::BadByte(b'\r')),
            ("v=spf1 foo", 7, SyntaxProblem::UnknownMechanism),
            ("v=spf1 -all:foo", 11, SyntaxProblem::UnexpectedArgument),
            ("v=spf1 all/8", 10, SyntaxProblem::UnexpectedArgument),
            ("v=spf1 include", 14, SyntaxProblem::MissingDomain),
            ("v=spf1 exists:", 14, SyntaxProblem::MissingDomain),
            ("v=spf1 a:museum", 9, SyntaxProblem::BadDomainEnd),
            ("v=spf1 a:foo.example.123", 9, SyntaxProblem::BadDomainEnd),
            ("v=spf1 a/33", 8, SyntaxProblem::BadCidr),
            ("v=spf1 a//129", 8, SyntaxProblem::BadCidr),
            ("v=spf1 ip4:1.2.3.4/032", 18, SyntaxProblem::BadCidr),
            ("v=spf1 ip4:1.2.3", 11, SyntaxProblem::BadIp4),
            ("v=spf1 ip4:1.2.3.4:8080", 11, SyntaxProblem::BadIp4),
            ("v=spf1 ip6:1.2.3.4", 11, SyntaxProblem::BadIp6),
            ("v=spf1 ip4:1.2.3.4//32", 18, SyntaxProblem::BadCidr),
            ("v=spf1 exists:%{x}.x.example", 14, SyntaxProblem::BadMacro),
            (
                "v=spf1 exists:foo%.x.example",
                17,
                SyntaxProblem::BadPercent,
            ),
            (
                "v=spf1 -all exp=%{r}.example.com",
                16,
                SyntaxProblem::ExpOnlyMacro('r'),
            ),
            ("v=spf1 =bar", 7, SyntaxProblem::BadModifierName),
            ("v=spf1 1x=bar", 7, SyntaxProblem::BadModifierName),
            (
                "v=spf1 redirect=a.example redirect=b.example",
                26,
                SyntaxProblem::DuplicateModifier,
            ),
            ("v=spf1 exp=", 11, SyntaxProblem::MissingDomain),
        ] {
            assert_eq!(
                Record::parse(text),
                Err(Error::Syntax { offset, problem }),
                "{text:?}"
            );
        }
    }

    #[test]
    fn dual_cidr() {
        let r = Record::parse("v=spf1 a:e.example/24//64 mx//0 a/0").unwrap();
        let cidrs: Vec<DualCidr> = r
            .directives()
            .map(|d| match &d.mechanism {
                Mechanism::A { cidr, .. } | Mechanism::Mx { cidr, .. } => *cidr,
                _ => unreachable!(),
            })
            .collect();
        assert_eq!(
            cidrs,
            [
                DualCidr {
                    v4: Some(24),
                    v6: Some(64)
                },
                DualCidr {
                    v4: None,
                    v6: Some(0)
                },
                DualCidr {
                    v4: Some(0),
                    v6: None
                }
            ]
        );
    }

    #[test]
    fn version_detection() {
        assert!(is_spf_record(b"v=spf1"));
        assert!(is_spf_record(b"V=SPF1 -all"));
        assert!(!is_spf_record(b"v=spf10"));
        assert!(!is_spf_record(b"v=spf1-all"));
        assert!(!is_spf_record(b" v=spf1"));
    }
}
