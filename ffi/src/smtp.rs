//! SMTP: the reply parser, the EHLO rewriter and the proxy.

use postern_smtp::{
    CapabilityFilter, Ehlo, Error, ErrorKind, Mode, Proxy, ProxyConfig, ProxyState, ReplyParser,
    Status,
};

use crate::{free_handle, guard, handle, input, into_handle, out_param, output, postern_result};

/// Flag: accept a bare LF as a line terminator in server replies (default: only CRLF).
pub const POSTERN_FLAG_LENIENT: u32 = 1;
/// Flag (proxy): the session starts after the server's greeting, not before it.
pub const POSTERN_FLAG_NO_GREETING: u32 = 2;

/// Proxy state: plaintext SMTP, both directions parsed.
pub const POSTERN_PROXY_PLAINTEXT: u32 = 0;
/// Proxy state: the server accepted STARTTLS; bytes are relayed raw both ways.
pub const POSTERN_PROXY_TLS: u32 = 1;

fn result_of(e: &Error) -> postern_result {
    match e.kind() {
        ErrorKind::BadCode => postern_result::SmtpBadCode,
        ErrorKind::BadSeparator => postern_result::SmtpBadSeparator,
        ErrorKind::CodeMismatch => postern_result::SmtpCodeMismatch,
        ErrorKind::BareLf => postern_result::SmtpBareLf,
        ErrorKind::BareCr => postern_result::SmtpBareCr,
        ErrorKind::LineTooLong => postern_result::SmtpLineTooLong,
        ErrorKind::TooManyLines => postern_result::SmtpTooManyLines,
        ErrorKind::Truncated => postern_result::SmtpTruncated,
        ErrorKind::CommandTooLong => postern_result::SmtpCommandTooLong,
        ErrorKind::PipelineOverrun => postern_result::SmtpPipelineOverrun,
        ErrorKind::TooManyPending => postern_result::SmtpTooManyPending,
        ErrorKind::BufferTooSmall => postern_result::BufferTooSmall,
        // Kinds added later map to the generic code until given their own.
        _ => postern_result::InvalidArgument,
    }
}

fn mode_of(flags: u32, allowed: u32) -> Result<Mode, postern_result> {
    if flags & !allowed != 0 {
        return Err(postern_result::InvalidArgument);
    }
    Ok(if flags & POSTERN_FLAG_LENIENT != 0 {
        Mode::Lenient
    } else {
        Mode::Strict
    })
}

/// A comma- or blank-separated keyword list (`"STARTTLS,REQUIRETLS"`) as a filter.
fn filter_of(list: &[u8]) -> Result<CapabilityFilter, postern_result> {
    let mut filter = CapabilityFilter::new();
    for keyword in list
        .split(|&b| b == b',' || b == b' ' || b == b'\t')
        .filter(|k| !k.is_empty())
    {
        if !keyword
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || *b == b'-')
        {
            return Err(postern_result::InvalidArgument);
        }
        filter = filter
            .try_withhold(keyword)
            .map_err(|_| postern_result::InvalidArgument)?;
    }
    Ok(filter)
}

/// A resumable SMTP reply parser (see `postern_reply_parser_parse`).
pub struct postern_reply_parser {
    parser: ReplyParser,
    last_error: Option<Error>,
}

/// Make a reply parser. `flags`: 0 or `POSTERN_FLAG_LENIENT`. On success `*out` owns a new
/// handle; release it with `postern_reply_parser_free`.
///
/// # Safety
/// `out` must be a writable pointer.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn postern_reply_parser_new(
    flags: u32,
    out: *mut *mut postern_reply_parser,
) -> u32 {
    guard(|| {
        let out = out_param(out)?;
        let mode = mode_of(flags, POSTERN_FLAG_LENIENT)?;
        out.write(into_handle(postern_reply_parser {
            parser: ReplyParser::new(mode),
            last_error: None,
        }));
        Ok(postern_result::Ok)
    })
}

/// Release a reply parser; NULL is a no-op.
///
/// # Safety
/// `parser` must be NULL or a handle from `postern_reply_parser_new` not yet freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn postern_reply_parser_free(parser: *mut postern_reply_parser) {
    // SAFETY: per this function's contract.
    let _ = guard(|| {
        unsafe { free_handle(parser) };
        Ok(postern_result::Ok)
    });
}

/// Parse the reply at the start of `buf`.
///
/// Returns `POSTERN_RESULT_OK` with the reply's code, line count and length (`*consumed`:
/// drop that many bytes before parsing the next reply), `POSTERN_RESULT_PARTIAL` when more
/// bytes are needed (call again with the same buffer extended: bytes already examined are not
/// examined again), or an SMTP error code (see `postern_reply_parser_last_error`). After OK or
/// an error the parser is ready for the next reply.
///
/// # Safety
/// `parser` must be a live handle; `buf` must hold `len` readable bytes; `code`, `lines` and
/// `consumed` must be writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn postern_reply_parser_parse(
    parser: *mut postern_reply_parser,
    buf: *const u8,
    len: usize,
    code: *mut u16,
    lines: *mut u32,
    consumed: *mut usize,
) -> u32 {
    guard(|| {
        // SAFETY: per this function's contract.
        let (p, buf) = unsafe { (handle(parser)?, input(buf, len)?) };
        let (code, lines, consumed) = (out_param(code)?, out_param(lines)?, out_param(consumed)?);
        match p.parser.parse(buf) {
            Ok(Status::Complete(reply)) => {
                code.write(reply.code().as_u16());
                lines.write(reply.line_count());
                consumed.write(reply.len());
                Ok(postern_result::Ok)
            }
            Ok(Status::Partial) => Ok(postern_result::Partial),
            Err(e) => {
                p.last_error = Some(e);
                Err(result_of(&e))
            }
        }
    })
}

/// Report the end of the stream with `buf` holding the bytes left unparsed: OK when empty,
/// `POSTERN_RESULT_SMTP_TRUNCATED` when they are part of a reply.
///
/// # Safety
/// `parser` must be a live handle; `buf` must hold `len` readable bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn postern_reply_parser_finish(
    parser: *mut postern_reply_parser,
    buf: *const u8,
    len: usize,
) -> u32 {
    guard(|| {
        // SAFETY: per this function's contract.
        let (p, buf) = unsafe { (handle(parser)?, input(buf, len)?) };
        p.parser
            .finish(buf)
            .map(|()| postern_result::Ok)
            .map_err(|e| {
                p.last_error = Some(e);
                result_of(&e)
            })
    })
}

/// Where the last error of this parser was: the 1-based line within the failing reply and the
/// byte offset from the reply's start. `POSTERN_RESULT_INVALID_STATE` if there was none.
///
/// # Safety
/// `parser` must be a live handle; `line` and `offset` must be writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn postern_reply_parser_last_error(
    parser: *const postern_reply_parser,
    line: *mut u32,
    offset: *mut usize,
) -> u32 {
    guard(|| {
        // SAFETY: per this function's contract; only read.
        let p = unsafe { parser.as_ref() }.ok_or(postern_result::Null)?;
        let (line, offset) = (out_param(line)?, out_param(offset)?);
        let e = p.last_error.ok_or(postern_result::InvalidState)?;
        line.write(e.line().unwrap_or(0));
        offset.write(e.offset().unwrap_or(0));
        Ok(postern_result::Ok)
    })
}

/// Rewrite the complete reply at the start of `buf` as an EHLO reply without the capabilities
/// listed in `keywords` (comma- or blank-separated, case-insensitive, e.g. `"STARTTLS"`; at
/// most 32 distinct keywords, else `POSTERN_RESULT_INVALID_ARGUMENT`). A reply whose code is
/// not 250 is copied unchanged.
///
/// On OK, `*out_len` bytes were written to `out` and `*consumed` is the reply's length in
/// `buf`. `POSTERN_RESULT_PARTIAL`: `buf` holds no complete reply yet. Output is never longer
/// than the reply, so `out_cap >= len` always suffices; on `POSTERN_RESULT_BUFFER_TOO_SMALL`
/// `*out_len` is the size needed.
///
/// # Safety
/// `keywords` and `buf` must hold their lengths in readable bytes; `out` must hold `out_cap`
/// writable bytes; `out_len` and `consumed` must be writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn postern_ehlo_rewrite(
    keywords: *const u8,
    keywords_len: usize,
    flags: u32,
    buf: *const u8,
    len: usize,
    out: *mut u8,
    out_cap: usize,
    out_len: *mut usize,
    consumed: *mut usize,
) -> u32 {
    guard(|| {
        // SAFETY: per this function's contract.
        let (keywords, buf, out) = unsafe {
            (
                input(keywords, keywords_len)?,
                input(buf, len)?,
                output(out, out_cap)?,
            )
        };
        let (out_len, consumed) = (out_param(out_len)?, out_param(consumed)?);
        let filter = filter_of(keywords)?;
        let mode = mode_of(flags, POSTERN_FLAG_LENIENT)?;
        let reply = match ReplyParser::new(mode).parse(buf) {
            Ok(Status::Complete(reply)) => reply,
            Ok(Status::Partial) => return Ok(postern_result::Partial),
            Err(e) => return Err(result_of(&e)),
        };
        match filter.rewrite_to_slice(&reply, out) {
            Ok((written, _removed)) => {
                out_len.write(written);
                consumed.write(reply.len());
                Ok(postern_result::Ok)
            }
            Err(Error::BufferTooSmall { needed }) => {
                out_len.write(needed);
                Err(postern_result::BufferTooSmall)
            }
            Err(e) => Err(result_of(&e)),
        }
    })
}

/// Whether the complete reply at the start of `buf` is a 250 EHLO reply advertising
/// `keyword` (case-insensitive, first token of a capability line). `POSTERN_RESULT_PARTIAL`
/// when `buf` holds no complete reply.
///
/// # Safety
/// `buf` and `keyword` must hold their lengths in readable bytes; `has` must be writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn postern_ehlo_has(
    flags: u32,
    buf: *const u8,
    len: usize,
    keyword: *const u8,
    keyword_len: usize,
    has: *mut bool,
) -> u32 {
    guard(|| {
        // SAFETY: per this function's contract.
        let (buf, keyword) = unsafe { (input(buf, len)?, input(keyword, keyword_len)?) };
        let has = out_param(has)?;
        let mode = mode_of(flags, POSTERN_FLAG_LENIENT)?;
        match ReplyParser::new(mode).parse(buf) {
            Ok(Status::Complete(reply)) => {
                has.write(Ehlo::new(&reply).is_some_and(|e| e.capability(keyword).is_some()));
                Ok(postern_result::Ok)
            }
            Ok(Status::Partial) => Ok(postern_result::Partial),
            Err(e) => Err(result_of(&e)),
        }
    })
}

/// One session of a transparent SMTP proxy that withholds EHLO capabilities. Feed it what
/// each peer sends; take what must go to each peer. See `postern_proxy_new`.
pub struct postern_proxy {
    proxy: Proxy,
    to_server: Vec<u8>,
    to_client: Vec<u8>,
    failed: bool,
}

/// Make a proxy session withholding `keywords` (comma- or blank-separated, e.g.
/// `"STARTTLS,REQUIRETLS"`; empty withholds nothing; at most 32 distinct keywords, else
/// `POSTERN_RESULT_INVALID_ARGUMENT`). `flags`: `POSTERN_FLAG_LENIENT`,
/// `POSTERN_FLAG_NO_GREETING`. Withheld commands are answered with
/// `502 5.5.1 Error: command not implemented`. Release with `postern_proxy_free`.
///
/// # Safety
/// `keywords` must hold `keywords_len` readable bytes; `out` must be writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn postern_proxy_new(
    keywords: *const u8,
    keywords_len: usize,
    flags: u32,
    out: *mut *mut postern_proxy,
) -> u32 {
    guard(|| {
        // SAFETY: per this function's contract.
        let keywords = unsafe { input(keywords, keywords_len)? };
        let out = out_param(out)?;
        let mode = mode_of(flags, POSTERN_FLAG_LENIENT | POSTERN_FLAG_NO_GREETING)?;
        let config = ProxyConfig {
            filter: filter_of(keywords)?,
            mode,
            expect_greeting: flags & POSTERN_FLAG_NO_GREETING == 0,
            ..ProxyConfig::default()
        };
        out.write(into_handle(postern_proxy {
            proxy: Proxy::new(config),
            to_server: Vec::new(),
            to_client: Vec::new(),
            failed: false,
        }));
        Ok(postern_result::Ok)
    })
}

/// Release a proxy session; NULL is a no-op.
///
/// # Safety
/// `proxy` must be NULL or a handle from `postern_proxy_new` not yet freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn postern_proxy_free(proxy: *mut postern_proxy) {
    // SAFETY: per this function's contract.
    let _ = guard(|| {
        unsafe { free_handle(proxy) };
        Ok(postern_result::Ok)
    });
}

/// Feed bytes read from one peer. An error means that peer broke the protocol: close the
/// session (the handle then refuses input with `POSTERN_RESULT_INVALID_STATE`).
fn feed(proxy: *mut postern_proxy, buf: *const u8, len: usize, from_client: bool) -> u32 {
    guard(|| {
        // SAFETY: the callers' contracts (live handle, readable bytes) are this one's.
        let (p, buf) = unsafe { (handle(proxy)?, input(buf, len)?) };
        if p.failed {
            return Err(postern_result::InvalidState);
        }
        let fed = if from_client {
            p.proxy.from_client(buf, &mut p.to_server, &mut p.to_client)
        } else {
            p.proxy.from_server(buf, &mut p.to_client, &mut p.to_server)
        };
        fed.map(|()| postern_result::Ok).map_err(|e| {
            p.failed = true;
            result_of(&e)
        })
    })
}

/// Feed bytes read from the client; then take what is due with `postern_proxy_take_to_server`
/// and `postern_proxy_take_to_client`.
///
/// # Safety
/// `proxy` must be a live handle; `buf` must hold `len` readable bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn postern_proxy_from_client(
    proxy: *mut postern_proxy,
    buf: *const u8,
    len: usize,
) -> u32 {
    feed(proxy, buf, len, true)
}

/// Feed bytes read from the server; then take what is due.
///
/// # Safety
/// `proxy` must be a live handle; `buf` must hold `len` readable bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn postern_proxy_from_server(
    proxy: *mut postern_proxy,
    buf: *const u8,
    len: usize,
) -> u32 {
    feed(proxy, buf, len, false)
}

fn take(
    proxy: *mut postern_proxy,
    out: *mut u8,
    cap: usize,
    written: *mut usize,
    to_server: bool,
) -> u32 {
    guard(|| {
        // SAFETY: the callers' contracts (live handle, writable bytes) are this one's.
        let (p, out) = unsafe { (handle(proxy)?, output(out, cap)?) };
        let written = out_param(written)?;
        let queue = if to_server {
            &mut p.to_server
        } else {
            &mut p.to_client
        };
        let n = queue.len().min(out.len());
        if let (Some(dst), Some(src)) = (out.get_mut(..n), queue.get(..n)) {
            dst.copy_from_slice(src);
        }
        queue.drain(..n);
        written.write(n);
        Ok(postern_result::Ok)
    })
}

/// Copy up to `cap` bytes due to the server into `out` and remove them from the queue;
/// `*written` says how many. Call until `postern_proxy_pending_to_server` is 0.
///
/// # Safety
/// `proxy` must be a live handle; `out` must hold `cap` writable bytes; `written` writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn postern_proxy_take_to_server(
    proxy: *mut postern_proxy,
    out: *mut u8,
    cap: usize,
    written: *mut usize,
) -> u32 {
    take(proxy, out, cap, written, true)
}

/// Copy up to `cap` bytes due to the client into `out` and remove them from the queue.
///
/// # Safety
/// `proxy` must be a live handle; `out` must hold `cap` writable bytes; `written` writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn postern_proxy_take_to_client(
    proxy: *mut postern_proxy,
    out: *mut u8,
    cap: usize,
    written: *mut usize,
) -> u32 {
    take(proxy, out, cap, written, false)
}

/// Bytes queued for the server (0 for NULL).
///
/// # Safety
/// `proxy` must be NULL or a live handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn postern_proxy_pending_to_server(proxy: *const postern_proxy) -> usize {
    // SAFETY: per this function's contract; only read.
    unsafe { proxy.as_ref() }.map_or(0, |p| p.to_server.len())
}

/// Bytes queued for the client (0 for NULL).
///
/// # Safety
/// `proxy` must be NULL or a live handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn postern_proxy_pending_to_client(proxy: *const postern_proxy) -> usize {
    // SAFETY: per this function's contract; only read.
    unsafe { proxy.as_ref() }.map_or(0, |p| p.to_client.len())
}

/// The session's state: `POSTERN_PROXY_PLAINTEXT` or `POSTERN_PROXY_TLS` (relay raw bytes
/// from now on), and the plaintext octets discarded as injected after STARTTLS
/// (CVE-2011-0411): from the client before the server's 220, from the server after it.
///
/// # Safety
/// `proxy` must be a live handle; the out-parameters must be writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn postern_proxy_state(
    proxy: *const postern_proxy,
    state: *mut u32,
    injected_client: *mut u64,
    injected_server: *mut u64,
) -> u32 {
    guard(|| {
        // SAFETY: per this function's contract; only read.
        let p = unsafe { proxy.as_ref() }.ok_or(postern_result::Null)?;
        let (state, ic, is) = (
            out_param(state)?,
            out_param(injected_client)?,
            out_param(injected_server)?,
        );
        state.write(match p.proxy.state() {
            ProxyState::Plaintext => POSTERN_PROXY_PLAINTEXT,
            ProxyState::Tls => POSTERN_PROXY_TLS,
        });
        ic.write(p.proxy.injected_client_bytes());
        is.write(p.proxy.injected_server_bytes());
        Ok(postern_result::Ok)
    })
}

#[cfg(test)]
#[allow(clippy::borrow_as_ptr)] // tests pass `&mut x` where C passes `&x`
mod tests {
    use super::*;
    use core::ptr::{null, null_mut};

    #[test]
    fn null_arguments_are_refused_and_out_params_untouched() {
        let mut code = 7u16;
        let (mut lines, mut consumed) = (7u32, 7usize);
        // SAFETY: NULL handle is allowed and refused.
        let r = unsafe {
            postern_reply_parser_parse(
                null_mut(),
                b"250 ok\r\n".as_ptr(),
                8,
                &mut code,
                &mut lines,
                &mut consumed,
            )
        };
        assert_eq!(r, postern_result::Null as u32);
        assert_eq!((code, lines, consumed), (7, 7, 7));
        // SAFETY: NULL out pointer is refused.
        assert_eq!(
            unsafe { postern_reply_parser_new(0, null_mut()) },
            postern_result::Null as u32
        );
        let mut p = null_mut();
        // SAFETY: valid out pointer.
        assert_eq!(unsafe { postern_reply_parser_new(0, &mut p) }, 0);
        // SAFETY: NULL input with non-zero length is refused; with zero length it is empty.
        unsafe {
            assert_eq!(
                postern_reply_parser_parse(p, null(), 3, &mut code, &mut lines, &mut consumed),
                postern_result::Null as u32
            );
            assert_eq!(
                postern_reply_parser_parse(p, null(), 0, &mut code, &mut lines, &mut consumed),
                postern_result::Partial as u32
            );
            postern_reply_parser_free(p);
            postern_reply_parser_free(null_mut());
        }
    }

    #[test]
    fn unknown_flags_and_bad_keyword_lists_are_invalid_arguments() {
        let mut p = null_mut();
        // SAFETY: valid pointers.
        unsafe {
            assert_eq!(
                postern_reply_parser_new(0x80, &mut p),
                postern_result::InvalidArgument as u32
            );
            let bad = b"START TLS=";
            assert_eq!(
                postern_proxy_new(bad.as_ptr(), bad.len(), 0, &mut null_mut()),
                postern_result::InvalidArgument as u32
            );
        }
    }

    #[test]
    fn rewrite_reports_the_size_needed() {
        let reply = b"250-mx\r\n250-STARTTLS\r\n250 SIZE 1\r\n";
        let kw = b"starttls";
        let mut out = [0u8; 8];
        let (mut n, mut consumed) = (0usize, 0usize);
        // SAFETY: valid buffers.
        let r = unsafe {
            postern_ehlo_rewrite(
                kw.as_ptr(),
                kw.len(),
                0,
                reply.as_ptr(),
                reply.len(),
                out.as_mut_ptr(),
                out.len(),
                &mut n,
                &mut consumed,
            )
        };
        assert_eq!(
            (r, n, consumed),
            (postern_result::BufferTooSmall as u32, 20, 0)
        );
        let mut big = [0u8; 64];
        // SAFETY: valid buffers.
        let r = unsafe {
            postern_ehlo_rewrite(
                kw.as_ptr(),
                kw.len(),
                0,
                reply.as_ptr(),
                reply.len(),
                big.as_mut_ptr(),
                big.len(),
                &mut n,
                &mut consumed,
            )
        };
        assert_eq!(
            (r, &big[..n], consumed),
            (0, &b"250-mx\r\n250 SIZE 1\r\n"[..], reply.len())
        );
    }

    #[test]
    fn proxy_refuses_input_after_a_protocol_error() {
        let mut p = null_mut();
        // SAFETY: valid pointers throughout.
        unsafe {
            assert_eq!(postern_proxy_new(null(), 0, 0, &mut p), 0);
            let bad = b"999 no\r\n";
            assert_eq!(
                postern_proxy_from_server(p, bad.as_ptr(), bad.len()),
                postern_result::SmtpBadCode as u32
            );
            let ok = b"220 ok\r\n";
            assert_eq!(
                postern_proxy_from_server(p, ok.as_ptr(), ok.len()),
                postern_result::InvalidState as u32
            );
            postern_proxy_free(p);
        }
    }
}
