//! `public/canonicalization.json`: the RFC 6376 §3.4.6 canonicalization example (with its
//! `B : Y` header, white space before the colon) and the empty-body hashes. A signature is made
//! here over the canonical forms as printed in the RFC (Ed25519 from ring, independently of
//! the crate's canonicalization) and must verify, in all four `c=` combinations; the signer's
//! `bh=` of an empty body must be the published hash.
// Tests read the shared corpus from disk and panic on mismatch.
#![allow(clippy::disallowed_methods)]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::PathBuf;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use postern_dkim::{
    Canonicalization, DkimResult, SignParams, SigningKey, VerifyOptions, verify_with,
};
use postern_dns::{Answer, Record};
use ring::signature::{Ed25519KeyPair, KeyPair as _};
use serde_json::Value;

fn example() -> Value {
    let path = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/testdata/dkim/public/canonicalization.json"
    ));
    let text = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_slice(&text).unwrap()
}

fn sha256_b64(data: &[u8]) -> String {
    STANDARD.encode(ring::digest::digest(&ring::digest::SHA256, data))
}

#[test]
fn rfc6376_section_3_4_6_example_verifies() {
    let example = example();
    let text = |name: &str| example[name].as_str().unwrap().to_owned();
    let pair = Ed25519KeyPair::from_seed_unchecked(&[9; 32]).unwrap();
    let record = format!(
        "v=DKIM1; k=ed25519; p={}",
        STANDARD.encode(pair.public_key().as_ref())
    );
    for (hc, bc) in [
        ("relaxed", "relaxed"),
        ("simple", "simple"),
        ("relaxed", "simple"),
        ("simple", "relaxed"),
    ] {
        let headers = format!("{}From: a@example.com\r\n", text("header_input"));
        let (canonical_headers, from) = if hc == "relaxed" {
            (text("relaxed_header"), "from:a@example.com\r\n")
        } else {
            (text("simple_header"), "From: a@example.com\r\n")
        };
        let body_hash = sha256_b64(text(&format!("{bc}_body")).as_bytes());
        let value = format!(
            " v=1; a=ed25519-sha256; c={hc}/{bc}; d=example.com; s=s1; h=a:b:from; \
             bh={body_hash}; b="
        );
        // The signature field as hashed: relaxed drops the WSP after the colon.
        let field = if hc == "relaxed" {
            format!("dkim-signature:{}", value.trim_start())
        } else {
            format!("DKIM-Signature:{value}")
        };
        let data = format!("{canonical_headers}{from}{field}");
        let digest = ring::digest::digest(&ring::digest::SHA256, data.as_bytes());
        let b = STANDARD.encode(pair.sign(digest.as_ref()));
        let message = format!(
            "DKIM-Signature:{value}{b}\r\n{headers}\r\n{}",
            text("body_input")
        );
        let outcome = verify_with(message.as_bytes(), VerifyOptions::new(0), |_| {
            Answer::Records(vec![Record::Txt(record.clone().into_bytes())].into())
        })
        .unwrap();
        let sig = &outcome.signatures[0];
        assert_eq!(
            (sig.result, &sig.reason),
            (DkimResult::Pass, &None),
            "c={hc}/{bc}"
        );
    }
}

#[test]
fn empty_body_hashes() {
    let example = example();
    for c in [Canonicalization::Simple, Canonicalization::Relaxed] {
        let expected = example["empty_body"][c.as_str()]["sha256"]
            .as_str()
            .unwrap();
        for message in [
            &b"From: a@example.com\r\n\r\n"[..],
            b"From: a@example.com\r\n",
        ] {
            let mut params = SignParams::new("example.com", "s1");
            params.body_canonicalization = c;
            let key = SigningKey::ed25519_from_seed(&[9; 32]).unwrap();
            let field = postern_dkim::sign(message, key, params).unwrap();
            assert!(
                field.contains(&format!("; bh={expected}; ")),
                "{c}: {field}"
            );
        }
    }
}
