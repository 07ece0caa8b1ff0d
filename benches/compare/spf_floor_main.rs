//! Harness of `spf-floor.sh`: the `spf/check_host` bench cases through the evaluator
//! (`real`), through the patch's machinery-free checks (`floor`), and through the patch's
//! checks without the API's owned types (`lean`). Prints the best of 25 rounds of N checks, in
//! ns per check; with `SPF_FLOOR_ONCE` set, runs N checks untimed (for instruction counts).
//!
//! Usage: spf-floor (real|floor|lean) (ip4|include_chain5|exists_macro) N

use std::hint::black_box;

use postern_spf::{Request, Verdict};

// The bench's own cases (benches/src/spf_cases.rs, copied beside this file by the script).
mod spf_cases;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (mode, name) = (args[1].as_str(), args[2].as_str());
    let n: usize = args[3].parse().expect("N");
    assert!(
        matches!(mode, "real" | "floor" | "lean"),
        "mode: real, floor or lean"
    );
    let options = spf_cases::options();
    let case = spf_cases::cases()
        .into_iter()
        .find(|case| case.name == name)
        .expect("case: ip4, include_chain5 or exists_macro");
    let dns = &case.dns;
    // The expansion buffers a caller would keep between checks (`lean` `exists_macro`).
    let (mut out, mut scratch) = (String::with_capacity(128), String::new());
    let mut check = |request: &Request<'_>| match (mode, name) {
        ("real", _) => spf_cases::run(request, &options, dns),
        ("lean", "ip4") => postern_spf::floor_lean_ip4(request, |name| dns.lookup(name)),
        ("lean", "include_chain5") => {
            postern_spf::floor_lean_chain(request, |name| dns.lookup(name))
        }
        ("lean", _) => {
            postern_spf::floor_lean_exists(request, &options, (&mut out, &mut scratch), |name| {
                dns.lookup(name)
            })
        }
        (_, "ip4") => postern_spf::floor_check(request, &options, |q| dns.resolve(q)).verdict,
        (_, "include_chain5") => {
            postern_spf::floor_chain(request, &options, |q| dns.resolve(q)).verdict
        }
        _ => postern_spf::floor_exists(request, &options, |q| dns.resolve(q)).verdict,
    };
    assert_eq!(check(&case.request), Verdict::Pass, "{mode} {name}");
    if std::env::var_os("SPF_FLOOR_ONCE").is_some() {
        for _ in 0..n {
            black_box(check(black_box(&case.request)));
        }
        return;
    }
    let mut best = f64::MAX;
    for _ in 0..25 {
        let start = std::time::Instant::now();
        for _ in 0..n {
            black_box(check(black_box(&case.request)));
        }
        best = best.min(start.elapsed().as_nanos() as f64 / n as f64);
    }
    println!("{mode} {name}: {best:.1} ns");
}
