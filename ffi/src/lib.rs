//! The C ABI of postern (`libpostern`, header `include/postern.h`).
//!
//! # Conventions
//! - Objects are opaque handles made by `postern_<object>_new` and released by
//!   `postern_<object>_free`; freeing NULL is a no-op. A handle may move between threads but
//!   must not be used from two threads at once (no function locks).
//! - Inputs are `(const uint8_t *ptr, size_t len)`; `ptr` may be NULL only when `len` is 0.
//!   Nothing borrowed from the caller is kept after a call returns.
//! - Functions return a `uint32_t` [`postern_result`]: 0 is success, small numbers are
//!   statuses (partial input), and errors come in families (1xx misuse, 2xx SMTP, 3xx DNS, 4xx DKIM).
//!   `postern_result_str()` names every code. Out-parameters are written only on success,
//!   except that a `POSTERN_RESULT_BUFFER_TOO_SMALL` return writes the size needed to the
//!   length out-parameter.
//! - Every entry point checks its pointers and catches Rust panics (`POSTERN_RESULT_PANIC`):
//!   no panic unwinds into C.
//!
//! # Example (from Rust; C calls the same functions)
//! ```
//! use postern::*;
//! let mut p = std::ptr::null_mut();
//! let kw = b"STARTTLS";
//! assert_eq!(unsafe { postern_proxy_new(kw.as_ptr(), kw.len(), 0, &mut p) }, 0);
//! let input = b"220 mx ESMTP\r\n";
//! assert_eq!(unsafe { postern_proxy_from_server(p, input.as_ptr(), input.len()) }, 0);
//! let mut out = [0u8; 64];
//! let mut n = 0;
//! assert_eq!(unsafe { postern_proxy_take_to_client(p, out.as_mut_ptr(), out.len(), &mut n) }, 0);
//! assert_eq!(&out[..n], input);
//! unsafe { postern_proxy_free(p) };
//! ```
#![allow(non_camel_case_types)] // C names: the handle types are named as in the header.
#![allow(unsafe_code)] // The one crate that crosses the C boundary; every use is commented.

mod dkim;
mod dns;
mod policy;
mod smtp;
mod spf;

use core::ffi::c_char;
use std::panic::{AssertUnwindSafe, catch_unwind};

pub use dkim::*;
pub use dns::{
    POSTERN_DNS_NODATA, POSTERN_DNS_NXDOMAIN, POSTERN_DNS_TEMPFAIL, POSTERN_MAX_RECORDS,
    POSTERN_STEP_DONE, POSTERN_STEP_LOOKUP,
};
pub use policy::*;
pub use smtp::*;
pub use spf::*;

/// Major version of the library (the header's `POSTERN_VERSION_MAJOR`).
pub const POSTERN_VERSION_MAJOR: u32 = 0;
/// Minor version of the library.
pub const POSTERN_VERSION_MINOR: u32 = 1;
/// Patch version of the library.
pub const POSTERN_VERSION_PATCH: u32 = 0;

/// Result codes. Functions return them as `uint32_t`; numbers are never reused.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum postern_result {
    /// Success.
    Ok = 0,
    /// More input is needed (not an error): call again with more bytes.
    Partial = 1,
    /// A required pointer was NULL.
    Null = 100,
    /// Rust code panicked; the handle involved must be freed and not used again.
    Panic = 101,
    /// The output buffer is too small; the size needed was written to the length out-parameter.
    BufferTooSmall = 102,
    /// An argument is out of range (unknown flag, bad keyword list, ...).
    InvalidArgument = 103,
    /// A length larger than `PTRDIFF_MAX`.
    TooLarge = 104,
    /// The handle cannot do this now (it failed earlier).
    InvalidState = 105,
    /// SMTP: a reply code digit is out of range.
    SmtpBadCode = 200,
    /// SMTP: the byte after a reply code is not `-`, SP or the line end.
    SmtpBadSeparator = 201,
    /// SMTP: a line of a multi-line reply carries another code.
    SmtpCodeMismatch = 202,
    /// SMTP: a bare LF in strict mode.
    SmtpBareLf = 203,
    /// SMTP: a CR not followed by LF.
    SmtpBareCr = 204,
    /// SMTP: a reply line longer than 512 octets.
    SmtpLineTooLong = 205,
    /// SMTP: a reply with too many lines.
    SmtpTooManyLines = 206,
    /// SMTP: the stream ended inside a reply.
    SmtpTruncated = 207,
    /// SMTP: a client command line is too long.
    SmtpCommandTooLong = 208,
    /// SMTP: the client sent too much while a reply to DATA/AUTH/STARTTLS was awaited.
    SmtpPipelineOverrun = 209,
    /// SMTP: too many commands await replies.
    SmtpTooManyPending = 210,
    /// DNS: a response packet is malformed or is not a response.
    DnsMalformed = 300,
    /// DNS: a response packet is truncated (TC): retry over TCP.
    DnsTruncated = 301,
    /// DNS: a response packet answers another question.
    DnsQuestionMismatch = 302,
    /// DKIM: the message's header block is over the size limit.
    DkimHeaderTooLarge = 400,
    /// DKIM: the message has too many header fields.
    DkimTooManyHeaders = 401,
    /// DKIM: the private key cannot be used for signing (format, size).
    DkimPrivateKey = 402,
    /// DKIM: a signing parameter is invalid (`d=`, `s=`, `h=`, ...).
    DkimSignParameter = 403,
}

impl postern_result {
    fn name(self) -> &'static [u8] {
        match self {
            Self::Ok => b"ok\0",
            Self::Partial => b"partial input\0",
            Self::Null => b"NULL pointer argument\0",
            Self::Panic => b"internal panic\0",
            Self::BufferTooSmall => b"output buffer too small\0",
            Self::InvalidArgument => b"invalid argument\0",
            Self::TooLarge => b"length too large\0",
            Self::InvalidState => b"handle in invalid state\0",
            Self::SmtpBadCode => b"smtp: bad reply code\0",
            Self::SmtpBadSeparator => b"smtp: bad separator\0",
            Self::SmtpCodeMismatch => b"smtp: reply code mismatch\0",
            Self::SmtpBareLf => b"smtp: bare LF\0",
            Self::SmtpBareCr => b"smtp: bare CR\0",
            Self::SmtpLineTooLong => b"smtp: line too long\0",
            Self::SmtpTooManyLines => b"smtp: too many lines\0",
            Self::SmtpTruncated => b"smtp: truncated reply\0",
            Self::SmtpCommandTooLong => b"smtp: command line too long\0",
            Self::SmtpPipelineOverrun => b"smtp: pipeline overrun\0",
            Self::SmtpTooManyPending => b"smtp: too many pending commands\0",
            Self::DnsMalformed => b"dns: malformed response\0",
            Self::DnsTruncated => b"dns: truncated response\0",
            Self::DnsQuestionMismatch => b"dns: response to another question\0",
            Self::DkimHeaderTooLarge => b"dkim: header block too large\0",
            Self::DkimTooManyHeaders => b"dkim: too many header fields\0",
            Self::DkimPrivateKey => b"dkim: unusable private key\0",
            Self::DkimSignParameter => b"dkim: invalid signing parameter\0",
        }
    }

    const ALL: [Self; 26] = [
        Self::Ok,
        Self::Partial,
        Self::Null,
        Self::Panic,
        Self::BufferTooSmall,
        Self::InvalidArgument,
        Self::TooLarge,
        Self::InvalidState,
        Self::SmtpBadCode,
        Self::SmtpBadSeparator,
        Self::SmtpCodeMismatch,
        Self::SmtpBareLf,
        Self::SmtpBareCr,
        Self::SmtpLineTooLong,
        Self::SmtpTooManyLines,
        Self::SmtpTruncated,
        Self::SmtpCommandTooLong,
        Self::SmtpPipelineOverrun,
        Self::SmtpTooManyPending,
        Self::DnsMalformed,
        Self::DnsTruncated,
        Self::DnsQuestionMismatch,
        Self::DkimHeaderTooLarge,
        Self::DkimTooManyHeaders,
        Self::DkimPrivateKey,
        Self::DkimSignParameter,
    ];
}

/// The code for a DNS error.
fn dns_error(e: &postern_dns::Error) -> postern_result {
    match e {
        postern_dns::Error::Truncated => postern_result::DnsTruncated,
        postern_dns::Error::QuestionMismatch { .. } => postern_result::DnsQuestionMismatch,
        _ => postern_result::DnsMalformed,
    }
}

/// The code for an SPF evaluator error.
fn spf_error(e: &postern_spf::Error) -> postern_result {
    match e {
        postern_spf::Error::Dns { source, .. } => dns_error(source),
        postern_spf::Error::UnexpectedAnswer { .. } => postern_result::InvalidState,
        _ => postern_result::InvalidArgument,
    }
}

/// A static, NUL-terminated description of a result code (never NULL; unknown codes give
/// `"unknown result"`). The string lives as long as the program.
#[unsafe(no_mangle)]
pub extern "C" fn postern_result_str(result: u32) -> *const c_char {
    let name: &'static [u8] = postern_result::ALL
        .iter()
        .find(|r| **r as u32 == result)
        .map_or(b"unknown result\0", |r| r.name());
    name.as_ptr().cast()
}

/// The library version as `MAJOR * 10000 + MINOR * 100 + PATCH`, to compare with the
/// header's macros at run time.
#[unsafe(no_mangle)]
pub extern "C" fn postern_version_number() -> u32 {
    POSTERN_VERSION_MAJOR * 10_000 + POSTERN_VERSION_MINOR * 100 + POSTERN_VERSION_PATCH
}

/// Run an entry point's body: catch panics and turn the outcome into a code.
fn guard(body: impl FnOnce() -> Result<postern_result, postern_result>) -> u32 {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(r) | Err(r)) => r as u32,
        Err(_) => postern_result::Panic as u32,
    }
}

/// Borrow the caller's input bytes.
///
/// # Safety
/// `ptr` must point to `len` readable bytes that stay valid and unmodified for `'a`, or be
/// anything when `len` is 0.
unsafe fn input<'a>(ptr: *const u8, len: usize) -> Result<&'a [u8], postern_result> {
    if len == 0 {
        return Ok(&[]);
    }
    if ptr.is_null() {
        return Err(postern_result::Null);
    }
    if isize::try_from(len).is_err() {
        return Err(postern_result::TooLarge);
    }
    // SAFETY: non-NULL, length within isize, and the caller promises `len` readable bytes.
    Ok(unsafe { core::slice::from_raw_parts(ptr, len) })
}

/// Borrow the caller's output buffer.
///
/// # Safety
/// `ptr` must point to `cap` writable bytes, or be anything when `cap` is 0.
unsafe fn output<'a>(ptr: *mut u8, cap: usize) -> Result<&'a mut [u8], postern_result> {
    if cap == 0 {
        return Ok(&mut []);
    }
    if ptr.is_null() {
        return Err(postern_result::Null);
    }
    if isize::try_from(cap).is_err() {
        return Err(postern_result::TooLarge);
    }
    // SAFETY: non-NULL, length within isize, and the caller promises `cap` writable bytes.
    Ok(unsafe { core::slice::from_raw_parts_mut(ptr, cap) })
}

/// Borrow a handle made by a `_new` function.
///
/// # Safety
/// `ptr` must be NULL or a live handle of type `T` from this library, not used concurrently.
unsafe fn handle<'a, T>(ptr: *mut T) -> Result<&'a mut T, postern_result> {
    // SAFETY: the caller promises a live, exclusively used handle (or NULL, refused here).
    unsafe { ptr.as_mut() }.ok_or(postern_result::Null)
}

/// Check an out-parameter before any work, so that it is written only on success.
fn out_param<'a, T>(ptr: *mut T) -> Result<OutParam<'a, T>, postern_result> {
    if ptr.is_null() {
        Err(postern_result::Null)
    } else {
        Ok(OutParam {
            ptr,
            _life: core::marker::PhantomData,
        })
    }
}

/// A checked, non-NULL out-parameter.
struct OutParam<'a, T> {
    ptr: *mut T,
    _life: core::marker::PhantomData<&'a mut T>,
}

impl<T> OutParam<'_, T> {
    fn write(self, value: T) {
        // SAFETY: checked non-NULL in `out_param`; the caller promises it is writable.
        unsafe { self.ptr.write(value) }
    }
}

/// Give a new handle to C.
fn into_handle<T>(value: T) -> *mut T {
    Box::into_raw(Box::new(value))
}

/// Take back and drop a handle; NULL is a no-op.
///
/// # Safety
/// `ptr` must be NULL or a handle from `into_handle::<T>` not yet freed.
unsafe fn free_handle<T>(ptr: *mut T) {
    if !ptr.is_null() {
        // SAFETY: made by Box::into_raw in `into_handle` and not freed before (caller's promise).
        drop(unsafe { Box::from_raw(ptr) });
    }
}

#[cfg(test)]
#[allow(clippy::borrow_as_ptr)] // tests pass `&mut x` where C passes `&x`
mod tests {
    use super::*;
    use core::ffi::CStr;

    #[test]
    fn version_constants_match_the_crate_version() {
        let version =
            format!("{POSTERN_VERSION_MAJOR}.{POSTERN_VERSION_MINOR}.{POSTERN_VERSION_PATCH}");
        assert_eq!(version, env!("CARGO_PKG_VERSION"));
        assert_eq!(postern_version_number(), 100);
    }

    #[test]
    fn every_result_has_a_distinct_name_and_unknown_codes_are_named_too() {
        let mut names = std::collections::HashSet::new();
        for r in postern_result::ALL {
            // SAFETY: postern_result_str returns static NUL-terminated strings.
            let s = unsafe { CStr::from_ptr(postern_result_str(r as u32)) };
            assert!(names.insert(s.to_owned()), "{s:?}");
        }
        // SAFETY: as above.
        let unknown = unsafe { CStr::from_ptr(postern_result_str(9999)) };
        assert_eq!(unknown.to_str(), Ok("unknown result"));
    }

    #[test]
    fn guard_turns_a_panic_into_a_code() {
        assert_eq!(guard(|| panic!("boom")), postern_result::Panic as u32);
    }
}
