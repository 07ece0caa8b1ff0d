//! Validated, case-insensitive DNS names.

use core::fmt;
use std::sync::Arc;

use crate::error::{Error, NameProblem};

/// Longest name in text form without the trailing dot: 255 octets on the wire minus the
/// length octet of the first label and the root label (RFC 1035 §2.3.4, §3.1).
pub const MAX_NAME_LEN: usize = 253;

/// Longest label: 63 octets (RFC 1035 §2.3.4).
pub const MAX_LABEL_LEN: usize = 63;

/// A DNS name: non-empty, labels of 1 to 63 octets, at most 253 octets, stored in lower case
/// without a trailing dot, so that equality and hashing are case-insensitive (RFC 4343).
/// Cloning is cheap (the text is shared).
///
/// Labels may hold any octet but `.`: mail authentication builds names from local parts and
/// other data that are not host names (RFC 7208 §7.3), and DNS carries such labels fine.
///
/// ```
/// use postern_dns::Name;
/// let name = Name::new("Mail.Example.COM.")?;
/// assert_eq!(name.as_str(), "mail.example.com");
/// assert_eq!(name, Name::new("mail.example.com")?);
/// # Ok::<(), postern_dns::Error>(())
/// ```
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Name(Arc<str>);

impl Name {
    /// Validates `text` and returns the name in lower case, without a trailing dot.
    ///
    /// # Errors
    /// [`Error::BadName`] when the name is empty, has an empty label, a label longer than
    /// [`MAX_LABEL_LEN`] or is longer than [`MAX_NAME_LEN`].
    pub fn new(text: &str) -> Result<Self, Error> {
        let trimmed = text.strip_suffix('.').unwrap_or(text);
        if check(trimmed)? {
            Ok(Self(Arc::from(trimmed.to_ascii_lowercase())))
        } else {
            Ok(Self(Arc::from(trimmed)))
        }
    }

    /// [`Name::new`] reusing the allocation of `text`.
    ///
    /// # Errors
    /// As [`Name::new`].
    pub fn from_string(mut text: String) -> Result<Self, Error> {
        if text.ends_with('.') {
            text.pop();
        }
        if check(&text)? {
            text.make_ascii_lowercase();
        }
        Ok(Self(Arc::from(text.as_str())))
    }

    /// The name in lower case, without a trailing dot.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The labels from left to right.
    pub fn labels(&self) -> impl DoubleEndedIterator<Item = &str> {
        self.0.split('.')
    }

    /// Whether `self` is `other` or a subdomain of it (label-wise, case-insensitive).
    pub fn is_subdomain_of(&self, other: &Self) -> bool {
        let (a, b) = (self.as_str(), other.as_str());
        a == b
            || a.strip_suffix(b)
                .is_some_and(|prefix| prefix.ends_with('.'))
    }
}

/// Checks the syntax of a name without a trailing dot; whether it has upper-case letters.
fn check(text: &str) -> Result<bool, Error> {
    if text.is_empty() {
        return Err(Error::BadName {
            problem: NameProblem::Empty,
            offset: 0,
        });
    }
    if text.len() > MAX_NAME_LEN {
        return Err(Error::BadName {
            problem: NameProblem::TooLong,
            offset: MAX_NAME_LEN,
        });
    }
    // Label by label: `start` is where the current one begins.
    let bytes = text.as_bytes();
    let mut start = 0usize;
    while let Some(rest) = bytes.get(start..) {
        let len = rest.iter().position(|&b| b == b'.').unwrap_or(rest.len());
        if len == 0 {
            return Err(Error::BadName {
                problem: NameProblem::EmptyLabel,
                offset: start,
            });
        }
        if len > MAX_LABEL_LEN {
            return Err(Error::BadName {
                problem: NameProblem::LabelTooLong,
                offset: start,
            });
        }
        start = start.saturating_add(len).saturating_add(1);
    }
    // No early exit: a loop the compiler can run on many bytes at once.
    Ok(text
        .bytes()
        .fold(false, |upper, b| upper | b.is_ascii_uppercase()))
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl core::str::FromStr for Name {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        Self::new(s)
    }
}

impl AsRef<str> for Name {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lower_cases_and_strips_dot() {
        let n = Name::new("A.B.Example.").unwrap();
        assert_eq!(n.as_str(), "a.b.example");
        assert_eq!(n.labels().collect::<Vec<_>>(), ["a", "b", "example"]);
    }

    #[test]
    fn rejects_bad_names() {
        for (text, problem, offset) in [
            ("", NameProblem::Empty, 0),
            (".", NameProblem::Empty, 0),
            ("a..b", NameProblem::EmptyLabel, 2),
            (".a", NameProblem::EmptyLabel, 0),
        ] {
            assert_eq!(
                Name::new(text),
                Err(Error::BadName { problem, offset }),
                "{text:?}"
            );
        }
        let long_label = format!("{}.com", "x".repeat(64));
        assert!(matches!(
            Name::new(&long_label),
            Err(Error::BadName {
                problem: NameProblem::LabelTooLong,
                offset: 0
            })
        ));
        let long = ["abcdefghi"; 26].join(".");
        assert_eq!(long.len(), 259);
        assert!(matches!(
            Name::new(&long),
            Err(Error::BadName {
                problem: NameProblem::TooLong,
                ..
            })
        ));
        let ok = [
            "x".repeat(63),
            "y".repeat(63),
            "z".repeat(63),
            "w".repeat(61),
        ]
        .join(".");
        assert_eq!(ok.len(), 253);
        assert!(Name::new(&ok).is_ok());
    }

    #[test]
    fn subdomains() {
        let a = Name::new("mail.example.com").unwrap();
        let b = Name::new("example.com").unwrap();
        let c = Name::new("ample.com").unwrap();
        assert!(a.is_subdomain_of(&b));
        assert!(b.is_subdomain_of(&b));
        assert!(!a.is_subdomain_of(&c));
        assert!(!b.is_subdomain_of(&a));
    }
}
