//! postern-spf benchmarks: whole `check_host()` runs with canned DNS answers (no I/O), records
//! parsed from their TXT text on every run, as a server without a record cache would. The
//! cases are those of `postern_benches::spf_cases`:
//!
//! - `spf/check_host/ip4`: `v=spf1 ip4:192.0.2.0/24 -all`, client inside the network.
//! - `spf/check_host/include_chain5`: `include:_spf.example.com ~all` and three more levels of
//!   includes with several `ip4:`/`ip6:` each (five records); the match is in the last one.
//! - `spf/check_host/exists_macro`: `exists:%{ir}.%{l1r+-}._spf.%{d} -all` with an A answer.
//!
//! Run: `cargo bench -p postern-benches --bench spf`.

// A benchmark stops on a broken invariant: panicking on bad canned data is the point.
#![allow(clippy::panic)]

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use postern_benches::spf_cases::{cases, options, run};
use postern_spf::Verdict;

fn bench_spf(c: &mut Criterion) {
    let options = options();
    let mut group = c.benchmark_group("spf/check_host");
    for case in cases() {
        assert_eq!(
            run(&case.request, &options, &case.dns),
            Verdict::Pass,
            "{}",
            case.name
        );
        group.bench_function(case.name, |b| {
            b.iter(|| run(black_box(&case.request), &options, &case.dns));
        });
    }
    group.finish();
}

criterion_group!(benches, bench_spf);
criterion_main!(benches);
