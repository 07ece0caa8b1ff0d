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

/// Split a header block (each field ending in CRLF; continuation lines start with WSP).
pub(crate) fn split_fields(block: &[u8], base_offset: usize) -> Result<Vec<Field>, Error> {
    let mut fields: Vec<Field> = Vec::new();
    let mut pos = 0;
    while pos < block.len() {
        let line_end = block
            .get(pos..)
            .and_then(|rest| memchr::memmem::find(rest, b"\r\n"))
            .map_or(block.len(), |i| pos + i + 2);
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
    /// The block is complete; `body` is the start of the body in this chunk (may be empty),
    /// and `tail` any body bytes that had been copied with the header.
    Done {
        block: Vec<u8>,
        tail: Vec<u8>,
        body: &'a [u8],
    },
}

impl HeaderCollector {
    /// Take the next chunk. At most [`MAX_HEADER_BLOCK_BYTES`] + 4 octets are ever held.
    pub(crate) fn push<'a>(&mut self, chunk: &'a [u8]) -> Result<Collected<'a>, Error> {
        let room = (MAX_HEADER_BLOCK_BYTES + 4).saturating_sub(self.buf.len());
        let take = chunk.len().min(room);
        let (now, later) = chunk.split_at(take);
        let old = self.buf.len();
        self.buf.extend_from_slice(now);
        // An empty header block: the message starts with CRLF.
        if self.buf.starts_with(b"\r\n") {
            let tail = self.buf.split_off(2);
            return Ok(Collected::Done {
                block: Vec::new(),
                tail,
                body: later,
            });
        }
        let from = old.saturating_sub(3);
        let found = self
            .buf
            .get(from..)
            .and_then(|b| memchr::memmem::find(b, b"\r\n\r\n"))
            .map(|i| from + i);
        if let Some(sep) = found {
            let tail = self.buf.split_off(sep + 4);
            self.buf.truncate(sep + 2);
            let block = std::mem::take(&mut self.buf);
            return Ok(Collected::Done {
                block,
                tail,
                body: later,
            });
        }
        if self.buf.len() > MAX_HEADER_BLOCK_BYTES {
            return Err(Error::HeaderBlockTooLarge {
                limit: MAX_HEADER_BLOCK_BYTES,
                offset: MAX_HEADER_BLOCK_BYTES,
            });
        }
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
/// a name with no field left contributes nothing.
pub(crate) fn selected_headers(
    block: &[u8],
    fields: &[Field],
    names: &[String],
    c: Canonicalization,
    out: &mut Vec<u8>,
) {
    let mut used = vec![false; fields.len()];
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
            canon::header_field(c, field.name(block), field.value(block), out);
        }
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
    use super::*;

    #[test]
    fn splits_and_selects() {
        let block = b"From: a\r\nTo: b\r\n c\r\nSubject : s\r\nFrom: z\r\n";
        let fields = split_fields(block, 0).unwrap();
        assert_eq!(fields.len(), 4);
        assert_eq!(fields[1].value(block), b" b\r\n c");
        assert!(fields[2].is_named(block, "subject"));
        let mut out = Vec::new();
        let names = ["from", "from", "from", "to"].map(String::from);
        selected_headers(block, &fields, &names, Canonicalization::Relaxed, &mut out);
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
                } else if let Collected::Done { block, tail, body } = c.push(part).unwrap() {
                    let mut rest = tail;
                    rest.extend_from_slice(body);
                    got = Some((block, rest));
                }
            }
            let (block, body) = got.unwrap();
            assert_eq!(block, b"A: 1\r\nB: 2\r\n");
            assert_eq!(body, b"body", "split {split}");
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
