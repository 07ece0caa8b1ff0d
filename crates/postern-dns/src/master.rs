//! A subset of the RFC 1035 §5 master-file format, enough for mail-authentication zones:
//! `$ORIGIN`, `$TTL`, owner inheritance, `@`, relative names, TTL and class fields, quoted
//! character-strings with `\"`, `\\` and `\DDD` escapes, parentheses across lines, `;`
//! comments, and the types TXT, SPF, A, AAAA, MX, PTR and CNAME. SOA and NS records, which
//! every zone file has, are checked and skipped (their owner names exist). A name with a `.`
//! escaped inside a label (`a\.b`) is refused, since a [`Name`] cannot hold one. A zone
//! loaded from a master file answers `*` owners as wildcards ([`Zone::with_wildcards`]).

use std::net::{Ipv4Addr, Ipv6Addr};

use crate::error::Error;
use crate::name::Name;
use crate::query::Record;
use crate::zone::{Entry, Zone};

/// Longest character-string: 255 octets (RFC 1035 §3.3).
pub const MAX_CHARACTER_STRING: usize = 255;

#[derive(Debug)]
struct Token {
    text: Vec<u8>,
    quoted: bool,
    /// An escape (`\.` or `\046`) gave a `.`: inside a name, a dot within a label.
    escaped_dot: bool,
}

/// A logical line: tokens, whether it began with blank space (owner omitted), first line.
struct Line {
    tokens: Vec<Token>,
    blank_owner: bool,
    number: usize,
}

fn err(line: usize, problem: impl Into<String>) -> Error {
    Error::Zone {
        location: format!("line {line}"),
        problem: problem.into(),
    }
}

fn flush(lines: &mut Vec<Line>, current: &mut Option<Line>) {
    if let Some(line) = current.take().filter(|l| !l.tokens.is_empty()) {
        lines.push(line);
    }
}

/// Reads one token starting at `i`: a quoted string or a run of non-blank bytes, with `\X`
/// and `\DDD` escapes (RFC 1035 §5.1). Returns the token and the index after it.
fn read_token(bytes: &[u8], mut i: usize, line_no: usize) -> Result<(Token, usize), Error> {
    let b = bytes.get(i).copied().unwrap_or(0);
    let mut token = Vec::new();
    let mut escaped_dot = false;
    let quoted = b == b'"';
    if quoted {
        i = i.saturating_add(1);
    }
    loop {
        let Some(&c) = bytes.get(i) else {
            if quoted {
                return Err(err(line_no, "unterminated quoted string"));
            }
            break;
        };
        if quoted && c == b'"' {
            i = i.saturating_add(1);
            break;
        }
        if !quoted && matches!(c, b' ' | b'\t' | b'\r' | b'\n' | b';' | b'(' | b')' | b'"') {
            break;
        }
        if c == b'\n' {
            return Err(err(line_no, "newline inside a quoted string"));
        }
        if c == b'\\' {
            let digits: Vec<u8> = (1..=3)
                .filter_map(|k| bytes.get(i.saturating_add(k)).copied())
                .collect();
            if digits.len() == 3 && digits.iter().all(u8::is_ascii_digit) {
                let value = digits
                    .iter()
                    .fold(0u32, |acc, d| acc * 10 + u32::from(d - b'0'));
                let byte = u8::try_from(value)
                    .map_err(|_| err(line_no, format!("escape \\{value} out of range")))?;
                token.push(byte);
                escaped_dot |= byte == b'.';
                i = i.saturating_add(4);
            } else if let Some(&next) = bytes.get(i.saturating_add(1)) {
                let crlf = next == b'\r' && bytes.get(i.saturating_add(2)) == Some(&b'\n');
                if next == b'\n' || crlf {
                    return Err(err(line_no, "backslash before end of line"));
                }
                token.push(next);
                escaped_dot |= next == b'.';
                i = i.saturating_add(2);
            } else {
                return Err(err(line_no, "backslash at end of input"));
            }
            continue;
        }
        token.push(c);
        i = i.saturating_add(1);
    }
    Ok((
        Token {
            text: token,
            quoted,
            escaped_dot,
        },
        i,
    ))
}

/// Splits the text into logical lines of tokens (RFC 1035 §5.1).
fn lex(bytes: &[u8]) -> Result<Vec<Line>, Error> {
    let mut lines = Vec::new();
    let mut line_no = 1usize;
    let mut depth = 0u32;
    let mut current: Option<Line> = None;
    let mut at_line_start = true;
    let mut i = 0usize;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'\n' => {
                line_no = line_no.saturating_add(1);
                at_line_start = true;
                if depth == 0 {
                    flush(&mut lines, &mut current);
                }
                i = i.saturating_add(1);
            }
            b' ' | b'\t' | b'\r' => {
                if at_line_start && depth == 0 && current.is_none() {
                    current = Some(Line {
                        tokens: Vec::new(),
                        blank_owner: true,
                        number: line_no,
                    });
                }
                at_line_start = false;
                i = i.saturating_add(1);
            }
            b';' => {
                while bytes.get(i).is_some_and(|&c| c != b'\n') {
                    i = i.saturating_add(1);
                }
            }
            b'(' => {
                depth = depth.saturating_add(1);
                at_line_start = false;
                i = i.saturating_add(1);
            }
            b')' => {
                depth = depth
                    .checked_sub(1)
                    .ok_or_else(|| err(line_no, "unbalanced ')'"))?;
                i = i.saturating_add(1);
            }
            _ => {
                let line = current.get_or_insert_with(|| Line {
                    tokens: Vec::new(),
                    blank_owner: false,
                    number: line_no,
                });
                at_line_start = false;
                let (token, next) = read_token(bytes, i, line_no)?;
                i = next;
                line.tokens.push(token);
            }
        }
    }
    if depth != 0 {
        return Err(err(line_no, "unbalanced '(' at end of input"));
    }
    flush(&mut lines, &mut current);
    Ok(lines)
}

fn token_str(token: &Token, line: usize) -> Result<&str, Error> {
    core::str::from_utf8(&token.text).map_err(|_| err(line, "token is not UTF-8"))
}

/// A token that is a domain name: UTF-8, and without an escaped `.` (RFC 1035 §5.1 lets a
/// label hold a dot written `\.`, which a [`Name`] cannot: refused rather than read as two
/// labels).
fn name_str(token: &Token, line: usize) -> Result<&str, Error> {
    let text = token_str(token, line)?;
    if token.escaped_dot {
        return Err(err(
            line,
            format!("name {text:?}: an escaped '.' inside a label is not supported"),
        ));
    }
    Ok(text)
}

fn absolute(text: &str, origin: Option<&Name>, line: usize) -> Result<Name, Error> {
    let bad = |e: Error| err(line, format!("name {text:?}: {e}"));
    if text == "@" {
        return origin
            .cloned()
            .ok_or_else(|| err(line, "'@' used without $ORIGIN"));
    }
    if text.ends_with('.') {
        return Name::new(text).map_err(bad);
    }
    let origin =
        origin.ok_or_else(|| err(line, format!("relative name {text:?} without $ORIGIN")))?;
    Name::new(&format!("{text}.{origin}")).map_err(bad)
}

fn is_ttl(text: &str) -> bool {
    !text.is_empty()
        && text.bytes().next().is_some_and(|b| b.is_ascii_digit())
        && text.bytes().all(|b| {
            b.is_ascii_digit() || matches!(b.to_ascii_lowercase(), b's' | b'm' | b'h' | b'd' | b'w')
        })
}

/// The RDATA of one record of type `rtype` (upper case), from its fields; `None` for the SOA
/// and NS records a zone file carries but a [`Zone`] does not serve.
fn rdata(
    rtype: &str,
    rest: &[&Token],
    origin: Option<&Name>,
    n: usize,
) -> Result<Option<Entry>, Error> {
    let single = |what: &str| -> Result<&Token, Error> {
        match rest {
            [one] => Ok(*one),
            _ => Err(err(n, format!("{what} takes exactly one field"))),
        }
    };
    Ok(Some(match rtype {
        "TXT" | "SPF" => {
            if rest.is_empty() {
                return Err(err(n, format!("{rtype} needs at least one string")));
            }
            let mut data = Vec::new();
            for part in rest {
                if part.text.len() > MAX_CHARACTER_STRING {
                    return Err(err(n, "character-string longer than 255 octets"));
                }
                data.extend_from_slice(&part.text);
            }
            if rtype == "TXT" {
                Entry::Record(Record::Txt(data))
            } else {
                Entry::Spf(data)
            }
        }
        "A" => {
            let text = token_str(single("A")?, n)?;
            Entry::Record(Record::A(
                text.parse::<Ipv4Addr>()
                    .map_err(|_| err(n, format!("bad IPv4 address {text:?}")))?,
            ))
        }
        "AAAA" => {
            let text = token_str(single("AAAA")?, n)?;
            Entry::Record(Record::Aaaa(
                text.parse::<Ipv6Addr>()
                    .map_err(|_| err(n, format!("bad IPv6 address {text:?}")))?,
            ))
        }
        "MX" => {
            let [pref, host] = rest else {
                return Err(err(n, "MX takes a preference and a host"));
            };
            let pref_text = token_str(pref, n)?;
            let preference = pref_text
                .parse::<u16>()
                .map_err(|_| err(n, format!("bad MX preference {pref_text:?}")))?;
            let host = name_str(host, n)?;
            // "." is a null MX (RFC 7505).
            let exchange = if host == "." {
                None
            } else {
                Some(absolute(host, origin, n)?)
            };
            Entry::Record(Record::Mx {
                preference,
                exchange,
            })
        }
        "PTR" => Entry::Record(Record::Ptr(absolute(
            name_str(single("PTR")?, n)?,
            origin,
            n,
        )?)),
        "CNAME" => Entry::Cname(absolute(name_str(single("CNAME")?, n)?, origin, n)?),
        "NS" => {
            absolute(name_str(single("NS")?, n)?, origin, n)?;
            return Ok(None);
        }
        "SOA" => {
            let [mname, rname, numbers @ ..] = rest else {
                return Err(err(n, "SOA takes two names and five numbers"));
            };
            absolute(name_str(mname, n)?, origin, n)?;
            // The responsible mailbox: its local part may hold an escaped dot (RFC 1035 §8),
            // and the name is not kept.
            absolute(token_str(rname, n)?, origin, n)?;
            if numbers.len() != 5 {
                return Err(err(n, "SOA takes two names and five numbers"));
            }
            for number in numbers {
                if !is_ttl(token_str(number, n)?) {
                    return Err(err(n, "bad SOA number"));
                }
            }
            return Ok(None);
        }
        other => return Err(err(n, format!("unsupported record type {other}"))),
    }))
}

impl Zone {
    /// Loads an RFC 1035 master file. `origin` is the initial `$ORIGIN` (a file may set its
    /// own); relative names need one. The zone answers `*` owners as wildcards (RFC 4592; see
    /// [`Zone::with_wildcards`]).
    ///
    /// ```
    /// use postern_dns::{Answer, Name, Query, Record, RecordType, Zone};
    /// let text = "$ORIGIN example.com.\n$TTL 300\n@ IN TXT ( \"v=spf1 \"\n  \"-all\" ) ; SPF\nmx 60 IN A 192.0.2.1\n";
    /// let zone = Zone::from_master_file(text, None)?;
    /// let query = Query::new(1, Name::new("example.com")?, RecordType::Txt);
    /// assert_eq!(zone.resolve(&query), Answer::Records(vec![Record::Txt(b"v=spf1 -all".to_vec())].into()));
    /// # Ok::<(), postern_dns::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::Zone`] with the line number: unknown directives or types, classes other than
    /// IN, bad addresses or names (a `.` escaped inside a label among them), strings over 255
    /// octets, unbalanced parentheses or quotes, a backslash at the end of a line.
    pub fn from_master_file(text: &str, origin: Option<&Name>) -> Result<Self, Error> {
        Self::from_master_bytes(text.as_bytes(), origin)
    }

    /// Loads an RFC 1035 master file given as bytes: the same format as
    /// [`Zone::from_master_file`], for files that are not UTF-8. A character-string may hold
    /// any octet (RFC 1035 §5.1), written raw or as `\DDD`, so TXT data such as a Latin-1
    /// explanation loads as the octets written; names, types, addresses and numbers must
    /// still be UTF-8 (they are ASCII).
    ///
    /// ```
    /// use postern_dns::{Answer, Name, Query, Record, RecordType, Zone};
    /// let zone = Zone::from_master_bytes(b"why.example.com. TXT \"caf\xe9\"\n", None)?;
    /// let query = Query::new(1, Name::new("why.example.com")?, RecordType::Txt);
    /// assert_eq!(zone.resolve(&query), Answer::Records(vec![Record::Txt(b"caf\xe9".to_vec())].into()));
    /// # Ok::<(), postern_dns::Error>(())
    /// ```
    ///
    /// # Errors
    /// As [`Zone::from_master_file`]; a name or other non-string field that is not UTF-8 is
    /// [`Error::Zone`] with its line.
    pub fn from_master_bytes(bytes: &[u8], origin: Option<&Name>) -> Result<Self, Error> {
        let mut origin = origin.cloned();
        let mut zone = Self::new();
        let mut last_owner: Option<Name> = None;
        for line in lex(bytes)? {
            let n = line.number;
            let mut tokens = line.tokens.iter();
            let first = tokens.next().ok_or_else(|| err(n, "empty line"))?;
            let first_text = token_str(first, n)?;
            if !line.blank_owner && !first.quoted && first_text.starts_with('$') {
                match first_text.to_ascii_uppercase().as_str() {
                    "$ORIGIN" => {
                        let name = tokens
                            .next()
                            .ok_or_else(|| err(n, "$ORIGIN needs a name"))?;
                        origin = Some(absolute(name_str(name, n)?, origin.as_ref(), n)?);
                    }
                    "$TTL" => {
                        let ttl = tokens.next().ok_or_else(|| err(n, "$TTL needs a value"))?;
                        if !is_ttl(token_str(ttl, n)?) {
                            return Err(err(n, "bad $TTL value"));
                        }
                    }
                    other => return Err(err(n, format!("unsupported directive {other}"))),
                }
                continue;
            }
            let owner = if line.blank_owner {
                // The first token is already a TTL, class or type: start again from it.
                tokens = line.tokens.iter();
                last_owner
                    .clone()
                    .ok_or_else(|| err(n, "record without owner"))?
            } else {
                absolute(name_str(first, n)?, origin.as_ref(), n)?
            };
            last_owner = Some(owner.clone());
            let rtype = loop {
                let token = tokens.next().ok_or_else(|| err(n, "missing record type"))?;
                let text = token_str(token, n)?;
                if is_ttl(text) {
                    continue;
                }
                match text.to_ascii_uppercase().as_str() {
                    "IN" => {}
                    "CH" | "HS" | "CS" => {
                        return Err(err(n, format!("class {text} not supported (only IN)")));
                    }
                    _ => break text.to_ascii_uppercase(),
                }
            };
            let rest: Vec<&Token> = tokens.collect();
            match rdata(&rtype, &rest, origin.as_ref(), n)? {
                Some(entry) => zone.insert(owner, entry),
                None => zone.touch(owner),
            }
        }
        Ok(zone.with_wildcards(true))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::query::{Answer, Query, RecordType};

    fn resolve(zone: &Zone, name: &str, t: RecordType) -> Answer {
        zone.resolve(&Query::new(0, Name::new(name).unwrap(), t))
    }

    #[test]
    fn full_example() {
        let text = r#"
$ORIGIN example.com.
$TTL 1h
@          IN  TXT  "v=spf1 mx a:mail -all"   ; the policy
           IN  MX   10 mx
           IN  MX   20 mx.example.net.
mx     300 IN  A    192.0.2.10
               AAAA 2001:db8::10
mail       CNAME mx
why        TXT  "%{i} is \"not\" allowed\059 sorry"
long       TXT  ( "v=spf1 ip4:198.51.100.0/24"
                  " -all" )
10.2.0.192.in-addr.arpa. PTR mx
"#;
        let zone = Zone::from_master_file(text, None).unwrap();
        assert_eq!(
            resolve(&zone, "example.com", RecordType::Txt),
            Answer::Records(vec![Record::Txt(b"v=spf1 mx a:mail -all".to_vec())].into())
        );
        assert_eq!(
            resolve(&zone, "example.com", RecordType::Mx)
                .records()
                .len(),
            2
        );
        assert_eq!(
            resolve(&zone, "mail.example.com", RecordType::Aaaa)
                .records()
                .len(),
            1
        );
        assert_eq!(
            resolve(&zone, "why.example.com", RecordType::Txt),
            Answer::Records(vec![Record::Txt(b"%{i} is \"not\" allowed; sorry".to_vec())].into())
        );
        assert_eq!(
            resolve(&zone, "long.example.com", RecordType::Txt),
            Answer::Records(vec![Record::Txt(b"v=spf1 ip4:198.51.100.0/24 -all".to_vec())].into())
        );
        assert_eq!(
            resolve(&zone, "10.2.0.192.in-addr.arpa", RecordType::Ptr),
            Answer::Records(vec![Record::Ptr(Name::new("mx.example.com").unwrap())].into())
        );
    }

    #[test]
    fn soa_and_ns_records_are_skipped() {
        let text = "$ORIGIN example.com.\n$TTL 1d\n@ IN SOA ns1 hostmaster (\n  2024010101 ; serial\n  1h 15m 1w 300 )\n  IN NS ns1\n  IN NS ns2.example.net.\n  IN TXT \"v=spf1 -all\"\nother IN NS ns1\n";
        let zone = Zone::from_master_file(text, None).unwrap();
        assert_eq!(
            resolve(&zone, "example.com", RecordType::Txt),
            Answer::Records(vec![Record::Txt(b"v=spf1 -all".to_vec())].into())
        );
        assert_eq!(
            resolve(&zone, "other.example.com", RecordType::Txt),
            Answer::NoData
        );
        // The mailbox of an SOA may have a dot in its local part (RFC 1035 §8); a name may
        // escape other characters.
        let text = "$ORIGIN example.com.\n@ SOA ns1 john\\.doe 1 2 3 4 5\nw\\-x TXT \"y\"\n";
        let zone = Zone::from_master_file(text, None).unwrap();
        assert_eq!(
            resolve(&zone, "w-x.example.com", RecordType::Txt),
            Answer::Records(vec![Record::Txt(b"y".to_vec())].into())
        );
        for bad in [
            "a. IN SOA ns. host. 1 2 3 4",
            "a. IN SOA ns. host. 1 2 3 4 x",
            "a. IN NS",
        ] {
            let e = Zone::from_master_file(bad, None).unwrap_err().to_string();
            assert!(e.contains("line 1"), "{bad:?}: {e}");
        }
    }

    #[test]
    fn raw_octets_in_character_strings_load_as_written() {
        let raw = b"$ORIGIN example.com.\nwhy TXT \"caf\xe9 \xff\" \"\x80\"\n";
        let escaped = b"$ORIGIN example.com.\nwhy TXT \"caf\\233 \\255\" \"\\128\"\n";
        let zone = Zone::from_master_bytes(raw, None).unwrap();
        assert_eq!(
            resolve(&zone, "why.example.com", RecordType::Txt),
            Answer::Records(vec![Record::Txt(b"caf\xe9 \xff\x80".to_vec())].into())
        );
        assert_eq!(zone, Zone::from_master_bytes(escaped, None).unwrap());
        // An unquoted character-string may hold raw octets too.
        let bare = Zone::from_master_bytes(b"why.example.com. TXT caf\xe9\n", None).unwrap();
        assert_eq!(
            resolve(&bare, "why.example.com", RecordType::Txt),
            Answer::Records(vec![Record::Txt(b"caf\xe9".to_vec())].into())
        );
    }

    #[test]
    fn raw_octets_outside_character_strings_are_errors_with_their_line() {
        for (text, needle) in [
            (
                &b"a.example. TXT \"ok\"\nb\xe9.example. TXT \"x\"\n"[..],
                "not UTF-8",
            ),
            (
                &b"a.example. TXT \"ok\"\nb.example. A 192.0.2.\xe9\n"[..],
                "not UTF-8",
            ),
            (
                &b"a.example. TXT \"ok\"\nb.example. \xe9 \"x\"\n"[..],
                "not UTF-8",
            ),
        ] {
            let e = Zone::from_master_bytes(text, None).unwrap_err().to_string();
            assert!(e.contains("line 2") && e.contains(needle), "{text:?}: {e}");
        }
    }

    #[test]
    fn errors_have_lines() {
        for (text, line, needle) in [
            ("a.example. IN A 1.2.3", 1, "bad IPv4"),
            ("\n\nfoo IN A 1.2.3.4", 3, "without $ORIGIN"),
            ("a. IN TXT \"open", 1, "unterminated"),
            ("a. IN TXT ( \"x\"", 1, "unbalanced"),
            ("a. CH TXT \"x\"", 1, "class"),
            ("a. IN NAPTR x", 1, "unsupported record type"),
            ("$INCLUDE other", 1, "unsupported directive"),
            ("  IN A 1.2.3.4", 1, "without owner"),
            ("a. IN MX x b.", 1, "preference"),
            (
                "a. TXT \"x\"\r\nb. IN TXT \\\r\n",
                2,
                "backslash before end of line",
            ),
            ("a\\.b.example. TXT \"x\"", 1, "escaped '.'"),
            ("a\\046b.example. TXT \"x\"", 1, "escaped '.'"),
            ("$ORIGIN example.\nx CNAME a\\.b", 2, "escaped '.'"),
            ("$ORIGIN example.\nx MX 10 a\\.b", 2, "escaped '.'"),
            ("$ORIGIN example.\nx PTR a\\.b", 2, "escaped '.'"),
            ("$ORIGIN a\\.example.", 1, "escaped '.'"),
        ] {
            let e = Zone::from_master_file(text, None).unwrap_err().to_string();
            assert!(
                e.contains(&format!("line {line}")) && e.contains(needle),
                "{text:?}: {e}"
            );
        }
        let long = format!("a. TXT \"{}\"", "x".repeat(256));
        assert!(Zone::from_master_file(&long, None).is_err());
    }
}
