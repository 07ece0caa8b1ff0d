//! A Postfix policy delegation server (`check_policy_service`): SPF on MAIL FROM, rate limits
//! and greylisting, one thread per connection. Copy it as a starting point.
//!
//! ```text
//! policy-server --listen ADDR (--zone FILE | --dns system|ADDR[:PORT]) [--config LIMITS.toml]
//!               [--receiver HOSTNAME] [--max-sessions N] [--idle-timeout SECS]
//! policy-server --listen 127.0.0.1:10040 --zone examples/data/policy-server-zone.json \
//!               --config examples/data/policy-server-limits.toml --receiver mx.example.net
//! ```
//! and in Postfix's `main.cf`:
//! ```text
//! smtpd_recipient_restrictions = check_policy_service inet:127.0.0.1:10040, ...
//! ```
//!
//! Per request (`protocol_state` RCPT, or MAIL when called from `smtpd_sender_restrictions`):
//! 1. SPF of `sender` from `client_address` with `helo_name`, once per message (`instance`):
//!    `fail` answers `REJECT 5.7.23 ...`, `temperror` `DEFER_IF_PERMIT 4.7.24 ...`.
//! 2. `on = "mail"` rate limits once per message, then for RCPT greylisting
//!    (`DEFER_IF_PERMIT 4.7.1 Greylisted ...`) and `on = "rcpt"` rate limits; a refused rate
//!    answers with the limiter's reply, as `450 4.7.1 Rate limit exceeded ...`.
//!    With `protocol_state` CONNECT (`smtpd_client_restrictions`), `on = "connect"` limits
//!    answer `421 4.7.0 ...`.
//! 3. Otherwise `PREPEND Received-SPF: ...` for the first accepted recipient of a message, and
//!    `DUNNO` after it (so each message gets one header).
//!
//! A malformed request (a line without `=`, `request=` not `smtpd_access_policy`) is answered
//! `DEFER_IF_PERMIT 4.3.5 ...` and the connection goes on; a line longer than 8 KiB closes it.
//! It prints `listening on ADDR`, then one line per request. SIGTERM or SIGINT (or
//! `--max-sessions` connections) stop it cleanly.

mod protocol;

use std::fmt::Write as _;
use std::io::{BufReader, BufWriter, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread;
use std::time::Duration;

use postern_examples::limits::{Facts, Limits, On, Refusal};
use postern_examples::shutdown::Sessions;
use postern_examples::{dns::Resolver, now_ms};
use postern_policy::Verdict;
use postern_spf::{Options, Outcome, Request, Verdict as Spf};

use protocol::Read;

/// Simultaneous policy connections (Postfix opens one per smtpd process).
const MAX_CONNECTIONS: usize = 512;

const USAGE: &str = "usage: policy-server --listen ADDR (--zone FILE | --dns system|ADDR[:PORT]) \
[--config LIMITS.toml] [--receiver HOSTNAME] [--max-sessions N] [--idle-timeout SECS] [--grace SECS]";

struct Config {
    listen: String,
    resolver: Resolver,
    limits: Limits,
    receiver: String,
    max_sessions: Option<u64>,
    idle_timeout: Duration,
    grace: Duration,
}

fn parse_args() -> Result<Config, String> {
    let mut args = std::env::args().skip(1);
    let (mut listen, mut resolver, mut limits) = (None, None, None);
    let mut receiver = "unknown".to_owned();
    let mut max_sessions = None;
    let mut idle_timeout = Duration::from_secs(300);
    let mut grace = Duration::from_secs(5);
    while let Some(arg) = args.next() {
        let mut value = || {
            args.next()
                .ok_or_else(|| format!("{arg} needs a value\n{USAGE}"))
        };
        match arg.as_str() {
            "--listen" => listen = Some(value()?),
            "--zone" => resolver = Some(Resolver::zone_file(&value()?)?),
            "--dns" => resolver = Some(Resolver::servers(&value()?)?),
            "--config" => limits = Some(Limits::load(&value()?)?),
            "--receiver" => receiver = value()?,
            "--max-sessions" => {
                max_sessions = Some(value()?.parse().map_err(|_| "--max-sessions: a number")?);
            }
            "--idle-timeout" => {
                idle_timeout =
                    Duration::from_secs(value()?.parse().map_err(|_| "--idle-timeout: seconds")?);
            }
            "--grace" => {
                grace = Duration::from_secs(value()?.parse().map_err(|_| "--grace: seconds")?);
            }
            _ => return Err(USAGE.to_owned()),
        }
    }
    let limits = match limits {
        Some(l) => l,
        None => Limits::none()?,
    };
    for section in limits.unused() {
        eprintln!("policy-server: {section} is not used by this program");
    }
    if limits.has_concurrency() {
        eprintln!("policy-server: [concurrency] is not used (Postfix does not report disconnects)");
    }
    Ok(Config {
        listen: listen.ok_or(USAGE)?,
        resolver: resolver.ok_or(USAGE)?,
        limits,
        receiver,
        max_sessions,
        idle_timeout: idle_timeout.max(Duration::from_secs(1)),
        grace,
    })
}

struct Server {
    resolver: Resolver,
    limits: Mutex<Limits>,
    receiver: String,
    idle_timeout: Duration,
}

fn main() {
    let config = match parse_args() {
        Ok(c) => c,
        Err(message) => {
            eprintln!("{message}");
            std::process::exit(2);
        }
    };
    let (listener, stop) = postern_examples::shutdown::listen("policy-server", &config.listen);
    let server = Arc::new(Server {
        resolver: config.resolver,
        limits: Mutex::new(config.limits),
        receiver: config.receiver,
        idle_timeout: config.idle_timeout,
    });
    let sessions = Sessions::new();
    let mut accepted = 0u64;
    for stream in listener.incoming() {
        if stop.requested() {
            break;
        }
        let Ok(stream) = stream else {
            // Out of file descriptors or similar: do not spin.
            thread::sleep(Duration::from_millis(50));
            continue;
        };
        accepted += 1;
        if sessions.live() >= MAX_CONNECTIONS {
            postern_examples::log!("refused connection: {MAX_CONNECTIONS} connections already");
        } else if let Ok(guard) = sessions.register(&stream) {
            let server = Arc::clone(&server);
            thread::spawn(move || {
                let _guard = guard;
                connection(&server, &stream);
            });
        }
        if config.max_sessions.is_some_and(|max| accepted >= max) {
            break;
        }
    }
    drop(listener);
    let closed = sessions.drain(config.grace);
    postern_examples::log!("shutdown: connections={accepted} closed_at_shutdown={closed}");
}

/// What one connection remembers about the message in progress.
#[derive(Default)]
struct Message {
    /// Postfix's `instance` (or client+sender when it is missing).
    id: String,
    spf: Option<Outcome>,
    /// The answer to every recipient, and the limiter's name, when a rate limit refused the
    /// message as a whole.
    refused: Option<(String, String)>,
    prepended: bool,
}

fn connection(server: &Server, stream: &TcpStream) {
    let peer = stream
        .peer_addr()
        .map_or_else(|_| "?".to_owned(), |a: SocketAddr| a.to_string());
    if stream.set_read_timeout(Some(server.idle_timeout)).is_err()
        || stream.set_write_timeout(Some(server.idle_timeout)).is_err()
    {
        return;
    }
    let Ok(write_half) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(stream);
    let mut writer = BufWriter::new(write_half);
    let mut message = Message::default();
    let mut requests = 0u64;
    let end = loop {
        let (action, log) = match protocol::read_request(&mut reader) {
            Ok(Read::Eof) => break "closed".to_owned(),
            Ok(Read::Malformed(problem)) => (
                "DEFER_IF_PERMIT 4.3.5 Policy server: malformed request".to_owned(),
                format!("malformed={problem:?}"),
            ),
            Ok(Read::Request(request)) => decide(server, &request, &mut message),
            Err(e) => break format!("error={:?}", e.to_string()),
        };
        requests += 1;
        postern_examples::log!("{peer} {log} action={action:?}");
        let written = write!(writer, "action={action}\n\n").and_then(|()| writer.flush());
        if let Err(e) = written {
            break format!("error={:?}", e.to_string());
        }
    };
    postern_examples::log!("{peer} connection end requests={requests} {end}");
}

/// The action text for a refusal: greylisting as `DEFER_IF_PERMIT` (refuse only mail that
/// would otherwise be accepted), other refusals with their own SMTP code.
fn refusal_action(refusal: &Refusal) -> String {
    let Some(reply) = refusal.verdict.reply() else {
        return "DUNNO".to_owned();
    };
    let retry = match refusal.verdict {
        Verdict::Defer {
            retry_after_ms: Some(ms),
            ..
        }
        | Verdict::Disconnect {
            retry_after_ms: Some(ms),
            ..
        } => format!(" (retry in {}s)", ms.div_ceil(1000)),
        _ => String::new(),
    };
    if refusal.limit == "greylist" {
        format!("DEFER_IF_PERMIT {} {}{retry}", reply.enhanced, reply.text)
    } else {
        format!("{reply}{retry}")
    }
}

/// Text from DNS (an `exp=` explanation) made safe for one reply line.
fn one_line(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_ascii_graphic() || c == ' ' {
                c
            } else {
                '?'
            }
        })
        .take(200)
        .collect()
}

/// Decide one request; returns the action and the log fields.
fn decide(server: &Server, request: &protocol::Request, message: &mut Message) -> (String, String) {
    let state = request.get("protocol_state").to_ascii_uppercase();
    let (client, helo) = (request.get("client_address"), request.get("helo_name"));
    let (sender, rcpt) = (request.get("sender"), request.get("recipient"));
    let mut log = format!("state={state} client={client} helo={helo:?} sender={sender:?}");
    if !rcpt.is_empty() {
        let _ = write!(log, " rcpt={rcpt:?}");
    }
    let Ok(ip) = client.parse::<IpAddr>() else {
        return (
            "DUNNO".to_owned(),
            format!("{log} note=\"no client address\""),
        );
    };
    let now = now_ms();
    let lock = || server.limits.lock().unwrap_or_else(PoisonError::into_inner);
    let facts = Facts {
        ip: Some(ip),
        sender,
        rcpt: (!rcpt.is_empty()).then_some(rcpt),
        user: Some(request.get("sasl_username")).filter(|u| !u.is_empty()),
    };
    match state.as_str() {
        "CONNECT" => {
            return match lock().check(On::Connect, &facts, now) {
                Ok(()) => ("DUNNO".to_owned(), log),
                Err(refusal) => (
                    refusal_action(&refusal),
                    format!("{log} limit={}", refusal.limit),
                ),
            };
        }
        "MAIL" | "RCPT" => {}
        _ => return ("DUNNO".to_owned(), log),
    }

    // A new message: SPF once, `on = "mail"` limits once.
    let id = match request.get("instance") {
        "" => format!("{client} {sender}"),
        instance => instance.to_owned(),
    };
    if message.id != id || message.spf.is_none() {
        let spf_request = Request::mail_from(ip, sender, helo);
        let options = Options::default()
            .with_receiver(&server.receiver)
            .with_timestamp(now / 1000);
        let outcome = server.resolver.check_spf(&spf_request, &options);
        // A message SPF refuses is not charged: forged senders cannot use up a real
        // sender's quota.
        let refused = if spf_refusal(&outcome).is_some() {
            None
        } else {
            lock()
                .check(On::Mail, &facts, now)
                .err()
                .map(|r| (refusal_action(&r), r.limit))
        };
        *message = Message {
            id,
            spf: Some(outcome),
            refused,
            prepended: false,
        };
    }
    let Some(outcome) = message.spf.as_ref() else {
        return ("DUNNO".to_owned(), log);
    };
    let _ = write!(log, " spf={}", outcome.verdict);
    if let Some(action) = spf_refusal(outcome) {
        return (action, log);
    }
    if let Some((action, limit)) = &message.refused {
        return (action.clone(), format!("{log} limit={limit}"));
    }
    if state == "RCPT" && !rcpt.is_empty() {
        let mut limits = lock();
        let spf_pass = outcome.verdict == Spf::Pass;
        let checked = limits
            .greylist(ip, sender, rcpt, spf_pass, now)
            .and_then(|()| limits.check(On::Rcpt, &facts, now));
        drop(limits);
        if let Err(refusal) = checked {
            return (
                refusal_action(&refusal),
                format!("{log} limit={}", refusal.limit),
            );
        }
    }
    if message.prepended {
        return ("DUNNO".to_owned(), log);
    }
    message.prepended = true;
    (
        format!("PREPEND Received-SPF: {}", outcome.received_spf()),
        log,
    )
}

/// The answer to SPF results that refuse the message (RFC 7372 §3.2: 5.7.23 SPF validation
/// failed, 4.7.24 SPF validation error); `None` for the others, which are only recorded.
fn spf_refusal(outcome: &Outcome) -> Option<String> {
    match outcome.verdict {
        Spf::Fail => {
            let why = outcome.explanation.as_deref().map_or_else(
                || {
                    format!(
                        "{} is not allowed to send mail from {}",
                        outcome.ip,
                        outcome.sender().rsplit('@').next().unwrap_or_default()
                    )
                },
                one_line,
            );
            Some(format!("REJECT 5.7.23 SPF fail: {}", one_line(&why)))
        }
        Spf::TempError => {
            Some("DEFER_IF_PERMIT 4.7.24 SPF temporary error, try again later".to_owned())
        }
        _ => None,
    }
}
