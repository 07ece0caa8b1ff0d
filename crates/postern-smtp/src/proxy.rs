//! Both directions of a transparent SMTP proxy that withholds EHLO capabilities.

use crate::stream::Forwarded;
use crate::{
    CapabilityFilter, Command, Context, Error, MAX_COMMAND_LINE, Mode, ReplyCode, ReplyFilter,
};

/// Maximum client bytes held while a reply that decides their meaning is awaited (after DATA,
/// AUTH and STARTTLS, RFC 2920 §3.1 forbids pipelining further commands). Beyond it the client
/// is misbehaving and [`Error::PipelineOverrun`] is returned.
pub const MAX_HELD_CLIENT_BYTES: usize = 64 * 1024;

/// The reply Postfix gives to a command it does not implement; the default for withheld ones.
pub const DEFAULT_REJECT_REPLY: &[u8] = b"502 5.5.1 Error: command not implemented\r\n";

/// How a [`Proxy`] treats a session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyConfig {
    /// The capabilities withheld from the client (default: STARTTLS).
    pub filter: CapabilityFilter,
    /// Line-ending mode for server replies (default: strict).
    pub mode: Mode,
    /// The reply given for a withheld command, with its CRLF (default:
    /// `502 5.5.1 Error: command not implemented`, as Postfix).
    pub reject_reply: Vec<u8>,
    /// Whether the session starts before the server's greeting (default: true).
    pub expect_greeting: bool,
}

impl Default for ProxyConfig {
    fn default() -> Self {
        Self {
            filter: CapabilityFilter::starttls(),
            mode: Mode::Strict,
            reject_reply: DEFAULT_REJECT_REPLY.to_vec(),
            expect_greeting: true,
        }
    }
}

/// Where a [`Proxy`] session stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProxyState {
    /// Plaintext SMTP: both directions are parsed.
    Plaintext,
    /// The server accepted STARTTLS: relay raw bytes both ways from now on (or terminate TLS).
    Tls,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Client {
    /// Command lines.
    Commands,
    /// The next line is a SASL response (the server sent 334).
    SaslResponse,
    /// Client bytes are held until the reply to DATA, AUTH or STARTTLS says what they are.
    AwaitReply,
    /// Message content after 354, up to `CRLF.CRLF` (RFC 5321 §4.1.1.4).
    Content(Eod),
    /// BDAT chunk octets still to come; `discard` when the proxy refused the BDAT.
    Chunk { remaining: u64, discard: bool },
    /// TLS: raw relay.
    Tls,
}

/// Progress towards `CRLF . CRLF` in message content.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Eod {
    MidLine,
    Cr,
    LineStart,
    Dot,
    DotCr,
}

/// A transparent SMTP proxy's view of one session, with no I/O: feed it what each peer sends
/// and write out what it returns.
///
/// - Server replies are parsed and paired with the client's commands; EHLO replies lose the
///   withheld capabilities ([`ReplyFilter`]).
/// - Client commands for withheld extensions (`STARTTLS`, `AUTH`, `BDAT` when `CHUNKING` is
///   withheld, ...) are not forwarded: the proxy answers them itself, in pipeline order, with
///   [`ProxyConfig::reject_reply`]; a refused BDAT's chunk is discarded.
/// - Message content (after 354) and BDAT chunks are relayed unparsed.
/// - After a forwarded STARTTLS, client bytes are held; if the server answers 220 they are
///   discarded as injected plaintext (CVE-2011-0411) and counted, and the session turns to
///   [`ProxyState::Tls`]: relay raw bytes from then on.
///
/// Memory is bounded by [`MAX_COMMAND_LINE`], [`MAX_HELD_CLIENT_BYTES`], the reply limits and
/// [`MAX_PENDING_COMMANDS`](crate::MAX_PENDING_COMMANDS).
///
/// Only `CRLF.CRLF` ends message content, as RFC 5321 says. An upstream that also accepts a
/// bare-LF end of data can be smuggled commands the proxy sees as content: configure it to
/// refuse bare LF (Postfix: `smtpd_forbid_bare_newline = yes`).
///
/// # Examples
/// ```
/// use postern_smtp::{Proxy, ProxyConfig};
/// let mut proxy = Proxy::new(ProxyConfig::default());
/// let (mut to_server, mut to_client) = (Vec::new(), Vec::new());
/// proxy.from_server(b"220 mx ESMTP\r\n", &mut to_client, &mut to_server)?;
/// proxy.from_client(b"EHLO me\r\nSTARTTLS\r\n", &mut to_server, &mut to_client)?;
/// assert_eq!(to_server, b"EHLO me\r\n");
/// proxy.from_server(b"250-mx\r\n250 STARTTLS\r\n", &mut to_client, &mut to_server)?;
/// assert_eq!(
///     to_client,
///     b"220 mx ESMTP\r\n250 mx\r\n502 5.5.1 Error: command not implemented\r\n"
/// );
/// # Ok::<(), postern_smtp::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Proxy {
    replies: ReplyFilter,
    reject_reply: Box<[u8]>,
    client: Client,
    /// A command line not yet complete.
    line: Vec<u8>,
    /// Client bytes held in [`Client::AwaitReply`].
    held: Vec<u8>,
    injected_client: u64,
    injected_server: u64,
}

impl Proxy {
    /// A proxy session with the given configuration.
    pub fn new(config: ProxyConfig) -> Self {
        let mut replies = ReplyFilter::new(config.filter, config.mode);
        if config.expect_greeting {
            // Cannot fail on an empty queue.
            let _ = replies.expect(Context::Greeting);
        }
        Self {
            replies,
            reject_reply: config.reject_reply.into_boxed_slice(),
            client: Client::Commands,
            line: Vec::new(),
            held: Vec::new(),
            injected_client: 0,
            injected_server: 0,
        }
    }

    /// Plaintext or TLS.
    pub fn state(&self) -> ProxyState {
        if self.client == Client::Tls {
            ProxyState::Tls
        } else {
            ProxyState::Plaintext
        }
    }

    /// Plaintext octets the client sent after STARTTLS and before the server's 220, discarded.
    pub fn injected_client_bytes(&self) -> u64 {
        self.injected_client
    }

    /// Plaintext octets the server sent after its 220 to STARTTLS in the same read, discarded.
    pub fn injected_server_bytes(&self) -> u64 {
        self.injected_server
    }

    /// Feed bytes from the client. Bytes for the server are appended to `to_server`, replies
    /// the proxy gives itself to `to_client`.
    ///
    /// # Errors
    /// [`Error::CommandTooLong`], [`Error::PipelineOverrun`], [`Error::TooManyPending`]: the
    /// client is misbehaving; close the session (a `421` to the client is polite).
    pub fn from_client(
        &mut self,
        input: &[u8],
        to_server: &mut Vec<u8>,
        to_client: &mut Vec<u8>,
    ) -> Result<(), Error> {
        let mut rest = input;
        while !rest.is_empty() {
            let used = match self.client {
                Client::Tls => {
                    to_server.extend_from_slice(rest);
                    rest.len()
                }
                Client::AwaitReply => {
                    if self.held.len() + rest.len() > MAX_HELD_CLIENT_BYTES {
                        return Err(Error::PipelineOverrun {
                            limit: MAX_HELD_CLIENT_BYTES,
                        });
                    }
                    self.held.extend_from_slice(rest);
                    rest.len()
                }
                Client::Content(eod) => self.content(rest, eod, to_server)?,
                Client::Chunk { remaining, discard } => {
                    let n = usize::try_from(remaining)
                        .unwrap_or(usize::MAX)
                        .min(rest.len());
                    if !discard {
                        to_server.extend_from_slice(rest.get(..n).unwrap_or(&[]));
                    }
                    let remaining = remaining - n as u64;
                    self.client = if remaining == 0 {
                        Client::Commands
                    } else {
                        Client::Chunk { remaining, discard }
                    };
                    n
                }
                Client::Commands | Client::SaslResponse => {
                    self.command_bytes(rest, to_server, to_client)?
                }
            };
            rest = rest.get(used..).unwrap_or(&[]);
        }
        Ok(())
    }

    /// Feed bytes from the server. Bytes for the client are appended to `to_client`; client
    /// bytes released by a reply (held after DATA or AUTH) go to `to_server`.
    ///
    /// # Errors
    /// A reply framing error (the server stream is unusable: close the session), or an error
    /// of [`from_client`](Self::from_client) for the released client bytes.
    pub fn from_server(
        &mut self,
        input: &[u8],
        to_client: &mut Vec<u8>,
        to_server: &mut Vec<u8>,
    ) -> Result<(), Error> {
        if self.client == Client::Tls {
            to_client.extend_from_slice(input);
            return Ok(());
        }
        let mut rest = input;
        while !rest.is_empty() {
            let mut decided = None;
            let used = self.replies.feed_until(rest, to_client, |f: Forwarded| {
                let stop = matches!(f.context, Context::Data | Context::Auth | Context::StartTls);
                if stop {
                    decided = Some(f);
                }
                stop
            })?;
            rest = rest.get(used..).unwrap_or(&[]);
            let Some(reply) = decided else { break };
            self.decide(reply, to_server, to_client)?;
            if self.client == Client::Tls {
                // Nothing may follow the 220 in plaintext (RFC 3207 §4.2 on the client side).
                self.injected_server += rest.len() as u64;
                break;
            }
        }
        Ok(())
    }

    /// The reply to DATA, AUTH or STARTTLS arrived: say what the held client bytes are.
    fn decide(
        &mut self,
        reply: Forwarded,
        to_server: &mut Vec<u8>,
        to_client: &mut Vec<u8>,
    ) -> Result<(), Error> {
        if self.client != Client::AwaitReply {
            return Ok(());
        }
        let held = core::mem::take(&mut self.held);
        self.client = match (reply.context, reply.code) {
            (Context::Data, ReplyCode::START_MAIL_INPUT) => Client::Content(Eod::LineStart),
            (Context::Auth, code) if code.as_u16() == 334 => Client::SaslResponse,
            (Context::StartTls, ReplyCode::SERVICE_READY) => {
                self.injected_client += held.len() as u64;
                self.client = Client::Tls;
                return Ok(());
            }
            _ => Client::Commands,
        };
        self.from_client(&held, to_server, to_client)
    }

    /// Relay message content up to and including `CRLF.CRLF`.
    fn content(
        &mut self,
        input: &[u8],
        mut eod: Eod,
        to_server: &mut Vec<u8>,
    ) -> Result<usize, Error> {
        for (i, &b) in input.iter().enumerate() {
            eod = match (eod, b) {
                (Eod::DotCr, b'\n') => {
                    let (content, _) = input.split_at(i + 1);
                    to_server.extend_from_slice(content);
                    self.client = Client::Commands;
                    self.replies.expect(Context::Other)?;
                    return Ok(i + 1);
                }
                (_, b'\r') => {
                    if eod == Eod::Dot {
                        Eod::DotCr
                    } else {
                        Eod::Cr
                    }
                }
                (Eod::Cr, b'\n') => Eod::LineStart,
                (Eod::LineStart, b'.') => Eod::Dot,
                _ => Eod::MidLine,
            };
        }
        to_server.extend_from_slice(input);
        self.client = Client::Content(eod);
        Ok(input.len())
    }

    /// Collect a command line; handle it when complete. Returns the input bytes used.
    fn command_bytes(
        &mut self,
        input: &[u8],
        to_server: &mut Vec<u8>,
        to_client: &mut Vec<u8>,
    ) -> Result<usize, Error> {
        let Some(lf) = input.iter().position(|&b| b == b'\n') else {
            // `+ 1`: the CR of the CRLF may already be here.
            if self.line.len() + input.len() > MAX_COMMAND_LINE + 1 {
                return Err(Error::CommandTooLong {
                    limit: MAX_COMMAND_LINE,
                });
            }
            self.line.extend_from_slice(input);
            return Ok(input.len());
        };
        let (tail, _) = input.split_at(lf + 1);
        // Content octets: the line without its LF (a CR before it is not counted either).
        let content = self.line.len() + lf - usize::from(tail.ends_with(b"\r\n"));
        if content > MAX_COMMAND_LINE {
            return Err(Error::CommandTooLong {
                limit: MAX_COMMAND_LINE,
            });
        }
        if self.line.is_empty() {
            self.handle_line(tail, to_server, to_client)?;
        } else {
            let mut line = core::mem::take(&mut self.line);
            line.extend_from_slice(tail);
            self.handle_line(&line, to_server, to_client)?;
            line.clear();
            self.line = line;
        }
        Ok(lf + 1)
    }

    fn handle_line(
        &mut self,
        line: &[u8],
        to_server: &mut Vec<u8>,
        to_client: &mut Vec<u8>,
    ) -> Result<(), Error> {
        if self.client == Client::SaslResponse {
            to_server.extend_from_slice(line);
            self.replies.expect(Context::Auth)?;
            self.client = Client::AwaitReply;
            return Ok(());
        }
        let command = Command::parse(line);
        if command.is_withheld_by(self.replies.capability_filter()) {
            self.replies.local_reply(&self.reject_reply, to_client)?;
            if let Command::Bdat { size, .. } = command
                && size > 0
            {
                self.client = Client::Chunk {
                    remaining: size,
                    discard: true,
                };
            }
            return Ok(());
        }
        to_server.extend_from_slice(line);
        self.replies.expect(command.context())?;
        self.client = match command {
            Command::Data | Command::Auth | Command::StartTls => Client::AwaitReply,
            Command::Bdat { size, .. } if size > 0 => Client::Chunk {
                remaining: size,
                discard: false,
            },
            _ => Client::Commands,
        };
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Drive a session: alternate client and server inputs, return (`to_server`, `to_client`).
    fn session(proxy: &mut Proxy, steps: &[(bool, &[u8])]) -> (Vec<u8>, Vec<u8>) {
        let (mut to_server, mut to_client) = (Vec::new(), Vec::new());
        for &(from_client, bytes) in steps {
            if from_client {
                proxy
                    .from_client(bytes, &mut to_server, &mut to_client)
                    .unwrap();
            } else {
                proxy
                    .from_server(bytes, &mut to_client, &mut to_server)
                    .unwrap();
            }
        }
        (to_server, to_client)
    }

    const C: bool = true;
    const S: bool = false;

    #[test]
    fn withheld_starttls_is_answered_locally_in_pipeline_order() {
        let mut p = Proxy::new(ProxyConfig::default());
        let (up, down) = session(
            &mut p,
            &[
                (S, b"220 mx\r\n"),
                (C, b"EHLO a\r\nSTARTTLS\r\nNOOP\r\n"),
                (S, b"250-mx\r\n250-STARTTLS\r\n250 SIZE 10\r\n"),
                (S, b"250 ok\r\n"),
            ],
        );
        assert_eq!(up, b"EHLO a\r\nNOOP\r\n");
        assert_eq!(
            down,
            b"220 mx\r\n250-mx\r\n250 SIZE 10\r\n502 5.5.1 Error: command not implemented\r\n250 ok\r\n"
        );
        assert_eq!(p.state(), ProxyState::Plaintext);
    }

    #[test]
    fn plaintext_after_an_allowed_starttls_is_discarded_when_tls_starts() {
        let mut p = Proxy::new(ProxyConfig {
            filter: CapabilityFilter::new(),
            ..ProxyConfig::default()
        });
        let (up, down) = session(
            &mut p,
            &[
                (S, b"220 mx\r\n"),
                (C, b"STARTTLS\r\nRSET\r\n"),
                (C, b"MAIL FROM:<evil>\r\n"),
                (S, b"220 2.0.0 go ahead\r\nXX"),
                (C, b"\x16\x03\x01"),
                (S, b"\x16\x03\x03"),
            ],
        );
        assert_eq!(up, b"STARTTLS\r\n\x16\x03\x01");
        assert_eq!(down, b"220 mx\r\n220 2.0.0 go ahead\r\n\x16\x03\x03");
        assert_eq!(p.state(), ProxyState::Tls);
        assert_eq!(
            (p.injected_client_bytes(), p.injected_server_bytes()),
            (24, 2)
        );
    }

    #[test]
    fn refused_starttls_releases_the_held_commands() {
        let mut p = Proxy::new(ProxyConfig {
            filter: CapabilityFilter::new(),
            ..ProxyConfig::default()
        });
        let (up, _) = session(
            &mut p,
            &[
                (S, b"220 mx\r\n"),
                (C, b"STARTTLS\r\nQUIT\r\n"),
                (S, b"454 4.7.0 TLS not available\r\n"),
            ],
        );
        assert_eq!(up, b"STARTTLS\r\nQUIT\r\n");
        assert_eq!(p.state(), ProxyState::Plaintext);
    }

    #[test]
    fn message_content_is_relayed_unparsed_until_crlf_dot_crlf() {
        let mut p = Proxy::new(ProxyConfig::default());
        let (up, down) = session(
            &mut p,
            &[
                (S, b"220 mx\r\n"),
                (C, b"DATA\r\nSTARTTLS\r\n.."),
                (S, b"354 go\r\n"),
                (C, b"x\r\n.\r"),
                (C, b"\nSTARTTLS\r\n"),
                (S, b"250 queued\r\n"),
            ],
        );
        assert_eq!(up, b"DATA\r\nSTARTTLS\r\n..x\r\n.\r\n");
        assert_eq!(
            down,
            b"220 mx\r\n354 go\r\n250 queued\r\n502 5.5.1 Error: command not implemented\r\n"
        );
    }

    #[test]
    fn refused_data_turns_held_bytes_back_into_commands() {
        let mut p = Proxy::new(ProxyConfig::default());
        let (up, down) = session(
            &mut p,
            &[
                (S, b"220 mx\r\n"),
                (C, b"DATA\r\nSTARTTLS\r\n"),
                (S, b"554 no valid recipients\r\n"),
            ],
        );
        assert_eq!(up, b"DATA\r\n");
        assert!(
            down.ends_with(
                b"554 no valid recipients\r\n502 5.5.1 Error: command not implemented\r\n"
            )
        );
    }

    #[test]
    fn bdat_chunks_are_relayed_or_discarded_with_their_command() {
        let mut p = Proxy::new(ProxyConfig::default());
        let (up, _) = session(
            &mut p,
            &[
                (S, b"220 mx\r\n"),
                (C, b"BDAT 10 LAST\r\nSTARTTLS\r\n"),
                (C, b"NOOP\r\n"),
            ],
        );
        assert_eq!(up, b"BDAT 10 LAST\r\nSTARTTLS\r\nNOOP\r\n");

        let mut p = Proxy::new(ProxyConfig {
            filter: CapabilityFilter::starttls().withhold("CHUNKING"),
            ..ProxyConfig::default()
        });
        let (up, down) = session(
            &mut p,
            &[(S, b"220 mx\r\n"), (C, b"BDAT 4\r\nQUIT"), (C, b"NOOP\r\n")],
        );
        assert_eq!(up, b"NOOP\r\n");
        assert!(down.ends_with(b"502 5.5.1 Error: command not implemented\r\n"));
    }

    #[test]
    fn sasl_responses_are_not_taken_for_commands() {
        let mut p = Proxy::new(ProxyConfig::default());
        let (up, down) = session(
            &mut p,
            &[
                (S, b"220 mx\r\n"),
                (C, b"AUTH LOGIN\r\n"),
                (S, b"334 VXNlcm5hbWU6\r\n"),
                (C, b"STARTTLS\r\n"),
                (S, b"334 UGFzc3dvcmQ6\r\n"),
                (C, b"cGFzcw==\r\n"),
                (S, b"235 2.7.0 ok\r\n"),
                (C, b"STARTTLS\r\n"),
            ],
        );
        assert_eq!(up, b"AUTH LOGIN\r\nSTARTTLS\r\ncGFzcw==\r\n");
        assert!(down.ends_with(b"235 2.7.0 ok\r\n502 5.5.1 Error: command not implemented\r\n"));
    }

    #[test]
    fn misbehaving_clients_hit_the_bounds() {
        let mut p = Proxy::new(ProxyConfig::default());
        let (mut up, mut down) = (Vec::new(), Vec::new());
        let long = vec![b'A'; MAX_COMMAND_LINE + 2];
        assert_eq!(
            p.from_client(&long, &mut up, &mut down),
            Err(Error::CommandTooLong {
                limit: MAX_COMMAND_LINE
            })
        );
        let mut p = Proxy::new(ProxyConfig::default());
        let mut exact = vec![b'A'; MAX_COMMAND_LINE];
        exact.extend_from_slice(b"\r\n");
        p.from_client(&exact, &mut up, &mut down).unwrap();
        let mut over = vec![b'A'; MAX_COMMAND_LINE + 1];
        over.extend_from_slice(b"\r\n");
        assert_eq!(
            p.from_client(&over, &mut up, &mut down),
            Err(Error::CommandTooLong {
                limit: MAX_COMMAND_LINE
            })
        );
        let mut p = Proxy::new(ProxyConfig::default());
        p.from_client(b"DATA\r\n", &mut up, &mut down).unwrap();
        let flood = vec![b'x'; MAX_HELD_CLIENT_BYTES + 1];
        assert_eq!(
            p.from_client(&flood, &mut up, &mut down),
            Err(Error::PipelineOverrun {
                limit: MAX_HELD_CLIENT_BYTES
            })
        );
    }
}
