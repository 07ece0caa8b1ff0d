//! The signer (RFC 6376 §5, RFC 8463): rsa-sha256 and ed25519-sha256, streaming body.

use ring::signature::{Ed25519KeyPair, KeyPair as _, RsaKeyPair};

use crate::b64;
use crate::body::{BodyHashKey, BodyHasher};
use crate::canon::{self, Canonicalization};
use crate::error::Error;
use crate::header::{self, BareLf, Collected, Field, HeaderCollector};
use crate::signature::{
    Algorithm, HashAlgorithm, is_domain_name, is_field_name, is_same_or_subdomain,
};

/// Header fields signed by default, when present (From always): the RFC 6376 §5.4.1 list.
pub const DEFAULT_SIGNED_HEADERS: &[&str] = &[
    "from",
    "sender",
    "reply-to",
    "subject",
    "date",
    "message-id",
    "to",
    "cc",
    "mime-version",
    "content-type",
    "content-transfer-encoding",
    "content-id",
    "content-description",
    "resent-date",
    "resent-from",
    "resent-sender",
    "resent-to",
    "resent-cc",
    "resent-message-id",
    "in-reply-to",
    "references",
    "list-id",
    "list-help",
    "list-unsubscribe",
    "list-subscribe",
    "list-post",
    "list-owner",
    "list-archive",
];

/// A private key to sign with.
pub enum SigningKey {
    /// RSA, 2048 to 4096 bits (what ring signs with); signs rsa-sha256.
    Rsa(RsaKeyPair),
    /// Ed25519; signs ed25519-sha256.
    Ed25519(Ed25519KeyPair),
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Rsa(k) => write!(f, "SigningKey::Rsa({} bits)", k.public().modulus_len() * 8),
            Self::Ed25519(_) => f.write_str("SigningKey::Ed25519"),
        }
    }
}

/// PEM armour: the label and the decoded DER of the first block.
fn pem_block(pem: &str) -> Result<(&str, Vec<u8>), Error> {
    let bad = |what| Error::PrivateKey { what };
    let start = pem.find("-----BEGIN ").ok_or(bad("no PEM BEGIN line"))?;
    let rest = pem.get(start + 11..).unwrap_or_default();
    let label_end = rest
        .find("-----")
        .ok_or(bad("unterminated PEM BEGIN line"))?;
    let label = rest.get(..label_end).unwrap_or_default();
    let body = rest.get(label_end + 5..).unwrap_or_default();
    let end_line = format!("-----END {label}-----");
    let end = body
        .find(&end_line)
        .ok_or(bad("no matching PEM END line"))?;
    let b64_text = body.get(..end).unwrap_or_default();
    let der = b64::decode(b64_text.as_bytes()).ok_or(bad("PEM body is not base64"))?;
    Ok((label, der))
}

/// Modulus size of an RSA private key DER (`RSAPrivateKey`, or inside PKCS#8), for messages.
fn rsa_private_bits(der: &[u8]) -> Option<usize> {
    let (_, seq, _) = crate::key::der_tlv(der)?;
    let (tag, _version, rest) = crate::key::der_tlv(seq)?;
    if tag != 0x02 {
        return None;
    }
    let (tag, contents, rest) = crate::key::der_tlv(rest)?;
    match tag {
        // RSAPrivateKey: version, modulus, ...
        0x02 => Some(crate::key::bit_length(strip_zeros(contents))),
        // PrivateKeyInfo: version, AlgorithmIdentifier, OCTET STRING { RSAPrivateKey }
        0x30 => {
            let (tag, inner, _) = crate::key::der_tlv(rest)?;
            if tag == 0x04 {
                rsa_private_bits(inner)
            } else {
                None
            }
        }
        _ => None,
    }
}

fn strip_zeros(mut n: &[u8]) -> &[u8] {
    while let Some((0, rest)) = n.split_first() {
        n = rest;
    }
    n
}

impl SigningKey {
    /// Read a PEM private key: `RSA PRIVATE KEY` (PKCS#1), or `PRIVATE KEY` (PKCS#8: RSA, or
    /// Ed25519 v1 as OpenSSL writes it, or v2 with the public key).
    ///
    /// # Errors
    /// [`Error::PrivateKey`] for anything else, [`Error::PrivateKeySize`] for an RSA key
    /// outside 2048–4096 bits.
    pub fn from_pem(pem: &str) -> Result<Self, Error> {
        let (label, der) = pem_block(pem)?;
        match label {
            "RSA PRIVATE KEY" => Self::rsa(RsaKeyPair::from_der(&der), &der),
            "PRIVATE KEY" => {
                if let Ok(key) = Ed25519KeyPair::from_pkcs8_maybe_unchecked(&der) {
                    return Ok(Self::Ed25519(key));
                }
                Self::rsa(RsaKeyPair::from_pkcs8(&der), &der)
            }
            _ => Err(Error::PrivateKey {
                what: "unsupported PEM label (expected RSA PRIVATE KEY or PRIVATE KEY)",
            }),
        }
    }

    fn rsa(
        parsed: Result<RsaKeyPair, ring::error::KeyRejected>,
        der: &[u8],
    ) -> Result<Self, Error> {
        parsed
            .map(Self::Rsa)
            .map_err(|_| match rsa_private_bits(der) {
                Some(bits) if !(2048..=4096).contains(&bits) => Error::PrivateKeySize { bits },
                _ => Error::PrivateKey {
                    what: "not a valid RSA or Ed25519 private key",
                },
            })
    }

    /// A key file's text: PEM as [`SigningKey::from_pem`], or else an Ed25519 seed in base64.
    ///
    /// # Errors
    /// As [`SigningKey::from_pem`]; [`Error::PrivateKey`] for text that is neither.
    pub fn from_text(text: &str) -> Result<Self, Error> {
        if text.contains("-----BEGIN") {
            return Self::from_pem(text);
        }
        let seed = b64::decode(text.trim().as_bytes()).ok_or(Error::PrivateKey {
            what: "neither PEM nor a base64 Ed25519 seed",
        })?;
        Self::ed25519_from_seed(&seed)
    }

    /// An Ed25519 key from its 32-byte seed (RFC 8032 private key).
    ///
    /// # Errors
    /// [`Error::PrivateKey`] if `seed` is not 32 bytes.
    pub fn ed25519_from_seed(seed: &[u8]) -> Result<Self, Error> {
        Ed25519KeyPair::from_seed_unchecked(seed)
            .map(Self::Ed25519)
            .map_err(|_| Error::PrivateKey {
                what: "an Ed25519 seed is 32 bytes",
            })
    }

    /// The algorithm this key signs with.
    pub fn algorithm(&self) -> Algorithm {
        match self {
            Self::Rsa(_) => Algorithm::RsaSha256,
            Self::Ed25519(_) => Algorithm::Ed25519Sha256,
        }
    }

    /// The `p=` value to publish: RSA as `SubjectPublicKeyInfo`, Ed25519 as the raw key.
    pub fn public_key_base64(&self) -> String {
        match self {
            Self::Rsa(k) => b64::encode(&spki(k.public().as_ref())),
            Self::Ed25519(k) => b64::encode(k.public_key().as_ref()),
        }
    }

    fn sign(&self, header_data: &[u8]) -> Result<Vec<u8>, Error> {
        match self {
            Self::Rsa(k) => {
                let mut sig = vec![0; k.public().modulus_len()];
                let rng = ring::rand::SystemRandom::new();
                k.sign(
                    &ring::signature::RSA_PKCS1_SHA256,
                    &rng,
                    header_data,
                    &mut sig,
                )
                .map_err(|_| Error::PrivateKey {
                    what: "RSA signing failed",
                })?;
                Ok(sig)
            }
            // RFC 8463 §3: Ed25519 signs the SHA-256 hash of the header data.
            Self::Ed25519(k) => {
                let digest = ring::digest::digest(&ring::digest::SHA256, header_data);
                Ok(k.sign(digest.as_ref()).as_ref().to_vec())
            }
        }
    }
}

/// DER length octets.
fn der_len(len: usize, out: &mut Vec<u8>) {
    if len < 0x80 {
        out.push(u8::try_from(len).unwrap_or(0));
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|&&b| b == 0).count();
        let significant = bytes.get(skip..).unwrap_or_default();
        out.push(0x80 | u8::try_from(significant.len()).unwrap_or(0));
        out.extend_from_slice(significant);
    }
}

fn der(tag: u8, contents: &[u8], out: &mut Vec<u8>) {
    out.push(tag);
    der_len(contents.len(), out);
    out.extend_from_slice(contents);
}

/// Wrap an `RSAPublicKey` in a `SubjectPublicKeyInfo`.
fn spki(rsa_public_key: &[u8]) -> Vec<u8> {
    let mut alg = Vec::new();
    der(0x06, crate::key::RSA_ENCRYPTION, &mut alg);
    der(0x05, &[], &mut alg);
    let mut bits = vec![0u8];
    bits.extend_from_slice(rsa_public_key);
    let mut inner = Vec::new();
    der(0x30, &alg, &mut inner);
    der(0x03, &bits, &mut inner);
    let mut out = Vec::new();
    der(0x30, &inner, &mut out);
    out
}

/// How the DKIM-Signature field is laid out. The layout is part of what is signed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Layout {
    /// One line: `DKIM-Signature: ` then `tag=value` joined by `"; "` in the order
    /// v a c d s i l t x h bh b, `h=` joined by `:`. This is the shared corpus's layout.
    #[default]
    OneLine,
    /// The same tags folded before a tag when a line would pass 78 characters, and `b=`
    /// folded every 72 characters (RFC 5322 §2.1.1 line length).
    Folded,
}

/// What to sign and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignParams {
    /// `d=`.
    pub domain: String,
    /// `s=`.
    pub selector: String,
    /// `c=` header half.
    pub header_canonicalization: Canonicalization,
    /// `c=` body half.
    pub body_canonicalization: Canonicalization,
    /// `h=` as given (repeats kept, order kept). Empty: every instance of the
    /// [`DEFAULT_SIGNED_HEADERS`] present, From always.
    pub headers: Vec<String>,
    /// Oversign: list each header one more time than the message holds it, so that none can
    /// be added without breaking the signature (RFC 6376 §8.15).
    pub oversign: bool,
    /// `t=` (Unix seconds; the caller's clock).
    pub timestamp: Option<u64>,
    /// `x=` (Unix seconds).
    pub expiration: Option<u64>,
    /// `i=`.
    pub identity: Option<String>,
    /// Add `l=` with the canonical body length.
    pub body_length: bool,
    /// Field layout.
    pub layout: Layout,
    /// Treat bare LF in the input as CRLF.
    pub convert_bare_lf: bool,
}

impl SignParams {
    /// relaxed/relaxed, default headers, no optional tags, one-line layout.
    pub fn new(domain: &str, selector: &str) -> Self {
        Self {
            domain: domain.to_owned(),
            selector: selector.to_owned(),
            header_canonicalization: Canonicalization::Relaxed,
            body_canonicalization: Canonicalization::Relaxed,
            headers: Vec::new(),
            oversign: false,
            timestamp: None,
            expiration: None,
            identity: None,
            body_length: false,
            layout: Layout::OneLine,
            convert_bare_lf: false,
        }
    }

    fn validate(&self) -> Result<(), Error> {
        let bad = |field, what| Err(Error::SignParameter { field, what });
        if !is_domain_name(&self.domain, false) {
            return bad("d", "not a domain name");
        }
        if !is_domain_name(&self.selector, true) {
            return bad("s", "not a selector (dot-separated labels)");
        }
        for h in &self.headers {
            if !is_field_name(h.as_bytes()) {
                return bad("h", "not a header field name");
            }
        }
        if !self.headers.is_empty() && !self.headers.iter().any(|h| h.eq_ignore_ascii_case("from"))
        {
            return bad("h", "must include From (RFC 6376 §5.4)");
        }
        if let Some(i) = &self.identity {
            let Some((local, domain)) = i.rsplit_once('@') else {
                return bad("i", "must be [local-part]@domain");
            };
            if local.bytes().any(|b| !(0x21..=0x7e).contains(&b)) {
                return bad("i", "local-part must be printable ASCII");
            }
            if !is_domain_name(domain, false) || !is_same_or_subdomain(domain, &self.domain) {
                return bad("i", "domain must be d= or a subdomain of it");
            }
        }
        if let (Some(t), Some(x)) = (self.timestamp, self.expiration)
            && x <= t
        {
            return bad("x", "must be later than t=");
        }
        Ok(())
    }
}

/// A streaming signer for one message: give it the message ([`Signer::update`],
/// [`Signer::finish`]); it returns the DKIM-Signature field to prepend.
///
/// # Examples
/// ```
/// use postern_dkim::{SignParams, Signer, SigningKey};
/// let seed = [7u8; 32];
/// let key = SigningKey::ed25519_from_seed(&seed)?;
/// let mut params = SignParams::new("example.com", "sel");
/// params.timestamp = Some(1_700_000_000);
/// let mut signer = Signer::new(key, params)?;
/// signer.update(b"From: a@example.com\r\nSubject: hi\r\n\r\nHello\r\n")?;
/// let field = signer.finish()?;
/// assert!(field.starts_with("DKIM-Signature: v=1; a=ed25519-sha256; c=relaxed/relaxed; d=example.com; s=sel; t=1700000000; h=from:subject; bh="));
/// # Ok::<(), postern_dkim::Error>(())
/// ```
#[derive(Debug)]
pub struct Signer {
    key: SigningKey,
    params: SignParams,
    collector: HeaderCollector,
    block: Option<Vec<u8>>,
    body: BodyHasher,
    bare_lf: Option<BareLf>,
    scratch: Vec<u8>,
    finished: bool,
}

impl Signer {
    /// A signer for one message.
    ///
    /// # Errors
    /// [`Error::SignParameter`] for invalid parameters.
    pub fn new(key: SigningKey, params: SignParams) -> Result<Self, Error> {
        params.validate()?;
        let body = BodyHasher::new(BodyHashKey {
            canonicalization: params.body_canonicalization,
            hash: HashAlgorithm::Sha256,
            limit: None,
        });
        let bare_lf = params.convert_bare_lf.then(BareLf::default);
        Ok(Self {
            key,
            params,
            collector: HeaderCollector::default(),
            block: None,
            body,
            bare_lf,
            scratch: Vec::new(),
            finished: false,
        })
    }

    /// Feed the next chunk of the message.
    ///
    /// # Errors
    /// Header block limits, [`Error::InputAfterFinish`].
    pub fn update(&mut self, chunk: &[u8]) -> Result<(), Error> {
        if self.finished {
            return Err(Error::InputAfterFinish);
        }
        if let Some(mut conv) = self.bare_lf.take() {
            let mut scratch = std::mem::take(&mut self.scratch);
            let mut result = Ok(());
            for piece in chunk.chunks(64 * 1024) {
                conv.convert(piece, &mut scratch);
                result = self.process(&scratch);
                if result.is_err() {
                    break;
                }
            }
            self.scratch = scratch;
            self.bare_lf = Some(conv);
            return result;
        }
        self.process(chunk)
    }

    fn process(&mut self, data: &[u8]) -> Result<(), Error> {
        if self.block.is_some() {
            self.body.update(data);
            return Ok(());
        }
        if let Collected::Done { block, body } = self.collector.push(data)? {
            self.block = Some(block);
            self.body.update(body);
        }
        Ok(())
    }

    /// End of message: the DKIM-Signature field, `"DKIM-Signature: ...\r\n"`, to prepend.
    ///
    /// # Errors
    /// Header block limits, [`Error::InputAfterFinish`], signing failures.
    pub fn finish(&mut self) -> Result<String, Error> {
        let (block, fields, body_hash, body_len) = self.end_of_message()?;
        let headers = self.header_list(&block, &fields);
        let field = self.template(&headers, &body_hash, body_len);
        let hc = self.params.header_canonicalization;
        let sig = self.signature_over(&block, &fields, &headers, hc, &field)?;
        let mut out = field;
        match self.params.layout {
            Layout::OneLine => out.push_str(&sig),
            Layout::Folded => {
                let mut rest = sig.as_str();
                while !rest.is_empty() {
                    let (line, tail) = rest.split_at(rest.len().min(72));
                    out.push_str("\r\n\t");
                    out.push_str(line);
                    rest = tail;
                }
            }
        }
        out.push_str("\r\n");
        Ok(out)
    }

    /// End of message, signing a DKIM-Signature field laid out by the caller: `template` is
    /// the whole field up to an empty final `b=` (folding and tag order as wanted, no final
    /// CRLF), e.g. the RFC 8463 Appendix A templates. Its `h=` and `c=` are used; its `a=`
    /// must be the key's and its `bh=` the body hash of the message. The
    /// [`SignParams`] tag values are not used (but were validated).
    ///
    /// # Errors
    /// [`Error::SignParameter`] (`field` "template") when the template is not such a field;
    /// as [`Signer::finish`] otherwise.
    pub fn finish_with_template(&mut self, template: &str) -> Result<String, Error> {
        let bad = |what| Error::SignParameter {
            field: "template",
            what,
        };
        let (name, value) = template.split_once(':').ok_or(bad("no field name"))?;
        if !name.eq_ignore_ascii_case("DKIM-Signature") {
            return Err(bad("not a DKIM-Signature field"));
        }
        let tags = crate::tag_list::parse(value.as_bytes()).map_err(|_| bad("not a tag list"))?;
        let last = tags.last().ok_or(bad("empty"))?;
        if last.name != "b" || !last.value.is_empty() {
            return Err(bad("must end with an empty b="));
        }
        let tag = |n: &str| tags.iter().find(|t| t.name == n).map(|t| t.value);
        if !tag("a")
            .is_some_and(|a| a.eq_ignore_ascii_case(self.key.algorithm().as_str().as_bytes()))
        {
            return Err(bad("a= does not match the key"));
        }
        let (hc, bc) = crate::signature::canonicalizations(tag("c"))
            .map_err(|_| bad("c= is not a canonicalization"))?;
        if bc != self.params.body_canonicalization {
            return Err(bad("c= body half differs from the parameters"));
        }
        let headers = crate::signature::header_list(tag("h").ok_or(bad("no h="))?)
            .map_err(|_| bad("h= is not a list of field names"))?;
        let (block, fields, body_hash, _) = self.end_of_message()?;
        let bh = tag("bh").map(crate::tag_list::strip_fws);
        if bh.as_deref() != Some(body_hash.as_bytes()) {
            return Err(bad("bh= is not the body hash of this message"));
        }
        let sig = self.signature_over(&block, &fields, headers.iter(), hc, template)?;
        Ok(format!("{template}{sig}\r\n"))
    }

    /// Finish the body; the header block, its fields, the body hash and canonical length.
    fn end_of_message(&mut self) -> Result<(Vec<u8>, Vec<Field>, String, u64), Error> {
        if self.finished {
            return Err(Error::InputAfterFinish);
        }
        self.finished = true;
        let block = match self.block.take() {
            Some(block) => block,
            None => self.collector.finish(),
        };
        let fields = header::split_fields(&block, 0)?;
        let (digest, len) = self.body.finish();
        Ok((block, fields, b64::encode(digest), len))
    }

    /// `b=` for `field` (which ends with `b=`) over the selected headers.
    fn signature_over<N: AsRef<str>>(
        &self,
        block: &[u8],
        fields: &[Field],
        headers: impl IntoIterator<Item = N>,
        hc: Canonicalization,
        field: &str,
    ) -> Result<String, Error> {
        let (name, value) = field.split_once(':').unwrap_or(("DKIM-Signature", ""));
        let mut data = Vec::new();
        header::selected_headers(block, fields, headers, hc, field.len() + 2, &mut data);
        canon::header_field(hc, name.as_bytes(), value.as_bytes(), &mut data);
        data.truncate(data.len().saturating_sub(2));
        Ok(b64::encode(&self.key.sign(&data)?))
    }

    /// `h=`: the list as given (or the defaults present), oversigned if asked.
    fn header_list(&self, block: &[u8], fields: &[Field]) -> Vec<String> {
        let count = |name: &str| fields.iter().filter(|f| f.is_named(block, name)).count();
        let given: Vec<String> = if self.params.headers.is_empty() {
            // Every instance of each default header present (From at least once), so that no
            // present instance is left unsigned.
            DEFAULT_SIGNED_HEADERS
                .iter()
                .flat_map(|&h| {
                    let times = if h == "from" {
                        count(h).max(1)
                    } else {
                        count(h)
                    };
                    std::iter::repeat_n(h.to_owned(), times)
                })
                .collect()
        } else {
            // As given: the case of a name is kept (names compare case-insensitively).
            self.params.headers.clone()
        };
        if !self.params.oversign {
            return given;
        }
        let mut out: Vec<String> = Vec::new();
        for name in &given {
            if out.iter().any(|h| h.eq_ignore_ascii_case(name)) {
                continue;
            }
            let listed = given
                .iter()
                .filter(|h| h.eq_ignore_ascii_case(name))
                .count();
            // Not DKIM-Signature: the extra instance would select the new field itself, which
            // verifiers hash as found (RFC 6376 §3.5: h= "MUST NOT include the DKIM-Signature
            // header field that is being created or verified").
            let extra = usize::from(!name.eq_ignore_ascii_case("dkim-signature"));
            let times = listed.max(count(name) + extra);
            out.extend(std::iter::repeat_n(name.clone(), times));
        }
        out
    }

    /// The field up to and including `b=`.
    fn template(&self, headers: &[String], body_hash: &str, body_len: u64) -> String {
        let p = &self.params;
        let mut tags: Vec<String> = vec![
            "v=1".to_owned(),
            format!("a={}", self.key.algorithm()),
            format!(
                "c={}/{}",
                p.header_canonicalization, p.body_canonicalization
            ),
            format!("d={}", p.domain),
            format!("s={}", p.selector),
        ];
        if let Some(i) = &p.identity {
            tags.push(format!("i={}", dkim_quoted_printable(i)));
        }
        if p.body_length {
            tags.push(format!("l={body_len}"));
        }
        if let Some(t) = p.timestamp {
            tags.push(format!("t={t}"));
        }
        if let Some(x) = p.expiration {
            tags.push(format!("x={x}"));
        }
        tags.push(format!("h={}", headers.join(":")));
        tags.push(format!("bh={body_hash}"));
        tags.push("b=".to_owned());
        let mut out = String::from("DKIM-Signature:");
        match p.layout {
            Layout::OneLine => {
                out.push(' ');
                out.push_str(&tags.join("; "));
            }
            Layout::Folded => {
                let mut line_len = out.len();
                let last = tags.len().saturating_sub(1);
                for (i, tag) in tags.iter().enumerate() {
                    let piece = if i == last {
                        tag.clone()
                    } else {
                        format!("{tag};")
                    };
                    if line_len + 1 + piece.len() > 78 && line_len > 16 {
                        out.push_str("\r\n\t");
                        line_len = 1;
                    } else {
                        out.push(' ');
                        line_len += 1;
                    }
                    out.push_str(&piece);
                    line_len += piece.len();
                }
            }
        }
        out
    }
}

/// `text` in dkim-quoted-printable (RFC 6376 §2.11): octets other than `dkim-safe-char`
/// (`!`–`:`, `<`, `>`–`~`) as `=XX`, so that `=` and `;` in a local-part keep the tag list
/// intact.
fn dkim_quoted_printable(text: &str) -> String {
    use std::fmt::Write as _;
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if matches!(b, 0x21..=0x3a | 0x3c | 0x3e..=0x7e) {
            out.push(char::from(b));
        } else {
            // Writing to a String cannot fail.
            let _ = write!(out, "={b:02X}");
        }
    }
    out
}

/// Sign a whole message held in memory; returns the DKIM-Signature field to prepend.
///
/// # Errors
/// As [`Signer::new`], [`Signer::update`] and [`Signer::finish`].
pub fn sign(message: &[u8], key: SigningKey, params: SignParams) -> Result<String, Error> {
    let mut signer = Signer::new(key, params)?;
    signer.update(message)?;
    signer.finish()
}
