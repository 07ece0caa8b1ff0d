//! Signing conformance: `shared/testdata/dkim/generated/sign/` reproduced byte for byte in the
//! one-line layout, and every signed output verifies with our verifier.
// Tests read the shared corpus from disk and panic on mismatch.
#![allow(clippy::disallowed_methods)]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::PathBuf;

use postern_dkim::{
    Canonicalization, DkimResult, Error, SignParams, Signer, SigningKey, VerifyOptions, verify_with,
};
use serde_json::Value;

mod common;

fn dir() -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/testdata/dkim/generated"
    ))
}

fn read(rel: &str) -> Vec<u8> {
    let path = dir().join(rel);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn canon(name: &str) -> Canonicalization {
    match name {
        "simple" => Canonicalization::Simple,
        "relaxed" => Canonicalization::Relaxed,
        other => panic!("{other}"),
    }
}

fn params(case: &Value) -> SignParams {
    let p = &case["params"];
    let mut params = SignParams::new(p["d"].as_str().unwrap(), p["s"].as_str().unwrap());
    let (h, b) = p["c"].as_str().unwrap().split_once('/').unwrap();
    params.header_canonicalization = canon(h);
    params.body_canonicalization = canon(b);
    params.headers = p["h"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h.as_str().unwrap().to_owned())
        .collect();
    params.timestamp = p.get("t").and_then(Value::as_u64);
    params.expiration = p.get("x").and_then(Value::as_u64);
    params.identity = p.get("i").and_then(Value::as_str).map(str::to_owned);
    params.body_length = p.get("l").is_some();
    params
}

/// Every way the case's private key is given.
fn keys(case: &Value) -> Vec<(String, Result<SigningKey, Error>)> {
    let key = case["key"].as_object().unwrap();
    let mut out = Vec::new();
    for (kind, file) in key {
        let file = file.as_str().unwrap();
        if kind.starts_with("public") {
            continue;
        }
        let text = String::from_utf8(read(file)).unwrap();
        let parsed = if kind == "private_seed_b64" {
            use base64::Engine as _;
            let seed = base64::engine::general_purpose::STANDARD
                .decode(text.trim())
                .unwrap();
            SigningKey::ed25519_from_seed(&seed)
        } else {
            SigningKey::from_pem(&text)
        };
        out.push((kind.clone(), parsed));
    }
    assert!(!out.is_empty());
    out
}

fn verifies(message: &[u8], case: &Value) {
    let outcome = verify_with(
        message,
        VerifyOptions::new(case["now"].as_u64().unwrap()),
        |q| common::resolve(&case["dns"], q),
    )
    .unwrap();
    assert_eq!(outcome.signatures.len(), 1, "{}", case["name"]);
    assert_eq!(
        outcome.signatures[0].result,
        DkimResult::Pass,
        "{}: {:?}",
        case["name"],
        outcome
    );
}

#[test]
fn sign_corpus_is_reproduced_byte_for_byte() {
    let manifest: Value = serde_json::from_slice(&read("sign/manifest.json")).unwrap();
    let cases = manifest.as_array().unwrap();
    assert_eq!(cases.len(), 6);
    let mut reproduced = 0;
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let unsigned = read(case["unsigned"].as_str().unwrap());
        let signed = read(case["signed"].as_str().unwrap());
        let expected = case["expected_header"].as_str().unwrap();
        assert!(signed.starts_with(expected.as_bytes()));
        assert_eq!(
            &signed[expected.len()..],
            unsigned.as_slice(),
            "{name}: signed = header + input"
        );
        for (kind, key) in keys(case) {
            let key = match key {
                Ok(key) => key,
                Err(Error::PrivateKeySize { bits: 1024 }) if name.contains("rsa1024") => {
                    // ring signs with 2048..=4096-bit RSA keys only (README: "the 1024-bit
                    // case cannot be signed with ring").
                    continue;
                }
                Err(e) => panic!("{name} {kind}: {e}"),
            };
            // Split the input at a few places: the result must not depend on it.
            for chunk in [usize::MAX, 1, 13, 1000] {
                let mut dkim = Signer::new(key_clone(&key, case, &kind), params(case)).unwrap();
                for piece in unsigned.chunks(chunk.min(unsigned.len()).max(1)) {
                    dkim.update(piece).unwrap();
                }
                let field = dkim.finish().unwrap();
                assert_eq!(field, expected, "{name} {kind} chunk {chunk}");
            }
            reproduced += 1;
            let mut out = expected.as_bytes().to_vec();
            out.extend_from_slice(&unsigned);
            verifies(&out, case);
            drop(key);
        }
        // dkimpy's own output for the same input verifies too.
        verifies(&read(case["dkimpy_native_signed"].as_str().unwrap()), case);
        verifies(&signed, case);
    }
    // 5 cases x their private key encodings (the rsa1024 one cannot be signed with ring).
    assert!(reproduced >= 5 * 2, "only {reproduced} reproductions");
}

/// `SigningKey` is not `Clone` (ring keys are not); re-read it.
fn key_clone(_key: &SigningKey, case: &Value, kind: &str) -> SigningKey {
    keys(case)
        .into_iter()
        .find(|(k, _)| k == kind)
        .unwrap()
        .1
        .unwrap()
}
