//! Replays this crate's committed fuzz inputs (`fuzz/seeds/<target>/`,
//! `fuzz/regressions/<target>/`) through the harness bodies the cargo-fuzz targets call, on
//! stable; the shared machinery is `fuzz/replay.rs`. To cover a new target, add one line to
//! `TARGETS`.
// Reading the committed inputs is the point of this test; a panic is how a harness reports.
#![allow(clippy::disallowed_methods, clippy::expect_used, clippy::panic)]

#[path = "../../../fuzz/replay.rs"]
mod replay;

/// (target name in `fuzz/fuzz_targets/`, harness body).
const TARGETS: &[(&str, replay::Harness)] = &[
    ("dns_wire", postern_dns::__fuzz::dns_wire),
    ("dns_zone", postern_dns::__fuzz::dns_zone),
];

#[test]
fn every_target_has_a_source_file_seeds_and_a_regressions_folder() {
    replay::check_layout(TARGETS);
}

#[test]
fn seeds_and_regressions_pass_their_harness() {
    replay::replay_all(TARGETS);
}

#[test]
fn a_failing_harness_is_reported() {
    replay::failing_harness_is_reported(TARGETS[0].0);
}
