//! Conformance: every message of `shared/testdata/dkim/{generated,public}` verifies to its
//! manifest expectation (result, or an `acceptable` alternative; reason when the primary result
//! is met), whole and at several chunk splits. Missing testdata fails the test.
// Tests read the shared corpus from disk and panic on mismatch.
#![allow(clippy::disallowed_methods)]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::{Path, PathBuf};

use postern_dkim::Outcome;
use serde_json::Value;

mod common;

fn dkim_dir() -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/testdata/dkim"
    ))
}

fn manifest(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (the shared testdata must be present)",
            path.display()
        )
    });
    serde_json::from_str::<Value>(&text)
        .unwrap()
        .as_array()
        .unwrap()
        .clone()
}

fn check(entry: &Value, outcome: &Outcome, label: &str) -> Result<(), String> {
    let expected = entry["expected"].as_array().unwrap();
    if expected.len() != outcome.signatures.len() {
        return Err(format!(
            "{label}: {} signatures expected, got {:?}",
            expected.len(),
            outcome.signatures
        ));
    }
    for (i, (want, got)) in expected.iter().zip(&outcome.signatures).enumerate() {
        let result = got.result.as_str();
        let reason = got.reason.as_ref().map(ToString::to_string);
        let primary = want["result"].as_str().unwrap();
        let acceptable: Vec<&str> = want
            .get("acceptable")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let ok = if result == primary {
            reason.as_deref() == want["reason"].as_str()
        } else {
            acceptable.contains(&result)
        };
        if !ok {
            return Err(format!(
                "{label} sig {i}: expected {primary} ({:?}), got {result} ({reason:?})",
                want["reason"]
            ));
        }
        if want.get("d").and_then(Value::as_str).is_some() && result == "pass" {
            assert_eq!(want["d"].as_str().unwrap(), got.domain, "{label}");
            assert_eq!(want["s"].as_str().unwrap(), got.selector, "{label}");
        }
        if want.get("testing").and_then(Value::as_bool) == Some(true) {
            assert!(got.testing, "{label}: t=y not flagged");
        }
    }
    Ok(())
}

fn run_corpus(dir: &str) -> usize {
    let base = dkim_dir().join(dir);
    let entries = manifest(&base.join("manifest.json"));
    assert!(!entries.is_empty());
    let mut failures = Vec::new();
    let mut checked = 0;
    for entry in &entries {
        let file = entry["file"].as_str().unwrap();
        let message = std::fs::read(base.join(file)).unwrap();
        let now = entry["now"].as_u64().unwrap();
        for chunk in [usize::MAX, 1, 7, 64, 4096] {
            if chunk == 1 && message.len() > 100_000 {
                continue;
            }
            let outcome = common::verify_streamed(&message, now, &entry["dns"], chunk);
            if let Err(e) = check(entry, &outcome, &format!("{file} (chunk {chunk})")) {
                failures.push(e);
            }
        }
        checked += entry["expected"].as_array().unwrap().len();
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
    checked
}

#[test]
fn generated_corpus_verifies() {
    let n = run_corpus("generated");
    assert!(n >= 107, "only {n} signature expectations");
}

#[test]
fn public_corpus_verifies() {
    let n = run_corpus("public");
    assert!(n >= 8, "only {n} signature expectations");
}
