//! Body hashes (RFC 6376 §3.7): one streaming state per distinct (canonicalization, hash,
//! `l=`), shared by every signature that needs it.

use crate::canon::{BodyCanonicalizer, Canonicalization, Sink};
use crate::inline::InlineFirst;
use crate::signature::HashAlgorithm;

/// What makes two body hashes the same computation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct BodyHashKey {
    pub(crate) canonicalization: Canonicalization,
    pub(crate) hash: HashAlgorithm,
    pub(crate) limit: Option<u64>,
}

/// Small pieces of canonical output (around the white space relaxed canonicalization changes)
/// are gathered into blocks of this size before they are hashed: a digest update per piece
/// would cost more than the hashing. Long runs go to the digest directly.
const STAGE_BYTES: usize = 512;

/// A digest fed canonical bytes, stopping after `remaining` of them; counts all it sees.
struct LimitedDigest {
    ctx: ring::digest::Context,
    remaining: Option<u64>,
    seen: u64,
    /// Staged bytes (the first `staged`), kept inline: no allocation per hash.
    stage: [u8; STAGE_BYTES],
    staged: usize,
}

impl LimitedDigest {
    fn hash(&mut self, bytes: &[u8]) {
        if bytes.len() >= STAGE_BYTES / 2 {
            // Large runs go straight to the digest, after what is staged.
            self.flush();
            self.ctx.update(bytes);
            return;
        }
        if self.staged + bytes.len() > STAGE_BYTES {
            self.flush();
        }
        if let Some(dst) = self.stage.get_mut(self.staged..self.staged + bytes.len()) {
            dst.copy_from_slice(bytes);
            self.staged += bytes.len();
        }
    }

    fn flush(&mut self) {
        if self.staged > 0 {
            self.ctx
                .update(self.stage.get(..self.staged).unwrap_or_default());
            self.staged = 0;
        }
    }
}

impl Sink for LimitedDigest {
    fn put(&mut self, bytes: &[u8]) {
        let len = bytes.len() as u64;
        self.seen = self.seen.saturating_add(len);
        match self.remaining {
            None => self.hash(bytes),
            Some(0) => {}
            Some(remaining) => {
                let take = remaining.min(len);
                let take_usize = usize::try_from(take).unwrap_or(bytes.len());
                self.hash(bytes.get(..take_usize).unwrap_or(bytes));
                self.remaining = Some(remaining - take);
            }
        }
    }
}

/// One body hash in progress.
pub(crate) struct BodyHasher {
    key: BodyHashKey,
    canon: BodyCanonicalizer,
    digest: LimitedDigest,
    done: Option<(ring::digest::Digest, u64)>,
}

impl std::fmt::Debug for BodyHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BodyHasher")
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

impl BodyHasher {
    pub(crate) fn new(key: BodyHashKey) -> Self {
        Self {
            key,
            canon: BodyCanonicalizer::new(key.canonicalization),
            digest: LimitedDigest {
                ctx: ring::digest::Context::new(key.hash.ring()),
                remaining: key.limit,
                seen: 0,
                stage: [0; STAGE_BYTES],
                staged: 0,
            },
            done: None,
        }
    }

    pub(crate) fn key(&self) -> BodyHashKey {
        self.key
    }

    pub(crate) fn update(&mut self, body: &[u8]) {
        if self.done.is_none() {
            self.canon.update(body, &mut self.digest);
        }
    }

    /// End of body: the digest and the canonical body length (all of it, `l=` or not).
    #[cfg(test)]
    fn digest_of(key: BodyHashKey, chunks: &[&[u8]]) -> Vec<u8> {
        let mut h = Self::new(key);
        for c in chunks {
            h.update(c);
        }
        h.finish().0.to_vec()
    }

    pub(crate) fn finish(&mut self) -> (&[u8], u64) {
        if self.done.is_none() {
            self.canon.finish(&mut self.digest);
            self.digest.flush();
            let ctx = std::mem::replace(
                &mut self.digest.ctx,
                ring::digest::Context::new(self.key.hash.ring()),
            );
            self.done = Some((ctx.finish(), self.digest.seen));
        }
        match &self.done {
            Some((digest, seen)) => (digest.as_ref(), *seen),
            None => (&[], 0),
        }
    }
}

/// The set of body hashes a message needs.
#[derive(Debug, Default)]
pub(crate) struct BodyHashes {
    hashers: InlineFirst<BodyHasher>,
}

impl BodyHashes {
    /// The index of the hasher for `key`, created if new.
    pub(crate) fn index_for(&mut self, key: BodyHashKey) -> usize {
        if let Some(i) = self.hashers.iter().position(|h| h.key() == key) {
            return i;
        }
        self.hashers.push(BodyHasher::new(key));
        self.hashers.len() - 1
    }

    pub(crate) fn len(&self) -> usize {
        self.hashers.len()
    }

    pub(crate) fn update(&mut self, body: &[u8]) {
        for h in self.hashers.iter_mut() {
            h.update(body);
        }
    }

    pub(crate) fn finish(&mut self) {
        for h in self.hashers.iter_mut() {
            h.finish();
        }
    }

    /// The finished digest and canonical length of hasher `i`.
    pub(crate) fn result(&mut self, i: usize) -> Option<(ring::digest::Digest, u64)> {
        let h = self.hashers.get_mut(i)?;
        h.finish();
        h.done
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// Bodies with every kind of line and white space, long clean runs (which skip the stage)
    /// and arbitrary bytes.
    fn body_bytes() -> impl Strategy<Value = Vec<u8>> {
        prop::collection::vec(
            prop_oneof![
                4 => Just(b"text".to_vec()),
                3 => Just(b" ".to_vec()),
                1 => Just(b"\t  ".to_vec()),
                3 => Just(b"\r\n".to_vec()),
                1 => Just(b"\r".to_vec()),
                1 => Just(b"\n".to_vec()),
                1 => Just(b"A clean line of text, long enough to matter.\r\n".repeat(30)),
                1 => any::<u8>().prop_map(|b| vec![b]),
            ],
            0..80,
        )
        .prop_map(|parts| parts.concat())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// The streamed body hash (any chunks, staged or direct digest updates, an `l=` cut
        /// anywhere) is the digest of the reference canonical body cut at `l=`, and the length
        /// is the whole canonical length.
        #[test]
        fn body_hash_matches_the_reference_for_any_chunks_and_limit(
            input in body_bytes(),
            split in prop::collection::vec(1usize..2000, 1..6),
            limit in prop::option::of(0u64..3000),
            relaxed in any::<bool>(),
        ) {
            let canonicalization = if relaxed { Canonicalization::Relaxed } else { Canonicalization::Simple };
            let key = BodyHashKey { canonicalization, hash: HashAlgorithm::Sha256, limit };
            let mut hasher = BodyHasher::new(key);
            let mut rest = &input[..];
            for &n in split.iter().cycle() {
                if rest.is_empty() {
                    break;
                }
                let (a, b) = rest.split_at(n.min(rest.len()));
                hasher.update(a);
                rest = b;
            }
            let canonical = crate::__fuzz::reference_body(canonicalization, &input);
            let cut = limit.map_or(canonical.len(), |l| canonical.len().min(usize::try_from(l).unwrap()));
            let expected = ring::digest::digest(&ring::digest::SHA256, &canonical[..cut]);
            let (digest, length) = hasher.finish();
            prop_assert_eq!(digest, expected.as_ref());
            prop_assert_eq!(length, canonical.len() as u64);
        }
    }

    /// Small and large canonical runs, in any order, hash as one stream.
    #[test]
    fn staging_keeps_the_order() {
        let key = BodyHashKey {
            canonicalization: Canonicalization::Simple,
            hash: HashAlgorithm::Sha256,
            limit: None,
        };
        let small = b"x".repeat(100);
        let large = b"y".repeat(STAGE_BYTES);
        let mut all = small.clone();
        all.extend_from_slice(&large);
        all.extend_from_slice(&small);
        all.extend_from_slice(b"\r\n");
        let expected = ring::digest::digest(&ring::digest::SHA256, &all);
        let got = BodyHasher::digest_of(key, &[&small, &large, &small]);
        assert_eq!(got, expected.as_ref());
    }
}
