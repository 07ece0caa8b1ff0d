//! Macro strings (RFC 7208 §7): parsing, canonical printing and expansion.

use core::fmt::{self, Write as _};
use std::net::{IpAddr, Ipv4Addr};

use nom::branch::alt;
use nom::bytes::complete::{tag, take_while, take_while1};
use nom::character::complete::{char, digit0, one_of};
use nom::combinator::{map, opt, value};
use nom::{IResult, Parser};

use crate::error::{Error, SyntaxProblem};

/// The macro letters of RFC 7208 §7.2.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MacroLetter {
    /// `s`: the sender, `local-part@domain`.
    Sender,
    /// `l`: the local-part of the sender.
    LocalPart,
    /// `o`: the domain of the sender.
    SenderDomain,
    /// `d`: the current domain.
    Domain,
    /// `i`: the client IP: dotted quad, or dot-separated nibbles for IPv6.
    Ip,
    /// `p`: the validated domain name of the client IP (needs DNS; avoid, RFC 7208 §7.3).
    ValidatedDomain,
    /// `v`: `in-addr` for IPv4, `ip6` for IPv6.
    IpVersion,
    /// `h`: the HELO/EHLO domain.
    Helo,
    /// `c`: the client IP in its usual text form (explanations only).
    ClientIp,
    /// `r`: the receiving host's domain (explanations only).
    Receiver,
    /// `t`: the current time in seconds since the epoch (explanations only).
    Timestamp,
}

impl MacroLetter {
    const ALL: [Self; 11] = [
        Self::Sender,
        Self::LocalPart,
        Self::SenderDomain,
        Self::Domain,
        Self::Ip,
        Self::ValidatedDomain,
        Self::IpVersion,
        Self::Helo,
        Self::ClientIp,
        Self::Receiver,
        Self::Timestamp,
    ];

    /// The lower-case letter.
    pub const fn as_char(self) -> char {
        match self {
            Self::Sender => 's',
            Self::LocalPart => 'l',
            Self::SenderDomain => 'o',
            Self::Domain => 'd',
            Self::Ip => 'i',
            Self::ValidatedDomain => 'p',
            Self::IpVersion => 'v',
            Self::Helo => 'h',
            Self::ClientIp => 'c',
            Self::Receiver => 'r',
            Self::Timestamp => 't',
        }
    }

    /// Whether the letter may only appear in explanation text (RFC 7208 §7.2: c, r, t).
    pub const fn exp_only(self) -> bool {
        matches!(self, Self::ClientIp | Self::Receiver | Self::Timestamp)
    }

    fn from_char(c: char) -> Option<Self> {
        let lower = c.to_ascii_lowercase();
        Self::ALL.into_iter().find(|l| l.as_char() == lower)
    }
}

/// The delimiter characters of RFC 7208 §7.1, in canonical order.
const DELIMITERS: [char; 7] = ['.', '-', '+', ',', '/', '_', '='];

/// A set of macro delimiters (`.-+,/_=`); empty means the default `.`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Delimiters(u8);

impl Delimiters {
    fn bit(c: char) -> u8 {
        DELIMITERS
            .iter()
            .position(|&d| d == c)
            .map_or(0, |i| 1u8 << i)
    }

    /// Whether `c` splits values (the default set is just `.`).
    pub fn contains(self, c: char) -> bool {
        if self.0 == 0 {
            c == '.'
        } else {
            self.0 & Self::bit(c) != 0
        }
    }

    /// Whether no delimiter was given.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    fn insert(&mut self, c: char) {
        self.0 |= Self::bit(c);
    }
}

/// One `%{...}` macro: letter, transformers and delimiters (RFC 7208 §7.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Macro {
    /// Which value to expand.
    pub letter: MacroLetter,
    /// Upper-case letter: URL-escape the expansion (RFC 7208 §7.3).
    pub url_escape: bool,
    /// Keep only this many right-hand parts (nonzero).
    pub digits: Option<u8>,
    /// Reverse the parts (`r`).
    pub reverse: bool,
    /// Characters that split the value into parts.
    pub delimiters: Delimiters,
}

/// One piece of a macro string.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum MacroToken {
    /// Literal text (printable ASCII other than `%`).
    Literal(String),
    /// A `%{...}` macro.
    Macro(Macro),
    /// `%%`: a percent sign.
    Percent,
    /// `%_`: a space.
    Space,
    /// `%-`: a URL-encoded space, `%20`.
    UrlSpace,
}

/// A parsed macro string: the value of a domain-spec, of a modifier or of explanation text.
///
/// ```
/// use postern_spf::MacroString;
/// let m = MacroString::parse("%{ir}.%{v}._spf.%{D2}", false)?;
/// assert_eq!(m.to_string(), "%{ir}.%{v}._spf.%{D2}");
/// # Ok::<(), postern_spf::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct MacroString(Vec<MacroToken>);

/// The values macros expand to (RFC 7208 §7.2).
#[derive(Debug, Clone, Copy)]
pub struct MacroContext<'a> {
    /// The local-part of the sender.
    pub local_part: &'a str,
    /// The domain of the sender.
    pub sender_domain: &'a str,
    /// The current domain (`%{d}`).
    pub domain: &'a str,
    /// The client IP (IPv4-mapped IPv6 addresses already turned into IPv4).
    pub ip: IpAddr,
    /// The validated domain name of the client, if it was looked up (`%{p}`); `unknown` if not.
    pub validated: Option<&'a str>,
    /// The HELO/EHLO domain.
    pub helo: &'a str,
    /// The receiving host's domain (`%{r}`).
    pub receiver: &'a str,
    /// Seconds since the epoch (`%{t}`).
    pub timestamp: u64,
}

fn is_literal_char(c: char) -> bool {
    matches!(c, '\x21'..='\x24' | '\x26'..='\x7e')
}

fn literal(i: &str) -> IResult<&str, MacroToken> {
    map(take_while1(is_literal_char), |s: &str| {
        MacroToken::Literal(s.to_owned())
    })
    .parse(i)
}

/// Explanation text also allows spaces (RFC 7208 §6.2 `explain-string`).
fn exp_literal(i: &str) -> IResult<&str, MacroToken> {
    map(
        take_while1(|c| c == ' ' || is_literal_char(c)),
        |s: &str| MacroToken::Literal(s.to_owned()),
    )
    .parse(i)
}

fn escape(i: &str) -> IResult<&str, MacroToken> {
    alt((
        value(MacroToken::Percent, tag("%%")),
        value(MacroToken::Space, tag("%_")),
        value(MacroToken::UrlSpace, tag("%-")),
    ))
    .parse(i)
}

/// `"%{" macro-letter transformers *delimiter "}"`, without checking the letter's context.
fn macro_expand(i: &str) -> IResult<&str, (char, &str, Option<char>, &str)> {
    let letter = nom::character::complete::satisfy(|c| MacroLetter::from_char(c).is_some());
    let (rest, (_, letter, digits, reverse, delims, _)) = (
        tag("%{"),
        letter,
        digit0,
        opt(one_of("rR")),
        take_while(|c| DELIMITERS.contains(&c)),
        char('}'),
    )
        .parse(i)?;
    Ok((rest, (letter, digits, reverse, delims)))
}

impl MacroString {
    /// Parses macro-string text (RFC 7208 §7.1). `exp` parses explanation text instead
    /// (RFC 7208 §6.2): spaces and the explanation-only letters `c`, `r` and `t` are allowed.
    /// The whole text must be a macro string.
    ///
    /// # Errors
    /// [`Error::Syntax`] with the offset of the offending `%` or byte.
    pub fn parse(text: &str, exp: bool) -> Result<Self, Error> {
        Self::parse_at(text, exp, 0)
    }

    /// [`MacroString::parse`] for text that starts at `base` in a larger record.
    pub(crate) fn parse_at(text: &str, exp: bool, base: usize) -> Result<Self, Error> {
        // Most domain-specs are plain names: one literal, no macro to look for.
        if !text.is_empty()
            && text
                .bytes()
                .all(|b| b != b'%' && (b.is_ascii_graphic() || (exp && b == b' ')))
        {
            return Ok(Self(vec![MacroToken::Literal(text.to_owned())]));
        }
        let mut tokens: Vec<MacroToken> = Vec::new();
        let mut rest = text;
        while !rest.is_empty() {
            let offset = base.saturating_add(text.len().saturating_sub(rest.len()));
            let lit = if exp {
                exp_literal(rest)
            } else {
                literal(rest)
            };
            if let Ok((next, token)) = lit {
                push_token(&mut tokens, token);
                rest = next;
            } else if let Ok((next, token)) = escape(rest) {
                push_token(&mut tokens, token);
                rest = next;
            } else if rest.starts_with("%{") {
                let (next, (letter, digits, reverse, delims)) = macro_expand(rest)
                    .map_err(|_| Error::syntax(offset, SyntaxProblem::BadMacro))?;
                let letter_value = MacroLetter::from_char(letter)
                    .ok_or(Error::syntax(offset, SyntaxProblem::BadMacro))?;
                if letter_value.exp_only() && !exp {
                    return Err(Error::syntax(
                        offset,
                        SyntaxProblem::ExpOnlyMacro(letter.to_ascii_lowercase()),
                    ));
                }
                let digits = if digits.is_empty() {
                    None
                } else {
                    // More parts than any name has are the same as all parts; 255 keeps the
                    // value printable in the canonical form.
                    let n: u32 = digits
                        .bytes()
                        .try_fold(0u32, |acc, d| {
                            acc.checked_mul(10)?
                                .checked_add(u32::from(d.wrapping_sub(b'0')))
                        })
                        .unwrap_or(u32::MAX);
                    if n == 0 {
                        return Err(Error::syntax(offset, SyntaxProblem::ZeroDigits));
                    }
                    Some(u8::try_from(n).unwrap_or(u8::MAX))
                };
                let mut delimiters = Delimiters::default();
                for c in delims.chars() {
                    delimiters.insert(c);
                }
                tokens.push(MacroToken::Macro(Macro {
                    letter: letter_value,
                    url_escape: letter.is_ascii_uppercase(),
                    digits,
                    reverse: reverse.is_some(),
                    delimiters,
                }));
                rest = next;
            } else if rest.starts_with('%') {
                return Err(Error::syntax(offset, SyntaxProblem::BadPercent));
            } else {
                let byte = rest.bytes().next().unwrap_or(0);
                return Err(Error::syntax(offset, SyntaxProblem::BadByte(byte)));
            }
        }
        Ok(Self(tokens))
    }

    /// The tokens, with adjacent literals merged.
    pub fn tokens(&self) -> &[MacroToken] {
        &self.0
    }

    /// Whether the string is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether any token is a `%{p}` macro (whose expansion needs DNS lookups).
    pub fn uses_validated_domain(&self) -> bool {
        self.0
            .iter()
            .any(|t| matches!(t, MacroToken::Macro(m) if m.letter == MacroLetter::ValidatedDomain))
    }

    /// Whether the text is a valid domain-spec: it ends in a macro-expand, or in `.` and a
    /// top label and an optional `.` (RFC 7208 §7.1 `domain-end`).
    pub fn is_domain_spec(&self) -> bool {
        match self.0.last() {
            None => false,
            Some(MacroToken::Literal(text)) => {
                let text = text.strip_suffix('.').unwrap_or(text);
                match text.rsplit_once('.') {
                    Some((_, top)) => is_toplabel(top),
                    None => false,
                }
            }
            Some(_) => true,
        }
    }

    /// Expands the string into `out` (RFC 7208 §7.3).
    pub fn expand_into(&self, ctx: &MacroContext<'_>, out: &mut String) {
        // Holds a macro's value while it is transformed; allocated only if needed.
        let mut scratch = String::new();
        for token in &self.0 {
            match token {
                MacroToken::Literal(text) => out.push_str(text),
                MacroToken::Percent => out.push('%'),
                MacroToken::Space => out.push(' '),
                MacroToken::UrlSpace => out.push_str("%20"),
                MacroToken::Macro(m) => expand_macro(*m, ctx, out, &mut scratch),
            }
        }
    }

    /// Expands the string (RFC 7208 §7.3).
    ///
    /// ```
    /// use postern_spf::{MacroContext, MacroString};
    /// let ctx = MacroContext {
    ///     local_part: "strong-bad", sender_domain: "email.example.com", domain: "email.example.com",
    ///     ip: "192.0.2.3".parse().unwrap(), validated: None, helo: "mx.example.org",
    ///     receiver: "mx.example.net", timestamp: 0,
    /// };
    /// let m = MacroString::parse("%{ir}.%{v}._spf.%{d2}", false)?;
    /// assert_eq!(m.expand(&ctx), "3.2.0.192.in-addr._spf.example.com");
    /// assert_eq!(MacroString::parse("%{lr-}", false)?.expand(&ctx), "bad.strong");
    /// # Ok::<(), postern_spf::Error>(())
    /// ```
    pub fn expand(&self, ctx: &MacroContext<'_>) -> String {
        let mut out = String::new();
        self.expand_into(ctx, &mut out);
        out
    }
}

fn push_token(tokens: &mut Vec<MacroToken>, token: MacroToken) {
    if let (Some(MacroToken::Literal(prev)), MacroToken::Literal(text)) =
        (tokens.last_mut(), &token)
    {
        prev.push_str(text);
        return;
    }
    tokens.push(token);
}

/// `toplabel = ( *alphanum ALPHA *alphanum ) / ( 1*alphanum "-" *( alphanum / "-" ) alphanum )`
pub(crate) fn is_toplabel(label: &str) -> bool {
    let bytes = label.as_bytes();
    if bytes.is_empty()
        || !bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || *b == b'-')
    {
        return false;
    }
    if !bytes.contains(&b'-') {
        return bytes.iter().any(u8::is_ascii_alphabetic);
    }
    bytes.first().is_some_and(u8::is_ascii_alphanumeric)
        && bytes.last().is_some_and(u8::is_ascii_alphanumeric)
}

/// Writes the raw value of a macro letter.
fn write_value(letter: MacroLetter, ctx: &MacroContext<'_>, out: &mut String) {
    match letter {
        MacroLetter::Sender => {
            out.push_str(ctx.local_part);
            out.push('@');
            out.push_str(ctx.sender_domain);
        }
        MacroLetter::LocalPart => out.push_str(ctx.local_part),
        MacroLetter::SenderDomain => out.push_str(ctx.sender_domain),
        MacroLetter::Domain => out.push_str(ctx.domain),
        MacroLetter::Ip => match ctx.ip {
            IpAddr::V4(v4) => write_ipv4(v4, out),
            // RFC 7208 §7.3: dot-separated nibbles. Upper-case hex as pyspf, the reference
            // implementation, writes them (the OpenSPF suite's v-macro-ip6 expects this).
            IpAddr::V6(v6) => {
                for (i, byte) in v6.octets().iter().enumerate() {
                    if i > 0 {
                        out.push('.');
                    }
                    out.push(hex_upper(byte >> 4));
                    out.push('.');
                    out.push(hex_upper(byte & 0x0f));
                }
            }
        },
        MacroLetter::ValidatedDomain => out.push_str(ctx.validated.unwrap_or("unknown")),
        MacroLetter::IpVersion => out.push_str(match ctx.ip {
            IpAddr::V4(_) => "in-addr",
            IpAddr::V6(_) => "ip6",
        }),
        MacroLetter::Helo => out.push_str(ctx.helo),
        MacroLetter::ClientIp => {
            let _ = write!(out, "{}", ctx.ip);
        }
        MacroLetter::Receiver => out.push_str(ctx.receiver),
        MacroLetter::Timestamp => {
            let _ = write!(out, "{}", ctx.timestamp);
        }
    }
}

/// An upper-case hex digit for a nibble.
fn hex_upper(nibble: u8) -> char {
    char::from(
        *b"0123456789ABCDEF"
            .get(usize::from(nibble & 0x0f))
            .unwrap_or(&b'0'),
    )
}

/// Writes a decimal octet (no formatting machinery: this runs for every `%{i}`).
pub(crate) fn write_octet(octet: u8, out: &mut String) {
    let digits = [
        b'0' + octet / 100,
        b'0' + (octet / 10) % 10,
        b'0' + octet % 10,
    ];
    let skip = if octet >= 100 {
        0
    } else if octet >= 10 {
        1
    } else {
        2
    };
    out.push_str(core::str::from_utf8(digits.get(skip..).unwrap_or_default()).unwrap_or_default());
}

/// Writes an IPv4 address in dotted-quad form.
pub(crate) fn write_ipv4(ip: Ipv4Addr, out: &mut String) {
    for (i, octet) in ip.octets().into_iter().enumerate() {
        if i > 0 {
            out.push('.');
        }
        write_octet(octet, out);
    }
}

/// URL-escapes everything outside the unreserved set (RFC 7208 §7.3, RFC 3986 §2.3).
fn push_escaped(out: &mut String, text: &str) {
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push('%');
            out.push(hex_upper(byte >> 4));
            out.push(hex_upper(byte & 0x0f));
        }
    }
}

fn expand_macro(m: Macro, ctx: &MacroContext<'_>, out: &mut String, scratch: &mut String) {
    let transformed = m.digits.is_some() || m.reverse || !m.delimiters.is_empty();
    if !transformed && !m.url_escape {
        write_value(m.letter, ctx, out);
        return;
    }
    scratch.clear();
    scratch.reserve(64);
    write_value(m.letter, ctx, scratch);
    let emit = |out: &mut String, part: &str| {
        if m.url_escape {
            push_escaped(out, part);
        } else {
            out.push_str(part);
        }
    };
    if !transformed {
        emit(out, scratch);
        return;
    }
    // RFC 7208 §7.3: split on the delimiters, reverse, keep the right-hand parts, rejoin with
    // ".". Without a list: the right-hand `keep` parts are the last ones in order; after
    // reversal they are the first `keep` parts, last first, which `rsplit` yields.
    let is_delim = |c: char| m.delimiters.contains(c);
    let count = scratch.split(is_delim).count();
    let keep = m.digits.map_or(count, usize::from).min(count);
    let skip = count.saturating_sub(keep);
    let parts: &mut dyn Iterator<Item = &str> = if m.reverse {
        &mut scratch.rsplit(is_delim).skip(skip)
    } else {
        &mut scratch.split(is_delim).skip(skip)
    };
    for (i, part) in parts.enumerate() {
        if i > 0 {
            out.push('.');
        }
        emit(out, part);
    }
}

impl fmt::Display for Macro {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let letter = self.letter.as_char();
        f.write_str("%{")?;
        f.write_char(if self.url_escape {
            letter.to_ascii_uppercase()
        } else {
            letter
        })?;
        if let Some(d) = self.digits {
            write!(f, "{d}")?;
        }
        if self.reverse {
            f.write_char('r')?;
        }
        if !self.delimiters.is_empty() {
            for d in DELIMITERS {
                if self.delimiters.contains(d) {
                    f.write_char(d)?;
                }
            }
        }
        f.write_char('}')
    }
}

impl fmt::Display for MacroString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for token in &self.0 {
            match token {
                MacroToken::Literal(text) => f.write_str(text)?,
                MacroToken::Macro(m) => write!(f, "{m}")?,
                MacroToken::Percent => f.write_str("%%")?,
                MacroToken::Space => f.write_str("%_")?,
                MacroToken::UrlSpace => f.write_str("%-")?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(ip: &str) -> MacroContext<'static> {
        MacroContext {
            local_part: "strong-bad",
            sender_domain: "email.example.com",
            domain: "email.example.com",
            ip: ip.parse().unwrap(),
            validated: None,
            helo: "mx.example.org",
            receiver: "mx.example.net",
            timestamp: 1234,
        }
    }

    // The examples of RFC 7208 §7.4.
    #[test]
    fn rfc_examples() {
        let c = ctx("192.0.2.3");
        for (text, want) in [
            ("%{s}", "strong-bad@email.example.com"),
            ("%{o}", "email.example.com"),
            ("%{d}", "email.example.com"),
            ("%{d4}", "email.example.com"),
            ("%{d3}", "email.example.com"),
            ("%{d2}", "example.com"),
            ("%{d1}", "com"),
            ("%{dr}", "com.example.email"),
            ("%{d2r}", "example.email"),
            ("%{l}", "strong-bad"),
            ("%{l-}", "strong.bad"),
            ("%{lr}", "strong-bad"),
            ("%{lr-}", "bad.strong"),
            ("%{l1r-}", "strong"),
            (
                "%{ir}.%{v}._spf.%{d2}",
                "3.2.0.192.in-addr._spf.example.com",
            ),
            ("%{lr-}.lp._spf.%{d2}", "bad.strong.lp._spf.example.com"),
            (
                "%{lr-}.lp.%{ir}.%{v}._spf.%{d2}",
                "bad.strong.lp.3.2.0.192.in-addr._spf.example.com",
            ),
            (
                "%{ir}.%{v}.%{l1r-}.lp._spf.%{d2}",
                "3.2.0.192.in-addr.strong.lp._spf.example.com",
            ),
            (
                "%{d2}.trusted-domains.example.net",
                "example.com.trusted-domains.example.net",
            ),
            ("%%%_%-", "% %20"),
        ] {
            assert_eq!(
                MacroString::parse(text, false).unwrap().expand(&c),
                want,
                "{text}"
            );
        }
        let c6 = ctx("2001:db8::cb01");
        assert_eq!(
            MacroString::parse("%{ir}.%{v}._spf.%{d2}", false)
                .unwrap()
                .expand(&c6),
            "1.0.B.C.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.B.D.0.1.0.0.2.ip6._spf.example.com"
        );
        assert_eq!(
            MacroString::parse("%{c} %{r} %{t}", true)
                .unwrap()
                .expand(&c6),
            "2001:db8::cb01 mx.example.net 1234"
        );
        assert_eq!(
            MacroString::parse("%{L}=%{S}", true).unwrap().expand(&c),
            "strong-bad=strong-bad%40email.example.com"
        );
    }

    #[test]
    fn errors() {
        for (text, offset, problem) in [
            ("a%b", 1, SyntaxProblem::BadPercent),
            ("ab%", 2, SyntaxProblem::BadPercent),
            ("%{x}", 0, SyntaxProblem::BadMacro),
            ("x%{d", 1, SyntaxProblem::BadMacro),
            ("%{d0}", 0, SyntaxProblem::ZeroDigits),
            ("%{c}", 0, SyntaxProblem::ExpOnlyMacro('c')),
            ("%{R}", 0, SyntaxProblem::ExpOnlyMacro('r')),
            ("a b", 1, SyntaxProblem::BadByte(b' ')),
        ] {
            assert_eq!(
                MacroString::parse(text, false),
                Err(Error::Syntax { offset, problem }),
                "{text}"
            );
        }
    }

    #[test]
    fn domain_end() {
        for (text, ok) in [
            ("example.com", true),
            ("example.com.", true),
            ("%{d}", true),
            ("%{d}.com", true),
            ("museum", false),
            ("foo.example.123", false),
            ("foo.example-dash", true),
            ("foo.-dash", false),
            ("%{d}com", false),
            ("%%", true),
        ] {
            assert_eq!(
                MacroString::parse(text, false).unwrap().is_domain_spec(),
                ok,
                "{text}"
            );
        }
    }
}
