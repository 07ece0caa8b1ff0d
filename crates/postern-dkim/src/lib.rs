//! DKIM (RFC 6376), with the RFC 8301 algorithm and key-size rules and Ed25519 (RFC 8463).
#![forbid(unsafe_code)]

#[doc(hidden)]
pub mod __fuzz;
mod b64;
mod body;
mod canon;
mod crypto;
mod error;
mod header;
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
pub use signature::{Algorithm, HashAlgorithm, KeyType, Signature, SignatureError};
pub use verify::{Step, Verifier, VerifyOptions, verify_with};
