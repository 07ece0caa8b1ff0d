//! The nom parser this crate used before the single-pass scanner, kept as a test oracle:
//! property tests check that the scanner accepts, rejects (same offset and problem) and
//! builds exactly what this one did.
#![allow(clippy::pedantic, clippy::indexing_slicing, clippy::unwrap_used)]

use std::net::{Ipv4Addr, Ipv6Addr};

use nom::branch::alt;
use nom::bytes::complete::{tag, take_while, take_while1};
use nom::character::complete::{char, digit0, one_of};
use nom::combinator::{map, opt, value};
use nom::{IResult, Parser};

use crate::error::{Error, SyntaxProblem};
use crate::macros::{DELIMITERS, Delimiters, Macro, MacroLetter, MacroString, MacroToken};
use crate::record::{
    Directive, DualCidr, Mechanism, Modifier, Qualifier, Record, Term, is_spf_record,
};

fn letter_from_char(c: char) -> Option<MacroLetter> {
    let lower = c.to_ascii_lowercase();
    MacroLetter::ALL.into_iter().find(|l| l.as_char() == lower)
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
    let letter = nom::character::complete::satisfy(|c| letter_from_char(c).is_some());
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

pub(crate) fn macro_string(text: &str, exp: bool, base: usize) -> Result<MacroString, Error> {
    // Most domain-specs are plain names: one literal, no macro to look for.
    if !text.is_empty()
        && text
            .bytes()
            .all(|b| b != b'%' && (b.is_ascii_graphic() || (exp && b == b' ')))
    {
        return Ok(MacroString::from_tokens(&[MacroToken::Literal(
            text.to_owned(),
        )]));
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
            let (next, (letter, digits, reverse, delims)) =
                macro_expand(rest).map_err(|_| Error::syntax(offset, SyntaxProblem::BadMacro))?;
            let letter_value =
                letter_from_char(letter).ok_or(Error::syntax(offset, SyntaxProblem::BadMacro))?;
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
                delimiters.0 |= Delimiters::bit(c);
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
    Ok(MacroString::from_tokens(&tokens))
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

pub(crate) fn record(text: &str) -> Result<Record, Error> {
    let bytes = text.as_bytes();
    if let Some(pos) = bytes.iter().position(|b| !(0x20..=0x7e).contains(b)) {
        let byte = bytes.get(pos).copied().unwrap_or(0);
        return Err(Error::syntax(pos, SyntaxProblem::BadByte(byte)));
    }
    if !is_spf_record(bytes) {
        return Err(Error::syntax(0, SyntaxProblem::NotSpf));
    }
    let mut terms = Vec::with_capacity(8);
    let (mut has_redirect, mut has_exp) = (false, false);
    // RFC 7208 §4.6.1: terms are separated by one or more spaces.
    let mut pos = 6usize;
    while pos < bytes.len() {
        let start = pos;
        while bytes.get(pos).is_some_and(|&b| b != b' ') {
            pos = pos.saturating_add(1);
        }
        let piece = text.get(start..pos).unwrap_or_default();
        pos = pos.saturating_add(1);
        if piece.is_empty() {
            continue;
        }
        let term = parse_term(piece, start)?;
        if let Term::Modifier(m) = &term {
            let seen = match m {
                Modifier::Redirect(_) => &mut has_redirect,
                Modifier::Exp(_) => &mut has_exp,
                Modifier::Unknown { name, .. } => {
                    // The reference implementation (pyspf) rejects any modifier given
                    // twice; names of unknown modifiers compare exactly, as there.
                    let repeated = terms.iter().any(|t| {
                        matches!(t, Term::Modifier(Modifier::Unknown { name: n, .. }) if n == name)
                    });
                    if repeated {
                        return Err(Error::syntax(start, SyntaxProblem::DuplicateModifier));
                    }
                    terms.push(term);
                    continue;
                }
            };
            if *seen {
                return Err(Error::syntax(start, SyntaxProblem::DuplicateModifier));
            }
            *seen = true;
        }
        terms.push(term);
    }
    Ok(Record { terms })
}

fn syntax(offset: usize, problem: SyntaxProblem) -> Error {
    Error::syntax(offset, problem)
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')
}

/// `name "="` at the start of a term: the modifier name.
fn modifier_name(i: &str) -> IResult<&str, &str> {
    let (rest, name) = take_while1(is_name_char).parse(i)?;
    let (rest, _) = nom::character::complete::char('=').parse(rest)?;
    Ok((rest, name))
}

fn qualifier(i: &str) -> IResult<&str, Qualifier> {
    let (rest, q) = opt(one_of("+-~?")).parse(i)?;
    Ok((
        rest,
        match q {
            Some('-') => Qualifier::Fail,
            Some('~') => Qualifier::SoftFail,
            Some('?') => Qualifier::Neutral,
            _ => Qualifier::Pass,
        },
    ))
}

fn domain_spec(text: &str, offset: usize) -> Result<MacroString, Error> {
    if text.is_empty() {
        return Err(syntax(offset, SyntaxProblem::MissingDomain));
    }
    let spec = macro_string(text, false, offset)?;
    if !spec.is_domain_spec() {
        return Err(syntax(offset, SyntaxProblem::BadDomainEnd));
    }
    Ok(spec)
}

/// A CIDR length: `"0" / %x31-39 *DIGIT` up to `max` (RFC 7208 §5.6).
fn cidr_length(digits: &str, max: u8, offset: usize) -> Result<u8, Error> {
    let bad = || syntax(offset, SyntaxProblem::BadCidr);
    if digits.is_empty() || digits.len() > 3 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    if digits.len() > 1 && digits.starts_with('0') {
        return Err(bad());
    }
    let n: u8 = digits.parse().map_err(|_| bad())?;
    if n > max {
        return Err(bad());
    }
    Ok(n)
}

/// Splits a trailing `/digits` off `text` (not `//digits` when `single`).
fn split_cidr(text: &str) -> Option<(&str, &str)> {
    let slash = text.bytes().rposition(|b| b == b'/')?;
    let (head, digits) = (text.get(..slash)?, text.get(slash.saturating_add(1)..)?);
    (!digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())).then_some((head, digits))
}

/// `[":" domain-spec] [dual-cidr-length]` after `a` or `mx`.
fn a_or_mx_args(rest: &str, offset: usize) -> Result<(Option<MacroString>, DualCidr), Error> {
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

fn required_domain(rest: &str, offset: usize) -> Result<MacroString, Error> {
    match rest.strip_prefix(':') {
        Some(spec) => domain_spec(spec, offset.saturating_add(1)),
        None if rest.is_empty() => Err(syntax(offset, SyntaxProblem::MissingDomain)),
        None => Err(syntax(offset, SyntaxProblem::UnexpectedArgument)),
    }
}

fn parse_term(term: &str, start: usize) -> Result<Term, Error> {
    // RFC 7208 §4.6.1: a modifier is `name "=" macro-string`; the name starts with ALPHA.
    if let Ok((value, name)) = modifier_name(term) {
        if !name.starts_with(|c: char| c.is_ascii_alphabetic()) {
            return Err(syntax(start, SyntaxProblem::BadModifierName));
        }
        let value_offset = start.saturating_add(name.len()).saturating_add(1);
        let modifier = if name.eq_ignore_ascii_case("redirect") {
            Modifier::Redirect(domain_spec(value, value_offset)?)
        } else if name.eq_ignore_ascii_case("exp") {
            Modifier::Exp(domain_spec(value, value_offset)?)
        } else {
            Modifier::Unknown {
                name: name.to_owned(),
                value: macro_string(value, false, value_offset)?,
            }
        };
        return Ok(Term::Modifier(modifier));
    }
    if term.starts_with('=') {
        return Err(syntax(start, SyntaxProblem::BadModifierName));
    }
    let (after_q, qualifier) =
        qualifier(term).map_err(|_| syntax(start, SyntaxProblem::UnknownMechanism))?;
    let name_offset = start.saturating_add(term.len().saturating_sub(after_q.len()));
    let (rest, name) =
        take_while1::<_, _, nom::error::Error<&str>>(|c: char| c.is_ascii_alphanumeric())
            .parse(after_q)
            .map_err(|_| syntax(name_offset, SyntaxProblem::UnknownMechanism))?;
    let rest_offset = name_offset.saturating_add(name.len());
    let is = |keyword: &str| name.eq_ignore_ascii_case(keyword);
    let mechanism = match () {
        () if is("all") => {
            if !rest.is_empty() {
                return Err(syntax(rest_offset, SyntaxProblem::UnexpectedArgument));
            }
            Mechanism::All
        }
        () if is("include") => Mechanism::Include(required_domain(rest, rest_offset)?),
        () if is("exists") => Mechanism::Exists(required_domain(rest, rest_offset)?),
        () if is("a") => {
            let (domain, cidr) = a_or_mx_args(rest, rest_offset)?;
            Mechanism::A { domain, cidr }
        }
        () if is("mx") => {
            let (domain, cidr) = a_or_mx_args(rest, rest_offset)?;
            Mechanism::Mx { domain, cidr }
        }
        () if is("ptr") => Mechanism::Ptr(match rest.strip_prefix(':') {
            Some(spec) => Some(domain_spec(spec, rest_offset.saturating_add(1))?),
            None if rest.is_empty() => None,
            None => return Err(syntax(rest_offset, SyntaxProblem::UnexpectedArgument)),
        }),
        () if is("ip4") => {
            let arg = rest
                .strip_prefix(':')
                .ok_or(syntax(rest_offset, SyntaxProblem::BadIp4))?;
            let (addr, prefix) = match split_slash(arg) {
                Some((addr, len)) => {
                    let at = rest_offset.saturating_add(1).saturating_add(addr.len());
                    (addr, Some(cidr_length(len, 32, at)?))
                }
                None => (arg, None),
            };
            let network = dotted_quad(addr)
                .ok_or(syntax(rest_offset.saturating_add(1), SyntaxProblem::BadIp4))?;
            Mechanism::Ip4 { network, prefix }
        }
        () if is("ip6") => {
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
            let network =
                ipv6(addr).ok_or(syntax(rest_offset.saturating_add(1), SyntaxProblem::BadIp6))?;
            Mechanism::Ip6 { network, prefix }
        }
        () => return Err(syntax(name_offset, SyntaxProblem::UnknownMechanism)),
    };
    Ok(Term::Directive(Directive {
        qualifier,
        mechanism,
    }))
}

/// Splits at the first `/` (a byte scan: cheaper than a pattern search on short terms).
fn split_slash(text: &str) -> Option<(&str, &str)> {
    let slash = text.bytes().position(|b| b == b'/')?;
    Some((text.get(..slash)?, text.get(slash.saturating_add(1)..)?))
}

/// An IPv6 address in RFC 4291 §2.2 text form, as the standard library reads it (the oracle
/// for the scanner's own byte-wise reader).
fn ipv6(text: &str) -> Option<Ipv6Addr> {
    text.parse().ok()
}

/// `ip4-network` (RFC 7208 §5.6): four `dec-octet`s, no leading zeros.
fn dotted_quad(text: &str) -> Option<Ipv4Addr> {
    let mut octets = [0u8; 4];
    let mut index = 0usize;
    let (mut value, mut digits) = (0u16, 0u8);
    let mut leading_zero = false;
    for &b in text.as_bytes() {
        if b == b'.' {
            if digits == 0 || index >= 3 {
                return None;
            }
            *octets.get_mut(index)? = u8::try_from(value).ok()?;
            index = index.saturating_add(1);
            (value, digits) = (0, 0);
        } else if b.is_ascii_digit() {
            if digits == 1 && leading_zero || digits == 3 {
                return None;
            }
            leading_zero = digits == 0 && b == b'0';
            value = value * 10 + u16::from(b - b'0');
            digits = digits.saturating_add(1);
        } else {
            return None;
        }
    }
    if digits == 0 || index != 3 {
        return None;
    }
    *octets.get_mut(3)? = u8::try_from(value).ok()?;
    Some(Ipv4Addr::from(octets))
}

#[allow(clippy::unwrap_used)]
mod tests {
    use std::net::IpAddr;

    use proptest::prelude::*;

    use super::{macro_string, record};
    use crate::macros::{
        DELIMITERS, MacroContext, MacroLetter, MacroString, MacroToken, check_macro_text,
        expand_text,
    };
    use crate::record::Record;

    /// Text that looks like SPF: versions, qualifiers, mechanism and modifier names, macros,
    /// CIDR lengths, addresses and stray bytes, so that both parsers see every branch.
    fn spf_like() -> impl Strategy<Value = String> {
        let piece = prop_oneof![
            Just(" ".to_owned()),
            Just("  ".to_owned()),
            prop::sample::select(vec![
                "v=spf1",
                "V=SPF1",
                "+",
                "-",
                "~",
                "?",
                "all",
                "ALL",
                "include",
                "a",
                "mx",
                "MX",
                "ptr",
                "ip4",
                "ip6",
                "exists",
                "redirect",
                "exp",
                "foo",
                "x.y-z_w",
                ":",
                "=",
                "/",
                "//",
                "0",
                "8",
                "24",
                "32",
                "033",
                "128",
                "129",
                "192.0.2.1",
                "10.0.0.0",
                "01.2.3.4",
                "256.1.1.1",
                "2001:db8::",
                "::ffff:192.0.2.1",
                "1:2:3:4:5:6:7:8",
                "::",
                ":::",
                "fe80::1:2",
                "example.com",
                "_spf.example.com",
                "example.123",
                "museum",
                ".",
                "%{d}",
                "%{ir}",
                "%{l1r+-}",
                "%{D2}",
                "%{s}",
                "%{c}",
                "%{r}",
                "%{t}",
                "%{p}",
                "%{v}",
                "%{h}",
                "%{o}",
                "%{d0}",
                "%{d255}",
                "%{d999999999999}",
                "%{x}",
                "%{d",
                "%%",
                "%_",
                "%-",
                "%",
                "%{i.-+,/_=}",
                "%{lR}",
                "{",
                "}",
                "\t",
                "\u{e9}",
                "\x7f",
            ])
            .prop_map(str::to_owned),
            "[ -~]{1,6}",
        ];
        prop::collection::vec(piece, 0..14).prop_map(|parts| parts.concat())
    }

    fn record_text() -> impl Strategy<Value = String> {
        prop_oneof![
            spf_like().prop_map(|t| format!("v=spf1 {t}")),
            spf_like(),
            "[ -~]{0,40}".prop_map(|t| format!("v=spf1 {t}")),
        ]
    }

    fn ctx(ip: IpAddr) -> MacroContext<'static> {
        MacroContext {
            local_part: "strong-bad+x.y",
            sender_domain: "email.example.com",
            domain: "a.b-c.example.com",
            ip,
            validated: Some("mx.example.org"),
            helo: "helo.example.org",
            receiver: "mx.example.net",
            timestamp: 1_234,
        }
    }

    /// The transformer as it was (RFC 7208 §7.3): `str` splits on a `char` predicate.
    fn old_transform(value: &str, digits: Option<u8>, reverse: bool, delims: &str) -> String {
        let is_delim = |c: char| {
            if delims.is_empty() {
                c == '.'
            } else {
                delims.contains(c)
            }
        };
        let count = value.split(is_delim).count();
        let keep = digits.map_or(count, usize::from).min(count);
        let skip = count.saturating_sub(keep);
        let parts: Vec<&str> = if reverse {
            value.rsplit(is_delim).skip(skip).collect()
        } else {
            value.split(is_delim).skip(skip).collect()
        };
        parts.join(".")
    }

    /// A macro string expanded token by token from the nom parser's tokens, each macro
    /// through [`old_transform`] and the values of RFC 7208 §7.2 written out here: an
    /// expander that shares nothing with the one-loop [`expand_text`].
    fn reference_expansion(text: &str, exp: bool, ctx: &MacroContext<'_>) -> Option<String> {
        let mut out = String::new();
        for token in macro_string(text, exp, 0).ok()?.tokens() {
            match token {
                MacroToken::Literal(literal) => out.push_str(&literal),
                MacroToken::Percent => out.push('%'),
                MacroToken::Space => out.push(' '),
                MacroToken::UrlSpace => out.push_str("%20"),
                MacroToken::Macro(m) => {
                    let value = match m.letter {
                        MacroLetter::Sender => format!("{}@{}", ctx.local_part, ctx.sender_domain),
                        MacroLetter::LocalPart => ctx.local_part.to_owned(),
                        MacroLetter::SenderDomain => ctx.sender_domain.to_owned(),
                        MacroLetter::Domain => ctx.domain.to_owned(),
                        MacroLetter::Ip => match ctx.ip {
                            IpAddr::V4(v4) => v4.to_string(),
                            IpAddr::V6(v6) => v6
                                .octets()
                                .iter()
                                .map(|b| format!("{:X}.{:X}", b >> 4, b & 15))
                                .collect::<Vec<_>>()
                                .join("."),
                        },
                        MacroLetter::ValidatedDomain => {
                            ctx.validated.unwrap_or("unknown").to_owned()
                        }
                        MacroLetter::IpVersion => {
                            if ctx.ip.is_ipv4() { "in-addr" } else { "ip6" }.to_owned()
                        }
                        MacroLetter::Helo => ctx.helo.to_owned(),
                        MacroLetter::ClientIp => ctx.ip.to_string(),
                        MacroLetter::Receiver => ctx.receiver.to_owned(),
                        MacroLetter::Timestamp => ctx.timestamp.to_string(),
                    };
                    let delims: String = if m.delimiters.is_empty() {
                        String::new()
                    } else {
                        DELIMITERS
                            .iter()
                            .filter(|&&c| m.delimiters.contains(c))
                            .collect()
                    };
                    let value = old_transform(&value, m.digits, m.reverse, &delims);
                    if m.url_escape {
                        for b in value.bytes() {
                            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                                out.push(char::from(b));
                            } else {
                                out.push_str(&format!("%{b:02X}"));
                            }
                        }
                    } else {
                        out.push_str(&value);
                    }
                }
            }
        }
        Some(out)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4000))]

        #[test]
        fn expansion_agrees_with_a_token_by_token_reference(
            text in spf_like(),
            exp: bool,
            v6: bool,
            ip in any::<u128>(),
            local in "[a-zA-Z0-9.+=_/,\u{e9} -]{0,12}",
            validated: bool,
        ) {
            let ip = if v6 {
                IpAddr::V6(ip.into())
            } else {
                IpAddr::V4(u32::try_from(ip & 0xffff_ffff).unwrap().into())
            };
            let mut c = ctx(ip);
            c.local_part = &local;
            if !validated {
                c.validated = None;
            }
            if let Some(expected) = reference_expansion(&text, exp, &c) {
                let (mut out, mut scratch) = (String::from("prefix:"), String::new());
                prop_assert!(expand_text(&text, exp, &c, false, &mut out, &mut scratch).is_ok());
                prop_assert_eq!(out, format!("prefix:{expected}"));
            }
        }

        #[test]
        fn byte_transformer_agrees_with_the_char_one(
            value in "[a-z.+=_/,\u{e9}-]{0,12}",
            digits in prop::option::of(1u8..6),
            reverse: bool,
            delims in "[.+=_/,-]{0,3}",
        ) {
            let macro_text = format!(
                "%{{l{}{}{delims}}}",
                digits.map(|d| d.to_string()).unwrap_or_default(),
                if reverse { "r" } else { "" }
            );
            let m = MacroString::parse(&macro_text, false).unwrap();
            let mut c = ctx(IpAddr::V4(0.into()));
            c.local_part = &value;
            prop_assert_eq!(m.expand(&c), old_transform(&value, digits, reverse, &delims));
        }

        #[test]
        fn record_scanner_agrees_with_the_nom_parser(text in record_text()) {
            // Same record, or the same error at the same offset.
            prop_assert_eq!(Record::parse(&text), record(&text));
        }

        #[test]
        fn macro_tokenizer_agrees_with_the_nom_parser(text in spf_like(), exp: bool, base in 0usize..100) {
            prop_assert_eq!(MacroString::parse_at(&text, exp, base), macro_string(&text, exp, base));
            prop_assert_eq!(
                check_macro_text(&text, exp, base).map(|_| ()),
                macro_string(&text, exp, base).map(|_| ())
            );
        }

        #[test]
        fn text_expansion_agrees_with_token_expansion(
            text in spf_like(),
            exp: bool,
            v6: bool,
            ip in any::<u128>(),
        ) {
            let ip = if v6 {
                IpAddr::V6(ip.into())
            } else {
                IpAddr::V4(u32::try_from(ip & 0xffff_ffff).unwrap().into())
            };
            if let Ok(m) = MacroString::parse(&text, exp) {
                let (mut out, mut scratch) = (String::from("prefix:"), String::new());
                prop_assert!(expand_text(&text, exp, &ctx(ip), false, &mut out, &mut scratch).is_ok());
                prop_assert_eq!(out, format!("prefix:{}", m.expand(&ctx(ip))));
            }
        }
    }
}
