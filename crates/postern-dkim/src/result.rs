//! Verification results: per-signature RFC 8601 result and RFC 6376 reason, and the `dkim=`
//! part of an `Authentication-Results:` field.

use std::fmt;

use crate::signature::Algorithm;

/// An RFC 8601 §2.7.1 DKIM result for one signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DkimResult {
    /// The signature verified and the policy accepts it.
    Pass,
    /// The signature or body hash did not verify.
    Fail,
    /// The signature could not be processed for a reason that is not an error of the message
    /// (not produced by this verifier; kept for callers mapping other sources).
    Neutral,
    /// The signature verified (or could not be, by choice) but the local policy refuses it
    /// (RFC 8301 algorithms and key sizes, RFC 6376 §8 attacks).
    Policy,
    /// A key lookup failed transiently; retry later.
    TempError,
    /// The signature or its key is unusable (syntax, revoked key, expired, ...).
    PermError,
}

impl DkimResult {
    /// The RFC 8601 keyword.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Pass => "pass",
            Self::Fail => "fail",
            Self::Neutral => "neutral",
            Self::Policy => "policy",
            Self::TempError => "temperror",
            Self::PermError => "permerror",
        }
    }
}

impl fmt::Display for DkimResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a signature did not pass: the RFC 6376 §6.1 wording, or a policy reason.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Reason {
    /// `fail`: the body hash differs from `bh=`.
    BodyHashMismatch,
    /// `fail`: the signature does not verify over the header hash.
    SignatureMismatch,
    /// `permerror`: no key record (NXDOMAIN, no TXT).
    NoKey,
    /// `permerror`: `p=` is empty.
    KeyRevoked,
    /// `permerror`: the key record or its key does not parse.
    KeySyntax,
    /// `permerror`: the key's `h=` excludes the signature's hash.
    InappropriateHash,
    /// `permerror`: the key's `k=` does not match `a=`.
    InappropriateKeyAlgorithm,
    /// `permerror`: `x=` is in the past.
    Expired,
    /// `permerror`: `i=` is not in `d=`, or a `t=s` key with a subdomain `i=`.
    DomainMismatch,
    /// `permerror`: `h=` lacks From.
    FromNotSigned,
    /// `permerror`: a required tag is missing.
    MissingTag,
    /// `permerror`: `v=` is not 1.
    IncompatibleVersion,
    /// `permerror`: the signature field does not parse, or a tag value is invalid.
    SignatureSyntax,
    /// `temperror`: the key lookup failed transiently.
    KeyUnavailable,
    /// `permerror`: the key's `s=` excludes email.
    KeyNotForEmail,
    /// `policy`: rsa-sha1 (RFC 8301 §3.1).
    Sha1,
    /// `policy`: RSA key under the minimum (RFC 8301 §3.2).
    KeyTooSmall {
        /// Measured modulus size.
        bits: usize,
    },
    /// `policy`: RSA key over [`crate::MAX_RSA_KEY_BITS`].
    KeyTooLarge {
        /// Measured modulus size.
        bits: usize,
    },
    /// `policy`: a key header field (From, ...) occurs more often than `h=` signs it
    /// (RFC 6376 §8.15).
    UnsignedDuplicate {
        /// The field name, in its usual spelling (`From`).
        field: String,
    },
    /// `policy`: body content follows the `l=` octets (RFC 6376 §8.2), when the policy
    /// refuses it.
    UnsignedBodyContent,
    /// `policy`: the key is in testing mode (`t=y`), when the policy refuses it.
    TestingKey,
    /// `policy`: more signatures than [`crate::Policy::max_signatures`]; not verified.
    TooManySignatures,
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BodyHashMismatch => f.write_str("body hash did not verify"),
            Self::SignatureMismatch => f.write_str("signature did not verify"),
            Self::NoKey => f.write_str("no key for signature"),
            Self::KeyRevoked => f.write_str("key revoked"),
            Self::KeySyntax => f.write_str("key syntax error"),
            Self::InappropriateHash => f.write_str("inappropriate hash algorithm"),
            Self::InappropriateKeyAlgorithm => f.write_str("inappropriate key algorithm"),
            Self::Expired => f.write_str("signature expired"),
            Self::DomainMismatch => f.write_str("domain mismatch"),
            Self::FromNotSigned => f.write_str("From field not signed"),
            Self::MissingTag => f.write_str("signature missing required tag"),
            Self::IncompatibleVersion => f.write_str("incompatible version"),
            Self::SignatureSyntax => f.write_str("signature syntax error"),
            Self::KeyUnavailable => f.write_str("key unavailable"),
            Self::KeyNotForEmail => f.write_str("key not for email (s=)"),
            Self::Sha1 => f.write_str("rsa-sha1 not acceptable (RFC 8301)"),
            Self::KeyTooSmall { .. } => f.write_str("key too small (RFC 8301)"),
            Self::KeyTooLarge { .. } => f.write_str("key too large"),
            Self::UnsignedDuplicate { field } => {
                write!(f, "unsigned duplicate {field} header (RFC 6376 8.15)")
            }
            Self::UnsignedBodyContent => f.write_str("unsigned content after l= (RFC 6376 8.2)"),
            Self::TestingKey => f.write_str("testing key (t=y)"),
            Self::TooManySignatures => f.write_str("too many signatures"),
        }
    }
}

/// The verdict on one DKIM-Signature field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureOutcome {
    /// `d=` as written (best effort when the signature does not parse; empty if absent).
    pub domain: String,
    /// `s=` as written (best effort; empty if absent).
    pub selector: String,
    /// `i=` when present and valid.
    pub identity: Option<String>,
    /// `a=` when valid.
    pub algorithm: Option<Algorithm>,
    /// `b=` in base64 without FWS (best effort), for `header.b`.
    pub signature_b64: String,
    /// The RFC 8601 result.
    pub result: DkimResult,
    /// Why it is not `pass` (`None` for pass).
    pub reason: Option<Reason>,
    /// The key record has `t=y`: treat the message as unsigned whatever the result
    /// (RFC 6376 §3.6.1).
    pub testing: bool,
    /// Octets of canonical body after the `l=` count (unsigned content, RFC 6376 §8.2).
    pub unsigned_body_octets: u64,
    /// The RSA key size, when a key was decoded.
    pub key_bits: Option<usize>,
    /// For `policy` results: whether the signature verified cryptographically (`None` when
    /// it was not checked).
    pub cryptographically_valid: Option<bool>,
}

/// The verdict on a whole message: one [`SignatureOutcome`] per DKIM-Signature field, in
/// header order (top first). Empty: the message is unsigned (`dkim=none`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Outcome {
    /// Per-signature results.
    pub signatures: Vec<SignatureOutcome>,
}

impl Outcome {
    /// Did any signature pass (ignoring testing keys)?
    pub fn any_pass(&self) -> bool {
        self.signatures
            .iter()
            .any(|s| s.result == DkimResult::Pass && !s.testing)
    }

    /// The `dkim=` method results of an `Authentication-Results:` field (RFC 8601 §2.7.1,
    /// RFC 6008 for `header.b`), one per signature joined by `"; "`, or `dkim=none`.
    ///
    /// Values that are not RFC 2045 tokens (or `local@domain` forms) are quoted, control
    /// characters removed; `header.b` is the shortest prefix of at least 8 characters that
    /// tells the signatures apart.
    pub fn authentication_results(&self) -> String {
        self.method_results().join("; ")
    }

    /// The `dkim=` method results one by one (`["dkim=none"]` for an unsigned message), for
    /// callers that fold the field themselves.
    pub fn method_results(&self) -> Vec<String> {
        if self.signatures.is_empty() {
            return vec!["dkim=none".to_owned()];
        }
        let mut parts = Vec::with_capacity(self.signatures.len());
        for (i, sig) in self.signatures.iter().enumerate() {
            let mut part = format!("dkim={}", sig.result);
            if let Some(reason) = &sig.reason {
                part.push_str(" reason=");
                part.push_str(&quoted(&reason.to_string()));
            } else if sig.testing {
                part.push_str(" reason=\"testing key (t=y)\"");
            }
            if !sig.domain.is_empty() {
                part.push_str(" header.d=");
                part.push_str(&pvalue(&sig.domain));
            }
            if let Some(identity) = &sig.identity {
                part.push_str(" header.i=");
                part.push_str(&pvalue(identity));
            }
            if !sig.selector.is_empty() {
                part.push_str(" header.s=");
                part.push_str(&pvalue(&sig.selector));
            }
            let prefix = b_prefix(&self.signatures, i);
            if !prefix.is_empty() {
                part.push_str(" header.b=");
                part.push_str(&pvalue(prefix));
            }
            parts.push(part);
        }
        parts
    }
}

/// Shortest prefix (at least 8) of signature `i`'s `b=` not shared by another signature.
fn b_prefix(all: &[SignatureOutcome], i: usize) -> &str {
    let Some(me) = all.get(i).map(|s| s.signature_b64.as_str()) else {
        return "";
    };
    let mut len = 8.min(me.len());
    while len < me.len()
        && all.iter().enumerate().any(|(j, o)| {
            j != i
                && o.signature_b64
                    .get(..len)
                    .is_some_and(|p| me.get(..len) == Some(p))
        })
    {
        len += 1;
    }
    me.get(..len).unwrap_or(me)
}

fn is_tspecial(c: char) -> bool {
    "()<>@,;:\\\"/[]?=".contains(c)
}

fn is_token(s: &str) -> bool {
    !s.is_empty() && s.chars().all(|c| c.is_ascii_graphic() && !is_tspecial(c))
}

/// RFC 8601 `pvalue`: a token, `[local-part] "@" domain` of dot-atoms, or a quoted string.
fn pvalue(s: &str) -> String {
    let atext = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~.".contains(c);
    let email_like = s.rsplit_once('@').is_some_and(|(local, domain)| {
        local.chars().all(atext)
            && !domain.is_empty()
            && domain
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
    });
    if is_token(s) || email_like {
        s.to_owned()
    } else {
        quoted(s)
    }
}

/// A quoted-string with `\` and `"` escaped and control characters dropped.
fn quoted(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars().filter(|c| !c.is_control()) {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sig(d: &str, b: &str, result: DkimResult, reason: Option<Reason>) -> SignatureOutcome {
        SignatureOutcome {
            domain: d.into(),
            selector: "sel".into(),
            identity: None,
            algorithm: None,
            signature_b64: b.into(),
            result,
            reason,
            testing: false,
            unsigned_body_octets: 0,
            key_bits: None,
            cryptographically_valid: None,
        }
    }

    #[test]
    fn renders_and_quotes() {
        let outcome = Outcome {
            signatures: vec![
                sig("example.com", "abcdefghXYZ", DkimResult::Pass, None),
                sig(
                    "a(.b\r\n\"",
                    "abcdefghQ/Z",
                    DkimResult::PermError,
                    Some(Reason::SignatureSyntax),
                ),
            ],
        };
        assert_eq!(
            outcome.authentication_results(),
            "dkim=pass header.d=example.com header.s=sel header.b=abcdefghX; \
             dkim=permerror reason=\"signature syntax error\" header.d=\"a(.b\\\"\" header.s=sel \
             header.b=abcdefghQ"
        );
        assert_eq!(Outcome::default().authentication_results(), "dkim=none");
        assert_eq!(pvalue("ab/cd"), "\"ab/cd\"");
        assert_eq!(pvalue("user@example.com"), "user@example.com");
        assert_eq!(pvalue("@example.com"), "@example.com");
    }
}
