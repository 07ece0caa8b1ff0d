//! RFC 8463 Appendix A: the Ed25519 signature is reproduced byte for byte from the RFC's
//! header template ([`Signer::finish_with_template`]); the 1024-bit RSA key of the appendix is
//! refused for signing (ring signs with 2048-4096 bits) and its signature verifies through the
//! public corpus (`a3-signed.eml`).
// Tests read the shared corpus from disk and panic on mismatch.
#![allow(clippy::disallowed_methods)]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::PathBuf;

use postern_dkim::{Error, SignParams, Signer, SigningKey};
use serde_json::Value;

fn dir() -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/testdata/dkim/public"
    ))
}

fn read(rel: &str) -> Vec<u8> {
    let path = dir().join(rel);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn rfc8463_templates() {
    let templates: Value = serde_json::from_slice(&read("rfc8463/sign-templates.json")).unwrap();
    let unsigned = read(templates["unsigned"].as_str().unwrap());
    let signed = read("rfc8463/a3-signed.eml");
    let cases = templates["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 2);
    let mut reproduced = 0;
    for case in cases {
        let key_text = String::from_utf8(read(case["key"].as_str().unwrap())).unwrap();
        let template = case["header_hashed"].as_str().unwrap();
        let expected = format!("{template}{}\r\n", case["expected_b"].as_str().unwrap());
        // a3-signed.eml folds b= after signing (FWS in b= is not signed): compare unfolded.
        let b_folded = case["expected_b"].as_str().unwrap();
        let text = String::from_utf8_lossy(&signed).replace("\r\n ", "");
        assert!(
            text.contains(b_folded),
            "a3-signed.eml holds the expected b="
        );
        let key = match SigningKey::from_text(&key_text) {
            Ok(key) => key,
            Err(Error::PrivateKeySize { bits }) => {
                assert_eq!(bits, 1024);
                assert_eq!(case["a"], "rsa-sha256");
                continue;
            }
            Err(e) => panic!("{e}"),
        };
        let mut dkim =
            Signer::new(key, SignParams::new("football.example.com", "brisbane")).unwrap();
        for chunk in unsigned.chunks(100) {
            dkim.update(chunk).unwrap();
        }
        assert_eq!(dkim.finish_with_template(template).unwrap(), expected);
        reproduced += 1;
    }
    assert_eq!(reproduced, 1);
}

#[test]
fn template_must_match_the_message() {
    let key = SigningKey::ed25519_from_seed(&[5; 32]).unwrap();
    let mut signer = Signer::new(key, SignParams::new("example.com", "s")).unwrap();
    signer
        .update(b"From: a@example.com\r\n\r\nbody\r\n")
        .unwrap();
    let err = signer
        .finish_with_template("DKIM-Signature: v=1; a=ed25519-sha256; c=relaxed/relaxed; d=example.com; s=s; h=from; bh=AAAA; b=")
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::SignParameter {
                field: "template",
                ..
            }
        ),
        "{err}"
    );
}
