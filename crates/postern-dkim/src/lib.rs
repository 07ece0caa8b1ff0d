//! DKIM signatures for mail servers: streaming verification and signing, sans I/O.
//!
//! - **RFC 6376** (DKIM): tag lists, DKIM-Signature fields and key records parsed strictly
//!   (every malformation gives its RFC 6376 result and reason), simple and relaxed
//!   canonicalization of header and body, `l=`, `t=`/`x=`, `i=`, key `t=y`/`t=s`/`h=`/`k=`/`s=`.
//! - **RFC 8301**: rsa-sha1 and RSA keys under 1024 bits give `policy` (the crypto is still
//!   checked and reported); RSA verification with ring's 1024–8192-bit parameters.
//! - **RFC 8463**: ed25519-sha256 (raw 32-byte keys; the SHA-256 digest is signed).
//! - **RFC 8601**: the `dkim=` method results of `Authentication-Results:` (with
//!   `header.d`, `header.i`, `header.s`, and the RFC 6008 `header.b` prefix).
//!
//! The library does no I/O. A message streams through a [`Verifier`] in chunks of any size;
//! once its header block is complete, [`Verifier::step`] hands out the key queries
//! (`selector._domainkey.domain` TXT, as [`postern_dns::Query`]) so that DNS runs while the
//! body streams; answers come back as [`postern_dns::Answer`] or raw DNS packets. Time is an
//! argument ([`VerifyOptions::now`]). Memory is bounded whatever the message size: the header
//! block (at most [`MAX_HEADER_BLOCK_BYTES`]) and one body hash state per distinct
//! (canonicalization, hash, `l=`) combination, shared by the signatures that need it.
//!
//! # Verifying
//! ```
//! use postern_dkim::{DkimResult, SignParams, SigningKey, Step, Verifier, VerifyOptions};
//! use postern_dns::{Answer, Record};
//!
//! // A message signed with a test key (see "Signing" below).
//! let key = SigningKey::ed25519_from_seed(&[1; 32])?;
//! let record = format!("v=DKIM1; k=ed25519; p={}", key.public_key_base64());
//! let message = b"From: a@example.com\r\nSubject: hello\r\n\r\nHi there.\r\n";
//! let mut signed = postern_dkim::sign(message, key, SignParams::new("example.com", "s1"))?
//!     .into_bytes();
//! signed.extend_from_slice(message);
//!
//! let mut verifier = Verifier::new(VerifyOptions::new(1_700_000_000));
//! let mut chunks = signed.chunks(16);
//! let outcome = loop {
//!     match verifier.step() {
//!         // Key queries come as soon as the header block is in, before the body.
//!         Step::Lookup(query) => {
//!             assert_eq!(query.name().as_str(), "s1._domainkey.example.com");
//!             let answer = Answer::Records(vec![Record::Txt(record.clone().into_bytes())].into());
//!             verifier.supply(query.id(), answer)?;
//!         }
//!         Step::NeedInput => match chunks.next() {
//!             Some(chunk) => verifier.update(chunk)?,
//!             None => verifier.finish()?,
//!         },
//!         Step::Waiting => unreachable!("every query is answered at once here"),
//!         Step::Done(outcome) => break outcome,
//!     }
//! };
//! assert_eq!(outcome.signatures[0].result, DkimResult::Pass);
//! assert!(outcome.authentication_results().starts_with("dkim=pass header.d=example.com header.s=s1 header.b="));
//! # Ok::<(), postern_dkim::Error>(())
//! ```
//! [`verify_with`] is the blocking helper for a message in memory and a resolver callback.
//!
//! # Signing
//! ```
//! use postern_dkim::{Canonicalization, SignParams, Signer, SigningKey};
//!
//! let key = SigningKey::ed25519_from_seed(&[1; 32])?; // or SigningKey::from_pem(pem)
//! let mut params = SignParams::new("example.com", "s1");
//! params.header_canonicalization = Canonicalization::Relaxed;
//! params.headers = vec!["from".into(), "subject".into()];
//! params.oversign = true; // From and Subject cannot be added later
//! params.timestamp = Some(1_700_000_000);
//! let mut signer = Signer::new(key, params)?;
//! signer.update(b"From: a@example.com\r\nSubject: hello\r\n\r\n")?;
//! signer.update(b"Hi there.\r\n")?; // the body streams
//! let field = signer.finish()?; // prepend it to the message
//! assert!(field.starts_with(
//!     "DKIM-Signature: v=1; a=ed25519-sha256; c=relaxed/relaxed; d=example.com; s=s1; \
//!      t=1700000000; h=from:from:subject:subject; bh="
//! ));
//! # Ok::<(), postern_dkim::Error>(())
//! ```
//!
//! # Limits
//! [`MAX_HEADER_BLOCK_BYTES`], [`MAX_HEADER_FIELDS`], [`MAX_SIGNATURES`] (per message, in
//! [`Policy::max_signatures`]), RSA keys [`MIN_RSA_KEY_BITS`]–[`MAX_RSA_KEY_BITS`],
//! [`MAX_KEY_RECORD_BYTES`]. Signing RSA keys: 2048–4096 bits (ring).
//!
//! # Errors and verdicts
//! A DKIM verdict (fail, permerror, ...) is a [`SignatureOutcome`] in an `Ok` [`Outcome`];
//! [`Error`] is for wrong input or use of the API (a header block over the limits, a private
//! key that cannot be used, a query id never handed out).
#![forbid(unsafe_code)]

#[doc(hidden)]
pub mod __fuzz;
mod b64;
mod body;
mod canon;
mod crypto;
mod error;
mod header;
mod inline;
mod key;
mod policy;
mod result;
mod sign;
mod signature;
pub mod tag_list;
mod verify;

pub use canon::Canonicalization;
pub use error::Error;
pub use header::{MAX_HEADER_BLOCK_BYTES, MAX_HEADER_FIELDS};
pub use key::{
    KeyRecord, KeyRecordError, KeyTypeTag, MAX_KEY_RECORD_BYTES, MAX_RSA_KEY_BITS,
    MIN_RSA_KEY_BITS, PublicKey,
};
pub use policy::{DEFAULT_KEY_HEADERS, MAX_SIGNATURES, Policy};
pub use result::{DkimResult, Outcome, Reason, SignatureOutcome};
pub use sign::{DEFAULT_SIGNED_HEADERS, Layout, SignParams, Signer, SigningKey, sign};
pub use signature::{Algorithm, HashAlgorithm, KeyType, Signature, SignatureError, SignedHeaders};
pub use verify::{Step, Verifier, VerifyOptions, verify_with};
