//! Key answers given as raw DNS response packets (`Verifier::supply_wire`), as a C caller or
//! an event loop with its own resolver would: TXT records of several strings, NXDOMAIN,
//! SERVFAIL, and a truncated answer (an error: retry over TCP).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use postern_dkim::{
    DkimResult, Error, Reason, SignParams, SigningKey, Step, Verifier, VerifyOptions,
};
use postern_dns::Query;

fn name_wire(name: &str) -> Vec<u8> {
    let mut out = Vec::new();
    for label in name.trim_end_matches('.').split('.') {
        out.push(u8::try_from(label.len()).unwrap());
        out.extend_from_slice(label.as_bytes());
    }
    out.push(0);
    out
}

/// A DNS response to `query` (TXT IN) with `rcode`, the TC bit, and TXT records (each a list
/// of character-strings).
fn response(query: &Query, rcode: u8, truncated: bool, records: &[&[&str]]) -> Vec<u8> {
    let mut p = vec![0x12, 0x34];
    let flags_hi = 0x80 | 0x01 | if truncated { 0x02 } else { 0 }; // QR, RD, TC
    p.extend_from_slice(&[flags_hi, 0x80 | rcode]); // RA, RCODE
    p.extend_from_slice(&1u16.to_be_bytes());
    p.extend_from_slice(&u16::try_from(records.len()).unwrap().to_be_bytes());
    p.extend_from_slice(&[0, 0, 0, 0]);
    let qname = name_wire(query.name().as_str());
    p.extend_from_slice(&qname);
    p.extend_from_slice(&[0, 16, 0, 1]);
    for strings in records {
        p.extend_from_slice(&[0xc0, 12]); // pointer to the question name
        p.extend_from_slice(&[0, 16, 0, 1, 0, 0, 0x0e, 0x10]);
        let mut rdata = Vec::new();
        for s in *strings {
            rdata.push(u8::try_from(s.len()).unwrap());
            rdata.extend_from_slice(s.as_bytes());
        }
        p.extend_from_slice(&u16::try_from(rdata.len()).unwrap().to_be_bytes());
        p.extend_from_slice(&rdata);
    }
    p
}

fn signed_message() -> (Vec<u8>, String) {
    let key = SigningKey::ed25519_from_seed(&[8; 32]).unwrap();
    let record = format!("v=DKIM1; k=ed25519; p={}", key.public_key_base64());
    let message = b"From: a@example.com\r\nSubject: wire\r\n\r\nbody\r\n";
    let mut signed = postern_dkim::sign(message, key, SignParams::new("example.com", "w"))
        .unwrap()
        .into_bytes();
    signed.extend_from_slice(message);
    (signed, record)
}

/// Verify, answering the key query with the packet `make` builds.
fn run(make: impl Fn(&Query) -> Vec<u8>) -> Result<postern_dkim::Outcome, Error> {
    let (message, _) = signed_message();
    let mut v = Verifier::new(VerifyOptions::new(1_700_000_000));
    v.update(&message)?;
    v.finish()?;
    loop {
        match v.step() {
            Step::Lookup(q) => {
                assert_eq!(q.name().as_str(), "w._domainkey.example.com");
                v.supply_wire(q.id(), &make(&q))?;
            }
            Step::Done(outcome) => return Ok(outcome),
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn txt_record_split_in_strings_passes() {
    let (_, record) = signed_message();
    let (a, b) = record.split_at(20);
    let outcome = run(|q| response(q, 0, false, &[&[a, b]])).unwrap();
    assert_eq!(outcome.signatures[0].result, DkimResult::Pass);
}

#[test]
fn nxdomain_servfail_and_truncation() {
    let outcome = run(|q| response(q, 3, false, &[])).unwrap();
    assert_eq!(outcome.signatures[0].result, DkimResult::PermError);
    assert_eq!(outcome.signatures[0].reason, Some(Reason::NoKey));
    let outcome = run(|q| response(q, 2, false, &[])).unwrap();
    assert_eq!(outcome.signatures[0].result, DkimResult::TempError);
    assert_eq!(outcome.signatures[0].reason, Some(Reason::KeyUnavailable));
    let err = run(|q| response(q, 0, true, &[])).unwrap_err();
    assert!(matches!(err, Error::Dns { id: 1, .. }), "{err}");
    let err = run(|_| b"not a packet".to_vec()).unwrap_err();
    assert!(matches!(err, Error::Dns { .. }), "{err}");
}

#[test]
fn unknown_query_ids_are_errors() {
    let (message, _) = signed_message();
    let mut v = Verifier::new(VerifyOptions::new(0));
    assert_eq!(v.supply_wire(1, b""), Err(Error::UnknownQuery { id: 1 }));
    v.update(&message).unwrap();
    let Step::Lookup(q) = v.step() else { panic!() };
    assert_eq!(v.step(), Step::NeedInput);
    v.finish().unwrap();
    assert_eq!(v.step(), Step::Waiting);
    assert_eq!(v.update(b"more"), Err(Error::InputAfterFinish));
    v.supply(q.id(), postern_dns::Answer::NxDomain).unwrap();
    assert_eq!(
        v.supply(q.id(), postern_dns::Answer::NxDomain),
        Err(Error::UnknownQuery { id: q.id() })
    );
    assert!(matches!(v.step(), Step::Done(_)));
}

/// Two signatures with the same canonicalization, hash and no `l=` share one body hash; a
/// third with `l=` gets its own.
#[test]
fn body_hashes_are_shared() {
    let message = b"From: a@example.com\r\nSubject: share\r\n\r\nbody  text \r\n".to_vec();
    let mut signed = message.clone();
    for (seed, selector, l) in [(1u8, "one", false), (2, "two", false), (3, "three", true)] {
        let mut params = SignParams::new("example.com", selector);
        params.body_length = l;
        let key = SigningKey::ed25519_from_seed(&[seed; 32]).unwrap();
        let mut next = postern_dkim::sign(&signed, key, params)
            .unwrap()
            .into_bytes();
        next.extend_from_slice(&signed);
        signed = next;
    }
    let mut v = Verifier::new(VerifyOptions::new(0));
    let header_end = signed.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    v.update(&signed[..header_end]).unwrap();
    assert!(v.header_block_complete());
    assert_eq!(v.body_hash_count(), 2);
}
