//! A subset of the RFC 1035 §5 master-file format, enough for mail-authentication zones:
//! `$ORIGIN`, `$TTL`, `$INCLUDE` (through a caller's source of files), owner inheritance,
//! `@`, relative names, TTL and class fields, quoted character-strings with `\"`, `\\` and
//! `\DDD` escapes, parentheses across lines, `;` comments, and the types TXT, SPF, A, AAAA,
//! MX, PTR and CNAME, also as `TYPEnnn` and with data in the generic form of RFC 3597
//! (`\# LENGTH HEX`). SOA and NS records, which every zone file has, are checked and skipped;
//! the other data types of the IANA registry (CAA, SRV, the DNSSEC records, `TYPEnnn` with
//! generic data) are skipped unchecked. The owners of skipped records exist. DNAME is refused,
//! since it would change the answers below its owner. A name with a `.` escaped inside a
//! label (`a\.b`) is refused, since a [`Name`] cannot hold one.
//!
//! As an authoritative server loads a zone: a CNAME must stand alone at its name (RFC 1034
//! §3.6.2, RFC 2181 §10.1; its signature and the NSEC, NSEC3 and KEY records of RFC 4035
//! §2.5 may stand beside it), a record written twice is served once (RFC 2181 §5), and `*`
//! owners answer as wildcards ([`Zone::with_wildcards`]).

use std::collections::{HashMap, HashSet};
use std::net::{Ipv4Addr, Ipv6Addr};

use crate::error::Error;
use crate::name::{MAX_LABEL_LEN, Name};
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
    /// The token is `\#`, which opens RDATA in the generic form of RFC 3597 §5.
    generic: bool,
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
    let start = i;
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
    let generic = !quoted && bytes.get(start..i) == Some(&b"\\#"[..]);
    Ok((
        Token {
            text: token,
            quoted,
            escaped_dot,
            generic,
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

/// Type codes of the records a [`Zone`] serves or checks (RFC 1035 §3.2.2, RFC 3596, RFC 7208).
mod code {
    pub(super) const A: u16 = 1;
    pub(super) const NS: u16 = 2;
    pub(super) const CNAME: u16 = 5;
    pub(super) const SOA: u16 = 6;
    pub(super) const PTR: u16 = 12;
    pub(super) const MX: u16 = 15;
    pub(super) const TXT: u16 = 16;
    pub(super) const KEY: u16 = 25;
    pub(super) const AAAA: u16 = 28;
    pub(super) const DNAME: u16 = 39;
    pub(super) const RRSIG: u16 = 46;
    pub(super) const NSEC: u16 = 47;
    pub(super) const NSEC3: u16 = 50;
    pub(super) const SPF: u16 = 99;
}

/// The types this loader reads: those a [`Zone`] serves, SOA and NS (checked, then skipped),
/// and DNAME (named only to be refused: it would change the answers for the names below its
/// owner, RFC 6672, which a [`Zone`] does not give).
const READ_TYPES: [(&str, u16); 10] = [
    ("A", code::A),
    ("NS", code::NS),
    ("CNAME", code::CNAME),
    ("SOA", code::SOA),
    ("PTR", code::PTR),
    ("MX", code::MX),
    ("TXT", code::TXT),
    ("AAAA", code::AAAA),
    ("DNAME", code::DNAME),
    ("SPF", code::SPF),
];

/// The other data types of the IANA "Resource Record (RR) TYPEs" registry. A zone file may
/// hold them (CAA, SRV, the DNSSEC records and so on); a [`Zone`] does not serve them. Their
/// data is skipped, not checked (unless written in the generic form of RFC 3597 §5), but
/// their owner exists, and they count as data beside a CNAME. A type not in either table is
/// written `TYPEnnn`, with generic data.
const SKIPPED_TYPES: [(&str, u16); 76] = [
    ("MD", 3),
    ("MF", 4),
    ("MB", 7),
    ("MG", 8),
    ("MR", 9),
    ("NULL", 10),
    ("WKS", 11),
    ("HINFO", 13),
    ("MINFO", 14),
    ("RP", 17),
    ("AFSDB", 18),
    ("X25", 19),
    ("ISDN", 20),
    ("RT", 21),
    ("NSAP", 22),
    ("NSAP-PTR", 23),
    ("SIG", 24),
    ("KEY", code::KEY),
    ("PX", 26),
    ("GPOS", 27),
    ("LOC", 29),
    ("NXT", 30),
    ("EID", 31),
    ("NIMLOC", 32),
    ("SRV", 33),
    ("ATMA", 34),
    ("NAPTR", 35),
    ("KX", 36),
    ("CERT", 37),
    ("A6", 38),
    ("SINK", 40),
    ("APL", 42),
    ("DS", 43),
    ("SSHFP", 44),
    ("IPSECKEY", 45),
    ("RRSIG", code::RRSIG),
    ("NSEC", code::NSEC),
    ("DNSKEY", 48),
    ("DHCID", 49),
    ("NSEC3", code::NSEC3),
    ("NSEC3PARAM", 51),
    ("TLSA", 52),
    ("SMIMEA", 53),
    ("HIP", 55),
    ("NINFO", 56),
    ("RKEY", 57),
    ("TALINK", 58),
    ("CDS", 59),
    ("CDNSKEY", 60),
    ("OPENPGPKEY", 61),
    ("CSYNC", 62),
    ("ZONEMD", 63),
    ("SVCB", 64),
    ("HTTPS", 65),
    ("DSYNC", 66),
    ("UINFO", 100),
    ("UID", 101),
    ("GID", 102),
    ("UNSPEC", 103),
    ("NID", 104),
    ("L32", 105),
    ("L64", 106),
    ("LP", 107),
    ("EUI48", 108),
    ("EUI64", 109),
    ("URI", 256),
    ("CAA", 257),
    ("AVC", 258),
    ("DOA", 259),
    ("AMTRELAY", 260),
    ("RESINFO", 261),
    ("WALLET", 262),
    ("CLA", 263),
    ("IPN", 264),
    ("TA", 32768),
    ("DLV", 32769),
];

/// The code of a type field: a mnemonic of either table, or `TYPEnnn` (RFC 3597 §5).
fn type_code(text: &str) -> Option<u16> {
    let upper = text.to_ascii_uppercase();
    if let Some(digits) = upper.strip_prefix("TYPE") {
        return decimal(digits);
    }
    READ_TYPES
        .iter()
        .chain(&SKIPPED_TYPES)
        .find(|(mnemonic, _)| *mnemonic == upper)
        .map(|&(_, code)| code)
}

/// A decimal number of digits only (no sign), up to 65535.
fn decimal(text: &str) -> Option<u16> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// Whether `code` is a data type: not 0, OPT or a query or meta type (RFC 6895 §3.1).
fn is_data_type(code: u16) -> bool {
    code != 0 && code != 41 && !(128..=255).contains(&code)
}

/// How a record stands beside a CNAME at its owner: only the CNAME, its signature and the
/// records of RFC 4035 §2.5 (NSEC, NSEC3, KEY, and their signatures) may share an owner with
/// a CNAME (RFC 1034 §3.6.2, RFC 2181 §10.1).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// The CNAME, or its signature.
    Alias,
    /// May stand beside anything.
    Neutral,
    /// Other data.
    Data,
}

fn kind(code: u16) -> Kind {
    match code {
        code::CNAME => Kind::Alias,
        code::NSEC | code::NSEC3 | code::KEY => Kind::Neutral,
        _ => Kind::Data,
    }
}

/// A record's meaning for the zone: the entry it serves (none for the types a [`Zone`] does
/// not serve) and how it stands beside a CNAME.
struct Parsed {
    entry: Option<Entry>,
    kind: Kind,
}

impl Parsed {
    fn entry(entry: Entry, code: u16) -> Self {
        Self {
            entry: Some(entry),
            kind: kind(code),
        }
    }

    fn skipped(kind: Kind) -> Self {
        Self { entry: None, kind }
    }
}

/// The RDATA of one record of type `code`, from its fields.
fn rdata(code: u16, rest: &[&Token], origin: Option<&Name>, n: usize) -> Result<Parsed, Error> {
    if let [first, fields @ ..] = rest
        && first.generic
    {
        return wire_rdata(code, &generic(fields, n)?, n);
    }
    let single = |what: &str| -> Result<&Token, Error> {
        match rest {
            [one] => Ok(*one),
            _ => Err(err(n, format!("{what} takes exactly one field"))),
        }
    };
    let entry = match code {
        code::TXT | code::SPF => {
            if rest.is_empty() {
                return Err(err(n, "TXT and SPF need at least one string"));
            }
            let mut data = Vec::new();
            for part in rest {
                if part.text.len() > MAX_CHARACTER_STRING {
                    return Err(err(n, "character-string longer than 255 octets"));
                }
                data.extend_from_slice(&part.text);
            }
            txt_entry(code, data)
        }
        code::A => {
            let text = token_str(single("A")?, n)?;
            Entry::Record(Record::A(
                text.parse::<Ipv4Addr>()
                    .map_err(|_| err(n, format!("bad IPv4 address {text:?}")))?,
            ))
        }
        code::AAAA => {
            let text = token_str(single("AAAA")?, n)?;
            Entry::Record(Record::Aaaa(
                text.parse::<Ipv6Addr>()
                    .map_err(|_| err(n, format!("bad IPv6 address {text:?}")))?,
            ))
        }
        code::MX => {
            let [pref, host] = rest else {
                return Err(err(n, "MX takes a preference and a host"));
            };
            let pref_text = token_str(pref, n)?;
            let preference = decimal(pref_text)
                .ok_or_else(|| err(n, format!("bad MX preference {pref_text:?}")))?;
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
        code::PTR => Entry::Record(Record::Ptr(absolute(
            name_str(single("PTR")?, n)?,
            origin,
            n,
        )?)),
        code::CNAME => Entry::Cname(absolute(name_str(single("CNAME")?, n)?, origin, n)?),
        code::NS => {
            absolute(name_str(single("NS")?, n)?, origin, n)?;
            return Ok(Parsed::skipped(Kind::Data));
        }
        code::SOA => {
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
            return Ok(Parsed::skipped(Kind::Data));
        }
        _ => return skipped(code, rest, n),
    };
    Ok(Parsed::entry(entry, code))
}

fn txt_entry(code: u16, data: Vec<u8>) -> Entry {
    if code == code::SPF {
        Entry::Spf(data)
    } else {
        Entry::Record(Record::Txt(data))
    }
}

/// A record of a type a [`Zone`] does not serve, in the presentation form of its type: its
/// data is not checked, but there must be some (every such type has data), and a signature
/// must name a type.
fn skipped(code: u16, rest: &[&Token], n: usize) -> Result<Parsed, Error> {
    let Some(first) = rest.first() else {
        return Err(err(n, "record without data"));
    };
    if code == code::RRSIG {
        let covered = token_str(first, n)?;
        let covered = type_code(covered)
            .ok_or_else(|| err(n, format!("RRSIG covers an unknown type {covered:?}")))?;
        return Ok(Parsed::skipped(kind(covered)));
    }
    if !SKIPPED_TYPES.iter().any(|&(_, known)| known == code) {
        return Err(err(
            n,
            format!("TYPE{code} takes its data in the generic form (\\# LENGTH HEX, RFC 3597 §5)"),
        ));
    }
    Ok(Parsed::skipped(kind(code)))
}

/// The octets of generic RDATA (RFC 3597 §5), from the fields after `\#`: a length, then
/// that many octets in hexadecimal, split into fields as the writer liked.
fn generic(fields: &[&Token], n: usize) -> Result<Vec<u8>, Error> {
    let bad = |what: &str| err(n, format!("generic data (\\#): {what}"));
    let [length, hex @ ..] = fields else {
        return Err(bad("no length"));
    };
    let length = decimal(token_str(length, n)?).ok_or_else(|| bad("bad length"))?;
    let mut digits = Vec::new();
    for field in hex {
        if field.quoted {
            return Err(bad("a quoted field"));
        }
        digits.extend_from_slice(&field.text);
    }
    if digits.len() != usize::from(length).saturating_mul(2) {
        return Err(bad("the length does not match the data"));
    }
    digits
        .chunks(2)
        .map(|pair| {
            core::str::from_utf8(pair)
                .ok()
                .and_then(|pair| u8::from_str_radix(pair, 16).ok())
                .ok_or_else(|| bad("not hexadecimal"))
        })
        .collect()
}

/// A record whose data came in wire form (RFC 3597 §5): decoded for the types a [`Zone`]
/// serves, skipped for the others.
fn wire_rdata(code: u16, data: &[u8], n: usize) -> Result<Parsed, Error> {
    let bad = |what: &str| err(n, format!("generic data (\\#): {what}"));
    let entry = match code {
        code::A => Entry::Record(Record::A(Ipv4Addr::from(
            <[u8; 4]>::try_from(data).map_err(|_| bad("an A record has 4 octets"))?,
        ))),
        code::AAAA => Entry::Record(Record::Aaaa(Ipv6Addr::from(
            <[u8; 16]>::try_from(data).map_err(|_| bad("an AAAA record has 16 octets"))?,
        ))),
        code::TXT | code::SPF => {
            if data.is_empty() {
                return Err(bad("TXT and SPF need at least one string"));
            }
            let mut text = Vec::new();
            let mut rest = data;
            while let Some((&len, tail)) = rest.split_first() {
                let (string, tail) = tail
                    .split_at_checked(usize::from(len))
                    .ok_or_else(|| bad("a character-string runs past the end"))?;
                text.extend_from_slice(string);
                rest = tail;
            }
            txt_entry(code, text)
        }
        code::MX => {
            let [high, low, name @ ..] = data else {
                return Err(bad("an MX record has a preference and a host"));
            };
            Entry::Record(Record::Mx {
                preference: u16::from_be_bytes([*high, *low]),
                exchange: wire_name(name, n)?,
            })
        }
        code::PTR | code::CNAME => {
            let name = wire_name(data, n)?.ok_or_else(|| bad("the root is not a host name"))?;
            if code == code::PTR {
                Entry::Record(Record::Ptr(name))
            } else {
                Entry::Cname(name)
            }
        }
        code::RRSIG => {
            let [high, low, ..] = data else {
                return Err(bad("an RRSIG record names the type it covers"));
            };
            return Ok(Parsed::skipped(kind(u16::from_be_bytes([*high, *low]))));
        }
        _ => return Ok(Parsed::skipped(kind(code))),
    };
    Ok(Parsed::entry(entry, code))
}

/// An uncompressed name in wire form (RFC 1035 §3.1) that fills `data`; `None` for the root.
fn wire_name(data: &[u8], n: usize) -> Result<Option<Name>, Error> {
    let bad = |what: &str| err(n, format!("generic data (\\#): {what}"));
    let mut text = String::new();
    let mut rest = data;
    loop {
        let Some((&len, tail)) = rest.split_first() else {
            return Err(bad("a name without its root label"));
        };
        if len == 0 {
            if !tail.is_empty() {
                return Err(bad("octets after a name"));
            }
            break;
        }
        let (label, tail) = tail
            .split_at_checked(usize::from(len))
            .filter(|_| usize::from(len) <= MAX_LABEL_LEN)
            .ok_or_else(|| bad("a bad label in a name"))?;
        let label = core::str::from_utf8(label).map_err(|_| bad("a name that is not UTF-8"))?;
        if label.contains('.') {
            return Err(bad("a '.' inside a label is not supported"));
        }
        text.push_str(label);
        text.push('.');
        rest = tail;
    }
    if text.is_empty() {
        return Ok(None);
    }
    Name::new(&text)
        .map(Some)
        .map_err(|e| bad(&format!("name {text:?}: {e}")))
}

/// What stands at one owner so far: for the CNAME rules (RFC 2181 §10.1), the CNAME's target
/// and whether a CNAME (or its signature) or other data is there; and the entries served, so
/// that a record written twice is served once (RFC 2181 §5).
#[derive(Default)]
struct Beside {
    target: Option<Name>,
    alias: bool,
    data: bool,
    served: HashSet<Entry>,
}

impl Beside {
    /// Adds one record, or says why it cannot stand here.
    fn add(&mut self, parsed: &Parsed) -> Result<(), &'static str> {
        match parsed.kind {
            Kind::Alias if self.data => return Err("CNAME and other data at one name"),
            Kind::Data if self.alias => return Err("CNAME and other data at one name"),
            _ => {}
        }
        if let Some(Entry::Cname(target)) = &parsed.entry {
            if self.target.as_ref().is_some_and(|seen| seen != target) {
                return Err("more than one CNAME at one name");
            }
            self.target = Some(target.clone());
        }
        self.alias |= parsed.kind == Kind::Alias;
        self.data |= parsed.kind == Kind::Data;
        Ok(())
    }
}

impl Zone {
    /// Loads an RFC 1035 master file. `origin` is the initial `$ORIGIN` (a file may set its
    /// own); relative names need one. The zone answers `*` owners as wildcards (RFC 4592; see
    /// [`Zone::with_wildcards`]), and, as an authoritative server does, serves a record written
    /// twice once (RFC 2181 §5).
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
    /// Other data types (CAA, SRV, the DNSSEC records, and any type written `TYPEnnn` with
    /// generic data, RFC 3597) are skipped, but their owners exist. Data in the generic form
    /// (`\# LENGTH HEX`) is read for every type.
    ///
    /// # Errors
    /// [`Error::Zone`] with the line number: unknown directives or types, DNAME, classes
    /// other than IN, bad addresses or names (a `.` escaped inside a label among them),
    /// strings over 255 octets, bad generic data, unbalanced parentheses or quotes, a
    /// backslash at the end of a line; a CNAME beside other data or a second CNAME at one name
    /// (RFC 1034 §3.6.2, RFC 2181 §10.1), which authoritative servers refuse too.
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
        let mut loader = Loader::new(None);
        loader.file(bytes, origin.cloned(), 0)?;
        Ok(loader.zone.with_wildcards(true))
    }

    /// [`Zone::from_master_bytes`] with `$INCLUDE <file-name> [<domain-name>]` (RFC 1035
    /// §5.1): `include` is given each file name as written and returns the file's bytes, or a
    /// message saying why it cannot. The included file starts with the including file's
    /// origin, or with the domain name when one is given; its `$ORIGIN` lines and its last
    /// owner do not carry back into the including file. The loader does no I/O itself: the
    /// caller decides where names point (`postern spf --zone` reads them relative to the zone
    /// file's directory) and which files may be read. Includes nest at most
    /// [`MAX_INCLUDE_DEPTH`] deep, and at most [`MAX_INCLUDED_FILES`] are read in all.
    ///
    /// ```
    /// use postern_dns::{Name, Record, RecordType, Zone};
    /// let main = b"$ORIGIN example.com.\n@ TXT \"v=spf1 include:_spf -all\"\n$INCLUDE spf.inc _spf\n";
    /// let zone = Zone::from_master_bytes_with_includes(main, None, |file| match file {
    ///     "spf.inc" => Ok(b"@ TXT \"v=spf1 ip4:192.0.2.0/24 -all\"\n".to_vec()),
    ///     other => Err(format!("no file {other}")),
    /// })?;
    /// let spf = Name::new("_spf.example.com")?;
    /// assert_eq!(zone.resolve_name(&spf, RecordType::Txt).records(), [Record::Txt(b"v=spf1 ip4:192.0.2.0/24 -all".to_vec())]);
    /// # Ok::<(), postern_dns::Error>(())
    /// ```
    ///
    /// # Errors
    /// As [`Zone::from_master_file`], with the place of an error in an included file given
    /// as `line N of FILE (included at line M)`; and `include`'s refusal, includes nested too
    /// deep or too many.
    pub fn from_master_bytes_with_includes<F>(
        bytes: &[u8],
        origin: Option<&Name>,
        mut include: F,
    ) -> Result<Self, Error>
    where
        F: FnMut(&str) -> Result<Vec<u8>, String>,
    {
        let mut loader = Loader::new(Some(&mut include));
        loader.file(bytes, origin.cloned(), 0)?;
        Ok(loader.zone.with_wildcards(true))
    }
}

/// How deep `$INCLUDE` may nest: a file that includes itself stops here.
pub const MAX_INCLUDE_DEPTH: usize = 8;

/// How many files `$INCLUDE` may read for one zone, in all.
pub const MAX_INCLUDED_FILES: usize = 256;

/// The source of included files.
type Include<'f> = &'f mut dyn FnMut(&str) -> Result<Vec<u8>, String>;

/// One load of a master file and the files it includes.
struct Loader<'f> {
    zone: Zone,
    beside: HashMap<Name, Beside>,
    include: Option<Include<'f>>,
    included: usize,
}

impl<'f> Loader<'f> {
    fn new(include: Option<Include<'f>>) -> Self {
        Self {
            zone: Zone::new(),
            beside: HashMap::new(),
            include,
            included: 0,
        }
    }

    /// Loads one file's records, starting from `origin`, `depth` includes deep.
    fn file(&mut self, bytes: &[u8], mut origin: Option<Name>, depth: usize) -> Result<(), Error> {
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
                    "$INCLUDE" if self.include.is_some() => {
                        let rest: Vec<&Token> = tokens.collect();
                        self.include_file(&rest, origin.as_ref(), depth, n)?;
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
            let code = loop {
                let token = tokens.next().ok_or_else(|| err(n, "missing record type"))?;
                let text = token_str(token, n)?;
                if is_ttl(text) {
                    continue;
                }
                let upper = text.to_ascii_uppercase();
                let class = match upper.strip_prefix("CLASS") {
                    Some(digits) => decimal(digits),
                    None if upper == "IN" => Some(1),
                    None if ["CS", "CH", "HS", "NONE", "ANY"].contains(&upper.as_str()) => Some(0),
                    None => None,
                };
                match class {
                    Some(1) => continue,
                    Some(_) => {
                        return Err(err(n, format!("class {text} not supported (only IN)")));
                    }
                    None => {}
                }
                match type_code(text) {
                    Some(code::DNAME) => return Err(err(n, "unsupported record type DNAME")),
                    Some(code) if is_data_type(code) => break code,
                    _ => return Err(err(n, format!("unsupported record type {text}"))),
                }
            };
            let rest: Vec<&Token> = tokens.collect();
            let parsed = rdata(code, &rest, origin.as_ref(), n)?;
            let at = self.beside.entry(owner.clone()).or_default();
            at.add(&parsed)
                .map_err(|why| err(n, format!("{owner}: {why} (RFC 2181 §10.1)")))?;
            match parsed.entry {
                // A record written twice is one record (RFC 2181 §5).
                Some(entry) if at.served.insert(entry.clone()) => self.zone.insert(owner, entry),
                _ => self.zone.touch(owner),
            }
        }
        Ok(())
    }

    /// `$INCLUDE <file-name> [<domain-name>]` at line `n` (RFC 1035 §5.1).
    fn include_file(
        &mut self,
        fields: &[&Token],
        origin: Option<&Name>,
        depth: usize,
        n: usize,
    ) -> Result<(), Error> {
        let (file, inner_origin) = match fields {
            [file] => (token_str(file, n)?, origin.cloned()),
            [file, name] => (
                token_str(file, n)?,
                Some(absolute(name_str(name, n)?, origin, n)?),
            ),
            _ => {
                return Err(err(
                    n,
                    "$INCLUDE takes a file name and an optional domain name",
                ));
            }
        };
        if depth >= MAX_INCLUDE_DEPTH {
            return Err(err(
                n,
                format!("$INCLUDE {file}: includes nested deeper than {MAX_INCLUDE_DEPTH}"),
            ));
        }
        if self.included >= MAX_INCLUDED_FILES {
            return Err(err(
                n,
                format!("$INCLUDE {file}: more than {MAX_INCLUDED_FILES} included files"),
            ));
        }
        self.included = self.included.saturating_add(1);
        let read = self.include.as_mut().map(|include| include(file));
        let bytes = match read {
            Some(Ok(bytes)) => bytes,
            Some(Err(why)) => return Err(err(n, format!("$INCLUDE {file}: {why}"))),
            None => return Err(err(n, "unsupported directive $INCLUDE")),
        };
        self.file(&bytes, inner_origin, depth.saturating_add(1))
            .map_err(|e| match e {
                Error::Zone { location, problem } => Error::Zone {
                    location: format!("{location} of {file} (included at line {n})"),
                    problem,
                },
                other => other,
            })
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
    fn other_data_types_are_skipped_but_their_owners_exist() {
        let text = r#"$ORIGIN example.com.
@        SOA ns1 hostmaster 1 2 3 4 5
         NS ns1
         CAA 0 issue "ca.example.net"
         DNSKEY 257 3 13 ( AAAA
                           BBBB )
         RRSIG SOA 13 2 300 20300101000000 20200101000000 1234 example.com. AAAA
         TXT "v=spf1 -all"
_sip._tcp SRV 10 5 5060 sip
host     HINFO "PC" "Unix"
         SSHFP 4 2 ABCD
         TYPE65534 \# 4 0A0B0C0D
         tlsa CLASS1 TYPE52 \# 3 010203
_25._tcp.mx TLSA 3 1 1 ABCDEF
"#;
        let zone = Zone::from_master_file(text, None).unwrap();
        assert_eq!(
            resolve(&zone, "example.com", RecordType::Txt),
            Answer::Records(vec![Record::Txt(b"v=spf1 -all".to_vec())].into())
        );
        for owner in [
            "_sip._tcp.example.com",
            "host.example.com",
            "_25._tcp.mx.example.com",
        ] {
            assert_eq!(
                resolve(&zone, owner, RecordType::Txt),
                Answer::NoData,
                "{owner}"
            );
        }
        assert_eq!(zone.len(), 4);
    }

    #[test]
    fn generic_data_reads_as_the_usual_form() {
        let plain = r#"$ORIGIN example.com.
a    A     192.0.2.1
a    AAAA  2001:db8::1
a    TXT   "v=spf1" " -all"
a    SPF   "v=spf1 -all"
a    MX    10 mx.example.com.
a    MX    0 .
b    CNAME a
4.3.2.1.in-addr.arpa. PTR a
"#;
        let generic = r"$ORIGIN example.com.
a    TYPE1   \# 4 C0000201
a    AAAA    \# 16 20010db8 00000000 00000000 00000001
a    TXT     \# 13 06763d73706631 05202d616c6c
a    TYPE99  \# 12 0b763d73706631202d616c6c
a    MX      \# 18 000a 026d78076578616d706c6503636f6d00
a    MX      \# 3 000000
b    CNAME   \# 15 016107 6578616d706c6503636f6d00
4.3.2.1.in-addr.arpa. TYPE12 \# 15 016107 6578616d706c6503636f6d00
";
        assert_eq!(
            Zone::from_master_file(generic, None).unwrap(),
            Zone::from_master_file(plain, None).unwrap()
        );
    }

    #[test]
    fn bad_types_classes_and_generic_data_are_errors_with_their_line() {
        for (record, needle) in [
            ("x A \\# 3 C00002", "4 octets"),
            ("x A \\# 4 C00002", "does not match"),
            ("x A \\# 4 C00002GG", "not hexadecimal"),
            ("x A \\# 4 \"C0000201\"", "quoted"),
            ("x A \\# x", "bad length"),
            ("x A \\#", "no length"),
            ("x TXT \\# 2 0561", "past the end"),
            ("x TXT \\# 0", "at least one string"),
            ("x CNAME \\# 2 0161", "root label"),
            ("x CNAME \\# 3 C00C00", "bad label"),
            ("x CNAME \\# 1 00", "root"),
            ("x MX \\# 2 000a", "root label"),
            ("x CNAME \\# 3 012e00", "'.' inside a label"),
            ("x TYPE65534 0A0B", "generic form"),
            ("x CAA", "without data"),
            ("x RRSIG FOO 13 2 300 1 2 3 example. AAAA", "unknown type"),
            ("x DNAME example.net.", "DNAME"),
            ("x TYPE39 \\# 1 00", "DNAME"),
            ("x TYPE255 \\# 0", "unsupported record type"),
            ("x OPT \\# 0", "unsupported record type"),
            ("x TYPE0 \\# 0", "unsupported record type"),
            ("x TYPE70000 \\# 0", "unsupported record type"),
            ("x CLASS3 TXT \"x\"", "class"),
            ("x ANY TXT \"x\"", "class"),
            ("x MX +10 mx", "preference"),
        ] {
            let text = format!("$ORIGIN example.\n{record}\n");
            let e = Zone::from_master_file(&text, None).unwrap_err().to_string();
            assert!(
                e.contains("line 2") && e.contains(needle),
                "{record:?}: {e}"
            );
        }
    }

    #[test]
    fn a_cname_stands_alone_at_its_name() {
        let load = |records: &str| {
            Zone::from_master_file(
                &format!("$ORIGIN example.\n@ SOA ns h 1 2 3 4 5\n@ NS ns\n{records}\n"),
                None,
            )
        };
        for records in [
            "a TXT \"x\"\na CNAME b",
            "a CNAME b\na TXT \"x\"",
            "a CNAME b\na MX 10 mx",
            "a CNAME b\na CAA 0 issue \"ca\"",
            "a CNAME b\na RRSIG TXT 13 2 300 1 2 3 example. AAAA",
            "a TXT \"x\"\na RRSIG CNAME 13 2 300 1 2 3 example. AAAA",
            "*.w CNAME b\n*.w TXT \"x\"",
            "@ CNAME b",
        ] {
            let e = load(records).unwrap_err().to_string();
            assert!(e.contains("CNAME and other data"), "{records:?}: {e}");
        }
        let e = load("a CNAME b\na CNAME c").unwrap_err().to_string();
        assert!(
            e.contains("line 5") && e.contains("more than one CNAME"),
            "{e}"
        );
        // The CNAME's signature and the records of RFC 4035 §2.5 may stand beside it, and a
        // CNAME written twice is one.
        let zone = load(
            "a CNAME b\na RRSIG CNAME 13 2 300 1 2 3 example. AAAA\na NSEC c.example. CNAME RRSIG NSEC\n\
             a NSEC3 1 0 0 - ABCD CNAME\na KEY 256 3 13 AAAA\na CNAME b.example.\nb TXT \"v=spf1 -all\"",
        )
        .unwrap();
        assert_eq!(
            zone.entries(&Name::new("a.example").unwrap()),
            Some(&[Entry::Cname(Name::new("b.example").unwrap())][..])
        );
        assert_eq!(
            resolve(&zone, "a.example", RecordType::Txt),
            Answer::Records(vec![Record::Txt(b"v=spf1 -all".to_vec())].into())
        );
    }

    #[test]
    fn a_record_written_twice_is_served_once() {
        // A server sends an RRset without duplicates (RFC 2181 §5): two copies of one SPF
        // record are one record, not the two records that make SPF's permerror.
        let text = "$ORIGIN example.com.\n@ 300 TXT \"v=spf1 -all\"\n@ 600 TXT \"v=spf1\" \" -all\"\n@ TXT \"other\"\n@ A 192.0.2.1\n@ A 192.0.2.1\n";
        let zone = Zone::from_master_file(text, None).unwrap();
        assert_eq!(
            resolve(&zone, "example.com", RecordType::Txt),
            Answer::Records(
                vec![
                    Record::Txt(b"v=spf1 -all".to_vec()),
                    Record::Txt(b"other".to_vec())
                ]
                .into()
            )
        );
        assert_eq!(
            resolve(&zone, "example.com", RecordType::A).records().len(),
            1
        );
    }

    #[test]
    fn includes_load_with_their_own_origin_and_owner() {
        let main = b"$ORIGIN example.com.\n@ TXT \"top\"\n$INCLUDE a.inc\n  A 192.0.2.1\n$INCLUDE b.inc sub\nafter TXT \"relative to the parent's origin\"\n";
        let zone = Zone::from_master_bytes_with_includes(main, None, |file| match file {
            // Starts with the parent's origin; its $ORIGIN and owner stay inside.
            "a.inc" => Ok(b"inc TXT \"a\"\n$ORIGIN other.example.\nx TXT \"a2\"\n".to_vec()),
            // Starts at the domain named; includes another file in turn.
            "b.inc" => Ok(b"@ TXT \"b\"\n$INCLUDE c.inc deeper\n".to_vec()),
            "c.inc" => Ok(b"@ TXT \"c\"\n".to_vec()),
            other => Err(format!("no file {other}")),
        })
        .unwrap();
        let txt = |name: &str| resolve(&zone, name, RecordType::Txt);
        let one = |text: &[u8]| Answer::Records(vec![Record::Txt(text.to_vec())].into());
        assert_eq!(txt("inc.example.com"), one(b"a"));
        assert_eq!(txt("x.other.example"), one(b"a2"));
        assert_eq!(txt("sub.example.com"), one(b"b"));
        assert_eq!(txt("deeper.sub.example.com"), one(b"c"));
        assert_eq!(
            txt("after.example.com"),
            one(b"relative to the parent's origin")
        );
        // The blank owner after the first $INCLUDE is the parent's last owner.
        assert_eq!(
            resolve(&zone, "example.com", RecordType::A).records(),
            [Record::A(Ipv4Addr::new(192, 0, 2, 1))]
        );
    }

    #[test]
    fn include_errors_say_where() {
        let files = |file: &str| match file {
            "bad.inc" => Ok(b"ok TXT \"x\"\nbad A 1.2.3\n".to_vec()),
            "self.inc" => Ok(b"$INCLUDE self.inc\n".to_vec()),
            "many.inc" => Ok("$INCLUDE empty.inc\n".repeat(300).into_bytes()),
            "empty.inc" => Ok(Vec::new()),
            other => Err(format!("no file {other}")),
        };
        for (main, needle) in [
            (
                "$ORIGIN example.\n$INCLUDE bad.inc\n",
                "line 2 of bad.inc (included at line 2): bad IPv4",
            ),
            (
                "$INCLUDE missing.inc\n",
                "line 1: $INCLUDE missing.inc: no file",
            ),
            ("$INCLUDE self.inc\n", "nested deeper than 8"),
            ("$INCLUDE many.inc\n", "more than 256 included files"),
            ("$INCLUDE\n", "takes a file name"),
            ("$INCLUDE a b c\n", "takes a file name"),
        ] {
            let e = Zone::from_master_bytes_with_includes(main.as_bytes(), None, files)
                .unwrap_err()
                .to_string();
            assert!(e.contains(needle), "{main:?}: {e}");
        }
        // Without a source of files, $INCLUDE is refused.
        let e = Zone::from_master_bytes(b"$INCLUDE a.inc\n", None).unwrap_err();
        assert!(
            e.to_string().contains("unsupported directive $INCLUDE"),
            "{e}"
        );
    }

    #[test]
    fn errors_have_lines() {
        for (text, line, needle) in [
            ("a.example. IN A 1.2.3", 1, "bad IPv4"),
            ("\n\nfoo IN A 1.2.3.4", 3, "without $ORIGIN"),
            ("a. IN TXT \"open", 1, "unterminated"),
            ("a. IN TXT ( \"x\"", 1, "unbalanced"),
            ("a. CH TXT \"x\"", 1, "class"),
            ("a. IN FOO x", 1, "unsupported record type"),
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
