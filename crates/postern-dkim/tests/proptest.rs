//! Property tests: parse/print round trips (tag lists, signatures the signer writes) and
//! invariants (any split of a message gives the same verdict; what we sign, we verify).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::fmt::Write as _;

use postern_dkim::tag_list;
use postern_dkim::{
    Canonicalization, DkimResult, Layout, Outcome, SignParams, Signature, Signer, SigningKey, Step,
    Verifier, VerifyOptions,
};
use postern_dns::{Answer, Record};
use proptest::prelude::*;

const SEED: [u8; 32] = [3; 32];

fn key_record() -> Vec<u8> {
    let key = SigningKey::ed25519_from_seed(&SEED).unwrap();
    format!("v=DKIM1; k=ed25519; p={}", key.public_key_base64()).into_bytes()
}

fn verify(message: &[u8], splits: &[usize]) -> Outcome {
    let record = key_record();
    let mut v = Verifier::new(VerifyOptions::new(1_700_000_100));
    let mut rest = message;
    let mut sizes = splits.iter().copied().map(|n| n.max(1)).cycle();
    loop {
        match v.step() {
            Step::Lookup(q) => v
                .supply(
                    q.id(),
                    Answer::Records(vec![Record::Txt(record.clone())].into()),
                )
                .unwrap(),
            Step::NeedInput if rest.is_empty() => v.finish().unwrap(),
            Step::NeedInput => {
                let n = sizes.next().unwrap_or(rest.len()).min(rest.len());
                let (a, b) = rest.split_at(n);
                v.update(a).unwrap();
                rest = b;
            }
            Step::Waiting => panic!("waiting"),
            Step::Done(o) => return o,
        }
    }
}

fn tag_name() -> impl Strategy<Value = String> {
    "[a-zA-Z][a-zA-Z0-9_]{0,6}"
}

fn tag_value() -> impl Strategy<Value = String> {
    // tval *( FWS tval ); no ';'
    "([!-:<-~]{1,8}( |\t|\r\n\t| \r\n ){0,1}){0,4}[!-:<-~]{0,4}"
}

fn fws() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        Just(" ".to_owned()),
        Just("\t ".to_owned()),
        Just("\r\n ".to_owned())
    ]
}

fn header_line() -> impl Strategy<Value = String> {
    (
        prop_oneof![
            Just("Subject"),
            Just("To"),
            Just("Cc"),
            Just("X-Tag"),
            Just("Date")
        ],
        "[ -~]{0,30}",
        prop::bool::ANY,
    )
        .prop_map(|(name, value, fold)| {
            if fold {
                format!("{name}: {value}\r\n\t folded\r\n")
            } else {
                format!("{name}: {value}\r\n")
            }
        })
}

fn body() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(
        prop_oneof![
            4 => Just(&b"a"[..]), 1 => Just(&b" "[..]), 1 => Just(&b"\t"[..]),
            2 => Just(&b"\r\n"[..]), 1 => Just(&b"\r"[..]), 1 => Just(&b"\n"[..]),
            1 => Just("\u{e9}".as_bytes()),
        ],
        0..200,
    )
    .prop_map(|parts| parts.concat())
}

fn canonicalization() -> impl Strategy<Value = Canonicalization> {
    prop_oneof![
        Just(Canonicalization::Simple),
        Just(Canonicalization::Relaxed)
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// Rendering tags with arbitrary FWS and parsing them back gives the same names and values.
    #[test]
    fn tag_list_round_trip(
        tags in prop::collection::btree_map(tag_name(), tag_value(), 0..8),
        pads in prop::collection::vec((fws(), fws(), fws(), fws()), 8),
        trailing in prop::bool::ANY,
    ) {
        let mut text = String::new();
        for (i, (name, value)) in tags.iter().enumerate() {
            let (a, b, c, d) = &pads[i];
            if i > 0 {
                text.push(';');
            }
            // FWS before a name needs a WSP after any CRLF: the pads provide it.
            write!(text, "{a}{name}{b}={c}{value}{d}").unwrap();
        }
        if trailing && !tags.is_empty() {
            text.push(';');
        }
        let parsed = tag_list::parse(text.as_bytes()).unwrap();
        let got: Vec<(String, String)> = parsed
            .iter()
            .map(|t| (t.name.to_owned(), String::from_utf8(t.value.to_vec()).unwrap()))
            .collect();
        let want: Vec<(String, String)> = tags
            .into_iter()
            .map(|(n, v)| (n, v.trim_end_matches([' ', '\t', '\r', '\n']).to_owned()))
            .collect();
        prop_assert_eq!(got, want);
    }

    /// What the signer writes parses back to the parameters it was given, and verifies, for
    /// any message, canonicalization, layout and split of the input.
    #[test]
    fn sign_parse_verify_round_trip(
        extra in prop::collection::vec(header_line(), 0..6),
        body in body(),
        hc in canonicalization(),
        bc in canonicalization(),
        folded in prop::bool::ANY,
        oversign in prop::bool::ANY,
        body_length in prop::bool::ANY,
        identity in prop::option::of("[a-z]{0,5}@(mail\\.)?example\\.com"),
        t in prop::option::of(1u64..1_700_000_000),
        splits in prop::collection::vec(1usize..300, 1..4),
    ) {
        let mut message = b"From: Someone <s@example.com>\r\n".to_vec();
        for line in &extra {
            message.extend_from_slice(line.as_bytes());
        }
        message.extend_from_slice(b"\r\n");
        message.extend_from_slice(&body);

        let mut params = SignParams::new("example.com", "prop");
        params.header_canonicalization = hc;
        params.body_canonicalization = bc;
        params.layout = if folded { Layout::Folded } else { Layout::OneLine };
        params.oversign = oversign;
        params.body_length = body_length;
        params.identity.clone_from(&identity);
        params.timestamp = t;
        params.expiration = t.map(|_| 4_102_444_800);
        let key = SigningKey::ed25519_from_seed(&SEED).unwrap();
        let mut signer = Signer::new(key, params).unwrap();
        for piece in message.chunks(splits[0]) {
            signer.update(piece).unwrap();
        }
        let field = signer.finish().unwrap();

        let value = field.strip_prefix("DKIM-Signature:").unwrap().strip_suffix("\r\n").unwrap();
        let sig = Signature::parse(value.as_bytes()).unwrap();
        prop_assert_eq!(&sig.domain, "example.com");
        prop_assert_eq!(&sig.selector, "prop");
        prop_assert_eq!(sig.header_canonicalization, hc);
        prop_assert_eq!(sig.body_canonicalization, bc);
        prop_assert_eq!(&sig.identity, &identity);
        prop_assert_eq!(sig.timestamp, t);
        prop_assert_eq!(sig.body_length.is_some(), body_length);
        prop_assert_eq!(sig.signed_headers.iter().next(), Some("from"));

        let mut signed = field.into_bytes();
        signed.extend_from_slice(&message);
        let whole = verify(&signed, &[signed.len()]);
        prop_assert_eq!(whole.signatures.len(), 1);
        prop_assert_eq!(whole.signatures[0].result, DkimResult::Pass, "{:?}", whole);
        prop_assert_eq!(&verify(&signed, &splits), &whole);
    }

    /// Streaming canonicalization (both algorithms) equals the whole-body reference at any
    /// split, and is idempotent (the fuzz harness's invariants, on random bodies).
    #[test]
    fn canonicalization_matches_reference(selector in any::<u8>(), body in body()) {
        let mut data = vec![selector];
        data.extend_from_slice(&body);
        postern_dkim::__fuzz::canon(&data);
    }

    /// Changing one body byte outside the ignorable (white space, line ends) breaks the body
    /// hash; the verdict never depends on the split.
    #[test]
    fn tampered_body_fails(body in "[a-z]{1,80}", at in any::<prop::sample::Index>(), splits in prop::collection::vec(1usize..50, 1..4)) {
        let mut message = b"From: s@example.com\r\nSubject: x\r\n\r\n".to_vec();
        message.extend_from_slice(body.as_bytes());
        let key = SigningKey::ed25519_from_seed(&SEED).unwrap();
        let field = postern_dkim::sign(&message, key, SignParams::new("example.com", "prop")).unwrap();
        let mut signed = field.into_bytes();
        let body_start = signed.len() + message.len() - body.len();
        signed.extend_from_slice(&message);
        let i = body_start + at.index(body.len());
        signed[i] = if signed[i] == b'z' { b'a' } else { signed[i] + 1 };
        let outcome = verify(&signed, &splits);
        prop_assert_eq!(outcome.signatures[0].result, DkimResult::Fail);
        let reason = outcome.signatures[0].reason.as_ref().map(ToString::to_string);
        prop_assert_eq!(reason.as_deref(), Some("body hash did not verify"));
    }
}
