//! Client commands, recognised just enough to guard a proxy (RFC 5321 §4.1).

use crate::{CapabilityFilter, Context};

/// Maximum octets of one client command line before its terminator. RFC 5321 §4.5.3.1.4 sets
/// 512, but RFC 4954 §4 lets an AUTH line (initial response) reach 12288 octets.
pub const MAX_COMMAND_LINE: usize = 12288;

/// A client command line, classified by its verb (case-insensitive).
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command<'a> {
    /// `HELO`.
    Helo,
    /// `EHLO` (RFC 5321) or `LHLO` (RFC 2033).
    Ehlo,
    /// `STARTTLS` (RFC 3207).
    StartTls,
    /// `AUTH` (RFC 4954).
    Auth,
    /// `DATA`.
    Data,
    /// `BDAT chunk-size [LAST]` (RFC 3030 §2); a malformed BDAT line is [`Command::Other`].
    Bdat {
        /// Octets of message data that follow the command line.
        size: u64,
        /// Whether this is the last chunk.
        last: bool,
    },
    /// `QUIT`.
    Quit,
    /// Anything else, by its verb as sent.
    Other(&'a [u8]),
}

impl<'a> Command<'a> {
    /// Classify a command line (with or without its CRLF).
    ///
    /// # Examples
    /// ```
    /// use postern_smtp::Command;
    /// assert_eq!(Command::parse(b"starttls\r\n"), Command::StartTls);
    /// assert_eq!(Command::parse(b"BDAT 1000 LAST\r\n"), Command::Bdat { size: 1000, last: true });
    /// assert_eq!(Command::parse(b"MAIL FROM:<a@b>\r\n"), Command::Other(b"MAIL"));
    /// ```
    pub fn parse(line: &'a [u8]) -> Self {
        let line = line.strip_suffix(b"\n").unwrap_or(line);
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let mut words = line.split(|&b| b == b' ').filter(|w| !w.is_empty());
        let verb = words.next().unwrap_or(&[]);
        let is = |name: &[u8]| verb.eq_ignore_ascii_case(name);
        if is(b"EHLO") || is(b"LHLO") {
            Self::Ehlo
        } else if is(b"HELO") {
            Self::Helo
        } else if is(b"STARTTLS") {
            Self::StartTls
        } else if is(b"AUTH") {
            Self::Auth
        } else if is(b"DATA") {
            Self::Data
        } else if is(b"QUIT") {
            Self::Quit
        } else if is(b"BDAT") {
            parse_bdat(words).unwrap_or(Self::Other(verb))
        } else {
            Self::Other(verb)
        }
    }

    /// The context of the reply this command gets.
    pub fn context(&self) -> Context {
        match self {
            Self::Ehlo => Context::Ehlo,
            Self::StartTls => Context::StartTls,
            Self::Auth => Context::Auth,
            Self::Data => Context::Data,
            Self::Helo | Self::Bdat { .. } | Self::Quit | Self::Other(_) => Context::Other,
        }
    }

    /// Whether the command belongs to an extension that `filter` withholds, so the server must
    /// not see it: its verb is a withheld keyword (`STARTTLS`, `AUTH`, `ETRN`, ...), or it is
    /// `BDAT` and `CHUNKING` is withheld (RFC 3030).
    pub fn is_withheld_by(&self, filter: &CapabilityFilter) -> bool {
        match self {
            Self::StartTls => filter.withholds(b"STARTTLS"),
            Self::Auth => filter.withholds(b"AUTH"),
            Self::Bdat { .. } => filter.withholds(b"CHUNKING"),
            Self::Other(verb) => {
                filter.withholds(verb)
                    || (verb.eq_ignore_ascii_case(b"BDAT") && filter.withholds(b"CHUNKING"))
            }
            Self::Helo | Self::Ehlo | Self::Data | Self::Quit => false,
        }
    }
}

/// `chunk-size = 1*DIGIT`, `end-marker = "LAST"` (RFC 3030 §2); nothing may follow.
fn parse_bdat<'a>(mut words: impl Iterator<Item = &'a [u8]>) -> Option<Command<'a>> {
    let size = words.next()?;
    if size.is_empty() || size.len() > 19 || !size.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let size = size
        .iter()
        .fold(0u64, |acc, &d| acc * 10 + u64::from(d - b'0'));
    let last = match words.next() {
        None => false,
        Some(w) if w.eq_ignore_ascii_case(b"LAST") => true,
        Some(_) => return None,
    };
    words
        .next()
        .is_none()
        .then_some(Command::Bdat { size, last })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verbs_are_recognised_case_insensitively_with_any_terminator() {
        assert_eq!(Command::parse(b"ehlo client.example\r\n"), Command::Ehlo);
        assert_eq!(Command::parse(b"LHLO x\n"), Command::Ehlo);
        assert_eq!(Command::parse(b"StartTLS"), Command::StartTls);
        assert_eq!(Command::parse(b"STARTTLS extra\r\n"), Command::StartTls);
        assert_eq!(
            Command::parse(b"AUTH PLAIN AGZvbwBiYXI=\r\n"),
            Command::Auth
        );
        assert_eq!(Command::parse(b"data\r\n"), Command::Data);
        assert_eq!(Command::parse(b"\r\n"), Command::Other(b""));
    }

    #[test]
    fn bdat_needs_a_size_and_at_most_last() {
        assert_eq!(
            Command::parse(b"BDAT 0\r\n"),
            Command::Bdat {
                size: 0,
                last: false
            }
        );
        assert_eq!(
            Command::parse(b"bdat 12 last\r\n"),
            Command::Bdat {
                size: 12,
                last: true
            }
        );
        for bad in [
            &b"BDAT\r\n"[..],
            b"BDAT x\r\n",
            b"BDAT 1 LAST x\r\n",
            b"BDAT 99999999999999999999\r\n",
        ] {
            assert_eq!(Command::parse(bad), Command::Other(b"BDAT"), "{bad:?}");
        }
    }

    #[test]
    fn withheld_extensions_cover_their_commands() {
        let f = CapabilityFilter::starttls()
            .withhold("CHUNKING")
            .withhold("ETRN");
        assert!(Command::StartTls.is_withheld_by(&f));
        assert!(Command::parse(b"BDAT 5\r\n").is_withheld_by(&f));
        assert!(Command::parse(b"BDAT bad\r\n").is_withheld_by(&f));
        assert!(Command::parse(b"etrn example.com\r\n").is_withheld_by(&f));
        assert!(!Command::Auth.is_withheld_by(&f));
        assert!(!Command::Ehlo.is_withheld_by(&CapabilityFilter::new().withhold("EHLO")));
    }
}
