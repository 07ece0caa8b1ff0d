//! The shared EHLO fixtures (`shared/testdata/ehlo`): every case, in strict and lenient mode,
//! parsed whole, one byte at a time and at every 2-way split, and rewritten by the streaming
//! filter at every split, against `manifest.json`.
// Tests read the fixture files and may panic on a mismatch.
#![allow(
    clippy::disallowed_methods,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::PathBuf;

use postern_smtp::__fuzz::parse_stream;
use postern_smtp::{
    CapabilityFilter, Context, Ehlo, ErrorKind, Mode, Reply, ReplyFilter, ReplyParser, Status,
};
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

fn manifest() -> Value {
    let path = ehlo_dir().join("manifest.json");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e} (set POSTERN_TESTDATA)", path.display()));
    serde_json::from_str(&text).unwrap()
}

struct Case {
    id: String,
    contexts: Vec<String>,
    chunks: Vec<Vec<u8>>,
    input: Vec<u8>,
    raw: Value,
}

fn cases() -> Vec<Case> {
    let m = manifest();
    assert_eq!(m["schema"], "smtp-ehlo-fixtures/1");
    let dir = ehlo_dir();
    let cases: Vec<Case> = m["cases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let files: Vec<&str> = match (&c["input"]["file"], &c["input"]["chunks"]) {
                (Value::String(f), _) => vec![f.as_str()],
                (_, Value::Array(list)) => list.iter().map(|v| v.as_str().unwrap()).collect(),
                _ => panic!("case without input: {c}"),
            };
            let chunks: Vec<Vec<u8>> = files
                .iter()
                .map(|f| std::fs::read(dir.join(f)).unwrap())
                .collect();
            let input = chunks.concat();
            assert_eq!(
                input.len() as u64,
                c["input"]["length"].as_u64().unwrap(),
                "{}",
                c["id"]
            );
            let contexts = c["context"].as_array().map_or_else(
                || vec!["EHLO".to_owned()],
                |a| a.iter().map(|v| v.as_str().unwrap().to_owned()).collect(),
            );
            Case {
                id: c["id"].as_str().unwrap().to_owned(),
                contexts,
                chunks,
                input,
                raw: c.clone(),
            }
        })
        .collect();
    assert!(
        cases.len() >= 32,
        "expected the 32 public fixtures, found {}",
        cases.len()
    );
    cases
}

fn expectation<'a>(case: &'a Case, key: &str, mode: Mode) -> &'a Value {
    let lenient_key = format!("{key}_lenient");
    match mode {
        Mode::Lenient if !case.raw[&lenient_key].is_null() => &case.raw[&lenient_key],
        _ => &case.raw[key],
    }
}

fn context_of(case: &Case, index: usize) -> Context {
    case.contexts
        .get(index)
        .map_or(Context::Other, |c| Context::from_name(c))
}

fn text(v: &Value, key: &str) -> Option<Vec<u8>> {
    if let Some(hex) = v.get(format!("{key}_hex")).and_then(Value::as_str) {
        return Some(
            (0..hex.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
                .collect(),
        );
    }
    v[key].as_str().map(|s| s.as_bytes().to_vec())
}

fn check_reply(case: &Case, index: usize, reply: &Reply<'_>, want: &Value) {
    let id = &case.id;
    assert_eq!(
        want["context"].as_str().unwrap(),
        case.contexts[index],
        "{id}"
    );
    assert_eq!(
        u64::from(reply.code().as_u16()),
        want["code"].as_u64().unwrap(),
        "{id}: code"
    );
    assert_eq!(
        u64::from(reply.line_count()),
        want["lines"].as_u64().unwrap(),
        "{id}: lines"
    );
    assert_eq!(
        reply.len() as u64,
        want["consumed"].as_u64().unwrap(),
        "{id}: consumed"
    );
    assert_eq!(
        reply.line_ending().as_str(),
        want["line_ending"].as_str().unwrap(),
        "{id}: ending"
    );
    let is_ehlo = context_of(case, index) == Context::Ehlo;
    let enhanced = if is_ehlo && reply.code().as_u16() == 250 {
        None
    } else {
        reply.enhanced_code()
    };
    assert_eq!(
        enhanced.map(|e| e.to_string()).as_deref(),
        want["enhanced_code"].as_str(),
        "{id}: enhanced"
    );
    if !is_ehlo {
        return;
    }
    let Some(want_ehlo) = want["ehlo"].as_object() else {
        assert!(Ehlo::new(reply).is_none(), "{id}: should be rejected");
        assert_eq!(want["ehlo_rejected"], true, "{id}");
        return;
    };
    let want_ehlo = Value::Object(want_ehlo.clone());
    let ehlo = Ehlo::new(reply).unwrap_or_else(|| panic!("{id}: not an EHLO success"));
    assert_eq!(
        Some(ehlo.domain().to_vec()),
        text(&want_ehlo, "domain"),
        "{id}: domain"
    );
    assert_eq!(
        Some(ehlo.greeting_text().to_vec()),
        text(&want_ehlo, "greeting_text"),
        "{id}: greeting"
    );
    assert_eq!(
        ehlo.has_starttls(),
        want_ehlo["has_starttls"].as_bool().unwrap(),
        "{id}"
    );
    let want_caps = want_ehlo["capabilities"].as_array().unwrap();
    assert_eq!(
        ehlo.capabilities().count(),
        want_caps.len(),
        "{id}: capability count"
    );
    for (cap, w) in ehlo.capabilities().zip(want_caps) {
        assert_eq!(
            cap.keyword_upper(),
            w["keyword"].as_str().unwrap().as_bytes(),
            "{id}"
        );
        let params: Vec<&[u8]> = cap.params().collect();
        let want_params: Vec<&[u8]> = w["params"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p.as_str().unwrap().as_bytes())
            .collect();
        assert_eq!(params, want_params, "{id}: params of {}", w["keyword"]);
        assert_eq!(cap.is_valid(), w["valid"].as_bool().unwrap(), "{id}: valid");
        assert_eq!(
            cap.legacy_equals(),
            w["legacy_equals"].as_bool().unwrap_or(false),
            "{id}"
        );
    }
}

/// Parse the whole input once and check it against the expectation.
fn check_parse(case: &Case, mode: Mode) {
    let want = expectation(case, "expect", mode);
    let id = format!("{} ({mode:?})", case.id);
    let mut parser = ReplyParser::new(mode);
    let mut rest = &case.input[..];
    let mut index = 0;
    let outcome = loop {
        match parser.parse(rest) {
            Ok(Status::Complete(reply)) => {
                let want_reply = want["replies"]
                    .get(index)
                    .unwrap_or_else(|| panic!("{id}: extra reply"));
                check_reply(case, index, &reply, want_reply);
                rest = &rest[reply.len()..];
                index += 1;
            }
            Ok(Status::Partial) if rest.is_empty() => break ("ok", None),
            Ok(Status::Partial) => break ("incomplete", parser.finish(rest).err()),
            Err(e) => break ("error", Some(e)),
        }
    };
    assert_eq!(
        outcome.0,
        want["outcome"].as_str().unwrap(),
        "{id}: outcome"
    );
    match outcome {
        ("ok", _) => {
            assert_eq!(
                index,
                want["replies"].as_array().unwrap().len(),
                "{id}: reply count"
            );
            assert_eq!(want["remainder_bytes"], 0, "{id}");
        }
        ("incomplete", e) => {
            assert_eq!(
                e.unwrap().kind().as_str(),
                want["at_eof"].as_str().unwrap(),
                "{id}"
            );
            assert_eq!(
                index as u64,
                want["complete_replies"].as_u64().unwrap(),
                "{id}"
            );
        }
        (_, e) => {
            let e = e.unwrap();
            assert_eq!(
                e.kind().as_str(),
                want["error"].as_str().unwrap(),
                "{id}: error kind"
            );
            assert_eq!(
                u64::from(e.line().unwrap()),
                want["at_line"].as_u64().unwrap(),
                "{id}: line"
            );
            assert_eq!(
                index as u64,
                want["reply_index"].as_u64().unwrap(),
                "{id}: reply index"
            );
        }
    }
}

#[test]
fn every_fixture_parses_as_the_manifest_says_in_both_modes() {
    for case in cases() {
        check_parse(&case, Mode::Strict);
        check_parse(&case, Mode::Lenient);
    }
}

#[test]
fn results_do_not_depend_on_how_the_input_is_split() {
    for case in cases() {
        for mode in [Mode::Strict, Mode::Lenient] {
            let n = case.input.len();
            let whole = parse_stream(&case.input, mode, &[n.max(1)]);
            assert_eq!(
                whole,
                parse_stream(&case.input, mode, &[1]),
                "{} one byte at a time",
                case.id
            );
            for split in 1..n {
                assert_eq!(
                    whole,
                    parse_stream(&case.input, mode, &[split, n]),
                    "{} split at {split}",
                    case.id
                );
            }
        }
    }
}

#[test]
fn status_after_each_chunk_matches() {
    for case in cases()
        .iter()
        .filter(|c| c.raw["input"]["status_after_each_chunk"].is_array())
    {
        let statuses = case.raw["input"]["status_after_each_chunk"]
            .as_array()
            .unwrap();
        let mut parser = ReplyParser::new(Mode::Strict);
        let mut buf = Vec::new();
        for (chunk, want) in case.chunks.iter().zip(statuses) {
            buf.extend_from_slice(chunk);
            let got = match parser.parse(&buf) {
                Ok(Status::Complete(reply)) => {
                    buf.drain(..reply.len());
                    "ok"
                }
                Ok(Status::Partial) => "incomplete",
                Err(_) => "error",
            };
            assert_eq!(got, want.as_str().unwrap(), "{}", case.id);
        }
    }
}

/// Run the streaming filter over the input in reads of `sizes`; `None` when nothing may be
/// emitted (error or incomplete input).
fn stream_strip(case: &Case, mode: Mode, sizes: &[usize]) -> (Option<Vec<u8>>, usize) {
    let mut filter = ReplyFilter::new(CapabilityFilter::starttls(), mode);
    for c in &case.contexts {
        filter.expect(Context::from_name(c)).unwrap();
    }
    let mut out = Vec::new();
    let mut removed = 0;
    let mut rest = &case.input[..];
    for &size in sizes.iter().cycle() {
        if rest.is_empty() {
            break;
        }
        let (piece, after) = rest.split_at(size.clamp(1, rest.len()));
        rest = after;
        if filter
            .feed(piece, &mut out, |f| removed += f.removed_lines)
            .is_err()
        {
            return (None, removed);
        }
    }
    match filter.finish() {
        Ok(()) => (Some(out), removed),
        Err(_) => (None, removed),
    }
}

#[test]
fn strip_starttls_output_matches_byte_for_byte_at_every_split() {
    for case in cases() {
        for mode in [Mode::Strict, Mode::Lenient] {
            let want = expectation(&case, "strip_starttls", mode);
            let id = format!("{} ({mode:?})", case.id);
            let n = case.input.len();
            let expected = match want["outcome"].as_str().unwrap() {
                "no_output" => None,
                "rewritten" | "unchanged" => {
                    let bytes =
                        std::fs::read(ehlo_dir().join(want["file"].as_str().unwrap())).unwrap();
                    assert_eq!(bytes.len() as u64, want["length"].as_u64().unwrap(), "{id}");
                    if want["outcome"] == "unchanged" {
                        assert_eq!(
                            bytes, case.input,
                            "{id}: unchanged output differs from input"
                        );
                    }
                    Some(bytes)
                }
                other => panic!("{id}: unknown strip outcome {other}"),
            };
            let (whole, removed) = stream_strip(&case, mode, &[n]);
            if expected.is_some() {
                assert_eq!(
                    removed as u64,
                    want["removed_lines"].as_u64().unwrap(),
                    "{id}: removed lines"
                );
            }
            // An error or an incomplete reply means the whole stream emits nothing for that reply;
            // the fixtures hold one reply where they fail, so the full output must be absent.
            assert_eq!(whole.is_some(), expected.is_some(), "{id}: output presence");
            if let (Some(got), Some(want_bytes)) = (&whole, &expected) {
                assert_eq!(got, want_bytes, "{id}: bytes");
            }
            assert_eq!(
                stream_strip(&case, mode, &[1]).0,
                whole,
                "{id}: one byte at a time"
            );
            for split in 1..n {
                assert_eq!(
                    stream_strip(&case, mode, &[split, n]).0,
                    whole,
                    "{id}: split at {split}"
                );
            }
        }
    }
}

#[test]
fn error_kinds_in_the_fixtures_are_all_known() {
    let kinds = [
        ErrorKind::BareLf,
        ErrorKind::LineTooLong,
        ErrorKind::CodeMismatch,
        ErrorKind::Truncated,
    ];
    for case in cases() {
        if let Some(kind) = case.raw["expect"]["error"]
            .as_str()
            .or(case.raw["expect"]["at_eof"].as_str())
        {
            assert!(
                kinds.iter().any(|k| k.as_str() == kind),
                "{}: {kind}",
                case.id
            );
        }
    }
}
