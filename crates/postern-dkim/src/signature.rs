//! The DKIM-Signature header field (RFC 6376 §3.5), parsed strictly.

use std::fmt;

use crate::b64;
use crate::canon::Canonicalization;
use crate::key::colon_list;
use crate::result::Reason;
use crate::tag_list::{self, Tag, TagListError};

/// Longest `l=`, `t=`, `x=` accepted: RFC 6376 §3.5 allows 76 digits for `l=` and 12 for
/// times; anything that does not fit a `u64` is a syntax error here.
const MAX_DIGITS: usize = 20;

/// A key type (`k=` of the key record; the first half of `a=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum KeyType {
    /// RSA (RFC 6376 §3.3.1).
    Rsa,
    /// Ed25519 (RFC 8463).
    Ed25519,
}

/// A hash algorithm (the second half of `a=`; key `h=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum HashAlgorithm {
    /// SHA-1: historic; RFC 8301 forbids signing and verifying with it.
    Sha1,
    /// SHA-256.
    Sha256,
}

impl HashAlgorithm {
    /// Name as in `h=` (`sha1`, `sha256`).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Sha1 => "sha1",
            Self::Sha256 => "sha256",
        }
    }

    /// Parse a key-record `h=` item (case-insensitive).
    pub fn from_name(name: &[u8]) -> Option<Self> {
        if name.eq_ignore_ascii_case(b"sha1") {
            Some(Self::Sha1)
        } else if name.eq_ignore_ascii_case(b"sha256") {
            Some(Self::Sha256)
        } else {
            None
        }
    }

    pub(crate) fn ring(self) -> &'static ring::digest::Algorithm {
        match self {
            Self::Sha1 => &ring::digest::SHA1_FOR_LEGACY_USE_ONLY,
            Self::Sha256 => &ring::digest::SHA256,
        }
    }
}

/// A signing algorithm (`a=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Algorithm {
    /// `rsa-sha1` (historic; `policy` by default, RFC 8301).
    RsaSha1,
    /// `rsa-sha256`.
    RsaSha256,
    /// `ed25519-sha256` (RFC 8463).
    Ed25519Sha256,
}

impl Algorithm {
    /// The `a=` name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::RsaSha1 => "rsa-sha1",
            Self::RsaSha256 => "rsa-sha256",
            Self::Ed25519Sha256 => "ed25519-sha256",
        }
    }

    /// Parse an `a=` value (case-insensitive).
    pub fn from_name(name: &[u8]) -> Option<Self> {
        [Self::RsaSha1, Self::RsaSha256, Self::Ed25519Sha256]
            .into_iter()
            .find(|a| name.eq_ignore_ascii_case(a.as_str().as_bytes()))
    }

    /// The hash half.
    pub const fn hash(self) -> HashAlgorithm {
        match self {
            Self::RsaSha1 => HashAlgorithm::Sha1,
            Self::RsaSha256 | Self::Ed25519Sha256 => HashAlgorithm::Sha256,
        }
    }

    /// The key half.
    pub const fn key_type(self) -> KeyType {
        match self {
            Self::RsaSha1 | Self::RsaSha256 => KeyType::Rsa,
            Self::Ed25519Sha256 => KeyType::Ed25519,
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A parsed DKIM-Signature field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signature {
    /// `a=`.
    pub algorithm: Algorithm,
    /// `b=`, decoded.
    pub signature: Vec<u8>,
    /// `b=` as written, FWS removed (for `header.b`).
    pub signature_b64: String,
    /// `bh=`, decoded.
    pub body_hash: Vec<u8>,
    /// `c=` header half (default simple).
    pub header_canonicalization: Canonicalization,
    /// `c=` body half (default simple).
    pub body_canonicalization: Canonicalization,
    /// `d=`, as written.
    pub domain: String,
    /// `h=`: signed header field names, lower-cased, in order, repeats kept.
    pub signed_headers: SignedHeaders,
    /// `i=` decoded (`local@domain`); `None` when absent (then it is `@d`).
    pub identity: Option<String>,
    /// `l=`.
    pub body_length: Option<u64>,
    /// `s=`.
    pub selector: String,
    /// `t=`.
    pub timestamp: Option<u64>,
    /// `x=`.
    pub expiration: Option<u64>,
}

/// The `h=` list of a signature: the signed header field names, lower-cased, in order, repeats
/// kept. Held as one string (the names joined by `:`), not a string per name.
///
/// ```
/// use postern_dkim::Signature;
/// let value = b"v=1; a=rsa-sha256; d=example.com; s=s; h=From : To:from; bh=YWJj; b=YWJj";
/// let signature = Signature::parse(value).unwrap();
/// let names: Vec<&str> = signature.signed_headers.iter().collect();
/// assert_eq!(names, ["from", "to", "from"]);
/// assert_eq!(signature.signed_headers.len(), 3);
/// assert_eq!(signature.signed_headers.as_str(), "from:to:from");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SignedHeaders {
    /// The names joined by `:` (a name holds no colon and is never empty).
    joined: String,
    len: usize,
}

impl SignedHeaders {
    /// The names, in `h=` order.
    pub fn iter(&self) -> impl Iterator<Item = &str> + Clone {
        let mut rest = Some(self.joined.as_str());
        std::iter::from_fn(move || {
            let names = rest?;
            // Names are short: a plain scan for the colon beats a searcher.
            if let Some(colon) = names.bytes().position(|b| b == b':') {
                rest = names.get(colon + 1..);
                names.get(..colon)
            } else {
                rest = None;
                Some(names)
            }
        })
    }

    /// How many names (repeats counted).
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether there is no name (never, for a parsed signature: `h=` must list From).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The names joined by `:`, as `h=` would list them lower-cased and without white space.
    pub fn as_str(&self) -> &str {
        &self.joined
    }
}

/// A signature field that is not a valid signature: the RFC 6376 reason, and what was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureError {
    /// The RFC 6376 §6.1.1 reason.
    pub reason: Reason,
    /// Which tag (or `tag-list`) is at fault.
    pub tag: &'static str,
}

fn err(reason: Reason, tag: &'static str) -> SignatureError {
    SignatureError { reason, tag }
}

fn syntax(tag: &'static str) -> SignatureError {
    err(Reason::SignatureSyntax, tag)
}

/// Is `s` a dot-atom of LDH labels (RFC 5321 `Domain`, RFC 6376 `domain-name`, `selector`)?
/// Underscores are allowed when `underscore` (selectors name DNS labels, not hosts).
pub(crate) fn is_domain_name(s: &str, underscore: bool) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.as_bytes().split(|&b| b == b'.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with(b"-")
                && !label.ends_with(b"-")
                && label
                    .iter()
                    .all(|&b| b.is_ascii_alphanumeric() || b == b'-' || (underscore && b == b'_'))
        })
}

/// Is `name` a header field name (RFC 5322 §3.6.8: printable ASCII except colon)?
pub(crate) fn is_field_name(name: &[u8]) -> bool {
    !name.is_empty()
        && name
            .iter()
            .all(|&b| (0x21..=0x7e).contains(&b) && b != b':')
}

fn digits(value: &[u8], tag: &'static str) -> Result<u64, SignatureError> {
    if value.is_empty() || value.len() > MAX_DIGITS {
        return Err(syntax(tag));
    }
    value
        .iter()
        .try_fold(0u64, |n, &b| {
            let digit = b.checked_sub(b'0').filter(|d| *d <= 9)?;
            n.checked_mul(10)?.checked_add(u64::from(digit))
        })
        .ok_or_else(|| syntax(tag))
}

fn text(value: &[u8], tag: &'static str) -> Result<String, SignatureError> {
    String::from_utf8(value.to_vec()).map_err(|_| syntax(tag))
}

/// Decode dkim-quoted-printable (RFC 6376 §2.11): `=XX` escapes, FWS dropped.
fn quoted_printable(value: &[u8]) -> Option<Vec<u8>> {
    let compact = tag_list::strip_fws(value);
    let mut out = Vec::with_capacity(compact.len());
    let mut rest = &*compact;
    while let Some((&b, tail)) = rest.split_first() {
        if b == b'=' {
            let hex = tail.get(..2)?;
            let s = std::str::from_utf8(hex).ok()?;
            if !s
                .bytes()
                .all(|c| c.is_ascii_digit() || (b'A'..=b'F').contains(&c))
            {
                return None;
            }
            out.push(u8::from_str_radix(s, 16).ok()?);
            rest = tail.get(2..)?;
        } else {
            out.push(b);
            rest = tail;
        }
    }
    Some(out)
}

/// `c=`: `header[/body]`, each half defaulting to simple (§3.5).
pub(crate) fn canonicalizations(
    value: Option<&[u8]>,
) -> Result<(Canonicalization, Canonicalization), SignatureError> {
    let Some(value) = value else {
        return Ok((Canonicalization::Simple, Canonicalization::Simple));
    };
    let mut halves = value.splitn(2, |&b| b == b'/');
    let head = halves.next().unwrap_or_default();
    let header = Canonicalization::from_name(head).ok_or_else(|| syntax("c"))?;
    let body = match halves.next() {
        None => Canonicalization::Simple,
        Some(body) => Canonicalization::from_name(body).ok_or_else(|| syntax("c"))?,
    };
    Ok((header, body))
}

/// `h=`: field names separated by `:`, FWS allowed around them; lower-cased.
pub(crate) fn header_list(value: &[u8]) -> Result<SignedHeaders, SignatureError> {
    // Usually a list of printable ASCII without FWS: checked and lower-cased whole, in passes
    // without early exit (vectorized).
    let outside = value
        .iter()
        .fold(0u8, |bad, &b| bad | u8::from(!(0x21..=0x7e).contains(&b)));
    let colons = value.iter().map(|&b| usize::from(b == b':')).sum::<usize>();
    let empty_name = value.first() == Some(&b':')
        || value.last() == Some(&b':')
        || value
            .iter()
            .zip(value.iter().skip(1))
            .fold(0u8, |empty, (&a, &b)| {
                empty | u8::from(a == b':' && b == b':')
            })
            != 0;
    if outside == 0 && !value.is_empty() && !empty_name {
        let joined = String::from_utf8(value.to_ascii_lowercase()).map_err(|_| syntax("h"))?;
        return Ok(SignedHeaders {
            joined,
            len: colons + 1,
        });
    }
    // One pass: FWS dropped, the rest must be field names (printable ASCII but the colon,
    // RFC 5322 §3.6.8), lower-cased, none empty.
    let mut joined = Vec::with_capacity(value.len());
    let mut len = 1;
    let mut name_start = 0;
    for &b in value {
        match b {
            b' ' | b'\t' | b'\r' | b'\n' => {}
            b':' => {
                if joined.len() == name_start {
                    return Err(syntax("h"));
                }
                joined.push(b':');
                name_start = joined.len();
                len += 1;
            }
            0x21..=0x7e => joined.push(b.to_ascii_lowercase()),
            _ => return Err(syntax("h")),
        }
    }
    if joined.len() == name_start {
        return Err(syntax("h"));
    }
    // Printable ASCII only: always UTF-8.
    let joined = String::from_utf8(joined).map_err(|_| syntax("h"))?;
    Ok(SignedHeaders { joined, len })
}

/// `i=`: dkim-quoted-printable `[local-part] "@" domain-name`.
fn identity(value: &[u8]) -> Result<String, SignatureError> {
    let decoded = quoted_printable(value).ok_or_else(|| syntax("i"))?;
    let identity = text(&decoded, "i")?;
    let (_, domain) = identity.rsplit_once('@').ok_or_else(|| syntax("i"))?;
    if is_domain_name(domain, false) {
        Ok(identity)
    } else {
        Err(syntax("i"))
    }
}

/// The values of the tags a signature uses, gathered in one pass over the list (tag names
/// are unique: the tag-list parser rejects repeats).
#[derive(Default)]
pub(crate) struct SignatureTags<'a> {
    v: Option<&'a [u8]>,
    a: Option<&'a [u8]>,
    /// `b=` as a whole tag: the verifier removes its value from the field it hashes.
    pub(crate) b: Option<Tag<'a>>,
    bh: Option<&'a [u8]>,
    c: Option<&'a [u8]>,
    d: Option<&'a [u8]>,
    h: Option<&'a [u8]>,
    i: Option<&'a [u8]>,
    l: Option<&'a [u8]>,
    q: Option<&'a [u8]>,
    s: Option<&'a [u8]>,
    t: Option<&'a [u8]>,
    x: Option<&'a [u8]>,
}

impl<'a> SignatureTags<'a> {
    /// Parse the tag list of a signature field value, keeping the tags a signature uses.
    pub(crate) fn parse(value: &'a [u8]) -> Result<Self, TagListError> {
        let mut found = Self::default();
        tag_list::parse_each(value, |tag| {
            let slot = match tag.name {
                "v" => &mut found.v,
                "a" => &mut found.a,
                "b" => {
                    found.b = Some(tag);
                    return;
                }
                "bh" => &mut found.bh,
                "c" => &mut found.c,
                "d" => &mut found.d,
                "h" => &mut found.h,
                "i" => &mut found.i,
                "l" => &mut found.l,
                "q" => &mut found.q,
                "s" => &mut found.s,
                "t" => &mut found.t,
                "x" => &mut found.x,
                // Unknown tags are ignored (§3.2).
                _ => return,
            };
            *slot = Some(tag.value);
        })?;
        Ok(found)
    }
}

impl Signature {
    /// Parse the value of a DKIM-Signature field (the bytes after the colon, folding included,
    /// without the final CRLF), checking everything RFC 6376 §3.5 and §6.1.1 require that does
    /// not need the key or the clock.
    ///
    /// # Errors
    /// A [`SignatureError`] with the reason a verifier reports.
    pub fn parse(value: &[u8]) -> Result<Self, SignatureError> {
        let found = SignatureTags::parse(value).map_err(|e| match e {
            TagListError::Syntax { .. } | TagListError::Duplicate { .. } => syntax("tag-list"),
        })?;
        Self::from_tags(&found)
    }

    pub(crate) fn from_tags<'a>(found: &SignatureTags<'a>) -> Result<Self, SignatureError> {
        // §6.1.1: the version first, then required tags.
        let version = found.v.ok_or_else(|| err(Reason::MissingTag, "v"))?;
        if version != b"1" {
            return Err(err(Reason::IncompatibleVersion, "v"));
        }
        let required = |value: Option<&'a [u8]>, name: &'static str| {
            value.ok_or_else(|| err(Reason::MissingTag, name))
        };
        let (alg_tag, sig_tag, hash_tag, domain_tag, headers_tag, selector_tag) = (
            required(found.a, "a")?,
            required(found.b.map(|b| b.value), "b")?,
            required(found.bh, "bh")?,
            required(found.d, "d")?,
            required(found.h, "h")?,
            required(found.s, "s")?,
        );
        let algorithm = Algorithm::from_name(alg_tag).ok_or_else(|| syntax("a"))?;
        let mut signature_text = Vec::with_capacity(sig_tag.len());
        let signature = b64::decode_keeping_text(sig_tag, &mut signature_text)
            .filter(|sig| !sig.is_empty())
            .ok_or_else(|| syntax("b"))?;
        let signature_b64 = String::from_utf8(signature_text).map_err(|_| syntax("b"))?;
        let body_hash = b64::decode(hash_tag)
            .filter(|hash| !hash.is_empty())
            .ok_or_else(|| syntax("bh"))?;
        let (header_canonicalization, body_canonicalization) = canonicalizations(found.c)?;
        let domain = text(domain_tag, "d")?;
        if !is_domain_name(&domain, false) {
            return Err(syntax("d"));
        }
        let selector = text(selector_tag, "s")?;
        if !is_domain_name(&selector, true) {
            return Err(syntax("s"));
        }
        let signed_headers = header_list(headers_tag)?;
        let identity = found.i.map(identity).transpose()?;
        let body_length = found.l.map(|l| digits(l, "l")).transpose()?;
        if let Some(q) = found.q {
            // §3.5: the only method is dns/txt; a list without it cannot be verified.
            if !colon_list(q).any(|m| m.eq_ignore_ascii_case(b"dns/txt")) {
                return Err(syntax("q"));
            }
        }
        let timestamp = found.t.map(|t| digits(t, "t")).transpose()?;
        let expiration = found.x.map(|x| digits(x, "x")).transpose()?;
        if let (Some(t), Some(x)) = (timestamp, expiration) {
            // §3.5: "the value of the "x=" tag MUST be greater than the value of the "t=" tag".
            if x <= t {
                return Err(syntax("x"));
            }
        }
        let signature = Self {
            algorithm,
            signature,
            signature_b64,
            body_hash,
            header_canonicalization,
            body_canonicalization,
            domain,
            signed_headers,
            identity,
            body_length,
            selector,
            timestamp,
            expiration,
        };
        // §6.1.1: i= must be d= or a subdomain of it.
        if !is_same_or_subdomain(signature.identity_domain(), &signature.domain) {
            return Err(err(Reason::DomainMismatch, "i"));
        }
        // §6.1.1: h= must include From.
        if !signature.signed_headers.iter().any(|h| h == "from") {
            return Err(err(Reason::FromNotSigned, "h"));
        }
        Ok(signature)
    }

    /// The domain of `i=` (or `d=` when `i=` is absent).
    pub fn identity_domain(&self) -> &str {
        self.identity
            .as_deref()
            .and_then(|i| i.rsplit_once('@'))
            .map_or(self.domain.as_str(), |(_, d)| d)
    }

    /// The key record name: `selector._domainkey.domain`.
    pub fn key_name(&self) -> String {
        let mut name = String::with_capacity(self.selector.len() + 12 + self.domain.len());
        name.push_str(&self.selector);
        name.push_str("._domainkey.");
        name.push_str(&self.domain);
        name
    }
}

/// `sub` equals `parent` or ends with `.parent`, ASCII case-insensitively.
pub(crate) fn is_same_or_subdomain(sub: &str, parent: &str) -> bool {
    let (sub, parent) = (sub.as_bytes(), parent.as_bytes());
    sub.len()
        .checked_sub(parent.len())
        .and_then(|cut| sub.split_at_checked(cut))
        .is_some_and(|(head, tail)| {
            tail.eq_ignore_ascii_case(parent) && (head.is_empty() || head.ends_with(b"."))
        })
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        /// `h=` parsed in one pass gives the names (or the error) of removing FWS, checking the
        /// field-name syntax and lower-casing, one step after the other.
        #[test]
        fn header_list_matches_the_stepwise_reading(
            value in prop::collection::vec(
                prop::sample::select(b"aZ-:: \t\r\n\x7f\x00\xe9~".to_vec()),
                0..24,
            ),
        ) {
            let expected: Result<Vec<String>, SignatureError> = value
                .split(|&b| b == b':')
                .map(|item| {
                    let name = tag_list::strip_fws(item);
                    if is_field_name(&name) {
                        Ok(String::from_utf8(name.to_vec()).unwrap().to_ascii_lowercase())
                    } else {
                        Err(syntax("h"))
                    }
                })
                .collect();
            let got = header_list(&value)
                .map(|h| (h.iter().map(str::to_owned).collect::<Vec<_>>(), h.len()));
            prop_assert_eq!(got, expected.map(|names| {
                let len = names.len();
                (names, len)
            }));
        }

        /// Numbers are read as `str::parse` reads ASCII digits (overflow included).
        #[test]
        fn digits_match_str_parse(value in "[0-9a ]{0,22}") {
            let expected = if value.is_empty()
                || value.len() > MAX_DIGITS
                || !value.bytes().all(|b| b.is_ascii_digit())
            {
                None
            } else {
                value.parse::<u64>().ok()
            };
            prop_assert_eq!(digits(value.as_bytes(), "t").ok(), expected);
        }

        /// The byte-wise, allocation-free comparison agrees with comparing lower-cased copies.
        #[test]
        fn subdomain_check_matches_lowercased_comparison(
            sub in "[aAbB.\u{e9}\u{c9}]{0,8}",
            parent in "[aAbB.\u{e9}\u{c9}]{0,5}",
        ) {
            let (s, p) = (sub.to_ascii_lowercase(), parent.to_ascii_lowercase());
            let expected = s == p || s.strip_suffix(&p).is_some_and(|head| head.ends_with('.'));
            prop_assert_eq!(is_same_or_subdomain(&sub, &parent), expected);
        }
    }

    const GOOD: &str = "v=1; a=rsa-sha256; c=relaxed/simple; d=example.com; s=sel; \
                        h=From:To; bh=YWJj; b=YWJj ZA==";

    fn reason(value: &str) -> Reason {
        Signature::parse(value.as_bytes()).unwrap_err().reason
    }

    #[test]
    fn parses_a_signature() {
        let s = Signature::parse(GOOD.as_bytes()).unwrap();
        assert_eq!(s.algorithm, Algorithm::RsaSha256);
        assert!(s.signed_headers.iter().eq(["from", "to"]));
        assert_eq!(s.signed_headers.len(), 2);
        assert_eq!(s.signature, b"abcd");
        assert_eq!(s.header_canonicalization, Canonicalization::Relaxed);
        assert_eq!(s.body_canonicalization, Canonicalization::Simple);
        assert_eq!(s.identity_domain(), "example.com");
        assert_eq!(s.key_name(), "sel._domainkey.example.com");
    }

    #[test]
    fn reasons_for_malformations() {
        assert_eq!(
            reason(&GOOD.replace("v=1", "v=2")),
            Reason::IncompatibleVersion
        );
        assert_eq!(reason(&GOOD.replace("v=1; ", "")), Reason::MissingTag);
        assert_eq!(reason(&GOOD.replace(" bh=YWJj;", "")), Reason::MissingTag);
        assert_eq!(
            reason(&GOOD.replace("rsa-sha256", "rsa-sha512")),
            Reason::SignatureSyntax
        );
        assert_eq!(reason(&format!("{GOOD}; d=x.org")), Reason::SignatureSyntax);
        assert_eq!(
            reason(&GOOD.replace("b=YWJj", "b=YW*j")),
            Reason::SignatureSyntax
        );
        assert_eq!(
            reason(&GOOD.replace("h=From:To", "h=To")),
            Reason::FromNotSigned
        );
        assert_eq!(
            reason(&GOOD.replace("d=example.com", "d=a(.b")),
            Reason::SignatureSyntax
        );
        assert_eq!(
            reason(&format!("{GOOD}; i=@other.org")),
            Reason::DomainMismatch
        );
        assert!(Signature::parse(format!("{GOOD}; i=u@Sub.Example.COM").as_bytes()).is_ok());
        assert_eq!(
            reason(&format!("{GOOD}; t=10; x=5")),
            Reason::SignatureSyntax
        );
        assert_eq!(reason(&format!("{GOOD}; l=12x")), Reason::SignatureSyntax);
        assert_eq!(reason(&format!("{GOOD}; q=http")), Reason::SignatureSyntax);
        assert_eq!(reason(&format!("{GOOD}; garbage")), Reason::SignatureSyntax);
        assert_eq!(
            reason(&GOOD.replace("c=relaxed/simple", "c=fancy")),
            Reason::SignatureSyntax
        );
    }

    #[test]
    fn identity_quoted_printable() {
        let s = Signature::parse(format!("{GOOD}; i=j=3Dx@example.com").as_bytes()).unwrap();
        assert_eq!(s.identity.as_deref(), Some("j=x@example.com"));
    }
}
