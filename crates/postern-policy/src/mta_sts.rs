//! MTA-STS (RFC 8461): the `_mta-sts` TXT record (§3.1), the policy file (§3.2) and the
//! matching of MX host names against the policy's patterns (§4.1).
//!
//! Fetching the record and the policy (DNS, HTTPS) and caching them are the caller's job; this
//! module parses what was fetched.

use crate::Error;

/// Largest policy body accepted, in octets (RFC 8461 §3.3 lets senders bound it; 64 KiB as
/// common implementations do).
pub const MAX_POLICY_BYTES: usize = 65_536;
/// Largest `max_age` (RFC 8461 §3.2: 31 557 600 s, about one year); larger values are clamped.
pub const MAX_MAX_AGE_SECS: u32 = 31_557_600;
/// Most `mx` patterns kept from one policy (ours; a policy with more is rejected).
pub const MAX_MX_PATTERNS: usize = 64;
/// Longest `id` of a TXT record (RFC 8461 §3.1: 1 to 32 letters and digits).
pub const MAX_ID_LEN: usize = 32;

/// A parsed `_mta-sts` TXT record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct StsRecord<'a> {
    /// The policy id: when it changes, the cached policy must be fetched again.
    pub id: &'a str,
}

fn is_wsp(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

fn skip_wsp(bytes: &[u8], mut at: usize) -> usize {
    while bytes.get(at).copied().is_some_and(is_wsp) {
        at += 1;
    }
    at
}

fn valid_ext_name(name: &[u8]) -> bool {
    matches!(name.first(), Some(b) if b.is_ascii_alphanumeric())
        && name.len() <= 32
        && name
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
}

/// Parse one TXT record (its strings already concatenated).
///
/// # Errors
/// [`Error::MtaStsRecord`] with the offset of the problem when the record does not follow
/// the RFC 8461 §3.1 grammar or has no `id`.
pub fn parse_record(txt: &str) -> Result<StsRecord<'_>, Error> {
    let bytes = txt.as_bytes();
    let err = |what, offset| Error::MtaStsRecord { what, offset };
    if !txt.starts_with("v=STSv1") {
        return Err(err("\"v=STSv1\" at the start", 0));
    }
    let mut at = 7;
    let mut id = None;
    let mut fields = 0_usize;
    loop {
        at = skip_wsp(bytes, at);
        match bytes.get(at) {
            None => break,
            Some(b';') => at += 1,
            Some(_) => return Err(err("\";\" between fields", at)),
        }
        at = skip_wsp(bytes, at);
        if at >= bytes.len() {
            break; // a trailing delimiter
        }
        let start = at;
        let eq = bytes
            .get(start..)
            .and_then(|rest| rest.iter().position(|&b| b == b'='))
            .map(|p| start + p)
            .ok_or(err("\"=\" after a field name", start))?;
        let name = bytes.get(start..eq).unwrap_or(&[]);
        if !valid_ext_name(name) {
            return Err(err(
                "a field name of letters, digits, \"_\", \"-\", \".\"",
                start,
            ));
        }
        let value_start = eq + 1;
        let mut end = value_start;
        while let Some(&b) = bytes.get(end) {
            if (0x21..=0x7e).contains(&b) && b != b';' && b != b'=' {
                end += 1;
            } else {
                break;
            }
        }
        if end == value_start {
            return Err(err("a field value", value_start));
        }
        let value = txt.get(value_start..end).unwrap_or("");
        if name == b"id" {
            if value.len() > MAX_ID_LEN || !value.bytes().all(|b| b.is_ascii_alphanumeric()) {
                return Err(err("an id of 1 to 32 letters and digits", value_start));
            }
            if id.is_none() {
                id = Some(value);
            }
        }
        fields += 1;
        at = end;
    }
    if fields == 0 {
        return Err(err("at least one field after the version", bytes.len()));
    }
    id.map(|id| StsRecord { id })
        .ok_or(err("an \"id\" field", bytes.len()))
}

/// From all TXT records at `_mta-sts.<domain>`: those not starting with `v=STSv1;` are
/// discarded; unless exactly one remains and it parses, the domain has no usable policy
/// (RFC 8461 §3.1), and the result is `None`.
pub fn select_record<'a>(records: impl IntoIterator<Item = &'a str>) -> Option<StsRecord<'a>> {
    let mut found = None;
    for r in records {
        if !(r.starts_with("v=STSv1;") || r.starts_with("v=STSv1 ") || r == "v=STSv1") {
            continue;
        }
        if found.is_some() {
            return None;
        }
        found = Some(r);
    }
    found.and_then(|r| parse_record(r).ok())
}

/// The policy mode (RFC 8461 §5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StsMode {
    /// Deliver only to matching MX hosts with valid PKIX TLS.
    Enforce,
    /// Report failures but deliver anyway.
    Testing,
    /// No policy.
    None,
}

/// An `mx` pattern: a host name, or `*.` and a domain matching exactly one more label.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MxPattern {
    wildcard: bool,
    domain: String,
}

fn valid_domain(domain: &str) -> bool {
    !domain.is_empty()
        && domain.len() <= 253
        && domain.split('.').all(|label| {
            let b = label.as_bytes();
            !b.is_empty()
                && b.len() <= 63
                && b.first().is_some_and(u8::is_ascii_alphanumeric)
                && b.last().is_some_and(u8::is_ascii_alphanumeric)
                && b.iter().all(|&c| c.is_ascii_alphanumeric() || c == b'-')
        })
}

impl MxPattern {
    /// Parse `mail.example.com` or `*.example.com` (case folded; a trailing dot ignored).
    ///
    /// # Errors
    /// [`Error::MtaStsPolicy`] (line 0) when it is not a domain name.
    pub fn parse(text: &str) -> Result<Self, Error> {
        let text = text.strip_suffix('.').unwrap_or(text);
        let (wildcard, domain) = match text.strip_prefix("*.") {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        if !valid_domain(domain) {
            return Err(Error::MtaStsPolicy {
                what: "an mx pattern that is a domain name, optionally after \"*.\"",
                line: 0,
            });
        }
        Ok(Self {
            wildcard,
            domain: domain.to_ascii_lowercase(),
        })
    }

    /// Whether `host` (an MX host name) matches: exactly, or for `*.d` as one label then `d`
    /// (RFC 8461 §4.1: `*.example.com` matches `mx.example.com`, not `example.com` nor
    /// `a.b.example.com`). Case-insensitive; a trailing dot is ignored.
    pub fn matches(&self, host: &str) -> bool {
        let host = host.strip_suffix('.').unwrap_or(host);
        if !self.wildcard {
            return host.eq_ignore_ascii_case(&self.domain);
        }
        let Some(dot) = host.find('.') else {
            return false;
        };
        let (label, rest) = (
            host.get(..dot).unwrap_or(""),
            host.get(dot + 1..).unwrap_or(""),
        );
        !label.is_empty() && rest.eq_ignore_ascii_case(&self.domain)
    }
}

impl core::fmt::Display for MxPattern {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        if self.wildcard {
            f.write_str("*.")?;
        }
        f.write_str(&self.domain)
    }
}

/// A parsed MTA-STS policy.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct StsPolicy {
    /// The mode.
    pub mode: StsMode,
    /// How long the policy may be cached, in seconds (at most [`MAX_MAX_AGE_SECS`]).
    pub max_age_secs: u32,
    /// The MX patterns.
    pub mx: Vec<MxPattern>,
}

impl StsPolicy {
    /// Whether `host` matches one of the policy's `mx` patterns.
    pub fn mx_matches(&self, host: &str) -> bool {
        self.mx.iter().any(|p| p.matches(host))
    }

    /// Parse a policy body (RFC 8461 §3.2): `key: value` lines ended by LF or CRLF; `version`
    /// (`STSv1`), `mode` and `max_age` are required once each, `mx` at least once unless the
    /// mode is `none`; unknown keys are ignored.
    ///
    /// # Errors
    /// [`Error::MtaStsPolicy`] with the 1-based line of the problem (0 for the policy as a
    /// whole).
    ///
    /// # Examples
    /// ```
    /// use postern_policy::mta_sts::{StsMode, StsPolicy};
    ///
    /// let policy = StsPolicy::parse(
    ///     "version: STSv1\r\nmode: enforce\r\nmx: mail.example.com\r\nmx: *.example.net\r\nmax_age: 604800\r\n",
    /// )?;
    /// assert_eq!(policy.mode, StsMode::Enforce);
    /// assert!(policy.mx_matches("MX1.example.net."));
    /// assert!(!policy.mx_matches("a.b.example.net"));
    /// # Ok::<(), postern_policy::Error>(())
    /// ```
    pub fn parse(body: &str) -> Result<Self, Error> {
        let err = |what, line| Error::MtaStsPolicy { what, line };
        if body.len() > MAX_POLICY_BYTES {
            return Err(err("a body of at most MAX_POLICY_BYTES octets", 0));
        }
        let mut version = false;
        let mut mode = None;
        let mut max_age = None;
        let mut mx = Vec::new();
        for (index, raw) in body.split('\n').enumerate() {
            let line_no = index + 1;
            let line = raw.strip_suffix('\r').unwrap_or(raw);
            if line.is_empty() {
                // Only a final terminator may leave an empty line behind.
                if index + 1 == body.split('\n').count() {
                    continue;
                }
                return Err(err("a \"key: value\" line, not an empty line", line_no));
            }
            let (key, value) = line
                .split_once(':')
                .ok_or(err("\":\" after the key", line_no))?;
            if !valid_ext_name(key.as_bytes()) {
                return Err(err(
                    "a key of letters, digits, \"_\", \"-\", \".\"",
                    line_no,
                ));
            }
            let value = value.trim_matches([' ', '\t']);
            if value.is_empty()
                || !value
                    .bytes()
                    .all(|b| (0x20..=0x7e).contains(&b) || b == b'\t')
            {
                return Err(err("a value of printable characters", line_no));
            }
            match key {
                "version" => {
                    if version {
                        return Err(err("one \"version\"", line_no));
                    }
                    if value != "STSv1" {
                        return Err(err("version \"STSv1\"", line_no));
                    }
                    version = true;
                }
                "mode" => {
                    if mode.is_some() {
                        return Err(err("one \"mode\"", line_no));
                    }
                    mode = Some(match value {
                        "enforce" => StsMode::Enforce,
                        "testing" => StsMode::Testing,
                        "none" => StsMode::None,
                        _ => return Err(err("mode enforce, testing or none", line_no)),
                    });
                }
                "max_age" => {
                    if max_age.is_some() {
                        return Err(err("one \"max_age\"", line_no));
                    }
                    if value.len() > 10 || !value.bytes().all(|b| b.is_ascii_digit()) {
                        return Err(err("max_age of 1 to 10 digits", line_no));
                    }
                    let secs: u64 = value.parse().map_err(|_| err("max_age digits", line_no))?;
                    max_age = Some(
                        u32::try_from(secs.min(u64::from(MAX_MAX_AGE_SECS)))
                            .unwrap_or(MAX_MAX_AGE_SECS),
                    );
                }
                "mx" => {
                    if mx.len() >= MAX_MX_PATTERNS {
                        return Err(err("at most MAX_MX_PATTERNS mx lines", line_no));
                    }
                    let pattern = MxPattern::parse(value).map_err(|e| match e {
                        Error::MtaStsPolicy { what, .. } => err(what, line_no),
                        other => other,
                    })?;
                    mx.push(pattern);
                }
                _ => {} // RFC 8461 §3.2: unknown fields are ignored.
            }
        }
        if !version {
            return Err(err("a \"version: STSv1\" line", 0));
        }
        let mode = mode.ok_or(err("a \"mode\" line", 0))?;
        let max_age_secs = max_age.ok_or(err("a \"max_age\" line", 0))?;
        if mx.is_empty() && mode != StsMode::None {
            return Err(err("at least one \"mx\" line", 0));
        }
        Ok(Self {
            mode,
            max_age_secs,
            mx,
        })
    }
}

impl core::fmt::Display for StsPolicy {
    /// The policy in its canonical text form (CRLF-terminated lines), which parses back to
    /// an equal policy.
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let mode = match self.mode {
            StsMode::Enforce => "enforce",
            StsMode::Testing => "testing",
            StsMode::None => "none",
        };
        write!(f, "version: STSv1\r\nmode: {mode}\r\n")?;
        for p in &self.mx {
            write!(f, "mx: {p}\r\n")?;
        }
        write!(f, "max_age: {}\r\n", self.max_age_secs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_parse() {
        assert_eq!(
            parse_record("v=STSv1; id=20160831085700Z;").unwrap().id,
            "20160831085700Z"
        );
        assert_eq!(parse_record("v=STSv1;id=abc").unwrap().id, "abc");
        assert_eq!(
            parse_record("v=STSv1 ;\tid=abc ; ext.x-1=val;").unwrap().id,
            "abc"
        );
        assert!(matches!(
            parse_record("v=STSv2; id=1"),
            Err(Error::MtaStsRecord { offset: 0, .. })
        ));
        assert!(matches!(
            parse_record("v=STSv1"),
            Err(Error::MtaStsRecord { .. })
        ));
        assert!(matches!(
            parse_record("v=STSv1; ext=1"),
            Err(Error::MtaStsRecord { offset: 14, .. })
        ));
        assert!(parse_record("v=STSv1; id=").is_err());
        assert!(parse_record("v=STSv1; id=abc-def").is_err());
        assert!(parse_record("v=STSv1; id=123456789012345678901234567890123").is_err());
        assert!(parse_record("v=STSv1 id=1").is_err());
        assert!(parse_record("v=STSv1; =1").is_err());
        assert!(parse_record("v=STSv1; id=1 2").is_err());
    }

    #[test]
    fn records_selected() {
        let got = select_record(["spf1 stuff", "v=STSv1; id=1;"]);
        assert_eq!(got.map(|r| r.id), Some("1"));
        assert_eq!(select_record(["v=STSv1; id=1;", "v=STSv1; id=2;"]), None);
        assert_eq!(select_record(["v=STSv1; bogus"]), None);
        assert_eq!(select_record([]), None);
    }

    #[test]
    fn policies_parse() {
        let p =
            StsPolicy::parse("version: STSv1\nmode: testing\nmx: mx.example.com\nmax_age: 86400")
                .unwrap();
        assert_eq!(
            (p.mode, p.max_age_secs, p.mx.len()),
            (StsMode::Testing, 86400, 1)
        );
        let p = StsPolicy::parse("version: STSv1\nmode: none\nmax_age: 9999999999\nfoo: bar\n")
            .unwrap();
        assert_eq!((p.mode, p.max_age_secs), (StsMode::None, MAX_MAX_AGE_SECS));
        let e = |body: &str| match StsPolicy::parse(body) {
            Err(Error::MtaStsPolicy { line, .. }) => line,
            other => panic!("{body:?} gave {other:?}"),
        };
        assert_eq!(e("version: STSv2\nmode: enforce\nmx: a.b\nmax_age: 1\n"), 1);
        assert_eq!(e("version: STSv1\nmode: strict\nmx: a.b\nmax_age: 1\n"), 2);
        assert_eq!(e("version: STSv1\nmode: enforce\nmax_age: 1\n"), 0);
        assert_eq!(e("version: STSv1\nmode: enforce\nmx: a.b\n"), 0);
        assert_eq!(e("mode: enforce\nmx: a.b\nmax_age: 1\n"), 0);
        assert_eq!(
            e("version: STSv1\nmode: enforce\nmx: bad_host!\nmax_age: 1\n"),
            3
        );
        assert_eq!(
            e("version: STSv1\nmode: enforce\nmx: a.b\nmax_age: -1\n"),
            4
        );
        assert_eq!(e("version: STSv1\n\nmode: enforce\n"), 2);
        assert_eq!(e("version STSv1\n"), 1);
        assert_eq!(e("version: STSv1\nversion: STSv1\n"), 2);
        assert_eq!(
            e("version: STSv1\nmode: enforce\nmx: a.b\nmax_age: 12345678901\n"),
            4
        );
        let p = StsPolicy::parse("version: STSv1\nmode: enforce\nmx: *.A.example\nmax_age: 5\n")
            .unwrap();
        assert_eq!(
            p.to_string(),
            "version: STSv1\r\nmode: enforce\r\nmx: *.a.example\r\nmax_age: 5\r\n"
        );
        assert_eq!(StsPolicy::parse(&p.to_string()), Ok(p));
        let long = "x".repeat(MAX_POLICY_BYTES + 1);
        assert_eq!(e(&long), 0);
    }

    #[test]
    fn mx_patterns_match() {
        let p = MxPattern::parse("*.Example.com").unwrap();
        assert!(p.matches("mail.example.com"));
        assert!(p.matches("MAIL.EXAMPLE.COM."));
        assert!(!p.matches("example.com"));
        assert!(!p.matches("a.b.example.com"));
        assert!(!p.matches(".example.com"));
        assert_eq!(p.to_string(), "*.example.com");
        let exact = MxPattern::parse("mx1.example.org.").unwrap();
        assert!(exact.matches("MX1.example.org"));
        assert!(!exact.matches("mx2.example.org"));
        assert!(MxPattern::parse("*.").is_err());
        assert!(MxPattern::parse("a..b").is_err());
        assert!(MxPattern::parse("-a.b").is_err());
        assert!(MxPattern::parse("*.*.b").is_err());
    }
}
