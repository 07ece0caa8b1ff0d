//! Helpers shared by the example programs' tests: start a program, read its address and log.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader, Read};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::thread;
use std::time::Duration;

/// A started example program; killed by its PID when dropped.
pub(crate) struct Program {
    pub(crate) child: Child,
    pub(crate) addr: String,
    log: Receiver<String>,
}

impl Drop for Program {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A file under examples/data.
pub(crate) fn data(name: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("data")
        .join(name)
        .to_string_lossy()
        .into_owned()
}

/// Write `text` to a fresh file in the target's temp dir and return its path.
pub(crate) fn temp_file(name: &str, text: &str) -> String {
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let path = dir.join(format!("{}-{n}-{name}", std::process::id()));
    std::fs::write(&path, text).unwrap();
    path.to_string_lossy().into_owned()
}

/// Start `bin` with `args`; waits for its `listening on ADDR` line.
pub(crate) fn start(bin: &str, args: &[&str]) -> Program {
    let mut child = Command::new(bin)
        .args(args)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout: ChildStdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let first = lines.next().expect("a first line").unwrap();
    let addr = first
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("not a listening line: {first:?}"))
        .to_owned();
    let (tx, log) = mpsc::channel();
    thread::spawn(move || {
        for line in lines.map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    Program { child, addr, log }
}

impl Program {
    /// The next log line, waiting up to 10 s.
    pub(crate) fn log_line(&self) -> String {
        self.log
            .recv_timeout(Duration::from_secs(10))
            .expect("a log line within 10 s")
    }

    /// Log lines until one contains `needle` (at most 100 lines, 10 s each).
    pub(crate) fn log_until(&self, needle: &str) -> String {
        for _ in 0..100 {
            let line = self.log_line();
            if line.contains(needle) {
                return line;
            }
        }
        panic!("no log line with {needle:?}");
    }

    /// Send SIGTERM (with kill(1): no unsafe code) and wait up to 10 s for a clean exit.
    pub(crate) fn terminate(&mut self) -> std::process::ExitStatus {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        for _ in 0..100 {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            thread::sleep(Duration::from_millis(100));
        }
        panic!("no exit within 10 s of SIGTERM");
    }
}

/// Connect with 10 s timeouts.
pub(crate) fn connect(addr: &str) -> (TcpStream, BufReader<TcpStream>) {
    let stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let reader = BufReader::new(stream.try_clone().unwrap());
    (stream, reader)
}

/// One SMTP reply (all its lines).
pub(crate) fn read_reply(reader: &mut BufReader<TcpStream>) -> String {
    let mut out = String::new();
    for _ in 0..100 {
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
    panic!("reply longer than 100 lines: {out:?}");
}

/// Whether the peer closed the connection (EOF or reset) within 10 s.
pub(crate) fn closed(reader: &mut BufReader<TcpStream>) -> bool {
    let mut rest = Vec::new();
    match reader.read_to_end(&mut rest) {
        Ok(_) => true,
        Err(e) => e.kind() == std::io::ErrorKind::ConnectionReset,
    }
}
