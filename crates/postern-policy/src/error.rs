//! The crate's one error type.

/// Everything that can go wrong in this crate: a configuration value out of range, a state
/// record that does not decode, or an MTA-STS record or policy that does not parse.
///
/// Policy verdicts (a refused connection, a greylisting deferral, a suppressed DSN) are never
/// errors; they are the `Ok` values of the decisions.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
pub enum Error {
    /// A configuration value is out of its documented range.
    #[error("invalid configuration: {field} {reason}")]
    Config {
        /// The configuration field, for example `count` or `ipv6_prefix`.
        field: &'static str,
        /// What is wrong with it, for example `must be at least 1`.
        reason: &'static str,
    },
    /// A state record is malformed.
    #[error("bad state record: {what} at offset {offset}")]
    State {
        /// What was expected there.
        what: &'static str,
        /// Byte offset in the record.
        offset: usize,
    },
    /// A state record carries another version or kind than the one this crate writes.
    #[error("state record version {found}, kind {kind}: expected version {expected}")]
    StateVersion {
        /// Version byte found at offset 0.
        found: u8,
        /// Kind byte found at offset 1 (0 when the record is shorter).
        kind: u8,
        /// The version this crate writes and reads.
        expected: u8,
    },
    /// An MTA-STS TXT record (RFC 8461 §3.1) does not parse.
    #[error("bad MTA-STS record: {what} at offset {offset}")]
    MtaStsRecord {
        /// What was expected there.
        what: &'static str,
        /// Byte offset in the record.
        offset: usize,
    },
    /// An MTA-STS policy file (RFC 8461 §3.2) does not parse.
    #[error("bad MTA-STS policy: {what} on line {line}")]
    MtaStsPolicy {
        /// What is wrong.
        what: &'static str,
        /// 1-based line number (0 for the policy as a whole).
        line: usize,
    },
}
