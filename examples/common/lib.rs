//! What the example programs share, so that each `main.rs` shows only its own job:
//!
//! - [`pump`]: one proxied SMTP session through [`postern_smtp::Proxy`], two threads, bounded
//!   buffers and an idle timeout (`ehlo-filter-proxy` and `starttls-proxy`).
//! - [`shutdown`]: stop accepting on SIGTERM / SIGINT (or after `--max-sessions`), let running
//!   sessions finish within a grace period, then close them.
//! - [`limits`]: the TOML limits format of `postern policy simulate` (rates, concurrency,
//!   greylisting) turned into postern-policy limiters, checked and charged as the CLI does.
//! - [`dns`]: answers for the SPF evaluator from a zone file or from a DNS server over UDP/TCP,
//!   with postern-dns's wire encoding.
//! - [`reputation`]: a CIDR list classifying clients (`192.0.2.0/24 bad`).
//! - [`now_ms`]: the system clock in milliseconds, for libraries that take time as an argument;
//!   [`log!`]: a log line on standard output that never panics.

pub mod dns;
pub mod limits;
pub mod pump;
pub mod reputation;
pub mod shutdown;

use std::io::Write;
use std::time::{SystemTime, UNIX_EPOCH};

/// Print one log line on standard output like `println!`, but never panic: a server whose
/// standard output was closed keeps serving. Lines from concurrent sessions do not interleave.
#[macro_export]
macro_rules! log {
    ($($arg:tt)*) => {
        $crate::log_line(::std::format_args!($($arg)*))
    };
}

/// The function behind [`log!`]: one line, flushed, errors ignored.
pub fn log_line(args: std::fmt::Arguments<'_>) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_fmt(args).and_then(|()| out.write_all(b"\n"));
    let _ = out.flush();
}

/// Milliseconds since the Unix epoch (0 if the clock is before it). postern-policy clamps a
/// clock that steps backwards.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// `<integer><unit>` with unit ms, s, m, h or d, in milliseconds (the duration syntax of the
/// limits format).
///
/// # Errors
/// A message naming `field` when the text has no unit, no integer or overflows.
pub fn duration_ms(field: &str, text: &str) -> Result<u64, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .ok_or_else(|| format!("{field}: {text:?} needs a unit (ms, s, m, h or d)"))?;
    let (digits, unit) = text.split_at(split);
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("{field}: {text:?} does not start with an integer"))?;
    let scale = match unit {
        "ms" => 1,
        "s" => 1000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => return Err(format!("{field}: unknown unit {unit:?} (ms, s, m, h or d)")),
    };
    n.checked_mul(scale)
        .ok_or_else(|| format!("{field}: {text:?} is too long"))
}

/// Parse `ADDR/LEN` or a bare address (a host route) into an address and a prefix length.
///
/// # Errors
/// A message when the address or the length does not parse or the length is too long.
pub fn parse_cidr(text: &str) -> Result<(std::net::IpAddr, u8), String> {
    let (ip, len) = match text.split_once('/') {
        Some((ip, len)) => (ip, Some(len)),
        None => (text, None),
    };
    let ip: std::net::IpAddr = ip
        .trim()
        .parse()
        .map_err(|_| format!("bad address in {text:?}"))?;
    let max = if ip.is_ipv4() { 32 } else { 128 };
    let len = match len {
        Some(l) => l
            .trim()
            .parse::<u8>()
            .ok()
            .filter(|&l| l <= max)
            .ok_or_else(|| format!("bad prefix length in {text:?}"))?,
        None => max,
    };
    Ok((ip, len))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_cidrs() {
        assert_eq!(duration_ms("d", "300ms"), Ok(300));
        assert_eq!(duration_ms("d", "2d"), Ok(172_800_000));
        assert!(duration_ms("d", "5").is_err());
        assert!(duration_ms("d", "5y").is_err());
        assert_eq!(
            parse_cidr("192.0.2.0/24"),
            Ok(("192.0.2.0".parse().unwrap(), 24))
        );
        assert_eq!(parse_cidr("::1"), Ok(("::1".parse().unwrap(), 128)));
        assert!(parse_cidr("192.0.2.0/33").is_err());
        assert!(parse_cidr("nope/8").is_err());
    }
}
