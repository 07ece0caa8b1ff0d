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
fn strip_refuses_more_keywords_than_a_filter_holds_instead_of_ignoring_some() {
    let input = b"250-mx\r\n250-AUTH PLAIN\r\n250 STARTTLS\r\n";
    let mut args = vec!["ehlo".to_owned(), "strip".to_owned()];
    for i in 0..32 {
        args.extend(["--remove".to_owned(), format!("X{i}")]);
    }
    args.extend(["--remove".to_owned(), "x0".to_owned()]);
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = postern(&refs, input);
    assert_eq!(
        out.status.code(),
        Some(0),
        "a repeated keyword is not a new one"
    );
    assert_eq!(out.stdout, input);
    args.extend(["--remove".to_owned(), "AUTH".to_owned()]);
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = postern(&refs, input);
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    assert!(String::from_utf8_lossy(&out.stderr).contains("at most 32 keywords"));
}

#[test]
fn non_utf8_greeting_text_is_null_with_hex() {
    let out = postern(&["ehlo", "parse"], b"250-mx \xff\xfe\r\n250 8BITMIME\r\n");
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    let ehlo = &doc["replies"][0]["ehlo"];
    assert_eq!(ehlo["greeting_text"], Value::Null);
    assert_eq!(ehlo["greeting_text_hex"], "fffe");
}

/// `postern ehlo parse` on `input` with the given extra arguments: exit code and JSON.
fn parse_doc(args: &[&str], input: &[u8]) -> (Option<i32>, Value) {
    let mut all = vec!["ehlo", "parse"];
    all.extend_from_slice(args);
    let out = postern(&all, input);
    let doc = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{:?}: bad JSON: {e}", String::from_utf8_lossy(input)));
    (out.status.code(), doc)
}

/// The error's `(kind, reply_index, at_line)`, or `None` when the outcome is ok (exit 0).
fn parse_error(args: &[&str], input: &[u8]) -> Option<(String, u64, u64)> {
    let (code, doc) = parse_doc(args, input);
    if doc["outcome"] == "ok" {
        assert_eq!(code, Some(0), "{doc}");
        assert_eq!(doc["error"], Value::Null);
        return None;
    }
    assert_eq!((code, &doc["outcome"]), (Some(1), &"error".into()), "{doc}");
    let e = &doc["error"];
    Some((
        e["kind"].as_str().unwrap().to_owned(),
        e["reply_index"].as_u64().unwrap(),
        e["at_line"].as_u64().unwrap(),
    ))
}

/// An expected error, as [`parse_error`] gives it.
fn err(kind: &str, reply_index: u64, at_line: u64) -> (String, u64, u64) {
    (kind.to_owned(), reply_index, at_line)
}

#[test]
fn line_limit_is_510_content_octets_raised_before_the_terminator() {
    let line = |content: usize, end: &[u8]| {
        let mut l = b"250 ".to_vec();
        l.resize(content, b'x');
        l.extend_from_slice(end);
        l
    };
    for lenient in [false, true] {
        let args: &[&str] = if lenient { &["--lenient"] } else { &[] };
        assert_eq!(parse_error(args, &line(510, b"\r\n")), None);
        assert_eq!(
            parse_error(args, &line(510, b"")),
            Some(err("truncated", 0, 1))
        );
        assert_eq!(
            parse_error(args, &line(510, b"\r")),
            Some(err("truncated", 0, 1))
        );
        for end in [&b"\r\n"[..], b"\n", b""] {
            assert_eq!(
                parse_error(args, &line(511, end)),
                Some(err("line_too_long", 0, 1))
            );
        }
        // On a later line of a later reply, with the 220 banner before it.
        let mut input = b"220 mx\r\n250-mx\r\n".to_vec();
        input.extend_from_slice(&line(511, b"\r\n"));
        assert_eq!(
            parse_error(&[&["--context", "<greeting>,EHLO"], args].concat(), &input),
            Some(err("line_too_long", 1, 2))
        );
    }
    assert_eq!(
        parse_error(&["--lenient"], &line(510, b"\n")),
        None,
        "510 octets and a bare LF"
    );
    assert_eq!(
        parse_error(&[], &line(510, b"\n")),
        Some(err("bare_lf", 0, 1))
    );
}

#[test]
fn truncation_at_eof_is_reported_in_every_state() {
    // Cut inside the code, after it, in the text, after a CR, and after a `250-` line.
    let input = b"220 mx ESMTP\r\n250-mx\r\n250-STARTTLS\r\n250 8BITMIME\r\n";
    let args = ["--context", "<greeting>,EHLO"];
    let first = 14;
    for end in 1..input.len() {
        let prefix = &input[..end];
        let got = parse_error(&args, prefix);
        if end == first {
            assert_eq!(got, None, "the banner alone is complete");
            continue;
        }
        let (kind, index, _line) = got.unwrap();
        let want_index = u64::from(end > first);
        assert_eq!(
            (kind.as_str(), index),
            ("truncated", want_index),
            "prefix {end}"
        );
        let out = postern(&[&["ehlo", "strip"], &args[..]].concat(), prefix);
        assert_eq!(out.status.code(), Some(1), "prefix {end}");
        assert!(out.stdout.is_empty(), "prefix {end}: wrote to stdout");
        assert!(String::from_utf8_lossy(&out.stderr).contains("truncated"));
    }
}

#[test]
fn framing_errors_name_the_first_offending_byte_with_kind_and_line() {
    let cases: [(&[u8], _, _); 16] = [
        (
            b"250-a\r\n250-b\r\n251 c\r\n",
            Some(err("code_mismatch", 0, 3)),
            None,
        ),
        (
            b"250-a\r\n350 b\r\n",
            Some(err("code_mismatch", 0, 2)),
            None,
        ),
        (
            b"220 x\r\n250-a\r\n250-b\r\n250-c\r\n240 d\r\n",
            Some(err("code_mismatch", 1, 4)),
            None,
        ),
        (b"250-a\r\n25x b\r\n", Some(err("bad_code", 0, 2)), None),
        (b"199 a\r\n", Some(err("bad_code", 0, 1)), None),
        (b"250-a\r\n\r\n", Some(err("bad_code", 0, 2)), None),
        (
            b"250-a\r\n250\tb\r\n",
            Some(err("bad_separator", 0, 2)),
            None,
        ),
        (
            b"250-a\r\n250-b\rc\r\n250 d\r\n",
            Some(err("bare_cr", 0, 2)),
            None,
        ),
        (b"250-a\r\r\n250 b\r\n", Some(err("bare_cr", 0, 1)), None),
        // Lenient mode accepts a bare LF, never a bare CR.
        (
            b"250-a\r\n250-b\n250 c\rx\r\n",
            Some(err("bare_lf", 0, 2)),
            Some(err("bare_cr", 0, 3)),
        ),
        (b"250-a\n250 STARTTLS\r\n", Some(err("bare_lf", 0, 1)), None),
        (b"250\n", Some(err("bare_lf", 0, 1)), None),
        // CR and LF where a code digit belongs follow the same line-ending rules.
        (
            b"250 a\r\n\n",
            Some(err("bare_lf", 1, 1)),
            Some(err("bad_code", 1, 1)),
        ),
        (
            b"25\n",
            Some(err("bare_lf", 0, 1)),
            Some(err("bad_code", 0, 1)),
        ),
        (b"250-a\r\n25\rx\r\n", Some(err("bare_cr", 0, 2)), None),
        (b"250-a\r\n25\r", Some(err("truncated", 0, 2)), None),
    ];
    for (input, strict, lenient) in cases {
        let id = String::from_utf8_lossy(input);
        assert_eq!(parse_error(&[], input), strict, "{id} strict");
        let lenient = if strict.as_ref().is_some_and(|e| e.0 == "bare_lf") {
            lenient
        } else {
            strict
        };
        assert_eq!(parse_error(&["--lenient"], input), lenient, "{id} lenient");
    }
}

#[test]
fn strip_removes_starttls_in_every_position_case_and_form() {
    let forms: [&[u8]; 9] = [
        b"STARTTLS",
        b"starttls",
        b"StartTls",
        b"STARTTLS  ",
        b" STARTTLS",
        b"\tSTARTTLS\t",
        b"STARTTLS REQUIRED x",
        b"STARTTLS=x",
        b"starttls\tfoo",
    ];
    let others: [&[u8]; 3] = [b"SIZE 1000", b"PIPELINING", b"8BITMIME"];
    let render = |lines: &[&[u8]], end: &[u8]| {
        let mut out = Vec::new();
        for (i, l) in lines.iter().enumerate() {
            out.extend_from_slice(b"250");
            out.push(if i + 1 == lines.len() { b' ' } else { b'-' });
            out.extend_from_slice(l);
            out.extend_from_slice(end);
        }
        out
    };
    for form in forms {
        for pos in 0..=others.len() {
            for (end, lenient) in [(&b"\r\n"[..], false), (b"\n", true)] {
                let mut lines: Vec<&[u8]> = vec![b"mx.example.net Hi"];
                lines.extend_from_slice(&others);
                let want = render(&lines, end);
                lines.insert(pos + 1, form);
                let input = render(&lines, end);
                let mut args = vec!["ehlo", "strip"];
                if lenient {
                    args.push("--lenient");
                }
                let out = postern(&args, &input);
                let id = String::from_utf8_lossy(&input);
                assert_eq!(out.status.code(), Some(0), "{id}");
                assert_eq!(out.stdout, want, "{id}");
                let (_, doc) = parse_doc(if lenient { &["--lenient"] } else { &[] }, &input);
                let ehlo = &doc["replies"][0]["ehlo"];
                assert_eq!(ehlo["has_starttls"], true, "{id}");
                assert_eq!(ehlo["capabilities"][pos]["keyword"], "STARTTLS", "{id}");
            }
        }
    }
    // Duplicated at the end, or the only capability: the greeting becomes the last line.
    for (input, want) in [
        (
            &b"250-mx\r\n250-SIZE\r\n250-STARTTLS\r\n250 starttls\r\n"[..],
            &b"250-mx\r\n250 SIZE\r\n"[..],
        ),
        (b"250-mx Hi\r\n250 STARTTLS\r\n", b"250 mx Hi\r\n"),
        (b"250-\r\n250 STARTTLS\r\n", b"250 \r\n"),
        // Line 1 is the greeting, whatever it says; look-alikes stay.
        (b"250-STARTTLS\r\n250 STARTTLS\r\n", b"250 STARTTLS\r\n"),
        (
            b"250-mx\r\n250-STARTTLSX\r\n250-X STARTTLS\r\n250 START TLS\r\n",
            b"250-mx\r\n250-STARTTLSX\r\n250-X STARTTLS\r\n250 START TLS\r\n",
        ),
    ] {
        let out = postern(&["ehlo", "strip"], input);
        assert_eq!(out.stdout, want, "{}", String::from_utf8_lossy(input));
    }
}

#[test]
fn only_250_replies_paired_with_ehlo_or_lhlo_are_rewritten() {
    let ehlo = b"250-mx\r\n250-STARTTLS\r\n250 SIZE\r\n";
    let stripped = b"250-mx\r\n250 SIZE\r\n";
    for (context, rewritten) in [
        ("EHLO", true),
        ("LHLO", true),
        ("ehlo", true),
        ("RSET", false),
        ("<greeting>", false),
        ("HELO", false),
    ] {
        let out = postern(&["ehlo", "strip", "--context", context], ehlo);
        let want: &[u8] = if rewritten { stripped } else { ehlo };
        assert_eq!(out.stdout, want, "{context}");
    }
    // Refusals pass unchanged, before or between other replies.
    for code in ["502", "500", "501", "421", "451", "550", "554"] {
        let refusal = format!("{code}-5.5.2 mx\r\n{code}-STARTTLS\r\n{code} STARTTLS\r\n");
        let input = [
            b"220 mx\r\n".as_slice(),
            refusal.as_bytes(),
            b"250 2.0.0 Ok\r\n",
            ehlo,
        ]
        .concat();
        let args = ["--context", "<greeting>,EHLO,RSET,EHLO"];
        let out = postern(&[&["ehlo", "strip"], &args[..]].concat(), &input);
        let want = [
            b"220 mx\r\n".as_slice(),
            refusal.as_bytes(),
            b"250 2.0.0 Ok\r\n",
            stripped,
        ]
        .concat();
        assert_eq!(out.stdout, want, "{code}");
        let (_, doc) = parse_doc(&args, &input);
        let r = &doc["replies"];
        assert_eq!(r[1]["ehlo"], Value::Null, "{code}");
        assert_eq!(r[1]["ehlo_rejected"], true, "{code}");
        // 5.5.2 is an enhanced code only where its class matches the reply's.
        let enhanced = if code.starts_with('5') {
            Value::from("5.5.2")
        } else {
            Value::Null
        };
        assert_eq!(r[1]["enhanced_code"], enhanced, "{code}");
        assert_eq!(r[2]["enhanced_code"], "2.0.0", "{code}");
        assert_eq!(r[3]["ehlo"]["has_starttls"], true, "{code}");
    }
}

#[test]
fn enhanced_codes_are_read_on_every_reply_but_a_250_to_ehlo() {
    for (input, context, want) in [
        (&b"250 2.1.0 Ok\r\n"[..], "MAIL", Some("2.1.0")),
        (b"451 4.7.1 Try later\r\n", "RCPT", Some("4.7.1")),
        (
            b"220 2.0.0 Ready to start TLS\r\n",
            "STARTTLS",
            Some("2.0.0"),
        ),
        (
            b"421-4.3.2 bye\r\n421 4.3.2 bye\r\n",
            "<greeting>",
            Some("4.3.2"),
        ),
        (b"550-5.7.1\r\n550 more\r\n", "RCPT", Some("5.7.1")),
        (b"550 4.7.1 x\r\n", "RCPT", None),
        (b"550 5.7.1\tx\r\n", "RCPT", None),
        (b"550 5.7.1234 x\r\n", "RCPT", None),
        (b"354 3.0.0 go\r\n", "DATA", None),
        (b"250 2.0.0 mx.example.net\r\n", "EHLO", None),
        (b"250 2.0.0 mx.example.net\r\n", "LHLO", None),
        (b"554 5.7.1 no\r\n", "EHLO", Some("5.7.1")),
        // Printed as written: RFC 3463 allows leading zeros in subject and detail.
        (b"550 5.01.001 x\r\n", "RCPT", Some("5.01.001")),
        (b"451 4.007.0\r\n", "RCPT", Some("4.007.0")),
    ] {
        let (_, doc) = parse_doc(&["--context", context], input);
        assert_eq!(
            doc["replies"][0]["enhanced_code"],
            want.map_or(Value::Null, Value::from),
            "{}",
            String::from_utf8_lossy(input)
        );
    }
}

#[test]
fn a_legacy_equals_remainder_is_the_first_param_even_when_empty() {
    let (_, doc) = parse_doc(
        &[],
        b"250-mx\r\n250-AUTH=\r\n250-AUTH= LOGIN\r\n250 AUTH=PLAIN X\r\n",
    );
    let caps = &doc["replies"][0]["ehlo"]["capabilities"];
    for (i, params) in [vec![""], vec!["", "LOGIN"], vec!["PLAIN", "X"]]
        .iter()
        .enumerate()
    {
        assert_eq!(caps[i]["keyword"], "AUTH");
        assert_eq!(caps[i]["legacy_equals"], true);
        assert_eq!(caps[i]["params"], serde_json::json!(params), "{i}");
    }
}

#[test]
fn non_ascii_greeting_fields_carry_hex() {
    let (_, doc) = parse_doc(&[], b"250-m\xc3\xbcnchen.de Gr\xfc\xdf\r\n250 SIZE\r\n");
    let ehlo = &doc["replies"][0]["ehlo"];
    assert_eq!(ehlo["domain"], "m\u{fc}nchen.de");
    assert_eq!(ehlo["domain_hex"], "6dc3bc6e6368656e2e6465");
    assert_eq!(ehlo["greeting_text"], Value::Null);
    assert_eq!(ehlo["greeting_text_hex"], "4772fcdf");
    let (_, doc) = parse_doc(&[], b"250 mx.example.net Hello\r\n");
    let ehlo = &doc["replies"][0]["ehlo"];
    assert!(ehlo.get("domain_hex").is_none() && ehlo.get("greeting_text_hex").is_none());
}
