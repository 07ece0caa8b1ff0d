//! Offline zones for tests, examples and the CLI: a map from names to entries, answering
//! [`Query`]s the way a recursive resolver would.
//!
//! Three loaders fill a [`Zone`]: the JSON zone format ([`Zone::from_json`]), the `OpenSPF`
//! suites' YAML `zonedata` once parsed into a JSON value ([`Zone::from_openspf_zonedata`]), and
//! RFC 1035 master files ([`Zone::from_master_file`]).

use std::collections::HashMap;
use std::net::{Ipv4Addr, Ipv6Addr};

use serde_json::Value;

use crate::error::Error;
use crate::name::Name;
use crate::query::{Answer, Query, Record, RecordType};

/// Most CNAME hops a zone follows before answering NODATA, as the JSON zone format and the
/// `OpenSPF` oracle specify.
pub const MAX_ZONE_CNAME_HOPS: usize = 10;

/// One entry of a [`Zone`] at some owner name.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Entry {
    /// A record served for queries of its type.
    Record(Record),
    /// An SPF (type 99) record: kept, but never served to the TXT queries RFC 7208 makes.
    Spf(Vec<u8>),
    /// An alias: queries for types without a record here are answered from the target.
    Cname(Name),
    /// A temporary failure (TIMEOUT or SERVFAIL): for `qtype` even if records of it exist,
    /// or with `None` for every type that has no record here.
    TempFail {
        /// The one type that fails, or `None`.
        qtype: Option<RecordType>,
    },
}

/// An in-memory zone: owner names (case-insensitive) to entries.
///
/// A name that is not in the zone is NXDOMAIN; a name present without the asked type is
/// NODATA. With wildcards on ([`Zone::with_wildcards`], as [`Zone::from_master_file`] loads
/// them), a zone answers as an authoritative server does (RFC 1034 §4.3.3, RFC 4592): a name
/// that is not in the zone is answered from `*.<closest encloser>` when that exists, and a
/// name with descendants but no records of its own (an empty non-terminal) is NODATA. The
/// JSON formats keep names literal: a `*` label there is an ordinary label.
///
/// ```
/// use postern_dns::{Answer, Name, Query, Record, RecordType, Zone};
/// let zone = Zone::from_json(r#"{"Example.com.": [{"type": "TXT", "value": ["v=spf1 ", "-all"]}]}"#)?;
/// let query = Query::new(1, Name::new("example.com")?, RecordType::Txt);
/// assert_eq!(zone.resolve(&query), Answer::Records(vec![Record::Txt(b"v=spf1 -all".to_vec())].into()));
/// let query = Query::new(2, Name::new("example.com")?, RecordType::A);
/// assert_eq!(zone.resolve(&query), Answer::NoData);
/// # Ok::<(), postern_dns::Error>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Zone {
    names: HashMap<Name, Vec<Entry>>,
    wildcards: bool,
}

fn zone_err(location: impl Into<String>, problem: impl Into<String>) -> Error {
    Error::Zone {
        location: location.into(),
        problem: problem.into(),
    }
}

impl Zone {
    /// An empty zone.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds an entry at `owner` (after any entries already there). Adding no entry still makes
    /// the name exist (NODATA instead of NXDOMAIN).
    pub fn insert(&mut self, owner: Name, entry: Entry) {
        self.names.entry(owner).or_default().push(entry);
    }

    /// Makes `owner` exist without records.
    pub fn touch(&mut self, owner: Name) {
        self.names.entry(owner).or_default();
    }

    /// The entries at `owner`, if the name exists (literally: no wildcard is applied).
    pub fn entries(&self, owner: &Name) -> Option<&[Entry]> {
        self.names.get(owner).map(Vec::as_slice)
    }

    /// Turns wildcard answers (RFC 4592) on or off; see [`Zone`]. Master files load with them
    /// on, the JSON formats with them off.
    ///
    /// ```
    /// use postern_dns::{Answer, Name, Record, RecordType, Zone};
    /// let zone = Zone::from_master_file("*.example.com. TXT \"v=spf1 -all\"\n", None)?;
    /// let any = Name::new("host.example.com")?;
    /// assert_eq!(zone.resolve_name(&any, RecordType::Txt).records(), [Record::Txt(b"v=spf1 -all".to_vec())]);
    /// let literal = zone.with_wildcards(false);
    /// assert_eq!(literal.resolve_name(&any, RecordType::Txt), Answer::NxDomain);
    /// # Ok::<(), postern_dns::Error>(())
    /// ```
    #[must_use]
    pub fn with_wildcards(mut self, on: bool) -> Self {
        self.wildcards = on;
        self
    }

    /// Whether wildcard answers are on.
    pub fn wildcards(&self) -> bool {
        self.wildcards
    }

    /// The entries that answer for `name`: its own; with wildcards on, for a name not in the
    /// zone, those of `*.<closest encloser>` (RFC 4592 §3.3.1), or none for an empty
    /// non-terminal (NODATA). `None` for NXDOMAIN.
    fn answering(&self, name: &Name) -> Option<&[Entry]> {
        if let Some(entries) = self.names.get(name) {
            return Some(entries);
        }
        if !self.wildcards {
            return None;
        }
        // A name exists when it, or a name below it, is an owner.
        let exists = |candidate: &str| {
            self.names.keys().any(|owner| {
                owner
                    .as_str()
                    .strip_suffix(candidate)
                    .is_some_and(|head| head.is_empty() || head.ends_with('.'))
            })
        };
        if exists(name.as_str()) {
            return Some(&[]); // an empty non-terminal
        }
        let mut ancestor = name.as_str();
        while let Some((_, parent)) = ancestor.split_once('.') {
            if exists(parent) {
                let wildcard = Name::new(&format!("*.{parent}")).ok()?;
                return self.names.get(&wildcard).map(Vec::as_slice);
            }
            ancestor = parent;
        }
        None
    }

    /// Number of owner names.
    pub fn len(&self) -> usize {
        self.names.len()
    }

    /// Whether the zone has no names.
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// The owner names, in no particular order.
    pub(crate) fn owners(&self) -> impl Iterator<Item = &Name> {
        self.names.keys()
    }

    /// Answers `query` as a recursive resolver would: records of the type at the name, else
    /// the CNAME target's answer (at most [`MAX_ZONE_CNAME_HOPS`] hops), else NODATA; a
    /// `TempFail` entry for the type, or a general one where no record of the type exists,
    /// gives [`Answer::TempFail`].
    pub fn resolve(&self, query: &Query) -> Answer {
        self.resolve_name(query.name(), query.rtype())
    }

    /// [`Zone::resolve`] by name and type.
    pub fn resolve_name(&self, name: &Name, rtype: RecordType) -> Answer {
        let mut owner = name;
        for _ in 0..=MAX_ZONE_CNAME_HOPS {
            let Some(entries) = self.answering(owner) else {
                return Answer::NxDomain;
            };
            if entries
                .iter()
                .any(|e| matches!(e, Entry::TempFail { qtype: Some(t) } if *t == rtype))
            {
                return Answer::TempFail;
            }
            let records: Vec<Record> = entries
                .iter()
                .filter_map(|e| match e {
                    Entry::Record(r) if r.rtype() == rtype => Some(r.clone()),
                    _ => None,
                })
                .collect();
            if !records.is_empty() {
                return Answer::Records(records.into());
            }
            if let Some(target) = entries.iter().find_map(|e| match e {
                Entry::Cname(target) => Some(target),
                _ => None,
            }) {
                owner = target;
                continue;
            }
            if entries
                .iter()
                .any(|e| matches!(e, Entry::TempFail { qtype: None }))
            {
                return Answer::TempFail;
            }
            return Answer::NoData;
        }
        Answer::NoData
    }

    /// Loads the JSON zone format (`zone-format.md`): an object mapping names to lists of
    /// `{"type": T, "value": V}` entries with types TXT, SPF, A, AAAA, MX, PTR, CNAME, and
    /// TIMEOUT / SERVFAIL markers with an optional `qtype`.
    ///
    /// # Errors
    /// [`Error::Zone`] naming the line (for JSON syntax) or the owner and entry index.
    pub fn from_json(text: &str) -> Result<Self, Error> {
        let value: Value = serde_json::from_str(text).map_err(|e| {
            zone_err(
                format!("line {} column {}", e.line(), e.column()),
                e.to_string(),
            )
        })?;
        Self::from_json_value(&value)
    }

    /// [`Zone::from_json`] from an already parsed JSON value.
    ///
    /// # Errors
    /// [`Error::Zone`] naming the owner and entry index.
    pub fn from_json_value(value: &Value) -> Result<Self, Error> {
        let Value::Object(map) = value else {
            return Err(zone_err("top level", "a zone must be a JSON object"));
        };
        let mut zone = Self::new();
        for (owner_text, entries) in map {
            let owner = Name::new(owner_text)
                .map_err(|e| zone_err(format!("owner {owner_text:?}"), e.to_string()))?;
            zone.touch(owner.clone());
            let Value::Array(entries) = entries else {
                return Err(zone_err(
                    format!("owner {owner_text:?}"),
                    "entries must be a list",
                ));
            };
            for (index, entry) in entries.iter().enumerate() {
                let at = || format!("owner {owner_text:?} entry {index}");
                let (kind, value, qtype) = match entry {
                    Value::String(kind) => (kind.as_str(), None, None),
                    Value::Object(fields) => {
                        let kind = fields
                            .get("type")
                            .and_then(Value::as_str)
                            .ok_or_else(|| zone_err(at(), "missing \"type\""))?;
                        let qtype = fields
                            .get("qtype")
                            .map(|q| {
                                q.as_str()
                                    .ok_or_else(|| zone_err(at(), "\"qtype\" must be a string"))
                            })
                            .transpose()?;
                        (kind, fields.get("value"), qtype)
                    }
                    _ => return Err(zone_err(at(), "an entry must be an object")),
                };
                zone.insert(
                    owner.clone(),
                    parse_entry(kind, value, qtype).map_err(|p| zone_err(at(), p))?,
                );
            }
        }
        Ok(zone)
    }

    /// Loads the `zonedata` of an `OpenSPF` test-suite scenario (parsed from YAML into a JSON
    /// value), applying the suite conventions: an `SPF` entry is also served as `TXT` unless
    /// the name has a `TXT` entry; `TXT: NONE` means no TXT record; a bare `TIMEOUT` makes
    /// queries for types without records at that name time out.
    ///
    /// # Errors
    /// [`Error::Zone`] naming the owner and entry index.
    pub fn from_openspf_zonedata(value: &Value) -> Result<Self, Error> {
        let Value::Object(map) = value else {
            return Err(zone_err("zonedata", "zonedata must be a mapping"));
        };
        let mut zone = Self::new();
        for (owner_text, entries) in map {
            let owner = Name::new(owner_text)
                .map_err(|e| zone_err(format!("owner {owner_text:?}"), e.to_string()))?;
            zone.touch(owner.clone());
            let entries = match entries {
                Value::Array(entries) => entries.as_slice(),
                Value::Null => &[],
                _ => {
                    return Err(zone_err(
                        format!("owner {owner_text:?}"),
                        "entries must be a list",
                    ));
                }
            };
            let mut spf_values = Vec::new();
            let mut has_txt = false;
            for (index, entry) in entries.iter().enumerate() {
                let at = || format!("owner {owner_text:?} entry {index}");
                match entry {
                    Value::String(kind) => {
                        zone.insert(
                            owner.clone(),
                            parse_entry(kind, None, None).map_err(|p| zone_err(at(), p))?,
                        );
                    }
                    Value::Object(fields) => {
                        for (kind, value) in fields {
                            let kind_upper = kind.to_ascii_uppercase();
                            if kind_upper == "TXT" {
                                has_txt = true;
                            }
                            if value.as_str() == Some("NONE") {
                                continue;
                            }
                            if kind_upper == "SPF" {
                                spf_values.push(value);
                            }
                            zone.insert(
                                owner.clone(),
                                parse_entry(&kind_upper, Some(value), None)
                                    .map_err(|p| zone_err(at(), p))?,
                            );
                        }
                    }
                    _ => return Err(zone_err(at(), "an entry must be a TYPE: value mapping")),
                }
            }
            if !has_txt {
                for value in spf_values {
                    let text = txt_value(Some(value))
                        .map_err(|p| zone_err(format!("owner {owner_text:?}"), p))?;
                    zone.insert(owner.clone(), Entry::Record(Record::Txt(text)));
                }
            }
        }
        Ok(zone)
    }
}

/// A TXT/SPF value: a string or a list of strings joined without separator.
fn txt_value(value: Option<&Value>) -> Result<Vec<u8>, String> {
    match value {
        Some(Value::String(s)) => Ok(s.as_bytes().to_vec()),
        Some(Value::Array(parts)) => {
            let mut out = Vec::new();
            for part in parts {
                match part {
                    Value::String(s) => out.extend_from_slice(s.as_bytes()),
                    other => return Err(format!("TXT part must be a string, got {other}")),
                }
            }
            Ok(out)
        }
        Some(Value::Number(n)) => Ok(n.to_string().into_bytes()),
        _ => Err("TXT/SPF value must be a string or a list of strings".into()),
    }
}

fn str_value<'v>(value: Option<&'v Value>, kind: &str) -> Result<&'v str, String> {
    value
        .and_then(Value::as_str)
        .ok_or_else(|| format!("{kind} value must be a string"))
}

fn name_value(value: Option<&Value>, kind: &str) -> Result<Name, String> {
    let text = str_value(value, kind)?;
    Name::new(text).map_err(|e| format!("{kind} target {text:?}: {e}"))
}

fn parse_entry(kind: &str, value: Option<&Value>, qtype: Option<&str>) -> Result<Entry, String> {
    let kind = kind.to_ascii_uppercase();
    Ok(match kind.as_str() {
        "TXT" => Entry::Record(Record::Txt(txt_value(value)?)),
        "SPF" => Entry::Spf(txt_value(value)?),
        "A" => {
            let text = str_value(value, "A")?;
            Entry::Record(Record::A(
                text.parse::<Ipv4Addr>()
                    .map_err(|_| format!("bad IPv4 address {text:?}"))?,
            ))
        }
        "AAAA" => {
            let text = str_value(value, "AAAA")?;
            Entry::Record(Record::Aaaa(
                text.parse::<Ipv6Addr>()
                    .map_err(|_| format!("bad IPv6 address {text:?}"))?,
            ))
        }
        "MX" => {
            let Some(Value::Array(pair)) = value else {
                return Err("MX value must be [preference, host]".into());
            };
            let (Some(pref), Some(host), 2) = (pair.first(), pair.get(1), pair.len()) else {
                return Err("MX value must be [preference, host]".into());
            };
            let preference = pref
                .as_u64()
                .and_then(|p| u16::try_from(p).ok())
                .ok_or_else(|| format!("bad MX preference {pref}"))?;
            // An empty or "." exchange is a null MX (RFC 7505).
            let exchange = match host.as_str() {
                Some("" | ".") => None,
                _ => Some(name_value(Some(host), "MX")?),
            };
            Entry::Record(Record::Mx {
                preference,
                exchange,
            })
        }
        "PTR" => Entry::Record(Record::Ptr(name_value(value, "PTR")?)),
        "CNAME" => Entry::Cname(name_value(value, "CNAME")?),
        "TIMEOUT" | "SERVFAIL" => Entry::TempFail {
            qtype: qtype
                .map(|q| RecordType::from_mnemonic(q).ok_or_else(|| format!("unknown qtype {q:?}")))
                .transpose()?,
        },
        other => return Err(format!("unknown record type {other:?}")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(name: &str, t: RecordType) -> Query {
        Query::new(0, Name::new(name).unwrap(), t)
    }

    const EXAMPLE: &str = r#"{
      "example.com":      [{"type": "TXT", "value": "v=spf1 mx a:mail.example.com -all exp=why.example.com"},
                           {"type": "MX",  "value": [10, "mx.example.com"]}],
      "mx.example.com":   [{"type": "A", "value": "192.0.2.10"}, {"type": "AAAA", "value": "2001:db8::10"}],
      "mail.example.com": [{"type": "CNAME", "value": "mx.example.com"}],
      "long.example.com": [{"type": "TXT", "value": ["v=spf1 ip4:198.51.100.0/24", " -all"]}],
      "slow.example.com": [{"type": "A", "value": "192.0.2.1"}, {"type": "TIMEOUT"}],
      "bad.example.com":  [{"type": "SERVFAIL", "qtype": "TXT"}, {"type": "TXT", "value": "x"}]
    }"#;

    #[test]
    fn json_zone_answers() {
        let zone = Zone::from_json(EXAMPLE).unwrap();
        assert_eq!(
            zone.resolve(&q("MAIL.example.com.", RecordType::A)),
            Answer::Records(vec![Record::A(Ipv4Addr::new(192, 0, 2, 10))].into())
        );
        assert_eq!(
            zone.resolve(&q("long.example.com", RecordType::Txt)),
            Answer::Records(vec![Record::Txt(b"v=spf1 ip4:198.51.100.0/24 -all".to_vec())].into())
        );
        assert_eq!(
            zone.resolve(&q("nowhere.example.com", RecordType::A)),
            Answer::NxDomain
        );
        assert_eq!(
            zone.resolve(&q("mx.example.com", RecordType::Txt)),
            Answer::NoData
        );
        assert_eq!(
            zone.resolve(&q("slow.example.com", RecordType::Txt)),
            Answer::TempFail
        );
        assert!(matches!(
            zone.resolve(&q("slow.example.com", RecordType::A)),
            Answer::Records(_)
        ));
        assert_eq!(
            zone.resolve(&q("bad.example.com", RecordType::Txt)),
            Answer::TempFail
        );
        assert_eq!(
            zone.resolve(&q("bad.example.com", RecordType::A)),
            Answer::NoData
        );
    }

    #[test]
    fn json_errors_say_where() {
        let err =
            Zone::from_json(r#"{"a.example": [{"type": "A", "value": "1.2.3"}]}"#).unwrap_err();
        assert_eq!(
            err.to_string(),
            "bad zone at owner \"a.example\" entry 0: bad IPv4 address \"1.2.3\""
        );
        let err = Zone::from_json("{\n\"a\": [}").unwrap_err();
        assert!(err.to_string().starts_with("bad zone at line 2"), "{err}");
        assert!(Zone::from_json(r#"{"a..b": []}"#).is_err());
        assert!(Zone::from_json(r#"{"a": [{"type": "MX", "value": [70000, "b"]}]}"#).is_err());
        assert!(Zone::from_json(r#"{"a": [{"type": "NAPTR", "value": "x"}]}"#).is_err());
    }

    #[test]
    fn openspf_conventions() {
        let zonedata: Value = serde_json::json!({
            "e1.example.com": [{"SPF": "v=spf1 -all"}],
            "e2.example.com": [{"SPF": "v=spf1 +all"}, {"TXT": "NONE"}],
            "e3.example.com": [{"SPF": "v=spf1 ?all"}, {"TXT": "v=spf1 ~all"}],
            "e4.example.com": ["TIMEOUT", {"A": "1.2.3.4"}],
            "mx.example.com": [{"MX": [0, "Foo.Example.com"]}],
        });
        let zone = Zone::from_openspf_zonedata(&zonedata).unwrap();
        let txt = |s: &str| Answer::Records(vec![Record::Txt(s.as_bytes().to_vec())].into());
        assert_eq!(
            zone.resolve(&q("e1.example.com", RecordType::Txt)),
            txt("v=spf1 -all")
        );
        assert_eq!(
            zone.resolve(&q("e2.example.com", RecordType::Txt)),
            Answer::NoData
        );
        assert_eq!(
            zone.resolve(&q("e3.example.com", RecordType::Txt)),
            txt("v=spf1 ~all")
        );
        assert_eq!(
            zone.resolve(&q("e4.example.com", RecordType::Txt)),
            Answer::TempFail
        );
        assert!(matches!(
            zone.resolve(&q("e4.example.com", RecordType::A)),
            Answer::Records(_)
        ));
        assert_eq!(
            zone.resolve(&q("mx.example.com", RecordType::Mx)),
            Answer::Records(
                vec![Record::Mx {
                    preference: 0,
                    exchange: Some(Name::new("foo.example.com").unwrap())
                }]
                .into()
            )
        );
    }

    fn answer(zone: &Zone, name: &str, rtype: RecordType) -> Answer {
        zone.resolve_name(&Name::new(name).unwrap(), rtype)
    }

    fn txt(text: &str) -> Answer {
        Answer::Records(vec![Record::Txt(text.as_bytes().to_vec())].into())
    }

    #[test]
    fn master_file_wildcards_answer_names_that_do_not_exist() {
        let zone = Zone::from_master_file(
            "$ORIGIN example.com.\n\
             *          TXT   \"v=spf1 -all\"\n\
             mail       A     192.0.2.1\n\
             x.sub      TXT   \"x\"\n\
             *.alias    CNAME mail\n",
            None,
        )
        .unwrap();
        assert!(zone.wildcards());
        // One label or several below the closest encloser.
        assert_eq!(
            answer(&zone, "host.example.com", RecordType::Txt),
            txt("v=spf1 -all")
        );
        assert_eq!(
            answer(&zone, "a.b.example.com", RecordType::Txt),
            txt("v=spf1 -all")
        );
        assert_eq!(
            answer(&zone, "host.example.com", RecordType::A),
            Answer::NoData
        );
        // A name that exists is not answered from the wildcard.
        assert_eq!(
            answer(&zone, "mail.example.com", RecordType::Txt),
            Answer::NoData
        );
        // The wildcard's parent and other empty non-terminals exist without records, and
        // an empty non-terminal is the closest encloser: no `*.sub` here, so NXDOMAIN.
        assert_eq!(
            answer(&zone, "example.com", RecordType::Txt),
            Answer::NoData
        );
        assert_eq!(
            answer(&zone, "sub.example.com", RecordType::Txt),
            Answer::NoData
        );
        assert_eq!(
            answer(&zone, "y.sub.example.com", RecordType::Txt),
            Answer::NxDomain
        );
        // A wildcard CNAME is followed.
        assert_eq!(
            answer(&zone, "q.alias.example.com", RecordType::A),
            Answer::Records(vec![Record::A(Ipv4Addr::new(192, 0, 2, 1))].into())
        );
        // A name outside the zone's names; an ancestor of them exists.
        assert_eq!(
            answer(&zone, "example.net", RecordType::Txt),
            Answer::NxDomain
        );
        assert_eq!(answer(&zone, "com", RecordType::Txt), Answer::NoData);
        // With wildcards off, names are literal.
        let literal = zone.with_wildcards(false);
        assert_eq!(
            answer(&literal, "host.example.com", RecordType::Txt),
            Answer::NxDomain
        );
        assert_eq!(
            answer(&literal, "*.example.com", RecordType::Txt),
            txt("v=spf1 -all")
        );
        assert_eq!(
            answer(&literal, "sub.example.com", RecordType::Txt),
            Answer::NxDomain
        );
    }

    #[test]
    fn json_zones_keep_a_star_label_literal() {
        let zone =
            Zone::from_json(r#"{"*.example.com": [{"type": "TXT", "value": "v=spf1 -all"}]}"#)
                .unwrap();
        assert!(!zone.wildcards());
        assert_eq!(
            answer(&zone, "host.example.com", RecordType::Txt),
            Answer::NxDomain
        );
        assert_eq!(
            answer(&zone, "*.example.com", RecordType::Txt),
            txt("v=spf1 -all")
        );
    }

    #[test]
    fn cname_loops_end() {
        let zone = Zone::from_json(
            r#"{"a": [{"type": "CNAME", "value": "b"}], "b": [{"type": "CNAME", "value": "a"}]}"#,
        )
        .unwrap();
        assert_eq!(zone.resolve(&q("a", RecordType::A)), Answer::NoData);
    }
}
