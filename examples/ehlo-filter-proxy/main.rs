//! A transparent SMTP proxy that withholds EHLO capabilities (STARTTLS by default) from its
//! clients, with blocking `std::net` I/O and two threads per session: copy it as a starting point.
//!
//! ```text
//! ehlo-filter-proxy LISTEN_ADDR UPSTREAM_ADDR [--withhold KEYWORD]... [--lenient]
//! ehlo-filter-proxy 127.0.0.1:2525 127.0.0.1:25 --withhold STARTTLS --withhold CHUNKING
//! ```
//!
//! It prints `listening on ADDR` once bound, then one line per finished session. All protocol
//! work is done by [`postern_smtp::Proxy`]; the bytes are moved by the session pump shared
//! with `starttls-proxy` (`examples/common/pump.rs`), which also closes idle sessions. The proxy answers a
//! withheld command itself (`502 5.5.1`), and once the upstream accepts STARTTLS it relays the
//! TLS bytes unchanged.

use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use postern_examples::pump;
use postern_smtp::{CapabilityFilter, Mode, ProxyConfig};

/// A session with no bytes either way for this long is closed (RFC 5321 §4.5.3.2.7: 5 min).
const IDLE_TIMEOUT: Duration = Duration::from_secs(300);

struct Config {
    listen: String,
    upstream: String,
    filter: CapabilityFilter,
    mode: Mode,
}

fn parse_args() -> Result<Config, String> {
    let mut args = std::env::args().skip(1);
    let usage =
        "usage: ehlo-filter-proxy LISTEN_ADDR UPSTREAM_ADDR [--withhold KEYWORD]... [--lenient]";
    let listen = args.next().ok_or(usage)?;
    let upstream = args.next().ok_or(usage)?;
    let mut keywords = Vec::new();
    let mut mode = Mode::Strict;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--withhold" => keywords.push(args.next().ok_or(usage)?),
            "--lenient" => mode = Mode::Lenient,
            _ => return Err(usage.to_owned()),
        }
    }
    let filter = if keywords.is_empty() {
        CapabilityFilter::starttls()
    } else {
        keywords
            .iter()
            .fold(CapabilityFilter::new(), CapabilityFilter::withhold)
    };
    Ok(Config {
        listen,
        upstream,
        filter,
        mode,
    })
}

fn main() {
    let config = match parse_args() {
        Ok(c) => Arc::new(c),
        Err(usage) => {
            eprintln!("{usage}");
            std::process::exit(2);
        }
    };
    let listener = match TcpListener::bind(&config.listen) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("cannot listen on {}: {e}", config.listen);
            std::process::exit(1);
        }
    };
    if let Ok(addr) = listener.local_addr() {
        println!("listening on {addr}");
    }
    for client in listener.incoming().flatten() {
        let config = Arc::clone(&config);
        thread::spawn(move || {
            let peer = client.peer_addr().ok();
            match session(&client, &config) {
                Ok(summary) => println!("{} {summary}", show(peer)),
                Err(e) => println!("{} error: {e}", show(peer)),
            }
        });
    }
}

fn show(addr: Option<SocketAddr>) -> String {
    addr.map_or_else(|| "?".to_owned(), |a| a.to_string())
}

/// One session: connect to the upstream and relay through the shared session pump.
fn session(client: &TcpStream, config: &Config) -> io::Result<String> {
    let upstream = TcpStream::connect(&config.upstream)?;
    let proxy = ProxyConfig {
        filter: config.filter.clone(),
        mode: config.mode,
        ..ProxyConfig::default()
    };
    pump::run(client, &upstream, proxy, IDLE_TIMEOUT).map(|summary| summary.to_string())
}
