//! An open-addressing hash map from [`Key`] to small `Copy` values: buckets of
//! [`SLOTS`] entries, one bucket per 64-byte cache line (for an 8-byte value), probed
//! bucket after bucket (linear probing over buckets), with backward-shift deletion.
//!
//! Key and value sit together in a bucket aligned to the cache line, so a lookup in a large,
//! cold table reads one line unless its home bucket overflowed (a `SwissTable` touches a
//! control group and a slot in two places; 24-byte entries packed end to end straddle two
//! lines one time in four). The bucket count need not be a power of two: the home bucket is
//! the hash scaled to the count (a multiply), so the table is sized to its key bound.
//!
//! Invariant: an entry sits in its home bucket or, if that was full, in a later one, and every
//! bucket from its home up to it is full. A lookup therefore stops at the first bucket with a
//! free slot. The all-zero key marks free slots; that one key, if used, lives in a side slot.

use crate::subject::Key;
use crate::table::KeyHasherBuilder;

const EMPTY: Key = Key::from_u128(0);
/// Entries per bucket: two 16-byte keys and two 8-byte values fill 48 of a line's 64 bytes.
pub(crate) const SLOTS: usize = 2;
/// Smallest non-zero bucket count.
const MIN_BUCKETS: usize = 8;
/// Maximum load factor, as the fraction `LOAD_NUM / LOAD_DEN` of the slots: at 4/7 about one
/// entry in seven overflows its home bucket (the cost of the second cache line weighs more
/// than the table's size: at 0.7 the 1M-key decision is slower, at 0.55 a little faster).
const LOAD_NUM: usize = 4;
const LOAD_DEN: usize = 7;

#[derive(Debug, Clone, Copy)]
#[repr(C, align(64))]
struct Bucket<V> {
    keys: [Key; SLOTS],
    values: [V; SLOTS],
}

impl<V: Copy + Default> Bucket<V> {
    fn empty() -> Self {
        Self {
            keys: [EMPTY; SLOTS],
            values: [V::default(); SLOTS],
        }
    }

    fn is_full(&self) -> bool {
        self.keys.iter().all(|&k| k != EMPTY)
    }
}

/// The map.
#[derive(Debug, Clone)]
pub(crate) struct ProbeMap<V> {
    buckets: Vec<Bucket<V>>,
    /// Occupied slots (the zero key not included).
    used: usize,
    /// The most entries the map will be asked to hold: growth stops at the bucket count
    /// for that many.
    limit: usize,
    zero: Option<V>,
    hasher: KeyHasherBuilder,
}

/// Buckets needed to hold `n` entries at the maximum load factor.
fn buckets_for(n: usize) -> usize {
    n.saturating_mul(LOAD_DEN)
        .div_ceil(SLOTS * LOAD_NUM)
        .saturating_add(1)
        .max(MIN_BUCKETS)
}

/// Whether `x` lies in the cyclic interval `(a, b]`.
fn in_cyclic(a: usize, x: usize, b: usize) -> bool {
    if a <= b {
        a < x && x <= b
    } else {
        a < x || x <= b
    }
}

impl<V: Copy + Default> ProbeMap<V> {
    /// A map that will hold at most about `limit` entries (more still work, with more
    /// growth).
    pub(crate) fn new(hasher: KeyHasherBuilder, limit: usize) -> Self {
        Self {
            buckets: Vec::new(),
            used: 0,
            limit,
            zero: None,
            hasher,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.used + usize::from(self.zero.is_some())
    }

    /// Bytes of heap held by the buckets.
    pub(crate) fn heap_bytes(&self) -> usize {
        self.buckets
            .capacity()
            .saturating_mul(core::mem::size_of::<Bucket<V>>())
    }

    /// The home bucket of `key`: its hash scaled to the bucket count.
    #[allow(clippy::cast_possible_truncation)] // the product's high half is below the count
    fn home(&self, key: Key) -> usize {
        let h = u128::from(self.hasher.hash_key(key));
        ((h * self.buckets.len() as u128) >> 64) as usize
    }

    fn next(&self, i: usize) -> usize {
        let j = i + 1;
        if j == self.buckets.len() { 0 } else { j }
    }

    /// The slot holding `key` (`true`), or the free slot where it would go (`false`), or
    /// `None` when the map has no bucket.
    #[inline]
    fn probe(&self, key: Key) -> Option<(usize, usize, bool)> {
        // Keys compared as one 128-bit number: no branch between the two halves.
        let want = key.as_u128();
        let mut i = self.home(key);
        // At most every bucket once; the load factor guarantees a free slot first.
        for _ in 0..self.buckets.len() {
            let b = self.buckets.get(i)?;
            if let Some(s) = b.keys.iter().position(|k| k.as_u128() == want) {
                return Some((i, s, true));
            }
            if let Some(s) = b.keys.iter().position(|&k| k == EMPTY) {
                return Some((i, s, false));
            }
            i = self.next(i);
        }
        None
    }

    /// Where `key` is held if that is its home bucket (most keys; `None` for the others,
    /// which [`get_or_insert`](Self::get_or_insert) finds): the short common path of a
    /// lookup.
    #[inline]
    pub(crate) fn find_at_home(&self, key: Key) -> Option<(usize, usize)> {
        if key == EMPTY {
            return None;
        }
        let want = key.as_u128();
        let i = self.home(key);
        let s = self
            .buckets
            .get(i)?
            .keys
            .iter()
            .position(|k| k.as_u128() == want)?;
        Some((i, s))
    }

    /// The value at a position returned by [`find_at_home`](Self::find_at_home).
    #[inline]
    pub(crate) fn value_mut(&mut self, (i, s): (usize, usize)) -> Option<&mut V> {
        self.buckets.get_mut(i)?.values.get_mut(s)
    }

    pub(crate) fn get(&self, key: Key) -> Option<&V> {
        if key == EMPTY {
            return self.zero.as_ref();
        }
        match self.probe(key)? {
            (i, s, true) => self.buckets.get(i)?.values.get(s),
            _ => None,
        }
    }

    pub(crate) fn contains(&self, key: Key) -> bool {
        self.get(key).is_some()
    }

    /// Make room for `additional` more entries without further growth.
    pub(crate) fn reserve(&mut self, additional: usize) {
        let want = buckets_for(self.len().saturating_add(additional));
        if want > self.buckets.len() {
            self.rehash(want);
        }
    }

    fn rehash(&mut self, buckets: usize) {
        let old = core::mem::replace(&mut self.buckets, vec![Bucket::empty(); buckets]);
        self.used = 0;
        for b in &old {
            for (&key, &value) in b.keys.iter().zip(&b.values) {
                if key == EMPTY {
                    continue;
                }
                if let Some((i, s, _)) = self.probe(key)
                    && let Some(bucket) = self.buckets.get_mut(i)
                    && let (Some(k), Some(v)) = (bucket.keys.get_mut(s), bucket.values.get_mut(s))
                {
                    *k = key;
                    *v = value;
                    self.used += 1;
                }
            }
        }
    }

    /// Grow when one more entry would exceed the load factor: double, but stop at the size
    /// for `limit` entries on the way (past it, keep doubling).
    fn grow_for_one_more(&mut self) {
        let want = buckets_for(self.used + 1);
        if want <= self.buckets.len() {
            return;
        }
        let doubled = self.buckets.len().saturating_mul(2);
        let cap = buckets_for(self.limit);
        let grown = if self.buckets.len() < cap {
            doubled.min(cap)
        } else {
            doubled
        };
        self.rehash(grown.max(want));
    }

    /// The value of `key`, inserting `fresh` first if it is absent. `None` only if the map
    /// cannot hold another entry (never below `usize::MAX / 8` buckets).
    #[inline]
    pub(crate) fn get_or_insert(&mut self, key: Key, fresh: V) -> Option<&mut V> {
        if key == EMPTY {
            return Some(self.zero.get_or_insert(fresh));
        }
        self.grow_for_one_more();
        let (i, s, found) = self.probe(key)?;
        let bucket = self.buckets.get_mut(i)?;
        let (k, v) = (bucket.keys.get_mut(s)?, bucket.values.get_mut(s)?);
        if !found {
            *k = key;
            *v = fresh;
            self.used += 1;
        }
        Some(v)
    }

    pub(crate) fn remove(&mut self, key: Key) -> Option<V> {
        if key == EMPTY {
            return self.zero.take();
        }
        match self.probe(key)? {
            (i, s, true) => {
                let value = self.buckets.get(i)?.values.get(s).copied();
                self.delete_at(i, s);
                value
            }
            _ => None,
        }
    }

    /// Free slot `s` of bucket `pos` and move later entries back so that every entry stays
    /// reachable from its home bucket (Knuth's algorithm R, over buckets): an entry whose
    /// home is not in `(hole, its bucket]` moves into the hole, and the hole moves on. The
    /// scan ends after the first bucket that was not full: nothing beyond it was pushed
    /// past it.
    fn delete_at(&mut self, pos: usize, s: usize) {
        let mut hole = (pos, s);
        let mut full = self.buckets.get(pos).is_some_and(Bucket::is_full);
        let mut j = pos;
        for _ in 0..self.buckets.len() {
            if !full {
                break;
            }
            j = self.next(j);
            let Some(&b) = self.buckets.get(j) else {
                break;
            };
            full = b.is_full();
            for (t, (&key, &value)) in b.keys.iter().zip(&b.values).enumerate() {
                if key == EMPTY || hole.0 == j || in_cyclic(hole.0, self.home(key), j) {
                    continue;
                }
                if let Some(dst) = self.buckets.get_mut(hole.0)
                    && let (Some(k), Some(v)) =
                        (dst.keys.get_mut(hole.1), dst.values.get_mut(hole.1))
                {
                    *k = key;
                    *v = value;
                }
                hole = (j, t);
            }
        }
        if let Some(b) = self.buckets.get_mut(hole.0)
            && let (Some(k), Some(v)) = (b.keys.get_mut(hole.1), b.values.get_mut(hole.1))
        {
            *k = EMPTY;
            *v = V::default();
            self.used = self.used.saturating_sub(1);
        }
    }

    /// Keep the entries for which `keep` returns true; returns how many were removed.
    pub(crate) fn retain(&mut self, mut keep: impl FnMut(&V) -> bool) -> usize {
        let mut removed = 0;
        if let Some(v) = &self.zero
            && !keep(v)
        {
            self.zero = None;
            removed += 1;
        }
        // Start right after a bucket that is not full (it stays so: nothing is inserted):
        // backward shifts then only move entries not visited yet into the slot being
        // visited.
        let Some(start) = self.buckets.iter().position(|b| !b.is_full()) else {
            return removed;
        };
        let mut bucket = start;
        for _ in 0..self.buckets.len() {
            bucket = self.next(bucket);
            let mut slot = 0;
            while slot < SLOTS {
                let Some(b) = self.buckets.get(bucket) else {
                    break;
                };
                match (b.keys.get(slot), b.values.get(slot)) {
                    (Some(&k), Some(v)) if k != EMPTY && !keep(v) => {
                        self.delete_at(bucket, slot);
                        removed += 1;
                        // The slot now holds an entry not visited yet, or is free: look again.
                    }
                    _ => slot += 1,
                }
            }
        }
        removed
    }

    pub(crate) fn values(&self) -> impl Iterator<Item = &V> {
        self.zero.iter().chain(self.buckets.iter().flat_map(|b| {
            b.keys
                .iter()
                .zip(&b.values)
                .filter(|&(&k, _)| k != EMPTY)
                .map(|(_, v)| v)
        }))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use proptest::prelude::*;

    use super::*;

    fn map() -> ProbeMap<u64> {
        ProbeMap::new(KeyHasherBuilder::random(), 1000)
    }

    #[test]
    fn basic_operations() {
        let mut m = map();
        assert_eq!(m.get(Key::from_u128(5)), None);
        assert_eq!(m.remove(Key::from_u128(5)), None);
        *m.get_or_insert(Key::from_u128(5), 1).unwrap() += 10;
        *m.get_or_insert(Key::from_u128(0), 7).unwrap() += 1;
        assert_eq!(m.get(Key::from_u128(5)), Some(&11));
        assert_eq!(m.get(Key::from_u128(0)), Some(&8));
        assert_eq!(m.len(), 2);
        assert!(m.contains(Key::from_u128(0)));
        assert_eq!(m.remove(Key::from_u128(0)), Some(8));
        assert_eq!(m.remove(Key::from_u128(5)), Some(11));
        assert_eq!(m.len(), 0);
        m.reserve(1000);
        assert!(m.heap_bytes() >= 1000 * 24);
    }

    #[test]
    fn a_bucket_of_8_byte_values_is_one_aligned_cache_line() {
        assert_eq!(core::mem::size_of::<Bucket<u64>>(), 64);
        assert_eq!(core::mem::align_of::<Bucket<u64>>(), 64);
        let mut m = map();
        m.reserve(1 << 20);
        // 2^20 entries at load 4/7 of 2 slots per 64-byte bucket: 56 bytes per entry.
        assert_eq!(m.heap_bytes(), buckets_for(1 << 20) * 64);
        assert!(m.heap_bytes() <= (1 << 20) * 57);
    }

    #[test]
    fn growth_stops_at_the_size_for_the_limit() {
        let mut m: ProbeMap<u64> = ProbeMap::new(KeyHasherBuilder::random(), 5000);
        for k in 1..=5000 {
            let _ = m.get_or_insert(Key::from_u128(k), 0);
        }
        assert_eq!(m.heap_bytes(), buckets_for(5000) * 64);
        // Past the limit it still works, growing as needed.
        for k in 5001..=20_000 {
            let _ = m.get_or_insert(Key::from_u128(k), 0);
        }
        assert_eq!(m.len(), 20_000);
        assert!((1..=20_000).all(|k| m.contains(Key::from_u128(k))));
    }

    /// Apply `ops` (insert/update, remove, retain, get) to `m` and to a standard `HashMap`,
    /// checking every answer and the length after each; returns the `HashMap`.
    fn apply_like_a_hash_map(
        m: &mut ProbeMap<u64>,
        ops: &[(u8, u128, u64)],
    ) -> Result<HashMap<u128, u64>, TestCaseError> {
        let mut reference: HashMap<u128, u64> = HashMap::new();
        for &(op, k, v) in ops {
            let key = Key::from_u128(k);
            match op {
                0 => {
                    *m.get_or_insert(key, v).unwrap() = v;
                    reference.insert(k, v);
                }
                1 => prop_assert_eq!(m.remove(key), reference.remove(&k)),
                2 => {
                    let removed = m.retain(|&x| x % 3 != v % 3);
                    let before = reference.len();
                    reference.retain(|_, x| *x % 3 != v % 3);
                    prop_assert_eq!(removed, before - reference.len());
                }
                _ => prop_assert_eq!(m.get(key), reference.get(&k)),
            }
            prop_assert_eq!(m.len(), reference.len());
        }
        for (k, v) in &reference {
            prop_assert_eq!(m.get(Key::from_u128(*k)), Some(v));
        }
        Ok(reference)
    }

    proptest! {
        /// With a hash that sends every key to the same home bucket (one long chain that
        /// wraps around), the map still behaves like the standard HashMap.
        #[test]
        fn behaves_like_a_hash_map_with_one_home_bucket(ops in prop::collection::vec((0_u8..4, 0_u128..40, any::<u64>()), 1..400)) {
            let mut m = ProbeMap::new(KeyHasherBuilder::constant(), 8);
            apply_like_a_hash_map(&mut m, &ops)?;
        }

        /// Any sequence of inserts, updates, removals and retains gives the same contents
        /// as the standard HashMap.
        #[test]
        fn behaves_like_a_hash_map(ops in prop::collection::vec((0_u8..4, 0_u128..300, any::<u64>()), 1..600)) {
            let mut m = map();
            let reference = apply_like_a_hash_map(&mut m, &ops)?;
            let mut values: Vec<u64> = m.values().copied().collect();
            let mut expected: Vec<u64> = reference.values().copied().collect();
            values.sort_unstable();
            expected.sort_unstable();
            prop_assert_eq!(values, expected);
        }
    }
}
