//! The server→client half of a proxy: parse the reply stream, pair each reply with the command
//! it answers, rewrite EHLO replies, and interleave replies the proxy gives itself.

use std::collections::VecDeque;

use crate::{CapabilityFilter, Error, Mode, Reply, ReplyCode, ReplyParser, Status};

/// Maximum number of commands (or local replies) awaiting their turn in one [`ReplyFilter`].
/// RFC 2920 lets a client pipeline a whole transaction; 1000 recipients in one group is far
/// beyond what servers accept (Postfix: 1000 recipients per message by default).
pub const MAX_PENDING_COMMANDS: usize = 1024;

/// What a server reply answers, known from the client side of the session.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Context {
    /// The connection greeting (`220` banner), before any command.
    Greeting,
    /// `EHLO` or `LHLO`: a 250 reply is rewritten by the filter.
    Ehlo,
    /// `STARTTLS`: a 220 reply starts TLS.
    StartTls,
    /// `DATA`: a 354 reply starts the message content.
    Data,
    /// `AUTH` or a SASL response line: a 334 reply asks for another SASL response.
    Auth,
    /// Any other command, or the end of message content.
    Other,
}

impl Context {
    /// The name used by the CLI's `--context` list (`<greeting>`, `EHLO`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Greeting => "<greeting>",
            Self::Ehlo => "EHLO",
            Self::StartTls => "STARTTLS",
            Self::Data => "DATA",
            Self::Auth => "AUTH",
            Self::Other => "OTHER",
        }
    }

    /// The context of a command verb or a fixture context name, case-insensitively:
    /// `EHLO`/`LHLO`, `STARTTLS`, `DATA`, `AUTH`, `<greeting>`; anything else is `Other`.
    pub fn from_name(name: &str) -> Self {
        const NAMES: [(&str, Context); 6] = [
            ("<greeting>", Context::Greeting),
            ("EHLO", Context::Ehlo),
            ("LHLO", Context::Ehlo),
            ("STARTTLS", Context::StartTls),
            ("DATA", Context::Data),
            ("AUTH", Context::Auth),
        ];
        NAMES
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map_or(Self::Other, |&(_, c)| c)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Pending {
    /// A reply the server owes.
    Server(Context),
    /// A reply the proxy gives itself when its turn comes.
    Local(Box<[u8]>),
}

/// One reply that went to the client, as reported by [`ReplyFilter::feed`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Forwarded {
    /// What the reply answered.
    pub context: Context,
    /// Its code.
    pub code: ReplyCode,
    /// Capability lines removed from it.
    pub removed_lines: usize,
}

/// The server→client stream filter: feed it server bytes, get client bytes.
///
/// Replies are paired in order with the contexts queued by [`expect`](Self::expect) (a reply
/// with nothing queued is [`Context::Other`]). A complete 250 reply to EHLO is rewritten by the
/// [`CapabilityFilter`]; every other reply is copied unchanged. Nothing is emitted for an
/// incomplete reply; its bytes are kept (at most [`MAX_REPLY_LINES`](crate::MAX_REPLY_LINES)
/// lines of 512 octets) until it completes.
///
/// # Examples
/// ```
/// use postern_smtp::{CapabilityFilter, Context, Mode, ReplyFilter};
/// let mut filter = ReplyFilter::new(CapabilityFilter::starttls(), Mode::Strict);
/// filter.expect(Context::Greeting)?;
/// filter.expect(Context::Ehlo)?;
/// let mut to_client = Vec::new();
/// filter.feed(b"220 mx ESMTP\r\n250-mx\r\n250-STAR", &mut to_client, |_| {})?;
/// assert_eq!(to_client, b"220 mx ESMTP\r\n");
/// filter.feed(b"TTLS\r\n250 8BITMIME\r\n", &mut to_client, |_| {})?;
/// assert_eq!(to_client, b"220 mx ESMTP\r\n250-mx\r\n250 8BITMIME\r\n");
/// filter.finish()?;
/// # Ok::<(), postern_smtp::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct ReplyFilter {
    filter: CapabilityFilter,
    parser: ReplyParser,
    /// Bytes of an incomplete reply carried to the next feed.
    partial: Vec<u8>,
    pending: VecDeque<Pending>,
    /// The first error; the stream is unusable after it.
    failed: Option<Error>,
}

impl ReplyFilter {
    /// A filter for a stream in the given mode.
    pub fn new(filter: CapabilityFilter, mode: Mode) -> Self {
        Self {
            filter,
            parser: ReplyParser::new(mode),
            partial: Vec::new(),
            pending: VecDeque::new(),
            failed: None,
        }
    }

    /// The capability filter applied to EHLO replies.
    pub fn capability_filter(&self) -> &CapabilityFilter {
        &self.filter
    }

    /// Queue the context of the next reply the server owes (feed it from the client side, in
    /// command order).
    ///
    /// # Errors
    /// [`Error::TooManyPending`] beyond [`MAX_PENDING_COMMANDS`].
    pub fn expect(&mut self, context: Context) -> Result<(), Error> {
        self.push(Pending::Server(context))
    }

    /// Give the client a reply of the proxy's own (for a withheld command) in its turn: at once
    /// if no server reply is owed before it, else right after the replies owed before it.
    ///
    /// # Errors
    /// [`Error::TooManyPending`] beyond [`MAX_PENDING_COMMANDS`].
    pub fn local_reply(&mut self, reply: &[u8], out: &mut Vec<u8>) -> Result<(), Error> {
        if self.pending.is_empty() {
            out.extend_from_slice(reply);
            Ok(())
        } else {
            self.push(Pending::Local(reply.into()))
        }
    }

    /// Number of server replies and local replies still awaited.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    /// Bytes of an incomplete reply held since the last feed.
    pub fn buffered(&self) -> usize {
        self.partial.len()
    }

    fn push(&mut self, p: Pending) -> Result<(), Error> {
        if self.pending.len() >= MAX_PENDING_COMMANDS {
            return Err(Error::TooManyPending {
                limit: MAX_PENDING_COMMANDS,
            });
        }
        self.pending.push_back(p);
        Ok(())
    }

    /// Feed server bytes; append the bytes for the client to `out`. `on_reply` is told of each
    /// reply as it goes out, before the next one is parsed (a proxy uses it to follow the
    /// session: 354 after DATA, 220 after STARTTLS). Returns the number of input bytes that
    /// belong to complete replies or to the reply still incomplete: all of them, unless
    /// `on_reply` returns after a reply that ends plaintext (see [`feed_until`](Self::feed_until)).
    ///
    /// # Errors
    /// The first framing error; replies completed before it are in `out`. The filter then
    /// refuses all further input with the same error.
    pub fn feed(
        &mut self,
        input: &[u8],
        out: &mut Vec<u8>,
        mut on_reply: impl FnMut(Forwarded),
    ) -> Result<usize, Error> {
        self.feed_until(input, out, |f| {
            on_reply(f);
            false
        })
    }

    /// As [`feed`](Self::feed), but stops right after a reply for which `on_reply` returns
    /// `true`, leaving the rest of `input` unparsed; returns the number of input bytes used.
    /// A proxy stops after the 220 to STARTTLS: what follows is not plaintext.
    ///
    /// # Errors
    /// As [`feed`](Self::feed).
    pub fn feed_until(
        &mut self,
        input: &[u8],
        out: &mut Vec<u8>,
        mut on_reply: impl FnMut(Forwarded) -> bool,
    ) -> Result<usize, Error> {
        if let Some(e) = self.failed {
            return Err(e);
        }
        // Carried bytes first: complete the reply they begin.
        let mut used = 0;
        if !self.partial.is_empty() {
            let carried = self.partial.len();
            let mut partial = core::mem::take(&mut self.partial);
            partial.extend_from_slice(input);
            let result = self.parser.parse(&partial);
            let step = match result {
                Ok(Status::Complete(reply)) => {
                    used = reply.len() - carried;
                    Some(self.emit(&reply, out, &mut on_reply))
                }
                Ok(Status::Partial) => {
                    self.partial = partial;
                    return Ok(input.len());
                }
                Err(e) => return Err(self.fail(e)),
            };
            // Keep the allocation for the next partial reply.
            partial.clear();
            self.partial = partial;
            if step == Some(true) {
                return Ok(used);
            }
        }
        loop {
            let rest = input.get(used..).unwrap_or(&[]);
            if rest.is_empty() {
                return Ok(used);
            }
            match self.parser.parse(rest) {
                Ok(Status::Complete(reply)) => {
                    used += reply.len();
                    if self.emit(&reply, out, &mut on_reply) {
                        return Ok(used);
                    }
                }
                Ok(Status::Partial) => {
                    self.partial.extend_from_slice(rest);
                    return Ok(input.len());
                }
                Err(e) => return Err(self.fail(e)),
            }
        }
    }

    /// Report the end of the server stream.
    ///
    /// # Errors
    /// [`Error::Truncated`] when it ended inside a reply, or the earlier framing error.
    pub fn finish(&mut self) -> Result<(), Error> {
        if let Some(e) = self.failed {
            return Err(e);
        }
        let partial = core::mem::take(&mut self.partial);
        self.parser.finish(&partial).map_err(|e| self.fail(e))
    }

    fn fail(&mut self, e: Error) -> Error {
        self.failed = Some(e);
        self.partial = Vec::new();
        e
    }

    /// Send one complete reply on, then any local replies now due. Returns `on_reply`'s verdict.
    fn emit(
        &mut self,
        reply: &Reply<'_>,
        out: &mut Vec<u8>,
        on_reply: &mut impl FnMut(Forwarded) -> bool,
    ) -> bool {
        let context = match self.pending.pop_front() {
            Some(Pending::Server(c)) => c,
            // Unreachable by construction: local replies never stay at the head.
            Some(Pending::Local(_)) | None => Context::Other,
        };
        let removed_lines = if context == Context::Ehlo {
            self.filter.rewrite(reply, out)
        } else {
            out.extend_from_slice(reply.as_bytes());
            0
        };
        while let Some(Pending::Local(_)) = self.pending.front() {
            if let Some(Pending::Local(bytes)) = self.pending.pop_front() {
                out.extend_from_slice(&bytes);
            }
        }
        on_reply(Forwarded {
            context,
            code: reply.code(),
            removed_lines,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(contexts: &[Context], input: &[u8], chunk: usize) -> Result<Vec<u8>, Error> {
        let mut f = ReplyFilter::new(CapabilityFilter::starttls(), Mode::Strict);
        for &c in contexts {
            f.expect(c)?;
        }
        let mut out = Vec::new();
        for piece in input.chunks(chunk.max(1)) {
            f.feed(piece, &mut out, |_| {})?;
        }
        f.finish()?;
        Ok(out)
    }

    #[test]
    fn only_replies_paired_with_ehlo_are_rewritten() {
        let input = b"250-x\r\n250 STARTTLS\r\n250-y\r\n250 STARTTLS\r\n";
        for chunk in 1..input.len() {
            let out = run(&[Context::Other, Context::Ehlo], input, chunk).unwrap();
            assert_eq!(out, b"250-x\r\n250 STARTTLS\r\n250 y\r\n");
        }
    }

    #[test]
    fn truncated_stream_emits_nothing_for_the_last_reply() {
        let mut f = ReplyFilter::new(CapabilityFilter::starttls(), Mode::Strict);
        f.expect(Context::Ehlo).unwrap();
        let mut out = Vec::new();
        f.feed(b"250-x\r\n250-STARTTLS\r\n", &mut out, |_| {})
            .unwrap();
        assert!(out.is_empty());
        assert_eq!(
            f.finish(),
            Err(Error::Truncated {
                offset: 21,
                line: 3
            })
        );
    }

    #[test]
    fn errors_are_sticky() {
        let mut f = ReplyFilter::new(CapabilityFilter::starttls(), Mode::Strict);
        let mut out = Vec::new();
        let err = f.feed(b"250 ok\r\n999\r\n", &mut out, |_| {}).unwrap_err();
        assert_eq!(out, b"250 ok\r\n");
        assert_eq!(f.feed(b"250 ok\r\n", &mut out, |_| {}), Err(err));
        assert_eq!(f.finish(), Err(err));
    }

    #[test]
    fn local_replies_wait_for_the_server_replies_owed_before_them() {
        let mut f = ReplyFilter::new(CapabilityFilter::starttls(), Mode::Strict);
        let mut out = Vec::new();
        f.local_reply(b"502 now\r\n", &mut out).unwrap();
        f.expect(Context::Ehlo).unwrap();
        f.local_reply(b"502 later\r\n", &mut out).unwrap();
        assert_eq!(out, b"502 now\r\n");
        f.feed(b"250 x\r\n", &mut out, |_| {}).unwrap();
        assert_eq!(out, b"502 now\r\n250 x\r\n502 later\r\n");
        assert_eq!(f.pending(), 0);
    }

    #[test]
    fn feed_until_stops_after_the_chosen_reply() {
        let mut f = ReplyFilter::new(CapabilityFilter::new(), Mode::Strict);
        f.expect(Context::StartTls).unwrap();
        let mut out = Vec::new();
        let used = f
            .feed_until(b"220 go\r\n\x16\x03\x01", &mut out, |r| {
                r.context == Context::StartTls
            })
            .unwrap();
        assert_eq!((used, out.as_slice()), (8, &b"220 go\r\n"[..]));
    }

    #[test]
    fn pending_queue_is_bounded() {
        let mut f = ReplyFilter::new(CapabilityFilter::new(), Mode::Strict);
        for _ in 0..MAX_PENDING_COMMANDS {
            f.expect(Context::Other).unwrap();
        }
        assert_eq!(
            f.expect(Context::Other),
            Err(Error::TooManyPending {
                limit: MAX_PENDING_COMMANDS
            })
        );
    }
}
