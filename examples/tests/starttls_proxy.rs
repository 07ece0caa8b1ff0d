//! The example STARTTLS proxy between a scripted upstream MTA and clients, on loopback.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use support::{Program, closed, connect, data, read_reply, start, temp_file};

const EHLO: &[u8] = b"250-mx.example.net at your service\r\n250-PIPELINING\r\n\
250-STARTTLS\r\n250-REQUIRETLS\r\n250-ENHANCEDSTATUSCODES\r\n250 SIZE 1000000\r\n";

/// An upstream MTA for any number of sessions: greeting, EHLO reply with STARTTLS and
/// REQUIRETLS, 250 to other lines, 221 to QUIT; after `220` to STARTTLS it echoes raw bytes
/// (standing in for a TLS handshake). Records every byte it received, per session.
struct Upstream {
    addr: String,
    sessions: Arc<AtomicUsize>,
    seen: Arc<Mutex<Vec<Vec<u8>>>>,
}

fn upstream() -> Upstream {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let sessions = Arc::new(AtomicUsize::new(0));
    let seen = Arc::new(Mutex::new(Vec::new()));
    let (count, log) = (Arc::clone(&sessions), Arc::clone(&seen));
    thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            count.fetch_add(1, Ordering::SeqCst);
            let log = Arc::clone(&log);
            thread::spawn(move || serve(stream, &log));
        }
    });
    Upstream {
        addr,
        sessions,
        seen,
    }
}

fn serve(stream: TcpStream, log: &Mutex<Vec<Vec<u8>>>) {
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut writer = stream.try_clone().unwrap();
    writer.write_all(b"220 mx.example.net ESMTP\r\n").unwrap();
    let mut seen = Vec::new();
    let mut reader = BufReader::new(stream);
    let mut line = Vec::new();
    while reader.read_until(b'\n', &mut line).unwrap_or(0) > 0 {
        seen.extend_from_slice(&line);
        let reply: &[u8] = if line.starts_with(b"EHLO") {
            EHLO
        } else if line.starts_with(b"STARTTLS") {
            writer
                .write_all(b"220 2.0.0 Ready to start TLS\r\n")
                .unwrap();
            // "TLS": echo whatever comes, unparsed.
            let mut buf = [0u8; 4096];
            loop {
                match reader.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        seen.extend_from_slice(&buf[..n]);
                        if writer.write_all(&buf[..n]).is_err() {
                            break;
                        }
                    }
                }
            }
            break;
        } else if line.starts_with(b"QUIT") {
            writer.write_all(b"221 2.0.0 bye\r\n").unwrap();
            break;
        } else {
            b"250 2.0.0 ok\r\n"
        };
        writer.write_all(reply).unwrap();
        line.clear();
    }
    log.lock().unwrap().push(seen);
}

fn proxy(up: &Upstream, reputation: &str, extra: &[&str]) -> Program {
    let reputation = temp_file("reputation.txt", reputation);
    let mut args = vec![
        "--listen",
        "127.0.0.1:0",
        "--upstream",
        &up.addr,
        "--reputation",
        &reputation,
    ];
    args.extend_from_slice(extra);
    start(env!("CARGO_BIN_EXE_starttls-proxy"), &args)
}

#[test]
fn bad_client_sees_no_starttls_gets_502_and_its_mail_goes_through_pipelined() {
    let up = upstream();
    let proxy = proxy(&up, "# loopback is bad here\n127.0.0.0/8 bad\n", &[]);
    let (mut client, mut reader) = connect(&proxy.addr);
    assert_eq!(read_reply(&mut reader), "220 mx.example.net ESMTP\r\n");
    // Pipelined: the local 502 must come after the EHLO reply.
    client
        .write_all(b"EHLO client.example\r\nSTARTTLS\r\n")
        .unwrap();
    let ehlo = read_reply(&mut reader);
    assert_eq!(
        ehlo,
        "250-mx.example.net at your service\r\n250-PIPELINING\r\n\
         250-ENHANCEDSTATUSCODES\r\n250 SIZE 1000000\r\n"
    );
    assert_eq!(
        read_reply(&mut reader),
        "502 5.5.1 Command not implemented\r\n"
    );
    client
        .write_all(b"MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.net>\r\nDATA\r\n")
        .unwrap();
    for _ in 0..3 {
        assert_eq!(read_reply(&mut reader), "250 2.0.0 ok\r\n");
    }
    client
        .write_all(b"Subject: hi\r\n\r\nbody\r\n.\r\nQUIT\r\n")
        .unwrap();
    // The upstream answers each body line with 250 (it is a script, not an MTA).
    let mut replies = 0;
    loop {
        let reply = read_reply(&mut reader);
        replies += 1;
        if reply.starts_with("221") || replies > 10 {
            break;
        }
    }
    assert!(closed(&mut reader));
    let log = proxy.log_line();
    assert!(
        log.contains("reputation=bad starttls=withheld") && log.contains("state=plaintext"),
        "{log}"
    );
    let seen = up.seen.lock().unwrap().concat();
    // STARTTLS never reached the upstream.
    assert!(!String::from_utf8_lossy(&seen).contains("STARTTLS"));
    assert!(seen.starts_with(b"EHLO client.example\r\nMAIL FROM:<a@example.org>\r\n"));
}

#[test]
fn good_client_sees_starttls_and_tls_bytes_are_relayed_raw() {
    let up = upstream();
    let proxy = proxy(&up, "127.0.0.1 good\n", &[]);
    let (mut client, mut reader) = connect(&proxy.addr);
    read_reply(&mut reader);
    client.write_all(b"EHLO client.example\r\n").unwrap();
    let ehlo = read_reply(&mut reader);
    assert_eq!(ehlo.as_bytes(), EHLO);
    client.write_all(b"STARTTLS\r\n").unwrap();
    assert_eq!(read_reply(&mut reader), "220 2.0.0 Ready to start TLS\r\n");
    // A TLS ClientHello-like record, not SMTP: relayed both ways unchanged.
    let hello = b"\x16\x03\x01\x00\x05hello\x00\xff\r\n.\r\n";
    client.write_all(hello).unwrap();
    let mut echoed = vec![0u8; hello.len()];
    reader.read_exact(&mut echoed).unwrap();
    assert_eq!(echoed, hello);
    drop((client, reader));
    let log = proxy.log_line();
    assert!(
        log.contains("reputation=good starttls=offered") && log.contains("state=tls"),
        "{log}"
    );
}

#[test]
fn neutral_client_is_offered_starttls_but_withhold_override_wins() {
    let up = upstream();
    // An override for the network beats a good reputation.
    let proxy = proxy(&up, "127.0.0.1 good\n127.0.0.0/8 withhold\n", &[]);
    let (mut client, mut reader) = connect(&proxy.addr);
    read_reply(&mut reader);
    client.write_all(b"EHLO c\r\n").unwrap();
    let ehlo = read_reply(&mut reader);
    assert!(
        !ehlo.contains("STARTTLS") && !ehlo.contains("REQUIRETLS"),
        "{ehlo}"
    );
    drop((client, reader));
    // --withhold-at neutral withholds from unlisted clients.
    let proxy = self::proxy(&up, "192.0.2.0/24 good\n", &["--withhold-at", "neutral"]);
    let (mut client, mut reader) = connect(&proxy.addr);
    read_reply(&mut reader);
    client.write_all(b"EHLO c\r\n").unwrap();
    assert!(!read_reply(&mut reader).contains("STARTTLS"));
    drop((client, reader));
    let log = proxy.log_until("starttls=");
    assert!(
        log.contains("reputation=neutral starttls=withheld"),
        "{log}"
    );
}

#[test]
fn connection_rate_limit_refuses_with_421_without_contacting_the_upstream() {
    let up = upstream();
    let config = data("proxy-test.toml");
    let proxy = proxy(&up, "", &["--config", &config]);
    // proxy-test.toml: 4 connections per client per minute.
    for _ in 0..4 {
        let (mut client, mut reader) = connect(&proxy.addr);
        assert_eq!(read_reply(&mut reader), "220 mx.example.net ESMTP\r\n");
        client.write_all(b"QUIT\r\n").unwrap();
        assert_eq!(read_reply(&mut reader), "221 2.0.0 bye\r\n");
        assert!(closed(&mut reader));
        // The session's log line comes after its concurrency slot is free.
        proxy.log_until("state=plaintext");
    }
    let (_client, mut reader) = connect(&proxy.addr);
    assert_eq!(
        read_reply(&mut reader),
        "421 4.7.0 Too many connections, try again later\r\n"
    );
    assert!(closed(&mut reader));
    assert_eq!(up.sessions.load(Ordering::SeqCst), 4);
    let line = proxy.log_until("refused");
    assert!(line.contains("limit=conn"), "{line}");
}

#[test]
fn concurrency_limit_refuses_a_third_session_until_one_ends() {
    let up = upstream();
    let config = data("proxy-test.toml");
    let proxy = proxy(&up, "", &["--config", &config]);
    // proxy-test.toml: 2 simultaneous sessions per client.
    let first = connect(&proxy.addr);
    let mut second = connect(&proxy.addr);
    let mut first = first;
    read_reply(&mut first.1);
    read_reply(&mut second.1);
    let (_third, mut reader) = connect(&proxy.addr);
    assert_eq!(
        read_reply(&mut reader),
        "421 4.7.0 Too many connections, try again later\r\n"
    );
    let line = proxy.log_until("refused");
    assert!(line.contains("limit=concurrency"), "{line}");
    first.0.write_all(b"QUIT\r\n").unwrap();
    read_reply(&mut first.1);
    drop(first);
    proxy.log_until("state=plaintext");
    let (_fourth, mut reader) = connect(&proxy.addr);
    assert_eq!(read_reply(&mut reader), "220 mx.example.net ESMTP\r\n");
}

#[test]
fn sigterm_stops_accepting_and_closes_sessions_after_the_grace_period() {
    let up = upstream();
    let mut proxy = proxy(&up, "", &["--grace", "1"]);
    let (_client, mut reader) = connect(&proxy.addr);
    read_reply(&mut reader);
    let status = proxy.terminate();
    assert!(status.success(), "{status:?}");
    // The open session was closed by the shutdown.
    assert!(closed(&mut reader));
    let line = proxy.log_until("shutdown:");
    assert!(line.contains("closed_at_shutdown=1"), "{line}");
    assert!(TcpStream::connect(&proxy.addr).is_err());
}

#[test]
fn unreachable_upstream_gets_421() {
    // A port that was just free: nothing listens there.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let proxy = start(
        env!("CARGO_BIN_EXE_starttls-proxy"),
        &["--listen", "127.0.0.1:0", "--upstream", &port.to_string()],
    );
    let (_client, mut reader) = connect(&proxy.addr);
    assert_eq!(
        read_reply(&mut reader),
        "421 4.4.1 Upstream unavailable, try again later\r\n"
    );
    assert!(proxy.log_line().contains("error=\"upstream:"));
}

#[test]
fn a_client_half_close_still_gets_the_replies_to_its_last_commands() {
    let up = upstream();
    let proxy = proxy(&up, "", &[]);
    let (mut client, mut reader) = connect(&proxy.addr);
    read_reply(&mut reader);
    client
        .write_all(b"MAIL FROM:<a@example.org>\r\nQUIT\r\n")
        .unwrap();
    client.shutdown(std::net::Shutdown::Write).unwrap();
    assert_eq!(read_reply(&mut reader), "250 2.0.0 ok\r\n");
    assert_eq!(read_reply(&mut reader), "221 2.0.0 bye\r\n");
    assert!(closed(&mut reader));
    let log = proxy.log_line();
    assert!(
        log.contains("state=plaintext") && !log.contains("error="),
        "{log}"
    );
}
