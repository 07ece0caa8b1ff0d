//! The crate's one error type.

use core::fmt;

/// What is wrong with SPF record or macro text (see [`Error::Syntax`]).
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SyntaxProblem {
    /// The text does not start with `v=spf1` followed by a space or the end (RFC 7208 §4.5).
    NotSpf,
    /// A byte outside printable US-ASCII (RFC 7208 §3.1, §4.6.1).
    BadByte(u8),
    /// A mechanism name that RFC 7208 §5 does not define.
    UnknownMechanism,
    /// A mechanism that takes no argument has one (`all:x`, `all/24`).
    UnexpectedArgument,
    /// A mechanism that needs a domain has none (`include`, `exists`, `a:`).
    MissingDomain,
    /// A domain-spec that does not end in a macro or `.` and a valid top label (RFC 7208 §7.1).
    BadDomainEnd,
    /// A `%` not followed by `{`, `%`, `_` or `-` (RFC 7208 §7.1).
    BadPercent,
    /// A macro with an unknown letter, bad transformers or no closing brace.
    BadMacro,
    /// The macro letter (`c`, `r` or `t`) is only allowed in explanation text (RFC 7208 §7.2).
    ExpOnlyMacro(char),
    /// A zero number of parts in a macro transformer (RFC 7208 §7.3: must be nonzero).
    ZeroDigits,
    /// A CIDR length that is malformed, has a leading zero or is out of range.
    BadCidr,
    /// An `ip4:` network that is not a dotted quad.
    BadIp4,
    /// An `ip6:` network that is not an IPv6 address.
    BadIp6,
    /// A modifier name that is not `ALPHA *( ALPHA / DIGIT / "-" / "_" / "." )` (RFC 7208 §4.6.1).
    BadModifierName,
    /// `redirect=` or `exp=` appears twice (RFC 7208 §6), or another modifier name does
    /// (as the reference implementation, pyspf, rejects).
    DuplicateModifier,
}

impl fmt::Display for SyntaxProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotSpf => f.write_str("not an SPF record (no \"v=spf1\")"),
            Self::BadByte(b) => write!(f, "byte {b:#04x} outside printable ASCII"),
            Self::UnknownMechanism => f.write_str("unknown mechanism"),
            Self::UnexpectedArgument => f.write_str("mechanism takes no argument"),
            Self::MissingDomain => f.write_str("missing domain-spec"),
            Self::BadDomainEnd => {
                f.write_str("domain-spec must end in a macro or a valid top label")
            }
            Self::BadPercent => f.write_str("'%' not followed by '{', '%', '_' or '-'"),
            Self::BadMacro => f.write_str("malformed macro"),
            Self::ExpOnlyMacro(c) => {
                write!(f, "macro letter '{c}' is only allowed in explanations")
            }
            Self::ZeroDigits => f.write_str("macro transformer digits must be nonzero"),
            Self::BadCidr => f.write_str("bad CIDR length"),
            Self::BadIp4 => f.write_str("bad IPv4 network"),
            Self::BadIp6 => f.write_str("bad IPv6 network"),
            Self::BadModifierName => f.write_str("bad modifier name"),
            Self::DuplicateModifier => f.write_str("modifier given twice"),
        }
    }
}

/// Everything that can go wrong in this crate.
///
/// SPF verdicts (including permerror for a broken published record) are never errors: they
/// are [`Outcome`](crate::Outcome)s. `Error` is for text parsed directly by the caller and for
/// misuse of the [`Evaluator`](crate::Evaluator).
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// SPF record or macro text is malformed.
    #[error("SPF syntax error at offset {offset}: {problem}")]
    Syntax {
        /// Byte offset in the text where the problem starts.
        offset: usize,
        /// What is wrong.
        problem: SyntaxProblem,
    },
    /// An answer was supplied for a query id that is not outstanding.
    #[error("answer for query id {id}, which is not outstanding")]
    UnexpectedAnswer {
        /// The id given.
        id: u32,
    },
    /// A raw DNS answer packet could not be used (see [`postern_dns::Error`]).
    #[error("DNS answer for query id {id}: {source}")]
    Dns {
        /// The query id the packet was supplied for.
        id: u32,
        /// The DNS error.
        source: postern_dns::Error,
    },
}

impl Error {
    pub(crate) const fn syntax(offset: usize, problem: SyntaxProblem) -> Self {
        Self::Syntax { offset, problem }
    }
}
