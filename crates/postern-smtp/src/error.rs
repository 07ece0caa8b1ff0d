//! The crate's one error type.

use core::fmt;

/// Everything that can go wrong in this crate.
///
/// Reply framing errors carry the 1-based line within the failing reply and the byte offset of
/// the offending octet, counted from the first byte of that reply. Incomplete input is never an
/// error: parsers return [`Status::Partial`](crate::Status::Partial) instead, and only
/// [`Error::Truncated`] says that the stream ended inside a reply.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
pub enum Error {
    /// A reply code digit is out of range (RFC 5321 §4.2: first digit 2-5, second 0-5, third
    /// 0-9), or the line ended before three digits were read.
    #[error("bad reply code: byte {byte:#04x} at offset {offset} (line {line})")]
    BadCode {
        /// The offending byte.
        byte: u8,
        /// Offset of the byte from the start of the reply.
        offset: usize,
        /// 1-based line within the reply.
        line: u32,
    },
    /// The byte after the code is neither `-` nor SP nor the end of the line.
    #[error(
        "bad separator: byte {byte:#04x} after the reply code at offset {offset} (line {line})"
    )]
    BadSeparator {
        /// The offending byte.
        byte: u8,
        /// Offset of the byte from the start of the reply.
        offset: usize,
        /// 1-based line within the reply.
        line: u32,
    },
    /// A line of a multi-line reply carries another code than line 1 (RFC 5321 §4.2.1).
    #[error("reply code mismatch: line {line} differs from code {expected} at offset {offset}")]
    CodeMismatch {
        /// The code of line 1.
        expected: u16,
        /// Offset of the first differing digit from the start of the reply.
        offset: usize,
        /// 1-based line within the reply.
        line: u32,
    },
    /// A LF not preceded by CR, in strict mode (RFC 5321 §2.3.8).
    #[error("bare LF at offset {offset} (line {line}); only CRLF ends a line")]
    BareLf {
        /// Offset of the LF from the start of the reply.
        offset: usize,
        /// 1-based line within the reply.
        line: u32,
    },
    /// A CR not followed by LF.
    #[error("bare CR at offset {offset} (line {line})")]
    BareCr {
        /// Offset of the CR from the start of the reply.
        offset: usize,
        /// 1-based line within the reply.
        line: u32,
    },
    /// A line holds more than [`MAX_LINE_CONTENT`](crate::MAX_LINE_CONTENT) octets before its
    /// terminator (RFC 5321 §4.5.3.1.5).
    #[error("line {line} starting at offset {offset} exceeds {limit} octets before CRLF")]
    LineTooLong {
        /// Offset of the start of the line from the start of the reply.
        offset: usize,
        /// 1-based line within the reply.
        line: u32,
        /// The limit that was exceeded, in content octets.
        limit: usize,
    },
    /// A reply has more than [`MAX_REPLY_LINES`](crate::MAX_REPLY_LINES) lines.
    #[error("reply has more than {limit} lines (line {line} starts at offset {offset})")]
    TooManyLines {
        /// Offset of the first byte of the line over the limit.
        offset: usize,
        /// 1-based number of the line over the limit.
        line: u32,
        /// The limit that was exceeded.
        limit: u32,
    },
    /// The stream ended inside a reply.
    #[error("stream ended inside a reply ({offset} bytes buffered, line {line} incomplete)")]
    Truncated {
        /// Number of bytes of the incomplete reply.
        offset: usize,
        /// 1-based line that was being read when the stream ended.
        line: u32,
    },
    /// A client command line holds more than
    /// [`MAX_COMMAND_LINE`](crate::MAX_COMMAND_LINE) octets before its terminator.
    #[error("command line exceeds {limit} octets before CRLF")]
    CommandTooLong {
        /// The limit that was exceeded.
        limit: usize,
    },
    /// The client sent more than [`MAX_HELD_CLIENT_BYTES`](crate::MAX_HELD_CLIENT_BYTES) octets
    /// while the proxy awaited the reply that decides what they are (after DATA, AUTH or
    /// STARTTLS, which RFC 2920 §3.1 says end a pipelined group).
    #[error(
        "client sent more than {limit} octets while a reply to DATA, AUTH or STARTTLS was awaited"
    )]
    PipelineOverrun {
        /// The limit that was exceeded.
        limit: usize,
    },
    /// More than [`MAX_PENDING_COMMANDS`](crate::MAX_PENDING_COMMANDS) commands await replies.
    #[error("more than {limit} pipelined commands await their replies")]
    TooManyPending {
        /// The limit that was exceeded.
        limit: usize,
    },
    /// An output buffer is too small.
    #[error("output buffer too small: {needed} bytes needed")]
    BufferTooSmall {
        /// Bytes needed to hold the whole output.
        needed: usize,
    },
}

/// The kind of an [`Error`], without its position: stable names for logs, JSON and tests.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// See [`Error::BadCode`].
    BadCode,
    /// See [`Error::BadSeparator`].
    BadSeparator,
    /// See [`Error::CodeMismatch`].
    CodeMismatch,
    /// See [`Error::BareLf`].
    BareLf,
    /// See [`Error::BareCr`].
    BareCr,
    /// See [`Error::LineTooLong`].
    LineTooLong,
    /// See [`Error::TooManyLines`].
    TooManyLines,
    /// See [`Error::Truncated`].
    Truncated,
    /// See [`Error::CommandTooLong`].
    CommandTooLong,
    /// See [`Error::PipelineOverrun`].
    PipelineOverrun,
    /// See [`Error::TooManyPending`].
    TooManyPending,
    /// See [`Error::BufferTooSmall`].
    BufferTooSmall,
}

impl ErrorKind {
    /// The snake-case name used in the fixture manifests and the CLI's JSON (`bare_lf`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::BadCode => "bad_code",
            Self::BadSeparator => "bad_separator",
            Self::CodeMismatch => "code_mismatch",
            Self::BareLf => "bare_lf",
            Self::BareCr => "bare_cr",
            Self::LineTooLong => "line_too_long",
            Self::TooManyLines => "too_many_lines",
            Self::Truncated => "truncated",
            Self::CommandTooLong => "command_too_long",
            Self::PipelineOverrun => "pipeline_overrun",
            Self::TooManyPending => "too_many_pending",
            Self::BufferTooSmall => "buffer_too_small",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Error {
    /// The kind of the error, without its position.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::BadCode { .. } => ErrorKind::BadCode,
            Self::BadSeparator { .. } => ErrorKind::BadSeparator,
            Self::CodeMismatch { .. } => ErrorKind::CodeMismatch,
            Self::BareLf { .. } => ErrorKind::BareLf,
            Self::BareCr { .. } => ErrorKind::BareCr,
            Self::LineTooLong { .. } => ErrorKind::LineTooLong,
            Self::TooManyLines { .. } => ErrorKind::TooManyLines,
            Self::Truncated { .. } => ErrorKind::Truncated,
            Self::CommandTooLong { .. } => ErrorKind::CommandTooLong,
            Self::PipelineOverrun { .. } => ErrorKind::PipelineOverrun,
            Self::TooManyPending { .. } => ErrorKind::TooManyPending,
            Self::BufferTooSmall { .. } => ErrorKind::BufferTooSmall,
        }
    }

    /// The 1-based line within the failing reply, for reply framing errors.
    pub fn line(&self) -> Option<u32> {
        match *self {
            Self::BadCode { line, .. }
            | Self::BadSeparator { line, .. }
            | Self::CodeMismatch { line, .. }
            | Self::BareLf { line, .. }
            | Self::BareCr { line, .. }
            | Self::LineTooLong { line, .. }
            | Self::TooManyLines { line, .. }
            | Self::Truncated { line, .. } => Some(line),
            Self::CommandTooLong { .. }
            | Self::PipelineOverrun { .. }
            | Self::TooManyPending { .. }
            | Self::BufferTooSmall { .. } => None,
        }
    }

    /// The byte offset from the start of the failing reply, for reply framing errors.
    pub fn offset(&self) -> Option<usize> {
        match *self {
            Self::BadCode { offset, .. }
            | Self::BadSeparator { offset, .. }
            | Self::CodeMismatch { offset, .. }
            | Self::BareLf { offset, .. }
            | Self::BareCr { offset, .. }
            | Self::LineTooLong { offset, .. }
            | Self::TooManyLines { offset, .. }
            | Self::Truncated { offset, .. } => Some(offset),
            Self::CommandTooLong { .. }
            | Self::PipelineOverrun { .. }
            | Self::TooManyPending { .. }
            | Self::BufferTooSmall { .. } => None,
        }
    }
}
