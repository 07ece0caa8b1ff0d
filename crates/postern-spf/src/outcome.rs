//! Results of `check_host()` and their header renderings (RFC 7208 §2.6, §9.1; RFC 8601).

use core::fmt::{self, Write as _};
use std::net::IpAddr;
use std::sync::Arc;

use postern_dns::{Answer, Record as DnsRecord};

use crate::record::{Directive, MechanismRef, Qualifier, Span};

/// The result of an SPF check (RFC 7208 §2.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Verdict {
    /// No SPF record, or no usable domain to check (§2.6.1).
    None,
    /// The domain makes no assertion (§2.6.2).
    Neutral,
    /// The client is authorized (§2.6.3).
    Pass,
    /// The client is not authorized (§2.6.4).
    Fail,
    /// Probably not authorized (§2.6.5).
    SoftFail,
    /// A transient DNS error (§2.6.6).
    TempError,
    /// The published records could not be interpreted (§2.6.7).
    PermError,
}

impl Verdict {
    /// The lower-case name used in headers and the `OpenSPF` suites.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Neutral => "neutral",
            Self::Pass => "pass",
            Self::Fail => "fail",
            Self::SoftFail => "softfail",
            Self::TempError => "temperror",
            Self::PermError => "permerror",
        }
    }
}

/// The result of a matching directive with this qualifier (RFC 7208 §4.6.2).
impl From<Qualifier> for Verdict {
    fn from(qualifier: Qualifier) -> Self {
        match qualifier {
            Qualifier::Pass => Self::Pass,
            Qualifier::Fail => Self::Fail,
            Qualifier::SoftFail => Self::SoftFail,
            Qualifier::Neutral => Self::Neutral,
        }
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which identity was checked (RFC 7208 §2.3, §2.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Identity {
    /// The MAIL FROM (reverse-path) identity; with a null reverse-path the sender is
    /// `postmaster@<HELO>`.
    MailFrom,
    /// The HELO/EHLO identity: sender `postmaster@<HELO>`.
    Helo,
}

impl Identity {
    /// `mailfrom` or `helo`, as in `Received-SPF: ... identity=`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::MailFrom => "mailfrom",
            Self::Helo => "helo",
        }
    }
}

/// Longest identities text (`local-part@domain`, HELO name and receiver together) kept
/// inline; longer text is shared on the heap. Most checks fit: then making the evaluator and
/// its outcome needs no allocation, and copying the identities into the outcome is a copy of
/// a few words instead of a shared count update.
const INLINE_IDENTITIES: usize = 112;

/// Inline identities text, word-aligned so that its UTF-8 check reads words from the start.
#[derive(Clone)]
#[repr(align(8))]
struct Aligned([u8; INLINE_IDENTITIES]);

/// The text of [`Identities`].
#[derive(Clone)]
enum IdentitiesText {
    /// Concatenated `str`s, so UTF-8 (read back with a check, which short ASCII passes fast).
    Inline(Aligned),
    Shared(Arc<str>),
}

/// The sender, HELO name and receiver of a check, in one value (inline when short, see
/// [`INLINE_IDENTITIES`]), copied from the evaluator into its outcome.
#[derive(Clone)]
pub(crate) struct Identities {
    /// `local-part@domain`, then the HELO name, then the receiver.
    text: IdentitiesText,
    /// The length of the text, where the `@` of the sender is, where the sender ends and where
    /// the HELO name ends. (Identities over 4 GiB, which no SMTP session carries, read back
    /// cut short.)
    len: u32,
    at: u32,
    sender_end: u32,
    helo_end: u32,
}

/// A length or position in the identities text as stored.
fn to_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

impl Identities {
    pub(crate) fn new(local_part: &str, domain: &str, helo: &str, receiver: &str) -> Self {
        let at = local_part.len();
        let sender_end = at.saturating_add(1).saturating_add(domain.len());
        let helo_end = sender_end.saturating_add(helo.len());
        let parts = [local_part, "@", domain, helo, receiver];
        let total = helo_end.saturating_add(receiver.len());
        let text = if total <= INLINE_IDENTITIES {
            let mut buf = Aligned([0u8; INLINE_IDENTITIES]);
            let mut pos = 0usize;
            for part in parts {
                let end = pos.saturating_add(part.len());
                if let Some(to) = buf.0.get_mut(pos..end) {
                    to.copy_from_slice(part.as_bytes());
                }
                pos = end;
            }
            IdentitiesText::Inline(buf)
        } else {
            IdentitiesText::Shared(Arc::from(parts.concat()))
        };
        Self {
            text,
            len: to_u32(total),
            at: to_u32(at),
            sender_end: to_u32(sender_end),
            helo_end: to_u32(helo_end),
        }
    }

    /// The whole text.
    fn text(&self) -> &str {
        match &self.text {
            IdentitiesText::Inline(buf) => buf
                .0
                .get(..self.len as usize)
                .and_then(|bytes| core::str::from_utf8(bytes).ok())
                .unwrap_or_default(),
            IdentitiesText::Shared(text) => text,
        }
    }

    /// A part of the text (each starts and ends where one of the concatenated `str`s did).
    fn part(&self, start: u32, end: u32) -> &str {
        span(self.text(), start, end)
    }

    pub(crate) fn sender(&self) -> &str {
        self.part(0, self.sender_end)
    }

    pub(crate) fn helo(&self) -> &str {
        self.part(self.sender_end, self.helo_end)
    }

    pub(crate) fn receiver(&self) -> &str {
        self.part(self.helo_end, self.len)
    }

    /// The local-part, the sender's domain, the HELO name and the receiver, read from the text
    /// at once.
    pub(crate) fn parts(&self) -> [&str; 4] {
        let text = self.text();
        [
            span(text, 0, self.at),
            span(text, self.at.saturating_add(1), self.sender_end),
            span(text, self.sender_end, self.helo_end),
            span(text, self.helo_end, self.len),
        ]
    }
}

/// The part of identities text from `start` to `end` (empty if out of bounds).
fn span(text: &str, start: u32, end: u32) -> &str {
    text.get(start as usize..end as usize).unwrap_or_default()
}

impl PartialEq for Identities {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.sender_end, self.helo_end) == (other.at, other.sender_end, other.helo_end)
            && self.text() == other.text()
    }
}

impl Eq for Identities {}

impl fmt::Debug for Identities {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Identities")
            .field("sender", &self.sender())
            .field("helo", &self.helo())
            .field("receiver", &self.receiver())
            .finish()
    }
}

/// Everything an SPF check concluded.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// The result.
    pub verdict: Verdict,
    /// The matching directive (see [`Outcome::mechanism`]).
    pub(crate) matched: Option<MatchedDirective>,
    /// The expanded `exp=` text of a fail result; `None` means the receiver's default
    /// explanation applies (no `exp=`, or it could not be used; RFC 7208 §6.2).
    pub explanation: Option<String>,
    /// Why the result is none, temperror or permerror, for logs and the `problem=` key.
    pub problem: Option<String>,
    /// DNS-querying terms evaluated (at most [`MAX_DNS_TERMS`](crate::MAX_DNS_TERMS)).
    pub dns_lookups: u32,
    /// DNS lookups that gave NXDOMAIN or no answer (RFC 7208 §4.6.4).
    pub void_lookups: u32,
    /// DNS queries asked of the caller (repeated questions are answered from the evaluator's
    /// own memory and not asked again).
    pub queries: u32,
    /// The identity checked.
    pub identity: Identity,
    /// The client IP (IPv4-mapped IPv6 addresses as IPv4).
    pub ip: IpAddr,
    /// The sender, HELO name and receiver (see [`Outcome::sender`]).
    pub(crate) identities: Identities,
}

/// The matching directive of an outcome: built, or where it is in its record's text (built
/// when asked for: most callers only want the verdict, and a domain-spec with macros takes
/// some work to put in canonical form).
#[derive(Clone)]
pub(crate) enum MatchedDirective {
    Built(Directive),
    InRecord {
        /// The TXT answer the record is in, and its index there.
        answer: Answer,
        index: usize,
        qualifier: Qualifier,
        /// Its domain-specs as byte ranges of the record text.
        mechanism: MechanismRef<Span>,
    },
}

impl MatchedDirective {
    fn directive(&self) -> Directive {
        match self {
            Self::Built(directive) => directive.clone(),
            Self::InRecord {
                answer,
                index,
                qualifier,
                mechanism,
            } => directive_in(txt_record(answer, *index), *qualifier, *mechanism),
        }
    }
}

/// The text of TXT record `index` of an answer (empty if it is not one).
pub(crate) fn txt_record(answer: &Answer, index: usize) -> &[u8] {
    match answer.records().get(index) {
        Some(DnsRecord::Txt(text)) => text,
        _ => &[],
    }
}

/// A byte range of checked record text (a stored domain-spec) as text.
pub(crate) fn spec_text(text: &[u8], (start, end): Span) -> &str {
    text.get(start as usize..end as usize)
        .and_then(|b| core::str::from_utf8(b).ok())
        .unwrap_or_default()
}

/// The owned directive of a checked record's text, its domain-specs given as ranges.
pub(crate) fn directive_in(
    text: &[u8],
    qualifier: Qualifier,
    mechanism: MechanismRef<Span>,
) -> Directive {
    Directive {
        qualifier,
        mechanism: mechanism.map(|s| spec_text(text, s)).to_owned_mechanism(),
    }
}

impl PartialEq for MatchedDirective {
    fn eq(&self, other: &Self) -> bool {
        self.directive() == other.directive()
    }
}

impl Eq for MatchedDirective {}

impl fmt::Debug for MatchedDirective {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.directive(), f)
    }
}

/// RFC 5322 `atext`.
fn is_atext(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-/=?^_`{|}~".contains(&b)
}

/// RFC 5322 `dot-atom-text`.
fn is_dot_atom(s: &str) -> bool {
    !s.is_empty()
        && s.split('.')
            .all(|part| !part.is_empty() && part.bytes().all(is_atext))
}

/// Characters that can never appear in a header: controls (CR, LF, ...), DEL and non-ASCII
/// become `?`, so a hostile value cannot start a new header line or smuggle bytes.
fn safe_char(c: char) -> char {
    if c.is_ascii() && !c.is_ascii_control() {
        c
    } else {
        '?'
    }
}

/// Writes `s` as an RFC 5322 quoted-string.
fn write_quoted(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars().map(safe_char) {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
}

/// Writes `s` as a dot-atom when it is one, else as a quoted-string (RFC 7208 §9.1 `value`).
fn write_value(out: &mut String, s: &str) {
    if is_dot_atom(s) {
        out.push_str(s);
    } else {
        write_quoted(out, s);
    }
}

/// Writes `s` inside a comment: `(`, `)` and `\` as quoted-pairs (RFC 5322 §3.2.2).
fn write_comment_text(out: &mut String, s: &str) {
    for c in s.chars().map(safe_char) {
        if matches!(c, '(' | ')' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
}

/// RFC 2045 `token` (RFC 8601 `value`): no specials, spaces or controls.
fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_graphic() && !b"()<>@,;:\\\"/[]?=".contains(&b))
}

fn is_domain_name(s: &str) -> bool {
    !s.is_empty()
        && s.split('.').all(|l| {
            !l.is_empty()
                && l.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

impl Outcome {
    /// The matching directive of the checked domain's record (or of its `redirect=` target),
    /// which prints in canonical form (`-all`, `include:_spf.example.com`, `mx`); `None` when
    /// no mechanism matched (default result, errors, none). Built when asked for.
    pub fn mechanism(&self) -> Option<Directive> {
        self.matched.as_ref().map(MatchedDirective::directive)
    }

    /// The sender: `local-part@domain` as used for the check (`postmaster@<helo>` for the
    /// HELO identity or a null MAIL FROM).
    pub fn sender(&self) -> &str {
        self.identities.sender()
    }

    /// The HELO/EHLO name given.
    pub fn helo(&self) -> &str {
        self.identities.helo()
    }

    /// The receiver's host name (`%{r}`, `receiver=`).
    pub fn receiver(&self) -> &str {
        self.identities.receiver()
    }

    /// The value of a `Received-SPF:` header field (RFC 7208 §9.1), without the field name:
    /// result, a comment, and the key-value pairs `client-ip`, `envelope-from`, `helo`,
    /// `receiver`, `identity`, and `mechanism` or `problem` when known. Every value taken from
    /// the SMTP session is a dot-atom or a quoted-string with control and non-ASCII characters
    /// replaced, so a hostile HELO or MAIL FROM cannot inject header content.
    ///
    /// ```
    /// # use postern_spf::{evaluate_with, Options, Request};
    /// # use postern_dns::Answer;
    /// let request = Request::mail_from("192.0.2.1".parse().unwrap(), "me@example.com", "x\r\nBcc: evil");
    /// let outcome = evaluate_with(&request, &Options::default(), |_| Answer::NxDomain);
    /// let header = outcome.received_spf();
    /// assert!(!header.contains('\n') && !header.contains('\r'));
    /// assert!(header.contains("helo=\"x??Bcc: evil\""), "{header}");
    /// ```
    pub fn received_spf(&self) -> String {
        let mut out = String::with_capacity(256);
        out.push_str(self.verdict.as_str());
        out.push_str(" (");
        write_comment_text(&mut out, self.receiver());
        out.push_str(": ");
        let subject = match self.identity {
            Identity::MailFrom => format!("domain of {}", self.sender()),
            Identity::Helo => format!("domain of {}", self.helo()),
        };
        let text = match self.verdict {
            Verdict::Pass => format!("{subject} designates {} as permitted sender", self.ip),
            Verdict::Fail => format!(
                "{subject} does not designate {} as permitted sender",
                self.ip
            ),
            Verdict::SoftFail => format!(
                "transitioning {subject} does not designate {} as permitted sender",
                self.ip
            ),
            Verdict::Neutral => format!("{} is neither permitted nor denied by {subject}", self.ip),
            Verdict::None => format!("{subject} does not designate permitted sender hosts"),
            Verdict::TempError => format!("error in processing during lookup of {subject}"),
            Verdict::PermError => format!("permanent error in processing {subject}"),
        };
        write_comment_text(&mut out, &text);
        out.push_str(") client-ip=");
        let _ = write!(out, "{}", self.ip);
        out.push_str("; envelope-from=");
        write_value(&mut out, self.sender());
        out.push_str("; helo=");
        write_value(&mut out, self.helo());
        out.push_str("; receiver=");
        write_value(&mut out, self.receiver());
        out.push_str("; identity=");
        out.push_str(self.identity.as_str());
        if let Some(m) = self.mechanism() {
            out.push_str("; mechanism=");
            write_value(&mut out, &m.to_string());
        } else if let Some(p) = &self.problem {
            out.push_str("; problem=");
            write_value(&mut out, p);
        }
        out
    }

    /// The `spf=` method of an `Authentication-Results:` header field (RFC 8601 §2.7.2):
    /// `spf=<result> smtp.mailfrom=<sender>` or `spf=<result> smtp.helo=<helo>`. Values that
    /// are not a plain address or domain are written as quoted-strings, with control and
    /// non-ASCII characters replaced.
    ///
    /// ```
    /// # use postern_spf::{evaluate_with, Options, Request};
    /// # use postern_dns::Answer;
    /// let request = Request::helo("192.0.2.1".parse().unwrap(), "mail.example.com");
    /// let outcome = evaluate_with(&request, &Options::default(), |_| Answer::NxDomain);
    /// assert_eq!(outcome.authentication_results(), "spf=none smtp.helo=mail.example.com");
    /// ```
    pub fn authentication_results(&self) -> String {
        let mut out = String::with_capacity(96);
        out.push_str("spf=");
        out.push_str(self.verdict.as_str());
        match self.identity {
            Identity::MailFrom => {
                out.push_str(" smtp.mailfrom=");
                let plain = self
                    .sender()
                    .rsplit_once('@')
                    .is_some_and(|(local, domain)| is_dot_atom(local) && is_domain_name(domain));
                if plain {
                    out.push_str(self.sender());
                } else {
                    write_quoted(&mut out, self.sender());
                }
            }
            Identity::Helo => {
                out.push_str(" smtp.helo=");
                if is_domain_name(self.helo()) || is_token(self.helo()) {
                    out.push_str(self.helo());
                } else {
                    write_quoted(&mut out, self.helo());
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use std::net::{IpAddr, Ipv4Addr};

    use super::*;
    use crate::Record;

    fn outcome(verdict: Verdict, identity: Identity, sender: &str, helo: &str) -> Outcome {
        Outcome {
            verdict,
            matched: None,
            explanation: None,
            problem: None,
            dns_lookups: 0,
            void_lookups: 0,
            queries: 0,
            identity,
            ip: IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)),
            identities: {
                let (local, domain) = sender.rsplit_once('@').unwrap();
                Identities::new(local, domain, helo, "mx.example.net")
            },
        }
    }

    #[test]
    fn identities_read_back_the_same_inline_and_shared() {
        // Around the inline capacity: the last inline length, the first shared one.
        for helo_len in [1, 50, 60, 61, 62, 63, 200, 300] {
            let helo = "h".repeat(helo_len);
            let ids = Identities::new("l\u{e9}", "example.com", &helo, "mx.example.net");
            let inline = matches!(ids.text, IdentitiesText::Inline(_));
            assert_eq!(
                inline,
                "l\u{e9}@example.com".len() + helo_len + "mx.example.net".len()
                    <= INLINE_IDENTITIES,
                "helo of {helo_len}"
            );
            assert_eq!(ids.sender(), "l\u{e9}@example.com");
            assert_eq!(ids.helo(), helo);
            assert_eq!(ids.receiver(), "mx.example.net");
            assert_eq!(
                ids.parts(),
                ["l\u{e9}", "example.com", helo.as_str(), "mx.example.net"]
            );
            assert_eq!(ids.clone(), ids);
        }
        let a = Identities::new("a", "example.com", "h", "r");
        assert_ne!(a, Identities::new("a", "example.co", "mh", "r"));
    }

    #[test]
    fn received_spf_fields() {
        let mut o = outcome(
            Verdict::Pass,
            Identity::MailFrom,
            "alice@example.com",
            "mail.example.com",
        );
        let record = Record::parse("v=spf1 include:_spf.example.com -all").unwrap();
        o.matched = record
            .directives()
            .next()
            .cloned()
            .map(MatchedDirective::Built);
        assert_eq!(
            o.received_spf(),
            "pass (mx.example.net: domain of alice@example.com designates 192.0.2.1 as permitted \
             sender) client-ip=192.0.2.1; envelope-from=\"alice@example.com\"; \
             helo=mail.example.com; receiver=mx.example.net; identity=mailfrom; \
             mechanism=\"include:_spf.example.com\""
        );
        let mut o = outcome(
            Verdict::PermError,
            Identity::Helo,
            "postmaster@h.example",
            "h.example",
        );
        o.problem = Some("bad (record)".to_owned());
        let header = o.received_spf();
        assert!(
            header.starts_with(
                "permerror (mx.example.net: permanent error in processing domain of h.example)"
            ),
            "{header}"
        );
        assert!(
            header.ends_with("identity=helo; problem=\"bad (record)\""),
            "{header}"
        );
    }

    #[test]
    fn hostile_values_are_quoted() {
        let o = outcome(
            Verdict::Fail,
            Identity::MailFrom,
            "a\"b\\c)@ex.com\r\nX: y",
            "h) (x\u{e9}\n",
        );
        let header = o.received_spf();
        assert!(!header.contains(['\r', '\n']), "{header:?}");
        assert!(
            header.contains(r#"envelope-from="a\"b\\c)@ex.com??X: y""#),
            "{header}"
        );
        assert!(header.contains(r#"helo="h) (x??""#), "{header}");
        // Parentheses inside the comment are quoted-pairs, so the comment cannot end early.
        assert!(
            header.contains(r#"domain of a"b\\c\)@ex.com??X: y does not designate"#),
            "{header}"
        );
        assert_eq!(
            o.authentication_results(),
            r#"spf=fail smtp.mailfrom="a\"b\\c)@ex.com??X: y""#
        );
        let o = outcome(
            Verdict::None,
            Identity::Helo,
            "postmaster@x",
            "bad helo;x=y",
        );
        assert_eq!(
            o.authentication_results(),
            r#"spf=none smtp.helo="bad helo;x=y""#
        );
    }
}
