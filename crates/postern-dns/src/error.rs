//! The crate's one error type.

/// What is wrong with a DNS name (see [`Error::BadName`]).
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NameProblem {
    /// The name is empty (the root is not a usable owner name here).
    Empty,
    /// Two dots in a row, or a leading dot: a label of length zero (RFC 1035 §2.3.1).
    EmptyLabel,
    /// A label longer than 63 octets (RFC 1035 §2.3.4).
    LabelTooLong,
    /// The name is longer than 253 octets in text form, 255 on the wire (RFC 1035 §2.3.4).
    TooLong,
}

impl core::fmt::Display for NameProblem {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Self::Empty => "empty name",
            Self::EmptyLabel => "empty label",
            Self::LabelTooLong => "label longer than 63 octets",
            Self::TooLong => "name longer than 253 octets",
        })
    }
}

/// Everything that can go wrong in this crate.
///
/// Each variant names what is wrong and where: the byte offset in a name, the line of a zone
/// file, the section of a packet.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// A DNS name failed validation.
    #[error("bad DNS name: {problem} at offset {offset}")]
    BadName {
        /// What is wrong.
        problem: NameProblem,
        /// Byte offset in the name text where the problem was found.
        offset: usize,
    },
    /// The packet could not be decoded as a DNS message.
    #[error("malformed DNS packet of {len} octets: {detail}")]
    MalformedPacket {
        /// Length of the packet.
        len: usize,
        /// The decoder's description of the problem.
        detail: String,
    },
    /// The packet is a query, not a response (QR bit clear).
    #[error("DNS packet is not a response (QR bit clear)")]
    NotAResponse,
    /// The packet has the TC bit set: the answer was cut short and must be retried over TCP
    /// (RFC 1035 §4.1.1, RFC 7766).
    #[error("DNS response is truncated (TC bit set); retry over TCP")]
    Truncated,
    /// The question section does not hold exactly the question that was asked.
    #[error("DNS response question does not match the query: {found}")]
    QuestionMismatch {
        /// The question found in the packet (`name/TYPE`), or `none`.
        found: String,
    },
    /// A query could not be encoded as a DNS packet.
    #[error("cannot encode query for {name}: {detail}")]
    Encode {
        /// The name being encoded.
        name: String,
        /// The encoder's description of the problem.
        detail: String,
    },
    /// A zone (JSON, `OpenSPF` zonedata or master file) is malformed.
    #[error("bad zone at {location}: {problem}")]
    Zone {
        /// Where: `line N` for master files and JSON text, or the owner name and entry index.
        location: String,
        /// What is wrong.
        problem: String,
    },
}
