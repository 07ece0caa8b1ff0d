//! DNS questions ([`Query`]) and what came back ([`Answer`]).

use core::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use crate::name::Name;

/// The record types mail authentication asks for.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RecordType {
    /// Text strings (type 16, RFC 1035 §3.3.14): SPF and DKIM records.
    Txt,
    /// IPv4 address (type 1).
    A,
    /// IPv6 address (type 28, RFC 3596).
    Aaaa,
    /// Mail exchanger (type 15).
    Mx,
    /// Domain name pointer (type 12), for reverse lookups.
    Ptr,
}

impl RecordType {
    /// Every type, in the order of the enum.
    pub(crate) const ALL: [Self; 5] = [Self::Txt, Self::A, Self::Aaaa, Self::Mx, Self::Ptr];

    /// The mnemonic, as in master files (`TXT`, `A`, `AAAA`, `MX`, `PTR`).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Txt => "TXT",
            Self::A => "A",
            Self::Aaaa => "AAAA",
            Self::Mx => "MX",
            Self::Ptr => "PTR",
        }
    }

    /// The RR type code (RFC 1035 §3.2.2, RFC 3596).
    pub const fn code(self) -> u16 {
        match self {
            Self::Txt => 16,
            Self::A => 1,
            Self::Aaaa => 28,
            Self::Mx => 15,
            Self::Ptr => 12,
        }
    }

    /// Parses a mnemonic, case-insensitively.
    pub fn from_mnemonic(text: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|t| t.as_str().eq_ignore_ascii_case(text))
    }
}

impl fmt::Display for RecordType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One DNS question handed to the caller: an id chosen by the asker (to match the answer),
/// a validated name and a record type. The class is always IN.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Query {
    id: u32,
    name: Name,
    rtype: RecordType,
}

impl Query {
    /// A question with the given id.
    pub fn new(id: u32, name: Name, rtype: RecordType) -> Self {
        Self { id, name, rtype }
    }

    /// The id that the answer must be supplied with.
    pub fn id(&self) -> u32 {
        self.id
    }

    /// The name asked about.
    pub fn name(&self) -> &Name {
        &self.name
    }

    /// The record type asked for.
    pub fn rtype(&self) -> RecordType {
        self.rtype
    }

    /// The id, name and type, taking the name without a copy.
    pub fn into_parts(self) -> (u32, Name, RecordType) {
        (self.id, self.name, self.rtype)
    }
}

impl fmt::Display for Query {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} IN {}", self.name, self.rtype)
    }
}

/// One resource record of an answer, reduced to what mail authentication uses.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Record {
    /// A TXT record: its character-strings joined with no separator (RFC 7208 §3.3,
    /// RFC 6376 §3.6.2.2). Bytes, since TXT data need not be UTF-8.
    Txt(Vec<u8>),
    /// An IPv4 address.
    A(Ipv4Addr),
    /// An IPv6 address.
    Aaaa(Ipv6Addr),
    /// A mail exchanger with its preference.
    Mx {
        /// Lower is preferred.
        preference: u16,
        /// The exchange host; `None` for a null MX (`.`, RFC 7505: the domain accepts no
        /// mail).
        exchange: Option<Name>,
    },
    /// The target of a PTR record.
    Ptr(Name),
}

impl Record {
    /// The type of this record.
    pub fn rtype(&self) -> RecordType {
        match self {
            Self::Txt(_) => RecordType::Txt,
            Self::A(_) => RecordType::A,
            Self::Aaaa(_) => RecordType::Aaaa,
            Self::Mx { .. } => RecordType::Mx,
            Self::Ptr(_) => RecordType::Ptr,
        }
    }
}

/// What a DNS question produced.
///
/// `NxDomain` and `NoData` are both "void" answers for SPF (RFC 7208 §4.6.4); `TempFail` covers
/// timeouts, SERVFAIL and other errors a caller may retry later.
///
/// The records are shared: cloning an answer (as a DNS cache does for every question it
/// answers) copies no record and allocates nothing.
///
/// ```
/// use postern_dns::{Answer, Record};
/// let answer = Answer::Records(vec![Record::Txt(b"v=spf1 -all".to_vec())].into());
/// let copy = answer.clone();
/// assert_eq!(copy.records().as_ptr(), answer.records().as_ptr());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Answer {
    /// Records of the asked type (never empty when built by this crate), after following any
    /// CNAME chain. Build it from a `Vec` with `.into()`.
    Records(Arc<[Record]>),
    /// The name does not exist (RCODE 3, NXDOMAIN).
    NxDomain,
    /// The name exists but has no record of the asked type (RCODE 0 with no answer).
    NoData,
    /// The lookup failed for now: timeout, SERVFAIL, REFUSED or another error RCODE.
    TempFail,
}

impl Answer {
    /// `NxDomain` or `NoData`: the answer says there is nothing.
    pub fn is_void(&self) -> bool {
        matches!(self, Self::NxDomain | Self::NoData)
            || matches!(self, Self::Records(r) if r.is_empty())
    }

    /// The records, or an empty slice for every other answer.
    pub fn records(&self) -> &[Record] {
        match self {
            Self::Records(records) => records,
            _ => &[],
        }
    }
}
