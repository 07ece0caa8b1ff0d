//! Fuzz harness bodies, called by the one-line targets in `fuzz/fuzz_targets/` and replayed on
//! stable by tests. Not part of the public API.
// Harnesses assert, so they may panic: a panic is how a fuzzer reports a finding.
#![allow(
    clippy::missing_panics_doc,
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used
)]

use std::net::{IpAddr, Ipv6Addr};

use crate::{MacroContext, MacroString, Record};

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
/// string without macros it is the unescaped literal text.
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
            if !text.contains('%') {
                assert_eq!(expanded, text);
            }
        }
    }
}
