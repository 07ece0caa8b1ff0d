//! Canonicalization (RFC 6376 §3.4): header fields one at a time, and a streaming body
//! canonicalizer that takes chunks of any size and split (a CRLF may straddle two chunks),
//! holding back only a count of trailing empty lines, one CR and one white-space flag.

/// A canonicalization algorithm (RFC 6376 §3.4), for the header or the body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Canonicalization {
    /// `simple`: (almost) no change.
    Simple,
    /// `relaxed`: white space and header-name case normalized.
    Relaxed,
}

impl Canonicalization {
    /// The name used in `c=`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Simple => "simple",
            Self::Relaxed => "relaxed",
        }
    }

    /// Parse a `c=` half, case-insensitively.
    pub fn from_name(name: &[u8]) -> Option<Self> {
        if name.eq_ignore_ascii_case(b"simple") {
            Some(Self::Simple)
        } else if name.eq_ignore_ascii_case(b"relaxed") {
            Some(Self::Relaxed)
        } else {
            None
        }
    }
}

impl std::fmt::Display for Canonicalization {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where canonical bytes go.
pub(crate) trait Sink {
    fn put(&mut self, bytes: &[u8]);
}

impl Sink for Vec<u8> {
    fn put(&mut self, bytes: &[u8]) {
        self.extend_from_slice(bytes);
    }
}

fn is_wsp(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

/// Append the canonical form of one header field (`name`, the bytes before the colon, and
/// `value`, the bytes after it without the final CRLF) to `out`, with a final CRLF.
///
/// Relaxed (RFC 6376 §3.4.2): name lower-cased, value unfolded, WSP runs to one SP, WSP at
/// either end of the value and around the colon removed. Simple (§3.4.1): unchanged.
pub(crate) fn header_field(c: Canonicalization, name: &[u8], value: &[u8], out: &mut Vec<u8>) {
    match c {
        Canonicalization::Simple => {
            out.extend_from_slice(name);
            out.push(b':');
            out.extend_from_slice(value);
        }
        Canonicalization::Relaxed => {
            out.extend(name.trim_ascii_end().iter().map(u8::to_ascii_lowercase));
            out.push(b':');
            let mut pending_space = false;
            let mut started = false;
            let mut rest = value;
            while let Some((&b, tail)) = rest.split_first() {
                if b == b'\r' && tail.first() == Some(&b'\n') {
                    // Unfold: CRLF disappears; the WSP after it is a run like any other.
                    rest = tail.get(1..).unwrap_or_default();
                    continue;
                }
                if is_wsp(b) {
                    pending_space = started;
                } else {
                    if pending_space {
                        out.push(b' ');
                        pending_space = false;
                    }
                    out.push(b);
                    started = true;
                }
                rest = tail;
            }
        }
    }
    out.extend_from_slice(b"\r\n");
}

/// 32 CRLFs, to emit withheld empty lines in bulk.
const CRLFS: &[u8; 64] = b"\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\
\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n";

/// Streaming body canonicalizer (RFC 6376 §3.4.3, §3.4.4).
///
/// State is a few words whatever the body size: trailing empty lines are counted, not stored.
// Independent flags of a byte-stream state machine; an enum would multiply the states.
#[allow(clippy::struct_excessive_bools)]
#[derive(Debug, Clone)]
pub(crate) struct BodyCanonicalizer {
    c: Canonicalization,
    /// Empty lines seen and not yet emitted (they are dropped if nothing follows them).
    pending_empty: u64,
    /// The last input byte was a CR whose LF may come in the next chunk.
    held_cr: bool,
    /// Relaxed: a WSP run was seen in the current line and not yet emitted.
    pending_wsp: bool,
    /// The current line has emitted content (so its CRLF is not an empty line).
    line_has_content: bool,
    /// Something was emitted at all.
    emitted_any: bool,
}

impl BodyCanonicalizer {
    pub(crate) fn new(c: Canonicalization) -> Self {
        Self {
            c,
            pending_empty: 0,
            held_cr: false,
            pending_wsp: false,
            line_has_content: false,
            emitted_any: false,
        }
    }

    fn flush_empty<S: Sink>(&mut self, sink: &mut S) {
        while self.pending_empty > 0 {
            let n = usize::try_from(self.pending_empty.min(32)).unwrap_or(32);
            sink.put(CRLFS.get(..n * 2).unwrap_or_default());
            self.pending_empty -= n as u64;
        }
    }

    /// Emit line content (never empty).
    fn content<S: Sink>(&mut self, bytes: &[u8], sink: &mut S) {
        if bytes.is_empty() {
            return;
        }
        self.flush_empty(sink);
        if self.pending_wsp {
            sink.put(b" ");
            self.pending_wsp = false;
        }
        sink.put(bytes);
        self.line_has_content = true;
        self.emitted_any = true;
    }

    fn end_line<S: Sink>(&mut self, sink: &mut S) {
        if self.line_has_content {
            sink.put(b"\r\n");
            self.line_has_content = false;
        } else {
            self.pending_empty = self.pending_empty.saturating_add(1);
        }
        self.pending_wsp = false;
    }

    /// Feed the next chunk of body bytes.
    pub(crate) fn update<S: Sink>(&mut self, mut data: &[u8], sink: &mut S) {
        if data.is_empty() {
            return;
        }
        if self.held_cr {
            self.held_cr = false;
            if let Some(tail) = data.strip_prefix(b"\n") {
                self.end_line(sink);
                data = tail;
            } else {
                self.content(b"\r", sink);
            }
        }
        match self.c {
            Canonicalization::Simple => self.update_simple(data, sink),
            Canonicalization::Relaxed => self.update_relaxed(data, sink),
        }
    }

    fn update_simple<S: Sink>(&mut self, data: &[u8], sink: &mut S) {
        // Split off the tail made of CRLFs (and one final lone CR): those may be trailing empty
        // lines. Everything before it is emitted as is.
        let (mut end, trailing_cr) = match data.strip_suffix(b"\r") {
            Some(d) => (d.len(), true),
            None => (data.len(), false),
        };
        let mut crlfs: u64 = 0;
        while end >= 2 && data.get(end - 2..end) == Some(b"\r\n") {
            end -= 2;
            crlfs += 1;
        }
        if end > 0 {
            self.content(data.get(..end).unwrap_or_default(), sink);
        }
        if crlfs > 0 {
            // The first CRLF ends the current line (empty or not).
            self.end_line(sink);
            self.pending_empty = self.pending_empty.saturating_add(crlfs - 1);
        }
        self.held_cr = trailing_cr;
    }

    fn update_relaxed<S: Sink>(&mut self, data: &[u8], sink: &mut S) {
        let mut pos = 0;
        let mut scan = Scanner::default();
        while pos < data.len() {
            let special = scan.next_special(data, pos);
            // Clean segment: single spaces between non-WSP. A space at its end may be trailing
            // WSP of the line, so hold it back.
            if special > pos {
                let mut seg = data.get(pos..special).unwrap_or_default();
                if self.pending_wsp {
                    // The run started before this segment (at the end of the last chunk).
                    seg = seg.strip_prefix(b" ").unwrap_or(seg);
                }
                let (body, trailing_space) = match seg.strip_suffix(b" ") {
                    Some(body) => (body, true),
                    None => (seg, false),
                };
                if !body.is_empty() {
                    self.content(body, sink);
                    // The run may end with a copied line end: then a new line has begun.
                    self.line_has_content = !body.ends_with(b"\n");
                }
                if trailing_space {
                    self.pending_wsp = true;
                }
                pos = special;
            }
            let Some(&b) = data.get(pos) else { break };
            match b {
                b' ' | b'\t' => {
                    while data.get(pos).copied().is_some_and(is_wsp) {
                        pos += 1;
                    }
                    self.pending_wsp = true;
                }
                b'\r' => match data.get(pos + 1) {
                    Some(b'\n') => {
                        self.end_line(sink);
                        pos += 2;
                    }
                    None => {
                        self.held_cr = true;
                        pos += 1;
                    }
                    Some(_) => {
                        self.content(b"\r", sink);
                        pos += 1;
                    }
                },
                _ => {
                    // A bare LF is line content.
                    self.content(b"\n", sink);
                    pos += 1;
                }
            }
        }
    }

    /// End of body.
    pub(crate) fn finish<S: Sink>(&mut self, sink: &mut S) {
        if self.held_cr {
            self.held_cr = false;
            self.content(b"\r", sink);
        }
        if self.line_has_content {
            // A last line without CRLF gets one (§3.4.3, §3.4.4).
            sink.put(b"\r\n");
            self.line_has_content = false;
        }
        self.pending_wsp = false;
        if self.c == Canonicalization::Simple && !self.emitted_any {
            // An empty simple body is one CRLF (§3.4.3).
            sink.put(b"\r\n");
        }
        self.pending_empty = 0;
        self.emitted_any = true;
    }
}

/// Finds, in relaxed body data, the bytes that need attention (see
/// [`Scanner::next_special`]), with SIMD searches (memchr) for control bytes and for two
/// spaces in a row; the position of the next double space is remembered between calls.
#[derive(Debug, Default)]
struct Scanner {
    /// First "  " at or after the last search start (`None`: not searched yet).
    double_space: Option<usize>,
}

impl Scanner {
    /// The first index `>= from` that needs attention. Everything before it can be copied as
    /// is: single spaces between non-WSP bytes, and the CRLF of lines that have content, no
    /// trailing WSP and are followed by a line that does not start with CR (which could be an
    /// empty line). Needing attention: TAB, two spaces in a row, and every other CR or LF (a
    /// space at the end of the copied run is held back by the caller).
    fn next_special(&mut self, data: &[u8], from: usize) -> usize {
        let end = data.len();
        let mut at = from;
        loop {
            let rest = data.get(at..).unwrap_or_default();
            let control = memchr::memchr3(b'\t', b'\r', b'\n', rest).map_or(end, |i| at + i);
            let double = match self.double_space {
                Some(d) if d >= at => d,
                _ => {
                    let d = memchr::memmem::find(rest, b"  ").map_or(end, |i| at + i);
                    self.double_space = Some(d);
                    d
                }
            };
            if double < control {
                return double;
            }
            // A plain line end inside the run is copied.
            let plain_crlf = control > from
                && data.get(control) == Some(&b'\r')
                && data
                    .get(control - 1)
                    .is_some_and(|&b| !matches!(b, b' ' | b'\r' | b'\n'))
                && data.get(control + 1) == Some(&b'\n')
                && data.get(control + 2).is_some_and(|&b| b != b'\r');
            if !plain_crlf {
                return control;
            }
            at = control + 2;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(c: Canonicalization, input: &[u8], split: &[usize]) -> Vec<u8> {
        let mut canon = BodyCanonicalizer::new(c);
        let mut out = Vec::new();
        let mut rest = input;
        for &n in split.iter().cycle() {
            if rest.is_empty() {
                break;
            }
            let (a, b) = rest.split_at(n.max(1).min(rest.len()));
            canon.update(a, &mut out);
            rest = b;
        }
        canon.finish(&mut out);
        out
    }

    #[test]
    fn rfc6376_example() {
        let input = b" C \r\nD \t E\r\n\r\n\r\n";
        for split in [vec![100], vec![1], vec![2], vec![3, 1]] {
            assert_eq!(
                body(Canonicalization::Relaxed, input, &split),
                b" C\r\nD E\r\n"
            );
            assert_eq!(
                body(Canonicalization::Simple, input, &split),
                b" C \r\nD \t E\r\n"
            );
        }
        let mut out = Vec::new();
        header_field(Canonicalization::Relaxed, b"A", b" X", &mut out);
        header_field(Canonicalization::Relaxed, b"B ", b" Y\t\r\n\tZ  ", &mut out);
        assert_eq!(out, b"a:X\r\nb:Y Z\r\n");
    }

    #[test]
    fn empty_and_edge_bodies() {
        use Canonicalization::{Relaxed, Simple};
        for split in [vec![100], vec![1]] {
            assert_eq!(body(Simple, b"", &split), b"\r\n");
            assert_eq!(body(Relaxed, b"", &split), b"");
            assert_eq!(body(Simple, b"\r\n\r\n", &split), b"\r\n");
            assert_eq!(body(Relaxed, b" \r\n\t\r\n", &split), b"");
            assert_eq!(body(Simple, b"abc", &split), b"abc\r\n");
            assert_eq!(body(Relaxed, b"a  b \t", &split), b"a b\r\n");
            assert_eq!(body(Relaxed, b"a b  c d \r\n", &split), b"a b c d\r\n");
            assert_eq!(body(Simple, b"a\r\r\n\r", &split), b"a\r\r\n\r\r\n");
            assert_eq!(
                body(Relaxed, b"a\nb \r\n \r\nc", &split),
                b"a\nb\r\n\r\nc\r\n"
            );
            assert_eq!(
                body(Relaxed, b"one two  three\tfour   \r\n", &split),
                b"one two three four\r\n"
            );
        }
    }

    #[test]
    fn scanner_never_skips_what_needs_attention() {
        // Everything skipped must be copyable as is: no TAB, no double space, no space before
        // CR, and every CR/LF in a plain line end of a line with content.
        let samples: [&[u8]; 8] = [
            b"abcdefg  hij",
            b"abcdefgh ijklmnop qrstuvw  xyz",
            b"1234567 8 234567\t",
            b"a b c d e f g h i j k l m n o p\r\n",
            b"abc\r\ndef\r\n\r\nghijklmnopq\r\n \r\nxyz",
            b"ab \r\ncd\r\r\nef\ngh\r\n\tij",
            b"abcdefg",
            b"abcdefg \n",
        ];
        for d in samples {
            for from in 0..d.len() {
                let stop = Scanner::default().next_special(d, from);
                let skipped = &d[from..stop];
                assert!(!skipped.contains(&b'\t'));
                assert!(!skipped.windows(2).any(|w| w == b"  " || w == b" \r"));
                for (k, &b) in skipped.iter().enumerate() {
                    if b == b'\r' {
                        assert!(k > 0 && !matches!(skipped[k - 1], b' ' | b'\r' | b'\n'));
                        assert_eq!(skipped.get(k + 1), Some(&b'\n'));
                        assert!(d.get(from + k + 2).is_some_and(|&n| n != b'\r'));
                    }
                    if b == b'\n' {
                        assert!(k > 0 && skipped[k - 1] == b'\r');
                    }
                }
            }
        }
    }
}
