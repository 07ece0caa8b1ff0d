//! The three `spf/check_host` bench cases with their canned DNS, shared by the criterion
//! bench (`benches/spf.rs`) and `benches/compare/spf-floor.sh` (which includes this file), so
//! that both measure the same checks.
//!
//! - `ip4`: `v=spf1 ip4:192.0.2.0/24 -all`, client inside the network.
//! - `include_chain5`: `include:_spf.example.com ~all` and three more levels of includes with
//!   several `ip4:`/`ip6:` each (five records); the match is in the last one.
//! - `exists_macro`: `exists:%{ir}.%{l1r+-}._spf.%{d} -all` with an A answer.
//!
//! Every case passes.

use std::net::{IpAddr, Ipv4Addr};

use postern_dns::{Answer, Query, Record};
use postern_spf::{Evaluator, Options, Request, Step, Verdict};

/// Canned DNS: (name, answer) pairs, answered by cloning, as a cache would.
pub struct Canned(pub Vec<(&'static str, Answer)>);

impl Canned {
    /// One TXT record per name.
    #[must_use]
    pub fn txt(entries: &[(&'static str, &str)]) -> Self {
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

    /// The answer to `query` (by name only; NXDOMAIN for other names).
    #[must_use]
    pub fn resolve(&self, query: &Query) -> Answer {
        self.lookup(query.name().as_str())
            .map_or(Answer::NxDomain, Answer::clone)
    }

    /// The canned answer for `name`, borrowed; `None` for other names.
    #[must_use]
    pub fn lookup(&self, name: &str) -> Option<&Answer> {
        self.0
            .iter()
            .find(|(canned, _)| *canned == name)
            .map(|(_, answer)| answer)
    }
}

/// One bench case: its name, DNS and request.
pub struct Case {
    /// The bench's name, as in `spf/check_host/<name>`.
    pub name: &'static str,
    /// The canned answers.
    pub dns: Canned,
    /// The check.
    pub request: Request<'static>,
}

/// The options of every case.
#[must_use]
pub fn options() -> Options {
    Options::default().with_receiver("mx.example.net")
}

/// The three cases.
#[must_use]
pub fn cases() -> [Case; 3] {
    let mut exists = Canned::txt(&[("example.com", "v=spf1 exists:%{ir}.%{l1r+-}._spf.%{d} -all")]);
    exists.0.push((
        "77.2.0.192.carol._spf.example.com",
        Answer::Records(vec![Record::A(Ipv4Addr::new(127, 0, 0, 2))].into()),
    ));
    [
        Case {
            name: "ip4",
            dns: Canned::txt(&[("example.com", "v=spf1 ip4:192.0.2.0/24 -all")]),
            request: Request::mail_from(
                IpAddr::V4(Ipv4Addr::new(192, 0, 2, 77)),
                "alice@example.com",
                "mail.example.com",
            ),
        },
        Case {
            name: "include_chain5",
            dns: Canned::txt(&[
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
            ]),
            request: Request::mail_from(
                IpAddr::V4(Ipv4Addr::new(192, 0, 2, 7)),
                "bob@example.com",
                "mail.example.com",
            ),
        },
        Case {
            name: "exists_macro",
            dns: exists,
            request: Request::mail_from(
                IpAddr::V4(Ipv4Addr::new(192, 0, 2, 77)),
                "carol+lists@example.com",
                "mail.example.com",
            ),
        },
    ]
}

/// One whole check through the step loop; the verdict. A query the evaluator does not
/// expect cannot happen here (each answer goes to the query just asked): it would end the
/// check as a temperror.
#[must_use]
pub fn run(request: &Request<'_>, options: &Options, dns: &Canned) -> Verdict {
    let mut eval = Evaluator::new(request, options);
    loop {
        match eval.step() {
            Step::Lookup(query) => {
                if eval.supply(query.id(), dns.resolve(&query)).is_err() {
                    return Verdict::TempError;
                }
            }
            Step::Done(outcome) => return outcome.verdict,
        }
    }
}
