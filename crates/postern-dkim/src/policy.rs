//! The local policy applied on top of RFC 6376 verification (RFC 8301, RFC 6376 §8).

use std::borrow::Cow;

use crate::key::MIN_RSA_KEY_BITS;

/// Most DKIM-Signature fields verified per message; later ones are reported as `policy`
/// ([`crate::Reason::TooManySignatures`]) without a key lookup. RFC 6376 §6.1 lets verifiers
/// limit the work an attacker can cause ("Verifiers MAY ... limit the number of signatures").
pub const MAX_SIGNATURES: usize = 16;

/// Header fields whose unsigned duplicates make a valid signature `policy` by default
/// (RFC 6376 §8.15: an attacker adds a second From or Subject that MUAs may display).
pub const DEFAULT_KEY_HEADERS: &[&str] = &[
    "From",
    "Sender",
    "Reply-To",
    "To",
    "Cc",
    "Subject",
    "Date",
    "Message-ID",
    "Content-Type",
];

/// [`DEFAULT_KEY_HEADERS`] as the list [`Policy::key_headers`] holds.
const DEFAULT_KEY_HEADER_LIST: &[Cow<'static, str>] = &[
    Cow::Borrowed("From"),
    Cow::Borrowed("Sender"),
    Cow::Borrowed("Reply-To"),
    Cow::Borrowed("To"),
    Cow::Borrowed("Cc"),
    Cow::Borrowed("Subject"),
    Cow::Borrowed("Date"),
    Cow::Borrowed("Message-ID"),
    Cow::Borrowed("Content-Type"),
];

/// What the verifier accepts beyond RFC 6376 validity. [`Policy::default`] is the safe choice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// Accept `rsa-sha1` signatures (RFC 8301 §3.1 says MUST NOT; default `false`, giving
    /// `policy`). They are still verified, and the crypto outcome reported.
    pub allow_sha1: bool,
    /// Smallest RSA key accepted (default [`MIN_RSA_KEY_BITS`], RFC 8301 §3.2). Values below
    /// 1024 are treated as 1024: ring does not verify smaller keys.
    pub min_rsa_bits: usize,
    /// Give `policy` when body content follows the `l=` octets (RFC 6376 §8.2). Default
    /// `false`: the signature passes and [`crate::SignatureOutcome::unsigned_body_octets`]
    /// says how much is unsigned.
    pub reject_unsigned_body_content: bool,
    /// Give `policy` for keys in testing mode (`t=y`). Default `false`: the result stands
    /// and [`crate::SignatureOutcome::testing`] is set.
    pub reject_testing_keys: bool,
    /// Header fields (case-insensitive) that must not occur more often than `h=` signs them
    /// (default [`DEFAULT_KEY_HEADERS`], borrowed: a default policy allocates nothing). Set
    /// another list with `vec![...].into()`.
    pub key_headers: Cow<'static, [Cow<'static, str>]>,
    /// Most signatures verified (default [`MAX_SIGNATURES`]).
    pub max_signatures: usize,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            allow_sha1: false,
            min_rsa_bits: MIN_RSA_KEY_BITS,
            reject_unsigned_body_content: false,
            reject_testing_keys: false,
            key_headers: Cow::Borrowed(DEFAULT_KEY_HEADER_LIST),
            max_signatures: MAX_SIGNATURES,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_key_headers_are_the_documented_list() {
        let policy = Policy::default();
        assert!(
            policy
                .key_headers
                .iter()
                .map(|h| &**h)
                .eq(DEFAULT_KEY_HEADERS.iter().copied())
        );
        assert!(matches!(policy.key_headers, Cow::Borrowed(_)));
    }
}
