//! Run the example proxy between a scripted upstream and a client, on loopback.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::Duration;

/// A one-session upstream MTA: greeting, a Gmail-like EHLO reply, then 250 for each line.
fn upstream() -> (String, thread::JoinHandle<Vec<u8>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let handle = thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
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
                include_bytes!("../data/gmail-ehlo.smtp")
            } else if line.starts_with(b"QUIT") {
                writer.write_all(b"221 2.0.0 bye\r\n").unwrap();
                break;
            } else {
                b"250 2.0.0 ok\r\n"
            };
            writer.write_all(reply).unwrap();
            line.clear();
        }
        seen
    });
    (addr, handle)
}

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn read_reply(reader: &mut BufReader<TcpStream>) -> String {
    let mut out = String::new();
    loop {
        let mut line = String::new();
        assert!(
            reader.read_line(&mut line).unwrap() > 0,
            "connection closed after {out:?}"
        );
        out.push_str(&line);
        if line.as_bytes().get(3) != Some(&b'-') {
            return out;
        }
    }
}

#[test]
fn client_sees_no_starttls_and_gets_502_while_mail_commands_reach_the_upstream() {
    let (up_addr, up) = upstream();
    let mut child = Command::new(env!("CARGO_BIN_EXE_ehlo-filter-proxy"))
        .args(["127.0.0.1:0", &up_addr])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let guard = Killed(child);
    let mut first = String::new();
    stdout.read_line(&mut first).unwrap();
    let addr = first
        .trim()
        .strip_prefix("listening on ")
        .expect("listening line")
        .to_owned();

    let client = TcpStream::connect(&addr).unwrap();
    client
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut writer = client.try_clone().unwrap();
    let mut reader = BufReader::new(client);
    assert_eq!(read_reply(&mut reader), "220 mx.example.net ESMTP\r\n");
    // Pipelined: the local 502 must come after the EHLO reply.
    writer
        .write_all(b"EHLO client.example\r\nSTARTTLS\r\n")
        .unwrap();
    let ehlo = read_reply(&mut reader);
    assert!(
        ehlo.starts_with("250-mx.google.com") && !ehlo.contains("STARTTLS"),
        "{ehlo}"
    );
    assert!(ehlo.ends_with("250 SMTPUTF8\r\n"));
    assert_eq!(
        read_reply(&mut reader),
        "502 5.5.1 Error: command not implemented\r\n"
    );
    writer
        .write_all(b"MAIL FROM:<a@example.org>\r\nQUIT\r\n")
        .unwrap();
    assert_eq!(read_reply(&mut reader), "250 2.0.0 ok\r\n");
    assert_eq!(read_reply(&mut reader), "221 2.0.0 bye\r\n");
    let mut rest = Vec::new();
    let _ = reader.read_to_end(&mut rest);

    let seen = up.join().unwrap();
    assert_eq!(
        seen,
        b"EHLO client.example\r\nMAIL FROM:<a@example.org>\r\nQUIT\r\n"
    );
    let mut log = String::new();
    stdout.read_line(&mut log).unwrap();
    assert!(log.contains("state=plaintext"), "{log}");
    drop(guard);
}
