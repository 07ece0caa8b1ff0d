//! Base64 as DKIM uses it (RFC 6376 §2.4): FWS may appear anywhere and is ignored.

use base64::Engine as _;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};

/// Standard alphabet; padding optional on input (some signers drop it), canonical trailing
/// bits required.
const LENIENT_PADDING: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Decode a base64 tag value, ignoring FWS. `None` for any other non-alphabet byte.
pub(crate) fn decode(value: &[u8]) -> Option<Vec<u8>> {
    let compact = crate::tag_list::strip_fws(value);
    LENIENT_PADDING.decode(compact).ok()
}

/// Encode with padding.
pub(crate) fn encode(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[cfg(test)]
mod tests {
    #[test]
    fn decodes_with_fws() {
        assert_eq!(super::decode(b"YW Jj\r\n\tZA=="), Some(b"abcd".to_vec()));
        assert_eq!(super::decode(b"YWJjZA"), Some(b"abcd".to_vec()));
        assert_eq!(super::decode(b"YWJj*A=="), None);
        assert_eq!(super::encode(b"abcd"), "YWJjZA==");
    }
}
