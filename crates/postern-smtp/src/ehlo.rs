//! The EHLO reply model (RFC 5321 §4.1.1.1, RFC 1869): lossless, ordered, borrowed.

use crate::reply::maybe_stops;
use crate::{Line, Lines, Reply, ReplyCode};

/// A successful (250) reply to EHLO or LHLO, viewed as greeting plus capabilities.
///
/// The model is lossless and ordered: every line after the greeting is a [`Capability`], in
/// wire order, duplicates and invalid keywords kept, each with its raw bytes. Nothing is
/// allocated; typed accessors scan the lines on demand.
///
/// # Examples
/// ```
/// use postern_smtp::{Ehlo, Extension, Mode, Reply};
/// let input = b"250-mx.example.net Hello\r\n250-SIZE 35882577\r\n250-AUTH PLAIN LOGIN\r\n250 STARTTLS\r\n";
/// let reply = Reply::parse(input, Mode::Strict)?.complete().unwrap();
/// let ehlo = Ehlo::new(&reply).unwrap();
/// assert_eq!(ehlo.domain(), b"mx.example.net");
/// assert!(ehlo.has(Extension::StartTls));
/// assert_eq!(ehlo.max_size(), Some(postern_smtp::MaxSize::Octets(35882577)));
/// assert!(ehlo.auth_mechanisms().any(|m| m.eq_ignore_ascii_case(b"plain")));
/// # Ok::<(), postern_smtp::Error>(())
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Ehlo<'a> {
    reply: Reply<'a>,
    greeting: Line<'a>,
}

impl<'a> Ehlo<'a> {
    /// View a reply as an EHLO success; `None` unless its code is 250 (any other code to EHLO
    /// is a rejection, RFC 5321 §4.1.1.1, and the client may fall back to HELO).
    pub fn new(reply: &Reply<'a>) -> Option<Self> {
        if reply.code() != ReplyCode::OK {
            return None;
        }
        let greeting = reply.lines().next()?;
        Some(Self {
            reply: *reply,
            greeting,
        })
    }

    /// The reply this model views.
    pub fn reply(&self) -> &Reply<'a> {
        &self.reply
    }

    /// The greeting line's first token: the server's domain (up to the first SP).
    pub fn domain(&self) -> &'a [u8] {
        let text = self.greeting.text();
        text.split(|&b| b == b' ').next().unwrap_or(text)
    }

    /// The greeting line after its first SP (`""` if none).
    pub fn greeting_text(&self) -> &'a [u8] {
        let text = self.greeting.text();
        text.iter()
            .position(|&b| b == b' ')
            .and_then(|p| text.get(p + 1..))
            .unwrap_or(&[])
    }

    /// The capabilities, one per line after the greeting, in wire order.
    pub fn capabilities(&self) -> Capabilities<'a> {
        // The parser recorded where the greeting ends: skipping it costs no search.
        let mut lines = self.reply.lines();
        lines.next();
        Capabilities { lines }
    }

    /// The first capability whose keyword equals `keyword`, case-insensitively.
    pub fn capability(&self, keyword: &[u8]) -> Option<Capability<'a>> {
        self.capabilities()
            .find(|c| c.keyword().eq_ignore_ascii_case(keyword))
    }

    /// Whether a registered extension is advertised.
    pub fn has(&self, extension: Extension) -> bool {
        self.capabilities().any(|c| c.extension() == extension)
    }

    /// Whether STARTTLS (RFC 3207) is advertised.
    pub fn has_starttls(&self) -> bool {
        self.has(Extension::StartTls)
    }

    /// The SIZE extension (RFC 1870), from its first line: `None` when not advertised.
    pub fn max_size(&self) -> Option<MaxSize> {
        let cap = self
            .capabilities()
            .find(|c| c.extension() == Extension::Size)?;
        Some(match cap.params().next().and_then(parse_u64) {
            None | Some(0) => MaxSize::NoFixedLimit,
            Some(n) => MaxSize::Octets(n),
        })
    }

    /// The SASL mechanisms of every AUTH line (RFC 4954), legacy `AUTH=` lines included, in
    /// wire order; duplicates are not removed, the empty parameter of a bare `AUTH=` is.
    pub fn auth_mechanisms(&self) -> impl Iterator<Item = &'a [u8]> + use<'a> {
        self.capabilities()
            .filter(|c| c.extension() == Extension::Auth)
            .flat_map(|c| c.params())
            .filter(|mechanism| !mechanism.is_empty())
    }

    /// The LIMITS extension (RFC 9422), from its first line: `None` when not advertised.
    /// Unknown or malformed limit names are ignored, as §4 asks of clients.
    pub fn limits(&self) -> Option<Limits> {
        let cap = self
            .capabilities()
            .find(|c| c.extension() == Extension::Limits)?;
        let mut limits = Limits::default();
        for param in cap.params() {
            let Some(eq) = param.iter().position(|&b| b == b'=') else {
                continue;
            };
            let (name, value) = param.split_at(eq);
            let Some(value) = value.get(1..).and_then(parse_u64) else {
                continue;
            };
            let value = u32::try_from(value).unwrap_or(u32::MAX);
            if name.eq_ignore_ascii_case(b"MAILMAX") {
                limits.mail_max = Some(value);
            } else if name.eq_ignore_ascii_case(b"RCPTMAX") {
                limits.rcpt_max = Some(value);
            } else if name.eq_ignore_ascii_case(b"RCPTDOMAINMAX") {
                limits.rcpt_domain_max = Some(value);
            }
        }
        Some(limits)
    }
}

fn parse_u64(s: &[u8]) -> Option<u64> {
    if s.is_empty() || s.len() > 19 || !s.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(
        s.iter()
            .fold(0u64, |acc, &d| acc * 10 + u64::from(d - b'0')),
    )
}

/// The SIZE extension's limit (RFC 1870 §4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MaxSize {
    /// `SIZE` with no number, or `SIZE 0`: no fixed maximum.
    NoFixedLimit,
    /// The largest message the server accepts, in octets.
    Octets(u64),
}

/// The LIMITS extension's values (RFC 9422 §4); `None` for a limit not given.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Limits {
    /// `MAILMAX`: transactions per session.
    pub mail_max: Option<u32>,
    /// `RCPTMAX`: recipients per transaction.
    pub rcpt_max: Option<u32>,
    /// `RCPTDOMAINMAX`: distinct recipient domains per transaction.
    pub rcpt_domain_max: Option<u32>,
}

/// Iterator over the capabilities of an [`Ehlo`] reply.
#[derive(Debug, Clone)]
pub struct Capabilities<'a> {
    lines: Lines<'a>,
}

impl<'a> Iterator for Capabilities<'a> {
    type Item = Capability<'a>;

    #[inline]
    fn next(&mut self) -> Option<Capability<'a>> {
        self.lines
            .next_with_stop()
            .map(|(line, stop)| Capability::from_line_with_stop(line, stop))
    }
}

/// One capability line of an EHLO reply.
///
/// The line is trimmed of leading and trailing SP/HT and split on runs of them: the first
/// token is the keyword, the rest are parameters. A first token holding `=` (the pre-RFC 4954
/// `AUTH=LOGIN` form) ends its keyword there and its remainder is the first parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capability<'a> {
    line: Line<'a>,
    keyword: &'a [u8],
    /// Parameter text after the keyword (and after `=` for the legacy form), untrimmed start.
    params: &'a [u8],
    legacy_equals: bool,
}

/// Byte classes of a capability line: [`BLANK`] for SP and HTAB, [`EQUALS`] for `=`.
#[allow(clippy::indexing_slicing)] // constant byte indices into a 256-entry table
const CLASS: [u8; 256] = {
    let mut table = [0u8; 256];
    table[b' ' as usize] = BLANK;
    table[b'\t' as usize] = BLANK;
    table[b'=' as usize] = EQUALS;
    table
};
const BLANK: u8 = 1;
const EQUALS: u8 = 2;

fn class(b: u8) -> u8 {
    #[allow(clippy::indexing_slicing)] // a u8 index into a 256-entry table
    CLASS[usize::from(b)]
}

fn is_blank(b: u8) -> bool {
    class(b) == BLANK
}

/// Whether `b` ends a token: SP, HT, `=`, CR or LF.
fn is_stop(b: u8) -> bool {
    class(b) != 0 || b == b'\r' || b == b'\n'
}

/// The offset of the first SP, HT, `=`, CR or LF in `raw` at or after `start` (`raw.len()` if
/// none): eight octets per step, as a keyword ends within one or two of them.
// Measured: left to itself, LLVM keeps this out of line in the benches (about 10% slower).
#[allow(clippy::inline_always)]
#[inline(always)]
fn token_end(raw: &[u8], start: usize) -> usize {
    first_of(raw, start, maybe_stops, is_stop)
}

/// High bit set in each octet of `w` below 0x21 (SP, HT and other controls); the lowest
/// flagged octet is exact.
fn maybe_blanks(w: u64) -> u64 {
    w.wrapping_sub(u64::from_ne_bytes([0x21; 8])) & !w & u64::from_ne_bytes([0x80; 8])
}

/// The offset of the first octet of `raw` at or after `start` that `wanted` accepts
/// (`raw.len()` if none), eight octets per step: `flags` flags a superset of the wanted
/// octets in a word, the lowest flagged one exactly.
#[allow(clippy::inline_always)]
#[inline(always)]
fn first_of(
    raw: &[u8],
    start: usize,
    flags: impl Fn(u64) -> u64,
    wanted: impl Fn(u8) -> bool,
) -> usize {
    let word_at = |at: usize| {
        raw.get(at..at + 8)
            .map(|w| u64::from_le_bytes(<[u8; 8]>::try_from(w).unwrap_or_default()))
    };
    let mut at = start;
    while let Some(w) = word_at(at) {
        let found = flags(w);
        if found != 0 {
            let p = at + (found.trailing_zeros() / 8) as usize;
            if raw.get(p).is_some_and(|&b| wanted(b)) {
                return p;
            }
            // Flagged but not wanted: go on after it.
            at = p + 1;
        } else {
            at += 8;
        }
    }
    // The last eight octets overlap some already searched (which hold no match, so no
    // borrow runs from them): search them whole and ignore those flags.
    if let Some(last) = raw.len().checked_sub(8)
        && at < raw.len()
        && let Some(w) = word_at(last)
    {
        let found = flags(w) & (u64::MAX << ((at - last) * 8));
        if found == 0 {
            return raw.len();
        }
        let p = last + (found.trailing_zeros() / 8) as usize;
        if raw.get(p).is_some_and(|&b| wanted(b)) {
            return p;
        }
        at = p + 1;
    }
    let tail = raw.get(at..).unwrap_or(&[]);
    at + tail.iter().position(|&b| wanted(b)).unwrap_or(tail.len())
}

/// The blank-separated parameters of a capability line (see [`Capability::params`]).
#[derive(Debug, Clone)]
struct Params<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for Params<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        let start = self.rest.iter().position(|&b| !is_blank(b))?;
        let token = self.rest.get(start..).unwrap_or(&[]);
        let end = first_of(token, 0, maybe_blanks, is_blank);
        let (param, rest) = token.split_at(end);
        self.rest = rest;
        Some(param)
    }
}

impl<'a> Capability<'a> {
    #[inline]
    pub(crate) fn from_line(line: Line<'a>) -> Self {
        let raw = line.raw();
        // The text runs from after code and separator to the terminator, trimmed of blanks.
        let mut end = raw.len();
        if raw.get(end.wrapping_sub(1)) == Some(&b'\n') {
            end -= 1;
            if raw.get(end.wrapping_sub(1)) == Some(&b'\r') {
                end -= 1;
            }
        }
        let mut start = 4;
        while start < end && raw.get(start).is_some_and(|&b| is_blank(b)) {
            start += 1;
        }
        while end > start && raw.get(end - 1).is_some_and(|&b| is_blank(b)) {
            end -= 1;
        }
        // One word-wide scan: the first token ends at a blank, and its keyword at a '=' before
        // that. A validated line holds CR and LF only in its terminator, and `end` is at a
        // blank, CR, LF or the end of `raw`, so the scan stops there at the latest.
        let stop = token_end(raw, start).min(end);
        let keyword = raw.get(start..stop).unwrap_or(&[]);
        let legacy_equals = stop < end && raw.get(stop) == Some(&b'=');
        // `AUTH=LOGIN PLAIN`: the params run from after the '=' to the end of the line.
        let params = raw
            .get(stop + usize::from(legacy_equals)..end)
            .unwrap_or(&[]);
        Self {
            line,
            keyword,
            params,
            legacy_equals,
        }
    }

    /// [`from_line`](Self::from_line), given where the parser saw the first token end (see
    /// [`Lines::next_with_stop`]; `stop <= 4` when unknown).
    #[inline]
    pub(crate) fn from_line_with_stop(line: Line<'a>, stop: usize) -> Self {
        let raw = line.raw();
        // Octets `4..stop` are a token and `stop` ends it: nothing to trim before it, and
        // trimming after it stops at `stop` at the latest.
        let (Some(keyword), Some(&after)) =
            (raw.get(4..stop).filter(|k| !k.is_empty()), raw.get(stop))
        else {
            return Self::from_line(line);
        };
        if after == b'\r' {
            // `stop` is the CR of the terminator (the only CR of a validated line).
            return Self {
                line,
                keyword,
                params: &[],
                legacy_equals: false,
            };
        }
        let mut end = raw.len() - usize::from(raw.ends_with(b"\r\n")) * 2;
        while end > stop && raw.get(end - 1).is_some_and(|&b| is_blank(b)) {
            end -= 1;
        }
        let legacy_equals = after == b'=';
        let params = raw
            .get(stop + usize::from(legacy_equals)..end)
            .unwrap_or(&[]);
        Self {
            line,
            keyword,
            params,
            legacy_equals,
        }
    }

    /// The keyword of `line` alone, as [`from_line`](Self::from_line) would find it: the
    /// rewriter's question, answered from the parser's `stop` (as for
    /// [`from_line_with_stop`](Self::from_line_with_stop)) or with one word-wide scan for the
    /// common line shape.
    #[inline]
    pub(crate) fn keyword_of(line: Line<'a>, stop: usize) -> &'a [u8] {
        let raw = line.raw();
        if let Some(keyword) = raw.get(4..stop).filter(|k| !k.is_empty()) {
            return keyword;
        }
        // `250-KEYWORD[...]CRLF` with no blank after the separator nor before the CRLF.
        if let [.., before, b'\r', b'\n'] = raw
            && !is_blank(*before)
            && raw
                .get(4)
                .is_some_and(|&b| class(b) == 0 && b != b'\r' && b != b'\n')
        {
            return raw.get(4..token_end(raw, 5)).unwrap_or(&[]);
        }
        Self::from_line(line).keyword()
    }

    /// The line this capability came from.
    pub fn line(&self) -> Line<'a> {
        self.line
    }

    /// The keyword as sent (compare with `eq_ignore_ascii_case`, or use
    /// [`keyword_upper`](Self::keyword_upper)).
    pub fn keyword(&self) -> &'a [u8] {
        self.keyword
    }

    /// The keyword, ASCII upper-cased.
    pub fn keyword_upper(&self) -> Vec<u8> {
        self.keyword.to_ascii_uppercase()
    }

    /// The parameters, in order. In the legacy form the remainder of the first token after
    /// `=` is the first parameter even when it is empty: `AUTH= LOGIN` has the parameters
    /// `""` and `LOGIN`, and `AUTH=` has one, `""`.
    pub fn params(&self) -> impl Iterator<Item = &'a [u8]> + use<'a> {
        let empty_first = self.legacy_equals && self.params.first().is_none_or(|&b| is_blank(b));
        empty_first
            .then(|| self.params.get(..0).unwrap_or_default())
            .into_iter()
            .chain(Params { rest: self.params })
    }

    /// Whether the keyword is valid: `(ALPHA / DIGIT) *(ALPHA / DIGIT / "-")` (RFC 5321 §4.1.1.1).
    pub fn is_valid(&self) -> bool {
        match self.keyword.split_first() {
            Some((first, rest)) => {
                first.is_ascii_alphanumeric()
                    && rest.iter().all(|b| b.is_ascii_alphanumeric() || *b == b'-')
            }
            None => false,
        }
    }

    /// Whether the keyword was written in the legacy `KEYWORD=params` form.
    pub fn legacy_equals(&self) -> bool {
        self.legacy_equals
    }

    /// The registered extension this keyword names, or [`Extension::Other`].
    pub fn extension(&self) -> Extension {
        Extension::from_keyword(self.keyword)
    }
}

/// Registered SMTP service extensions with accessors or filtering support (IANA "SMTP Service
/// Extensions" registry).
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Extension {
    /// `SIZE` (RFC 1870).
    Size,
    /// `8BITMIME` (RFC 6152).
    EightBitMime,
    /// `PIPELINING` (RFC 2920).
    Pipelining,
    /// `DSN` (RFC 3461).
    Dsn,
    /// `ENHANCEDSTATUSCODES` (RFC 2034).
    EnhancedStatusCodes,
    /// `STARTTLS` (RFC 3207).
    StartTls,
    /// `AUTH` (RFC 4954).
    Auth,
    /// `SMTPUTF8` (RFC 6531).
    SmtpUtf8,
    /// `CHUNKING` (RFC 3030).
    Chunking,
    /// `BINARYMIME` (RFC 3030).
    BinaryMime,
    /// `REQUIRETLS` (RFC 8689).
    RequireTls,
    /// `LIMITS` (RFC 9422).
    Limits,
    /// `DELIVERBY` (RFC 2852).
    DeliverBy,
    /// `MT-PRIORITY` (RFC 6710).
    MtPriority,
    /// `FUTURERELEASE` (RFC 4865).
    FutureRelease,
    /// `ETRN` (RFC 1985).
    Etrn,
    /// `ATRN` (RFC 2645).
    Atrn,
    /// `VRFY` (RFC 5321).
    Vrfy,
    /// `EXPN` (RFC 5321).
    Expn,
    /// `HELP` (RFC 5321).
    Help,
    /// `NO-SOLICITING` (RFC 3865).
    NoSoliciting,
    /// `CONPERM` / `CONNEG` are not tracked; any other keyword.
    Other,
}

impl Extension {
    const TABLE: [(&'static [u8], Self); 21] = [
        (b"SIZE", Self::Size),
        (b"8BITMIME", Self::EightBitMime),
        (b"PIPELINING", Self::Pipelining),
        (b"DSN", Self::Dsn),
        (b"ENHANCEDSTATUSCODES", Self::EnhancedStatusCodes),
        (b"STARTTLS", Self::StartTls),
        (b"AUTH", Self::Auth),
        (b"SMTPUTF8", Self::SmtpUtf8),
        (b"CHUNKING", Self::Chunking),
        (b"BINARYMIME", Self::BinaryMime),
        (b"REQUIRETLS", Self::RequireTls),
        (b"LIMITS", Self::Limits),
        (b"DELIVERBY", Self::DeliverBy),
        (b"MT-PRIORITY", Self::MtPriority),
        (b"FUTURERELEASE", Self::FutureRelease),
        (b"ETRN", Self::Etrn),
        (b"ATRN", Self::Atrn),
        (b"VRFY", Self::Vrfy),
        (b"EXPN", Self::Expn),
        (b"HELP", Self::Help),
        (b"NO-SOLICITING", Self::NoSoliciting),
    ];

    /// The extension named by `keyword`, compared case-insensitively.
    pub fn from_keyword(keyword: &[u8]) -> Self {
        Self::TABLE
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(keyword))
            .map_or(Self::Other, |&(_, ext)| ext)
    }

    /// The registered keyword, upper case; `None` for [`Extension::Other`].
    pub fn keyword(self) -> Option<&'static str> {
        Self::TABLE
            .iter()
            .find(|&&(_, ext)| ext == self)
            .and_then(|(name, _)| core::str::from_utf8(name).ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Mode;

    fn ehlo_of(input: &[u8]) -> Ehlo<'_> {
        let reply = Reply::parse(input, Mode::Strict)
            .unwrap()
            .complete()
            .unwrap();
        Ehlo::new(&reply).unwrap()
    }

    #[test]
    fn greeting_line_splits_into_domain_and_text_at_the_first_space() {
        let e = ehlo_of(b"250-mx.example.net Hello  there \r\n250 PIPELINING\r\n");
        assert_eq!(e.domain(), b"mx.example.net");
        assert_eq!(e.greeting_text(), b"Hello  there ");
        let single = ehlo_of(b"250 mx.example.net\r\n");
        assert_eq!(
            (single.domain(), single.greeting_text()),
            (&b"mx.example.net"[..], &b""[..])
        );
        assert_eq!(single.capabilities().count(), 0);
    }

    #[test]
    fn capability_lines_are_trimmed_and_tokenised_on_blanks() {
        let e =
            ehlo_of(b"250-x\r\n250- starttls \t\r\n250-AUTH\tPLAIN  LOGIN\r\n250 8 BITMIME\r\n");
        let caps: Vec<_> = e.capabilities().collect();
        assert_eq!(caps[0].keyword_upper(), b"STARTTLS");
        assert_eq!(caps[0].params().count(), 0);
        assert_eq!(
            caps[1].params().collect::<Vec<_>>(),
            [&b"PLAIN"[..], b"LOGIN"]
        );
        assert_eq!(caps[2].keyword(), b"8");
        assert!(caps[2].is_valid());
        assert!(e.has_starttls());
    }

    #[test]
    fn legacy_auth_equals_form_ends_the_keyword_at_the_equals_sign() {
        let e = ehlo_of(b"250-x\r\n250 AUTH=LOGIN PLAIN\r\n");
        let cap = e.capabilities().next().unwrap();
        assert!(cap.legacy_equals());
        assert_eq!(cap.keyword(), b"AUTH");
        assert_eq!(cap.params().collect::<Vec<_>>(), [&b"LOGIN"[..], b"PLAIN"]);
        assert_eq!(e.auth_mechanisms().count(), 2);
    }

    #[test]
    fn an_empty_remainder_after_the_legacy_equals_sign_is_the_first_parameter() {
        let e = ehlo_of(b"250-x\r\n250-AUTH=\r\n250-AUTH= LOGIN\r\n250 auth=  \t\r\n");
        let params: Vec<Vec<&[u8]>> = e.capabilities().map(|c| c.params().collect()).collect();
        let empty: &[u8] = b"";
        assert_eq!(
            params,
            [vec![empty], vec![empty, &b"LOGIN"[..]], vec![empty]]
        );
        assert!(e.capabilities().all(|c| c.legacy_equals()));
        assert_eq!(e.auth_mechanisms().collect::<Vec<_>>(), [&b"LOGIN"[..]]);
    }

    #[test]
    fn invalid_keywords_are_kept_and_flagged() {
        let e = ehlo_of(b"250-x\r\n250-\r\n250-_X\r\n250 -A\r\n");
        let valid: Vec<bool> = e.capabilities().map(|c| c.is_valid()).collect();
        assert_eq!(valid, [false, false, false]);
    }

    #[test]
    fn typed_accessors_read_size_limits_and_auth() {
        let e = ehlo_of(
            b"250-x\r\n250-SIZE\r\n250-LIMITS RCPTMAX=100 MAILMAX=5 BOGUS=1 RCPTDOMAINMAX=x\r\n250 auth plain\r\n",
        );
        assert_eq!(e.max_size(), Some(MaxSize::NoFixedLimit));
        assert_eq!(
            e.limits(),
            Some(Limits {
                mail_max: Some(5),
                rcpt_max: Some(100),
                rcpt_domain_max: None
            })
        );
        assert!(e.has(Extension::Auth));
        assert!(!e.has(Extension::Chunking));
        assert_eq!(
            e.capability(b"Limits").map(|c| c.extension()),
            Some(Extension::Limits)
        );
    }

    #[test]
    fn non_250_reply_is_not_an_ehlo_success() {
        let reply = Reply::parse(b"502 5.5.2 Error\r\n", Mode::Strict)
            .unwrap()
            .complete()
            .unwrap();
        assert!(Ehlo::new(&reply).is_none());
    }

    #[test]
    fn keyword_of_a_line_agrees_with_the_full_tokenizer() {
        let leads: [&[u8]; 3] = [b"", b" ", b"\t "];
        let keywords: [&[u8]; 6] = [
            b"",
            b"SIZE",
            b"8BITMIME",
            b"ENHANCEDSTATUSCODES",
            b"X",
            b"AUTH",
        ];
        let rests: [&[u8]; 6] = [b"", b" 1000", b"=PLAIN LOGIN", b"\tA  B", b"=", b"  "];
        let trails: [&[u8]; 3] = [b"", b" ", b"\t"];
        let ends: [&[u8]; 2] = [b"\r\n", b"\n"];
        for lead in leads {
            for keyword in keywords {
                for rest in rests {
                    for trail in trails {
                        for end in ends {
                            let input =
                                [&b"250-"[..], lead, keyword, rest, trail, end, b"250 Z\r\n"]
                                    .concat();
                            let reply = Reply::parse(&input, Mode::Lenient)
                                .unwrap()
                                .complete()
                                .unwrap();
                            let line = reply.lines().next().unwrap();
                            let raw = line.raw();
                            assert_eq!(
                                Capability::keyword_of(line, 0),
                                Capability::from_line(line).keyword(),
                                "{:?}",
                                String::from_utf8_lossy(raw)
                            );
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn extension_keywords_round_trip() {
        for (name, ext) in Extension::TABLE {
            assert_eq!(Extension::from_keyword(&name.to_ascii_lowercase()), ext);
            assert_eq!(ext.keyword().map(str::as_bytes), Some(name));
        }
        assert_eq!(Extension::Other.keyword(), None);
    }
}
