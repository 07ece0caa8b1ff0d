//! DKIM: streaming verification with key queries answered by the caller, and signing.

use postern_dkim::{
    Canonicalization, DkimResult, Layout, Outcome, SignParams, Signer, SigningKey, Step, Verifier,
    VerifyOptions,
};

use crate::dns::{
    POSTERN_STEP_DONE, POSTERN_STEP_LOOKUP, Pending, status_answer, write_query, write_text,
};
use crate::{free_handle, guard, handle, input, into_handle, out_param, output, postern_result};

/// Step status (DKIM): give more message bytes (`postern_dkim_verifier_update`) or end the
/// message (`postern_dkim_verifier_finish`), then step again.
pub const POSTERN_STEP_NEED_INPUT: u32 = 3;
/// Step status (DKIM): every key query has been handed out; answer the outstanding ones.
pub const POSTERN_STEP_WAITING: u32 = 4;

/// Flag: treat a bare LF in the message as CRLF (for messages stored with LF line ends).
pub const POSTERN_DKIM_CONVERT_BARE_LF: u32 = 1;
/// Signing flag: `c=simple` for the header (default relaxed).
pub const POSTERN_DKIM_SIMPLE_HEADER: u32 = 2;
/// Signing flag: `c=simple` for the body (default relaxed).
pub const POSTERN_DKIM_SIMPLE_BODY: u32 = 4;
/// Signing flag: oversign (list each signed header once more than present, RFC 6376 §8.15).
pub const POSTERN_DKIM_OVERSIGN: u32 = 8;
/// Signing flag: add `l=` with the body length.
pub const POSTERN_DKIM_BODY_LENGTH: u32 = 16;
/// Signing flag: fold the field over several lines (default one line).
pub const POSTERN_DKIM_FOLDED: u32 = 32;

/// DKIM result `pass` (RFC 8601).
pub const POSTERN_DKIM_PASS: u32 = 0;
/// DKIM result `fail`.
pub const POSTERN_DKIM_FAIL: u32 = 1;
/// DKIM result `neutral`.
pub const POSTERN_DKIM_NEUTRAL: u32 = 2;
/// DKIM result `policy`.
pub const POSTERN_DKIM_POLICY: u32 = 3;
/// DKIM result `temperror`.
pub const POSTERN_DKIM_TEMPERROR: u32 = 4;
/// DKIM result `permerror`.
pub const POSTERN_DKIM_PERMERROR: u32 = 5;

/// Signature text: `d=`.
pub const POSTERN_DKIM_TEXT_DOMAIN: u32 = 0;
/// Signature text: `s=`.
pub const POSTERN_DKIM_TEXT_SELECTOR: u32 = 1;
/// Signature text: `i=` (empty when absent).
pub const POSTERN_DKIM_TEXT_IDENTITY: u32 = 2;
/// Signature text: the RFC 6376 reason (empty for pass).
pub const POSTERN_DKIM_TEXT_REASON: u32 = 3;
/// Signature text: `b=` in base64, without folding whitespace.
pub const POSTERN_DKIM_TEXT_SIGNATURE: u32 = 4;

const RESULTS: [(DkimResult, u32, &[u8]); 6] = [
    (DkimResult::Pass, POSTERN_DKIM_PASS, b"pass\0"),
    (DkimResult::Fail, POSTERN_DKIM_FAIL, b"fail\0"),
    (DkimResult::Neutral, POSTERN_DKIM_NEUTRAL, b"neutral\0"),
    (DkimResult::Policy, POSTERN_DKIM_POLICY, b"policy\0"),
    (
        DkimResult::TempError,
        POSTERN_DKIM_TEMPERROR,
        b"temperror\0",
    ),
    (
        DkimResult::PermError,
        POSTERN_DKIM_PERMERROR,
        b"permerror\0",
    ),
];

/// The name of a DKIM result (`"pass"`, ...) as a static NUL-terminated string; NULL for a
/// number that is not a DKIM result.
#[unsafe(no_mangle)]
pub extern "C" fn postern_dkim_result_str(result: u32) -> *const core::ffi::c_char {
    RESULTS
        .iter()
        .find(|(_, n, _)| *n == result)
        .map_or(core::ptr::null(), |(_, _, s)| s.as_ptr().cast())
}

fn dkim_error(e: &postern_dkim::Error) -> postern_result {
    match e {
        postern_dkim::Error::HeaderBlockTooLarge { .. } => postern_result::DkimHeaderTooLarge,
        postern_dkim::Error::TooManyHeaderFields { .. } => postern_result::DkimTooManyHeaders,
        postern_dkim::Error::InputAfterFinish | postern_dkim::Error::UnknownQuery { .. } => {
            postern_result::InvalidState
        }
        postern_dkim::Error::Dns { source, .. } => crate::dns_error(source),
        postern_dkim::Error::PrivateKey { .. } | postern_dkim::Error::PrivateKeySize { .. } => {
            postern_result::DkimPrivateKey
        }
        _ => postern_result::DkimSignParameter,
    }
}

/// A streaming DKIM verification of one message. Not thread-safe; may move between threads.
pub struct postern_dkim_verifier {
    verifier: Verifier,
    pending: Pending,
    outcome: Option<Outcome>,
}

/// Start verifying a message at time `now` (Unix seconds, for `x=`: the library reads no
/// clock). `flags`: 0 or `POSTERN_DKIM_CONVERT_BARE_LF`. Feed the message with
/// `postern_dkim_verifier_update` (any chunk sizes), end it with
/// `postern_dkim_verifier_finish`, and drive `postern_dkim_verifier_step`: key queries come
/// as soon as the header block is in, so DNS can run while the body streams.
///
/// # Safety
/// `out` must be writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn postern_dkim_verifier_new(
    now: u64,
    flags: u32,
    out: *mut *mut postern_dkim_verifier,
) -> u32 {
    guard(|| {
        let out = out_param(out)?;
        if flags & !POSTERN_DKIM_CONVERT_BARE_LF != 0 {
            return Err(postern_result::InvalidArgument);
        }
        let mut options = VerifyOptions::new(now);
        options.convert_bare_lf = flags & POSTERN_DKIM_CONVERT_BARE_LF != 0;
        out.write(into_handle(postern_dkim_verifier {
            verifier: Verifier::new(options),
            pending: Pending::default(),
            outcome: None,
        }));
        Ok(postern_result::Ok)
    })
}

/// Release a verifier; NULL is a no-op.
///
/// # Safety
/// `verifier` must be NULL or a handle from `postern_dkim_verifier_new` not yet freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn postern_dkim_verifier_free(verifier: *mut postern_dkim_verifier) {
    let _ = guard(|| {
        // SAFETY: per this function's contract.
        unsafe { free_handle(verifier) };
        Ok(postern_result::Ok)
    });
}

/// Feed message bytes (wire format, CRLF line ends). Memory stays bounded whatever the
/// message size. `POSTERN_RESULT_DKIM_HEADER_TOO_LARGE` / `_TOO_MANY_HEADERS` for a header
/// block over the limits; `POSTERN_RESULT_INVALID_STATE` after `finish`.
///
/// # Safety
/// `verifier` must be a live handle; `buf` must hold `len` readable bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn postern_dkim_verifier_update(
    verifier: *mut postern_dkim_verifier,
    buf: *const u8,
    len: usize,
) -> u32 {
    guard(|| {
        // SAFETY: per this function's contract.
        let (v, buf) = unsafe { (handle(verifier)?, input(buf, len)?) };
        v.verifier.update(buf).map_err(|e| dkim_error(&e))?;
        Ok(postern_result::Ok)
    })
}

/// End of the message.
///
/// # Safety
/// `verifier` must be a live handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn postern_dkim_verifier_finish(verifier: *mut postern_dkim_verifier) -> u32 {
    guard(|| {
        // SAFETY: per this function's contract.
        let v = unsafe { handle(verifier)? };
        v.verifier.finish().map_err(|e| dkim_error(&e))?;
        Ok(postern_result::Ok)
    })
}

/// What the verifier needs next: `*step` is `POSTERN_STEP_LOOKUP` (a key query: read it with
/// `postern_dkim_verifier_query` and answer it, now or later, in any order),
/// `POSTERN_STEP_NEED_INPUT`, `POSTERN_STEP_WAITING` (answers outstanding) or
/// `POSTERN_STEP_DONE` (read the results).
///
/// # Safety
/// `verifier` must be a live handle; `step` must be writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn postern_dkim_verifier_step(
    verifier: *mut postern_dkim_verifier,
    step: *mut u32,
) -> u32 {
    guard(|| {
        // SAFETY: per this function's contract.
        let v = unsafe { handle(verifier)? };
        let step = out_param(step)?;
        step.write(match v.verifier.step() {
            Step::Lookup(query) => {
                v.pending.handed_out(query)?;
                POSTERN_STEP_LOOKUP
            }
            Step::NeedInput => POSTERN_STEP_NEED_INPUT,
            Step::Waiting => POSTERN_STEP_WAITING,
            Step::Done(outcome) => {
                v.pending.clear();
                v.outcome = Some(outcome);
                POSTERN_STEP_DONE
            }
        });
        Ok(postern_result::Ok)
    })
}

/// The key query the last `POSTERN_STEP_LOOKUP` handed out (while unanswered): its id, RR
/// type (16, TXT) and name (`selector._domainkey.domain`). On
/// `POSTERN_RESULT_BUFFER_TOO_SMALL`, `*name_len` is the size needed.
///
/// # Safety
/// `verifier` must be a live handle; `name` must hold `name_cap` writable bytes; the other
/// out-parameters must be writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn postern_dkim_verifier_query(
    verifier: *const postern_dkim_verifier,
    id: *mut u32,
    qtype: *mut u16,
    name: *mut u8,
    name_cap: usize,
    name_len: *mut usize,
) -> u32 {
    guard(|| {
        // SAFETY: per this function's contract; the handle is only read.
        let (v, name) = unsafe {
            (
                verifier.as_ref().ok_or(postern_result::Null)?,
                output(name, name_cap)?,
            )
        };
        let (id, qtype, name_len) = (out_param(id)?, out_param(qtype)?, out_param(name_len)?);
        let query = v.pending.latest().ok_or(postern_result::InvalidState)?;
        write_query(query, id, qtype, name, name_len)
    })
}

/// Answer key query `id` with a raw DNS response packet. A bad packet is refused with a
/// `POSTERN_RESULT_DNS_*` code and the query stays outstanding.
///
/// # Safety
/// `verifier` must be a live handle; `packet` must hold `len` readable bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn postern_dkim_verifier_supply_wire(
    verifier: *mut postern_dkim_verifier,
    id: u32,
    packet: *const u8,
    len: usize,
) -> u32 {
    guard(|| {
        // SAFETY: per this function's contract.
        let (v, packet) = unsafe { (handle(verifier)?, input(packet, len)?) };
        v.pending.check(id)?;
        v.verifier
            .supply_wire(id, packet)
            .map_err(|e| dkim_error(&e))?;
        v.pending.answered(id);
        Ok(postern_result::Ok)
    })
}

/// Answer key query `id` with a status: `POSTERN_DNS_NXDOMAIN`, `POSTERN_DNS_NODATA` or
/// `POSTERN_DNS_TEMPFAIL`.
///
/// # Safety
/// `verifier` must be a live handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn postern_dkim_verifier_supply_status(
    verifier: *mut postern_dkim_verifier,
    id: u32,
    status: u32,
) -> u32 {
    guard(|| {
        // SAFETY: per this function's contract.
        let v = unsafe { handle(verifier)? };
        v.pending.check(id)?;
        v.verifier
            .supply(id, status_answer(status)?)
            .map_err(|e| dkim_error(&e))?;
        v.pending.answered(id);
        Ok(postern_result::Ok)
    })
}

/// Add one TXT record (its character-strings joined) to the answer being built for key query
/// `id`; then `postern_dkim_verifier_supply_records`.
///
/// # Safety
/// `verifier` must be a live handle; `data` must hold `len` readable bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn postern_dkim_verifier_add_record(
    verifier: *mut postern_dkim_verifier,
    id: u32,
    data: *const u8,
    len: usize,
) -> u32 {
    guard(|| {
        // SAFETY: per this function's contract.
        let (v, data) = unsafe { (handle(verifier)?, input(data, len)?) };
        v.pending.add(id, data)?;
        Ok(postern_result::Ok)
    })
}

/// Answer key query `id` with the records added (none added: NODATA).
///
/// # Safety
/// `verifier` must be a live handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn postern_dkim_verifier_supply_records(
    verifier: *mut postern_dkim_verifier,
    id: u32,
) -> u32 {
    guard(|| {
        // SAFETY: per this function's contract.
        let v = unsafe { handle(verifier)? };
        let answer = v.pending.records_answer(id)?;
        v.verifier.supply(id, answer).map_err(|e| dkim_error(&e))?;
        v.pending.answered(id);
        Ok(postern_result::Ok)
    })
}

fn outcome<'a>(verifier: *const postern_dkim_verifier) -> Result<&'a Outcome, postern_result> {
    // SAFETY: the callers' contracts: a live handle, only read, for the call's duration.
    let v = unsafe { verifier.as_ref() }.ok_or(postern_result::Null)?;
    v.outcome.as_ref().ok_or(postern_result::InvalidState)
}

/// The number of DKIM-Signature fields judged (0: unsigned, `dkim=none`), once
/// `postern_dkim_verifier_step` said `POSTERN_STEP_DONE`.
///
/// # Safety
/// `verifier` must be a live handle; `count` must be writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn postern_dkim_verifier_signature_count(
    verifier: *const postern_dkim_verifier,
    count: *mut usize,
) -> u32 {
    guard(|| {
        let count = out_param(count)?;
        count.write(outcome(verifier)?.signatures.len());
        Ok(postern_result::Ok)
    })
}

/// The result (`POSTERN_DKIM_*`) of signature `index` (header order, top first), and whether
/// its key is a testing key (`t=y`: treat the message as unsigned whatever the result).
///
/// # Safety
/// `verifier` must be a live handle; the out-parameters must be writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn postern_dkim_verifier_signature_result(
    verifier: *const postern_dkim_verifier,
    index: usize,
    result: *mut u32,
    testing: *mut bool,
) -> u32 {
    guard(|| {
        let (result, testing) = (out_param(result)?, out_param(testing)?);
        let sig = outcome(verifier)?
            .signatures
            .get(index)
            .ok_or(postern_result::InvalidArgument)?;
        let code = RESULTS
            .iter()
            .find(|(r, _, _)| *r == sig.result)
            .map_or(POSTERN_DKIM_PERMERROR, |(_, n, _)| *n);
        result.write(code);
        testing.write(sig.testing);
        Ok(postern_result::Ok)
    })
}

/// A text of signature `index` (`POSTERN_DKIM_TEXT_*`) into `out`, not NUL-terminated. On
/// `POSTERN_RESULT_BUFFER_TOO_SMALL`, `*len` is the size needed.
///
/// # Safety
/// `verifier` must be a live handle; `out` must hold `cap` writable bytes; `len` writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn postern_dkim_verifier_signature_text(
    verifier: *const postern_dkim_verifier,
    index: usize,
    which: u32,
    out: *mut u8,
    cap: usize,
    len: *mut usize,
) -> u32 {
    guard(|| {
        // SAFETY: per this function's contract.
        let out = unsafe { output(out, cap)? };
        let len = out_param(len)?;
        let sig = outcome(verifier)?
            .signatures
            .get(index)
            .ok_or(postern_result::InvalidArgument)?;
        let reason;
        let text: &str = match which {
            POSTERN_DKIM_TEXT_DOMAIN => &sig.domain,
            POSTERN_DKIM_TEXT_SELECTOR => &sig.selector,
            POSTERN_DKIM_TEXT_IDENTITY => sig.identity.as_deref().unwrap_or(""),
            POSTERN_DKIM_TEXT_REASON => {
                reason = sig
                    .reason
                    .as_ref()
                    .map(ToString::to_string)
                    .unwrap_or_default();
                &reason
            }
            POSTERN_DKIM_TEXT_SIGNATURE => &sig.signature_b64,
            _ => return Err(postern_result::InvalidArgument),
        };
        write_text(text.as_bytes(), out, len)
    })
}

/// The `dkim=` method results of an `Authentication-Results:` field (RFC 8601), one per
/// signature joined by `"; "`, or `dkim=none`. On `POSTERN_RESULT_BUFFER_TOO_SMALL`, `*len`
/// is the size needed.
///
/// # Safety
/// `verifier` must be a live handle; `out` must hold `cap` writable bytes; `len` writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn postern_dkim_verifier_authentication_results(
    verifier: *const postern_dkim_verifier,
    out: *mut u8,
    cap: usize,
    len: *mut usize,
) -> u32 {
    guard(|| {
        // SAFETY: per this function's contract.
        let out = unsafe { output(out, cap)? };
        let len = out_param(len)?;
        write_text(
            outcome(verifier)?.authentication_results().as_bytes(),
            out,
            len,
        )
    })
}

/// A streaming DKIM signer. Not thread-safe; may move between threads.
pub struct postern_dkim_signer {
    signer: Signer,
    field: Option<String>,
}

fn utf8(bytes: &[u8]) -> Result<&str, postern_result> {
    core::str::from_utf8(bytes).map_err(|_| postern_result::InvalidArgument)
}

/// Start signing for `domain` (`d=`) and `selector` (`s=`) with a private key in PEM
/// (PKCS#8 RSA or Ed25519, or PKCS#1 RSA; RSA 2048–4096 bits). `headers`: the `h=` list
/// separated by `:` (empty: the default set). `timestamp` / `expiration`: `t=` / `x=` in
/// Unix seconds, 0 to leave them out (the library reads no clock). `flags`:
/// `POSTERN_DKIM_SIMPLE_HEADER`, `_SIMPLE_BODY`, `_OVERSIGN`, `_BODY_LENGTH`, `_FOLDED`,
/// `_CONVERT_BARE_LF`.
///
/// # Safety
/// Each `(ptr, len)` pair must hold `len` readable bytes; `out` must be writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn postern_dkim_signer_new(
    key_pem: *const u8,
    key_pem_len: usize,
    domain: *const u8,
    domain_len: usize,
    selector: *const u8,
    selector_len: usize,
    headers: *const u8,
    headers_len: usize,
    timestamp: u64,
    expiration: u64,
    flags: u32,
    out: *mut *mut postern_dkim_signer,
) -> u32 {
    guard(|| {
        // SAFETY: per this function's contract.
        let (key, domain, selector, headers) = unsafe {
            (
                input(key_pem, key_pem_len)?,
                input(domain, domain_len)?,
                input(selector, selector_len)?,
                input(headers, headers_len)?,
            )
        };
        let out = out_param(out)?;
        let known = POSTERN_DKIM_CONVERT_BARE_LF
            | POSTERN_DKIM_SIMPLE_HEADER
            | POSTERN_DKIM_SIMPLE_BODY
            | POSTERN_DKIM_OVERSIGN
            | POSTERN_DKIM_BODY_LENGTH
            | POSTERN_DKIM_FOLDED;
        if flags & !known != 0 {
            return Err(postern_result::InvalidArgument);
        }
        let key = SigningKey::from_pem(utf8(key)?).map_err(|e| dkim_error(&e))?;
        let mut params = SignParams::new(utf8(domain)?, utf8(selector)?);
        let flag = |f: u32| flags & f != 0;
        let canon = |simple| {
            if simple {
                Canonicalization::Simple
            } else {
                Canonicalization::Relaxed
            }
        };
        params.header_canonicalization = canon(flag(POSTERN_DKIM_SIMPLE_HEADER));
        params.body_canonicalization = canon(flag(POSTERN_DKIM_SIMPLE_BODY));
        params.headers = utf8(headers)?
            .split(':')
            .map(str::trim)
            .filter(|h| !h.is_empty())
            .map(str::to_owned)
            .collect();
        params.oversign = flag(POSTERN_DKIM_OVERSIGN);
        params.body_length = flag(POSTERN_DKIM_BODY_LENGTH);
        params.convert_bare_lf = flag(POSTERN_DKIM_CONVERT_BARE_LF);
        params.layout = if flag(POSTERN_DKIM_FOLDED) {
            Layout::Folded
        } else {
            Layout::OneLine
        };
        params.timestamp = (timestamp != 0).then_some(timestamp);
        params.expiration = (expiration != 0).then_some(expiration);
        let signer = Signer::new(key, params).map_err(|e| dkim_error(&e))?;
        out.write(into_handle(postern_dkim_signer {
            signer,
            field: None,
        }));
        Ok(postern_result::Ok)
    })
}

/// Release a signer; NULL is a no-op.
///
/// # Safety
/// `signer` must be NULL or a handle from `postern_dkim_signer_new` not yet freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn postern_dkim_signer_free(signer: *mut postern_dkim_signer) {
    let _ = guard(|| {
        // SAFETY: per this function's contract.
        unsafe { free_handle(signer) };
        Ok(postern_result::Ok)
    });
}

/// Feed message bytes to sign (any chunk sizes).
///
/// # Safety
/// `signer` must be a live handle; `buf` must hold `len` readable bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn postern_dkim_signer_update(
    signer: *mut postern_dkim_signer,
    buf: *const u8,
    len: usize,
) -> u32 {
    guard(|| {
        // SAFETY: per this function's contract.
        let (s, buf) = unsafe { (handle(signer)?, input(buf, len)?) };
        if s.field.is_some() {
            return Err(postern_result::InvalidState);
        }
        s.signer.update(buf).map_err(|e| dkim_error(&e))?;
        Ok(postern_result::Ok)
    })
}

/// End of the message: write the `DKIM-Signature:` field (name included, ending in CRLF) to
/// prepend to the message. On `POSTERN_RESULT_BUFFER_TOO_SMALL`, `*len` is the size needed;
/// call again with a larger buffer (the signature is computed once).
///
/// # Safety
/// `signer` must be a live handle; `out` must hold `cap` writable bytes; `len` writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn postern_dkim_signer_finish(
    signer: *mut postern_dkim_signer,
    out: *mut u8,
    cap: usize,
    len: *mut usize,
) -> u32 {
    guard(|| {
        // SAFETY: per this function's contract.
        let (s, out) = unsafe { (handle(signer)?, output(out, cap)?) };
        let len = out_param(len)?;
        if s.field.is_none() {
            s.field = Some(s.signer.finish().map_err(|e| dkim_error(&e))?);
        }
        write_text(s.field.as_deref().unwrap_or_default().as_bytes(), out, len)
    })
}
