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
    decode_keeping::<false>(value, &mut Vec::new())
}

/// [`decode`], also appending the value without its FWS to `text` (all of it when the value
/// decodes).
pub(crate) fn decode_keeping_text(value: &[u8], text: &mut Vec<u8>) -> Option<Vec<u8>> {
    decode_keeping::<true>(value, text)
}

fn decode_keeping<const KEEP: bool>(value: &[u8], text: &mut Vec<u8>) -> Option<Vec<u8>> {
    // Written in place, then cut to length: a zeroed buffer as long as the longest output, and
    // room for the whole-word stores below (which write zeros past the octets they decode).
    let mut out = vec![0u8; value.len() / 4 * 3 + 8];
    let mut written = 0;
    // The symbols of the current quad, 6 bits each, the first in the highest bits.
    let mut acc: u32 = 0;
    let mut symbols = 0usize;
    let mut pads = 0usize;
    let mut rest = value;
    loop {
        // Eight symbols (six octets) at a time while there is no FWS or padding among them,
        // then four.
        if symbols.is_multiple_of(4) && pads == 0 {
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
                put(&mut out, written, &(word << 16).to_be_bytes());
                written += 6;
                if KEEP {
                    text.extend_from_slice(chunk);
                }
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
                    put(&mut out, written, &(quad << 8).to_be_bytes());
                    written += 3;
                    if KEEP {
                        text.extend_from_slice(chunk);
                    }
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
        let v = class(byte);
        if KEEP && v != FWS {
            text.push(byte);
        }
        match v {
            FWS => {}
            PAD => pads += 1,
            v if v < 64 && pads == 0 => {
                acc = acc << 6 | u32::from(v);
                symbols += 1;
                if symbols.is_multiple_of(4) {
                    put(&mut out, written, &acc.to_be_bytes()[1..]);
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
        return Some(Vec::new());
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
            put(&mut out, written, &(acc >> 4).to_be_bytes()[3..]);
            written += 1;
        }
        3 if acc.trailing_zeros() >= 2 => {
            put(&mut out, written, &(acc >> 2).to_be_bytes()[2..]);
            written += 2;
        }
        _ => return None,
    }
    out.truncate(written);
    Some(out)
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
