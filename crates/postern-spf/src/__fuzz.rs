//! Fuzz harness bodies, called by the one-line targets in `fuzz/fuzz_targets/` and replayed on
//! stable by tests. Not part of the public API.
// Harnesses assert, so they may panic: a panic is how a fuzzer reports a finding.
#![allow(
    clippy::missing_panics_doc,
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used
)]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use postern_dns::{Entry, Name, Record as DnsRecord, Zone};

use crate::{
    Evaluator, MAX_DNS_TERMS, MacroContext, MacroString, Options, Record, Request, Step, Verdict,
    evaluate_with,
};

/// `spf_record`: any text either fails to parse or parses to a record whose canonical text
/// parses to the same record and prints identically.
pub fn spf_record(data: &[u8]) {
    let Ok(text) = core::str::from_utf8(data) else {
        return;
    };
    if let Ok(record) = Record::parse(text) {
        let printed = record.to_string();
        let reparsed = Record::parse(&printed)
            .unwrap_or_else(|e| panic!("canonical text {printed:?} does not parse: {e}"));
        assert_eq!(reparsed, record, "round trip changed {text:?}");
        assert_eq!(reparsed.to_string(), printed);
    }
}

/// `spf_macro`: any text either fails to parse as a macro string (domain or explanation
/// mode) or round-trips through its canonical text; expansion never panics, and for a
/// string without macros it is the unescaped literal text; the text as written expands as its
/// canonical form does.
pub fn spf_macro(data: &[u8]) {
    let Ok(text) = core::str::from_utf8(data) else {
        return;
    };
    let ctx = MacroContext {
        local_part: "x-y.z",
        sender_domain: "example.com",
        domain: "a.b.example.com",
        ip: IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1)),
        validated: None,
        helo: "mx.example.org",
        receiver: "r.example",
        timestamp: 1,
    };
    for exp in [false, true] {
        if let Ok(m) = MacroString::parse(text, exp) {
            let printed = m.to_string();
            let reparsed = MacroString::parse(&printed, exp)
                .unwrap_or_else(|e| panic!("canonical {printed:?} does not parse: {e}"));
            assert_eq!(reparsed, m);
            let expanded = m.expand(&ctx);
            // The evaluator expands record text as written, not canonical: the same result.
            let (mut raw, mut scratch) = (String::new(), String::new());
            let _ = crate::macros::expand_text(text, exp, &ctx, false, &mut raw, &mut scratch);
            assert_eq!(raw, expanded, "{text:?} expands unlike its canonical form");
            if !text.contains('%') {
                assert_eq!(expanded, text);
            }
        }
    }
}

/// `spf_eval`: `check_host()` over a zone written by the fuzzer never panics, keeps its
/// limits, renders headers without line breaks, and gives the same outcome when run again
/// and when asked again after it is done.
///
/// Input: a selector byte (bit 0: IPv6 client; bit 1: HELO identity; bits 2-3: void-lookup
/// limit 2, 0, 1 or 3), 16 address bytes (the first 4 for IPv4), then UTF-8 lines: the MAIL FROM, the
/// HELO name, then zone lines `<name> <type> <value>` with type `txt` (the rest of the line
/// is the text), `a`, `aaaa`, `mx` (`<preference> <exchange>`), `ptr`, `cname` or `fail`
/// (TIMEOUT for every type). Lines that do not fit are skipped.
pub fn spf_eval(data: &[u8]) {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let Some((address, rest)) = rest.split_first_chunk::<16>() else {
        return;
    };
    let Ok(text) = core::str::from_utf8(rest) else {
        return;
    };
    let ip = if selector & 1 == 0 {
        IpAddr::V4(Ipv4Addr::new(
            address[0], address[1], address[2], address[3],
        ))
    } else {
        IpAddr::V6(Ipv6Addr::from(*address))
    };
    let mut lines = text.split('\n');
    let mail_from = lines.next().unwrap_or_default();
    let helo = lines.next().unwrap_or_default();
    let zone = fuzz_zone(lines);
    let request = if selector & 2 == 0 {
        Request::mail_from(ip, mail_from, helo)
    } else {
        Request::helo(ip, helo)
    };
    // Bits 2-3 pick the void-lookup limit: the default (2) when clear.
    let max_voids = match selector >> 2 & 3 {
        0 => 2,
        1 => 0,
        2 => 1,
        _ => 3,
    };
    let options = Options::default()
        .with_receiver("mx.example.net")
        .with_max_void_lookups(max_voids);
    let outcome = evaluate_with(&request, &options, |query| zone.resolve(query));

    // Limits: the term or void lookup that broke a limit is counted too.
    assert!(outcome.dns_lookups <= MAX_DNS_TERMS + 1, "{outcome:?}");
    assert!(outcome.void_lookups <= max_voids + 1, "{outcome:?}");
    if matches!(
        outcome.verdict,
        Verdict::PermError | Verdict::TempError | Verdict::None
    ) {
        assert!(outcome.mechanism().is_none(), "{outcome:?}");
    }
    if outcome.explanation.is_some() {
        assert_eq!(outcome.verdict, Verdict::Fail);
    }
    for header in [outcome.received_spf(), outcome.authentication_results()] {
        assert!(
            !header.contains(['\r', '\n']),
            "line break in a header: {header:?}"
        );
    }
    // The same answers give the same outcome, and a finished evaluator keeps returning it.
    let mut eval = Evaluator::new(&request, &options);
    let again = loop {
        match eval.step() {
            Step::Lookup(query) => eval
                .supply(query.id(), zone.resolve(&query))
                .expect("the pending query takes an answer"),
            Step::Done(outcome) => break outcome,
        }
    };
    assert_eq!(again, outcome);
    assert_eq!(eval.step(), Step::Done(outcome));
}

/// The zone of [`spf_eval`]'s input lines.
fn fuzz_zone<'a>(lines: impl Iterator<Item = &'a str>) -> Zone {
    let mut zone = Zone::new();
    for line in lines {
        let mut fields = line.splitn(3, ' ');
        let (Some(owner), Some(kind)) = (fields.next(), fields.next()) else {
            continue;
        };
        let value = fields.next().unwrap_or_default();
        let Ok(owner) = Name::new(owner) else {
            continue;
        };
        let entry = match kind {
            "txt" => Entry::Record(DnsRecord::Txt(value.as_bytes().to_vec())),
            "a" => match value.parse() {
                Ok(v4) => Entry::Record(DnsRecord::A(v4)),
                Err(_) => continue,
            },
            "aaaa" => match value.parse() {
                Ok(v6) => Entry::Record(DnsRecord::Aaaa(v6)),
                Err(_) => continue,
            },
            "mx" => {
                let (preference, exchange) = value.split_once(' ').unwrap_or((value, ""));
                let Ok(preference) = preference.parse() else {
                    continue;
                };
                Entry::Record(DnsRecord::Mx {
                    preference,
                    exchange: Name::new(exchange).ok(),
                })
            }
            "ptr" => match Name::new(value) {
                Ok(target) => Entry::Record(DnsRecord::Ptr(target)),
                Err(_) => continue,
            },
            "cname" => match Name::new(value) {
                Ok(target) => Entry::Cname(target),
                Err(_) => continue,
            },
            "fail" => Entry::TempFail { qtype: None },
            _ => continue,
        };
        zone.insert(owner, entry);
    }
    zone
}
