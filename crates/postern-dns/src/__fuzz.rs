//! Fuzz harness bodies, called by the one-line targets in `fuzz/fuzz_targets/` and replayed on
//! stable by tests. Not part of the public API.
// Harnesses assert, so they may panic: a panic is how a fuzzer reports a finding.
#![allow(
    clippy::missing_panics_doc,
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used
)]

use crate::{Answer, Name, Query, RecordType};

/// `dns_wire`: any packet, for each record type, gives either an error or an answer whose
/// records all have the asked type; never a panic. The answer to a type does not depend on
/// the transaction id of the query.
pub fn dns_wire(data: &[u8]) {
    #[cfg(feature = "wire")]
    {
        let Ok(name) = Name::new("example.com") else {
            return;
        };
        for rtype in [
            RecordType::Txt,
            RecordType::A,
            RecordType::Aaaa,
            RecordType::Mx,
            RecordType::Ptr,
        ] {
            let query = Query::new(0, name.clone(), rtype);
            if let Ok(Answer::Records(records)) = Answer::from_wire(&query, data) {
                assert!(!records.is_empty(), "Records answer without records");
                assert!(
                    records.iter().all(|r| r.rtype() == rtype),
                    "record of another type"
                );
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
