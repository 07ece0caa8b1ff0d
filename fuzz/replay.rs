//! The stable replay of committed fuzz inputs, shared by every library crate's
//! `tests/fuzz_replay.rs` (included there with `#[path]`): each crate lists its targets and
//! harness bodies, and this module checks the layout under `fuzz/` and runs every file of
//! `fuzz/seeds/<target>/` and `fuzz/regressions/<target>/` through the harness, so every input
//! a fuzzer ever found interesting is checked on stable in `cargo test`.

use std::fs;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

/// The fuzz workspace, from a crate under `crates/`.
const FUZZ_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fuzz");

/// A harness body: panics when an invariant fails.
pub(crate) type Harness = fn(&[u8]);

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

/// Every target has its source file, a non-empty seed folder and a regressions folder.
pub(crate) fn check_layout(targets: &[(&str, Harness)]) {
    for (target, _) in targets {
        let source = Path::new(FUZZ_DIR).join(format!("fuzz_targets/{target}.rs"));
        assert!(source.is_file(), "{} is missing", source.display());
        let seeds = Path::new(FUZZ_DIR).join("seeds").join(target);
        assert!(
            !inputs(&seeds).is_empty(),
            "{} is missing or empty: add seeds",
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

/// Every seed and regression passes its harness.
pub(crate) fn replay_all(targets: &[(&str, Harness)]) {
    let mut failures = Vec::new();
    for &(target, harness) in targets {
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

/// The replay can fail: a harness that rejects everything is reported for every seed.
pub(crate) fn failing_harness_is_reported(target: &str) {
    fn always_panics(_: &[u8]) {
        panic!("invariant broken");
    }
    let seeds = Path::new(FUZZ_DIR).join("seeds").join(target);
    let (ran, failed) = replay(&seeds, always_panics);
    assert!(ran > 0);
    assert_eq!(failed.len(), ran);
    assert!(
        failed.iter().all(|f| f.contains("invariant broken")),
        "{failed:?}"
    );
}
