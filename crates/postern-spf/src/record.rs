//! SPF records (RFC 7208 §4.5, §4.6, §5, §6): parsing with positions, canonical printing.

use core::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

use crate::error::{Error, SyntaxProblem};
use crate::macros::{MacroString, Token, check_macro_bytes, literal_ends_domain};

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
    // The six bytes as one number; setting bit 5 of the letters lower-cases exactly the two
    // cases of each (`=` and `1` compare as they are).
    let Some(version) = text.get(..6) else {
        return false;
    };
    let mut word = [0u8; 8];
    if let Some(head) = word.get_mut(..6) {
        head.copy_from_slice(version);
    }
    let lower = u64::from_le_bytes(word) | u64::from_le_bytes(*b"\x20\0\x20\x20\x20\0\0\0");
    lower == u64::from_le_bytes(*b"v=spf1\0\0") && text.get(6).is_none_or(|&b| b == b' ')
}

impl Record {
    /// Parses a whole record, `v=spf1` included.
    ///
    /// # Errors
    /// [`Error::Syntax`] with the byte offset of the first problem. During evaluation any such
    /// error makes the result permerror (RFC 7208 §4.6).
    pub fn parse(text: &str) -> Result<Self, Error> {
        let mut terms = Vec::with_capacity(8);
        scan_record(text.as_bytes(), |_, term| {
            let term = term.map(|(start, end)| text.get(start..end).unwrap_or_default());
            terms.push(term.to_owned_term());
        })?;
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
    #[inline]
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

/// A term as written, its domain-specs (and modifier names and values) as `S`: byte ranges
/// of the record text from the scanner, text borrowed from it for [`Record::parse`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TermRef<S> {
    Directive(Qualifier, MechanismRef<S>),
    Redirect(S),
    Exp(S),
    Unknown { name: S, value: S },
}

/// A byte range of record text, as the scanner hands it out: `(start, end)`.
pub(crate) type TextRange = (usize, usize);

impl<S> TermRef<S> {
    /// The same term with each range (or text) mapped by `f`.
    pub(crate) fn map<T>(self, mut f: impl FnMut(S) -> T) -> TermRef<T> {
        match self {
            Self::Directive(qualifier, mechanism) => {
                TermRef::Directive(qualifier, mechanism.map(f))
            }
            Self::Redirect(d) => TermRef::Redirect(f(d)),
            Self::Exp(d) => TermRef::Exp(f(d)),
            Self::Unknown { name, value } => TermRef::Unknown {
                name: f(name),
                value: f(value),
            },
        }
    }
}

impl TermRef<&str> {
    #[inline]
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
    pub(crate) redirect: Option<TextRange>,
    pub(crate) exp: Option<TextRange>,
}

const ONES: u64 = u64::from_le_bytes([0x01; 8]);
const HIGH: u64 = u64::from_le_bytes([0x80; 8]);

/// Eight bytes as a little-endian word (`chunk` has eight bytes; shorter ones read as zero).
fn word(chunk: &[u8]) -> u64 {
    let mut word = [0u8; 8];
    if let Some(bytes) = chunk.get(..8) {
        word.copy_from_slice(bytes);
    }
    u64::from_le_bytes(word)
}

/// The last eight bytes of `bytes` as a word, when it has at least eight and its length is
/// not a multiple of eight: the bytes a word-at-a-time loop leaves over, with some it already
/// saw before them.
fn tail_word(bytes: &[u8]) -> Option<u64> {
    if bytes.len().is_multiple_of(8) {
        return None;
    }
    let start = bytes.len().checked_sub(8)?;
    Some(word(bytes.get(start..)?))
}

/// Whether every byte is printable US-ASCII (RFC 7208 §3.1): eight bytes at a time.
fn all_printable(bytes: &[u8]) -> bool {
    // A byte below 0x20 (borrow into its high bit), or at 0x7f and above (the high bit of the
    // byte or of the byte plus one).
    let bad = |x: u64| (x.wrapping_sub(ONES * 0x20) & !x) | x | x.wrapping_add(ONES);
    let mut chunks = bytes.chunks_exact(8);
    let mut found = 0u64;
    for chunk in &mut chunks {
        found |= bad(word(chunk));
    }
    match tail_word(bytes) {
        Some(tail) => (found | bad(tail)) & HIGH == 0,
        None => found & HIGH == 0 && chunks.remainder().iter().all(|b| (0x20..=0x7e).contains(b)),
    }
}

/// Where the first `needle` is: eight bytes at a time (terms are short, too short for a
/// vector search to pay for its setup).
#[inline]
pub(crate) fn find_byte(bytes: &[u8], needle: u8) -> Option<usize> {
    // A zero byte where the word has the needle (the lowest one found is exact).
    let zero = |x: u64| {
        let x = x ^ (ONES * u64::from(needle));
        x.wrapping_sub(ONES) & !x & HIGH
    };
    let mut chunks = bytes.chunks_exact(8);
    let mut offset = 0usize;
    for chunk in &mut chunks {
        let found = zero(word(chunk));
        if found != 0 {
            return Some(offset + (found.trailing_zeros() / 8) as usize);
        }
        offset += 8;
    }
    match tail_word(bytes) {
        // Its first bytes were searched already: what it finds is in the remainder.
        Some(tail) => {
            let found = zero(tail);
            (found != 0).then(|| bytes.len() - 8 + (found.trailing_zeros() / 8) as usize)
        }
        None => chunks
            .remainder()
            .iter()
            .position(|&b| b == needle)
            .map(|at| offset + at),
    }
}

/// The next term of record text at or after `pos`: its byte range; `None` at the end
/// (RFC 7208 §4.6.1: terms are separated by one or more spaces).
fn next_term(bytes: &[u8], pos: usize) -> Option<(usize, usize)> {
    let mut start = pos;
    while bytes.get(start) == Some(&b' ') {
        start += 1;
    }
    let rest = bytes.get(start..).filter(|rest| !rest.is_empty())?;
    let len = find_byte(rest, b' ').unwrap_or(rest.len());
    Some((start, start + len))
}

/// Checks a whole record, `v=spf1` included, calling `each` with every term and its offset
/// in order; the one parser behind [`Record::parse`] and the evaluator. It reads bytes (the
/// printable-ASCII check comes first), so the evaluator needs no UTF-8 check of the record.
pub(crate) fn scan_record(
    bytes: &[u8],
    mut each: impl FnMut(usize, TermRef<TextRange>),
) -> Result<Modifiers, Error> {
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
        let term = parse_term(bytes.get(start..end).unwrap_or_default(), start)?;
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
                *slot = Some(value);
            }
            TermRef::Unknown { name, .. } => {
                // The reference implementation (pyspf) rejects any modifier given twice;
                // names of unknown modifiers compare exactly, as there.
                let name = bytes.get(name.0..name.1).unwrap_or_default();
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
fn earlier_modifier(before: &[u8], name: &[u8]) -> bool {
    let mut pos = VERSION_LEN;
    while let Some((start, end)) = next_term(before, pos) {
        pos = end;
        let term = before.get(start..end).unwrap_or_default();
        if term.len() > name.len() && term.starts_with(name) && term.get(name.len()) == Some(&b'=')
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

/// `domain-spec` (RFC 7208 §7.1) that starts at `offset` in the record: its byte range.
fn domain_spec(spec: &[u8], offset: usize) -> Result<TextRange, Error> {
    if spec.is_empty() {
        return Err(syntax(offset, SyntaxProblem::MissingDomain));
    }
    // Most domain-specs are plain names: one literal (a term has no spaces or controls).
    let domain_end = if find_byte(spec, b'%').is_none() {
        literal_ends_domain(spec)
    } else {
        match check_macro_bytes(spec, false, offset)? {
            Some((Token::Literal, at)) => literal_ends_domain(spec.get(at..).unwrap_or_default()),
            Some(_) => true,
            None => false,
        }
    };
    if !domain_end {
        return Err(syntax(offset, SyntaxProblem::BadDomainEnd));
    }
    Ok((offset, offset + spec.len()))
}

/// A CIDR length: `"0" / %x31-39 *DIGIT` up to `max` (RFC 7208 §5.6).
fn cidr_length(digits: &[u8], max: u8, offset: usize) -> Result<u8, Error> {
    let digit = |b: u8| b.is_ascii_digit().then(|| u16::from(b - b'0'));
    let value = match *digits {
        [a] => digit(a),
        // No leading zeros.
        [a @ b'1'..=b'9', b] => digit(b).map(|b| u16::from(a - b'0') * 10 + b),
        [a @ b'1'..=b'9', b, c] => digit(b)
            .zip(digit(c))
            .map(|(b, c)| u16::from(a - b'0') * 100 + b * 10 + c),
        _ => None,
    };
    match value {
        Some(n) if n <= u16::from(max) => Ok(u8::try_from(n).unwrap_or(max)),
        _ => Err(syntax(offset, SyntaxProblem::BadCidr)),
    }
}

/// Splits a trailing `/digits` off `text`.
fn split_cidr(text: &[u8]) -> Option<(&[u8], &[u8])> {
    let slash = text.iter().rposition(|&b| b == b'/')?;
    let (head, digits) = (text.get(..slash)?, text.get(slash.saturating_add(1)..)?);
    (!digits.is_empty() && digits.iter().all(u8::is_ascii_digit)).then_some((head, digits))
}

/// `[":" domain-spec] [dual-cidr-length]` after `a` or `mx`.
fn a_or_mx_args(rest: &[u8], offset: usize) -> Result<(Option<TextRange>, DualCidr), Error> {
    let mut cidr = DualCidr::default();
    let mut head = rest;
    if let Some((h, digits)) = split_cidr(head)
        && let Some(h2) = h.strip_suffix(b"/")
    {
        cidr.v6 = Some(cidr_length(digits, 128, offset + h2.len())?);
        head = h2;
    }
    if let Some((h, digits)) = split_cidr(head)
        && !h.ends_with(b"/")
    {
        cidr.v4 = Some(cidr_length(digits, 32, offset + h.len())?);
        head = h;
    }
    let domain = match head.split_first() {
        Some((b':', spec)) => Some(domain_spec(spec, offset + 1)?),
        None => None,
        Some(_) => return Err(syntax(offset, SyntaxProblem::UnexpectedArgument)),
    };
    Ok((domain, cidr))
}

fn required_domain(rest: &[u8], offset: usize) -> Result<TextRange, Error> {
    match rest.split_first() {
        Some((b':', spec)) => domain_spec(spec, offset + 1),
        None => Err(syntax(offset, SyntaxProblem::MissingDomain)),
        Some(_) => Err(syntax(offset, SyntaxProblem::UnexpectedArgument)),
    }
}

/// How many alphanumerics `bytes` starts with: the first eight at once when there are eight.
fn alphanumeric_len(bytes: &[u8]) -> usize {
    let (head, rest) = match bytes.split_first_chunk::<8>() {
        Some((head, rest)) => (u64::from_le_bytes(*head), rest),
        None => {
            return bytes
                .iter()
                .position(|b| !b.is_ascii_alphanumeric())
                .unwrap_or(bytes.len());
        }
    };
    // On the low seven bits of each byte (no carry between bytes): a digit, or a letter once
    // bit 5 is set (only the two cases of a letter land in `a`-`z`); and no high bit.
    let low = head & !HIGH;
    let in_range = |v: u64, from: u8, to: u8| {
        let at_least = v.wrapping_add(ONES * u64::from(0x80 - from));
        let above = v.wrapping_add(ONES * u64::from(0x80 - to - 1));
        at_least & !above
    };
    let lower = low | (ONES * 0x20);
    let alphanumeric = (in_range(low, b'0', b'9') | in_range(lower, b'a', b'z')) & !head & HIGH;
    let other = !alphanumeric & HIGH;
    if other != 0 {
        return (other.trailing_zeros() / 8) as usize;
    }
    8 + rest
        .iter()
        .position(|b| !b.is_ascii_alphanumeric())
        .unwrap_or(rest.len())
}

/// Whether a mechanism name (alphanumerics) is `word` (lower case), case-insensitively: on
/// alphanumerics, setting bit 5 lower-cases letters and keeps digits.
fn is_keyword<const N: usize>(name: &[u8], word: &[u8; N]) -> bool {
    name.len() == N && name.iter().zip(word).all(|(&b, &w)| b | 0x20 == w)
}

/// Parses one term (no spaces) that starts at `start` in the record (RFC 7208 §4.6.1, §5,
/// §6): the record scanner's term parser, inlined into its loop so that the term does not
/// go through memory.
#[allow(
    clippy::inline_always,
    reason = "its result (a term or an error) would otherwise go through memory on every term"
)]
#[inline(always)]
fn parse_term(term: &[u8], start: usize) -> Result<TermRef<TextRange>, Error> {
    let (qualifier, name_start) = match term.first() {
        Some(b'-') => (Qualifier::Fail, 1),
        Some(b'~') => (Qualifier::SoftFail, 1),
        Some(b'?') => (Qualifier::Neutral, 1),
        Some(b'+') => (Qualifier::Pass, 1),
        _ => (Qualifier::Pass, 0),
    };
    let after_q = term.get(name_start..).unwrap_or_default();
    // The mechanism name: alphanumerics after the qualifier.
    let name_len = alphanumeric_len(after_q);
    let name_end = name_start + name_len;
    // RFC 7208 §4.6.1: a modifier is `name "=" macro-string`; the name starts with ALPHA.
    // Its name bytes are those of a mechanism name and `-`, `_` and `.`: from the start of
    // the term, through a leading `-` (not a `+`, `~` or `?`).
    let modifier_end = match term.get(name_end) {
        _ if name_start == 1 && term.first() != Some(&b'-') => 0,
        Some(b'-' | b'_' | b'.') => {
            let more = term.get(name_end..).unwrap_or_default();
            name_end.saturating_add(
                more.iter()
                    .position(|&b| !is_name_byte(b))
                    .unwrap_or(more.len()),
            )
        }
        _ => name_end,
    };
    if term.get(modifier_end) == Some(&b'=') {
        return modifier(term, start, modifier_end);
    }
    let name_offset = start + name_start;
    if name_len == 0 {
        return Err(syntax(name_offset, SyntaxProblem::UnknownMechanism));
    }
    let name = after_q.get(..name_len).unwrap_or_default();
    let rest = after_q.get(name_len..).unwrap_or_default();
    let rest_offset = name_offset + name_len;
    let mechanism = match name_len {
        1 if is_keyword(name, b"a") => {
            let (domain, cidr) = a_or_mx_args(rest, rest_offset)?;
            MechanismRef::A(domain, cidr)
        }
        2 if is_keyword(name, b"mx") => {
            let (domain, cidr) = a_or_mx_args(rest, rest_offset)?;
            MechanismRef::Mx(domain, cidr)
        }
        3 if is_keyword(name, b"ip4") => ip4_mechanism(rest, rest_offset)?,
        3 if is_keyword(name, b"ip6") => ip6_mechanism(rest, rest_offset)?,
        3 if is_keyword(name, b"all") => {
            if !rest.is_empty() {
                return Err(syntax(rest_offset, SyntaxProblem::UnexpectedArgument));
            }
            MechanismRef::All
        }
        3 if is_keyword(name, b"ptr") => MechanismRef::Ptr(match rest.split_first() {
            Some((b':', spec)) => Some(domain_spec(spec, rest_offset + 1)?),
            None => None,
            Some(_) => return Err(syntax(rest_offset, SyntaxProblem::UnexpectedArgument)),
        }),
        7 if is_keyword(name, b"include") => {
            MechanismRef::Include(required_domain(rest, rest_offset)?)
        }
        6 if is_keyword(name, b"exists") => {
            MechanismRef::Exists(required_domain(rest, rest_offset)?)
        }
        _ => return Err(syntax(name_offset, SyntaxProblem::UnknownMechanism)),
    };
    Ok(TermRef::Directive(qualifier, mechanism))
}

/// A modifier term whose `=` is at `eq` (RFC 7208 §6).
fn modifier(term: &[u8], start: usize, eq: usize) -> Result<TermRef<TextRange>, Error> {
    if !term.first().is_some_and(u8::is_ascii_alphabetic) {
        return Err(syntax(start, SyntaxProblem::BadModifierName));
    }
    let name = term.get(..eq).unwrap_or_default();
    let value = term.get(eq.saturating_add(1)..).unwrap_or_default();
    let value_offset = start.saturating_add(eq).saturating_add(1);
    Ok(if name.eq_ignore_ascii_case(b"redirect") {
        TermRef::Redirect(domain_spec(value, value_offset)?)
    } else if name.eq_ignore_ascii_case(b"exp") {
        TermRef::Exp(domain_spec(value, value_offset)?)
    } else {
        check_macro_bytes(value, false, value_offset)?;
        TermRef::Unknown {
            name: (start, start.saturating_add(eq)),
            value: (value_offset, value_offset.saturating_add(value.len())),
        }
    })
}

/// `ip4:<network>[/<len>]` after the name (RFC 7208 §5.6); the length is checked first.
fn ip4_mechanism(rest: &[u8], rest_offset: usize) -> Result<MechanismRef<TextRange>, Error> {
    let Some((b':', arg)) = rest.split_first() else {
        return Err(syntax(rest_offset, SyntaxProblem::BadIp4));
    };
    let arg_offset = rest_offset + 1;
    // One pass for the address, which stops at the first `/` when it is well formed.
    let (network, stop) = quad_prefix(arg);
    let prefix = match arg.get(stop) {
        None => None,
        Some(b'/') => {
            let len = arg.get(stop + 1..).unwrap_or_default();
            Some(cidr_length(len, 32, arg_offset + stop)?)
        }
        Some(_) => {
            malformed_network(arg, stop, 32, arg_offset)?;
            return Err(syntax(arg_offset, SyntaxProblem::BadIp4));
        }
    };
    let network = network.ok_or(syntax(arg_offset, SyntaxProblem::BadIp4))?;
    Ok(MechanismRef::Ip4(network, prefix))
}

/// `ip6:<network>[/<len>]` after the name (RFC 7208 §5.6); the length is checked first.
fn ip6_mechanism(rest: &[u8], rest_offset: usize) -> Result<MechanismRef<TextRange>, Error> {
    let Some((b':', arg)) = rest.split_first() else {
        return Err(syntax(rest_offset, SyntaxProblem::BadIp6));
    };
    let arg_offset = rest_offset + 1;
    // One pass for the address, which stops at the first `/` when it is well formed.
    let (network, stop) = ipv6_prefix(arg);
    let prefix = match arg.get(stop) {
        None => None,
        Some(b'/') => {
            let len = arg.get(stop + 1..).unwrap_or_default();
            Some(cidr_length(len, 128, arg_offset + stop)?)
        }
        Some(_) => {
            malformed_network(arg, stop, 128, arg_offset)?;
            return Err(syntax(arg_offset, SyntaxProblem::BadIp6));
        }
    };
    let network = network.ok_or(syntax(arg_offset, SyntaxProblem::BadIp6))?;
    Ok(MechanismRef::Ip6(network, prefix))
}

/// The value of each hex digit, 0xff for other bytes.
#[allow(
    clippy::indexing_slicing,
    reason = "a byte indexes a 256-entry table (compile-time code)"
)]
static HEX: [u8; 256] = {
    let mut table = [0xffu8; 256];
    let mut b = 0u8;
    loop {
        table[b as usize] = match b {
            b'0'..=b'9' => b - b'0',
            b'a'..=b'f' => b - b'a' + 10,
            b'A'..=b'F' => b - b'A' + 10,
            _ => 0xff,
        };
        if b == u8::MAX {
            break;
        }
        b += 1;
    }
    table
};

/// An IPv6 address in RFC 4291 §2.2 text form: up to eight groups of 1-4 hex digits, one `::`
/// for a run of zero groups, optionally ending in a dotted quad. Accepts exactly what
/// `Ipv6Addr::from_str` accepts, at a fraction of its cost, in one pass over the bytes.
#[cfg(test)]
fn ipv6(bytes: &[u8]) -> Option<Ipv6Addr> {
    match ipv6_prefix(bytes) {
        (network, stop) if stop == bytes.len() => network,
        _ => None,
    }
}

/// [`ipv6`] on the bytes before the first `/` (or all of them), and where it stopped: at
/// that `/` or the end when well formed, else at or before the byte that spoiled it (only hex
/// digits, `:` and `.` come before).
fn ipv6_prefix(bytes: &[u8]) -> (Option<Ipv6Addr>, usize) {
    // The byte at `i`; none at the end or at a `/`.
    let at = |i: usize| bytes.get(i).copied().filter(|&b| b != b'/');
    // (A `/` is not a hex digit, `:` or `.`: where those are looked for, `bytes.get` will do.)
    let hex = |i: usize| match bytes.get(i).and_then(|&b| HEX.get(usize::from(b))) {
        Some(&value @ 0..=15) => Some(u16::from(value)),
        _ => None,
    };
    // The groups read so far, gathered into one number 16 bits at a time (no group array
    // to move); at the `::` gap those before it are set aside with their count.
    let (mut groups_value, mut head, mut head_groups) = (0u128, 0u128, 0u32);
    let mut groups = 0u32;
    let mut gap = false;
    let mut i = 0usize;
    if bytes.starts_with(b"::") {
        gap = true;
        i = 2;
    }
    // (Past the first group, the byte after a `:` is known to be there and not a `/`.)
    if at(i).is_some() {
        loop {
            // A group: one to four hex digits.
            let start = i;
            let Some(mut value) = hex(i) else {
                return (None, i);
            };
            i += 1;
            for _ in 0..3 {
                let Some(digit) = hex(i) else {
                    break;
                };
                value = (value << 4) | digit;
                i += 1;
            }
            if bytes.get(i) == Some(&b'.') {
                // A trailing dotted quad takes the place of the last two groups.
                if groups > 6 {
                    return (None, i);
                }
                let (v4, len) = embedded_quad(bytes.get(start..).unwrap_or_default());
                i = start + len;
                let Some(v4) = v4.filter(|_| at(i).is_none()) else {
                    return (None, i);
                };
                groups_value = (groups_value << 32) | u128::from(u32::from(v4));
                groups += 2;
                break;
            }
            if groups == 8 {
                return (None, i);
            }
            groups += 1;
            groups_value = (groups_value << 16) | u128::from(value);
            match at(i) {
                None => break,
                Some(b':') => {
                    i += 1;
                    if bytes.get(i) == Some(&b':') {
                        if gap {
                            return (None, i);
                        }
                        gap = true;
                        (head, head_groups, groups_value) = (groups_value, groups, 0);
                        i += 1;
                        if at(i).is_none() {
                            break;
                        }
                    } else if at(i).is_none() {
                        return (None, i);
                    }
                }
                Some(_) => return (None, i),
            }
        }
    }
    let network = match (gap, groups) {
        (false, 8) => groups_value,
        // The head groups go to the top; the gap is zeros; the rest is at the bottom.
        (true, 0..=7) => head.checked_shl(16 * (8 - head_groups)).unwrap_or(0) | groups_value,
        _ => return (None, i),
    };
    (Some(Ipv6Addr::from(network)), i)
}

/// [`quad_prefix`] for the dotted quad that ends an IPv6 address: out of line, as it is rare
/// (the IPv6 reader's loop keeps its registers).
#[inline(never)]
fn embedded_quad(bytes: &[u8]) -> (Option<Ipv4Addr>, usize) {
    quad_prefix(bytes)
}

/// The address before the first `/` of `bytes`, read by `parse` (a one-pass parser that stops
/// at the first `/` when the address is well formed), and where that `/` is: what
/// [`ip4_mechanism`] and [`ip6_mechanism`] rely on of [`quad_prefix`] and [`ipv6_prefix`].
#[cfg(test)]
fn before_slash<T>(
    bytes: &[u8],
    parse: impl FnOnce(&[u8]) -> (Option<T>, usize),
) -> (Option<T>, Option<usize>) {
    let (network, stop) = parse(bytes);
    match bytes.get(stop) {
        None => (network, None),
        Some(b'/') => (network, Some(stop)),
        // Before where it stopped there is no `/`: it is further on.
        Some(_) => {
            let rest = bytes.get(stop..).unwrap_or_default();
            (None, find_byte(rest, b'/').map(|at| stop + at))
        }
    }
}

/// The CIDR length check of an `ip4`/`ip6` argument whose address a one-pass parser found
/// malformed before a byte other than `/` at `stop` (the length is checked first): the `/`
/// is further on, if anywhere.
#[cold]
fn malformed_network(arg: &[u8], stop: usize, max: u8, arg_offset: usize) -> Result<(), Error> {
    let rest = arg.get(stop..).unwrap_or_default();
    if let Some(at) = find_byte(rest, b'/').map(|at| stop + at) {
        cidr_length(arg.get(at + 1..).unwrap_or_default(), max, arg_offset + at)?;
    }
    Ok(())
}

/// `ip4-network` (RFC 7208 §5.6): four `dec-octet`s, no leading zeros.
#[cfg(test)]
fn dotted_quad(text: &str) -> Option<Ipv4Addr> {
    quad(text.as_bytes())
}

/// A whole `ip4-network` on bytes (as [`quad_prefix`], with nothing after it).
#[cfg(test)]
fn quad(bytes: &[u8]) -> Option<Ipv4Addr> {
    match quad_prefix(bytes) {
        (network, stop) if stop == bytes.len() => network,
        _ => None,
    }
}

/// The `ip4-network` at the start of `bytes`, octet by octet, one to three digits each, no
/// leading zeros; and where it stopped: after the fourth octet, or within it at the byte that
/// spoiled it (only digits and dots come before).
#[allow(
    clippy::inline_always,
    reason = "its result (an address and a position) would otherwise go through memory"
)]
#[inline(always)]
fn quad_prefix(bytes: &[u8]) -> (Option<Ipv4Addr>, usize) {
    // The value of a digit; ten or more for anything else.
    let digit = |i: usize| bytes.get(i).map_or(10, |&b| b.wrapping_sub(b'0'));
    let mut network = 0u32;
    let mut i = 0usize;
    for n in 0..4 {
        if n > 0 {
            if bytes.get(i) != Some(&b'.') {
                return (None, i);
            }
            i += 1;
        }
        let first = digit(i);
        if first > 9 {
            return (None, i);
        }
        i += 1;
        let mut value = u32::from(first);
        let second = digit(i);
        if second <= 9 {
            if first == 0 {
                return (None, i);
            }
            i += 1;
            value = value * 10 + u32::from(second);
            let third = digit(i);
            if third <= 9 {
                i += 1;
                value = value * 10 + u32::from(third);
                if value > 255 {
                    return (None, i);
                }
            }
        }
        network = (network << 8) | value;
    }
    (Some(Ipv4Addr::from(network)), i)
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
            assert_eq!(
                ipv6(text.as_bytes()),
                text.parse::<Ipv6Addr>().ok(),
                "{text:?}"
            );
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(5000))]

        #[test]
        fn ipv6_accepts_what_std_accepts(text in "[0-9a-fA-F:.]{0,42}") {
            proptest::prop_assert_eq!(ipv6(text.as_bytes()), text.parse::<Ipv6Addr>().ok());
        }

        #[test]
        fn ipv6_shaped_text_parses_as_std_does(
            text in "(::)?([0-9a-fA-F]{1,5}:{1,2}){0,9}[0-9a-fA-F]{0,5}(::)?"
        ) {
            proptest::prop_assert_eq!(ipv6(text.as_bytes()), text.parse::<Ipv6Addr>().ok());
        }

        #[test]
        fn ipv6_with_a_dotted_quad_parses_as_std_does(
            text in "(::)?([0-9a-fA-F]{1,4}:{1,2}){0,7}[0-9a-f]{0,2}[0-9]{1,3}[.][0-9]{1,3}[.][0-9]{1,3}[.][0-9]{1,4}(:|::)?"
        ) {
            proptest::prop_assert_eq!(ipv6(text.as_bytes()), text.parse::<Ipv6Addr>().ok());
        }

        #[test]
        fn dotted_quad_accepts_what_std_accepts(text in "[0-9.]{0,17}") {
            proptest::prop_assert_eq!(dotted_quad(&text), text.parse::<Ipv4Addr>().ok());
        }

        #[test]
        fn usual_term_shapes_parse_as_the_reference_grammar_does(
            term in "[-+~?]?(ip4:|IP6:|ip6:|include:|exists:|all|a|mx|redirect=|exp=|)[0-9a-fA-F:./%{}_x-]{0,24}"
        ) {
            let text = format!("v=spf1 {term}");
            proptest::prop_assert_eq!(Record::parse(&text), crate::reference::record(&text));
        }

        #[test]
        fn ip4_terms_parse_as_the_reference_grammar_does(
            term in "ip4:[0-9]{1,4}[.][0-9]{1,3}[.][0-9]{1,3}[.][0-9]{1,4}(/[0-9]{1,3})?[/x.0-9]?"
        ) {
            let text = format!("v=spf1 {term} -all");
            proptest::prop_assert_eq!(Record::parse(&text), crate::reference::record(&text));
        }

        #[test]
        fn ip6_terms_parse_as_the_reference_grammar_does(
            term in "ip6:(::)?([0-9a-fA-F]{1,5}:{1,2}){0,8}[0-9a-fA-F]{0,5}(/[0-9]{1,3})?[/x:]?"
        ) {
            let text = format!("v=spf1 {term} -all");
            proptest::prop_assert_eq!(Record::parse(&text), crate::reference::record(&text));
        }

        #[test]
        fn spf_version_is_the_case_insensitive_prefix(text in "[vV=sSpPfF1 \x1d\x11V-]{0,8}") {
            let bytes = text.as_bytes();
            let expected = bytes.get(..6).is_some_and(|v| v.eq_ignore_ascii_case(b"v=spf1"))
                && bytes.get(6).is_none_or(|&b| b == b' ');
            proptest::prop_assert_eq!(is_spf_record(bytes), expected);
        }

        #[test]
        fn alphanumeric_len_counts_the_leading_alphanumerics(
            text in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..20),
            letters in "[a-zA-Z0-9]{0,12}",
        ) {
            for bytes in [&text[..], letters.as_bytes(), &[letters.as_bytes(), &text].concat()] {
                proptest::prop_assert_eq!(
                    alphanumeric_len(bytes),
                    bytes.iter().position(|b| !b.is_ascii_alphanumeric()).unwrap_or(bytes.len())
                );
            }
        }

        #[test]
        fn find_byte_finds_the_first_one(text in "[ a-z/]{0,40}", needle in "[ /a]") {
            let needle = needle.as_bytes()[0];
            proptest::prop_assert_eq!(
                find_byte(text.as_bytes(), needle),
                text.bytes().position(|b| b == needle)
            );
        }

        #[test]
        fn all_printable_is_the_bytewise_check(text in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..40)) {
            proptest::prop_assert_eq!(
                all_printable(&text),
                text.iter().all(|b| (0x20..=0x7e).contains(b))
            );
        }

        #[test]
        fn one_pass_dotted_quad_agrees_with_split_then_parse(text in "[0-9./x]{0,20}") {
            let (head, slash) = match text.find('/') {
                Some(at) => (&text[..at], Some(at)),
                None => (text.as_str(), None),
            };
            proptest::prop_assert_eq!(
                before_slash(text.as_bytes(), quad_prefix),
                (dotted_quad(head), slash)
            );
        }

        #[test]
        fn one_pass_ipv6_agrees_with_split_then_parse(text in "[0-9a-fA-F:./x]{0,30}") {
            let (head, slash) = match text.find('/') {
                Some(at) => (&text[..at], Some(at)),
                None => (text.as_str(), None),
            };
            proptest::prop_assert_eq!(
                before_slash(text.as_bytes(), ipv6_prefix),
                (head.parse::<Ipv6Addr>().ok(), slash)
            );
        }
    }

    #[test]
    fn usual_and_broken_terms_parse_as_the_reference_grammar_does() {
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
            "ip4:01.2.3.4",
            "ip4:1.2.3.4/33",
            "ip4:1.2.3.4/",
            "ip4:1.2.3.4x/8",
            "ip4:1.2.3.4.5/8",
            "ip4:1.2.3/8",
            "ip6:::1/129",
            "ip6:::1//64",
            "include:%{x}.example.com",
            "include:example.123",
            "-redirect=x.example.com",
            "-x=y",
            "+x=y",
            "a-b.c_d=%{d}",
            "a:example.com",
            "a:example.com/24//64",
            "MX:example.com//0",
            "ptr:example.com",
            "all/0",
        ] {
            let text = format!("v=spf1 {term}");
            assert_eq!(
                Record::parse(&text),
                crate::reference::record(&text),
                "{term}"
            );
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
        assert!(!is_spf_record(b"v\x1dspf1"));
        assert!(!is_spf_record(b"v=spf\x11"));
        assert!(!is_spf_record(b"V=SP"));
    }
}
