//! Base64 as DKIM uses it (RFC 6376 §2.4): FWS may appear anywhere and is ignored.

use base64::Engine as _;

/// What a byte is to the decoder: a symbol value (0–63), or one of these markers.
const PAD: u8 = 0x40;
const FWS: u8 = 0x41;
const INVALID: u8 = 0xff;

/// What `byte` is in the standard alphabet (RFC 4648 §4), or `=`, or FWS.
const fn class_of(byte: u8) -> u8 {
    match byte {
        b'A'..=b'Z' => byte - b'A',
        b'a'..=b'z' => byte - b'a' + 26,
        b'0'..=b'9' => byte - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        b'=' => PAD,
        b' ' | b'\t' | b'\r' | b'\n' => FWS,
        _ => INVALID,
    }
}

/// [`class_of`] by byte value.
// Built at compile time: an index out of bounds would fail the build, it cannot panic.
#[allow(clippy::indexing_slicing)]
const DECODE: [u8; 256] = {
    let mut table = [INVALID; 256];
    let mut byte = 0;
    while byte < 256 {
        // `byte` < 256: the cast is exact.
        #[allow(clippy::cast_possible_truncation)]
        {
            table[byte] = class_of(byte as u8);
        }
        byte += 1;
    }
    table
};

fn class(byte: u8) -> u8 {
    DECODE.get(usize::from(byte)).copied().unwrap_or(INVALID)
}

/// The symbol value of `byte` (0–63), or 0xff for anything else (FWS and `=` included), by
/// branch-free arithmetic rather than a table look-up, so that a block of bytes is classified
/// with vector compares. Agrees with [`class`] on the alphabet.
fn symbol(byte: u8) -> u8 {
    let mask = |c: bool| 0u8.wrapping_sub(u8::from(c));
    let upper = mask(byte.wrapping_sub(b'A') < 26);
    let lower = mask(byte.wrapping_sub(b'a') < 26);
    let digit = mask(byte.wrapping_sub(b'0') < 10);
    let plus = mask(byte == b'+');
    let slash = mask(byte == b'/');
    // What takes each range to its values: 'A' + 0xbf = 0 and 'a' + 0xb9 = 26 (mod 256),
    // '0' + 4 = 52, '+' + 0x13 = 62, '/' + 0x10 = 63.
    let offset = (upper & 0xbf) | (lower & 0xb9) | (digit & 0x04) | (plus & 0x13) | (slash & 0x10);
    byte.wrapping_add(offset) | !(upper | lower | digit | plus | slash)
}

/// Eight symbol values (0–63, the first in the highest byte) packed into their six octets,
/// the top 48 bits of the result.
fn pack8(x: u64) -> u64 {
    // Pairs of symbols into 12 bits in each 16-bit lane, pairs of those into 24 bits in each
    // 32-bit lane, then the two halves into 48 bits.
    let x = ((x >> 2) & 0x0fc0_0fc0_0fc0_0fc0) | (x & 0x003f_003f_003f_003f);
    let x = ((x >> 4) & 0x00ff_f000_00ff_f000) | (x & 0x0000_0fff_0000_0fff);
    let x = ((x >> 8) & 0x0000_ffff_ff00_0000) | (x & 0x0000_0000_00ff_ffff);
    x << 16
}

/// 32 symbol values (0–63) packed into their 24 octets, written at the start of `out` (whose
/// last 8 bytes get zeros).
fn pack32(values: &[u8; 32], out: &mut [u8; 32]) {
    let (v0, rest) = values.split_first_chunk::<8>().unwrap_or((&[0; 8], &[]));
    let (v1, rest) = rest.split_first_chunk::<8>().unwrap_or((&[0; 8], &[]));
    let (v2, rest) = rest.split_first_chunk::<8>().unwrap_or((&[0; 8], &[]));
    let v3 = rest.first_chunk::<8>().unwrap_or(&[0; 8]);
    // Front to back: each whole-word store writes two zeros that the next one overwrites.
    for (at, eight) in [(0, v0), (6, v1), (12, v2), (18, v3)] {
        let word = pack8(u64::from_be_bytes(*eight)).to_be_bytes();
        if let Some(dst) = out.get_mut(at..at + 8) {
            dst.copy_from_slice(&word);
        }
    }
}

/// The start of `value` decoded 32 symbols (24 octets) at a time into `out`, while a block of
/// 32 bytes holds nothing but symbols: the symbols decoded (a multiple of 32) and the rest.
/// `out` has room for the octets and 8 bytes of slack (see [`room_for`]).
fn decode_blocks<'v>(value: &'v [u8], mut out: Option<&mut [u8]>) -> (usize, &'v [u8]) {
    let mut rest = value;
    let mut symbols = 0;
    while let Some((block, tail)) = rest.split_first_chunk::<32>() {
        // Classified all at once, then packed eight by eight.
        let mut values = [0u8; 32];
        for (v, &byte) in values.iter_mut().zip(block) {
            *v = symbol(byte);
        }
        if values.iter().fold(0, |all, &v| all | v) >= 64 {
            break;
        }
        let at = symbols / 4 * 3;
        if let Some(dst) = out
            .as_deref_mut()
            .and_then(|out| out.get_mut(at..))
            .and_then(<[u8]>::first_chunk_mut::<32>)
        {
            pack32(&values, dst);
        }
        symbols += 32;
        rest = tail;
    }
    (symbols, rest)
}

/// Copy `bytes` into `out` at `at` (the caller sized `out` so that it fits).
fn put(out: &mut [u8], at: usize, bytes: &[u8]) {
    if let Some(dst) = out.get_mut(at..at + bytes.len()) {
        dst.copy_from_slice(bytes);
    }
}

/// Decode a base64 tag value, ignoring FWS (space, tab, CR, LF) wherever it is. `None` for any
/// other non-alphabet byte, `=` other than at the end, a length that no encoding has, too much
/// padding, or non-zero bits after the last octet. Padding is optional (some signers drop it).
///
/// One pass, without first copying the value out of its folding; it accepts exactly what the
/// base64 crate's standard engine with optional padding accepts on the FWS-free value.
pub(crate) fn decode(value: &[u8]) -> Option<Vec<u8>> {
    let mut out = vec![0u8; room_for(value)];
    let len = decode_into(value, &mut out)?;
    out.truncate(len);
    Some(out)
}

/// [`decode`], also appending the value without its FWS to `text` when it decodes.
pub(crate) fn decode_keeping_text(value: &[u8], text: &mut Vec<u8>) -> Option<Vec<u8>> {
    let decoded = decode(value)?;
    // Decoded: the only bytes up to SP are FWS. One pass without early exit (vectorized).
    if value.iter().fold(0u8, |fws, &b| fws | u8::from(b <= b' ')) != 0 {
        text.extend(value.iter().filter(|&&b| b > b' '));
    } else {
        text.extend_from_slice(value);
    }
    Some(decoded)
}

/// A buffer to [`decode`] into without allocating: `N` bytes inline, the heap for values that
/// need more room (see [`room_for`]).
pub(crate) struct DecodeBuf<const N: usize> {
    inline: [u8; N],
    heap: Vec<u8>,
    len: usize,
    on_heap: bool,
}

impl<const N: usize> DecodeBuf<N> {
    pub(crate) fn new() -> Self {
        Self {
            inline: [0; N],
            heap: Vec::new(),
            len: 0,
            on_heap: false,
        }
    }

    /// [`decode`] `value` into the buffer (replacing what it held); whether it decoded.
    pub(crate) fn decode(&mut self, value: &[u8]) -> bool {
        let room = room_for(value);
        self.on_heap = room > N;
        let out = if self.on_heap {
            self.heap.clear();
            self.heap.resize(room, 0);
            self.heap.as_mut_slice()
        } else {
            self.inline.get_mut(..room).unwrap_or_default()
        };
        let decoded = decode_into(value, out);
        self.len = decoded.unwrap_or(0);
        decoded.is_some()
    }

    /// The bytes of the last value decoded (empty if it did not decode).
    pub(crate) fn bytes(&self) -> &[u8] {
        let all = if self.on_heap {
            self.heap.as_slice()
        } else {
            self.inline.as_slice()
        };
        all.get(..self.len).unwrap_or_default()
    }
}

/// The room the decoder needs for `value`: as long as the longest output, and 8 bytes for the
/// whole-word stores (which write zeros past the octets they decode).
pub(crate) const fn room_for(value: &[u8]) -> usize {
    value.len() / 4 * 3 + 8
}

/// Decode `value` into `out` (at least [`room_for`] bytes long, written in place and to be cut
/// to the length returned).
fn decode_into(value: &[u8], out: &mut [u8]) -> Option<usize> {
    let mut written = 0;
    // The symbols of the current quad, 6 bits each, the first in the highest bits.
    let mut acc: u32 = 0;
    let mut symbols = 0usize;
    let mut pads = 0usize;
    let mut rest = value;
    loop {
        // 32 symbols at a time while there is no FWS or padding among them, then eight (six
        // octets), then four.
        if symbols.is_multiple_of(4) && pads == 0 {
            let (blocks, tail) = decode_blocks(rest, out.get_mut(written..));
            written += blocks / 4 * 3;
            symbols += blocks;
            rest = tail;
            while let Some((chunk, tail)) = rest.split_first_chunk::<8>() {
                let (mut word, mut classes) = (0u64, 0u8);
                for &byte in chunk {
                    let v = class(byte);
                    classes |= v;
                    word = word << 6 | u64::from(v);
                }
                if classes >= 64 {
                    break;
                }
                // The six octets are the top of the word; the two zeros after them are
                // overwritten or cut off.
                put(out, written, &(word << 16).to_be_bytes());
                written += 6;
                symbols += 8;
                rest = tail;
            }
            if let Some((chunk, tail)) = rest.split_first_chunk::<4>() {
                let (mut quad, mut classes) = (0u32, 0u8);
                for &byte in chunk {
                    let v = class(byte);
                    classes |= v;
                    quad = quad << 6 | u32::from(v);
                }
                if classes < 64 {
                    put(out, written, &(quad << 8).to_be_bytes());
                    written += 3;
                    symbols += 4;
                    rest = tail;
                    continue;
                }
            }
        }
        // Then one byte: FWS, padding, or a symbol of a quad interrupted by them.
        let Some((&byte, tail)) = rest.split_first() else {
            break;
        };
        rest = tail;
        match class(byte) {
            FWS => {}
            PAD => pads += 1,
            v if v < 64 && pads == 0 => {
                acc = acc << 6 | u32::from(v);
                symbols += 1;
                if symbols.is_multiple_of(4) {
                    put(out, written, &acc.to_be_bytes()[1..]);
                    written += 3;
                    acc = 0;
                }
            }
            // A symbol after padding, or a byte outside the alphabet.
            _ => return None,
        }
    }
    let total = symbols + pads;
    if total == 0 {
        return Some(0);
    }
    // The last quad (1 to 4 characters, padding included) needs at least two symbols: one
    // symbol carries no whole octet, and `=` may not stand first or second in it.
    let last_quad = (total - 1) % 4 + 1;
    if last_quad < pads + 2 {
        return None;
    }
    // Leftover symbols give one or two more octets; the bits after them must be zero.
    match symbols % 4 {
        0 => {}
        2 if acc.trailing_zeros() >= 4 => {
            put(out, written, &(acc >> 4).to_be_bytes()[3..]);
            written += 1;
        }
        3 if acc.trailing_zeros() >= 2 => {
            put(out, written, &(acc >> 2).to_be_bytes()[2..]);
            written += 2;
        }
        _ => return None,
    }
    Some(written)
}

/// Encode with padding.
pub(crate) fn encode(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use base64::Engine as _;
    use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
    use proptest::prelude::*;

    /// The engine `decode` replaced: standard alphabet, padding optional, canonical trailing
    /// bits, applied to the value with its FWS removed.
    const REFERENCE: GeneralPurpose = GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
    );

    fn reference(value: &[u8]) -> Option<Vec<u8>> {
        let compact = crate::tag_list::strip_fws(value);
        REFERENCE.decode(compact).ok()
    }

    #[test]
    fn decodes_with_fws() {
        assert_eq!(super::decode(b"YW Jj\r\n\tZA=="), Some(b"abcd".to_vec()));
        assert_eq!(super::decode(b"YWJjZA"), Some(b"abcd".to_vec()));
        assert_eq!(super::decode(b"YWJj*A=="), None);
        assert_eq!(super::encode(b"abcd"), "YWJjZA==");
    }

    #[test]
    fn padding_and_trailing_bits_as_the_base64_crate() {
        for value in [
            &b""[..],
            b"=",
            b"==",
            b"A",
            b"A=",
            b"A==",
            b"AA",
            b"AB",
            b"AA=",
            b"AA==",
            b"AA===",
            b"AAA",
            b"AAB",
            b"AAA=",
            b"AAA==",
            b"AAAA=",
            b"AAAA==",
            b"AAAAA",
            b"AA=A",
            b"AAAA AA = =",
            b" \r\n",
        ] {
            assert_eq!(super::decode(value), reference(value), "{value:?}");
        }
    }

    /// Values from base64 bytes, FWS, `=` and a few others, and real encodings folded.
    fn value() -> impl Strategy<Value = Vec<u8>> {
        let piece = prop_oneof![
            6 => prop::sample::select(
                b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".to_vec()
            ).prop_map(|b| vec![b]),
            2 => Just(b"=".to_vec()),
            1 => Just(b" ".to_vec()),
            1 => Just(b"\r\n\t".to_vec()),
            1 => Just(b"\n".to_vec()),
            1 => any::<u8>().prop_map(|b| vec![b]),
        ];
        prop_oneof![
            prop::collection::vec(piece, 0..24).prop_map(|p| p.concat()),
            (prop::collection::vec(any::<u8>(), 0..64), 1usize..20).prop_map(|(bytes, fold)| {
                let text = super::encode(&bytes);
                let mut folded = Vec::new();
                for (i, b) in text.bytes().enumerate() {
                    if i % fold == fold - 1 {
                        folded.extend_from_slice(b"\r\n ");
                    }
                    folded.push(b);
                }
                folded
            }),
            // Long runs without FWS (the 32-symbol blocks), folded or spoiled at one place.
            (
                prop::collection::vec(any::<u8>(), 0..300),
                any::<prop::sample::Index>(),
                prop::sample::select(b"  \r\n\t=*-_\x00\xff".to_vec()),
                any::<bool>(),
            )
                .prop_map(|(bytes, at, byte, insert)| {
                    let mut text = super::encode(&bytes).into_bytes();
                    if !text.is_empty() {
                        let at = at.index(text.len());
                        if insert {
                            text.insert(at, byte);
                        } else {
                            text[at] = byte;
                        }
                    }
                    text
                }),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4096))]

        /// The one-pass decoder accepts and decodes exactly as the base64 crate does on the
        /// value without FWS.
        #[test]
        fn decode_matches_the_base64_crate(value in value()) {
            prop_assert_eq!(super::decode(&value), reference(&value));
        }

        /// Decoding inline or, when that is too small, on the heap gives what [`decode`]
        /// gives.
        #[test]
        fn decode_buffer_matches_decode(value in value()) {
            let expected = super::decode(&value);
            let mut small = super::DecodeBuf::<0>::new();
            let mut medium = super::DecodeBuf::<64>::new();
            let mut large = super::DecodeBuf::<400>::new();
            for _ in 0..2 {
                prop_assert_eq!(small.decode(&value), expected.is_some());
                prop_assert_eq!(medium.decode(&value), expected.is_some());
                prop_assert_eq!(large.decode(&value), expected.is_some());
                let want = expected.as_deref().unwrap_or_default();
                prop_assert_eq!(small.bytes(), want);
                prop_assert_eq!(medium.bytes(), want);
                prop_assert_eq!(large.bytes(), want);
                // Reused after something else.
                small.decode(b"QUJD");
                medium.decode(b"QUJD");
                large.decode(b"QUJD");
            }
        }

        /// The text kept beside a decoding is the value without its FWS.
        #[test]
        fn kept_text_is_the_value_without_fws(value in value()) {
            let mut text = Vec::new();
            let decoded = super::decode_keeping_text(&value, &mut text);
            prop_assert_eq!(&decoded, &reference(&value));
            if decoded.is_some() {
                prop_assert_eq!(text, crate::tag_list::strip_fws(&value).into_owned());
            }
        }
    }
}
