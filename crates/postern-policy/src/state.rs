//! The versioned byte encoding of state records, for external stores such as Redis.
//!
//! Every record starts with two bytes: [`STATE_VERSION`] and a kind byte; integers follow in
//! big-endian order. A store keeps the record under the subject's key and lets it expire at the
//! `fresh_after_ms` the step returns: from then on, a missing record means the same as the
//! stored one.

use crate::Error;

/// The version byte this crate writes and reads.
pub const STATE_VERSION: u8 = 1;

/// Kind byte of a GCRA record.
pub(crate) const KIND_GCRA: u8 = 1;
/// Kind byte of a greylisting record.
pub(crate) const KIND_GREYLIST: u8 = 2;
/// Kind byte of a lease record.
pub(crate) const KIND_LEASE: u8 = 3;
/// Kind byte of a penalty-box record.
pub(crate) const KIND_PENALTY: u8 = 4;

/// Check the header of a record of `kind` that must be exactly `len` bytes long.
pub(crate) fn header(bytes: &[u8], kind: u8, len: usize) -> Result<(), Error> {
    let version = bytes.first().copied().ok_or(Error::State {
        what: "version byte",
        offset: 0,
    })?;
    let found_kind = bytes.get(1).copied().unwrap_or(0);
    if version != STATE_VERSION {
        return Err(Error::StateVersion {
            found: version,
            kind: found_kind,
            expected: STATE_VERSION,
        });
    }
    if bytes.len() < 2 {
        return Err(Error::State {
            what: "kind byte",
            offset: 1,
        });
    }
    if found_kind != kind {
        return Err(Error::State {
            what: "record kind of this decision",
            offset: 1,
        });
    }
    if bytes.len() < len {
        return Err(Error::State {
            what: "more bytes (record truncated)",
            offset: bytes.len(),
        });
    }
    if bytes.len() > len {
        return Err(Error::State {
            what: "end of record",
            offset: len,
        });
    }
    Ok(())
}

pub(crate) fn read_u64(bytes: &[u8], offset: usize) -> Result<u64, Error> {
    bytes
        .get(offset..offset.saturating_add(8))
        .and_then(|s| <[u8; 8]>::try_from(s).ok())
        .map(u64::from_be_bytes)
        .ok_or(Error::State {
            what: "8-byte integer",
            offset,
        })
}

pub(crate) fn read_u32(bytes: &[u8], offset: usize) -> Result<u32, Error> {
    bytes
        .get(offset..offset.saturating_add(4))
        .and_then(|s| <[u8; 4]>::try_from(s).ok())
        .map(u32::from_be_bytes)
        .ok_or(Error::State {
            what: "4-byte integer",
            offset,
        })
}

/// Writes a record into a fixed array.
pub(crate) struct Writer<const N: usize> {
    buf: [u8; N],
    at: usize,
}

impl<const N: usize> Writer<N> {
    pub(crate) fn new(kind: u8) -> Self {
        let mut w = Self { buf: [0; N], at: 0 };
        w.put(&[STATE_VERSION, kind]);
        w
    }

    pub(crate) fn put(&mut self, bytes: &[u8]) {
        let end = self.at.saturating_add(bytes.len());
        if let Some(dst) = self.buf.get_mut(self.at..end) {
            dst.copy_from_slice(bytes);
            self.at = end;
        }
    }

    pub(crate) fn finish(self) -> [u8; N] {
        self.buf
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_checks() {
        assert!(header(&[1, 1, 0, 0], 1, 4).is_ok());
        assert_eq!(
            header(&[], 1, 4),
            Err(Error::State {
                what: "version byte",
                offset: 0
            })
        );
        assert!(matches!(
            header(&[2, 1, 0, 0], 1, 4),
            Err(Error::StateVersion {
                found: 2,
                kind: 1,
                expected: 1
            })
        ));
        assert!(matches!(
            header(&[1], 1, 4),
            Err(Error::State { offset: 1, .. })
        ));
        assert!(matches!(
            header(&[1, 2, 0, 0], 1, 4),
            Err(Error::State { offset: 1, .. })
        ));
        assert!(matches!(
            header(&[1, 1, 0], 1, 4),
            Err(Error::State { offset: 3, .. })
        ));
        assert!(matches!(
            header(&[1, 1, 0, 0, 0], 1, 4),
            Err(Error::State { offset: 4, .. })
        ));
        assert_eq!(read_u64(&[0, 0, 0, 0, 0, 0, 0, 0, 7], 1), Ok(7));
        assert!(read_u64(&[0; 4], 0).is_err());
        assert_eq!(read_u32(&[0, 0, 1, 0], 0), Ok(256));
        assert!(read_u32(&[0; 3], 0).is_err());
    }
}
