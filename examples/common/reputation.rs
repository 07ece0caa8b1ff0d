//! A reputation list: one network per line with a class, the longest matching prefix wins.
//!
//! ```text
//! # comments and blank lines are ignored
//! 192.0.2.0/24     bad        # reputation: bad | poor | neutral | good
//! 192.0.2.77       good       # a longer prefix overrides the /24
//! 2001:db8:bad::/48 bad
//! 198.51.100.0/24  withhold   # override: never offer STARTTLS (offer: always offer it)
//! ```
//! Addresses not listed are `neutral`. Reputation lines and override lines are matched
//! separately, so a network can have both.

use std::net::IpAddr;

use postern_policy::tls::{Reputation, TlsOverride};
use postern_policy::{ClientPrefix, PrefixLengths};

use crate::parse_cidr;

/// The most lines a list holds (lookups scan them all).
pub const MAX_ENTRIES: usize = 65_536;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    Reputation(Reputation),
    Override(TlsOverride),
}

/// A parsed reputation list.
#[derive(Debug, Clone, Default)]
pub struct ReputationList {
    entries: Vec<(ClientPrefix, Class)>,
}

impl ReputationList {
    /// Parse the list.
    ///
    /// # Errors
    /// `line N: ...` for a bad network or class, or more than [`MAX_ENTRIES`] lines.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut entries = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            let n = i + 1;
            let mut words = line.split_whitespace();
            let (Some(net), Some(class), None) = (words.next(), words.next(), words.next()) else {
                return Err(format!("line {n}: expected `NETWORK CLASS`, got {line:?}"));
            };
            let (ip, len) = parse_cidr(net).map_err(|e| format!("line {n}: {e}"))?;
            let class = match class.to_ascii_lowercase().as_str() {
                "bad" => Class::Reputation(Reputation::Bad),
                "poor" => Class::Reputation(Reputation::Poor),
                "neutral" => Class::Reputation(Reputation::Neutral),
                "good" => Class::Reputation(Reputation::Good),
                "offer" => Class::Override(TlsOverride::Offer),
                "withhold" => Class::Override(TlsOverride::Withhold),
                other => {
                    return Err(format!(
                        "line {n}: unknown class {other:?} (bad, poor, neutral, good, offer, withhold)"
                    ));
                }
            };
            if entries.len() >= MAX_ENTRIES {
                return Err(format!("line {n}: more than {MAX_ENTRIES} entries"));
            }
            // The length applies to the family of `ip`; the other one is unused.
            let lengths = if ip.is_ipv4() {
                PrefixLengths::new(len, 128)
            } else {
                PrefixLengths::new(32, len)
            }
            .map_err(|e| format!("line {n}: {e}"))?;
            entries.push((ClientPrefix::new(ip, lengths), class));
        }
        Ok(Self { entries })
    }

    /// Read and parse a list file.
    ///
    /// # Errors
    /// When the file cannot be read or a line is wrong.
    pub fn load(path: &str) -> Result<Self, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
        Self::parse(&text).map_err(|e| format!("{path}: {e}"))
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the list is empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The reputation of `ip` (longest matching reputation line, else neutral) and the
    /// override of its network (longest matching override line), if any.
    pub fn classify(&self, ip: IpAddr) -> (Reputation, Option<TlsOverride>) {
        let mut reputation: Option<(u8, Reputation)> = None;
        let mut over: Option<(u8, TlsOverride)> = None;
        for (prefix, class) in &self.entries {
            if !prefix.contains(ip) {
                continue;
            }
            let len = prefix.prefix_len();
            match *class {
                Class::Reputation(r) if reputation.is_none_or(|(l, _)| len >= l) => {
                    reputation = Some((len, r));
                }
                Class::Override(o) if over.is_none_or(|(l, _)| len >= l) => {
                    over = Some((len, o));
                }
                _ => {}
            }
        }
        (
            reputation.map_or(Reputation::Neutral, |(_, r)| r),
            over.map(|(_, o)| o),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn longest_prefix_wins() {
        let list = ReputationList::parse(
            "# test\n192.0.2.0/24 bad\n192.0.2.77 good\n\n198.51.100.0/24 withhold # x\n2001:db8::/32 poor\n",
        )
        .unwrap();
        assert_eq!(list.len(), 4);
        let c = |s: &str| list.classify(s.parse().unwrap());
        assert_eq!(c("192.0.2.1"), (Reputation::Bad, None));
        assert_eq!(c("192.0.2.77"), (Reputation::Good, None));
        assert_eq!(c("::ffff:192.0.2.1"), (Reputation::Bad, None));
        assert_eq!(
            c("198.51.100.9"),
            (Reputation::Neutral, Some(TlsOverride::Withhold))
        );
        assert_eq!(c("2001:db8::1"), (Reputation::Poor, None));
        assert_eq!(c("203.0.113.1"), (Reputation::Neutral, None));
    }

    #[test]
    fn errors_name_the_line() {
        let err = ReputationList::parse("192.0.2.0/24 bad\n192.0.2.0/24 evil\n").unwrap_err();
        assert!(err.starts_with("line 2:"), "{err}");
        assert!(ReputationList::parse("192.0.2.0/40 bad\n").is_err());
        assert!(ReputationList::parse("192.0.2.0/24\n").is_err());
    }
}
