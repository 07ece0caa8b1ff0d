//! The crate's error type: wrong input or wrong use of the API. DKIM verdicts (fail, permerror,
//! ...) are never errors; they are [`crate::SignatureOutcome`] values.

/// What went wrong, and where.
///
/// A malformed *signature* or *key record* met while verifying is a verdict (`permerror` with
/// its RFC 6376 reason), not an error. `Error` is for the caller's own inputs: a message whose
/// header block exceeds a limit, a private key that cannot be used, signer parameters that
/// would produce an invalid signature, or a step-loop call out of order.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The header block grew past [`crate::MAX_HEADER_BLOCK_BYTES`] before its empty line.
    #[error("header block exceeds {limit} bytes (no empty line by offset {offset})")]
    HeaderBlockTooLarge {
        /// The limit that was hit.
        limit: usize,
        /// Message offset at which the limit was hit.
        offset: usize,
    },
    /// The header block holds more than [`crate::MAX_HEADER_FIELDS`] fields.
    #[error("header block has more than {limit} fields (field starting at offset {offset})")]
    TooManyHeaderFields {
        /// The limit that was hit.
        limit: usize,
        /// Offset of the first field over the limit.
        offset: usize,
    },
    /// Message input arrived after [`crate::Verifier::finish`] or [`crate::Signer::finish`].
    #[error("message input after finish()")]
    InputAfterFinish,
    /// `supply` named a query id that is not outstanding.
    #[error("no outstanding key query with id {id}")]
    UnknownQuery {
        /// The id given.
        id: u32,
    },
    /// A DNS answer packet could not be decoded.
    #[error("DNS answer for query {id} is not usable: {source}")]
    Dns {
        /// The query it answered.
        id: u32,
        /// The decoding error.
        source: postern_dns::Error,
    },
    /// A private key could not be read (format, PEM armour, DER structure).
    #[error("private key: {what}")]
    PrivateKey {
        /// What is wrong with it.
        what: &'static str,
    },
    /// An RSA private key has a size ring cannot sign with (2048–4096 bits).
    #[error("RSA private key of {bits} bits: signing needs 2048 to 4096 bits")]
    PrivateKeySize {
        /// The modulus size in bits.
        bits: usize,
    },
    /// A signing parameter is invalid.
    #[error("signing parameter {field}: {what}")]
    SignParameter {
        /// The parameter (`d`, `s`, `i`, `h`, `x`, ...).
        field: &'static str,
        /// What is wrong with it.
        what: &'static str,
    },
}
