//! Fuzz harness bodies, shared by the cargo-fuzz targets in `fuzz/` and by the stable replay
//! test `tests/fuzz_replay.rs`. Each asserts invariants, not only the absence of panics.
//! Not part of the public API.
// Harnesses assert, so they may panic and index: a panic is how a fuzzer reports a finding.
#![allow(
    clippy::indexing_slicing,
    clippy::missing_panics_doc,
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used
)]

use postern_dns::{Answer, Record};

use crate::body::{BodyHashKey, BodyHasher};
use crate::canon::{self, BodyCanonicalizer, Canonicalization};
use crate::key::{KeyRecord, PublicKey};
use crate::signature::{HashAlgorithm, KeyType, Signature};
use crate::tag_list;
use crate::{DkimResult, Error, Outcome, SignParams, SigningKey, Step, Verifier, VerifyOptions};

/// The seed of the fixed Ed25519 key the verifier harness signs with (RFC 8032 test 1).
const SEED: [u8; 32] = [
    0x9d, 0x61, 0xb1, 0x9d, 0xef, 0xfd, 0x5a, 0x60, 0xba, 0x84, 0x4a, 0xf4, 0x92, 0xec, 0x2c, 0xc4,
    0x44, 0x49, 0xc5, 0x69, 0x7b, 0x32, 0x69, 0x19, 0x70, 0x3b, 0xac, 0x03, 0x1c, 0xae, 0x7f, 0x60,
];
/// Its public key record.
const KEY_RECORD: &[u8] = b"v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=";

/// The DKIM-Signature tag list and signature parser: tag values lie inside the input, the
/// removal range of `b=` covers its value, and a parsed signature satisfies RFC 6376 §6.1.1
/// (From signed, `i=` within `d=`, `x=` after `t=`).
pub fn signature(data: &[u8]) {
    if let Ok(tags) = tag_list::parse(data) {
        for (i, tag) in tags.iter().enumerate() {
            let end = tag.value_start + tag.value.len();
            assert_eq!(&data[tag.value_start..end], tag.value);
            assert!(
                tags[..i].iter().all(|t| t.name != tag.name),
                "duplicate accepted"
            );
            let range = tag_list::removal_range(data, tag);
            assert!(range.start <= tag.value_start && range.end >= end && range.end <= data.len());
        }
    }
    if let Ok(sig) = Signature::parse(data) {
        assert!(sig.signed_headers.iter().any(|h| h == "from"));
        let i_domain = sig.identity_domain().to_ascii_lowercase();
        let d = sig.domain.to_ascii_lowercase();
        assert!(i_domain == d || i_domain.ends_with(&format!(".{d}")));
        if let (Some(t), Some(x)) = (sig.timestamp, sig.expiration) {
            assert!(x > t);
        }
        assert!(!sig.signature.is_empty() && !sig.body_hash.is_empty());
    }
}

/// The key record parser and key decoder: a decoded RSA modulus has no leading zero and its
/// measured size matches its length; Ed25519 keys are 32 bytes.
pub fn key(data: &[u8]) {
    let Ok(record) = KeyRecord::parse(data) else {
        return;
    };
    for key_type in [KeyType::Rsa, KeyType::Ed25519] {
        match PublicKey::decode(key_type, &record.public_key) {
            Some(PublicKey::Rsa { n, bits, .. }) => {
                assert_ne!(n.first(), Some(&0));
                assert!(bits > (n.len() - 1) * 8 && bits <= n.len() * 8);
            }
            Some(PublicKey::Ed25519(_)) => assert_eq!(record.public_key.len(), 32),
            None => {}
        }
    }
}

fn canonical_body(c: Canonicalization, input: &[u8], sizes: &[usize]) -> Vec<u8> {
    let mut canon = BodyCanonicalizer::new(c);
    let mut out = Vec::new();
    let mut rest = input;
    let mut sizes = sizes.iter().copied().filter(|&n| n > 0).cycle();
    while !rest.is_empty() {
        let n = sizes.next().unwrap_or(rest.len()).min(rest.len());
        let (a, b) = rest.split_at(n);
        canon.update(a, &mut out);
        rest = b;
    }
    canon.finish(&mut out);
    out
}

/// RFC 6376 §3.4.3/§3.4.4 written the obvious way, over a whole body: the oracle for the
/// streaming canonicalizer.
pub fn reference_body(c: Canonicalization, body: &[u8]) -> Vec<u8> {
    // Lines end with CRLF; what follows the last CRLF is a last line without one.
    let mut lines: Vec<Vec<u8>> = Vec::new();
    let mut rest = body;
    while let Some(i) = rest.windows(2).position(|w| w == b"\r\n") {
        lines.push(rest[..i].to_vec());
        rest = &rest[i + 2..];
    }
    if !rest.is_empty() {
        lines.push(rest.to_vec());
    }
    if c == Canonicalization::Relaxed {
        for line in &mut lines {
            let mut out = Vec::new();
            let mut in_wsp = false;
            for &b in line.iter() {
                if b == b' ' || b == b'\t' {
                    in_wsp = true;
                } else {
                    if in_wsp {
                        out.push(b' ');
                    }
                    in_wsp = false;
                    out.push(b);
                }
            }
            *line = out;
        }
    }
    while lines.last().is_some_and(Vec::is_empty) {
        lines.pop();
    }
    let mut out = Vec::new();
    for line in &lines {
        out.extend_from_slice(line);
        out.extend_from_slice(b"\r\n");
    }
    if c == Canonicalization::Simple && out.is_empty() {
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// Body canonicalization: the streaming canonicalizer agrees with [`reference_body`]; any
/// split gives the same bytes; the output is canonical (relaxed:
/// no TAB, no double space, no WSP before CRLF; both: ends with CRLF unless relaxed-empty, no
/// trailing empty line) and canonicalizing it again changes nothing. Header canonicalization:
/// relaxed is idempotent.
pub fn canon(data: &[u8]) {
    let Some((&selector, input)) = data.split_first() else {
        return;
    };
    for c in [Canonicalization::Simple, Canonicalization::Relaxed] {
        let whole = canonical_body(c, input, &[input.len().max(1)]);
        assert_eq!(
            whole,
            reference_body(c, input),
            "{c}: differs from the reference"
        );
        // The body hash (staged digest updates, l= cut) is the digest of the reference.
        let limit = (selector & 1 == 1).then(|| u64::from(selector) * 3);
        let mut hasher = BodyHasher::new(BodyHashKey {
            canonicalization: c,
            hash: HashAlgorithm::Sha256,
            limit,
        });
        let mut rest = input;
        for size in [1usize, 5000, 3, 2100, 64].into_iter().cycle() {
            if rest.is_empty() {
                break;
            }
            let (a, b) = rest.split_at(size.min(rest.len()));
            hasher.update(a);
            rest = b;
        }
        let (digest, length) = hasher.finish();
        let cut = limit.map_or(whole.len(), |l| {
            whole.len().min(usize::try_from(l).unwrap())
        });
        let expected = ring::digest::digest(&ring::digest::SHA256, &whole[..cut]);
        assert_eq!(digest, expected.as_ref(), "{c}: body hash");
        assert_eq!(length, whole.len() as u64);
        assert_eq!(
            whole,
            canonical_body(c, input, &[1]),
            "{c}: bytewise differs"
        );
        let split = usize::from(selector) % (input.len() + 1);
        assert_eq!(
            whole,
            canonical_body(c, input, &[split.max(1), input.len().max(1)])
        );
        assert_eq!(
            whole,
            canonical_body(c, input, &[3, 1, 7, 2, 64, 9]),
            "{c}: uneven"
        );
        assert_eq!(
            whole,
            canonical_body(c, &whole, &[whole.len().max(1)]),
            "{c}: not idempotent"
        );
        if c == Canonicalization::Relaxed {
            assert!(!whole.contains(&b'\t'));
            assert!(!whole.windows(2).any(|w| w == b"  "));
            assert!(!whole.windows(3).any(|w| w == b" \r\n"));
            assert!(whole.is_empty() || whole.ends_with(b"\r\n"));
        } else {
            assert!(whole.ends_with(b"\r\n"));
        }
        assert!(
            !whole.ends_with(b"\r\n\r\n"),
            "{c}: trailing empty line kept"
        );
    }
    // Header: split at the first colon (or not at all).
    let colon = input.iter().position(|&b| b == b':').unwrap_or(input.len());
    let (name, value) = (&input[..colon], input.get(colon + 1..).unwrap_or_default());
    let mut once = Vec::new();
    canon::header_field(Canonicalization::Relaxed, name, value, &mut once);
    let body = &once[..once.len() - 2];
    let c2 = body.iter().position(|&b| b == b':').unwrap_or(body.len());
    let mut twice = Vec::new();
    canon::header_field(
        Canonicalization::Relaxed,
        &body[..c2],
        body.get(c2 + 1..).unwrap_or_default(),
        &mut twice,
    );
    if !name.contains(&b'\r') && !name.contains(&b'\n') && !value.windows(2).any(|w| w == b"\r\n") {
        assert_eq!(
            once, twice,
            "relaxed header canonicalization is not idempotent"
        );
    }
}

fn answer(_: &postern_dns::Query) -> Answer {
    Answer::Records(vec![Record::Txt(KEY_RECORD.to_vec())].into())
}

fn verify_in(message: &[u8], sizes: &[usize]) -> Result<Outcome, Error> {
    let mut v = Verifier::new(VerifyOptions::new(1_700_000_000));
    let mut rest = message;
    let mut sizes = sizes.iter().copied().filter(|&n| n > 0).cycle();
    loop {
        match v.step() {
            Step::Lookup(q) => v.supply(q.id(), answer(&q))?,
            Step::NeedInput if rest.is_empty() => v.finish()?,
            Step::NeedInput => {
                let n = sizes.next().unwrap_or(rest.len()).min(rest.len());
                let (a, b) = rest.split_at(n);
                v.update(a)?;
                rest = b;
            }
            Step::Waiting => panic!("every query was answered"),
            Step::Done(outcome) => return Ok(outcome),
        }
    }
}

/// The whole verifier on arbitrary messages with a fixed key: the outcome does not depend on
/// how the message is split; and the message signed by the signer with that key (relaxed or
/// simple, oversigned) verifies as `pass` for the new signature.
pub fn verify(data: &[u8]) {
    let Some((&selector, message)) = data.split_first() else {
        return;
    };
    let whole = verify_in(message, &[message.len().max(1)]);
    let split = usize::from(selector).max(1);
    assert_eq!(
        whole,
        verify_in(message, &[split, 1, 5]),
        "split-dependent outcome"
    );

    let mut params = SignParams::new("example.com", "fuzz");
    if selector & 1 != 0 {
        params.header_canonicalization = Canonicalization::Simple;
    }
    if selector & 2 != 0 {
        params.body_canonicalization = Canonicalization::Simple;
    }
    params.oversign = true;
    params.body_length = selector & 4 != 0;
    if matches!(message.first(), Some(b' ' | b'\t')) {
        return; // a leading continuation line would fold into the prepended field
    }
    let key = SigningKey::ed25519_from_seed(&SEED).unwrap();
    let Ok(field) = crate::sign(message, key, params) else {
        return; // header limits
    };
    let mut signed = field.into_bytes();
    signed.extend_from_slice(message);
    let Ok(outcome) = verify_in(&signed, &[signed.len().max(1)]) else {
        return; // the added field pushed the block over a limit
    };
    let top = &outcome.signatures[0];
    assert_eq!(
        top.result,
        DkimResult::Pass,
        "own signature does not verify: {top:?}"
    );
}
