//! DKIM key records (RFC 6376 §3.6.1, RFC 8463 §4) and the public keys they carry.

use crate::b64;
use crate::signature::{HashAlgorithm, KeyType};
use crate::tag_list;

/// Smallest RSA key a verifier accepts by default (RFC 8301 §3.2: "MUST NOT consider
/// signatures using RSA keys of less than 1024 bits as valid signatures").
pub const MIN_RSA_KEY_BITS: usize = 1024;
/// Largest RSA key verified (RFC 8301 §3.2 asks verifiers to handle up to 4096 bits; ring
/// verifies up to 8192, and larger keys only cost CPU to an attacker's benefit).
pub const MAX_RSA_KEY_BITS: usize = 8192;
/// Largest key record accepted, after the TXT strings are concatenated (octets).
pub const MAX_KEY_RECORD_BYTES: usize = 8192;

/// The `k=` of a key record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyTypeTag {
    /// A key type this crate implements.
    Known(KeyType),
    /// Any other `k=` value: the key cannot serve any signature.
    Unknown(String),
}

/// Why a key record is unusable before any signature is considered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyRecordError {
    /// The tag list does not parse, `v=` is not `DKIM1` or not first, `p=` is missing or not
    /// base64 (RFC 6376 §3.6.1, §6.1.2 "key syntax error").
    Syntax,
    /// The record is larger than [`MAX_KEY_RECORD_BYTES`].
    TooLarge,
}

/// A parsed key record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRecord {
    /// `h=`: acceptable hash algorithms; `None` allows all. Unknown names are dropped.
    pub hashes: Option<Vec<HashAlgorithm>>,
    /// `k=` (default `rsa`).
    pub key_type: KeyTypeTag,
    /// `p=` decoded; empty means the key was revoked.
    pub public_key: Vec<u8>,
    /// `s=` allows email (`email` or `*`, the default).
    pub for_email: bool,
    /// `t=y`: the domain is testing DKIM.
    pub testing: bool,
    /// `t=s`: `i=` must be in `d=` exactly, not a subdomain.
    pub strict_identity: bool,
}

impl KeyRecord {
    /// Parse a key record (the TXT strings already concatenated).
    ///
    /// # Errors
    /// [`KeyRecordError`] for a record that is not a DKIM key record.
    pub fn parse(record: &[u8]) -> Result<Self, KeyRecordError> {
        let tags = KeyTags::parse(record)?;
        let public_key = b64::decode(tags.p).ok_or(KeyRecordError::Syntax)?;
        Ok(Self {
            hashes: tags
                .h
                .map(|h| colon_list(h).filter_map(HashAlgorithm::from_name).collect()),
            key_type: match tags.key_type() {
                Some(known) => KeyTypeTag::Known(known),
                None => KeyTypeTag::Unknown(
                    String::from_utf8_lossy(tags.k.unwrap_or_default()).into_owned(),
                ),
            },
            public_key,
            for_email: tags.for_email,
            testing: tags.testing,
            strict_identity: tags.strict_identity,
        })
    }

    /// `p=` was empty: the key was revoked (RFC 6376 §3.6.1).
    pub fn is_revoked(&self) -> bool {
        self.public_key.is_empty()
    }
}

/// A key record read in place: [`KeyRecord`] with `h=`, `k=` and `p=` as written (`p=` still
/// base64, to be decoded with [`b64::decode`] or [`b64::decode_in`]).
#[derive(Debug, Clone, Copy)]
pub(crate) struct KeyTags<'a> {
    pub(crate) h: Option<&'a [u8]>,
    pub(crate) k: Option<&'a [u8]>,
    pub(crate) p: &'a [u8],
    pub(crate) for_email: bool,
    pub(crate) testing: bool,
    pub(crate) strict_identity: bool,
}

impl<'a> KeyTags<'a> {
    /// Parse a key record but `p=`'s base64: the checks of [`KeyRecord::parse`] before it
    /// decodes `p=`.
    pub(crate) fn parse(record: &'a [u8]) -> Result<Self, KeyRecordError> {
        if record.len() > MAX_KEY_RECORD_BYTES {
            return Err(KeyRecordError::TooLarge);
        }
        let (mut h_tag, mut k_tag, mut p_tag, mut s_tag, mut t_tag) =
            (None, None, None, None, None);
        let mut bad_version = false;
        let mut index = 0usize;
        tag_list::parse_each(record, |tag| {
            match tag.name {
                // RFC 6376 §3.6.1: "If specified, this tag MUST be set to "DKIM1" ... This
                // tag MUST be the first tag in the record."
                "v" => bad_version = index != 0 || tag.value != b"DKIM1",
                "h" => h_tag = Some(tag.value),
                "k" => k_tag = Some(tag.value),
                "p" => p_tag = Some(tag.value),
                "s" => s_tag = Some(tag.value),
                "t" => t_tag = Some(tag.value),
                // `n=` (notes) and unknown tags are ignored (§3.6.1).
                _ => {}
            }
            index += 1;
        })
        .map_err(|_| KeyRecordError::Syntax)?;
        if bad_version {
            return Err(KeyRecordError::Syntax);
        }
        let mut tags = Self {
            h: h_tag,
            k: k_tag,
            p: p_tag.ok_or(KeyRecordError::Syntax)?,
            for_email: s_tag.is_none_or(|s| {
                colon_list(s).any(|s| s == b"*" || s.eq_ignore_ascii_case(b"email"))
            }),
            testing: false,
            strict_identity: false,
        };
        for flag in t_tag.into_iter().flat_map(colon_list) {
            match flag {
                b"y" => tags.testing = true,
                b"s" => tags.strict_identity = true,
                _ => {}
            }
        }
        Ok(tags)
    }

    /// `k=` (default `rsa`) if it names a key type this crate implements.
    pub(crate) fn key_type(&self) -> Option<KeyType> {
        match self.k {
            None => Some(KeyType::Rsa),
            Some(k) if k.eq_ignore_ascii_case(b"rsa") => Some(KeyType::Rsa),
            Some(k) if k.eq_ignore_ascii_case(b"ed25519") => Some(KeyType::Ed25519),
            Some(_) => None,
        }
    }

    /// Does `h=` (absent: all) allow `hash`?
    pub(crate) fn allows(&self, hash: HashAlgorithm) -> bool {
        self.h
            .is_none_or(|h| colon_list(h).any(|name| HashAlgorithm::from_name(name) == Some(hash)))
    }
}

/// Items of a `:`-separated list, white space trimmed, empty items skipped.
pub(crate) fn colon_list(value: &[u8]) -> impl Iterator<Item = &[u8]> {
    value
        .split(|&b| b == b':')
        .map(trim_fws)
        .filter(|item| !item.is_empty())
}

fn trim_fws(mut s: &[u8]) -> &[u8] {
    while let Some((b' ' | b'\t' | b'\r' | b'\n', rest)) = s.split_first() {
        s = rest;
    }
    while let Some((b' ' | b'\t' | b'\r' | b'\n', rest)) = s.split_last() {
        s = rest;
    }
    s
}

/// A public key ready for ring.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PublicKey {
    /// RSA modulus and exponent, big-endian without leading zeros.
    Rsa {
        /// Modulus.
        n: Vec<u8>,
        /// Public exponent.
        e: Vec<u8>,
        /// Modulus size in bits, measured from the DER.
        bits: usize,
    },
    /// Ed25519 public key (RFC 8463 §4: the raw 32 octets).
    Ed25519([u8; 32]),
}

impl PublicKey {
    /// Decode `p=` for the key type: RSA as `SubjectPublicKeyInfo` or bare PKCS#1
    /// `RSAPublicKey` DER, Ed25519 as 32 raw octets. `None` if it is neither.
    pub fn decode(key_type: KeyType, der: &[u8]) -> Option<Self> {
        Some(match KeyRef::decode(key_type, der)? {
            KeyRef::Rsa { n, e, bits } => Self::Rsa {
                n: n.to_vec(),
                e: e.to_vec(),
                bits,
            },
            KeyRef::Ed25519(public) => Self::Ed25519(*public),
        })
    }
}

/// A [`PublicKey`] borrowed from the decoded `p=` (what the verifier checks with, without
/// copying the modulus).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeyRef<'a> {
    /// RSA modulus and exponent, big-endian without leading zeros, and the modulus size.
    Rsa {
        n: &'a [u8],
        e: &'a [u8],
        bits: usize,
    },
    /// Ed25519 public key.
    Ed25519(&'a [u8; 32]),
}

impl<'a> KeyRef<'a> {
    /// As [`PublicKey::decode`].
    pub(crate) fn decode(key_type: KeyType, der: &'a [u8]) -> Option<Self> {
        match key_type {
            KeyType::Ed25519 => Some(Self::Ed25519(der.try_into().ok()?)),
            KeyType::Rsa => {
                let (n, e) = rsa_components(der)?;
                Some(Self::Rsa {
                    n,
                    e,
                    bits: bit_length(n),
                })
            }
        }
    }
}

/// Bits of a big-endian unsigned integer without leading zero octets.
pub(crate) fn bit_length(n: &[u8]) -> usize {
    match n.first() {
        None => 0,
        Some(&top) => (n.len() - 1) * 8 + (8 - top.leading_zeros() as usize),
    }
}

/// One DER TLV: (tag, contents, rest). Definite lengths only, minimal encoding not required.
pub(crate) fn der_tlv(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&len0, mut rest) = rest.split_first()?;
    let len = if len0 < 0x80 {
        usize::from(len0)
    } else {
        let count = usize::from(len0 & 0x7f);
        if count == 0 || count > 3 {
            return None;
        }
        let (len_bytes, after) = rest.split_at_checked(count)?;
        rest = after;
        len_bytes
            .iter()
            .fold(0usize, |acc, &b| (acc << 8) | usize::from(b))
    };
    let (contents, rest) = rest.split_at_checked(len)?;
    Some((tag, contents, rest))
}

const SEQUENCE: u8 = 0x30;
const INTEGER: u8 = 0x02;
const BIT_STRING: u8 = 0x03;
const OID: u8 = 0x06;
const NULL: u8 = 0x05;
/// 1.2.840.113549.1.1.1 (rsaEncryption).
pub(crate) const RSA_ENCRYPTION: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];

/// A positive DER INTEGER's magnitude without leading zeros.
fn positive_integer(contents: &[u8]) -> Option<&[u8]> {
    let first = *contents.first()?;
    if first & 0x80 != 0 {
        return None; // negative
    }
    let mut n = contents;
    while let Some((0, rest)) = n.split_first() {
        n = rest;
    }
    (!n.is_empty()).then_some(n)
}

/// `RSAPublicKey ::= SEQUENCE { modulus INTEGER, publicExponent INTEGER }`.
fn rsa_public_key(der: &[u8]) -> Option<(&[u8], &[u8])> {
    let (tag, seq, rest) = der_tlv(der)?;
    if tag != SEQUENCE || !rest.is_empty() {
        return None;
    }
    let (tag, n, seq) = der_tlv(seq)?;
    if tag != INTEGER {
        return None;
    }
    let (tag, e, seq) = der_tlv(seq)?;
    if tag != INTEGER || !seq.is_empty() {
        return None;
    }
    Some((positive_integer(n)?, positive_integer(e)?))
}

/// RSA (n, e) from `SubjectPublicKeyInfo` (RFC 5280) or a bare `RSAPublicKey` (RFC 8017), which
/// is the literal reading of RFC 6376 §3.6.1 and found in the wild.
fn rsa_components(der: &[u8]) -> Option<(&[u8], &[u8])> {
    let (tag, seq, rest) = der_tlv(der)?;
    if tag != SEQUENCE || !rest.is_empty() {
        return None;
    }
    let (first_tag, alg, after_alg) = der_tlv(seq)?;
    if first_tag == INTEGER {
        return rsa_public_key(der);
    }
    if first_tag != SEQUENCE {
        return None;
    }
    // AlgorithmIdentifier { rsaEncryption, NULL (optional in practice) }
    let (tag, oid, params) = der_tlv(alg)?;
    if tag != OID || oid != RSA_ENCRYPTION {
        return None;
    }
    if !params.is_empty() {
        let (tag, null, rest) = der_tlv(params)?;
        if tag != NULL || !null.is_empty() || !rest.is_empty() {
            return None;
        }
    }
    let (tag, bits, rest) = der_tlv(after_alg)?;
    if tag != BIT_STRING || !rest.is_empty() {
        return None;
    }
    let (&unused, key) = bits.split_first()?;
    if unused != 0 {
        return None;
    }
    rsa_public_key(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_records() {
        let k = KeyRecord::parse(b"v=DKIM1; k=ed25519; t=y:s; h=sha256:foo; p=AAAA").unwrap();
        assert_eq!(k.key_type, KeyTypeTag::Known(KeyType::Ed25519));
        assert!(k.testing && k.strict_identity && k.for_email);
        assert_eq!(k.hashes, Some(vec![HashAlgorithm::Sha256]));
        assert_eq!(k.public_key, [0, 0, 0]);
        assert!(KeyRecord::parse(b"v=DKIM1; p=").unwrap().is_revoked());
        assert_eq!(
            KeyRecord::parse(b"k=rsa; v=DKIM1; p="),
            Err(KeyRecordError::Syntax)
        );
        assert_eq!(
            KeyRecord::parse(b"v=DKIM2; p="),
            Err(KeyRecordError::Syntax)
        );
        assert_eq!(
            KeyRecord::parse(b"v=DKIM1; k=rsa"),
            Err(KeyRecordError::Syntax)
        );
        assert_eq!(
            KeyRecord::parse(b"v=DKIM1; p=!!"),
            Err(KeyRecordError::Syntax)
        );
        assert!(!KeyRecord::parse(b"s=other; p=").unwrap().for_email);
        assert!(KeyRecord::parse(b"s=other:*; p=").unwrap().for_email);
    }

    #[test]
    fn der_lengths() {
        assert_eq!(bit_length(&[0x01, 0]), 9);
        assert_eq!(bit_length(&[0x80, 0]), 16);
        assert!(der_tlv(&[0x30, 0x81]).is_none());
        assert!(der_tlv(&[0x30, 0x80]).is_none());
        assert!(PublicKey::decode(KeyType::Rsa, b"not der").is_none());
        assert!(PublicKey::decode(KeyType::Ed25519, &[0; 31]).is_none());
    }
}
