//! postern-spf benchmarks: whole `check_host()` runs with canned DNS answers (no I/O), records
//! parsed from their TXT text on every run, as a server without a record cache would.
//!
//! - `spf/check_host/ip4`: `v=spf1 ip4:192.0.2.0/24 -all`, client inside the network.
//! - `spf/check_host/include_chain5`: `include:_spf.example.com ~all` and three more levels of
//!   includes with several `ip4:`/`ip6:` each (five records); the match is in the last one.
//! - `spf/check_host/exists_macro`: `exists:%{ir}.%{l1r+-}._spf.%{d} -all` with an A answer.
//!
//! Run: `cargo bench -p postern-benches --bench spf`.

// A benchmark stops on a broken invariant: panicking on bad canned data is the point.
#![allow(clippy::expect_used, clippy::panic)]

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};

use criterion::{Criterion, criterion_group, criterion_main};
use postern_dns::{Answer, Query, Record};
use postern_spf::{Evaluator, Options, Request, Step, Verdict};

/// Canned DNS: (name, answer) pairs, answered by cloning, as a cache would.
struct Canned(Vec<(&'static str, Answer)>);

impl Canned {
    fn txt(entries: &[(&'static str, &str)]) -> Self {
        Self(
            entries
                .iter()
                .map(|(name, text)| {
                    (
                        *name,
                        Answer::Records(vec![Record::Txt(text.as_bytes().to_vec())].into()),
                    )
                })
                .collect(),
        )
    }

    fn resolve(&self, query: &Query) -> Answer {
        self.0
            .iter()
            .find(|(name, _)| *name == query.name().as_str())
            .map_or(Answer::NxDomain, |(_, answer)| answer.clone())
    }
}

fn run(request: &Request<'_>, options: &Options, dns: &Canned) -> Verdict {
    let mut eval = Evaluator::new(request, options);
    loop {
        match eval.step() {
            Step::Lookup(query) => {
                let answer = dns.resolve(&query);
                eval.supply(query.id(), answer).expect("pending query");
            }
            Step::Done(outcome) => return outcome.verdict,
        }
    }
}

fn bench_spf(c: &mut Criterion) {
    let options = Options::default().with_receiver("mx.example.net");
    let mut group = c.benchmark_group("spf/check_host");

    let ip4 = Canned::txt(&[("example.com", "v=spf1 ip4:192.0.2.0/24 -all")]);
    let request = Request::mail_from(
        IpAddr::V4(Ipv4Addr::new(192, 0, 2, 77)),
        "alice@example.com",
        "mail.example.com",
    );
    assert_eq!(run(&request, &options, &ip4), Verdict::Pass);
    group.bench_function("ip4", |b| {
        b.iter(|| run(black_box(&request), &options, &ip4));
    });

    let chain = Canned::txt(&[
        ("example.com", "v=spf1 include:_spf.example.com ~all"),
        (
            "_spf.example.com",
            "v=spf1 ip4:198.51.100.0/24 ip4:198.51.101.0/24 ip6:2001:db8:1::/48 include:_spf2.example.com ~all",
        ),
        (
            "_spf2.example.com",
            "v=spf1 ip4:203.0.113.0/26 ip4:203.0.113.64/26 ip6:2001:db8:2::/48 ip6:2001:db8:3::/48 include:_spf3.example.com ?all",
        ),
        (
            "_spf3.example.com",
            "v=spf1 ip4:192.0.2.128/28 ip6:2001:db8:4::/48 ip4:192.0.2.144/28 include:_spf4.example.com -all",
        ),
        (
            "_spf4.example.com",
            "v=spf1 ip4:10.0.0.0/8 ip6:2001:db8:5::/48 ip4:172.16.0.0/12 ip4:192.0.2.0/25 -all",
        ),
    ]);
    let request = Request::mail_from(
        IpAddr::V4(Ipv4Addr::new(192, 0, 2, 7)),
        "bob@example.com",
        "mail.example.com",
    );
    assert_eq!(run(&request, &options, &chain), Verdict::Pass);
    group.bench_function("include_chain5", |b| {
        b.iter(|| run(black_box(&request), &options, &chain));
    });

    let mut exists = Canned::txt(&[("example.com", "v=spf1 exists:%{ir}.%{l1r+-}._spf.%{d} -all")]);
    exists.0.push((
        "77.2.0.192.carol._spf.example.com",
        Answer::Records(vec![Record::A(Ipv4Addr::new(127, 0, 0, 2))].into()),
    ));
    let request = Request::mail_from(
        IpAddr::V4(Ipv4Addr::new(192, 0, 2, 77)),
        "carol+lists@example.com",
        "mail.example.com",
    );
    assert_eq!(run(&request, &options, &exists), Verdict::Pass);
    group.bench_function("exists_macro", |b| {
        b.iter(|| run(black_box(&request), &options, &exists));
    });

    group.finish();
}

criterion_group!(benches, bench_spf);
criterion_main!(benches);
