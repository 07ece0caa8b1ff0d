//! `postern policy simulate` over every trace of `shared/testdata/policy` (the acceptance
//! contract), and `postern policy bounce`.
// Reading the trace files and running the binary is the point of these tests; the
// workspace's disallowed-methods list keeps I/O out of library code, not out of its tests.
#![allow(clippy::disallowed_methods)]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::fmt::Write as _;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;

const TESTDATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/testdata");
const EXAMPLES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/data");

fn postern(args: &[&str], stdin: Option<&[u8]>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_postern"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run postern");
    {
        let mut pipe = child.stdin.take().unwrap();
        if let Some(input) = stdin {
            pipe.write_all(input).unwrap();
        }
    }
    child.wait_with_output().unwrap()
}

/// The `(config, events, expected)` triples of the policy traces; fails when there are none.
fn traces() -> Vec<(PathBuf, PathBuf, PathBuf)> {
    let dir = Path::new(TESTDATA).join("policy");
    let entries = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("policy testdata missing at {}: {e}", dir.display()));
    let mut out = Vec::new();
    for entry in entries {
        let path = entry.unwrap().path();
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        if let Some(stem) = name.strip_suffix(".events.jsonl") {
            let config = dir.join(format!("{stem}.toml"));
            let expected = dir.join(format!("{stem}.expected.jsonl"));
            assert!(config.is_file(), "{} has no config", path.display());
            assert!(
                expected.is_file(),
                "{} has no expected output",
                path.display()
            );
            out.push((config, path.clone(), expected));
        }
    }
    out.sort();
    assert!(
        out.len() >= 3,
        "expected at least 3 policy traces in {}",
        dir.display()
    );
    out
}

fn lines(text: &str) -> Vec<&str> {
    text.lines().filter(|l| !l.trim().is_empty()).collect()
}

#[test]
fn simulate_matches_every_trace() {
    for (config, events, expected) in traces() {
        let out = postern(
            &[
                "policy",
                "simulate",
                "--config",
                config.to_str().unwrap(),
                events.to_str().unwrap(),
            ],
            None,
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{}: {stderr}", events.display());
        let got = String::from_utf8(out.stdout).unwrap();
        let want = fs::read_to_string(&expected).unwrap();
        let (got, want) = (lines(&got), lines(&want));
        assert_eq!(got.len(), want.len(), "{}: line count", events.display());
        for (i, (g, w)) in got.iter().zip(&want).enumerate() {
            let gv: Value = serde_json::from_str(g).unwrap();
            let wv: Value = serde_json::from_str(w).unwrap();
            assert_eq!(gv, wv, "{} line {}", events.display(), i + 1);
            // The text is identical too (key order and spacing of the contract).
            assert_eq!(g, w, "{} line {} (text)", events.display(), i + 1);
        }
    }
}

#[test]
fn simulate_reads_stdin() {
    let (config, events, expected) = traces().remove(0);
    let input = fs::read(&events).unwrap();
    let out = postern(
        &[
            "policy",
            "simulate",
            "--config",
            config.to_str().unwrap(),
            "-",
        ],
        Some(&input),
    );
    assert!(out.status.success());
    assert_eq!(
        lines(&String::from_utf8(out.stdout).unwrap()),
        lines(&fs::read_to_string(expected).unwrap())
    );
}

fn simulate_text(config: &str, events: &str) -> (Output, Vec<Value>) {
    let dir = std::env::temp_dir().join(format!("postern-policy-cli-{}", std::process::id()));
    fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("{:x}.toml", fxhash(config)));
    fs::write(&path, config).unwrap();
    let out = postern(
        &["policy", "simulate", "--config", path.to_str().unwrap()],
        Some(events.as_bytes()),
    );
    let values = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    (out, values)
}

fn fxhash(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    })
}

#[test]
fn strict_mode_and_multiple_limiters() {
    let config = r#"
[[rate]]
name = "per-sender"
on = "mail"
key = "sender"
count = 2
period = "10s"

[[rate]]
name = "strict-client"
on = "mail"
key = "client"
count = 1
period = "10s"
burst = 1
mode = "strict"
"#;
    let events = r#"{"t": 0, "event": "connect", "conn": 1, "ip": "192.0.2.9"}
{"t": 0, "event": "mail", "conn": 1, "sender": "A+x@Example.org"}
{"t": 1000, "event": "mail", "conn": 1, "sender": "a@example.org"}
{"t": 12000, "event": "mail", "conn": 1, "sender": "prvs=1234567890=a@example.org"}
"#;
    let (out, v) = simulate_text(config, events);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(v[1]["decision"], "accept");
    // The strict limiter refuses and records the attempt (TAT 10 s -> 20 s): a retry can
    // pass at 20 s, 19 s from now.
    assert_eq!(v[2]["decision"], "defer");
    assert_eq!(v[2]["code"], 450);
    assert_eq!(v[2]["enhanced"], "4.7.1");
    assert_eq!(v[2]["limit"], "strict-client");
    assert_eq!(v[2]["retry_after_ms"], 19000);
    // At 12 s a leaky limiter would pass; strict still refuses (TAT 20 s -> 30 s). The sender
    // limiter was not charged by the refused events: it still allows.
    assert_eq!(v[3]["limit"], "strict-client");
    assert_eq!(v[3]["retry_after_ms"], 18000);
}

#[test]
fn message_limits_unknown_recipients_and_tarpit() {
    let config = r#"
[subjects]
ipv4_prefix = 24

[limits]
max_message_size = 1000
max_recipients = 1
soft_error_limit = 1
hard_error_limit = 3
error_delay = "1s"

[tarpit]
half_life = "10m"
delay_per_point = "2s"
max_delay = "5s"
ban_threshold = 3
"#;
    let events = r#"{"t": 0, "event": "connect", "conn": 1, "ip": "192.0.2.1"}
{"t": 1, "event": "mail", "conn": 1, "sender": "x@y.example", "size": 5000}
{"t": 2, "event": "mail", "conn": 1, "sender": "x@y.example"}
{"t": 3, "event": "rcpt", "conn": 1, "rcpt": "a@z.example"}
{"t": 4, "event": "rcpt", "conn": 1, "rcpt": "b@z.example"}
{"t": 5, "event": "data", "conn": 1, "size": 1001}
{"t": 6, "event": "rcpt", "conn": 1, "rcpt": "nobody@z.example", "status": "unknown"}
{"t": 7, "event": "connect", "conn": 2, "ip": "192.0.2.200"}
{"t": 8, "event": "rcpt", "conn": 1, "rcpt": "nobody2@z.example", "status": "unknown"}
{"t": 9, "event": "rcpt", "conn": 1, "rcpt": "nobody3@z.example", "status": "unknown"}
{"t": 10, "event": "disconnect", "conn": 1}
{"t": 11, "event": "connect", "conn": 3, "ip": "192.0.2.77"}
{"t": 12, "event": "disconnect", "conn": 3}
"#;
    let (out, v) = simulate_text(config, events);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        (v[1]["decision"].as_str(), v[1]["code"].as_u64()),
        (Some("reject"), Some(552))
    );
    assert_eq!(v[1]["enhanced"], "5.3.4");
    assert_eq!(v[2]["decision"], "accept");
    assert_eq!(v[3]["decision"], "accept");
    assert_eq!(
        (v[4]["code"].as_u64(), v[4]["enhanced"].as_str()),
        (Some(452), Some("4.5.3"))
    );
    assert_eq!(v[5]["code"], 552);
    assert_eq!(
        (v[6]["code"].as_u64(), v[6]["enhanced"].as_str()),
        (Some(550), Some("5.1.1"))
    );
    // One point in the /24: the next connection's greeting waits 2 s.
    assert_eq!(v[7]["decision"], "accept");
    assert_eq!(v[7]["delay_ms"], 2000);
    // Second error: beyond the soft limit, delayed.
    assert_eq!(v[8]["delay_ms"], 2000);
    // Third error: the hard limit drops the session.
    assert_eq!(v[9]["decision"], "disconnect");
    assert_eq!(v[9]["limit"], "errors");
    // Three points: the /24 is banned.
    assert_eq!(v[11]["decision"], "disconnect");
    assert_eq!(v[11]["limit"], "tarpit");
    assert_eq!(v[11]["code"], 421);
}

#[test]
fn greylist_sender_rcpt_ignores_client() {
    let config = "[greylist]\nkey = \"sender_rcpt\"\ndelay = \"1m\"\n";
    let events = r#"{"t": 0, "event": "connect", "conn": 1, "ip": "192.0.2.1"}
{"t": 0, "event": "mail", "conn": 1, "sender": "n@s.example"}
{"t": 0, "event": "rcpt", "conn": 1, "rcpt": "Bob@R.example"}
{"t": 60000, "event": "connect", "conn": 2, "ip": "198.51.100.1"}
{"t": 60000, "event": "mail", "conn": 2, "sender": "N@S.example"}
{"t": 60000, "event": "rcpt", "conn": 2, "rcpt": "bob@r.example"}
"#;
    let (out, v) = simulate_text(config, events);
    assert!(out.status.success());
    assert_eq!(v[2]["retry_after_ms"], 60000);
    assert_eq!(v[5]["decision"], "accept");
}

/// `[greylist]` and an `on = "rcpt"` limiter that both refuse: the one first in the file is
/// named ("the first refusing one in configuration order"), and greylisting records its
/// first sighting only when it is the one named ("a refused event is not counted by the
/// other limiters").
#[test]
fn greylist_and_a_rate_limiter_refusing_one_rcpt_name_the_first_in_the_file() {
    let greylist = "[greylist]\nkey = \"triplet\"\ndelay = \"300s\"\n";
    let rate = "[[rate]]\nname = \"rcpts\"\non = \"rcpt\"\nkey = \"client\"\ncount = 1\nperiod = \"60s\"\n";
    let events = r#"{"t": 0, "event": "connect", "conn": 1, "ip": "192.0.2.1"}
{"t": 0, "event": "mail", "conn": 1, "sender": "a@example.org"}
{"t": 0, "event": "rcpt", "conn": 1, "rcpt": "b1@example.net"}
{"t": 300000, "event": "rcpt", "conn": 1, "rcpt": "b1@example.net"}
{"t": 300001, "event": "rcpt", "conn": 1, "rcpt": "b2@example.net"}
{"t": 600001, "event": "rcpt", "conn": 1, "rcpt": "b2@example.net"}
"#;
    let summary = |v: &[Value]| -> Vec<String> {
        v.iter()
            .map(|d| format!("{} {} {}", d["decision"], d["limit"], d["retry_after_ms"]))
            .collect()
    };
    // Greylisting first: both refuse b2 at 300001, greylisting is named and records it, so
    // b2 passes 300 s later. The rate limiter first: it is named at 300001, and greylisting
    // has not seen b2 when it comes back (a first sighting then, not a pass).
    let greylist_first = format!("{greylist}\n{rate}");
    let rate_first = format!("{rate}\n{greylist}");
    for (config, at_300001, at_600001) in [
        (
            &greylist_first,
            "\"greylist\" 300000",
            "\"accept\" null null",
        ),
        (
            &rate_first,
            "\"rcpts\" 59999",
            "\"defer\" \"greylist\" 300000",
        ),
    ] {
        let (out, v) = simulate_text(config, events);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            summary(&v)[2..],
            [
                "\"defer\" \"greylist\" 300000",
                "\"accept\" null null",
                &format!("\"defer\" {at_300001}"),
                at_600001,
            ],
            "{config}"
        );
    }
}

#[test]
fn clock_stepping_back_is_the_latest_time_for_every_limit() {
    // "A `t` smaller than one already seen is treated as the latest one" (crate README): the
    // simulator's clock, not each limiter's own, which only sees the events it checks.
    let config = r#"
[[rate]]
name = "conn"
on = "connect"
key = "client"
count = 1
period = "100ms"

[greylist]
delay = "10ms"
"#;
    let events = r#"{"t": 0, "event": "connect", "conn": 1, "ip": "192.0.2.1"}
{"t": 0, "event": "mail", "conn": 1, "sender": "a@example.org"}
{"t": 0, "event": "rcpt", "conn": 1, "rcpt": "b@example.net"}
{"t": 1000, "event": "noop", "conn": 1}
{"t": 5, "event": "rcpt", "conn": 1, "rcpt": "b@example.net"}
{"t": 50, "event": "connect", "conn": 2, "ip": "192.0.2.1"}
"#;
    let (out, v) = simulate_text(config, events);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(v[2]["retry_after_ms"], 10);
    // At the latest time, 1000 ms, the retry is past the greylisting delay ...
    assert_eq!(v[4]["decision"], "accept");
    assert_eq!(v[4]["t"], 5, "the event's own t is echoed");
    // ... and past the connection limiter's emission interval.
    assert_eq!(v[5]["decision"], "accept");
}

#[test]
fn limits_at_and_one_past_their_edges() {
    // T = 20 ms / 2 = 10 ms, burst 3: three at once, the fourth waits T; then one per T. The
    // greylisting delay (10 ms), retry window (20 ms) and pass TTL (5 ms) pass at their
    // edges and start over one past them.
    let config = r#"
[[rate]]
name = "conn"
on = "connect"
key = "client"
count = 2
period = "20ms"
burst = 3

[greylist]
delay = "10ms"
retry_window = "20ms"
pass_ttl = "5ms"
"#;
    let events = r#"{"t": 0, "event": "connect", "conn": 1, "ip": "192.0.2.1"}
{"t": 0, "event": "disconnect", "conn": 1}
{"t": 0, "event": "connect", "conn": 2, "ip": "192.0.2.1"}
{"t": 0, "event": "disconnect", "conn": 2}
{"t": 0, "event": "connect", "conn": 3, "ip": "192.0.2.1"}
{"t": 0, "event": "disconnect", "conn": 3}
{"t": 0, "event": "connect", "conn": 4, "ip": "192.0.2.1"}
{"t": 0, "event": "disconnect", "conn": 4}
{"t": 10, "event": "connect", "conn": 5, "ip": "192.0.2.1"}
{"t": 10, "event": "disconnect", "conn": 5}
{"t": 10, "event": "connect", "conn": 6, "ip": "192.0.2.1"}
{"t": 10, "event": "disconnect", "conn": 6}
{"t": 19, "event": "connect", "conn": 7, "ip": "192.0.2.1"}
{"t": 19, "event": "disconnect", "conn": 7}
{"t": 20, "event": "connect", "conn": 8, "ip": "192.0.2.1"}
{"t": 20, "event": "disconnect", "conn": 8}
{"t": 20, "event": "connect", "conn": 100, "ip": "198.51.100.1"}
{"t": 20, "event": "mail", "conn": 100, "sender": "a@example.org"}
{"t": 20, "event": "rcpt", "conn": 100, "rcpt": "b@example.net"}
{"t": 29, "event": "rcpt", "conn": 100, "rcpt": "b@example.net"}
{"t": 30, "event": "rcpt", "conn": 100, "rcpt": "B@Example.NET"}
{"t": 35, "event": "rcpt", "conn": 100, "rcpt": "b@example.net"}
{"t": 41, "event": "rcpt", "conn": 100, "rcpt": "b@example.net"}
{"t": 61, "event": "rcpt", "conn": 100, "rcpt": "b@example.net"}
{"t": 61, "event": "rcpt", "conn": 100, "rcpt": "c@example.net"}
{"t": 82, "event": "rcpt", "conn": 100, "rcpt": "c@example.net"}
"#;
    let (out, v) = simulate_text(config, events);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // (decision, limit, retry_after_ms), one per event.
    let want = [
        ("accept", "", 0),
        ("accept", "", 0),
        ("accept", "", 0),
        ("accept", "", 0),
        ("accept", "", 0),
        ("accept", "", 0),
        ("disconnect", "conn", 10),
        ("accept", "", 0),
        ("accept", "", 0),
        ("accept", "", 0),
        ("disconnect", "conn", 10),
        ("accept", "", 0),
        ("disconnect", "conn", 1),
        ("accept", "", 0),
        ("accept", "", 0),
        ("accept", "", 0),
        ("accept", "", 0),
        ("accept", "", 0),
        ("defer", "greylist", 10),
        ("defer", "greylist", 1),
        ("accept", "", 0),
        ("accept", "", 0),
        ("defer", "greylist", 10),
        ("accept", "", 0),
        ("defer", "greylist", 10),
        ("defer", "greylist", 10),
    ];
    assert_eq!(v.len(), want.len());
    for (i, (got, (decision, limit, retry))) in v.iter().zip(want).enumerate() {
        assert_eq!(got["decision"], decision, "line {}", i + 1);
        assert_eq!(got["limit"].as_str().unwrap_or(""), limit, "line {}", i + 1);
        assert_eq!(
            got["retry_after_ms"].as_u64().unwrap_or(0),
            retry,
            "line {}",
            i + 1
        );
    }
}

#[test]
fn bad_input_fails_with_the_line() {
    let (out, _) = simulate_text("[[rate]]\nname = \"x\"\n", "");
    assert_eq!(out.status.code(), Some(2));
    let (out, _) = simulate_text(
        "[[rate]]\nname = \"x\"\non = \"connect\"\nkey = \"client\"\ncount = 1\nperiod = \"1w\"\n",
        "",
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown unit"));
    let (out, v) = simulate_text(
        "",
        "{\"t\": 0, \"event\": \"connect\", \"conn\": 1, \"ip\": \"192.0.2.1\"}\n{\"t\": 1, \"event\": \"mail\", \"conn\": 9}\n",
    );
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(v.len(), 1);
    assert!(String::from_utf8_lossy(&out.stderr).contains("line 2"));
}

#[test]
fn example_config_runs() {
    let config = Path::new(EXAMPLES).join("policy.toml");
    let events = Path::new(EXAMPLES).join("policy-events.jsonl");
    let out = postern(
        &[
            "policy",
            "simulate",
            "--config",
            config.to_str().unwrap(),
            events.to_str().unwrap(),
        ],
        None,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let n_events = lines(&fs::read_to_string(&events).unwrap()).len();
    let got = String::from_utf8(out.stdout).unwrap();
    assert_eq!(lines(&got).len(), n_events);
    assert!(
        got.contains("\"decision\": \"defer\""),
        "the example shows a refusal"
    );
}

fn bounce(args: &[&str]) -> Value {
    let mut all = vec!["policy", "bounce"];
    all.extend_from_slice(args);
    let out = postern(&all, None);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn bounce_decisions() {
    let v = bounce(&[
        "--spf",
        "softfail",
        "--recipient",
        "unknown",
        "--after-acceptance",
    ]);
    assert_eq!(v["decision"], "suppress");
    assert_eq!(v["reason"], "spf_fail_unknown_recipient");
    assert_eq!(v["rule"], 9);
    let v = bounce(&["--spf", "fail", "--after-acceptance"]);
    assert_eq!(v["reason"], "spf_fail_unverified");
    let v = bounce(&[
        "--spf",
        "fail",
        "--dkim-aligned",
        "pass",
        "--after-acceptance",
    ]);
    assert_eq!(
        (v["decision"].as_str(), v["dsn"].as_str()),
        (Some("send_dsn"), Some("full"))
    );
    let v = bounce(&[
        "--spf",
        "fail",
        "--after-acceptance",
        "--allow-unverified-spf-fail",
    ]);
    assert_eq!(v["dsn"], "headers_only");
    let v = bounce(&["--null-sender", "--after-acceptance", "--authenticated"]);
    assert_eq!(v["reason"], "null_sender");
    let v = bounce(&["--auto-submitted", "auto-replied", "--after-acceptance"]);
    assert_eq!(v["reason"], "auto_submitted");
    let v = bounce(&["--notify", "NEVER", "--after-acceptance", "--spf", "pass"]);
    assert_eq!(v["reason"], "notify_never");
    let v = bounce(&["--content", "malware", "--after-acceptance"]);
    assert_eq!(v["decision"], "quarantine");
    let v = bounce(&["--spf", "fail", "--recipient", "unknown"]);
    assert_eq!(v["decision"], "reject_at_smtp");
    let v = bounce(&["--transient", "--after-acceptance", "--spf", "pass"]);
    assert_eq!(v["reason"], "transient");
    // An authenticated sender's transient failure: only a delay notice NOTIFY asked for.
    let v = bounce(&["--transient", "--after-acceptance", "--authenticated"]);
    assert_eq!(
        (v["reason"].as_str(), v["rule"].as_u64()),
        (Some("transient"), Some(12))
    );
    let v = bounce(&[
        "--transient",
        "--after-acceptance",
        "--authenticated",
        "--notify",
        "FAILURE,DELAY",
        "--spf",
        "fail",
    ]);
    assert_eq!(v["dsn"], "headers_only");
    let out = postern(&["policy", "bounce", "--notify", "SOMETIMES"], None);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn limits_hold_at_any_time_origin() {
    // "`t` is milliseconds (any origin …)" (shared README): limits count from the first event,
    // so an origin past what `u64` nanoseconds hold (about 1.8e13 ms) decides as one at 0.
    let config = r#"
[[rate]]
name = "conn"
on = "connect"
key = "client"
count = 1
period = "60s"
"#;
    for origin in [0_u64, 20_000_000_000_000, u64::MAX - 120_000] {
        let mut events = String::new();
        for (i, dt) in [0, 0, 59_999, 60_000].iter().enumerate() {
            let t = origin + dt;
            writeln!(
                events,
                "{{\"t\": {t}, \"event\": \"connect\", \"conn\": {i}, \"ip\": \"192.0.2.1\"}}"
            )
            .unwrap();
        }
        let (out, v) = simulate_text(config, &events);
        assert!(out.status.success(), "{origin}");
        let decisions: Vec<&str> = v.iter().map(|d| d["decision"].as_str().unwrap()).collect();
        assert_eq!(
            decisions,
            ["accept", "disconnect", "disconnect", "accept"],
            "{origin}"
        );
        assert_eq!(v[1]["retry_after_ms"], 60_000, "{origin}");
        assert_eq!(v[2]["retry_after_ms"], 1, "{origin}");
    }
}

#[test]
fn a_strict_rate_limiter_records_an_attempt_that_concurrency_refuses() {
    // "Concurrency is checked before rate limits" and "all limiters are checked, then all are
    // charged or none": a strict limiter that refuses too records the attempt (TAT 20 s → 40 s),
    // while concurrency names the refusal.
    let config = r#"
[[rate]]
name = "conn"
on = "connect"
key = "client"
count = 1
period = "20000ms"
burst = 1
mode = "strict"

[concurrency]
per_client = 1
"#;
    let events = r#"{"t": 0, "event": "connect", "conn": 1, "ip": "192.0.2.1"}
{"t": 10, "event": "connect", "conn": 2, "ip": "192.0.2.1"}
{"t": 12, "event": "disconnect", "conn": 1}
{"t": 14, "event": "connect", "conn": 3, "ip": "192.0.2.1"}
"#;
    let (out, v) = simulate_text(config, events);
    assert!(out.status.success());
    assert_eq!(v[1]["limit"], "concurrency");
    assert!(v[1].get("retry_after_ms").is_none());
    assert_eq!(v[3]["limit"], "conn");
    // Strict: computed with the TAT after this refusal too (40 s → 60 s).
    assert_eq!(v[3]["retry_after_ms"], 59_986);
}
