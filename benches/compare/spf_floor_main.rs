//! Harness of `spf-floor.sh`: the three `spf/check_host` bench cases through the evaluator
//! (`real`) and through the patch's machinery-free checks (`floor`), with the bench's canned
//! DNS. Prints the best of 25 rounds of N checks, in ns per check.
//!
//! Usage: spf-floor (real|floor) (ip4|include_chain5|exists_macro) N

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};

use postern_dns::{Answer, Query, Record};
use postern_spf::{Evaluator, Options, Request, Step, Verdict};

struct Canned(Vec<(&'static str, Answer)>);

impl Canned {
    fn txt(entries: &[(&'static str, &str)]) -> Self {
        Self(
            entries
                .iter()
                .map(|(name, text)| (*name, Answer::Records(vec![Record::Txt(text.as_bytes().to_vec())].into())))
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

fn real(request: &Request<'_>, options: &Options, dns: &Canned) -> Verdict {
    let mut eval = Evaluator::new(request, options);
    loop {
        match eval.step() {
            Step::Lookup(query) => eval.supply(query.id(), dns.resolve(&query)).expect("pending"),
            Step::Done(outcome) => return outcome.verdict,
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (mode, case, n) = (args[1].as_str(), args[2].as_str(), args[3].parse::<usize>().expect("N"));
    let options = Options::default().with_receiver("mx.example.net");
    let (dns, request) = match case {
        "ip4" => (
            Canned::txt(&[("example.com", "v=spf1 ip4:192.0.2.0/24 -all")]),
            Request::mail_from(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 77)), "alice@example.com", "mail.example.com"),
        ),
        "include_chain5" => (
            Canned::txt(&[
                ("example.com", "v=spf1 include:_spf.example.com ~all"),
                ("_spf.example.com", "v=spf1 ip4:198.51.100.0/24 ip4:198.51.101.0/24 ip6:2001:db8:1::/48 include:_spf2.example.com ~all"),
                ("_spf2.example.com", "v=spf1 ip4:203.0.113.0/26 ip4:203.0.113.64/26 ip6:2001:db8:2::/48 ip6:2001:db8:3::/48 include:_spf3.example.com ?all"),
                ("_spf3.example.com", "v=spf1 ip4:192.0.2.128/28 ip6:2001:db8:4::/48 ip4:192.0.2.144/28 include:_spf4.example.com -all"),
                ("_spf4.example.com", "v=spf1 ip4:10.0.0.0/8 ip6:2001:db8:5::/48 ip4:172.16.0.0/12 ip4:192.0.2.0/25 -all"),
            ]),
            Request::mail_from(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 7)), "bob@example.com", "mail.example.com"),
        ),
        "exists_macro" => {
            let mut dns = Canned::txt(&[("example.com", "v=spf1 exists:%{ir}.%{l1r+-}._spf.%{d} -all")]);
            dns.0.push(("77.2.0.192.carol._spf.example.com", Answer::Records(vec![Record::A(Ipv4Addr::new(127, 0, 0, 2))].into())));
            (dns, Request::mail_from(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 77)), "carol+lists@example.com", "mail.example.com"))
        }
        other => panic!("unknown case {other}"),
    };
    assert!(matches!(mode, "real" | "floor"), "mode: real or floor");
    let check = |request: &Request<'_>| match (mode, case) {
        ("real", _) => real(request, &options, &dns),
        ("floor", "ip4") => postern_spf::floor_check(request, &options, |q| dns.resolve(q)).verdict,
        ("floor", "include_chain5") => postern_spf::floor_chain(request, &options, |q| dns.resolve(q)).verdict,
        (_, _) => postern_spf::floor_exists(request, &options, |q| dns.resolve(q)).verdict,
    };
    assert_eq!(check(&request), Verdict::Pass, "{mode} {case}");
    if std::env::var_os("SPF_FLOOR_ONCE").is_some() {
        // For instruction counts: N checks, no timing.
        for _ in 0..n {
            black_box(check(black_box(&request)));
        }
        return;
    }
    let mut best = f64::MAX;
    for _ in 0..25 {
        let start = std::time::Instant::now();
        for _ in 0..n {
            black_box(check(black_box(&request)));
        }
        best = best.min(start.elapsed().as_nanos() as f64 / n as f64);
    }
    println!("{mode} {case}: {best:.1} ns");
}
