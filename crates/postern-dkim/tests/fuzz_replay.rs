//! Replays the committed fuzz seeds and regressions (`fuzz/seeds/<target>/`,
//! `fuzz/regressions/<target>/`) through the same harness bodies the cargo-fuzz targets call,
//! so every input a fuzzer ever found interesting is checked on stable in `cargo test`.
//!
//! To cover a new target, add one line to `TARGETS`.
// Reading the committed inputs is the point of this test; the workspace's disallowed-methods
// list keeps `std::fs` out of library code, not out of its tests.
#![allow(clippy::disallowed_methods)]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::fs;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

/// The fuzz workspace, relative to this crate.
const FUZZ_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fuzz");

/// A harness body: panics when an invariant fails.
type Harness = fn(&[u8]);

/// (target name in `fuzz/fuzz_targets/`, harness body).
const TARGETS: &[(&str, Harness)] = &[
    ("dkim_signature", postern_dkim::__fuzz::signature),
    ("dkim_key", postern_dkim::__fuzz::key),
    ("dkim_canon", postern_dkim::__fuzz::canon),
    ("dkim_verify", postern_dkim::__fuzz::verify),
];

/// Regular files of `dir`, sorted, dot files (`.gitkeep`) left out; empty if `dir` is absent.
fn inputs(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .map(|e| e.expect("readable directory entry").path())
        .filter(|p| p.is_file())
        .filter(|p| {
            !p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with('.'))
        })
        .collect();
    files.sort();
    files
}

/// Run every input of `dir` through `harness`; returns how many ran and the failures.
fn replay(dir: &Path, harness: Harness) -> (usize, Vec<String>) {
    let files = inputs(dir);
    let mut failures = Vec::new();
    for file in &files {
        let data = fs::read(file).expect("readable fuzz input");
        if let Err(panic) = catch_unwind(AssertUnwindSafe(|| harness(&data))) {
            let message = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                .unwrap_or_default();
            failures.push(format!("{}: {message}", file.display()));
        }
    }
    (files.len(), failures)
}

#[test]
fn every_target_has_a_source_file_and_seeds() {
    for (target, _) in TARGETS {
        let source = Path::new(FUZZ_DIR).join(format!("fuzz_targets/{target}.rs"));
        assert!(source.is_file(), "{} is missing", source.display());
        let seeds = Path::new(FUZZ_DIR).join("seeds").join(target);
        assert!(
            !inputs(&seeds).is_empty(),
            "{} is missing or empty: run fuzz/make-seeds.py or add seeds",
            seeds.display()
        );
        let regressions = Path::new(FUZZ_DIR).join("regressions").join(target);
        assert!(
            regressions.is_dir(),
            "{} is missing (keep it with a .gitkeep)",
            regressions.display()
        );
    }
}

#[test]
fn seeds_and_regressions_pass_their_harness() {
    let mut failures = Vec::new();
    for &(target, harness) in TARGETS {
        for kind in ["seeds", "regressions"] {
            let dir = Path::new(FUZZ_DIR).join(kind).join(target);
            let (ran, failed) = replay(&dir, harness);
            if kind == "seeds" {
                assert!(ran > 0, "no seeds in {}", dir.display());
            }
            eprintln!("{target}: {ran} {kind} replayed");
            failures.extend(failed);
        }
    }
    assert!(
        failures.is_empty(),
        "{} fuzz inputs fail:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// The replay must be able to fail: a harness that rejects everything is reported.
#[test]
fn a_failing_harness_is_reported() {
    fn always_panics(_: &[u8]) {
        panic!("invariant broken");
    }
    let seeds = Path::new(FUZZ_DIR).join("seeds").join(TARGETS[0].0);
    let (ran, failed) = replay(&seeds, always_panics);
    assert!(ran > 0);
    assert_eq!(failed.len(), ran);
    assert!(failed[0].contains("invariant broken"), "{}", failed[0]);
}
