//! Macro strings (RFC 7208 §7): parsing, canonical printing and expansion.

use core::fmt::{self, Write as _};
use std::net::{IpAddr, Ipv4Addr};

use crate::error::{Error, SyntaxProblem};
use crate::record::find_byte;

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
    /// Every letter, in the order of RFC 7208 §7.2.
    pub(crate) const ALL: [Self; 11] = [
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

    /// The letter of an ASCII byte, either case.
    fn from_byte(b: u8) -> Option<Self> {
        // Indexed by the lower-case letter's place in the alphabet.
        #[allow(
            clippy::indexing_slicing,
            reason = "compile-time code: an index out of bounds fails the build"
        )]
        const LETTERS: [Option<MacroLetter>; 26] = {
            let mut table = [None; 26];
            let letters = MacroLetter::ALL;
            let mut i = 0;
            while i < letters.len() {
                table[(letters[i].as_char() as u8 - b'a') as usize] = Some(letters[i]);
                i += 1;
            }
            table
        };
        LETTERS
            .get(usize::from(b.to_ascii_lowercase().wrapping_sub(b'a')))
            .copied()
            .flatten()
    }
}

/// The delimiter characters of RFC 7208 §7.1, in canonical order.
pub(crate) const DELIMITERS: [char; 7] = ['.', '-', '+', ',', '/', '_', '='];

/// A set of macro delimiters (`.-+,/_=`); empty means the default `.`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Delimiters(pub(crate) u8);

impl Delimiters {
    pub(crate) fn bit(c: char) -> u8 {
        DELIMITERS
            .iter()
            .position(|&d| d == c)
            .map_or(0, |i| 1u8 << i)
    }

    /// The bit of a delimiter byte (in the order of [`DELIMITERS`]).
    fn byte_bit(b: u8) -> Option<u8> {
        let bit = class(b) & DELIMITER_BITS;
        (bit != 0).then_some(bit)
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
///
/// It is kept as its canonical text (one allocation), read token by token when expanded.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct MacroString(Box<str>);

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

/// A byte's class in macro text: its delimiter bit (see [`Delimiters`]) and whether it is a
/// `macro-literal`.
const LITERAL: u8 = 0x80;
/// The delimiter bits of a class.
const DELIMITER_BITS: u8 = 0x7f;

/// The class of every byte, built once at compile time: one load per byte in the tokenizer
/// and in the splitting of values.
#[allow(
    clippy::indexing_slicing,
    reason = "compile-time code: an index out of bounds fails the build"
)]
static CLASSES: [u8; 256] = {
    let mut table = [0u8; 256];
    let mut b = 0x21;
    while b <= 0x7e {
        if b != b'%' as usize {
            table[b] = LITERAL;
        }
        b += 1;
    }
    let mut i = 0;
    while i < DELIMITERS.len() {
        table[DELIMITERS[i] as usize] |= 1 << i;
        i += 1;
    }
    table
};

/// The class of a byte (see [`CLASSES`]).
fn class(b: u8) -> u8 {
    CLASSES.get(usize::from(b)).copied().unwrap_or(0)
}

/// `macro-literal` (RFC 7208 §7.1): printable ASCII other than `%`; explanation text also
/// allows spaces (RFC 7208 §6.2 `explain-string`).
fn is_literal_byte(b: u8, exp: bool) -> bool {
    class(b) & LITERAL != 0 || (exp && b == b' ')
}

/// One token of macro text, borrowing its literal: what the single-pass tokenizer
/// [`next_piece`] yields for parsing, validation and expansion alike.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Piece<'a> {
    Literal(&'a str),
    Macro(Macro),
    Percent,
    Space,
    UrlSpace,
}

/// One token of macro text without its text: what [`next_token`] yields (a literal's text is
/// the bytes it spans).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Token {
    Literal,
    Macro(Macro),
    Percent,
    Space,
    UrlSpace,
}

/// The token of `bytes` at `pos` and the offset after it (RFC 7208 §7.1); `None` at the end.
/// Errors carry offsets relative to `base`. The one tokenizer, on bytes: [`next_piece`]
/// gives it the text of literals.
#[allow(
    clippy::inline_always,
    reason = "its result (a token or an error) would otherwise go through memory on every token"
)]
#[inline(always)]
pub(crate) fn next_token(
    bytes: &[u8],
    pos: usize,
    exp: bool,
    base: usize,
) -> Result<Option<(Token, usize)>, Error> {
    let Some(&first) = bytes.get(pos) else {
        return Ok(None);
    };
    // Where the token is, for errors.
    let offset = || base.saturating_add(pos);
    if is_literal_byte(first, exp) {
        let len = bytes
            .get(pos..)
            .unwrap_or_default()
            .iter()
            .position(|&b| !is_literal_byte(b, exp))
            .unwrap_or(bytes.len().saturating_sub(pos));
        return Ok(Some((Token::Literal, pos + len)));
    }
    if first != b'%' {
        return Err(Error::syntax(offset(), SyntaxProblem::BadByte(first)));
    }
    let after = pos + 2;
    match bytes.get(pos + 1) {
        Some(b'%') => Ok(Some((Token::Percent, after))),
        Some(b'_') => Ok(Some((Token::Space, after))),
        Some(b'-') => Ok(Some((Token::UrlSpace, after))),
        Some(b'{') => {
            let (m, end) = macro_expand(bytes, after, exp)
                .map_err(|problem| Error::syntax(offset(), problem))?;
            Ok(Some((Token::Macro(m), end)))
        }
        _ => Err(Error::syntax(offset(), SyntaxProblem::BadPercent)),
    }
}

/// The token of `text` at `pos` and the offset after it, as [`next_token`], with the text of
/// a literal.
#[allow(
    clippy::inline_always,
    reason = "its result (a token or an error) would otherwise go through memory on every token"
)]
#[inline(always)]
pub(crate) fn next_piece(
    text: &str,
    pos: usize,
    exp: bool,
    base: usize,
) -> Result<Option<(Piece<'_>, usize)>, Error> {
    let Some((token, end)) = next_token(text.as_bytes(), pos, exp, base)? else {
        return Ok(None);
    };
    let piece = match token {
        Token::Literal => Piece::Literal(text.get(pos..end).unwrap_or_default()),
        Token::Macro(m) => Piece::Macro(m),
        Token::Percent => Piece::Percent,
        Token::Space => Piece::Space,
        Token::UrlSpace => Piece::UrlSpace,
    };
    Ok(Some((piece, end)))
}

/// `macro-letter transformers *delimiter "}"` from `pos` (just after `%{`): the macro and the
/// offset after the `}` (RFC 7208 §7.1). The problems come in the order the letter, the
/// syntax, the letter's context and the digits are checked.
fn macro_expand(bytes: &[u8], pos: usize, exp: bool) -> Result<(Macro, usize), SyntaxProblem> {
    let letter_byte = bytes.get(pos).copied().unwrap_or(0);
    let letter = MacroLetter::from_byte(letter_byte).ok_or(SyntaxProblem::BadMacro)?;
    let mut i = pos + 1;
    // More parts than any name has are the same as all parts: the count saturates, and 255
    // keeps the value printable in the canonical form.
    let (mut n, mut has_digits) = (0u32, false);
    while let Some(&d) = bytes.get(i)
        && d.is_ascii_digit()
    {
        n = n.saturating_mul(10).saturating_add(u32::from(d - b'0'));
        has_digits = true;
        i += 1;
    }
    let reverse = matches!(bytes.get(i), Some(b'r' | b'R'));
    if reverse {
        i += 1;
    }
    let mut delimiters = Delimiters::default();
    while let Some(bit) = bytes.get(i).and_then(|&b| Delimiters::byte_bit(b)) {
        delimiters.0 |= bit;
        i += 1;
    }
    if bytes.get(i) != Some(&b'}') {
        return Err(SyntaxProblem::BadMacro);
    }
    if letter.exp_only() && !exp {
        return Err(SyntaxProblem::ExpOnlyMacro(letter.as_char()));
    }
    let digits = if has_digits {
        if n == 0 {
            return Err(SyntaxProblem::ZeroDigits);
        }
        Some(u8::try_from(n).unwrap_or(u8::MAX))
    } else {
        None
    };
    let m = Macro {
        letter,
        url_escape: letter_byte.is_ascii_uppercase(),
        digits,
        reverse,
        delimiters,
    };
    Ok((m, i + 1))
}

/// Whether text has a `%` (so macros or escapes).
pub(crate) fn has_percent(text: &str) -> bool {
    find_byte(text.as_bytes(), b'%').is_some()
}

/// The tokens of already validated macro text, in order (stops early on invalid text).
pub(crate) fn pieces(text: &str, exp: bool) -> impl Iterator<Item = Piece<'_>> {
    let mut pos = 0usize;
    core::iter::from_fn(move || {
        let (piece, next) = next_piece(text, pos, exp, 0).ok()??;
        pos = next;
        Some(piece)
    })
}

/// Checks macro text.
///
/// # Errors
/// As [`MacroString::parse`], with offsets relative to `base`.
pub(crate) fn check_macro_text(text: &str, exp: bool, base: usize) -> Result<(), Error> {
    check_macro_bytes(text.as_bytes(), exp, base).map(|_| ())
}

/// Checks macro text given as bytes and returns its last token and where that starts (`None`
/// for empty text).
///
/// # Errors
/// As [`MacroString::parse`], with offsets relative to `base`.
pub(crate) fn check_macro_bytes(
    bytes: &[u8],
    exp: bool,
    base: usize,
) -> Result<Option<(Token, usize)>, Error> {
    let mut pos = 0usize;
    let mut last = None;
    while let Some((token, next)) = next_token(bytes, pos, exp, base)? {
        last = Some((token, pos));
        pos = next;
    }
    Ok(last)
}

/// Whether a macro string whose last token is `last` is a domain-spec: it ends in a
/// macro-expand, or in `.` and a top label and an optional `.` (RFC 7208 §7.1 `domain-end`).
pub(crate) fn is_domain_end(last: Option<Piece<'_>>) -> bool {
    match last {
        None => false,
        Some(Piece::Literal(text)) => literal_ends_domain(text.as_bytes()),
        Some(_) => true,
    }
}

/// Whether a literal that ends a macro string is a `domain-end` (RFC 7208 §7.1): `.`, a top
/// label and an optional `.`. One pass from the end: the top label is checked as it is found.
pub(crate) fn literal_ends_domain(literal: &[u8]) -> bool {
    let literal = literal.strip_suffix(b".").unwrap_or(literal);
    let (mut alpha, mut dash) = (false, false);
    for (at, &b) in literal.iter().enumerate().rev() {
        if b.is_ascii_alphabetic() {
            alpha = true;
        } else if b == b'-' {
            dash = true;
        } else if b == b'.' {
            let label = literal.get(at + 1..).unwrap_or_default();
            return toplabel_shape(label, alpha, dash);
        } else if !b.is_ascii_digit() {
            return false;
        }
    }
    false
}

/// Expands validated macro text into `out` (RFC 7208 §7.3), with `scratch` as the buffer
/// for transformed values: the allocation-free twin of [`MacroString::expand_into`].
///
/// # Errors
/// With `need_validated` and no validated domain in `ctx`, a `%{p}` macro stops the
/// expansion (`out` then holds part of it): its value needs DNS lookups first.
pub(crate) fn expand_text(
    text: &str,
    exp: bool,
    ctx: &MacroContext<'_>,
    need_validated: bool,
    out: &mut String,
    scratch: &mut String,
) -> Result<(), NeedValidated> {
    // One loop over the checked text: a literal runs up to the next `%` (checked text has
    // no other byte that ends one), and each `%` starts an escape or a macro. Text that is
    // not checked stops at its first bad escape, as the tokenizer would.
    let bytes = text.as_bytes();
    let mut pos = 0usize;
    while pos < bytes.len() {
        let rest = bytes.get(pos..).unwrap_or_default();
        let Some(percent) = find_byte(rest, b'%') else {
            out.push_str(text.get(pos..).unwrap_or_default());
            break;
        };
        let at = pos.saturating_add(percent);
        if percent > 0 {
            // Up to an ASCII byte: a character boundary.
            out.push_str(text.get(pos..at).unwrap_or_default());
        }
        pos = at.saturating_add(2);
        match bytes.get(at.saturating_add(1)) {
            Some(b'%') => out.push('%'),
            Some(b'_') => out.push(' '),
            Some(b'-') => out.push_str("%20"),
            Some(b'{') => {
                let Ok((m, end)) = macro_expand(bytes, pos, exp) else {
                    break;
                };
                if need_validated
                    && m.letter == MacroLetter::ValidatedDomain
                    && ctx.validated.is_none()
                {
                    return Err(NeedValidated);
                }
                expand_macro(m, ctx, out, scratch);
                pos = end;
            }
            _ => break,
        }
    }
    Ok(())
}

/// A `%{p}` macro needs the validated domain name of the client (see [`expand_text`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct NeedValidated;

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
        // The canonical text: the same as `text` unless a macro is written another way
        // (`%{d01}` is `%{d1}`, delimiters come in one order).
        let mut canonical = String::with_capacity(text.len());
        let mut pos = 0usize;
        while let Some((token, next)) = next_token(text.as_bytes(), pos, exp, base)? {
            if let Token::Macro(m) = token {
                let _ = write_macro(m, &mut canonical);
            } else if let Some(written) = text.get(pos..next) {
                canonical.push_str(written);
            }
            pos = next;
        }
        Ok(Self(canonical.into_boxed_str()))
    }

    /// Macro text already checked by [`check_macro_text`] (domain-spec mode).
    pub(crate) fn from_checked(text: &str) -> Self {
        // Without a `%`, checked text is one literal: its own canonical form.
        if !has_percent(text) {
            return Self(Box::from(text));
        }
        Self::parse_at(text, false, 0).unwrap_or_default()
    }

    /// The string from its tokens (the test oracles build it so).
    #[cfg(test)]
    pub(crate) fn from_tokens(tokens: &[MacroToken]) -> Self {
        let mut text = String::new();
        for token in tokens {
            let _ = write!(text, "{token}");
        }
        Self(text.into_boxed_str())
    }

    /// The canonical text's tokens, read from the text (it is always explanation-mode text:
    /// a superset of a domain-spec's).
    fn pieces(&self) -> impl Iterator<Item = Piece<'_>> {
        pieces(&self.0, true)
    }

    /// The tokens, with adjacent literals merged.
    pub fn tokens(&self) -> Vec<MacroToken> {
        self.pieces()
            .map(|piece| match piece {
                Piece::Literal(text) => MacroToken::Literal(text.to_owned()),
                Piece::Macro(m) => MacroToken::Macro(m),
                Piece::Percent => MacroToken::Percent,
                Piece::Space => MacroToken::Space,
                Piece::UrlSpace => MacroToken::UrlSpace,
            })
            .collect()
    }

    /// The canonical text (as [`Display`](fmt::Display) prints it).
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether the string is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether any token is a `%{p}` macro (whose expansion needs DNS lookups).
    pub fn uses_validated_domain(&self) -> bool {
        self.pieces()
            .any(|p| matches!(p, Piece::Macro(m) if m.letter == MacroLetter::ValidatedDomain))
    }

    /// Whether the text is a valid domain-spec: it ends in a macro-expand, or in `.` and a
    /// top label and an optional `.` (RFC 7208 §7.1 `domain-end`).
    pub fn is_domain_spec(&self) -> bool {
        is_domain_end(self.pieces().last())
    }

    /// Expands the string into `out` (RFC 7208 §7.3).
    pub fn expand_into(&self, ctx: &MacroContext<'_>, out: &mut String) {
        // Holds a macro's value while it is transformed; allocated only if needed.
        let mut scratch = String::new();
        // The canonical text is explanation-mode text (see `pieces`); `%{p}` expands to
        // `ctx.validated` as given.
        let _ = expand_text(&self.0, true, ctx, false, out, &mut scratch);
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

/// `toplabel = ( *alphanum ALPHA *alphanum ) / ( 1*alphanum "-" *( alphanum / "-" ) alphanum )`
pub(crate) fn is_toplabel(label: &str) -> bool {
    is_toplabel_bytes(label.as_bytes())
}

/// [`is_toplabel`] on bytes.
fn is_toplabel_bytes(label: &[u8]) -> bool {
    // One pass: only alphanumerics and `-`; with a `-`, alphanumeric at both ends; without
    // one, at least one letter.
    let (mut alpha, mut dash) = (false, false);
    for &b in label {
        if b.is_ascii_alphabetic() {
            alpha = true;
        } else if b == b'-' {
            dash = true;
        } else if !b.is_ascii_digit() {
            return false;
        }
    }
    toplabel_shape(label, alpha, dash)
}

/// Whether a label of alphanumerics and `-` (`alpha`: it has a letter, `dash`: a `-`) is a
/// top label.
fn toplabel_shape(label: &[u8], alpha: bool, dash: bool) -> bool {
    if dash {
        label.first().is_some_and(u8::is_ascii_alphanumeric)
            && label.last().is_some_and(u8::is_ascii_alphanumeric)
    } else {
        alpha
    }
}

/// Writes the raw value of a macro letter.
fn write_value(letter: MacroLetter, ctx: &MacroContext<'_>, out: &mut String) {
    if let Some(value) = borrowed_value(letter, ctx) {
        out.push_str(value);
        return;
    }
    match letter {
        MacroLetter::Sender => {
            out.push_str(ctx.local_part);
            out.push('@');
            out.push_str(ctx.sender_domain);
        }
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
        MacroLetter::ClientIp => {
            let _ = write!(out, "{}", ctx.ip);
        }
        MacroLetter::Timestamp => {
            let _ = write!(out, "{}", ctx.timestamp);
        }
        // Written above.
        MacroLetter::LocalPart
        | MacroLetter::SenderDomain
        | MacroLetter::Domain
        | MacroLetter::ValidatedDomain
        | MacroLetter::IpVersion
        | MacroLetter::Helo
        | MacroLetter::Receiver => {}
    }
}

/// The value of a macro letter when the context holds it as text (see [`write_value`]).
fn borrowed_value<'c>(letter: MacroLetter, ctx: &MacroContext<'c>) -> Option<&'c str> {
    Some(match letter {
        MacroLetter::LocalPart => ctx.local_part,
        MacroLetter::SenderDomain => ctx.sender_domain,
        MacroLetter::Domain => ctx.domain,
        MacroLetter::ValidatedDomain => ctx.validated.unwrap_or("unknown"),
        MacroLetter::Helo => ctx.helo,
        MacroLetter::Receiver => ctx.receiver,
        MacroLetter::IpVersion => match ctx.ip {
            IpAddr::V4(_) => "in-addr",
            IpAddr::V6(_) => "ip6",
        },
        MacroLetter::Sender | MacroLetter::Ip | MacroLetter::ClientIp | MacroLetter::Timestamp => {
            return None;
        }
    })
}

/// The `%{i}` value split on `.` and reversed (`%{ir}`, RFC 7208 §7.3).
fn write_reversed_ip(ip: IpAddr, out: &mut String) {
    match ip {
        IpAddr::V4(v4) => {
            for (i, octet) in v4.octets().into_iter().rev().enumerate() {
                if i > 0 {
                    out.push('.');
                }
                write_octet(octet, out);
            }
        }
        IpAddr::V6(v6) => {
            for (i, byte) in v6.octets().into_iter().rev().enumerate() {
                if i > 0 {
                    out.push('.');
                }
                out.push(hex_upper(byte & 0x0f));
                out.push('.');
                out.push(hex_upper(byte >> 4));
            }
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

/// Writes a number below 256 in decimal, without the formatting machinery.
fn write_decimal<W: fmt::Write>(n: u8, out: &mut W) -> fmt::Result {
    if n >= 100 {
        out.write_char(char::from(b'0' + n / 100))?;
    }
    if n >= 10 {
        out.write_char(char::from(b'0' + n / 10 % 10))?;
    }
    out.write_char(char::from(b'0' + n % 10))
}

/// Writes a decimal octet (this runs for every `%{i}`).
pub(crate) fn write_octet(octet: u8, out: &mut String) {
    // Writing to a `String` cannot fail.
    let _ = write_decimal(octet, out);
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
    // `%{ir}`, the usual DNSBL-style name: the address parts written right to left directly.
    if m.letter == MacroLetter::Ip
        && m.reverse
        && m.digits.is_none()
        && m.delimiters.is_empty()
        && !m.url_escape
    {
        write_reversed_ip(ctx.ip, out);
        return;
    }
    let transformed = m.digits.is_some() || m.reverse || !m.delimiters.is_empty();
    if !transformed && !m.url_escape {
        write_value(m.letter, ctx, out);
        return;
    }
    // The value: borrowed when the context holds it as text, else written into `scratch`.
    let value = if let Some(value) = borrowed_value(m.letter, ctx) {
        value
    } else {
        scratch.clear();
        if scratch.capacity() == 0 {
            *scratch = String::with_capacity(64);
        }
        write_value(m.letter, ctx, scratch);
        scratch.as_str()
    };
    let emit = |out: &mut String, part: &str| {
        if m.url_escape {
            push_escaped(out, part);
        } else {
            out.push_str(part);
        }
    };
    if !transformed {
        emit(out, value);
        return;
    }
    // RFC 7208 §7.3: split on the delimiters, reverse, keep the right-hand parts, rejoin with
    // ".". Without a list: the right-hand `keep` parts are the last ones in order; after
    // reversal they are the first `keep` parts, last first (right to left). Delimiters are
    // ASCII, so the value splits at byte positions that are character boundaries.
    let mask = if m.delimiters.is_empty() {
        1
    } else {
        m.delimiters.0
    };
    let is_delim = |b: &u8| Delimiters::byte_bit(*b).is_some_and(|bit| mask & bit != 0);
    let bytes = value.as_bytes();
    let count = bytes
        .iter()
        .filter(|b| is_delim(b))
        .count()
        .saturating_add(1);
    let keep = m.digits.map_or(count, usize::from).min(count);
    let skip = count.saturating_sub(keep);
    let mut index = 0usize;
    let mut part = |out: &mut String, start: usize, end: usize| {
        if index >= skip {
            if index > skip {
                out.push('.');
            }
            emit(out, value.get(start..end).unwrap_or_default());
        }
        index = index.saturating_add(1);
    };
    if m.reverse {
        let mut end = bytes.len();
        loop {
            let start = bytes
                .get(..end)
                .and_then(|head| head.iter().rposition(is_delim))
                .map_or(0, |p| p.saturating_add(1));
            part(out, start, end);
            if start == 0 {
                break;
            }
            end = start.saturating_sub(1);
        }
    } else {
        let mut start = 0usize;
        loop {
            let end = bytes
                .get(start..)
                .and_then(|tail| tail.iter().position(is_delim))
                .map_or(bytes.len(), |p| start.saturating_add(p));
            part(out, start, end);
            if end >= bytes.len() {
                break;
            }
            start = end.saturating_add(1);
        }
    }
}

impl fmt::Display for Macro {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_macro(*self, f)
    }
}

/// Writes a macro in canonical form, without the formatting machinery (macro strings are
/// kept in this form: see [`MacroString::parse_at`]).
fn write_macro<W: fmt::Write>(m: Macro, out: &mut W) -> fmt::Result {
    out.write_str("%{")?;
    let letter = m.letter.as_char();
    out.write_char(if m.url_escape {
        letter.to_ascii_uppercase()
    } else {
        letter
    })?;
    if let Some(d) = m.digits {
        write_decimal(d, out)?;
    }
    if m.reverse {
        out.write_char('r')?;
    }
    // No delimiter means `.`, written as none.
    if !m.delimiters.is_empty() {
        for d in DELIMITERS {
            if m.delimiters.contains(d) {
                out.write_char(d)?;
            }
        }
    }
    out.write_char('}')
}

impl fmt::Display for MacroToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Literal(text) => f.write_str(text),
            Self::Macro(m) => write!(f, "{m}"),
            Self::Percent => f.write_str("%%"),
            Self::Space => f.write_str("%_"),
            Self::UrlSpace => f.write_str("%-"),
        }
    }
}

impl fmt::Display for MacroString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
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
    fn every_octet_is_written_in_decimal() {
        for octet in 0..=u8::MAX {
            let mut out = String::new();
            write_octet(octet, &mut out);
            assert_eq!(out, octet.to_string());
        }
    }

    proptest::proptest! {
        #[test]
        fn reversed_ip_is_the_ip_split_and_reversed(ip in proptest::prelude::any::<u128>(), v6: bool) {
            let mut c = ctx("192.0.2.3");
            c.ip = if v6 {
                IpAddr::V6(ip.into())
            } else {
                IpAddr::V4(u32::try_from(ip & 0xffff_ffff).unwrap().into())
            };
            let forward = MacroString::parse("%{i}", false).unwrap().expand(&c);
            let reversed: Vec<&str> = forward.split('.').rev().collect();
            let ir = MacroString::parse("%{ir}", false).unwrap().expand(&c);
            proptest::prop_assert_eq!(ir, reversed.join("."));
            // The general transformer path (an explicit `.` delimiter) agrees too.
            let general = MacroString::parse("%{ir.}", false).unwrap().expand(&c);
            proptest::prop_assert_eq!(general, reversed.join("."));
        }
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

    proptest::proptest! {
        #[test]
        fn checked_text_keeps_the_canonical_form_parse_gives(
            text in r"([a-z.]{0,4}(%\{[slodipvhSLODIPVH]0?[0-9]{0,3}[rR]?[-.+,/_=]{0,4}\}|%%|%_|%-)?){0,4}"
        ) {
            if check_macro_text(&text, false, 0).is_ok() {
                let parsed = MacroString::parse(&text, false).unwrap_or_default();
                proptest::prop_assert_eq!(MacroString::from_checked(&text), parsed);
            }
        }

        #[test]
        fn domain_end_is_a_dot_and_a_top_label(literal in "[a-zA-Z0-9._%-]{0,12}") {
            let bytes = literal.as_bytes();
            let trimmed = bytes.strip_suffix(b".").unwrap_or(bytes);
            let expected = trimmed
                .iter()
                .rposition(|&b| b == b'.')
                .is_some_and(|dot| is_toplabel_bytes(&trimmed[dot + 1..]));
            proptest::prop_assert_eq!(literal_ends_domain(bytes), expected);
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
