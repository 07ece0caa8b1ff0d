//! A small, bounded load generator for `starttls-proxy` on loopback: sessions per second and
//! the latency an EHLO round trip gains through the proxy.
//!
//! ```text
//! starttls-proxy-bench [--sessions N] [--workers C] [--round-trips M] [--proxy PATH]
//! cargo build --release -p postern-examples --bins
//! target/release/starttls-proxy-bench --sessions 5000 --workers 8 --round-trips 2000
//! ```
//!
//! It starts a tiny fake upstream in this process (greeting, a 10-line EHLO reply with
//! STARTTLS, 250 to anything, 221 to QUIT), starts the proxy binary (by default the
//! `starttls-proxy` beside this program) in front of it with no limits, and measures:
//! - EHLO round trips on one session, directly and through the proxy (median, p99);
//! - complete sessions (connect, greeting, EHLO, QUIT, 221) by `C` workers, directly and
//!   through the proxy, in sessions per second.
//!
//! Everything is bounded: counts are capped, every socket has a 10 s timeout, and the proxy
//! is killed by its PID at the end.

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, mpsc};
use std::thread;
use std::time::{Duration, Instant};

const TIMEOUT: Duration = Duration::from_secs(10);
const MAX_COUNT: u64 = 1_000_000;

const EHLO_REPLY: &[u8] = b"250-mx.example.net at your service\r\n250-PIPELINING\r\n\
250-SIZE 35882577\r\n250-ETRN\r\n250-STARTTLS\r\n250-ENHANCEDSTATUSCODES\r\n250-8BITMIME\r\n\
250-DSN\r\n250-SMTPUTF8\r\n250 CHUNKING\r\n";

type Result<T> = std::result::Result<T, String>;

fn fake_upstream() -> Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            thread::spawn(move || serve(&stream));
        }
    });
    Ok(addr)
}

fn serve(stream: &TcpStream) {
    let _ = stream.set_read_timeout(Some(TIMEOUT));
    let _ = stream.set_nodelay(true);
    let mut writer = stream;
    if writer
        .write_all(b"220 mx.example.net ESMTP fake\r\n")
        .is_err()
    {
        return;
    }
    let mut reader = BufReader::new(stream);
    let mut line = Vec::new();
    while reader.read_until(b'\n', &mut line).unwrap_or(0) > 0 {
        let upper = line.to_ascii_uppercase();
        let reply: &[u8] = if upper.starts_with(b"EHLO") {
            EHLO_REPLY
        } else if upper.starts_with(b"QUIT") {
            let _ = writer.write_all(b"221 2.0.0 bye\r\n");
            return;
        } else {
            b"250 2.0.0 ok\r\n"
        };
        if writer.write_all(reply).is_err() {
            return;
        }
        line.clear();
    }
}

/// Read one complete reply (up to a line whose fourth byte is not `-`).
fn read_reply(reader: &mut BufReader<TcpStream>, line: &mut Vec<u8>) -> Result<()> {
    for _ in 0..100 {
        line.clear();
        let n = reader.read_until(b'\n', line).map_err(|e| e.to_string())?;
        if n == 0 {
            return Err("connection closed".to_owned());
        }
        if line.get(3) != Some(&b'-') {
            return Ok(());
        }
    }
    Err("reply too long".to_owned())
}

fn connect(addr: SocketAddr) -> Result<(TcpStream, BufReader<TcpStream>)> {
    let stream = TcpStream::connect_timeout(&addr, TIMEOUT).map_err(|e| e.to_string())?;
    stream
        .set_read_timeout(Some(TIMEOUT))
        .map_err(|e| e.to_string())?;
    let _ = stream.set_nodelay(true);
    let reader = BufReader::new(stream.try_clone().map_err(|e| e.to_string())?);
    Ok((stream, reader))
}

/// One full session: greeting, EHLO, QUIT.
fn one_session(addr: SocketAddr) -> Result<()> {
    let (mut stream, mut reader) = connect(addr)?;
    let mut line = Vec::new();
    read_reply(&mut reader, &mut line)?;
    stream
        .write_all(b"EHLO bench.example\r\n")
        .map_err(|e| e.to_string())?;
    read_reply(&mut reader, &mut line)?;
    stream.write_all(b"QUIT\r\n").map_err(|e| e.to_string())?;
    read_reply(&mut reader, &mut line)?;
    if !line.starts_with(b"221") {
        return Err(format!(
            "QUIT answered {:?}",
            String::from_utf8_lossy(&line)
        ));
    }
    Ok(())
}

/// EHLO round-trip times on one session, in microseconds, sorted.
fn round_trips(addr: SocketAddr, count: u64) -> Result<Vec<u64>> {
    let (mut stream, mut reader) = connect(addr)?;
    let mut line = Vec::new();
    read_reply(&mut reader, &mut line)?;
    let mut times = Vec::new();
    for _ in 0..count {
        let start = Instant::now();
        stream
            .write_all(b"EHLO bench.example\r\n")
            .map_err(|e| e.to_string())?;
        read_reply(&mut reader, &mut line)?;
        times.push(u64::try_from(start.elapsed().as_micros()).unwrap_or(u64::MAX));
    }
    let _ = stream.write_all(b"QUIT\r\n");
    times.sort_unstable();
    Ok(times)
}

fn percentile(sorted: &[u64], p: usize) -> u64 {
    let i = (sorted.len().saturating_sub(1) * p) / 100;
    sorted.get(i).copied().unwrap_or(0)
}

/// `sessions` sessions spread over `workers` threads; returns sessions per second.
fn throughput(addr: SocketAddr, sessions: u64, workers: u64) -> Result<f64> {
    let done = Arc::new(AtomicU64::new(0));
    let (errors_tx, errors_rx) = mpsc::channel();
    let start = Instant::now();
    let handles: Vec<_> = (0..workers)
        .map(|w| {
            let (done, errors) = (Arc::clone(&done), errors_tx.clone());
            let share = sessions / workers + u64::from(w < sessions % workers);
            thread::spawn(move || {
                for _ in 0..share {
                    match one_session(addr) {
                        Ok(()) => {
                            done.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(e) => {
                            let _ = errors.send(e);
                            return;
                        }
                    }
                }
            })
        })
        .collect();
    for h in handles {
        let _ = h.join();
    }
    let elapsed = start.elapsed().as_secs_f64();
    drop(errors_tx);
    if let Ok(e) = errors_rx.try_recv() {
        return Err(format!("a session failed: {e}"));
    }
    let n = done.load(Ordering::Relaxed);
    #[allow(clippy::cast_precision_loss)] // counts far below 2^52
    Ok(n as f64 / elapsed)
}

struct Proxy {
    child: Child,
    addr: SocketAddr,
    log_lines: Arc<AtomicU64>,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_proxy(path: &str, upstream: SocketAddr) -> Result<Proxy> {
    let mut child = Command::new(path)
        .args([
            "--listen",
            "127.0.0.1:0",
            "--upstream",
            &upstream.to_string(),
        ])
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start {path}: {e}"))?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let mut lines = BufReader::new(stdout).lines();
    let first = lines.next().and_then(std::result::Result::ok);
    let addr = first
        .as_deref()
        .and_then(|l| l.strip_prefix("listening on "))
        .and_then(|a| a.parse().ok());
    let log_lines = Arc::new(AtomicU64::new(0));
    let counter = Arc::clone(&log_lines);
    // Drain the session log so that the proxy never blocks on a full pipe.
    thread::spawn(move || {
        for _ in lines.map_while(std::result::Result::ok) {
            counter.fetch_add(1, Ordering::Relaxed);
        }
    });
    let mut proxy = Proxy {
        child,
        addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        log_lines,
    };
    proxy.addr = addr.ok_or("the proxy did not print its address")?;
    Ok(proxy)
}

fn run() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let (mut sessions, mut workers, mut rtts) = (2000u64, 4u64, 1000u64);
    let mut proxy_path = std::env::current_exe()
        .map_err(|e| e.to_string())?
        .with_file_name("starttls-proxy")
        .to_string_lossy()
        .into_owned();
    while let Some(arg) = args.next() {
        let mut number = || -> Result<u64> {
            args.next()
                .and_then(|v| v.parse().ok())
                .filter(|&n| (1..=MAX_COUNT).contains(&n))
                .ok_or_else(|| format!("{arg}: a number from 1 to {MAX_COUNT}"))
        };
        match arg.as_str() {
            "--sessions" => sessions = number()?,
            "--workers" => workers = number()?.min(256),
            "--round-trips" => rtts = number()?,
            "--proxy" => proxy_path = args.next().ok_or("--proxy: a path")?,
            _ => {
                return Err("usage: starttls-proxy-bench [--sessions N] [--workers C] \
                    [--round-trips M] [--proxy PATH]"
                    .to_owned());
            }
        }
    }
    let upstream = fake_upstream()?;
    let proxy = start_proxy(&proxy_path, upstream)?;

    let direct = round_trips(upstream, rtts)?;
    let proxied = round_trips(proxy.addr, rtts)?;
    let (d50, p50) = (percentile(&direct, 50), percentile(&proxied, 50));
    let (d99, p99) = (percentile(&direct, 99), percentile(&proxied, 99));
    println!(
        "EHLO round trip ({rtts} on one session): direct median {d50} us p99 {d99} us; \
         via proxy median {p50} us p99 {p99} us; added median {} us",
        p50.saturating_sub(d50)
    );
    let direct_rate = throughput(upstream, sessions, workers)?;
    let proxy_rate = throughput(proxy.addr, sessions, workers)?;
    println!(
        "sessions (connect, greeting, EHLO, QUIT; {sessions} by {workers} workers): \
         direct {direct_rate:.0}/s, via proxy {proxy_rate:.0}/s"
    );
    // Every proxied session (two round-trip ones and the throughput ones) logs one line.
    let expected = sessions + 1;
    let deadline = Instant::now() + TIMEOUT;
    while proxy.log_lines.load(Ordering::Relaxed) < expected && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(10));
    }
    println!(
        "proxy session log lines: {} (expected {expected})",
        proxy.log_lines.load(Ordering::Relaxed)
    );
    Ok(())
}

fn main() {
    if let Err(e) = run() {
        eprintln!("starttls-proxy-bench: {e}");
        std::process::exit(1);
    }
}
