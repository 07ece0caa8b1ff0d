//! Harness of `spf-mail-auth.sh`: the three `spf/check_host` bench cases of
//! `benches/src/spf_cases.rs` (their records, clients and senders, taken from that file)
//! through postern's evaluator (as the bench runs them) or through mail-auth 0.15.1's
//! `check_host`, the reference the targets were set against. Prints the best of 25
//! rounds of N checks, in ns per check, as `spf-floor.sh` does; with `SPF_FLOOR_ONCE` set,
//! runs N checks untimed (for instruction counts).
//!
//! Every check parses its SPF records from text, as postern's bench does. mail-auth's DNS
//! cache holds parsed records only, so the TXT cache here keeps the record text and, on every
//! lookup, parses it with mail-auth's own parser (`SpfRecord::parse_records`, the call
//! mail-auth makes on a DNS answer), keeping nothing between lookups. The `exists:` case's A
//! record comes from a read-only map. mail-auth's `test` feature answers every other lookup
//! with a mock NXDOMAIN, the resolver has no name servers, and the check is polled once (a
//! check that waited for I/O would panic), so no DNS query can leave the machine.
//!
//! Usage: mail-auth-spf (postern|mail-auth) (ip4|include_chain5|exists_macro) N

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::Hash;
use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Instant;

use mail_auth::dns::TxtRecordParser;
use mail_auth::hickory_resolver::config::{ResolverConfig, ResolverOpts};
use mail_auth::spf::SpfRecord;
use mail_auth::spf::verify::SpfParameters;
use mail_auth::{
    DnsCache, DnssecStatus, MessageAuthenticator, Mx, Negative, Parameters, RecordSet,
    ResolverCache, SpfResult, TxtRecord,
};
use postern_dns::Record;
use postern_spf::Verdict;

// The bench's own cases (benches/src/spf_cases.rs, copied beside this file by the script).
#[allow(dead_code)]
mod spf_cases;

/// A read-only cache of answers by key.
struct Map<K, V>(HashMap<K, V>);

impl<K: Hash + Eq, V: Clone> ResolverCache<K, V> for Map<K, V> {
    fn get<Q: Hash + Eq + ?Sized>(&self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
    {
        self.0.get(key).cloned()
    }

    fn remove<Q: Hash + Eq + ?Sized>(&self, _: &Q) -> Option<V>
    where
        K: Borrow<Q>,
    {
        None
    }

    fn insert(&self, _: K, _: V, _: Instant) {}
}

/// TXT record text by name, parsed on every lookup.
struct Texts(HashMap<Box<str>, Vec<Vec<u8>>>);

impl ResolverCache<Box<str>, TxtRecord> for Texts {
    fn get<Q: Hash + Eq + ?Sized>(&self, name: &Q) -> Option<TxtRecord>
    where
        Box<str>: Borrow<Q>,
    {
        let answer = self.0.get(name)?;
        Some(TxtRecord::from(SpfRecord::parse_records(answer)))
    }

    fn remove<Q: Hash + Eq + ?Sized>(&self, _: &Q) -> Option<TxtRecord>
    where
        Box<str>: Borrow<Q>,
    {
        None
    }

    fn insert(&self, _: Box<str>, _: TxtRecord, _: Instant) {}
}

type Answer<T> = Result<RecordSet<T>, Negative>;

struct Caches {
    txt: Texts,
    a: Map<Box<str>, Answer<Ipv4Addr>>,
    aaaa: Map<Box<str>, Answer<Ipv6Addr>>,
    mx: Map<Box<str>, Answer<Mx>>,
    ptr: Map<IpAddr, Answer<Box<str>>>,
}

impl DnsCache for Caches {
    type Txt = Texts;
    type Mx = Map<Box<str>, Answer<Mx>>;
    type Ipv4 = Map<Box<str>, Answer<Ipv4Addr>>;
    type Ipv6 = Map<Box<str>, Answer<Ipv6Addr>>;
    type Ptr = Map<IpAddr, Answer<Box<str>>>;

    fn txt(&self) -> Option<&Self::Txt> {
        Some(&self.txt)
    }
    fn mx(&self) -> Option<&Self::Mx> {
        Some(&self.mx)
    }
    fn ipv4(&self) -> Option<&Self::Ipv4> {
        Some(&self.a)
    }
    fn ipv6(&self) -> Option<&Self::Ipv6> {
        Some(&self.aaaa)
    }
    fn ptr(&self) -> Option<&Self::Ptr> {
        Some(&self.ptr)
    }
}

/// mail-auth's cache keys: lower case, with the final dot.
fn fqdn(name: &str) -> Box<str> {
    format!("{}.", name.to_ascii_lowercase()).into_boxed_str()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (library, name) = (args.get(1).expect("library"), args.get(2).expect("case"));
    let n: usize = args.get(3).expect("N").parse().expect("N");
    let case = spf_cases::cases()
        .into_iter()
        .find(|case| case.name == name)
        .expect("case: ip4, include_chain5 or exists_macro");
    if library == "postern" {
        let options = spf_cases::options();
        let check = || spf_cases::run(&case.request, &options, &case.dns) == Verdict::Pass;
        return measure(library, name, n, check);
    }
    assert_eq!(library, "mail-auth", "library: postern or mail-auth");
    let (mut txt, mut a) = (HashMap::new(), HashMap::new());
    for (owner, answer) in &case.dns.0 {
        for record in answer.records() {
            match record {
                Record::Txt(text) => {
                    txt.insert(fqdn(owner), vec![text.clone()]);
                }
                Record::A(ip) => {
                    let records = RecordSet {
                        records: Arc::from(vec![*ip]),
                        dnssec_status: DnssecStatus::Indeterminate,
                    };
                    a.insert(fqdn(owner), Ok(records));
                }
                other => panic!("{name}: no such record in the cases: {other:?}"),
            }
        }
    }
    let caches = Caches {
        txt: Texts(txt),
        a: Map(a),
        aaaa: Map(HashMap::new()),
        mx: Map(HashMap::new()),
        ptr: Map(HashMap::new()),
    };
    let auth = MessageAuthenticator::new(
        ResolverConfig::from_name_servers(vec![]),
        ResolverOpts::default(),
    )
    .expect("resolver");
    let check = || {
        // The receiving host of `spf_cases::options()` (`%{r}`; no case uses it).
        let params = Parameters::new(SpfParameters::mail_from(
            case.request.ip,
            case.request.helo,
            "mx.example.net",
            case.request.mail_from,
        ))
        .with_cache(&caches);
        let mut check = pin!(auth.check_host(params));
        match check.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
            Poll::Ready(output) => output.result() == SpfResult::Pass,
            Poll::Pending => panic!("the check waited for I/O"),
        }
    };
    measure(library, name, n, check);
}

/// Checks that `check` passes, then prints the best of 25 rounds of `n` checks in ns per
/// check; with `SPF_FLOOR_ONCE` set, runs `n` checks untimed.
fn measure(library: &str, name: &str, n: usize, mut check: impl FnMut() -> bool) {
    assert!(check(), "{library} {name}: not a pass");
    if std::env::var_os("SPF_FLOOR_ONCE").is_some() {
        for _ in 0..n {
            black_box(check());
        }
        return;
    }
    let mut best = f64::MAX;
    for _ in 0..25 {
        let start = Instant::now();
        for _ in 0..n {
            black_box(check());
        }
        best = best.min(start.elapsed().as_nanos() as f64 / n as f64);
    }
    println!("{library} {name}: {best:.1} ns");
}
