//! `postern policy simulate --redis URL`: on an empty Redis, the same output as in memory for
//! every shared trace and the examples; state persists across runs; a Redis that cannot be
//! reached ends the run with an error. Needs `redis-server` (see postern-redis's testing).
#![allow(clippy::disallowed_methods)]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use postern_redis::testing::RedisServer;

const TESTDATA: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/testdata/policy"
);
const EXAMPLES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/data");

fn simulate(config: &Path, events: &Path, redis: Option<&str>) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_postern"));
    cmd.args(["policy", "simulate", "--config"])
        .arg(config)
        .arg(events);
    if let Some(url) = redis {
        cmd.args(["--redis", url]);
    }
    cmd.output().expect("run postern")
}

/// An empty Redis: the test server keeps nothing across a restart.
fn flush(server: &mut RedisServer) {
    server.restart().unwrap_or_else(|e| panic!("{e}"));
}

/// Every `(config, events)` pair: the shared traces, the example, and one that exercises
/// strict mode, leases with reserved slots, greylisting with auto-allow and the tarpit.
fn cases(dir: &Path) -> Vec<(PathBuf, PathBuf)> {
    let mut out = Vec::new();
    for entry in fs::read_dir(TESTDATA).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_owned();
        if let Some(stem) = name.strip_suffix(".events.jsonl") {
            out.push((Path::new(TESTDATA).join(format!("{stem}.toml")), path));
        }
    }
    out.sort();
    assert!(out.len() >= 3);
    out.push((
        Path::new(EXAMPLES).join("policy.toml"),
        Path::new(EXAMPLES).join("policy-events.jsonl"),
    ));
    let config = dir.join("mixed.toml");
    fs::write(
        &config,
        r#"
[[rate]]
name = "conn"
on = "connect"
key = "client"
count = 2
period = "10s"
mode = "strict"

[[rate]]
name = "rcpt"
on = "rcpt"
key = "sender"
count = 3
period = "1m"
burst = 2

[concurrency]
per_client = 1
total = 2
reserved = 1
allow = ["198.51.100.0/24"]
lease_ttl = "5s"

[greylist]
delay = "2s"
retry_window = "1m"
pass_ttl = "1h"
auto_allow_after = 1

[tarpit]
half_life = "10s"
delay_per_point = "500ms"
ban_threshold = 3
"#,
    )
    .unwrap();
    let events = dir.join("mixed.events.jsonl");
    let mut lines = Vec::new();
    let mut t = 0;
    for round in 0..6_u64 {
        for (conn, ip) in [(1, "192.0.2.1"), (2, "192.0.2.2"), (3, "198.51.100.7")] {
            let c = round * 10 + conn;
            t += 700;
            lines.push(format!(
                r#"{{"t": {t}, "event": "connect", "conn": {c}, "ip": "{ip}"}}"#
            ));
            lines.push(format!(
                r#"{{"t": {t}, "event": "mail", "conn": {c}, "sender": "s{conn}@example.org"}}"#
            ));
            for r in 0..2 {
                let status = if round % 2 == 1 && r == 1 {
                    "unknown"
                } else {
                    "ok"
                };
                lines.push(format!(
                    r#"{{"t": {t}, "event": "rcpt", "conn": {c}, "rcpt": "r{r}@example.net", "status": "{status}"}}"#
                ));
            }
            if round % 3 == 0 {
                lines.push(format!(r#"{{"t": {t}, "event": "error", "conn": {c}}}"#));
            }
            if round % 2 == 0 {
                lines.push(format!(
                    r#"{{"t": {t}, "event": "disconnect", "conn": {c}}}"#
                ));
            }
        }
    }
    fs::write(&events, lines.join("\n") + "\n").unwrap();
    out.push((config, events));
    out.push(greylist_first(dir));
    out
}

/// `[greylist]` before an rcpt limiter, both refusing one rcpt: greylisting is named (its
/// peek, then its record), and the recipient passes greylisting 300 s later.
fn greylist_first(dir: &Path) -> (PathBuf, PathBuf) {
    let config = dir.join("greylist-first.toml");
    fs::write(
        &config,
        "[greylist]\ndelay = \"300s\"\n\n[[rate]]\nname = \"rcpts\"\non = \"rcpt\"\n\
         key = \"client\"\ncount = 1\nperiod = \"60s\"\n",
    )
    .unwrap();
    let events = dir.join("greylist-first.events.jsonl");
    let mut lines = vec![
        r#"{"t": 0, "event": "connect", "conn": 1, "ip": "192.0.2.1"}"#.to_owned(),
        r#"{"t": 0, "event": "mail", "conn": 1, "sender": "a@example.org"}"#.to_owned(),
    ];
    for (t, rcpt) in [
        (0, 1),
        (300_000, 1),
        (300_001, 2),
        (360_000, 3),
        (600_001, 2),
    ] {
        lines.push(format!(
            r#"{{"t": {t}, "event": "rcpt", "conn": 1, "rcpt": "b{rcpt}@example.net"}}"#
        ));
    }
    fs::write(&events, lines.join("\n") + "\n").unwrap();
    (config, events)
}

#[test]
fn redis_gives_the_in_memory_output() {
    let mut server = RedisServer::start().unwrap_or_else(|e| panic!("{e}"));
    let dir = std::env::temp_dir().join(format!("postern-redis-cli-{}", std::process::id()));
    fs::create_dir_all(&dir).unwrap();
    for (config, events) in cases(&dir) {
        flush(&mut server);
        let memory = simulate(&config, &events, None);
        if config.ends_with("greylist-first.toml") {
            let text = String::from_utf8_lossy(&memory.stdout);
            assert_eq!(text.matches(r#""limit": "greylist""#).count(), 3, "{text}");
            assert_eq!(text.matches(r#""limit": "rcpts""#).count(), 0, "{text}");
        }
        assert!(memory.status.success(), "{}", events.display());
        let shared = simulate(&config, &events, Some(&server.url()));
        assert!(
            shared.status.success(),
            "{}: {}",
            events.display(),
            String::from_utf8_lossy(&shared.stderr)
        );
        let (m, s) = (
            String::from_utf8(memory.stdout).unwrap(),
            String::from_utf8(shared.stdout).unwrap(),
        );
        for (i, (a, b)) in m.lines().zip(s.lines()).enumerate() {
            assert_eq!(a, b, "{} line {}", events.display(), i + 1);
        }
        assert_eq!(m.lines().count(), s.lines().count());
    }
    // State is shared across runs: replaying the rate trace again refuses more.
    let conn_rate = (
        Path::new(TESTDATA).join("conn-rate.toml"),
        Path::new(TESTDATA).join("conn-rate.events.jsonl"),
    );
    flush(&mut server);
    let first = simulate(&conn_rate.0, &conn_rate.1, Some(&server.url()));
    let second = simulate(&conn_rate.0, &conn_rate.1, Some(&server.url()));
    let accepted = |o: &Output| {
        String::from_utf8_lossy(&o.stdout)
            .matches("\"decision\": \"accept\"")
            .count()
    };
    assert!(accepted(&second) < accepted(&first));
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn unreachable_redis_ends_the_run() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("redis://127.0.0.1:{port}/");
    let out = simulate(
        &Path::new(TESTDATA).join("conn-rate.toml"),
        &Path::new(TESTDATA).join("conn-rate.events.jsonl"),
        Some(&url),
    );
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("line 1") && stderr.contains("redis"),
        "{stderr}"
    );
    let bad = simulate(
        &Path::new(TESTDATA).join("conn-rate.toml"),
        &Path::new(TESTDATA).join("conn-rate.events.jsonl"),
        Some("not a url"),
    );
    assert_eq!(bad.status.code(), Some(2));
}
