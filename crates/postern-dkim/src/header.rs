//! The header block: collected from the message stream up to its empty line (bounded), split
//! into fields, and selected for hashing (RFC 6376 §5.4.2).

use std::ops::Range;
use std::sync::LazyLock;

use crate::canon::{self, Canonicalization};
use crate::error::Error;

/// Largest header block accepted (octets up to the empty line). Header blocks of real mail are
/// a few kilobytes; this bounds the memory a verifier or signer holds per message.
pub const MAX_HEADER_BLOCK_BYTES: usize = 256 * 1024;
/// Most header fields in a block (RFC 5322 sets no limit; deployed MTAs cap around 1000).
pub const MAX_HEADER_FIELDS: usize = 1000;

/// One header field, as offsets into the block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Field {
    /// The whole field, final CRLF included.
    pub(crate) span: Range<usize>,
    /// Offset of the colon, [`NO_COLON`] for a line without one (which no `h=` can select).
    /// Not an `Option`: 32 bytes a field keep a typical field list in the allocator's fast
    /// path.
    colon: usize,
    /// End of [`Field::trimmed_name`], measured once.
    pub(crate) name_end: usize,
}

/// [`Field::colon`] of a field without one.
const NO_COLON: usize = usize::MAX;

impl Field {
    /// A field at `span` with its colon (if any) at `colon`, its name measured.
    fn new(block: &[u8], span: Range<usize>, colon: Option<usize>) -> Self {
        let mut field = Self {
            span,
            colon: colon.unwrap_or(NO_COLON),
            name_end: 0,
        };
        field.measure_name(block);
        field
    }

    /// Offset of the colon (`None`: a line without one).
    pub(crate) fn colon(&self) -> Option<usize> {
        (self.colon != NO_COLON).then_some(self.colon)
    }

    /// Measure [`Field::name_end`] (a field without a colon is all name, continuation lines
    /// included).
    fn measure_name(&mut self, block: &[u8]) {
        let end = self.colon().unwrap_or(self.span.end);
        let trimmed = block
            .get(self.span.start..end)
            .unwrap_or_default()
            .trim_ascii_end();
        self.name_end = self.span.start + trimmed.len();
    }

    pub(crate) fn name<'a>(&self, block: &'a [u8]) -> &'a [u8] {
        let end = self.colon().unwrap_or(self.span.end);
        block.get(self.span.start..end).unwrap_or_default()
    }

    /// The name without the WSP some writers leave before the colon.
    pub(crate) fn trimmed_name<'a>(&self, block: &'a [u8]) -> &'a [u8] {
        block
            .get(self.span.start..self.name_end)
            .unwrap_or_default()
    }

    /// The value: after the colon, without the final CRLF.
    pub(crate) fn value<'a>(&self, block: &'a [u8]) -> &'a [u8] {
        let Some(colon) = self.colon() else {
            return &[];
        };
        let raw = block.get(colon + 1..self.span.end).unwrap_or_default();
        raw.strip_suffix(b"\r\n").unwrap_or(raw)
    }

    pub(crate) fn is_named(&self, block: &[u8], name: &str) -> bool {
        // The lengths first: most names differ in length.
        self.name_end - self.span.start == name.len()
            && eq_ignore_case(self.trimmed_name(block), name.as_bytes())
    }
}

/// [`<[u8]>::eq_ignore_ascii_case`], eight bytes at a time.
pub(crate) fn eq_ignore_case(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let (mut a_words, mut b_words) = (a.chunks_exact(8), b.chunks_exact(8));
    for (x, y) in a_words.by_ref().zip(b_words.by_ref()) {
        if lower_word(x) != lower_word(y) {
            return false;
        }
    }
    // The same length: the remainders are as long as each other.
    lower_word(a_words.remainder()) == lower_word(b_words.remainder())
}

/// Up to eight bytes (zero-padded) as a word, ASCII upper case turned to lower case.
fn lower_word(bytes: &[u8]) -> u64 {
    const ONES: u64 = u64::from_le_bytes([1; 8]);
    // Byte by byte (a copy of a variable length would call memcpy).
    let x = bytes
        .iter()
        .rev()
        .fold(0u64, |word, &b| word << 8 | u64::from(b));
    // Per byte, on its low seven bits (no carry leaves a byte): the high bit of `at_least_a`
    // is set from 'A' up, that of `past_z` above 'Z'; bytes with the high bit set are not
    // ASCII and stay as they are.
    let low7 = x & (ONES * 0x7f);
    let at_least_a = low7 + ONES * u64::from(0x80 - b'A');
    let past_z = low7 + ONES * u64::from(0x80 - b'Z' - 1);
    let upper = at_least_a & !past_z & !x & (ONES * 0x80);
    // 0x80 >> 2 is the case bit, 0x20.
    x | (upper >> 2)
}

/// The offset of the first CRLF at or after `from`.
fn crlf_after(block: &[u8], from: usize) -> Option<usize> {
    let mut at = from;
    loop {
        let lf = at + memchr::memchr(b'\n', block.get(at..)?)?;
        if lf > from && block.get(lf - 1) == Some(&b'\r') {
            return Some(lf - 1);
        }
        at = lf + 1;
    }
}

/// Split a header block (each field ending in CRLF; continuation lines start with WSP).
pub(crate) fn split_fields(block: &[u8], base_offset: usize) -> Result<Vec<Field>, Error> {
    // Room for a typical header block without regrowing (32 fields of 32 bytes).
    let mut fields: Vec<Field> = Vec::with_capacity(32);
    let mut pos = 0;
    while pos < block.len() {
        let line_end = crlf_after(block, pos).map_or(block.len(), |i| i + 2);
        let continuation = matches!(block.get(pos), Some(b' ' | b'\t'));
        match fields.last_mut() {
            Some(last) if continuation => {
                last.span.end = line_end;
                if last.colon().is_none() {
                    last.measure_name(block);
                }
            }
            _ => {
                if fields.len() >= MAX_HEADER_FIELDS {
                    return Err(Error::TooManyHeaderFields {
                        limit: MAX_HEADER_FIELDS,
                        offset: base_offset + pos,
                    });
                }
                let colon = block
                    .get(pos..line_end)
                    .and_then(|line| memchr::memchr(b':', line))
                    .map(|i| pos + i);
                fields.push(Field::new(block, pos..line_end, colon));
            }
        }
        pos = line_end;
    }
    Ok(fields)
}

/// The searcher for the empty line that ends a header block, built once (building one costs
/// about as much as searching a header block).
static EMPTY_LINE: LazyLock<memchr::memmem::Finder<'static>> =
    LazyLock::new(|| memchr::memmem::Finder::new(b"\r\n\r\n"));

/// Where a message stream stands while its header block is collected.
#[derive(Debug, Default)]
pub(crate) struct HeaderCollector {
    buf: Vec<u8>,
}

/// What one chunk of input gave.
pub(crate) enum Collected<'a> {
    /// Still inside the header block.
    More,
    /// The block is complete (each field with its CRLF, the empty line left out); `body` is
    /// the rest of this chunk, the start of the body (may be empty).
    Done { block: Vec<u8>, body: &'a [u8] },
}

impl HeaderCollector {
    /// The last three bytes seen, as if the message were preceded by CRLF (so that a message
    /// starting with its empty line has an empty header block).
    fn window(&self) -> ([u8; 3], usize) {
        let mut w = [0u8; 3];
        let buf = &self.buf;
        let len = if buf.len() >= 3 {
            w.copy_from_slice(buf.get(buf.len() - 3..).unwrap_or_default());
            3
        } else {
            // CRLF and the (at most two) bytes so far, on the stack.
            let mut v = [b'\r', b'\n', 0, 0];
            for (dst, &b) in v.iter_mut().skip(2).zip(buf) {
                *dst = b;
            }
            let filled = v.get(..2 + buf.len()).unwrap_or_default();
            let tail = filled
                .get(filled.len().saturating_sub(3)..)
                .unwrap_or_default();
            for (dst, &b) in w.iter_mut().zip(tail) {
                *dst = b;
            }
            tail.len()
        };
        (w, len)
    }

    /// Take the next chunk. Only header bytes are copied, at most [`MAX_HEADER_BLOCK_BYTES`].
    pub(crate) fn push<'a>(&mut self, chunk: &'a [u8]) -> Result<Collected<'a>, Error> {
        // The empty line may straddle the previous chunk and this one...
        let (window, w) = self.window();
        let mut probe = [0u8; 6];
        let k = chunk.len().min(3);
        // Byte by byte: copies of a variable length this short would call memcpy.
        for (dst, &src) in probe.iter_mut().zip(window.iter().take(w)) {
            *dst = src;
        }
        for (dst, &src) in probe.iter_mut().skip(w).zip(chunk.iter().take(k)) {
            *dst = src;
        }
        let across = probe
            .get(..w + k)
            .and_then(|p| memchr::memmem::find(p, b"\r\n\r\n"))
            .map(|p| p + 4 - w);
        // ... or lie inside it (searched no further than the limit allows).
        let room = MAX_HEADER_BLOCK_BYTES.saturating_sub(self.buf.len()) + 4;
        let end = across.or_else(|| {
            chunk
                .get(..chunk.len().min(room))
                .and_then(|c| EMPTY_LINE.find(c))
                .map(|i| i + 4)
        });
        if let Some(end) = end {
            // `end` is just past the empty line; the block stops after the CRLF before it.
            let mut block = std::mem::take(&mut self.buf);
            if end >= 2 {
                block.extend_from_slice(chunk.get(..end - 2).unwrap_or_default());
            } else {
                block.truncate(block.len().saturating_sub(2 - end));
            }
            return Ok(Collected::Done {
                block,
                body: chunk.get(end..).unwrap_or_default(),
            });
        }
        if self.buf.len() + chunk.len() > MAX_HEADER_BLOCK_BYTES {
            return Err(Error::HeaderBlockTooLarge {
                limit: MAX_HEADER_BLOCK_BYTES,
                offset: MAX_HEADER_BLOCK_BYTES,
            });
        }
        self.buf.extend_from_slice(chunk);
        Ok(Collected::More)
    }

    /// End of message inside the header block: all of it is header, the body is empty.
    pub(crate) fn finish(&mut self) -> Vec<u8> {
        let mut block = std::mem::take(&mut self.buf);
        if !block.is_empty() && !block.ends_with(b"\r\n") {
            block.extend_from_slice(b"\r\n");
        }
        block
    }
}

/// The canonical header data a signature covers, without the signature field itself
/// (RFC 6376 §5.4.2): for each `h=` name, the last not yet used field of that name, bottom up;
/// a name with no field left contributes nothing. `out` grows once, with `extra` bytes to
/// spare for what the caller adds next.
pub(crate) fn selected_headers<N: AsRef<str>>(
    block: &[u8],
    fields: &[Field],
    names: impl IntoIterator<Item = N>,
    c: Canonicalization,
    extra: usize,
    out: &mut Vec<u8>,
) {
    // The picks (field indices), the first ones on the stack; then `out` grows once. A
    // canonical form is no longer than its field (relaxed only removes bytes), but for the
    // CRLF of a last field that lacks one.
    let mut inline = [0usize; 32];
    let mut picked = 0;
    let mut more = Vec::new();
    let mut room = extra;
    pick_fields(block, fields, names, |i, field| {
        room += field.span.len() + 2;
        match inline.get_mut(picked) {
            Some(slot) => *slot = i,
            None => more.push(i),
        }
        picked += 1;
    });
    out.reserve(room);
    let inline = inline.get(..picked).unwrap_or(&inline);
    for field in inline.iter().chain(&more).filter_map(|&i| fields.get(i)) {
        canon::header_field(c, field.name(block), field.value(block), out);
    }
}

/// Hand each field `names` selects to `each` (index and field), in `h=` order (see
/// [`selected_headers`]).
fn pick_fields<'f, N: AsRef<str>>(
    block: &[u8],
    fields: &'f [Field],
    names: impl IntoIterator<Item = N>,
    mut each: impl FnMut(usize, &'f Field),
) {
    // One bit per field: used by an earlier name. MAX_HEADER_FIELDS bits, on the stack.
    let mut used = [0u64; MAX_HEADER_FIELDS.div_ceil(64)];
    for name in names {
        let pick = fields
            .iter()
            .enumerate()
            .rev()
            .find(|(i, f)| f.is_named(block, name.as_ref()) && !is_set(&used, *i));
        if let Some((i, field)) = pick {
            if let Some(word) = used.get_mut(i / 64) {
                *word |= 1 << (i % 64);
            }
            each(i, field);
        }
    }
}

/// Is bit `i` of `bits` set (bits past the end count as set)?
fn is_set(bits: &[u64], i: usize) -> bool {
    bits.get(i / 64)
        .is_none_or(|word| word & (1 << (i % 64)) != 0)
}

/// Convert bare LF to CRLF, remembering a CR at the end of one chunk (explicit opt-in: wire
/// format is CRLF).
#[derive(Debug, Default, Clone)]
pub(crate) struct BareLf {
    last_was_cr: bool,
}

impl BareLf {
    pub(crate) fn convert(&mut self, input: &[u8], out: &mut Vec<u8>) {
        out.clear();
        out.reserve(input.len() + input.len() / 32);
        for &b in input {
            if b == b'\n' && !self.last_was_cr {
                out.push(b'\r');
            }
            out.push(b);
            self.last_was_cr = b == b'\r';
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        /// The word-wise case-insensitive comparison agrees with the standard library's, for
        /// bytes around the letters and outside ASCII.
        #[test]
        fn eq_ignore_case_matches_the_standard_library(
            a in prop::collection::vec(
                prop::sample::select(b"@AZ[`az{\x00\x7f\x80\xc1\xda\xe1\xfa-".to_vec()),
                0..20,
            ),
            flips in prop::collection::vec(any::<bool>(), 20),
            other in prop::collection::vec(any::<u8>(), 0..20),
        ) {
            // `a` against itself with some cases flipped, and against arbitrary bytes.
            let flipped: Vec<u8> = a
                .iter()
                .zip(&flips)
                .map(|(&b, &f)| if f && b.is_ascii_alphabetic() { b ^ 0x20 } else { b })
                .collect();
            prop_assert_eq!(eq_ignore_case(&a, &flipped), a.eq_ignore_ascii_case(&flipped));
            prop_assert_eq!(eq_ignore_case(&a, &other), a.eq_ignore_ascii_case(&other));
            let shifted: Vec<u8> = a.iter().map(|b| b.wrapping_add(0x20)).collect();
            prop_assert_eq!(eq_ignore_case(&a, &shifted), a.eq_ignore_ascii_case(&shifted));
        }

        /// The CRLF search (memchr for LF, then the CR before it) finds what a search for the
        /// two bytes finds, from any start.
        #[test]
        fn crlf_after_finds_the_first_crlf(
            block in prop::collection::vec(prop::sample::select(b"a \r\n".to_vec()), 0..40),
            from in 0usize..41,
        ) {
            let expected = block
                .get(from..)
                .and_then(|rest| memchr::memmem::find(rest, b"\r\n"))
                .map(|i| from + i);
            prop_assert_eq!(crlf_after(&block, from), expected);
        }
    }

    /// A typical field list (32 fields) stays within the allocator's small sizes.
    #[test]
    fn a_field_takes_32_bytes() {
        assert_eq!(std::mem::size_of::<Field>(), 32);
    }

    #[test]
    fn splits_and_selects() {
        let block = b"From: a\r\nTo: b\r\n c\r\nSubject : s\r\nFrom: z\r\n";
        let fields = split_fields(block, 0).unwrap();
        assert_eq!(fields.len(), 4);
        assert_eq!(fields[1].value(block), b" b\r\n c");
        assert!(fields[2].is_named(block, "subject"));
        let mut out = Vec::new();
        let names = crate::signature::header_list(b"from:from:from:to").unwrap();
        selected_headers(
            block,
            &fields,
            names.iter(),
            Canonicalization::Relaxed,
            0,
            &mut out,
        );
        assert_eq!(out, b"from:z\r\nfrom:a\r\nto:b c\r\n");
    }

    #[test]
    fn collects_across_chunks() {
        let msg = b"A: 1\r\nB: 2\r\n\r\nbody";
        for split in 1..msg.len() {
            let mut c = HeaderCollector::default();
            let (a, b) = msg.split_at(split);
            let mut got: Option<(Vec<u8>, Vec<u8>)> = None;
            for part in [a, b] {
                if let Some((_, rest)) = &mut got {
                    rest.extend_from_slice(part);
                } else if let Collected::Done { block, body } = c.push(part).unwrap() {
                    got = Some((block, body.to_vec()));
                }
            }
            let (block, body) = got.unwrap();
            assert_eq!(block, b"A: 1\r\nB: 2\r\n");
            assert_eq!(body, b"body", "split {split}");
        }
        // A message that starts with its empty line has no header fields.
        for msg in [&b"\r\nbody"[..], b"\r", b"\r\n"] {
            let mut c = HeaderCollector::default();
            match c.push(msg).unwrap() {
                Collected::Done { block, body } => {
                    assert!(block.is_empty());
                    assert_eq!(body, msg.get(2..).unwrap());
                }
                Collected::More => {
                    assert_eq!(msg, b"\r");
                    let Collected::Done { block, body } = c.push(b"\nx").unwrap() else {
                        panic!("CR LF across chunks");
                    };
                    assert!(block.is_empty());
                    assert_eq!(body, b"x");
                }
            }
        }
    }

    #[test]
    fn bare_lf() {
        let mut c = BareLf::default();
        let mut out = Vec::new();
        c.convert(b"a\nb\r", &mut out);
        assert_eq!(out, b"a\r\nb\r");
        c.convert(b"\nc\n", &mut out);
        assert_eq!(out, b"\nc\r\n");
    }
}
