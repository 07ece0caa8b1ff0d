//! The header block: collected from the message stream up to its empty line (bounded), split
//! into fields, and selected for hashing (RFC 6376 §5.4.2).

use std::ops::Range;

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
    /// Offset of the colon (`None`: a line without one, which no `h=` can select).
    pub(crate) colon: Option<usize>,
}

impl Field {
    pub(crate) fn name<'a>(&self, block: &'a [u8]) -> &'a [u8] {
        let end = self.colon.unwrap_or(self.span.end);
        block.get(self.span.start..end).unwrap_or_default()
    }

    /// The name without the WSP some writers leave before the colon.
    pub(crate) fn trimmed_name<'a>(&self, block: &'a [u8]) -> &'a [u8] {
        self.name(block).trim_ascii_end()
    }

    /// The value: after the colon, without the final CRLF.
    pub(crate) fn value<'a>(&self, block: &'a [u8]) -> &'a [u8] {
        let Some(colon) = self.colon else {
            return &[];
        };
        let raw = block.get(colon + 1..self.span.end).unwrap_or_default();
        raw.strip_suffix(b"\r\n").unwrap_or(raw)
    }

    pub(crate) fn is_named(&self, block: &[u8], name: &str) -> bool {
        self.trimmed_name(block)
            .eq_ignore_ascii_case(name.as_bytes())
    }
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
    // Room for a typical header block without regrowing.
    let mut fields: Vec<Field> = Vec::with_capacity(32);
    let mut pos = 0;
    while pos < block.len() {
        let line_end = crlf_after(block, pos).map_or(block.len(), |i| i + 2);
        let continuation = matches!(block.get(pos), Some(b' ' | b'\t'));
        match fields.last_mut() {
            Some(last) if continuation => last.span.end = line_end,
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
                fields.push(Field {
                    span: pos..line_end,
                    colon,
                });
            }
        }
        pos = line_end;
    }
    Ok(fields)
}

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
            let mut v = b"\r\n".to_vec();
            v.extend_from_slice(buf);
            let from = v.len().saturating_sub(3);
            let tail = v.get(from..).unwrap_or_default();
            if let Some(dst) = w.get_mut(..tail.len()) {
                dst.copy_from_slice(tail);
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
        if let (Some(dst), Some(src)) = (probe.get_mut(..w), window.get(..w)) {
            dst.copy_from_slice(src);
        }
        if let (Some(dst), Some(src)) = (probe.get_mut(w..w + k), chunk.get(..k)) {
            dst.copy_from_slice(src);
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
                .and_then(|c| memchr::memmem::find(c, b"\r\n\r\n"))
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
pub(crate) fn selected_headers(
    block: &[u8],
    fields: &[Field],
    names: &[String],
    c: Canonicalization,
    extra: usize,
    out: &mut Vec<u8>,
) {
    let mut used = vec![false; fields.len()];
    let mut picked: Vec<&Field> = Vec::with_capacity(names.len());
    for name in names {
        let pick = fields
            .iter()
            .enumerate()
            .rev()
            .find(|(i, f)| !used.get(*i).copied().unwrap_or(true) && f.is_named(block, name));
        if let Some((i, field)) = pick {
            if let Some(u) = used.get_mut(i) {
                *u = true;
            }
            picked.push(field);
        }
    }
    // A canonical form is no longer than its field (relaxed only removes bytes), but for the
    // CRLF of a last field that lacks one.
    out.reserve(picked.iter().map(|f| f.span.len() + 2).sum::<usize>() + extra);
    for field in picked {
        canon::header_field(c, field.name(block), field.value(block), out);
    }
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

    #[test]
    fn splits_and_selects() {
        let block = b"From: a\r\nTo: b\r\n c\r\nSubject : s\r\nFrom: z\r\n";
        let fields = split_fields(block, 0).unwrap();
        assert_eq!(fields.len(), 4);
        assert_eq!(fields[1].value(block), b" b\r\n c");
        assert!(fields[2].is_named(block, "subject"));
        let mut out = Vec::new();
        let names = ["from", "from", "from", "to"].map(String::from);
        selected_headers(
            block,
            &fields,
            &names,
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
