//! postern-dkim benchmarks.
//!
//! - `dkim/verify/rsa2048_relaxed/{4k,100k}`: a whole verification (header parse, key record
//!   parse, relaxed/relaxed canonicalization, SHA-256 of body and headers, one RSA-2048
//!   verify) of a message with a 4 KiB and a 100 KiB body; the key answer is pre-built.
//! - `dkim/verify/ed25519_relaxed/{4k,100k}`: the same with ed25519-sha256.
//! - `dkim/verify/two_signatures/100k`: an ed25519 and an RSA-2048 signature, both
//!   relaxed/relaxed SHA-256: one shared body hash, two signature checks.
//! - `dkim/sign/{rsa2048,ed25519}/4k`: signing (body hash, header hash, private-key operation).
//! - `dkim/body/{relaxed,simple}/100k`: streaming canonicalization + SHA-256 alone, through a
//!   verifier whose only signature has a key answer of NXDOMAIN (no crypto).
//! - `dkim/floor/*`: the physical floor on this machine: ring's RSA-2048 verify of a 256-byte
//!   header hash input, ring's Ed25519 verify of a digest, and ring's SHA-256 of 4 KiB and
//!   100 KiB.
//!
//! Run: `cargo bench -p postern-benches --bench dkim`; compare with `-- --save-baseline NAME`
//! and `-- --baseline NAME`.

// A benchmark stops on a broken invariant: panicking on bad set-up is the point.
#![allow(
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::unwrap_used
)]

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use postern_dkim::{DkimResult, SignParams, SigningKey, VerifyOptions, verify_with};
use postern_dns::{Answer, Record};

const RSA_PEM: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../shared/testdata/dkim/generated/keys/rsa2048.pkcs8.pem"
));
const ED_SEED: [u8; 32] = [9; 32];
const NOW: u64 = 1_700_000_100;

/// A plain-text message with a body of about `body_len` bytes.
fn message(body_len: usize) -> Vec<u8> {
    let mut m = b"From: Alice Example <alice@example.com>\r\n\
To: Bob Example <bob@example.org>\r\n\
Subject: Quarterly report, second draft\r\n\
Date: Tue, 14 Nov 2023 22:13:20 +0000\r\n\
Message-ID: <20231114221320.1234@example.com>\r\n\
MIME-Version: 1.0\r\n\
Content-Type: text/plain; charset=utf-8\r\n\r\n"
        .to_vec();
    let words = [
        "the", "report", "is", "attached", "please", "review", "before", "friday", "numbers",
        "look", "good", "overall", "thanks",
    ];
    let mut body = Vec::with_capacity(body_len + 100);
    let mut i = 0usize;
    while body.len() < body_len {
        let mut line = String::new();
        while line.len() < 70 {
            if !line.is_empty() {
                line.push(' ');
            }
            line.push_str(words[i % words.len()]);
            i += 7;
        }
        body.extend_from_slice(line.as_bytes());
        body.extend_from_slice(b"\r\n");
    }
    m.extend_from_slice(&body);
    m
}

fn rsa_key() -> SigningKey {
    SigningKey::from_pem(RSA_PEM).unwrap()
}

fn ed_key() -> SigningKey {
    SigningKey::ed25519_from_seed(&ED_SEED).unwrap()
}

fn record(key: &SigningKey, k: &str) -> Answer {
    let txt = format!("v=DKIM1; k={k}; p={}", key.public_key_base64());
    Answer::Records(vec![Record::Txt(txt.into_bytes())].into())
}

/// `message` signed by each (key, selector) in order (the last one on top).
fn signed(message: &[u8], keys: Vec<(SigningKey, &str)>) -> Vec<u8> {
    let mut out = message.to_vec();
    for (key, selector) in keys {
        let mut params = SignParams::new("example.com", selector);
        params.timestamp = Some(1_700_000_000);
        let field = postern_dkim::sign(&out, key, params).unwrap();
        let mut next = field.into_bytes();
        next.extend_from_slice(&out);
        out = next;
    }
    out
}

fn answers(query: &postern_dns::Query, rsa: &Answer, ed: &Answer) -> Answer {
    if query.name().as_str().starts_with("rsa.") {
        rsa.clone()
    } else if query.name().as_str().starts_with("ed.") {
        ed.clone()
    } else {
        Answer::NxDomain
    }
}

fn verify_benches(c: &mut Criterion) {
    let rsa_answer = record(&rsa_key(), "rsa");
    let ed_answer = record(&ed_key(), "ed25519");
    let mut group = c.benchmark_group("dkim/verify");
    for (label, size) in [("4k", 4 * 1024), ("100k", 100 * 1024)] {
        let m = message(size);
        for (name, key, selector) in [
            ("rsa2048_relaxed", rsa_key(), "rsa"),
            ("ed25519_relaxed", ed_key(), "ed"),
        ] {
            let s = signed(&m, vec![(key, selector)]);
            let check = verify_with(&s, VerifyOptions::new(NOW), |q| {
                answers(q, &rsa_answer, &ed_answer)
            })
            .unwrap();
            assert_eq!(check.signatures[0].result, DkimResult::Pass);
            group.throughput(Throughput::Bytes(s.len() as u64));
            group.bench_function(format!("{name}/{label}"), |b| {
                b.iter(|| {
                    verify_with(black_box(&s), VerifyOptions::new(NOW), |q| {
                        answers(q, &rsa_answer, &ed_answer)
                    })
                    .unwrap()
                });
            });
        }
    }
    let m = message(100 * 1024);
    let s = signed(&m, vec![(rsa_key(), "rsa"), (ed_key(), "ed")]);
    let check = verify_with(&s, VerifyOptions::new(NOW), |q| {
        answers(q, &rsa_answer, &ed_answer)
    })
    .unwrap();
    assert!(
        check
            .signatures
            .iter()
            .all(|s| s.result == DkimResult::Pass)
    );
    group.throughput(Throughput::Bytes(s.len() as u64));
    group.bench_function("two_signatures/100k", |b| {
        b.iter(|| {
            verify_with(black_box(&s), VerifyOptions::new(NOW), |q| {
                answers(q, &rsa_answer, &ed_answer)
            })
            .unwrap()
        });
    });
    group.finish();

    // Body canonicalization + hash alone: the key is absent, so no crypto runs.
    let mut group = c.benchmark_group("dkim/body");
    for (name, canon) in [("relaxed", "relaxed/relaxed"), ("simple", "simple/simple")] {
        let mut params = SignParams::new("example.com", "none");
        let (head, body) = canon.split_once('/').unwrap();
        params.header_canonicalization =
            postern_dkim::Canonicalization::from_name(head.as_bytes()).unwrap();
        params.body_canonicalization =
            postern_dkim::Canonicalization::from_name(body.as_bytes()).unwrap();
        let field = postern_dkim::sign(&m, ed_key(), params).unwrap();
        let mut s = field.into_bytes();
        s.extend_from_slice(&m);
        group.throughput(Throughput::Bytes(s.len() as u64));
        group.bench_function(format!("{name}/100k"), |b| {
            b.iter(|| {
                verify_with(black_box(&s), VerifyOptions::new(NOW), |_| Answer::NxDomain).unwrap()
            });
        });
    }
    group.finish();
}

fn sign_benches(c: &mut Criterion) {
    let m = message(4 * 1024);
    let mut group = c.benchmark_group("dkim/sign");
    group.bench_function("rsa2048/4k", |b| {
        let key_pem = RSA_PEM;
        b.iter_batched(
            || SigningKey::from_pem(key_pem).unwrap(),
            |key| {
                postern_dkim::sign(black_box(&m), key, SignParams::new("example.com", "rsa"))
                    .unwrap()
            },
            criterion::BatchSize::SmallInput,
        );
    });
    group.bench_function("ed25519/4k", |b| {
        b.iter_batched(
            ed_key,
            |key| {
                postern_dkim::sign(black_box(&m), key, SignParams::new("example.com", "ed"))
                    .unwrap()
            },
            criterion::BatchSize::SmallInput,
        );
    });
    group.finish();
}

fn floor_benches(c: &mut Criterion) {
    use base64::Engine as _;
    use ring::signature::{
        KeyPair as _, RSA_PKCS1_1024_8192_SHA256_FOR_LEGACY_USE_ONLY, RSA_PKCS1_SHA256, RsaKeyPair,
        UnparsedPublicKey,
    };
    let b64: String = RSA_PEM
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect();
    let der = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .unwrap();
    let pair = RsaKeyPair::from_pkcs8(&der).unwrap();
    let data = [0x5a_u8; 256];
    let mut sig = vec![0; pair.public().modulus_len()];
    pair.sign(
        &RSA_PKCS1_SHA256,
        &ring::rand::SystemRandom::new(),
        &data,
        &mut sig,
    )
    .unwrap();
    let public = pair.public_key().as_ref().to_vec();
    let mut group = c.benchmark_group("dkim/floor");
    group.bench_function("rsa2048_verify", |b| {
        b.iter(|| {
            UnparsedPublicKey::new(&RSA_PKCS1_1024_8192_SHA256_FOR_LEGACY_USE_ONLY, &public)
                .verify(black_box(&data), &sig)
                .unwrap();
        });
    });
    let ed = ring::signature::Ed25519KeyPair::from_seed_unchecked(&ED_SEED).unwrap();
    let digest = ring::digest::digest(&ring::digest::SHA256, &data);
    let ed_sig = ed.sign(digest.as_ref());
    let ed_public = ed.public_key().as_ref().to_vec();
    group.bench_function("ed25519_verify", |b| {
        b.iter(|| {
            UnparsedPublicKey::new(&ring::signature::ED25519, &ed_public)
                .verify(black_box(digest.as_ref()), ed_sig.as_ref())
                .unwrap();
        });
    });
    for (label, size) in [("4k", 4 * 1024), ("100k", 100 * 1024)] {
        let bytes = vec![b'a'; size];
        group.throughput(Throughput::Bytes(size as u64));
        group.bench_function(format!("sha256/{label}"), |b| {
            b.iter(|| ring::digest::digest(&ring::digest::SHA256, black_box(&bytes)));
        });
    }
    group.finish();
}

criterion_group!(benches, verify_benches, sign_benches, floor_benches);
criterion_main!(benches);
