//! SMTP replies for proxies and mail servers: an incremental reply codec, a lossless EHLO
//! capability model, a capability filter that rewrites EHLO replies, and a command-side guard.
//!
//! - [`ReplyParser`] parses server replies (RFC 5321 §4.2) from a byte stream fed in chunks of
//!   any size: multi-line and pipelined replies, a CRLF split across reads, strict or lenient
//!   line endings, RFC 3463 enhanced status codes. It does no I/O and never panics.
//! - [`Ehlo`] views a 250 EHLO reply as greeting plus ordered [`Capability`] lines, with typed
//!   accessors for registered extensions (SIZE, AUTH, STARTTLS, LIMITS, ...).
//! - [`CapabilityFilter`] withholds keywords (for example STARTTLS from clients without good
//!   reputation) and keeps the framing valid.
//! - [`ReplyFilter`] applies it to a server→client stream, pairing replies with the commands
//!   they answer; [`Proxy`] puts both directions together for a transparent proxy: it answers
//!   withheld commands itself (`502 5.5.1`), tracks DATA/BDAT/AUTH, and discards plaintext
//!   injected after STARTTLS (CVE-2011-0411).
//!
//! # Example
//! ```
//! use postern_smtp::{CapabilityFilter, Mode, ReplyParser, Status};
//!
//! let server = b"250-mx.example.net at your service\r\n250-STARTTLS\r\n250 SIZE 1000\r\n";
//! let mut parser = ReplyParser::new(Mode::Strict);
//! let mut to_client = Vec::new();
//! // Bytes arrive in reads of any size; the parser resumes where it stopped.
//! let mut buf = Vec::new();
//! for chunk in server.chunks(7) {
//!     buf.extend_from_slice(chunk);
//!     if let Status::Complete(reply) = parser.parse(&buf)? {
//!         CapabilityFilter::starttls().rewrite(&reply, &mut to_client);
//!     }
//! }
//! assert_eq!(to_client, b"250-mx.example.net at your service\r\n250 SIZE 1000\r\n");
//! # Ok::<(), postern_smtp::Error>(())
//! ```
//!
//! # Limits
//! Every bound is a constant: [`MAX_LINE_CONTENT`] (510 octets before CRLF, RFC 5321
//! §4.5.3.1.5), [`MAX_REPLY_LINES`], [`MAX_WITHHELD`], [`MAX_COMMAND_LINE`],
//! [`MAX_PENDING_COMMANDS`], [`MAX_HELD_CLIENT_BYTES`]. Memory held by a [`Proxy`] is bounded
//! by them whatever the peers send.
#![forbid(unsafe_code)]

mod command;
mod ehlo;
mod error;
mod filter;
mod proxy;
mod reply;
mod stream;

#[doc(hidden)]
pub mod __fuzz;

pub use command::{Command, MAX_COMMAND_LINE};
pub use ehlo::{Capabilities, Capability, Ehlo, Extension, Limits, MaxSize};
pub use error::{Error, ErrorKind};
pub use filter::{CapabilityFilter, MAX_WITHHELD, TooManyKeywords};
pub use proxy::{DEFAULT_REJECT_REPLY, MAX_HELD_CLIENT_BYTES, Proxy, ProxyConfig, ProxyState};
pub use reply::{
    EnhancedCode, Line, LineEnding, Lines, MAX_LINE_CONTENT, MAX_REPLY_LINES, Mode, OwnedReply,
    Reply, ReplyCode, ReplyParser, Status,
};
pub use stream::{Context, Forwarded, MAX_PENDING_COMMANDS, ReplyFilter};
