//! Verifying (and signing) a 50 MB message holds well under 1 MB of heap: the body is never
//! buffered, only canonicalized and hashed as it streams.
//!
//! A counting global allocator measures the peak heap of the verifier alone; this file holds a
//! single test so that no other test allocates concurrently.
// A `GlobalAlloc` is an unsafe trait; this test-only allocator forwards to the system one.
#![allow(unsafe_code)]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use postern_dkim::{
    Canonicalization, DkimResult, SignParams, Signer, SigningKey, Step, Verifier, VerifyOptions,
};
use postern_dns::{Answer, Record};

struct Counting;

static CURRENT: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is forwarded unchanged to `System`; only counters are added.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: same contract as the caller's.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            let now = CURRENT.fetch_add(layout.size(), Ordering::SeqCst) + layout.size();
            PEAK.fetch_max(now, Ordering::SeqCst);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) };
        CURRENT.fetch_sub(layout.size(), Ordering::SeqCst);
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

const BODY_BYTES: usize = 50 * 1024 * 1024;
const CHUNK: usize = 64 * 1024;
const HEADER: &[u8] = b"From: Big Sender <big@example.com>\r\nTo: r@example.org\r\n\
Subject: a  very\tlarge message\r\nDate: Tue, 14 Nov 2023 22:13:20 +0000\r\n\r\n";

/// The body, chunk by chunk, generated (never held whole): lines with runs of spaces, tabs,
/// trailing white space and empty lines, so relaxed canonicalization has work to do.
fn body_chunks(mut each: impl FnMut(&[u8])) {
    let line = b"Lorem ipsum  dolor\tsit amet, consectetur   adipiscing elit \t\r\n\r\n";
    let mut chunk = Vec::with_capacity(CHUNK);
    let mut sent = 0;
    while sent < BODY_BYTES {
        chunk.clear();
        while chunk.len() + line.len() <= CHUNK && sent + chunk.len() + line.len() <= BODY_BYTES {
            chunk.extend_from_slice(line);
        }
        if chunk.is_empty() {
            break;
        }
        sent += chunk.len();
        each(&chunk);
    }
}

const SEED: [u8; 32] = [42; 32];

fn signature(c: Canonicalization) -> String {
    let mut params = SignParams::new("example.com", "big");
    params.header_canonicalization = c;
    params.body_canonicalization = c;
    params.timestamp = Some(1_700_000_000);
    let mut signer = Signer::new(SigningKey::ed25519_from_seed(&SEED).unwrap(), params).unwrap();
    signer.update(HEADER).unwrap();
    body_chunks(|chunk| signer.update(chunk).unwrap());
    signer.finish().unwrap()
}

#[test]
fn fifty_megabytes_verify_in_under_one_megabyte_of_heap() {
    let key = SigningKey::ed25519_from_seed(&SEED).unwrap();
    let record = format!("v=DKIM1; k=ed25519; p={}", key.public_key_base64());
    // Two signatures: relaxed (shared by nobody) and simple: two body hashes in parallel.
    let mut header = signature(Canonicalization::Relaxed).into_bytes();
    header.extend_from_slice(signature(Canonicalization::Simple).as_bytes());
    header.extend_from_slice(HEADER);

    let baseline = CURRENT.load(Ordering::SeqCst);
    PEAK.store(baseline, Ordering::SeqCst);
    let mut verifier = Verifier::new(VerifyOptions::new(1_700_000_100));
    verifier.update(&header).unwrap();
    // Key queries are ready before any body byte.
    let mut queries = Vec::new();
    while let Step::Lookup(q) = verifier.step() {
        queries.push(q);
    }
    assert_eq!(queries.len(), 1, "one key name, one query");
    for q in &queries {
        verifier
            .supply(
                q.id(),
                Answer::Records(vec![Record::Txt(record.clone().into_bytes())].into()),
            )
            .unwrap();
    }
    let mut fed = 0usize;
    body_chunks(|chunk| {
        fed += chunk.len();
        verifier.update(chunk).unwrap();
    });
    verifier.finish().unwrap();
    let Step::Done(outcome) = verifier.step() else {
        panic!("not done");
    };
    let peak = PEAK.load(Ordering::SeqCst) - baseline;
    assert!(fed >= BODY_BYTES - 100, "fed {fed}");
    assert_eq!(outcome.signatures.len(), 2);
    for sig in &outcome.signatures {
        assert_eq!(sig.result, DkimResult::Pass, "{sig:?}");
    }
    eprintln!("verified {fed} body bytes with a peak heap of {peak} bytes");
    assert!(peak < 1024 * 1024, "peak heap {peak} bytes");
    assert!(peak > 0, "the counter must see the verifier's allocations");
}
