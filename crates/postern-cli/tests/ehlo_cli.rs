//! `postern ehlo parse|strip` against the shared EHLO fixtures' manifest: the CLI contract used
//! by acceptance checks.
// Tests run the binary, read fixture files and panic on mismatch.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

use serde_json::Value;

fn ehlo_dir() -> PathBuf {
    let dir = std::env::var_os("POSTERN_TESTDATA").map_or_else(
        || {
            PathBuf::from(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../../shared/testdata"
            ))
        },
        PathBuf::from,
    );
    dir.join("ehlo")
}

fn postern(args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_postern"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    child.wait_with_output().unwrap()
}

/// Every key of `want` is in `got` with an equal value (objects recursively, arrays elementwise).
fn assert_subset(want: &Value, got: &Value, path: &str) {
    match (want, got) {
        (Value::Object(w), Value::Object(g)) => {
            for (k, v) in w {
                let g = g
                    .get(k)
                    .unwrap_or_else(|| panic!("{path}.{k}: missing in {got}"));
                assert_subset(v, g, &format!("{path}.{k}"));
            }
        }
        (Value::Array(w), Value::Array(g)) => {
            assert_eq!(w.len(), g.len(), "{path}: length");
            for (i, (w, g)) in w.iter().zip(g).enumerate() {
                assert_subset(w, g, &format!("{path}[{i}]"));
            }
        }
        _ => assert_eq!(want, got, "{path}"),
    }
}

struct Case {
    raw: Value,
    input: Vec<u8>,
    context: String,
}

fn cases() -> Vec<Case> {
    let text = std::fs::read_to_string(ehlo_dir().join("manifest.json"))
        .expect("EHLO fixtures (set POSTERN_TESTDATA)");
    let m: Value = serde_json::from_str(&text).unwrap();
    m["cases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let files: Vec<Value> = match &c["input"]["file"] {
                Value::String(_) => vec![c["input"]["file"].clone()],
                _ => c["input"]["chunks"].as_array().unwrap().clone(),
            };
            let input = files
                .iter()
                .flat_map(|f| std::fs::read(ehlo_dir().join(f.as_str().unwrap())).unwrap())
                .collect();
            let context = c["context"].as_array().map_or("EHLO".to_owned(), |a| {
                a.iter()
                    .map(|v| v.as_str().unwrap())
                    .collect::<Vec<_>>()
                    .join(",")
            });
            Case {
                raw: c.clone(),
                input,
                context,
            }
        })
        .collect()
}

fn pick<'a>(case: &'a Case, key: &str, lenient: bool) -> &'a Value {
    let l = &case.raw[format!("{key}_lenient")];
    if lenient && !l.is_null() {
        l
    } else {
        &case.raw[key]
    }
}

#[test]
fn parse_prints_the_manifest_expectations_as_json() {
    let cases = cases();
    assert!(cases.len() >= 32);
    for case in &cases {
        for lenient in [false, true] {
            let id = format!("{} lenient={lenient}", case.raw["id"]);
            let mut args = vec!["ehlo", "parse", "--context", &case.context];
            if lenient {
                args.push("--lenient");
            }
            let out = postern(&args, &case.input);
            let doc: Value = serde_json::from_slice(&out.stdout)
                .unwrap_or_else(|e| panic!("{id}: bad JSON: {e}"));
            let want = pick(case, "expect", lenient);
            match want["outcome"].as_str().unwrap() {
                "ok" => {
                    assert_eq!(out.status.code(), Some(0), "{id}");
                    assert_eq!(doc["outcome"], "ok", "{id}");
                    assert_eq!(doc["error"], Value::Null, "{id}");
                    assert_subset(&want["replies"], &doc["replies"], &id);
                }
                "incomplete" => {
                    assert_eq!(out.status.code(), Some(1), "{id}");
                    assert_eq!(doc["outcome"], "error", "{id}");
                    assert_eq!(doc["error"]["kind"], want["at_eof"], "{id}");
                    assert_eq!(
                        doc["error"]["reply_index"], want["complete_replies"],
                        "{id}"
                    );
                }
                "error" => {
                    assert_eq!(out.status.code(), Some(1), "{id}");
                    assert_eq!(doc["outcome"], "error", "{id}");
                    assert_eq!(doc["error"]["kind"], want["error"], "{id}");
                    assert_eq!(doc["error"]["at_line"], want["at_line"], "{id}");
                    assert_eq!(doc["error"]["reply_index"], want["reply_index"], "{id}");
                }
                other => panic!("{id}: unknown outcome {other}"),
            }
        }
    }
}

#[test]
fn strip_writes_the_expected_bytes_or_nothing() {
    for case in &cases() {
        for lenient in [false, true] {
            let id = format!("{} lenient={lenient}", case.raw["id"]);
            let mut args = vec!["ehlo", "strip", "--context", &case.context];
            if lenient {
                args.push("--lenient");
            }
            let out = postern(&args, &case.input);
            let want = pick(case, "strip_starttls", lenient);
            if want["outcome"] == "no_output" {
                assert_eq!(out.status.code(), Some(1), "{id}");
                assert!(out.stdout.is_empty(), "{id}: wrote to stdout");
                let reason = match want["reason"].as_str().unwrap() {
                    "incomplete" => "truncated",
                    r => r,
                };
                assert!(
                    String::from_utf8_lossy(&out.stderr).contains(reason),
                    "{id}: stderr names {reason}"
                );
            } else {
                assert_eq!(
                    out.status.code(),
                    Some(0),
                    "{id}: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
                let expected =
                    std::fs::read(ehlo_dir().join(want["file"].as_str().unwrap())).unwrap();
                assert_eq!(out.stdout, expected, "{id}");
            }
        }
    }
}

#[test]
fn strip_reads_a_file_and_removes_every_keyword_given() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/data/gmail-ehlo.smtp"
    );
    let out = postern(
        &[
            "ehlo", "strip", "--remove", "STARTTLS", "--remove", "chunking", path,
        ],
        b"",
    );
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        !text.contains("STARTTLS") && !text.contains("CHUNKING"),
        "{text}"
    );
    assert!(text.ends_with("250 SMTPUTF8\r\n"), "{text}");
}

#[test]
fn replies_beyond_the_context_list_are_not_interpreted_as_ehlo() {
    let out = postern(
        &["ehlo", "parse"],
        b"250-a\r\n250 STARTTLS\r\n250-b\r\n250 STARTTLS\r\n",
    );
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["replies"][0]["ehlo"]["has_starttls"], true);
    assert_eq!(doc["replies"][1]["context"], Value::Null);
    assert_eq!(doc["replies"][1]["ehlo"], Value::Null);
    let out = postern(
        &["ehlo", "strip"],
        b"250-a\r\n250 STARTTLS\r\n250-b\r\n250 STARTTLS\r\n",
    );
    assert_eq!(out.stdout, b"250 a\r\n250-b\r\n250 STARTTLS\r\n");
}

#[test]
fn usage_errors_exit_2_and_unreadable_files_too() {
    assert_eq!(
        postern(&["ehlo", "parse", "--bogus"], b"").status.code(),
        Some(2)
    );
    assert_eq!(
        postern(&["ehlo", "parse", "/nonexistent/file"], b"")
            .status
            .code(),
        Some(2)
    );
}

#[test]
fn non_utf8_greeting_text_is_null_with_hex() {
    let out = postern(&["ehlo", "parse"], b"250-mx \xff\xfe\r\n250 8BITMIME\r\n");
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    let ehlo = &doc["replies"][0]["ehlo"];
    assert_eq!(ehlo["greeting_text"], Value::Null);
    assert_eq!(ehlo["greeting_text_hex"], "fffe");
}
