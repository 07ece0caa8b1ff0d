//! Withholding EHLO capabilities: rewrite a complete EHLO reply so that chosen lines disappear
//! and the framing stays valid.

use crate::{Capability, Error, Reply, ReplyCode};

/// Maximum number of keywords one filter withholds; keeps matching a short linear scan.
pub const MAX_WITHHELD: usize = 32;

/// A keyword could not be added to a [`CapabilityFilter`] that already withholds
/// [`MAX_WITHHELD`] keywords; holds the filter, unchanged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a capability filter withholds at most {MAX_WITHHELD} keywords")]
pub struct TooManyKeywords(pub CapabilityFilter);

/// The set of EHLO keywords to withhold from a client, and the rewriter that removes them.
///
/// Rewriting follows RFC 5321 §4.2.1 framing: every capability line whose keyword (first token,
/// case-insensitive, legacy `KEYWORD=` form included) is withheld disappears; the greeting line
/// is never removed; when the last line goes, the new last line's `-` becomes SP; every other
/// byte is kept exactly. Replies other than `250` pass through unchanged.
///
/// # Examples
/// ```
/// use postern_smtp::{CapabilityFilter, Mode, Reply};
/// let reply = Reply::parse(b"250-mx.example.net\r\n250-PIPELINING\r\n250 STARTTLS\r\n", Mode::Strict)?
///     .complete()
///     .unwrap();
/// let mut out = Vec::new();
/// let removed = CapabilityFilter::starttls().rewrite(&reply, &mut out);
/// assert_eq!(removed, 1);
/// assert_eq!(out, b"250-mx.example.net\r\n250 PIPELINING\r\n");
/// # Ok::<(), postern_smtp::Error>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CapabilityFilter {
    /// Upper-cased keywords.
    keywords: Vec<Box<[u8]>>,
}

impl CapabilityFilter {
    /// A filter that withholds nothing.
    pub fn new() -> Self {
        Self::default()
    }

    /// A filter that withholds STARTTLS (RFC 3207), the common proxy policy.
    pub fn starttls() -> Self {
        Self::new().withhold("STARTTLS")
    }

    /// Also withhold `keyword` (compared case-insensitively). Adding a keyword twice has no
    /// further effect, and neither has adding one to a filter that already withholds
    /// [`MAX_WITHHELD`] keywords: use [`try_withhold`](Self::try_withhold) where the list
    /// comes from outside, so that a keyword is never let through unnoticed.
    #[must_use]
    pub fn withhold(self, keyword: impl AsRef<[u8]>) -> Self {
        match self.try_withhold(keyword) {
            Ok(filter) | Err(TooManyKeywords(filter)) => filter,
        }
    }

    /// Also withhold `keyword` (compared case-insensitively; adding a keyword twice has no
    /// further effect).
    ///
    /// # Errors
    /// [`TooManyKeywords`], holding the filter unchanged, when `keyword` is new and the filter
    /// already withholds [`MAX_WITHHELD`] keywords.
    ///
    /// ```
    /// use postern_smtp::{CapabilityFilter, MAX_WITHHELD};
    /// let mut filter = CapabilityFilter::new();
    /// for i in 0..MAX_WITHHELD {
    ///     filter = filter.try_withhold(format!("X-{i}"))?;
    /// }
    /// assert!(filter.clone().try_withhold("X-0").is_ok());
    /// assert!(filter.try_withhold("STARTTLS").is_err());
    /// # Ok::<(), postern_smtp::TooManyKeywords>(())
    /// ```
    pub fn try_withhold(mut self, keyword: impl AsRef<[u8]>) -> Result<Self, TooManyKeywords> {
        let keyword = keyword.as_ref();
        if self.withholds(keyword) {
            return Ok(self);
        }
        if self.keywords.len() >= MAX_WITHHELD {
            return Err(TooManyKeywords(self));
        }
        self.keywords
            .push(keyword.to_ascii_uppercase().into_boxed_slice());
        Ok(self)
    }

    /// Whether `keyword` is withheld.
    pub fn withholds(&self, keyword: &[u8]) -> bool {
        self.keywords
            .iter()
            .any(|k| k.len() == keyword.len() && equals_upper_cased(k, keyword))
    }

    /// Whether the filter withholds nothing.
    pub fn is_empty(&self) -> bool {
        self.keywords.is_empty()
    }

    /// The withheld keywords, upper case.
    pub fn keywords(&self) -> impl Iterator<Item = &[u8]> {
        self.keywords.iter().map(AsRef::as_ref)
    }

    /// Append the rewritten `reply` to `out` and return the number of lines removed. Call it
    /// for replies to EHLO/LHLO; a reply with another code than 250 is appended unchanged.
    pub fn rewrite(&self, reply: &Reply<'_>, out: &mut Vec<u8>) -> usize {
        out.reserve(reply.len());
        self.segments(reply, |bytes| out.extend_from_slice(bytes))
    }

    /// Write the rewritten `reply` into `out`; returns the bytes written and the lines removed.
    /// The output is never longer than the input, so `out.len() >= reply.len()` always suffices.
    ///
    /// # Errors
    /// [`Error::BufferTooSmall`] with the size needed; `out` is then left in an unspecified state.
    pub fn rewrite_to_slice(
        &self,
        reply: &Reply<'_>,
        out: &mut [u8],
    ) -> Result<(usize, usize), Error> {
        let mut written = 0usize;
        let mut fits = true;
        let removed = self.segments(reply, |bytes| {
            let end = written + bytes.len();
            match out.get_mut(written..end) {
                Some(dst) if fits => dst.copy_from_slice(bytes),
                _ => fits = false,
            }
            written = end;
        });
        if fits {
            Ok((written, removed))
        } else {
            Err(Error::BufferTooSmall { needed: written })
        }
    }

    /// Emit the rewritten reply as a few contiguous segments of the input; returns lines removed.
    fn segments<'a>(&self, reply: &Reply<'a>, mut put: impl FnMut(&'a [u8])) -> usize {
        let bytes = reply.as_bytes();
        if reply.code() != ReplyCode::OK || self.keywords.is_empty() || reply.line_count() < 2 {
            put(bytes);
            return 0;
        }
        let mut removed = 0;
        // A run of kept lines not yet emitted, and where the last kept line starts.
        let (mut run_start, mut run_end, mut last_kept) = (0, 0, 0);
        let mut start = 0;
        let mut lines = reply.lines();
        let mut index = 0usize;
        while let Some((line, stop)) = lines.next_with_stop() {
            let end = start + line.raw().len();
            let keep = index == 0 || !self.withholds(Capability::keyword_of(line, stop));
            index += 1;
            if keep {
                if start != run_end {
                    put(bytes.get(run_start..run_end).unwrap_or(&[]));
                    run_start = start;
                }
                run_end = end;
                last_kept = start;
            } else {
                removed += 1;
            }
            start = end;
        }
        if run_end == bytes.len() {
            put(bytes.get(run_start..run_end).unwrap_or(&[]));
        } else {
            // The final line went: the last kept line becomes the final line (`250-` -> `250 `).
            put(bytes.get(run_start..last_kept + 3).unwrap_or(&[]));
            put(b" ");
            put(bytes.get(last_kept + 4..run_end).unwrap_or(&[]));
        }
        removed
    }
}

const HIGHS: u64 = u64::from_ne_bytes([0x80; 8]);

/// Whether `upper` (upper case) equals `other` ASCII-upper-cased, for slices of one length:
/// `eq_ignore_ascii_case`, eight octets per step.
fn equals_upper_cased(upper: &[u8], other: &[u8]) -> bool {
    let word = |w: &[u8]| u64::from_le_bytes(<[u8; 8]>::try_from(w).unwrap_or_default());
    let mut a = upper.chunks_exact(8);
    let mut b = other.chunks_exact(8);
    for (x, y) in (&mut a).zip(&mut b) {
        if word(x) != to_upper(word(y)) {
            return false;
        }
    }
    a.remainder()
        .iter()
        .zip(b.remainder())
        .all(|(x, y)| *x == y.to_ascii_uppercase())
}

/// Each octet of `w` ASCII-upper-cased.
fn to_upper(w: u64) -> u64 {
    // With the high bits cleared no sum carries into the next octet: the high bit of
    // `b + 0x1f` is set for b >= 'a' (0x61), that of `b + 0x05` for b > 'z' (0x7a).
    let low = w & !HIGHS;
    let at_least_a = low.wrapping_add(u64::from_ne_bytes([0x1f; 8]));
    let above_z = low.wrapping_add(u64::from_ne_bytes([0x05; 8]));
    let lower = at_least_a & !above_z & !w & HIGHS;
    w ^ (lower >> 2)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Mode;

    fn strip(filter: &CapabilityFilter, input: &[u8]) -> (Vec<u8>, usize) {
        let reply = Reply::parse(input, Mode::Lenient)
            .unwrap()
            .complete()
            .unwrap();
        let mut out = Vec::new();
        let removed = filter.rewrite(&reply, &mut out);
        let mut buf = vec![0; input.len()];
        let (n, removed2) = filter.rewrite_to_slice(&reply, &mut buf).unwrap();
        assert_eq!((&buf[..n], removed2), (&out[..], removed));
        (out, removed)
    }

    #[test]
    fn removing_a_middle_line_keeps_everything_else() {
        let f = CapabilityFilter::starttls();
        let (out, n) = strip(&f, b"250-a\r\n250-STARTTLS\r\n250 8BITMIME\r\n");
        assert_eq!((out.as_slice(), n), (&b"250-a\r\n250 8BITMIME\r\n"[..], 1));
    }

    #[test]
    fn removing_the_last_line_turns_the_new_last_separator_into_space() {
        let f = CapabilityFilter::starttls();
        assert_eq!(
            strip(&f, b"250-a b\r\n250-X\r\n250 starttls\r\n").0,
            b"250-a b\r\n250 X\r\n"
        );
        assert_eq!(strip(&f, b"250-a b\r\n250 STARTTLS\r\n").0, b"250 a b\r\n");
        assert_eq!(
            strip(&f, b"250-a\n250-STARTTLS\n250 STARTTLS x\n").0,
            b"250 a\n"
        );
    }

    #[test]
    fn several_keywords_and_legacy_forms_are_withheld() {
        let f = CapabilityFilter::starttls()
            .withhold("auth")
            .withhold("CHUNKING");
        let (out, n) = strip(
            &f,
            b"250-a\r\n250-AUTH PLAIN\r\n250-AUTH=PLAIN\r\n250-SIZE 1\r\n250- starttls\r\n250 CHUNKING\r\n",
        );
        assert_eq!((out.as_slice(), n), (&b"250-a\r\n250 SIZE 1\r\n"[..], 4));
    }

    #[test]
    fn non_250_and_single_line_replies_pass_unchanged() {
        let f = CapabilityFilter::starttls();
        assert_eq!(
            strip(&f, b"502 5.5.2 STARTTLS\r\n"),
            (b"502 5.5.2 STARTTLS\r\n".to_vec(), 0)
        );
        assert_eq!(
            strip(&f, b"250 STARTTLS\r\n"),
            (b"250 STARTTLS\r\n".to_vec(), 0)
        );
        assert_eq!(strip(&f, b"220-STARTTLS\r\n220 STARTTLS\r\n").1, 0);
    }

    #[test]
    fn short_output_buffer_reports_the_size_needed() {
        let reply = Reply::parse(b"250-a\r\n250 STARTTLS\r\n", Mode::Strict)
            .unwrap()
            .complete()
            .unwrap();
        let mut small = [0u8; 4];
        assert_eq!(
            CapabilityFilter::starttls().rewrite_to_slice(&reply, &mut small),
            Err(Error::BufferTooSmall { needed: 7 })
        );
    }

    #[test]
    fn word_wise_upper_case_comparison_agrees_with_eq_ignore_ascii_case() {
        for b in 0..=255u8 {
            let word = u64::from_le_bytes([b, b'a', b'z', b'@', b'[', b'`', b'{', 0xe1]);
            let expected = u64::from_le_bytes([
                b.to_ascii_uppercase(),
                b'A',
                b'Z',
                b'@',
                b'[',
                b'`',
                b'{',
                0xe1,
            ]);
            assert_eq!(to_upper(word), expected, "{b:#x}");
        }
        let samples: [&[u8]; 8] = [
            b"",
            b"STARTTLS",
            b"starttls",
            b"StartTLs",
            b"STARTTLT",
            b"ENHANCEDSTATUSCODES",
            b"enhancedstatuscodeS",
            b"ENHANCEDSTATUSCODEs\xff",
        ];
        for a in samples {
            for b in samples {
                if a.len() == b.len() {
                    assert_eq!(
                        equals_upper_cased(&a.to_ascii_uppercase(), b),
                        a.eq_ignore_ascii_case(b),
                        "{a:?} {b:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn withhold_is_case_insensitive_and_bounded() {
        let mut f = CapabilityFilter::new()
            .withhold("StartTLS")
            .withhold("STARTTLS");
        assert_eq!(f.keywords().count(), 1);
        for i in 0..100 {
            f = f.withhold(format!("X{i}"));
        }
        assert_eq!(f.keywords().count(), MAX_WITHHELD);
        let full = f.clone();
        assert_eq!(f.clone().try_withhold("x0"), Ok(full.clone()));
        assert_eq!(f.try_withhold("AUTH"), Err(TooManyKeywords(full)));
    }
}
