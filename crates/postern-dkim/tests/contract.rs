//! Cases the RFCs decide that the shared corpus does not show: the order of the key record
//! checks (RFC 6376 §6.1.2) and the signer's `i=` encoding (RFC 6376 §2.11, §3.5).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use postern_dkim::{
    DkimResult, Outcome, Reason, SignParams, SigningKey, VerifyOptions, verify_with,
};
use postern_dns::{Answer, Record};

const MESSAGE: &[u8] = b"From: a@example.com\r\nSubject: contract\r\n\r\nbody\r\n";

fn signed(params: SignParams) -> Vec<u8> {
    let key = SigningKey::ed25519_from_seed(&[3; 32]).unwrap();
    let mut signed = postern_dkim::sign(MESSAGE, key, params)
        .unwrap()
        .into_bytes();
    signed.extend_from_slice(MESSAGE);
    signed
}

fn public_key() -> String {
    SigningKey::ed25519_from_seed(&[3; 32])
        .unwrap()
        .public_key_base64()
}

fn verify(message: &[u8], record: &str) -> Outcome {
    verify_with(message, VerifyOptions::new(1_700_000_000), |q| {
        assert_eq!(q.name().as_str(), "s1._domainkey.example.com");
        Answer::Records(vec![Record::Txt(record.as_bytes().to_vec())].into())
    })
    .unwrap()
}

fn verdict(outcome: &Outcome) -> (DkimResult, Option<Reason>) {
    let sig = &outcome.signatures[0];
    (sig.result, sig.reason.clone())
}

/// RFC 6376 §6.1.2 checks a key record's `h=` (step 6) before an empty `p=` (step 7, key
/// revoked) and before the key type (step 8, inappropriate key algorithm).
#[test]
fn key_hash_restriction_is_checked_before_revocation_and_key_type() {
    let message = signed(SignParams::new("example.com", "s1"));
    let pass = verify(&message, &format!("v=DKIM1; k=ed25519; p={}", public_key()));
    assert_eq!(verdict(&pass), (DkimResult::Pass, None));
    let cases = [
        // Revoked, and its h= excludes sha256.
        "v=DKIM1; k=ed25519; h=sha1; p=",
        // Wrong key type, and its h= excludes sha256.
        &format!("v=DKIM1; k=rsa; h=sha1; p={}", public_key()),
    ];
    for record in cases {
        assert_eq!(
            verdict(&verify(&message, record)),
            (DkimResult::PermError, Some(Reason::InappropriateHash)),
            "{record}"
        );
    }
    // Revoked is checked before the key type (step 7, then step 8).
    assert_eq!(
        verdict(&verify(&message, "v=DKIM1; k=rsa; p=")),
        (DkimResult::PermError, Some(Reason::KeyRevoked))
    );
}

/// `i=` is dkim-quoted-printable (RFC 6376 §3.5, §2.11): a local-part with `=` or `;` (both
/// RFC 5322 atext or quoted-string characters) is written `=3D` / `=3B`, so the signature
/// parses and verifies, and the identity reads back as given.
#[test]
fn signer_encodes_identity_as_dkim_quoted_printable() {
    for identity in [
        "j=oe@example.com",
        "a;b=c@mail.example.com",
        "plain@example.com",
    ] {
        let mut params = SignParams::new("example.com", "s1");
        params.identity = Some(identity.to_owned());
        let message = signed(params);
        let outcome = verify(&message, &format!("v=DKIM1; k=ed25519; p={}", public_key()));
        assert_eq!(verdict(&outcome), (DkimResult::Pass, None), "{identity}");
        assert_eq!(
            outcome.signatures[0].identity.as_deref(),
            Some(identity),
            "{identity}"
        );
    }
    let mut params = SignParams::new("example.com", "s1");
    params.identity = Some("j=oe@example.com".to_owned());
    let field = String::from_utf8(signed(params)).unwrap();
    assert!(field.contains("; i=j=3Doe@example.com;"), "{field}");
}

/// RFC 6376 §3.5: `l=` "MUST NOT be larger than the actual number of octets in the
/// canonicalized message body", and §6.1.1: "any inconsistency or unexpected values MUST
/// cause the header field to be completely ignored and the Verifier to return PERMFAIL
/// (signature syntax error)". An `l=` equal to the body length passes; one octet more is a
/// syntax error, whatever the key and the crypto say.
#[test]
fn body_length_past_the_body_is_a_syntax_error() {
    let mut params = SignParams::new("example.com", "s1");
    params.body_length = true;
    let message = signed(params);
    let record = format!("v=DKIM1; k=ed25519; p={}", public_key());
    // "body\r\n": six octets in either canonicalization.
    let text = String::from_utf8(message).unwrap();
    assert!(text.contains("; l=6;"), "{text}");
    assert_eq!(
        verdict(&verify(text.as_bytes(), &record)),
        (DkimResult::Pass, None)
    );
    let longer = text.replace("; l=6;", "; l=7;");
    assert_eq!(
        verdict(&verify(longer.as_bytes(), &record)),
        (DkimResult::PermError, Some(Reason::SignatureSyntax))
    );
    // The body cut short after signing: l= now counts octets that are not there.
    let cut = text.replace("\r\n\r\nbody\r\n", "\r\n\r\nbod\r\n");
    assert_eq!(
        verdict(&verify(cut.as_bytes(), &record)),
        (DkimResult::PermError, Some(Reason::SignatureSyntax))
    );
    // A body that grew after signing is only unsigned content (RFC 6376 §8.2).
    let grown = format!("{text}footer\r\n");
    let outcome = verify(grown.as_bytes(), &record);
    assert_eq!(verdict(&outcome), (DkimResult::Pass, None));
    assert_eq!(outcome.signatures[0].unsigned_body_octets, 8);
}

/// Oversigning lists each header once more than it occurs, but not DKIM-Signature: that
/// extra instance would be the new field itself once it is prepended (RFC 6376 §3.5: h=
/// "MUST NOT include the DKIM-Signature header field that is being created or verified"),
/// and the signature would not verify.
#[test]
fn oversigning_does_not_claim_the_new_signature_field() {
    let first = signed(SignParams::new("example.com", "s1"));
    let mut params = SignParams::new("example.com", "s1");
    params.headers = vec!["from".into(), "subject".into(), "dkim-signature".into()];
    params.oversign = true;
    let key = SigningKey::ed25519_from_seed(&[3; 32]).unwrap();
    let field = postern_dkim::sign(&first, key, params).unwrap();
    assert!(
        field.contains("; h=from:from:subject:subject:dkim-signature; "),
        "{field}"
    );
    let mut message = field.into_bytes();
    message.extend_from_slice(&first);
    let outcome = verify(&message, &format!("v=DKIM1; k=ed25519; p={}", public_key()));
    assert_eq!(outcome.signatures.len(), 2);
    for sig in &outcome.signatures {
        assert_eq!((sig.result, sig.reason.clone()), (DkimResult::Pass, None));
    }
}

/// The one-line layout writes `h=` as the names were given, joined by `:` (the shared
/// corpus's `header_hashed`: "h= joined with ':' and no spaces"): a name's case is kept, as
/// RFC 6376 compares names case-insensitively. Oversigning counts names case-insensitively.
#[test]
fn signer_keeps_the_given_spelling_of_header_names() {
    let mut params = SignParams::new("example.com", "s1");
    params.headers = vec!["From".into(), "Subject".into(), "to".into()];
    let message = signed(params);
    let text = String::from_utf8(message.clone()).unwrap();
    assert!(text.contains("; h=From:Subject:to; "), "{text}");
    let record = format!("v=DKIM1; k=ed25519; p={}", public_key());
    assert_eq!(
        verdict(&verify(&message, &record)),
        (DkimResult::Pass, None)
    );

    let mut params = SignParams::new("example.com", "s1");
    params.headers = vec!["From".into(), "from".into(), "Subject".into()];
    params.oversign = true;
    let message = signed(params);
    let text = String::from_utf8(message.clone()).unwrap();
    assert!(text.contains("; h=From:From:Subject:Subject; "), "{text}");
    assert_eq!(
        verdict(&verify(&message, &record)),
        (DkimResult::Pass, None)
    );
}
