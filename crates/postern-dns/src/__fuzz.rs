//! Fuzz harness bodies, called by the one-line targets in `fuzz/fuzz_targets/` and replayed on
//! stable by tests. Not part of the public API.
// Harnesses assert, so they may panic: a panic is how a fuzzer reports a finding.
#![allow(
    clippy::missing_panics_doc,
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used
)]

use crate::{Answer, Name, Query, RecordType, Zone};

/// A records answer holds at least one record, and only records of the asked type.
fn assert_answers_only(answer: &Answer, rtype: RecordType) {
    if let Answer::Records(records) = answer {
        assert!(!records.is_empty(), "Records answer without records");
        assert!(
            records.iter().all(|r| r.rtype() == rtype),
            "record of another type"
        );
    }
}

/// `dns_wire`: any packet, for each record type, gives either an error or an answer whose
/// records all have the asked type; never a panic. The answer to a type does not depend on
/// the transaction id of the query.
pub fn dns_wire(data: &[u8]) {
    #[cfg(feature = "wire")]
    {
        let Ok(name) = Name::new("example.com") else {
            return;
        };
        for rtype in RecordType::ALL {
            let query = Query::new(0, name.clone(), rtype);
            if let Ok(answer) = Answer::from_wire(&query, data) {
                assert_answers_only(&answer, rtype);
            }
            // Queries always encode, and a query is never accepted as an answer.
            let packet = query
                .to_wire(u16::from(data.first().copied().unwrap_or(0)))
                .ok();
            if let Some(packet) = packet {
                assert!(
                    Answer::from_wire(&query, &packet).is_err(),
                    "a query packet was accepted"
                );
            }
        }
    }
    #[cfg(not(feature = "wire"))]
    {
        let _ = (data, Name::new, Query::new, RecordType::Txt, Answer::NoData);
    }
}

/// Owners whose answers `dns_zone` checks, at most (a zone of many names is checked in part,
/// so one input stays fast).
const ZONE_OWNERS_CHECKED: usize = 64;

/// `dns_zone`: the offline zone loaders on any input. The first byte picks the loader (bits
/// 0-1: master file without an origin, master file with origin `example.org`, the JSON zone
/// format, `OpenSPF` zonedata as JSON; bit 2: master files may include themselves); the rest
/// is the file. Master files are loaded from bytes, as the CLI reads them; the JSON loaders
/// get only UTF-8 text (the CLI refuses other JSON files before loading them). Loading gives
/// a zone or an error, never a panic; a loaded zone answers every type at each owner and at a
/// name below it (wildcards, CNAME chains end) with records of that type only, and loading
/// the same input again gives the same zone.
pub fn dns_zone(data: &[u8]) {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let text = core::str::from_utf8(rest).ok();
    let origin = Name::new("example.org").ok();
    // With bit 2 set, a master file may `$INCLUDE self` (itself, so nesting and the limits
    // are reached) or `$INCLUDE empty`.
    let includes = |file: &str| match file {
        "self" => Ok(rest.to_vec()),
        "empty" => Ok(Vec::new()),
        other => Err(format!("no file {other}")),
    };
    let master = |origin: Option<&Name>| {
        if selector & 4 == 0 {
            Zone::from_master_bytes(rest, origin).ok()
        } else {
            Zone::from_master_bytes_with_includes(rest, origin, includes).ok()
        }
    };
    let load = || match selector & 3 {
        0 => master(None),
        1 => master(origin.as_ref()),
        2 => text.and_then(|text| Zone::from_json(text).ok()),
        _ => text
            .and_then(|text| serde_json::from_str(text).ok())
            .and_then(|value| Zone::from_openspf_zonedata(&value).ok()),
    };
    let Some(zone) = load() else {
        return;
    };
    for owner in zone.owners().take(ZONE_OWNERS_CHECKED) {
        // The owner, and a name below it (answered from a wildcard, or NXDOMAIN).
        let below = Name::new(&format!("w.{owner}")).ok();
        for name in core::iter::once(owner).chain(below.as_ref()) {
            for rtype in RecordType::ALL {
                assert_answers_only(&zone.resolve_name(name, rtype), rtype);
            }
        }
    }
    assert!(
        load().is_some_and(|again| again == zone),
        "loading is not repeatable"
    );
}
