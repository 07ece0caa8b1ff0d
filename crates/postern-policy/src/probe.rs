//! An open-addressing hash map from [`Key`] to small `Copy` values, with linear probing and
//! backward-shift deletion. Key and value sit together in one bucket (24 bytes for an 8-byte
//! value), so a lookup in a large, cold table costs about one cache miss, where a `SwissTable`
//! touches a control group and a bucket in two places.
//!
//! The all-zero key marks empty buckets; that one key, if used, lives in a side slot.

use core::hash::BuildHasher;

use crate::subject::Key;
use crate::table::KeyHasherBuilder;

const EMPTY: Key = Key::from_u128(0);
/// Smallest non-zero bucket count.
const MIN_BUCKETS: usize = 16;

#[derive(Debug, Clone, Copy)]
struct Bucket<V> {
    key: Key,
    value: V,
}

/// The map. Load factor at most 7/8, so every probe sequence meets an empty bucket.
#[derive(Debug, Clone)]
pub(crate) struct ProbeMap<V> {
    buckets: Vec<Bucket<V>>,
    /// Occupied buckets (the zero key not included).
    used: usize,
    zero: Option<V>,
    hasher: KeyHasherBuilder,
}

/// Buckets needed to hold `n` entries at a load factor of at most 7/8.
fn buckets_for(n: usize) -> usize {
    n.saturating_mul(8)
        .div_ceil(7)
        .saturating_add(1)
        .next_power_of_two()
        .max(MIN_BUCKETS)
}

impl<V: Copy + Default> ProbeMap<V> {
    pub(crate) fn new(hasher: KeyHasherBuilder) -> Self {
        Self {
            buckets: Vec::new(),
            used: 0,
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

    #[allow(clippy::cast_possible_truncation)] // the hash is reduced modulo the bucket count
    fn home(&self, key: Key) -> usize {
        (self.hasher.hash_one(key) as usize) & self.buckets.len().wrapping_sub(1)
    }

    fn mask(&self) -> usize {
        self.buckets.len().wrapping_sub(1)
    }

    /// The bucket holding `key`, or the empty bucket where it would go.
    fn probe(&self, key: Key) -> (usize, bool) {
        let mask = self.mask();
        let mut i = self.home(key);
        // At most every bucket once; the load factor guarantees an empty one first.
        for _ in 0..self.buckets.len() {
            match self.buckets.get(i) {
                Some(b) if b.key == key => return (i, true),
                Some(b) if b.key == EMPTY => return (i, false),
                Some(_) => i = (i + 1) & mask,
                None => break,
            }
        }
        (i, false)
    }

    pub(crate) fn get(&self, key: Key) -> Option<&V> {
        if key == EMPTY {
            return self.zero.as_ref();
        }
        if self.buckets.is_empty() {
            return None;
        }
        match self.probe(key) {
            (i, true) => self.buckets.get(i).map(|b| &b.value),
            (_, false) => None,
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
        let empty = Bucket {
            key: EMPTY,
            value: V::default(),
        };
        let old = core::mem::replace(&mut self.buckets, vec![empty; buckets]);
        self.used = 0;
        for b in old.into_iter().filter(|b| b.key != EMPTY) {
            let (i, _) = self.probe(b.key);
            if let Some(slot) = self.buckets.get_mut(i) {
                *slot = b;
                self.used += 1;
            }
        }
    }

    /// The value of `key`, inserting `fresh` first if it is absent. `None` only if the map
    /// cannot hold another entry (never with a bucket count below `usize::MAX / 8`).
    pub(crate) fn get_or_insert(&mut self, key: Key, fresh: V) -> Option<&mut V> {
        if key == EMPTY {
            return Some(self.zero.get_or_insert(fresh));
        }
        if (self.used + 1).saturating_mul(8) > self.buckets.len().saturating_mul(7) {
            let grown = (self.buckets.len().saturating_mul(2)).max(MIN_BUCKETS);
            self.rehash(grown);
        }
        let (i, found) = self.probe(key);
        let bucket = self.buckets.get_mut(i)?;
        if !found {
            if bucket.key != EMPTY {
                return None;
            }
            *bucket = Bucket { key, value: fresh };
            self.used += 1;
        }
        Some(&mut bucket.value)
    }

    pub(crate) fn remove(&mut self, key: Key) -> Option<V> {
        if key == EMPTY {
            return self.zero.take();
        }
        if self.buckets.is_empty() {
            return None;
        }
        match self.probe(key) {
            (i, true) => {
                let value = self.buckets.get(i).map(|b| b.value);
                self.delete_at(i);
                value
            }
            (_, false) => None,
        }
    }

    /// Empty bucket `pos` and shift the rest of its cluster back so that every entry stays
    /// reachable from its home bucket (Knuth's algorithm R).
    fn delete_at(&mut self, pos: usize) {
        let mask = self.mask();
        let mut hole = pos;
        let mut j = pos;
        for _ in 0..self.buckets.len() {
            j = (j + 1) & mask;
            let Some(&b) = self.buckets.get(j) else {
                break;
            };
            if b.key == EMPTY {
                break;
            }
            let origin = self.home(b.key);
            // The entry at j may stay if its home bucket lies cyclically in (hole, j].
            let stays = if hole <= j {
                hole < origin && origin <= j
            } else {
                hole < origin || origin <= j
            };
            if !stays {
                if let Some(slot) = self.buckets.get_mut(hole) {
                    *slot = b;
                }
                hole = j;
            }
        }
        if let Some(slot) = self.buckets.get_mut(hole) {
            *slot = Bucket {
                key: EMPTY,
                value: V::default(),
            };
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
        let n = self.buckets.len();
        // Start right after an empty bucket: backward shifts then only move entries that
        // were not visited yet into the bucket being visited.
        let Some(start) = self.buckets.iter().position(|b| b.key == EMPTY) else {
            return removed;
        };
        let mask = self.mask();
        let mut p = (start + 1) & mask;
        let mut visited = 1; // the empty start bucket
        while visited < n {
            match self.buckets.get(p) {
                Some(b) if b.key != EMPTY && !keep(&b.value) => {
                    self.delete_at(p);
                    removed += 1;
                    // Bucket p now holds an unvisited entry, or is empty: look again.
                }
                _ => {
                    p = (p + 1) & mask;
                    visited += 1;
                }
            }
        }
        removed
    }

    pub(crate) fn values(&self) -> impl Iterator<Item = &V> {
        self.zero.iter().chain(
            self.buckets
                .iter()
                .filter(|b| b.key != EMPTY)
                .map(|b| &b.value),
        )
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use proptest::prelude::*;

    use super::*;

    fn map() -> ProbeMap<u64> {
        ProbeMap::new(KeyHasherBuilder::random())
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
    fn bucket_of_an_8_byte_value_is_24_bytes() {
        assert_eq!(core::mem::size_of::<Bucket<u64>>(), 24);
        let mut m = map();
        m.reserve(1 << 20);
        assert_eq!(m.heap_bytes(), (1 << 21) * 24);
    }

    proptest! {
        /// Any sequence of inserts, updates, removals and retains gives the same contents
        /// as the standard HashMap.
        #[test]
        fn behaves_like_a_hash_map(ops in prop::collection::vec((0_u8..4, 0_u128..300, any::<u64>()), 1..600)) {
            let mut m = map();
            let mut reference: HashMap<u128, u64> = HashMap::new();
            for (op, k, v) in ops {
                let key = Key::from_u128(k);
                match op {
                    0 => {
                        *m.get_or_insert(key, v).unwrap() = v;
                        reference.insert(k, v);
                    }
                    1 => prop_assert_eq!(m.remove(key), reference.remove(&k)),
                    2 => {
                        let threshold = v;
                        let removed = m.retain(|&x| x % 3 != threshold % 3);
                        let before = reference.len();
                        reference.retain(|_, x| *x % 3 != threshold % 3);
                        prop_assert_eq!(removed, before - reference.len());
                    }
                    _ => prop_assert_eq!(m.get(key), reference.get(&k)),
                }
                prop_assert_eq!(m.len(), reference.len());
            }
            for (k, v) in &reference {
                prop_assert_eq!(m.get(Key::from_u128(*k)), Some(v));
            }
            let mut values: Vec<u64> = m.values().copied().collect();
            let mut expected: Vec<u64> = reference.values().copied().collect();
            values.sort_unstable();
            expected.sort_unstable();
            prop_assert_eq!(values, expected);
        }
    }
}
