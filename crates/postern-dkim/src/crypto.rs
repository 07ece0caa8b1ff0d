//! Signature checks with ring (RFC 6376 §3.3, RFC 8463 §3).

use ring::signature::{self, RsaPublicKeyComponents, UnparsedPublicKey};

use crate::key::KeyRef;
use crate::signature::{Algorithm, HashAlgorithm};

/// Does `sig` sign `header_data` (the canonical header hash input) with `key`?
///
/// RSA: PKCS#1 v1.5 over the hash of the data, keys of 1024 to 8192 bits (the legacy ring
/// parameters: RFC 8301 allows 1024-bit keys). Ed25519: `PureEdDSA` over the SHA-256 digest of
/// the data (RFC 8463 §3: the hash is signed, not the data).
pub(crate) fn verify(
    algorithm: Algorithm,
    key: &KeyRef<'_>,
    header_data: &[u8],
    sig: &[u8],
) -> bool {
    match (algorithm, key) {
        (Algorithm::RsaSha1 | Algorithm::RsaSha256, KeyRef::Rsa { n, e, .. }) => {
            let params = match algorithm.hash() {
                HashAlgorithm::Sha1 => &signature::RSA_PKCS1_1024_8192_SHA1_FOR_LEGACY_USE_ONLY,
                HashAlgorithm::Sha256 => &signature::RSA_PKCS1_1024_8192_SHA256_FOR_LEGACY_USE_ONLY,
            };
            RsaPublicKeyComponents { n, e }
                .verify(params, header_data, sig)
                .is_ok()
        }
        (Algorithm::Ed25519Sha256, KeyRef::Ed25519(public)) => {
            let digest = ring::digest::digest(&ring::digest::SHA256, header_data);
            UnparsedPublicKey::new(&signature::ED25519, public)
                .verify(digest.as_ref(), sig)
                .is_ok()
        }
        _ => false,
    }
}
