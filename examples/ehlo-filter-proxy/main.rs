//! A transparent SMTP proxy that withholds EHLO capabilities (STARTTLS by default) from its
//! clients, with blocking `std::net` I/O and two threads per session: copy it as a starting point.
//!
//! ```text
//! ehlo-filter-proxy LISTEN_ADDR UPSTREAM_ADDR [--withhold KEYWORD]... [--lenient]
//! ehlo-filter-proxy 127.0.0.1:2525 127.0.0.1:25 --withhold STARTTLS --withhold CHUNKING
//! ```
//!
//! It prints `listening on ADDR` once bound, then one line per finished session. All protocol
//! work is done by [`postern_smtp::Proxy`]: this file only moves bytes. The proxy answers a
//! withheld command itself (`502 5.5.1`), and once the upstream accepts STARTTLS it relays the
//! TLS bytes unchanged.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread;

use postern_smtp::{CapabilityFilter, Mode, Proxy, ProxyConfig, ProxyState};

/// Read size for both directions.
const READ_SIZE: usize = 16 * 1024;

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

/// One session: both directions through one `Proxy`, whose outputs are written while it is
/// locked so that replies reach the client in order.
fn session(client: &TcpStream, config: &Config) -> io::Result<String> {
    let upstream = TcpStream::connect(&config.upstream)?;
    let proxy = Arc::new(Mutex::new(Proxy::new(ProxyConfig {
        filter: config.filter.clone(),
        mode: config.mode,
        ..ProxyConfig::default()
    })));

    let server_side = {
        let (proxy, upstream, client) = (
            Arc::clone(&proxy),
            upstream.try_clone()?,
            client.try_clone()?,
        );
        thread::spawn(move || pump(&upstream, &client, &proxy, false))
    };
    let from_client = pump(client, &upstream, &proxy, true);
    let from_server = server_side.join().unwrap_or(Ok(0));

    let proxy = proxy.lock().unwrap_or_else(PoisonError::into_inner);
    let state = match proxy.state() {
        ProxyState::Plaintext => "plaintext",
        ProxyState::Tls => "tls",
    };
    Ok(format!(
        "client_bytes={} server_bytes={} state={state} injected_client={} injected_server={}",
        from_client?,
        from_server?,
        proxy.injected_client_bytes(),
        proxy.injected_server_bytes(),
    ))
}

/// Copy one direction through the proxy until EOF or error; returns bytes read.
fn pump(
    from: &TcpStream,
    to: &TcpStream,
    proxy: &Mutex<Proxy>,
    client_side: bool,
) -> io::Result<u64> {
    let (mut from, mut to) = (from, to);
    let mut buf = vec![0u8; READ_SIZE];
    let (mut forward, mut back) = (Vec::new(), Vec::new());
    let mut total = 0u64;
    let result = loop {
        let n = match from.read(&mut buf) {
            Ok(0) => break Ok(total),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => break Err(e),
        };
        total += n as u64;
        let input = buf.get(..n).unwrap_or_default();
        let mut p = proxy.lock().unwrap_or_else(PoisonError::into_inner);
        let fed = if client_side {
            p.from_client(input, &mut forward, &mut back)
        } else {
            p.from_server(input, &mut forward, &mut back)
        };
        if let Err(e) = fed {
            if client_side {
                let _ = from.write_all(b"421 4.7.0 Protocol error, closing connection\r\n");
            }
            break Err(io::Error::new(io::ErrorKind::InvalidData, e));
        }
        // `forward` goes on in this direction, `back` returns to the sender of these bytes.
        let written = to.write_all(&forward).and_then(|()| from.write_all(&back));
        drop(p);
        forward.clear();
        back.clear();
        if let Err(e) = written {
            break Err(e);
        }
    };
    // Either side ending ends the session.
    let _ = to.shutdown(Shutdown::Both);
    let _ = from.shutdown(Shutdown::Both);
    result
}
