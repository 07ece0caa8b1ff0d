//! The example Postfix policy server against a scripted Postfix on loopback.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod support;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::thread;
use std::time::Duration;

use support::{Program, connect, data, start};

fn server(extra: &[&str]) -> Program {
    let zone = data("policy-server-zone.json");
    let config = data("policy-server-test.toml");
    let mut args = vec![
        "--listen",
        "127.0.0.1:0",
        "--zone",
        &zone,
        "--config",
        &config,
        "--receiver",
        "mx.test.example",
    ];
    args.extend_from_slice(extra);
    start(env!("CARGO_BIN_EXE_policy-server"), &args)
}

/// A request as Postfix sends it (a subset of its attributes).
fn request(state: &str, instance: &str, client: &str, sender: &str, rcpt: &str) -> String {
    format!(
        "request=smtpd_access_policy\nprotocol_state={state}\nprotocol_name=ESMTP\n\
         client_address={client}\nclient_name=unknown\nhelo_name=client.example\n\
         sender={sender}\nrecipient={rcpt}\nrecipient_count=0\nqueue_id=\n\
         instance={instance}\nsize=0\nsasl_username=\nstress=\n\n"
    )
}

/// Send raw bytes, read one answer: `action=...` and the empty line.
fn ask(stream: &mut TcpStream, reader: &mut BufReader<TcpStream>, raw: &str) -> String {
    stream.write_all(raw.as_bytes()).unwrap();
    let mut action = String::new();
    reader.read_line(&mut action).unwrap();
    let mut empty = String::new();
    reader.read_line(&mut empty).unwrap();
    assert_eq!(
        empty, "\n",
        "answer not ended by an empty line after {action:?}"
    );
    action
        .strip_suffix('\n')
        .unwrap()
        .strip_prefix("action=")
        .unwrap_or_else(|| panic!("not an action: {action:?}"))
        .to_owned()
}

#[test]
fn greylist_defers_then_accepts_with_one_received_spf_per_message() {
    let server = server(&[]);
    let (mut s, mut r) = connect(&server.addr);
    let rcpt = "bob@test.example";
    let sender = "alice@pass.example.org";
    let first = ask(
        &mut s,
        &mut r,
        &request("RCPT", "a1", "127.0.0.9", sender, rcpt),
    );
    assert!(
        first.starts_with("DEFER_IF_PERMIT 4.7.1 Greylisted"),
        "{first}"
    );
    // Several requests on one connection: a retry before the delay is deferred again.
    let early = ask(
        &mut s,
        &mut r,
        &request("RCPT", "a2", "127.0.0.9", sender, rcpt),
    );
    assert!(early.starts_with("DEFER_IF_PERMIT 4.7.1"), "{early}");
    // Another triplet (other client) is greylisted on its own.
    let other = ask(
        &mut s,
        &mut r,
        &request("RCPT", "b1", "127.0.0.10", "carol@pass.example.org", rcpt),
    );
    assert!(other.starts_with("DEFER_IF_PERMIT"), "{other}");

    thread::sleep(Duration::from_millis(2100));
    let retry = ask(
        &mut s,
        &mut r,
        &request("RCPT", "a3", "127.0.0.9", sender, rcpt),
    );
    assert!(
        retry.starts_with(
            "PREPEND Received-SPF: pass (mx.test.example: domain of alice@pass.example.org \
             designates 127.0.0.9 as permitted sender) client-ip=127.0.0.9;"
        ),
        "{retry}"
    );
    assert!(retry.contains("receiver=mx.test.example; identity=mailfrom"));
    // The same message's next accepted recipient gets no second header.
    let again = ask(
        &mut s,
        &mut r,
        &request("RCPT", "a3", "127.0.0.9", sender, rcpt),
    );
    assert_eq!(again, "DUNNO");
    // A new message of the known triplet passes at once, with its own header.
    let next = ask(
        &mut s,
        &mut r,
        &request("RCPT", "a4", "127.0.0.9", sender, rcpt),
    );
    assert!(next.starts_with("PREPEND Received-SPF: pass"), "{next}");
    // Other protocol states are not this server's business.
    let data = ask(
        &mut s,
        &mut r,
        &request("DATA", "a4", "127.0.0.9", sender, rcpt),
    );
    assert_eq!(data, "DUNNO");

    drop((s, r));
    let line = server.log_until("connection end");
    assert!(line.contains("requests=7 closed"), "{line}");
}

#[test]
fn spf_fail_is_rejected_and_temperror_deferred_before_greylisting() {
    let server = server(&[]);
    let (mut s, mut r) = connect(&server.addr);
    let fail = ask(
        &mut s,
        &mut r,
        &request(
            "RCPT",
            "f1",
            "127.0.0.5",
            "mallory@fail.example.org",
            "bob@test.example",
        ),
    );
    assert_eq!(
        fail,
        "REJECT 5.7.23 SPF fail: 127.0.0.5 is not a mail server of fail.example.org"
    );
    let temp = ask(
        &mut s,
        &mut r,
        &request(
            "RCPT",
            "t1",
            "127.0.0.5",
            "x@temp.example.org",
            "bob@test.example",
        ),
    );
    assert_eq!(
        temp,
        "DEFER_IF_PERMIT 4.7.24 SPF temporary error, try again later"
    );
    // Softfail is not refused by SPF (it goes on to greylisting).
    let soft = ask(
        &mut s,
        &mut r,
        &request(
            "RCPT",
            "s1",
            "127.0.0.5",
            "x@soft.example.org",
            "bob@test.example",
        ),
    );
    assert!(
        soft.starts_with("DEFER_IF_PERMIT 4.7.1 Greylisted"),
        "{soft}"
    );
    let log = server.log_until("mallory");
    assert!(log.contains("spf=fail"), "{log}");
    // Forged messages do not use up the real sender's message quota (5 in a burst).
    for i in 0..6 {
        let forged = ask(
            &mut s,
            &mut r,
            &request(
                "MAIL",
                &format!("x{i}"),
                "127.0.0.5",
                "ceo@fail.example.org",
                "",
            ),
        );
        assert!(forged.starts_with("REJECT 5.7.23"), "{forged}");
    }
    let real = ask(
        &mut s,
        &mut r,
        &request("MAIL", "real", "192.0.2.7", "ceo@fail.example.org", ""),
    );
    assert!(real.starts_with("PREPEND Received-SPF: pass"), "{real}");
}

#[test]
fn message_rate_limit_refuses_with_the_limiters_code() {
    let server = server(&[]);
    let (mut s, mut r) = connect(&server.addr);
    // At MAIL (smtpd_sender_restrictions) there is no greylisting: 5 messages in a burst pass.
    for i in 0..5 {
        let action = ask(
            &mut s,
            &mut r,
            &request(
                "MAIL",
                &format!("m{i}"),
                "127.0.0.6",
                "Bulk+tag@limit.example.org",
                "",
            ),
        );
        assert!(
            action.starts_with("PREPEND Received-SPF: pass"),
            "{i}: {action}"
        );
    }
    // The 6th message of the same normalised sender is refused with 450 4.7.1.
    let refused = ask(
        &mut s,
        &mut r,
        &request("MAIL", "m5", "127.0.0.6", "bulk@LIMIT.example.org", ""),
    );
    assert!(
        refused.starts_with("450 4.7.1 Rate limit exceeded, try again later (retry in "),
        "{refused}"
    );
    // Each of its recipients gets the same answer.
    let rcpt = ask(
        &mut s,
        &mut r,
        &request(
            "RCPT",
            "m5",
            "127.0.0.6",
            "bulk@limit.example.org",
            "a@test.example",
        ),
    );
    assert_eq!(rcpt, refused);
    let line = server.log_until("limit=sender-msgs");
    assert!(line.contains("127.0.0.6"), "{line}");
}

#[test]
fn malformed_requests_are_answered_and_the_connection_goes_on() {
    let server = server(&[]);
    let (mut s, mut r) = connect(&server.addr);
    let malformed = "DEFER_IF_PERMIT 4.3.5 Policy server: malformed request";
    assert_eq!(ask(&mut s, &mut r, "no equals sign here\n\n"), malformed);
    assert_eq!(
        ask(&mut s, &mut r, "request=something_else\nsender=a@b\n\n"),
        malformed
    );
    // CRLF line ends and a missing client address are tolerated.
    assert_eq!(
        ask(
            &mut s,
            &mut r,
            "request=smtpd_access_policy\r\nprotocol_state=RCPT\r\n\r\n"
        ),
        "DUNNO"
    );
    // The connection still works after them.
    let ok = ask(
        &mut s,
        &mut r,
        &request(
            "RCPT",
            "x1",
            "127.0.0.7",
            "a@fail.example.org",
            "b@test.example",
        ),
    );
    assert!(ok.starts_with("REJECT 5.7.23"), "{ok}");
    // A line past 8 KiB cannot be resynchronised: the server closes the connection.
    let long = format!(
        "request=smtpd_access_policy\nsender={}\n\n",
        "x".repeat(9000)
    );
    let _ = s.write_all(long.as_bytes());
    let mut rest = String::new();
    assert_eq!(r.read_line(&mut rest).unwrap_or(0), 0, "{rest:?}");
    let line = server.log_until("connection end");
    assert!(
        line.contains("requests=4") && line.contains("error="),
        "{line}"
    );
}

#[test]
fn requests_on_parallel_connections_and_sigterm_stops_cleanly() {
    let mut server = server(&["--grace", "1"]);
    let conns: Vec<_> = (0..4).map(|_| connect(&server.addr)).collect();
    for (i, (mut s, mut r)) in conns.into_iter().enumerate() {
        let action = ask(
            &mut s,
            &mut r,
            &request(
                "RCPT",
                &format!("p{i}"),
                "127.0.0.8",
                "a@fail.example.org",
                "b@test.example",
            ),
        );
        assert!(action.starts_with("REJECT"), "{action}");
        if i == 3 {
            // One connection stays open over the shutdown: it is closed after the grace.
            let status = server.terminate();
            assert!(status.success(), "{status:?}");
            let mut rest = String::new();
            assert_eq!(r.read_line(&mut rest).unwrap_or(0), 0);
        }
    }
    let line = server.log_until("shutdown:");
    assert!(line.contains("connections=4"), "{line}");
}

#[test]
fn bad_arguments_and_config_are_refused() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_policy-server"))
        .args(["--listen", "127.0.0.1:0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("usage"));
    let bad = support::temp_file("bad-limits.toml", "[greylist]\ndelay = \"5 minutes\"\n");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_policy-server"))
        .args([
            "--listen",
            "127.0.0.1:0",
            "--zone",
            &data("policy-server-zone.json"),
        ])
        .args(["--config", &bad])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("[greylist] delay"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A DNS server on 127.0.0.1 (UDP and TCP on one port) for `--dns`: TXT records from `zone`,
/// NXDOMAIN for other names; names starting with `big.` are answered truncated over UDP, so
/// that the client must retry over TCP. Serves at most 200 queries per transport.
fn dns_server(zone: &'static [(&'static str, &'static str)]) -> String {
    use std::net::{TcpListener, UdpSocket};

    fn answer(query: &[u8], zone: &[(&str, &str)], udp: bool) -> Option<Vec<u8>> {
        // Question: labels from offset 12, then QTYPE and QCLASS.
        let mut at = 12;
        let mut labels = Vec::new();
        loop {
            let len = usize::from(*query.get(at)?);
            at += 1;
            if len == 0 {
                break;
            }
            labels.push(String::from_utf8_lossy(query.get(at..at + len)?).to_lowercase());
            at += len;
        }
        let name = labels.join(".");
        let qtype = u16::from_be_bytes([*query.get(at)?, *query.get(at + 1)?]);
        let question = query.get(12..at + 4)?;
        let txt = zone
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, t)| *t)
            .filter(|_| qtype == 16);
        let truncated = udp && name.starts_with("big.");
        let known = zone.iter().any(|(n, _)| *n == name);
        let mut out = query.get(..2)?.to_vec();
        out.push(if truncated { 0x83 } else { 0x81 });
        out.push(if known { 0x80 } else { 0x83 });
        let ancount = u16::from(txt.is_some() && !truncated);
        for n in [1u16, ancount, 0, 0] {
            out.extend_from_slice(&n.to_be_bytes());
        }
        out.extend_from_slice(question);
        if let (Some(txt), false) = (txt, truncated) {
            out.extend_from_slice(&[0xc0, 0x0c, 0, 16, 0, 1, 0, 0, 0, 60]);
            let len = u8::try_from(txt.len()).unwrap();
            out.extend_from_slice(&(u16::from(len) + 1).to_be_bytes());
            out.push(len);
            out.extend_from_slice(txt.as_bytes());
        }
        Some(out)
    }

    // A UDP port whose TCP twin is free too: other tests hold TCP ports, so retry a few times.
    let (udp, addr, tcp) = (0..50)
        .find_map(|_| {
            let udp = UdpSocket::bind("127.0.0.1:0").ok()?;
            let addr = udp.local_addr().ok()?;
            let tcp = TcpListener::bind(addr).ok()?;
            Some((udp, addr, tcp))
        })
        .expect("a free UDP/TCP port pair on 127.0.0.1");
    udp.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    thread::spawn(move || {
        let mut buf = [0u8; 512];
        for _ in 0..200 {
            let Ok((n, from)) = udp.recv_from(&mut buf) else {
                return;
            };
            if let Some(reply) = answer(&buf[..n], zone, true) {
                let _ = udp.send_to(&reply, from);
            }
        }
    });
    thread::spawn(move || {
        use std::io::Read;
        for stream in tcp.incoming().take(200) {
            let Ok(mut stream) = stream else { return };
            let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
            let mut len = [0u8; 2];
            if stream.read_exact(&mut len).is_err() {
                continue;
            }
            let mut query = vec![0u8; usize::from(u16::from_be_bytes(len))];
            if stream.read_exact(&mut query).is_err() {
                continue;
            }
            if let Some(reply) = answer(&query, zone, false) {
                let mut framed = u16::try_from(reply.len()).unwrap().to_be_bytes().to_vec();
                framed.extend_from_slice(&reply);
                let _ = stream.write_all(&framed);
            }
        }
    });
    addr.to_string()
}

#[test]
fn live_dns_over_udp_with_tcp_fallback() {
    static ZONE: &[(&str, &str)] = &[
        ("dns.example.org", "v=spf1 ip4:127.0.0.0/8 -all"),
        ("big.example.org", "v=spf1 ip4:127.0.0.0/8 -all"),
        ("deny.example.org", "v=spf1 -all"),
    ];
    let dns = dns_server(ZONE);
    let config = data("policy-server-test.toml");
    let server = start(
        env!("CARGO_BIN_EXE_policy-server"),
        &[
            "--listen",
            "127.0.0.1:0",
            "--dns",
            &dns,
            "--config",
            &config,
        ],
    );
    let (mut s, mut r) = connect(&server.addr);
    let mail = |s: &mut TcpStream, r: &mut BufReader<TcpStream>, i: &str, sender: &str| {
        ask(s, r, &request("MAIL", i, "127.0.0.11", sender, ""))
    };
    let pass = mail(&mut s, &mut r, "d1", "a@dns.example.org");
    assert!(
        pass.starts_with("PREPEND Received-SPF: pass (unknown: domain of a@dns.example.org"),
        "{pass}"
    );
    // Truncated over UDP, answered over TCP.
    let big = mail(&mut s, &mut r, "d2", "a@big.example.org");
    assert!(big.starts_with("PREPEND Received-SPF: pass"), "{big}");
    let none = mail(&mut s, &mut r, "d3", "a@nx.example.org");
    assert!(none.starts_with("PREPEND Received-SPF: none"), "{none}");
    let fail = mail(&mut s, &mut r, "d4", "a@deny.example.org");
    assert!(fail.starts_with("REJECT 5.7.23 SPF fail"), "{fail}");
}

#[test]
fn unreachable_dns_is_a_temporary_error() {
    // A UDP port nobody answers on: every query times out (2 s) and SPF is temperror.
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = silent.local_addr().unwrap().to_string();
    let server = start(
        env!("CARGO_BIN_EXE_policy-server"),
        &["--listen", "127.0.0.1:0", "--dns", &addr],
    );
    let (mut s, mut r) = connect(&server.addr);
    let action = ask(
        &mut s,
        &mut r,
        &request(
            "RCPT",
            "u1",
            "127.0.0.12",
            "a@example.org",
            "b@test.example",
        ),
    );
    assert_eq!(
        action,
        "DEFER_IF_PERMIT 4.7.24 SPF temporary error, try again later"
    );
    drop(silent);
}

#[test]
fn connect_state_applies_connection_rate_limits() {
    let config = support::temp_file(
        "connect-limits.toml",
        "[[rate]]\nname = \"conn\"\non = \"connect\"\nkey = \"client\"\ncount = 2\nperiod = \"60s\"\n",
    );
    let server = start(
        env!("CARGO_BIN_EXE_policy-server"),
        &[
            "--listen",
            "127.0.0.1:0",
            "--zone",
            &data("policy-server-zone.json"),
            "--config",
            &config,
        ],
    );
    let (mut s, mut r) = connect(&server.addr);
    for _ in 0..2 {
        let action = ask(
            &mut s,
            &mut r,
            &request("CONNECT", "", "127.0.0.13", "", ""),
        );
        assert_eq!(action, "DUNNO");
    }
    let refused = ask(
        &mut s,
        &mut r,
        &request("CONNECT", "", "127.0.0.13", "", ""),
    );
    assert!(
        refused.starts_with("421 4.7.0 Too many connections, try again later (retry in 30s)"),
        "{refused}"
    );
    // Another client is not affected.
    let other = ask(
        &mut s,
        &mut r,
        &request("CONNECT", "", "127.0.0.14", "", ""),
    );
    assert_eq!(other, "DUNNO");
}
