//! SPF: `check_host()` (RFC 7208) as a step loop driven from C.

use std::net::IpAddr;

use postern_spf::{Evaluator, Options, Outcome, Request, Step, Verdict};

use crate::dns::{
    POSTERN_STEP_DONE, POSTERN_STEP_LOOKUP, Pending, status_answer, write_query, write_text,
};
use crate::{free_handle, guard, handle, input, into_handle, out_param, output, postern_result};

/// Flag: check the HELO identity (RFC 7208 §2.3) instead of MAIL FROM.
pub const POSTERN_SPF_HELO: u32 = 1;

/// SPF result `none`.
pub const POSTERN_SPF_NONE: u32 = 0;
/// SPF result `neutral`.
pub const POSTERN_SPF_NEUTRAL: u32 = 1;
/// SPF result `pass`.
pub const POSTERN_SPF_PASS: u32 = 2;
/// SPF result `fail`.
pub const POSTERN_SPF_FAIL: u32 = 3;
/// SPF result `softfail`.
pub const POSTERN_SPF_SOFTFAIL: u32 = 4;
/// SPF result `temperror`.
pub const POSTERN_SPF_TEMPERROR: u32 = 5;
/// SPF result `permerror`.
pub const POSTERN_SPF_PERMERROR: u32 = 6;

/// Text of an outcome: the `Received-SPF:` field value (RFC 7208 §9.1), without the name.
pub const POSTERN_SPF_TEXT_RECEIVED_SPF: u32 = 0;
/// Text of an outcome: the `spf=` part of `Authentication-Results:` (RFC 8601).
pub const POSTERN_SPF_TEXT_AUTHENTICATION_RESULTS: u32 = 1;
/// Text of an outcome: the explanation (fail only; empty when none).
pub const POSTERN_SPF_TEXT_EXPLANATION: u32 = 2;
/// Text of an outcome: the mechanism that matched (empty when none).
pub const POSTERN_SPF_TEXT_MECHANISM: u32 = 3;

const VERDICTS: [(Verdict, u32, &[u8]); 7] = [
    (Verdict::None, POSTERN_SPF_NONE, b"none\0"),
    (Verdict::Neutral, POSTERN_SPF_NEUTRAL, b"neutral\0"),
    (Verdict::Pass, POSTERN_SPF_PASS, b"pass\0"),
    (Verdict::Fail, POSTERN_SPF_FAIL, b"fail\0"),
    (Verdict::SoftFail, POSTERN_SPF_SOFTFAIL, b"softfail\0"),
    (Verdict::TempError, POSTERN_SPF_TEMPERROR, b"temperror\0"),
    (Verdict::PermError, POSTERN_SPF_PERMERROR, b"permerror\0"),
];

/// The name of an SPF result (`"pass"`, ...) as a static NUL-terminated string; NULL for a
/// number that is not an SPF result.
#[unsafe(no_mangle)]
pub extern "C" fn postern_spf_result_str(result: u32) -> *const core::ffi::c_char {
    VERDICTS
        .iter()
        .find(|(_, n, _)| *n == result)
        .map_or(core::ptr::null(), |(_, _, s)| s.as_ptr().cast())
}

/// One `check_host()` evaluation. Not thread-safe; may move between threads.
pub struct postern_spf_eval {
    eval: Evaluator,
    pending: Pending,
    outcome: Option<Outcome>,
}

fn text(bytes: &[u8]) -> Result<&str, postern_result> {
    core::str::from_utf8(bytes).map_err(|_| postern_result::InvalidArgument)
}

/// Start an SPF check of the client `ip` (text, IPv4 or IPv6; an IPv4-mapped IPv6 address is
/// checked as IPv4), the HELO name `helo` and the MAIL FROM `mail_from` (without angle
/// brackets; empty for the null reverse-path, which checks `postmaster@helo`).
/// `receiver` names this host for `%{r}` and `Received-SPF` (may be empty: `unknown`);
/// `timestamp` (Unix seconds) is used for `%{t}`: the library reads no clock.
/// `flags`: 0 or `POSTERN_SPF_HELO`. All texts must be UTF-8.
///
/// # Safety
/// Each `(ptr, len)` pair must hold `len` readable bytes; `out` must be writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn postern_spf_eval_new(
    ip: *const u8,
    ip_len: usize,
    helo: *const u8,
    helo_len: usize,
    mail_from: *const u8,
    mail_from_len: usize,
    receiver: *const u8,
    receiver_len: usize,
    timestamp: u64,
    flags: u32,
    out: *mut *mut postern_spf_eval,
) -> u32 {
    guard(|| {
        // SAFETY: per this function's contract.
        let (ip, helo, mail_from, receiver) = unsafe {
            (
                input(ip, ip_len)?,
                input(helo, helo_len)?,
                input(mail_from, mail_from_len)?,
                input(receiver, receiver_len)?,
            )
        };
        let out = out_param(out)?;
        if flags & !POSTERN_SPF_HELO != 0 {
            return Err(postern_result::InvalidArgument);
        }
        let ip: IpAddr = text(ip)?
            .parse()
            .map_err(|_| postern_result::InvalidArgument)?;
        let (helo, mail_from, receiver) = (text(helo)?, text(mail_from)?, text(receiver)?);
        let request = if flags & POSTERN_SPF_HELO != 0 {
            Request::helo(ip, helo)
        } else {
            Request::mail_from(ip, mail_from, helo)
        };
        let mut options = Options::default().with_timestamp(timestamp);
        if !receiver.is_empty() {
            options = options.with_receiver(receiver);
        }
        out.write(into_handle(postern_spf_eval {
            eval: Evaluator::new(&request, &options),
            pending: Pending::default(),
            outcome: None,
        }));
        Ok(postern_result::Ok)
    })
}

/// Release an evaluation; NULL is a no-op.
///
/// # Safety
/// `eval` must be NULL or a handle from `postern_spf_eval_new` not yet freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn postern_spf_eval_free(eval: *mut postern_spf_eval) {
    let _ = guard(|| {
        // SAFETY: per this function's contract.
        unsafe { free_handle(eval) };
        Ok(postern_result::Ok)
    });
}

/// Advance the evaluation. `*step` becomes `POSTERN_STEP_LOOKUP` (read the query with
/// `postern_spf_eval_query`, answer it with one of the `postern_spf_eval_supply_*`
/// functions, then step again) or `POSTERN_STEP_DONE` (read the outcome). The evaluator
/// counts every RFC 7208 limit itself, so the loop always ends.
///
/// # Safety
/// `eval` must be a live handle; `step` must be writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn postern_spf_eval_step(eval: *mut postern_spf_eval, step: *mut u32) -> u32 {
    guard(|| {
        // SAFETY: per this function's contract.
        let e = unsafe { handle(eval)? };
        let step = out_param(step)?;
        match e.eval.step() {
            Step::Lookup(query) => {
                e.pending.handed_out(query)?;
                step.write(POSTERN_STEP_LOOKUP);
            }
            Step::Done(outcome) => {
                e.pending.clear();
                e.outcome = Some(outcome);
                step.write(POSTERN_STEP_DONE);
            }
        }
        Ok(postern_result::Ok)
    })
}

/// The pending query: its id (to pass back when answering), its RR type (`1` A, `28` AAAA,
/// `15` MX, `12` PTR, `16` TXT) and its name (ASCII, no trailing dot) written to `name`.
/// `POSTERN_RESULT_INVALID_STATE` when no query is pending; on
/// `POSTERN_RESULT_BUFFER_TOO_SMALL`, `*name_len` is the size needed (at most 253).
///
/// # Safety
/// `eval` must be a live handle; `name` must hold `name_cap` writable bytes; the other
/// out-parameters must be writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn postern_spf_eval_query(
    eval: *const postern_spf_eval,
    id: *mut u32,
    qtype: *mut u16,
    name: *mut u8,
    name_cap: usize,
    name_len: *mut usize,
) -> u32 {
    guard(|| {
        // SAFETY: per this function's contract; the handle is only read.
        let (e, name) = unsafe {
            (
                eval.as_ref().ok_or(postern_result::Null)?,
                output(name, name_cap)?,
            )
        };
        let (id, qtype, name_len) = (out_param(id)?, out_param(qtype)?, out_param(name_len)?);
        let query = e.pending.latest().ok_or(postern_result::InvalidState)?;
        write_query(query, id, qtype, name, name_len)
    })
}

/// The pending query as a DNS query packet with transaction id `txid` (recursion desired),
/// for callers that send queries themselves. On `POSTERN_RESULT_BUFFER_TOO_SMALL`, `*len` is
/// the size needed (512 always suffices).
///
/// # Safety
/// `eval` must be a live handle; `out` must hold `cap` writable bytes; `len` writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn postern_spf_eval_query_wire(
    eval: *const postern_spf_eval,
    txid: u16,
    out: *mut u8,
    cap: usize,
    len: *mut usize,
) -> u32 {
    guard(|| {
        // SAFETY: per this function's contract; the handle is only read.
        let (e, out) = unsafe {
            (
                eval.as_ref().ok_or(postern_result::Null)?,
                output(out, cap)?,
            )
        };
        let len = out_param(len)?;
        let query = e.pending.latest().ok_or(postern_result::InvalidState)?;
        let packet = query
            .to_wire(txid)
            .map_err(|_| postern_result::InvalidArgument)?;
        write_text(&packet, out, len)
    })
}

/// Answer the pending query `id` with a raw DNS response packet (from `res_query()`, c-ares,
/// unbound, ...). A malformed, truncated (TC) or mismatched packet is refused with a
/// `POSTERN_RESULT_DNS_*` code and the query stays pending: retry (over TCP after
/// truncation) or answer `POSTERN_DNS_TEMPFAIL`.
///
/// # Safety
/// `eval` must be a live handle; `packet` must hold `len` readable bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn postern_spf_eval_supply_wire(
    eval: *mut postern_spf_eval,
    id: u32,
    packet: *const u8,
    len: usize,
) -> u32 {
    guard(|| {
        // SAFETY: per this function's contract.
        let (e, packet) = unsafe { (handle(eval)?, input(packet, len)?) };
        e.pending.check(id)?;
        e.eval
            .supply_wire(id, packet)
            .map_err(|err| crate::spf_error(&err))?;
        e.pending.clear();
        Ok(postern_result::Ok)
    })
}

/// Answer the pending query `id` with a status: `POSTERN_DNS_NXDOMAIN`, `POSTERN_DNS_NODATA`
/// or `POSTERN_DNS_TEMPFAIL`.
///
/// # Safety
/// `eval` must be a live handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn postern_spf_eval_supply_status(
    eval: *mut postern_spf_eval,
    id: u32,
    status: u32,
) -> u32 {
    guard(|| {
        // SAFETY: per this function's contract.
        let e = unsafe { handle(eval)? };
        e.pending.check(id)?;
        let answer = status_answer(status)?;
        e.eval
            .supply(id, answer)
            .map_err(|err| crate::spf_error(&err))?;
        e.pending.clear();
        Ok(postern_result::Ok)
    })
}

/// Add one record to the answer being built for the pending query `id`, in the query's type:
/// TXT the text (character-strings joined), A 4 bytes, AAAA 16 bytes (network order), MX
/// `"PREFERENCE EXCHANGE"` (`"0 ."` for a null MX), PTR the target name. Then call
/// `postern_spf_eval_supply_records`. At most `POSTERN_MAX_RECORDS` records.
///
/// # Safety
/// `eval` must be a live handle; `data` must hold `len` readable bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn postern_spf_eval_add_record(
    eval: *mut postern_spf_eval,
    id: u32,
    data: *const u8,
    len: usize,
) -> u32 {
    guard(|| {
        // SAFETY: per this function's contract.
        let (e, data) = unsafe { (handle(eval)?, input(data, len)?) };
        e.pending.add(id, data)?;
        Ok(postern_result::Ok)
    })
}

/// Answer the pending query `id` with the records added (none added: NODATA).
///
/// # Safety
/// `eval` must be a live handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn postern_spf_eval_supply_records(
    eval: *mut postern_spf_eval,
    id: u32,
) -> u32 {
    guard(|| {
        // SAFETY: per this function's contract.
        let e = unsafe { handle(eval)? };
        let answer = e.pending.records_answer(id)?;
        e.eval
            .supply(id, answer)
            .map_err(|err| crate::spf_error(&err))?;
        e.pending.clear();
        Ok(postern_result::Ok)
    })
}

fn outcome<'a>(eval: *const postern_spf_eval) -> Result<&'a Outcome, postern_result> {
    // SAFETY: the callers' contracts: a live handle, only read; the borrow does not outlive
    // the entry point that asked for it.
    let e = unsafe { eval.as_ref() }.ok_or(postern_result::Null)?;
    e.outcome.as_ref().ok_or(postern_result::InvalidState)
}

/// The result (`POSTERN_SPF_*`) and the number of DNS-querying terms and void lookups
/// counted, once `postern_spf_eval_step` said `POSTERN_STEP_DONE`
/// (`POSTERN_RESULT_INVALID_STATE` before).
///
/// # Safety
/// `eval` must be a live handle; the out-parameters must be writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn postern_spf_eval_result(
    eval: *const postern_spf_eval,
    result: *mut u32,
    dns_lookups: *mut u32,
    void_lookups: *mut u32,
) -> u32 {
    guard(|| {
        let (result, dns, void) = (
            out_param(result)?,
            out_param(dns_lookups)?,
            out_param(void_lookups)?,
        );
        let o = outcome(eval)?;
        let code = VERDICTS
            .iter()
            .find(|(v, _, _)| *v == o.verdict)
            .map_or(POSTERN_SPF_PERMERROR, |(_, n, _)| *n);
        result.write(code);
        dns.write(o.dns_lookups);
        void.write(o.void_lookups);
        Ok(postern_result::Ok)
    })
}

/// A text of the outcome (`POSTERN_SPF_TEXT_*`) into `out`, not NUL-terminated; `*len` is
/// its length (0 for an absent explanation or mechanism). On
/// `POSTERN_RESULT_BUFFER_TOO_SMALL`, `*len` is the size needed.
///
/// # Safety
/// `eval` must be a live handle; `out` must hold `cap` writable bytes; `len` writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn postern_spf_eval_text(
    eval: *const postern_spf_eval,
    which: u32,
    out: *mut u8,
    cap: usize,
    len: *mut usize,
) -> u32 {
    guard(|| {
        // SAFETY: per this function's contract.
        let out = unsafe { output(out, cap)? };
        let len = out_param(len)?;
        let o = outcome(eval)?;
        let text = match which {
            POSTERN_SPF_TEXT_RECEIVED_SPF => o.received_spf(),
            POSTERN_SPF_TEXT_AUTHENTICATION_RESULTS => o.authentication_results(),
            POSTERN_SPF_TEXT_EXPLANATION => o.explanation.clone().unwrap_or_default(),
            POSTERN_SPF_TEXT_MECHANISM => o.mechanism().map(|m| m.to_string()).unwrap_or_default(),
            _ => return Err(postern_result::InvalidArgument),
        };
        write_text(text.as_bytes(), out, len)
    })
}

#[cfg(test)]
#[allow(clippy::borrow_as_ptr)] // tests pass `&mut x` where C passes `&x`
mod tests {
    use super::*;
    use core::ptr::null_mut;

    /// Run a check answering from a tiny table with typed records.
    fn check(ip: &str, sender: &str, table: &[(&str, u16, &[u8])]) -> (u32, String) {
        let mut e = null_mut();
        // SAFETY: valid buffers and handle throughout.
        unsafe {
            let helo = b"mail.example.org";
            assert_eq!(
                postern_spf_eval_new(
                    ip.as_ptr(),
                    ip.len(),
                    helo.as_ptr(),
                    helo.len(),
                    sender.as_ptr(),
                    sender.len(),
                    core::ptr::null(),
                    0,
                    0,
                    0,
                    &mut e,
                ),
                0
            );
            loop {
                let mut step = 0;
                assert_eq!(postern_spf_eval_step(e, &mut step), 0);
                if step == POSTERN_STEP_DONE {
                    break;
                }
                let (mut id, mut qtype, mut n) = (0u32, 0u16, 0usize);
                let mut name = [0u8; 256];
                assert_eq!(
                    postern_spf_eval_query(
                        e,
                        &mut id,
                        &mut qtype,
                        name.as_mut_ptr(),
                        name.len(),
                        &mut n
                    ),
                    0
                );
                let name = core::str::from_utf8(&name[..n]).unwrap();
                let mut found = false;
                for (owner, t, data) in table {
                    if *owner == name && *t == qtype {
                        found = true;
                        assert_eq!(
                            postern_spf_eval_add_record(e, id, data.as_ptr(), data.len()),
                            0
                        );
                    }
                }
                let r = if found {
                    postern_spf_eval_supply_records(e, id)
                } else {
                    postern_spf_eval_supply_status(e, id, crate::POSTERN_DNS_NXDOMAIN)
                };
                assert_eq!(r, 0);
            }
            let (mut result, mut dns, mut void) = (0, 0, 0);
            assert_eq!(
                postern_spf_eval_result(e, &mut result, &mut dns, &mut void),
                0
            );
            let mut buf = [0u8; 512];
            let mut n = 0;
            assert_eq!(
                postern_spf_eval_text(
                    e,
                    POSTERN_SPF_TEXT_AUTHENTICATION_RESULTS,
                    buf.as_mut_ptr(),
                    buf.len(),
                    &mut n
                ),
                0
            );
            postern_spf_eval_free(e);
            (result, String::from_utf8(buf[..n].to_vec()).unwrap())
        }
    }

    #[test]
    fn typed_answers_drive_a_check_to_its_result() {
        let table: &[(&str, u16, &[u8])] = &[
            ("example.com", 16, b"v=spf1 mx -all"),
            ("example.com", 15, b"10 mx.example.com"),
            ("mx.example.com", 1, &[192, 0, 2, 7]),
        ];
        assert_eq!(
            check("192.0.2.7", "a@example.com", table).0,
            POSTERN_SPF_PASS
        );
        let (result, ar) = check("192.0.2.8", "a@example.com", table);
        assert_eq!(
            (result, ar.as_str()),
            (POSTERN_SPF_FAIL, "spf=fail smtp.mailfrom=a@example.com")
        );
    }

    #[test]
    fn misuse_is_refused() {
        let mut e = null_mut();
        // SAFETY: valid pointers; the misuse is in the values.
        unsafe {
            let bad_ip = b"999.1.1.1";
            assert_eq!(
                postern_spf_eval_new(
                    bad_ip.as_ptr(),
                    bad_ip.len(),
                    core::ptr::null(),
                    0,
                    core::ptr::null(),
                    0,
                    core::ptr::null(),
                    0,
                    0,
                    0,
                    &mut e
                ),
                postern_result::InvalidArgument as u32
            );
            let ip = b"192.0.2.1";
            let helo = b"\xff";
            assert_eq!(
                postern_spf_eval_new(
                    ip.as_ptr(),
                    ip.len(),
                    helo.as_ptr(),
                    1,
                    core::ptr::null(),
                    0,
                    core::ptr::null(),
                    0,
                    0,
                    0,
                    &mut e
                ),
                postern_result::InvalidArgument as u32
            );
            let helo = b"example.org";
            assert_eq!(
                postern_spf_eval_new(
                    ip.as_ptr(),
                    ip.len(),
                    helo.as_ptr(),
                    helo.len(),
                    core::ptr::null(),
                    0,
                    core::ptr::null(),
                    0,
                    0,
                    POSTERN_SPF_HELO,
                    &mut e
                ),
                0
            );
            let (mut r, mut d, mut v) = (0, 0, 0);
            assert_eq!(
                postern_spf_eval_result(e, &mut r, &mut d, &mut v),
                postern_result::InvalidState as u32
            );
            assert_eq!(
                postern_spf_eval_supply_status(e, 1, 2),
                postern_result::InvalidState as u32
            );
            let mut step = 0;
            assert_eq!(postern_spf_eval_step(e, &mut step), 0);
            assert_eq!(step, POSTERN_STEP_LOOKUP);
            assert_eq!(
                postern_spf_eval_supply_status(e, 1, 99),
                postern_result::InvalidArgument as u32
            );
            assert_eq!(
                postern_spf_eval_add_record(e, 2, b"x".as_ptr(), 1),
                postern_result::InvalidState as u32
            );
            assert_eq!(
                postern_spf_eval_supply_wire(e, 1, [0u8, 0].as_ptr(), 2),
                postern_result::DnsMalformed as u32
            );
            assert_eq!(
                postern_spf_eval_supply_status(e, 1, crate::POSTERN_DNS_TEMPFAIL),
                0
            );
            assert_eq!(postern_spf_eval_step(e, &mut step), 0);
            assert_eq!(step, POSTERN_STEP_DONE);
            assert_eq!(postern_spf_eval_result(e, &mut r, &mut d, &mut v), 0);
            assert_eq!(r, POSTERN_SPF_TEMPERROR);
            postern_spf_eval_free(e);
        }
    }
}
