//! A transparent SMTP proxy that decides per client, with postern-policy, whether to offer
//! STARTTLS, and applies connection rate and concurrency limits. Blocking `std::net` I/O,
//! two threads per session: copy it as a starting point.
//!
//! ```text
//! starttls-proxy --listen ADDR --upstream ADDR [--reputation FILE] [--config LIMITS.toml]
//!                [--withhold-at bad|poor|neutral|never] [--idle-timeout SECS] [--grace SECS]
//!                [--max-sessions N] [--lenient]
//! starttls-proxy --listen 127.0.0.1:2525 --upstream 127.0.0.1:25 \
//!                --reputation examples/data/proxy-reputation.txt \
//!                --config examples/data/proxy-limits.toml
//! ```
//!
//! Per connection:
//! 1. Admission ([`Limits::admit`]): a concurrency lease (`[concurrency]`, in total and per
//!    client), then the `on = "connect"` rate limiters (GCRA). A refusal is the verdict's
//!    reply (`421 4.7.0 Too many connections, try again later`) and the connection is closed;
//!    the upstream is never contacted.
//! 2. STARTTLS ([`postern_policy::tls::starttls`]): the client's reputation and override come
//!    from the reputation list (`192.0.2.0/24 bad`, see `examples/data/proxy-reputation.txt`).
//!    When STARTTLS is withheld, [`postern_smtp::Proxy`] removes STARTTLS and REQUIRETLS from
//!    the upstream's EHLO reply and answers a STARTTLS command itself with
//!    `502 5.5.1 Command not implemented`.
//! 3. Bytes are relayed both ways through the proxy (pipelining works: replies stay in order);
//!    after the upstream accepts STARTTLS, TLS bytes are relayed unchanged, client and upstream
//!    negotiate TLS end to end.
//!
//! It prints `listening on ADDR`, then one line per session. SIGTERM or SIGINT (or
//! `--max-sessions` connections) stop accepting; running sessions get `--grace` seconds
//! (default 10), then are closed.

use std::io::Write;
use std::net::{Shutdown, SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use postern_examples::limits::Limits;
use postern_examples::reputation::ReputationList;
use postern_examples::shutdown::Sessions;
use postern_examples::{now_ms, pump};
use postern_policy::concurrency::Lease;
use postern_policy::tls::{self, Reputation, StartTlsDecision, StartTlsFacts, StartTlsOptions};
use postern_smtp::{CapabilityFilter, Mode, ProxyConfig};

/// Timeout for connecting to the upstream.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// The reply when the upstream cannot be reached (RFC 3463 §3.5: 4.4.1 no answer from host).
const UPSTREAM_DOWN: &[u8] = b"421 4.4.1 Upstream unavailable, try again later\r\n";

const USAGE: &str = "usage: starttls-proxy --listen ADDR --upstream ADDR [--reputation FILE] \
[--config LIMITS.toml] [--withhold-at bad|poor|neutral|never] [--idle-timeout SECS] \
[--grace SECS] [--max-sessions N] [--lenient]";

struct Config {
    listen: String,
    upstream: SocketAddr,
    reputation: ReputationList,
    limits: Limits,
    options: StartTlsOptions,
    mode: Mode,
    idle_timeout: Duration,
    grace: Duration,
    max_sessions: Option<u64>,
}

fn parse_args() -> Result<Config, String> {
    let mut args = std::env::args().skip(1);
    let (mut listen, mut upstream, mut limits) = (None, None, None);
    let mut reputation = ReputationList::default();
    let mut options = StartTlsOptions::default();
    let mut mode = Mode::Strict;
    let mut idle_timeout = Duration::from_secs(300);
    let mut grace = Duration::from_secs(10);
    let mut max_sessions = None;
    while let Some(arg) = args.next() {
        let mut value = || {
            args.next()
                .ok_or_else(|| format!("{arg} needs a value\n{USAGE}"))
        };
        match arg.as_str() {
            "--listen" => listen = Some(value()?),
            "--upstream" => {
                let text = value()?;
                upstream = text
                    .to_socket_addrs()
                    .ok()
                    .and_then(|mut a| a.next())
                    .map(Some)
                    .ok_or_else(|| format!("--upstream: cannot resolve {text:?}"))?;
            }
            "--reputation" => reputation = ReputationList::load(&value()?)?,
            "--config" => limits = Some(Limits::load(&value()?)?),
            "--withhold-at" => {
                options.withhold_at_or_below = match value()?.as_str() {
                    "bad" => Some(Reputation::Bad),
                    "poor" => Some(Reputation::Poor),
                    "neutral" => Some(Reputation::Neutral),
                    "never" => None,
                    other => return Err(format!("--withhold-at: unknown class {other:?}")),
                };
            }
            "--idle-timeout" => {
                idle_timeout =
                    Duration::from_secs(value()?.parse().map_err(|_| "--idle-timeout: seconds")?);
            }
            "--grace" => {
                grace = Duration::from_secs(value()?.parse().map_err(|_| "--grace: seconds")?);
            }
            "--max-sessions" => {
                max_sessions = Some(value()?.parse().map_err(|_| "--max-sessions: a number")?);
            }
            "--lenient" => mode = Mode::Lenient,
            _ => return Err(USAGE.to_owned()),
        }
    }
    let limits = match limits {
        Some(l) => l,
        None => Limits::none()?,
    };
    for section in limits.unused() {
        eprintln!("starttls-proxy: {section} is not used by this program");
    }
    if limits.has_greylist() || limits.has_rates(postern_examples::limits::On::Mail) {
        eprintln!("starttls-proxy: only on = \"connect\" limits and [concurrency] apply here");
    }
    Ok(Config {
        listen: listen.ok_or(USAGE)?,
        upstream: upstream.ok_or(USAGE)?,
        reputation,
        limits,
        options,
        mode,
        idle_timeout: idle_timeout.max(Duration::from_secs(1)),
        grace,
        max_sessions,
    })
}

struct Shared {
    upstream: SocketAddr,
    reputation: ReputationList,
    limits: Mutex<Limits>,
    options: StartTlsOptions,
    mode: Mode,
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
    let (listener, stop) = postern_examples::shutdown::listen("starttls-proxy", &config.listen);
    let shared = Arc::new(Shared {
        upstream: config.upstream,
        reputation: config.reputation,
        limits: Mutex::new(config.limits),
        options: config.options,
        mode: config.mode,
        idle_timeout: config.idle_timeout,
    });
    let sessions = Sessions::new();
    let (mut accepted, mut refused) = (0u64, 0u64);
    for stream in listener.incoming() {
        if stop.requested() {
            break;
        }
        let Ok(client) = stream else {
            // Out of file descriptors or similar: do not spin.
            thread::sleep(Duration::from_millis(50));
            continue;
        };
        let Ok(peer) = client.peer_addr() else {
            continue;
        };
        accepted += 1;
        let admitted = shared
            .limits
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .admit(peer.ip(), now_ms());
        match admitted {
            Err(refusal) => {
                refused += 1;
                let reply = refusal.verdict.reply().map_or_else(
                    || "421 4.7.0 Try again later".to_owned(),
                    ToString::to_string,
                );
                // A fresh socket takes a one-line reply without blocking; bounded anyway.
                let _ = client.set_write_timeout(Some(Duration::from_secs(1)));
                let _ = (&client).write_all(format!("{reply}\r\n").as_bytes());
                let _ = client.shutdown(Shutdown::Both);
                postern_examples::log!("{peer} refused limit={} reply={reply:?}", refusal.limit);
            }
            Ok(lease) => match sessions.register(&client) {
                Ok(guard) => {
                    let shared = Arc::clone(&shared);
                    thread::spawn(move || {
                        let _guard = guard;
                        session(&shared, &client, peer, lease);
                    });
                }
                Err(_) => release(&shared, lease),
            },
        }
        if config.max_sessions.is_some_and(|max| accepted >= max) {
            break;
        }
    }
    drop(listener);
    let closed = sessions.drain(config.grace);
    postern_examples::log!(
        "shutdown: sessions={accepted} refused={refused} closed_at_shutdown={closed}"
    );
}

fn release(shared: &Shared, lease: Lease) {
    shared
        .limits
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .release(lease);
}

/// One admitted session; logs one line and releases the lease.
fn session(shared: &Shared, client: &TcpStream, peer: SocketAddr, lease: Lease) {
    let started = Instant::now();
    let (reputation, override_for_network) = shared.reputation.classify(peer.ip());
    let facts = StartTlsFacts {
        reputation,
        override_for_network,
        ..StartTlsFacts::default()
    };
    let (filter, reject_reply, starttls) = match tls::starttls(&facts, &shared.options) {
        StartTlsDecision::Withhold { keywords, reply } => (
            keywords
                .iter()
                .fold(CapabilityFilter::new(), CapabilityFilter::withhold),
            format!("{reply}\r\n").into_bytes(),
            "withheld",
        ),
        StartTlsDecision::Offer | StartTlsDecision::AlreadyActive => (
            CapabilityFilter::new(),
            postern_smtp::DEFAULT_REJECT_REPLY.to_vec(),
            "offered",
        ),
    };
    let reputation = format!("{reputation:?}").to_ascii_lowercase();
    let outcome = match TcpStream::connect_timeout(&shared.upstream, CONNECT_TIMEOUT) {
        Ok(upstream) => {
            let config = ProxyConfig {
                filter,
                mode: shared.mode,
                reject_reply,
                ..ProxyConfig::default()
            };
            match pump::run(client, &upstream, config, shared.idle_timeout) {
                Ok(summary) => summary.to_string(),
                Err(e) => format!("error={:?}", e.to_string()),
            }
        }
        Err(e) => {
            let _ = client.set_write_timeout(Some(Duration::from_secs(1)));
            let _ = (&*client).write_all(UPSTREAM_DOWN);
            let _ = client.shutdown(Shutdown::Both);
            format!("error=\"upstream: {e}\"")
        }
    };
    release(shared, lease);
    postern_examples::log!(
        "{peer} reputation={reputation} starttls={starttls} {outcome} duration_ms={}",
        started.elapsed().as_millis()
    );
}
