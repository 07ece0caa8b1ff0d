//! Replays the committed fuzz inputs (`fuzz/seeds/<target>/`, `fuzz/regressions/<target>/`)
//! through the harness bodies the cargo-fuzz targets call, on stable, in `cargo test`.
// Reading committed inputs from disk is the point of this test (the library does no I/O).
#![allow(
    clippy::disallowed_methods,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

use std::path::{Path, PathBuf};

const FUZZ_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fuzz");

/// A harness body: panics when an invariant fails.
type Harness = fn(&[u8]);

/// (target in `fuzz/fuzz_targets/`, harness body).
const TARGETS: &[(&str, Harness)] = &[("dns_wire", postern_dns::__fuzz::dns_wire)];

/// The files of `dir` (dot files left out), sorted; empty when the directory is absent.
fn inputs(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file() && !p.file_name().unwrap().to_string_lossy().starts_with('.'))
        .collect();
    files.sort();
    files
}

#[test]
fn targets_exist_and_have_seeds() {
    for (target, _) in TARGETS {
        let source = Path::new(FUZZ_DIR).join(format!("fuzz_targets/{target}.rs"));
        assert!(source.is_file(), "{} is missing", source.display());
        let seeds = Path::new(FUZZ_DIR).join("seeds").join(target);
        assert!(
            !inputs(&seeds).is_empty(),
            "no seeds in {}",
            seeds.display()
        );
    }
}

#[test]
fn replay_seeds_and_regressions() {
    let mut ran = 0;
    for (target, harness) in TARGETS {
        for kind in ["seeds", "regressions"] {
            for file in inputs(&Path::new(FUZZ_DIR).join(kind).join(target)) {
                let data = std::fs::read(&file).unwrap();
                let outcome = std::panic::catch_unwind(|| harness(&data));
                assert!(outcome.is_ok(), "{} fails its harness", file.display());
                ran += 1;
            }
        }
    }
    assert!(ran > 0, "no fuzz inputs replayed");
}
