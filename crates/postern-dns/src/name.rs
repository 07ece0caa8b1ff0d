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
        Self::new_with_case(text).map(|(name, _)| name)
    }

    /// [`Name::new`], and whether `text` had upper-case letters (so that the name's text
    /// differs from it other than by a trailing dot), found by the same pass.
    ///
    /// ```
    /// use postern_dns::Name;
    /// let (name, upper) = Name::new_with_case("Example.COM.")?;
    /// assert_eq!((name.as_str(), upper), ("example.com", true));
    /// assert!(!Name::new_with_case("example.com")?.1);
    /// # Ok::<(), postern_dns::Error>(())
    /// ```
    ///
    /// # Errors
    /// As [`Name::new`].
    pub fn new_with_case(text: &str) -> Result<(Self, bool), Error> {
        let trimmed = text.strip_suffix('.').unwrap_or(text);
        if check(trimmed)? {
            Ok((Self(Arc::from(trimmed.to_ascii_lowercase())), true))
        } else {
            Ok((Self(Arc::from(trimmed)), false))
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
    // One pass, eight bytes at a time: the dots end labels, whose lengths are checked in
    // order; upper-case letters are noted all along.
    let bytes = text.as_bytes();
    let mut chunks = bytes.chunks_exact(8);
    let (mut start, mut offset, mut upper) = (0usize, 0usize, 0u64);
    for chunk in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let x = u64::from_le_bytes(word);
        upper |= upper_bytes(x);
        start = check_labels(dot_bytes(x), offset, start)?;
        offset += 8;
    }
    // The last bytes, zero-padded: a zero byte is neither a dot nor a letter.
    let x = chunks
        .remainder()
        .iter()
        .rev()
        .fold(0u64, |x, &b| (x << 8) | u64::from(b));
    upper |= upper_bytes(x);
    start = check_labels(dot_bytes(x), offset, start)?;
    check_label(start, bytes.len())?;
    Ok(upper != 0)
}

const ONES: u64 = u64::from_le_bytes([0x01; 8]);
const LOW7: u64 = u64::from_le_bytes([0x7f; 8]);
const HIGH: u64 = u64::from_le_bytes([0x80; 8]);

/// The high bit of each byte of `x` that is `.` (exact for every byte).
fn dot_bytes(x: u64) -> u64 {
    let t = x ^ (ONES * u64::from(b'.'));
    // The high bit of each nonzero byte, with no carry between bytes.
    let nonzero = ((t & LOW7).wrapping_add(LOW7) | t) & HIGH;
    !nonzero & HIGH
}

/// The high bit of each byte of `x` that is an ASCII upper-case letter (exact for every byte).
fn upper_bytes(x: u64) -> u64 {
    let low = x & LOW7;
    // At least `A`, and not above `Z`, on the low seven bits (no carry between bytes); and no
    // high bit.
    let at_least_a = low.wrapping_add(ONES * (0x80 - u64::from(b'A')));
    let above_z = low.wrapping_add(ONES * (0x80 - u64::from(b'Z') - 1));
    at_least_a & !above_z & !x & HIGH
}

/// Checks the labels that the dots in `dots` (high bits, for the bytes from `offset`) end;
/// the current label starts at `start`. Returns where the label after the last dot starts.
fn check_labels(mut dots: u64, offset: usize, mut start: usize) -> Result<usize, Error> {
    while dots != 0 {
        let at = offset + (dots.trailing_zeros() / 8) as usize;
        check_label(start, at)?;
        start = at + 1;
        dots &= dots - 1;
    }
    Ok(start)
}

/// Checks the length of the label from `start` to `end` (exclusive).
fn check_label(start: usize, end: usize) -> Result<(), Error> {
    let problem = match end.saturating_sub(start) {
        0 => NameProblem::EmptyLabel,
        1..=MAX_LABEL_LEN => return Ok(()),
        _ => NameProblem::LabelTooLong,
    };
    Err(Error::BadName {
        problem,
        offset: start,
    })
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

    /// The label check as it was: label by label, then upper case in a second pass.
    fn check_by_labels(text: &str) -> Result<bool, Error> {
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
        let mut start = 0;
        for label in text.split('.') {
            if label.is_empty() || label.len() > MAX_LABEL_LEN {
                let problem = if label.is_empty() {
                    NameProblem::EmptyLabel
                } else {
                    NameProblem::LabelTooLong
                };
                return Err(Error::BadName {
                    problem,
                    offset: start,
                });
            }
            start += label.len() + 1;
        }
        Ok(text.bytes().any(|b| b.is_ascii_uppercase()))
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(3000))]

        #[test]
        fn one_pass_check_agrees_with_label_by_label(
            labels in proptest::collection::vec("[a-zA-Z0-9-]{0,70}", 1..6),
        ) {
            let text = labels.join(".");
            proptest::prop_assert_eq!(check(&text), check_by_labels(&text));
        }

        #[test]
        fn one_pass_check_agrees_on_short_text(text in "[aAzZ@`{.\\[\u{e9}\u{c1}]{0,20}") {
            proptest::prop_assert_eq!(check(&text), check_by_labels(&text));
        }
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
