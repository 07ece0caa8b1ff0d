//! The verifier: a sans-I/O state machine over a message stream (RFC 6376 §6).
//!
//! Message bytes go in with [`Verifier::update`] (chunks of any size) and
//! [`Verifier::finish`]; as soon as the header block is complete, [`Verifier::step`] hands out
//! the key queries, so DNS runs while the body streams. Answers come back with
//! [`Verifier::supply`] (a resolved [`Answer`]) or [`Verifier::supply_wire`] (a raw DNS
//! response packet).

use postern_dns::{Answer, Name, Query, Record, RecordType};

use crate::b64;
use crate::body::{BodyHashKey, BodyHashes};
use crate::canon;
use crate::crypto;
use crate::error::Error;
use crate::header::{self, BareLf, Collected, Field, HeaderCollector};
use crate::inline::InlineFirst;
use crate::key::{KeyRef, KeyTags};
use crate::policy::Policy;
use crate::result::{DkimResult, Outcome, Reason, SignatureOutcome};
use crate::signature::{Algorithm, Signature, SignatureTags};
use crate::tag_list;

/// Input bytes converted for bare LF at a time (bounds the scratch buffer).
const BARE_LF_PIECE: usize = 64 * 1024;

/// How to verify.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyOptions {
    /// The verification time, Unix seconds, for `x=` (never read from a clock here).
    pub now: u64,
    /// The local policy (safe defaults).
    pub policy: Policy,
    /// Treat a bare LF in the input as CRLF. Off by default: SMTP delivers CRLF (wire format),
    /// and a message stored with LF line ends must be converted to be verified.
    pub convert_bare_lf: bool,
}

impl VerifyOptions {
    /// Default policy, verification at `now` (Unix seconds).
    pub fn new(now: u64) -> Self {
        Self {
            now,
            policy: Policy::default(),
            convert_bare_lf: false,
        }
    }
}

/// What the verifier needs next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Resolve this key query (TXT) and give the answer to [`Verifier::supply`] or
    /// [`Verifier::supply_wire`]. Each query is handed out once; more may follow.
    Lookup(Query),
    /// Give more message bytes ([`Verifier::update`]) or end the message
    /// ([`Verifier::finish`]).
    NeedInput,
    /// Every query has been handed out; supply the outstanding answers.
    Waiting,
    /// Verification is complete. Further calls return the same outcome.
    Done(Outcome),
}

#[derive(Debug)]
struct KeyQuery {
    query: Query,
    handed_out: bool,
    answer: Option<Answer>,
}

#[derive(Debug)]
enum Entry {
    /// Decided from the field alone (unparsable, expired, over the limit).
    Decided(SignatureOutcome),
    /// Waits for its key and the body.
    Pending {
        signature: Signature,
        header_data: Vec<u8>,
        body: usize,
        query: usize,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Header,
    Body,
    Finished,
}

/// A streaming DKIM verifier for one message.
///
/// # Examples
/// ```
/// use postern_dkim::{Step, Verifier, VerifyOptions};
/// use postern_dns::Answer;
///
/// let message = b"From: a@example.com\r\nSubject: hi\r\n\r\nHello\r\n";
/// let mut verifier = Verifier::new(VerifyOptions::new(1_700_000_000));
/// for chunk in message.chunks(7) {
///     verifier.update(chunk)?;
/// }
/// verifier.finish()?;
/// let outcome = loop {
///     match verifier.step() {
///         Step::Lookup(query) => verifier.supply(query.id(), Answer::NxDomain)?,
///         Step::Done(outcome) => break outcome,
///         Step::NeedInput | Step::Waiting => unreachable!("all input given, all answers supplied"),
///     }
/// };
/// assert_eq!(outcome.authentication_results(), "dkim=none");
/// # Ok::<(), postern_dkim::Error>(())
/// ```
#[derive(Debug)]
pub struct Verifier {
    options: VerifyOptions,
    phase: Phase,
    offset: usize,
    collector: HeaderCollector,
    bare_lf: Option<BareLf>,
    scratch: Vec<u8>,
    block: Vec<u8>,
    fields: Vec<Field>,
    entries: InlineFirst<Entry>,
    bodies: BodyHashes,
    queries: InlineFirst<KeyQuery>,
    outcome: Option<Outcome>,
}

impl Verifier {
    /// A verifier for one message.
    pub fn new(options: VerifyOptions) -> Self {
        let bare_lf = options.convert_bare_lf.then(BareLf::default);
        Self {
            options,
            phase: Phase::Header,
            offset: 0,
            collector: HeaderCollector::default(),
            bare_lf,
            scratch: Vec::new(),
            block: Vec::new(),
            fields: Vec::new(),
            entries: InlineFirst::default(),
            bodies: BodyHashes::default(),
            queries: InlineFirst::default(),
            outcome: None,
        }
    }

    /// Feed the next chunk of the message (header block and body, wire format).
    ///
    /// # Errors
    /// [`Error::HeaderBlockTooLarge`], [`Error::TooManyHeaderFields`] for a header block over
    /// the limits, [`Error::InputAfterFinish`].
    pub fn update(&mut self, chunk: &[u8]) -> Result<(), Error> {
        if self.phase == Phase::Finished {
            return Err(Error::InputAfterFinish);
        }
        if let Some(mut conv) = self.bare_lf.take() {
            let mut scratch = std::mem::take(&mut self.scratch);
            let mut result = Ok(());
            for piece in chunk.chunks(BARE_LF_PIECE) {
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
        match self.phase {
            Phase::Header => match self.collector.push(data)? {
                Collected::More => {}
                Collected::Done { block, body } => {
                    self.headers_complete(block)?;
                    self.bodies.update(body);
                }
            },
            Phase::Body => self.bodies.update(data),
            Phase::Finished => return Err(Error::InputAfterFinish),
        }
        self.offset = self.offset.saturating_add(data.len());
        Ok(())
    }

    /// End of message.
    ///
    /// # Errors
    /// As [`Verifier::update`], for a message that ends inside its header block.
    pub fn finish(&mut self) -> Result<(), Error> {
        match self.phase {
            Phase::Finished => return Err(Error::InputAfterFinish),
            Phase::Header => {
                let block = self.collector.finish();
                self.headers_complete(block)?;
            }
            Phase::Body => {}
        }
        self.bodies.finish();
        self.phase = Phase::Finished;
        Ok(())
    }

    /// Is the header block complete (so that the key queries are known)?
    pub fn header_block_complete(&self) -> bool {
        self.phase != Phase::Header
    }

    /// Number of distinct body hashes being computed (one per canonicalization, hash and
    /// `l=` combination, whatever the number of signatures).
    pub fn body_hash_count(&self) -> usize {
        self.bodies.len()
    }

    fn headers_complete(&mut self, block: Vec<u8>) -> Result<(), Error> {
        let fields = header::split_fields(&block, 0)?;
        let mut seen = 0usize;
        for field in &fields {
            if !field.is_named(&block, "dkim-signature") {
                continue;
            }
            seen += 1;
            let value = field.value(&block);
            let entry = if seen > self.options.policy.max_signatures {
                let mut outcome = lenient_outcome(value);
                outcome.result = DkimResult::Policy;
                outcome.reason = Some(Reason::TooManySignatures);
                Entry::Decided(outcome)
            } else {
                self.signature_entry(&block, &fields, field, value)
            };
            self.entries.push(entry);
        }
        self.block = block;
        self.fields = fields;
        self.phase = Phase::Body;
        Ok(())
    }

    fn signature_entry(
        &mut self,
        block: &[u8],
        fields: &[Field],
        field: &Field,
        value: &[u8],
    ) -> Entry {
        let parsed = SignatureTags::parse(value)
            .map_err(|_| Reason::SignatureSyntax)
            .and_then(|found| {
                let sig = Signature::from_tags(&found).map_err(|e| e.reason)?;
                let b = found.b.ok_or(Reason::MissingTag)?;
                Ok((sig, tag_list::removal_range(value, &b)))
            });
        let (signature, b_range) = match parsed {
            Ok(ok) => ok,
            Err(reason) => {
                let mut outcome = lenient_outcome(value);
                outcome.reason = Some(reason);
                return Entry::Decided(outcome);
            }
        };
        let decided = |reason| {
            let mut outcome = valid_outcome(&signature);
            outcome.reason = Some(reason);
            Entry::Decided(outcome)
        };
        // RFC 6376 §6.1.1: "If the "x=" tag is present ... and the current time is later than
        // the expiration time, the Verifier MUST consider the signature invalid".
        if signature.expiration.is_some_and(|x| self.options.now > x) {
            return decided(Reason::Expired);
        }
        let Ok(name) = key_name(&signature) else {
            return decided(Reason::SignatureSyntax);
        };
        // RFC 6376 §5.4.2 header data, then the signature field with b= emptied, no CRLF.
        let hc = signature.header_canonicalization;
        let mut header_data = Vec::new();
        header::selected_headers(
            block,
            fields,
            signature.signed_headers.iter(),
            hc,
            // Room for the signature field itself, added below.
            field.span.len(),
            &mut header_data,
        );
        canon::header_field_without(
            hc,
            field.name(block),
            value.get(..b_range.start).unwrap_or_default(),
            value.get(b_range.end..).unwrap_or_default(),
            &mut header_data,
        );
        header_data.truncate(header_data.len().saturating_sub(2));

        let body = self.bodies.index_for(BodyHashKey {
            canonicalization: signature.body_canonicalization,
            hash: signature.algorithm.hash(),
            limit: signature.body_length,
        });
        let query = if let Some(i) = self.queries.iter().position(|q| q.query.name() == &name) {
            i
        } else {
            let id = u32::try_from(self.queries.len() + 1).unwrap_or(u32::MAX);
            self.queries.push(KeyQuery {
                query: Query::new(id, name, RecordType::Txt),
                handed_out: false,
                answer: None,
            });
            self.queries.len() - 1
        };
        Entry::Pending {
            signature,
            header_data,
            body,
            query,
        }
    }

    /// What to do next. See [`Step`].
    pub fn step(&mut self) -> Step {
        if let Some(q) = self.queries.iter_mut().find(|q| !q.handed_out) {
            q.handed_out = true;
            return Step::Lookup(q.query.clone());
        }
        if self.phase != Phase::Finished {
            return Step::NeedInput;
        }
        if self.queries.iter().any(|q| q.answer.is_none()) {
            return Step::Waiting;
        }
        if self.outcome.is_none() {
            self.outcome = Some(self.decide());
        }
        Step::Done(self.outcome.clone().unwrap_or_default())
    }

    /// Answer key query `id`.
    ///
    /// # Errors
    /// [`Error::UnknownQuery`] if `id` was not handed out or was already answered.
    pub fn supply(&mut self, id: u32, answer: Answer) -> Result<(), Error> {
        let q = self
            .queries
            .iter_mut()
            .find(|q| q.query.id() == id && q.handed_out && q.answer.is_none())
            .ok_or(Error::UnknownQuery { id })?;
        q.answer = Some(answer);
        Ok(())
    }

    /// Answer key query `id` with a raw DNS response packet.
    ///
    /// # Errors
    /// [`Error::UnknownQuery`], or [`Error::Dns`] when the packet does not decode or does not
    /// answer the query (a truncated UDP answer: retry over TCP, or supply
    /// [`Answer::TempFail`]).
    pub fn supply_wire(&mut self, id: u32, packet: &[u8]) -> Result<(), Error> {
        let q = self
            .queries
            .iter()
            .find(|q| q.query.id() == id && q.handed_out && q.answer.is_none())
            .ok_or(Error::UnknownQuery { id })?;
        let answer =
            Answer::from_wire(&q.query, packet).map_err(|source| Error::Dns { id, source })?;
        self.supply(id, answer)
    }

    fn decide(&mut self) -> Outcome {
        // In place: a pending entry (its signature) is large, and moving it costs.
        let Self {
            entries,
            queries,
            bodies,
            options,
            block,
            fields,
            ..
        } = self;
        let mut signatures = Vec::with_capacity(entries.len());
        for entry in entries.iter_mut() {
            let outcome = match entry {
                // A placeholder takes its place: the entries are dropped below.
                Entry::Decided(outcome) => {
                    std::mem::replace(outcome, valid_outcome_skeleton(Algorithm::RsaSha256))
                }
                Entry::Pending {
                    signature,
                    header_data,
                    body,
                    query,
                } => {
                    let answer = queries.get(*query).and_then(|q| q.answer.as_ref());
                    let body = bodies.result(*body);
                    judge(
                        signature,
                        header_data,
                        body,
                        answer,
                        &options.policy,
                        block,
                        fields,
                    )
                }
            };
            signatures.push(outcome);
        }
        *entries = InlineFirst::default();
        Outcome { signatures }
    }
}

/// The key query name of `signature` (`selector._domainkey.domain`), built on the stack.
fn key_name(signature: &Signature) -> Result<Name, postern_dns::Error> {
    const SUFFIX: &[u8] = b"._domainkey.";
    let (selector, domain) = (signature.selector.as_bytes(), signature.domain.as_bytes());
    let mut buf = [0u8; 256];
    let len = selector.len() + SUFFIX.len() + domain.len();
    match buf.get_mut(..len) {
        Some(text) => {
            let (head, rest) = text.split_at_mut(selector.len());
            let (middle, tail) = rest.split_at_mut(SUFFIX.len());
            head.copy_from_slice(selector);
            middle.copy_from_slice(SUFFIX);
            tail.copy_from_slice(domain);
            // Three strings put together: UTF-8.
            match std::str::from_utf8(text) {
                Ok(text) => Name::new(text),
                Err(_) => Name::new(&signature.key_name()),
            }
        }
        // Longer than any DNS name: let the name checks say so.
        None => Name::new(&signature.key_name()),
    }
}

/// A `permerror` outcome for a field that is not a valid signature, with whatever `d=`, `s=`
/// and `b=` can be read from it.
fn lenient_outcome(value: &[u8]) -> SignatureOutcome {
    let read = |name| {
        tag_list::lenient_value(value, name)
            .map(|v| String::from_utf8_lossy(&tag_list::strip_fws(v)).into_owned())
            .unwrap_or_default()
    };
    SignatureOutcome {
        domain: read("d"),
        selector: read("s"),
        identity: None,
        algorithm: None,
        signature_b64: read("b"),
        result: DkimResult::PermError,
        reason: Some(Reason::SignatureSyntax),
        testing: false,
        unsigned_body_octets: 0,
        key_bits: None,
        cryptographically_valid: None,
    }
}

/// The outcome skeleton of a valid signature (permerror until decided otherwise).
fn valid_outcome(signature: &Signature) -> SignatureOutcome {
    SignatureOutcome {
        domain: signature.domain.clone(),
        selector: signature.selector.clone(),
        identity: signature.identity.clone(),
        signature_b64: signature.signature_b64.clone(),
        ..valid_outcome_skeleton(signature.algorithm)
    }
}

/// [`valid_outcome`] without the strings.
fn valid_outcome_skeleton(algorithm: Algorithm) -> SignatureOutcome {
    SignatureOutcome {
        domain: String::new(),
        selector: String::new(),
        identity: None,
        algorithm: Some(algorithm),
        signature_b64: String::new(),
        result: DkimResult::PermError,
        reason: None,
        testing: false,
        unsigned_body_octets: 0,
        key_bits: None,
        cryptographically_valid: None,
    }
}

fn with(mut outcome: SignatureOutcome, result: DkimResult, reason: Reason) -> SignatureOutcome {
    outcome.result = result;
    outcome.reason = Some(reason);
    outcome
}

/// Where the verifier decodes a key's `p=`: on the stack up to an 8192-bit RSA key (about
/// 1,060 octets of DER, 1,070 bytes of decoder room), on the heap beyond.
type KeyBuf = b64::DecodeBuf<1280>;

/// The key record from a TXT answer: the first record that parses (RFC 6376 §6.1.2 lets
/// verifiers pick among several), its `p=` decoded into `key` (parsing includes decoding).
fn key_from_answer<'a>(
    answer: Option<&'a Answer>,
    key: &mut KeyBuf,
) -> Result<KeyTags<'a>, (DkimResult, Reason)> {
    match answer {
        None | Some(Answer::TempFail) => Err((DkimResult::TempError, Reason::KeyUnavailable)),
        Some(Answer::NxDomain | Answer::NoData) => Err((DkimResult::PermError, Reason::NoKey)),
        Some(Answer::Records(records)) => {
            let mut txts = records.iter().filter_map(|r| match r {
                Record::Txt(t) => Some(t),
                _ => None,
            });
            let first = txts.next().ok_or((DkimResult::PermError, Reason::NoKey))?;
            std::iter::once(first)
                .chain(txts)
                .find_map(|t| KeyTags::parse(t).ok().filter(|tags| key.decode(tags.p)))
                .ok_or((DkimResult::PermError, Reason::KeySyntax))
        }
    }
}

/// Decide one signature whose key answer and body hash are in (RFC 6376 §6.1.2, §6.1.3,
/// then the policy).
fn judge(
    signature: &mut Signature,
    header_data: &[u8],
    body: Option<(ring::digest::Digest, u64)>,
    answer: Option<&Answer>,
    policy: &Policy,
    block: &[u8],
    fields: &[Field],
) -> SignatureOutcome {
    use DkimResult::{Fail, Pass, PermError, Policy as PolicyResult};
    let identity_is_domain = signature
        .identity_domain()
        .eq_ignore_ascii_case(&signature.domain);
    // The signature is not needed after this: its strings move into the outcome.
    let mut outcome = SignatureOutcome {
        domain: std::mem::take(&mut signature.domain),
        selector: std::mem::take(&mut signature.selector),
        identity: signature.identity.take(),
        signature_b64: std::mem::take(&mut signature.signature_b64),
        ..valid_outcome_skeleton(signature.algorithm)
    };
    // RFC 6376 §3.5: l= "MUST NOT be larger than the actual number of octets in the
    // canonicalized message body"; §6.1.1: "any inconsistency or unexpected values MUST cause
    // the header field to be completely ignored and the Verifier to return PERMFAIL
    // (signature syntax error)". A signature check (§6.1.1), so before the key's.
    if let (Some(l), Some((_, canonical_len))) = (signature.body_length, &body)
        && l > *canonical_len
    {
        return with(outcome, PermError, Reason::SignatureSyntax);
    }
    let mut der = KeyBuf::new();
    let key = match key_from_answer(answer, &mut der) {
        Ok(key) => key,
        Err((result, reason)) => return with(outcome, result, reason),
    };
    outcome.testing = key.testing;
    // RFC 6376 §6.1.2 in its order: the key's h= (step 6), an empty p= (step 7), the key
    // type (step 8).
    let algorithm = signature.algorithm;
    if !key.allows(algorithm.hash()) {
        return with(outcome, PermError, Reason::InappropriateHash);
    }
    if der.bytes().is_empty() {
        // RFC 6376 §3.6.1: an empty p= means the key was revoked.
        return with(outcome, PermError, Reason::KeyRevoked);
    }
    if key.key_type() != Some(algorithm.key_type()) {
        return with(outcome, PermError, Reason::InappropriateKeyAlgorithm);
    }
    if !key.for_email {
        return with(outcome, PermError, Reason::KeyNotForEmail);
    }
    // RFC 6376 §3.6.1 t=s: "the "i=" domain MUST NOT be a subdomain of "d="".
    if key.strict_identity && !identity_is_domain {
        return with(outcome, PermError, Reason::DomainMismatch);
    }
    let Some(public_key) = KeyRef::decode(algorithm.key_type(), der.bytes()) else {
        return with(outcome, PermError, Reason::KeySyntax);
    };
    if let KeyRef::Rsa { bits, .. } = &public_key {
        let bits = *bits;
        outcome.key_bits = Some(bits);
        if bits < policy.min_rsa_bits.max(crate::MIN_RSA_KEY_BITS) {
            return with(outcome, PolicyResult, Reason::KeyTooSmall { bits });
        }
        if bits > crate::MAX_RSA_KEY_BITS {
            return with(outcome, PolicyResult, Reason::KeyTooLarge { bits });
        }
    }
    // §6.1.3 computes the body hash, then checks the signature. When both fail, the
    // signature is reported (as OpenDKIM does, and the shared corpus expects): a signature
    // that does not verify says nothing about the body, whereas a body hash mismatch under a
    // valid signature means the body changed in transit.
    if !crypto::verify(algorithm, &public_key, header_data, &signature.signature) {
        outcome.cryptographically_valid = Some(false);
        return with(outcome, Fail, Reason::SignatureMismatch);
    }
    outcome.cryptographically_valid = Some(true);
    let Some((digest, canonical_len)) = body else {
        return with(outcome, Fail, Reason::BodyHashMismatch);
    };
    if let Some(l) = signature.body_length {
        outcome.unsigned_body_octets = canonical_len.saturating_sub(l);
    }
    if digest.as_ref() != signature.body_hash.as_slice() {
        return with(outcome, Fail, Reason::BodyHashMismatch);
    }
    // Policy on a cryptographically valid signature.
    if algorithm == Algorithm::RsaSha1 && !policy.allow_sha1 {
        return with(outcome, PolicyResult, Reason::Sha1);
    }
    if let Some(field) = unsigned_duplicate(signature, policy, block, fields) {
        return with(outcome, PolicyResult, Reason::UnsignedDuplicate { field });
    }
    if policy.reject_unsigned_body_content && outcome.unsigned_body_octets > 0 {
        return with(outcome, PolicyResult, Reason::UnsignedBodyContent);
    }
    if policy.reject_testing_keys && outcome.testing {
        return with(outcome, PolicyResult, Reason::TestingKey);
    }
    outcome.result = Pass;
    outcome.reason = None;
    outcome
}

/// A key header that occurs more often in the message than `h=` signs it (RFC 6376 §8.15).
fn unsigned_duplicate(
    signature: &Signature,
    policy: &Policy,
    block: &[u8],
    fields: &[Field],
) -> Option<String> {
    // A bit per name length (mod 64) that two fields share: a name of another length occurs
    // at most once.
    let (mut lengths, mut repeated) = (0u64, 0u64);
    for field in fields {
        let bit = 1u64 << (field.trimmed_name(block).len() % 64);
        repeated |= lengths & bit;
        lengths |= bit;
    }
    policy.key_headers.iter().find_map(|name| {
        if repeated & (1u64 << (name.len() % 64)) == 0 {
            return None;
        }
        let mut named = fields.iter().filter(|f| f.is_named(block, name));
        // Most names occur once or not at all: then nothing can be unsigned.
        named.nth(1)?;
        let present = 2 + named.count();
        let signed = signature
            .signed_headers
            .iter()
            .filter(|h| h.eq_ignore_ascii_case(name))
            .count();
        (signed < present).then(|| name.to_string())
    })
}

/// Verify a whole message held in memory, resolving key queries with `resolve`: the blocking
/// helper over [`Verifier`].
///
/// # Errors
/// As [`Verifier::update`].
///
/// # Examples
/// ```
/// use postern_dkim::{VerifyOptions, verify_with};
/// use postern_dns::Answer;
/// let outcome = verify_with(b"From: a@b.example\r\n\r\nhi\r\n", VerifyOptions::new(0), |_| Answer::NxDomain)?;
/// assert!(outcome.signatures.is_empty());
/// # Ok::<(), postern_dkim::Error>(())
/// ```
pub fn verify_with(
    message: &[u8],
    options: VerifyOptions,
    mut resolve: impl FnMut(&Query) -> Answer,
) -> Result<Outcome, Error> {
    let mut verifier = Verifier::new(options);
    verifier.update(message)?;
    verifier.finish()?;
    // What the step()/supply() loop does, without copying each query and the outcome out:
    // every query resolved in order, then the decision.
    for q in verifier.queries.iter_mut() {
        if q.answer.is_none() {
            q.handed_out = true;
            q.answer = Some(resolve(&q.query));
        }
    }
    Ok(match verifier.outcome.take() {
        Some(outcome) => outcome,
        None => verifier.decide(),
    })
}
