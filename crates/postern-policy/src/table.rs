//! A bounded table of per-key state: at most `max_keys` entries; when full it evicts the
//! entries already equivalent to fresh state, then the oldest, and counts what it evicted.

use core::hash::{BuildHasher, Hasher};
use std::hash::RandomState;

use crate::Error;
use crate::probe::ProbeMap;
use crate::subject::Key;

/// The largest `max_keys` a table accepts (2^26, about 67 million keys).
pub const MAX_TABLE_KEYS: usize = 1 << 26;

/// When a full table has to make room, it frees at least `max_keys / EVICTION_BATCH_DIVISOR`
/// slots at once (at least one), so that the cost of a sweep is spread over many insertions.
pub const EVICTION_BATCH_DIVISOR: usize = 64;

/// What a full table does with a new key once no entry equivalent to fresh state is left.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Overflow {
    /// Evict the oldest entries (those closest to fresh state) and track the new key.
    #[default]
    EvictOldest,
    /// Do not track the new key; the decision treats it as fresh (fail-open).
    FailOpen,
    /// Do not track the new key; the decision refuses it (fail-closed).
    FailClosed,
}

/// Counters of a table, for monitoring.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct TableStats {
    /// Entries held now.
    pub len: usize,
    /// The bound.
    pub max_keys: usize,
    /// Entries evicted because they were equivalent to fresh state (no information lost).
    pub evicted_fresh: u64,
    /// Entries evicted while still holding state, oldest first (information lost).
    pub evicted_live: u64,
    /// New keys that found the table full under [`Overflow::FailOpen`] or
    /// [`Overflow::FailClosed`] and were not tracked.
    pub untracked: u64,
}

/// State kept per key. `expiry` is the time (in the unit the table is driven with) from
/// which the entry is equivalent to fresh state; eviction prefers the smallest.
pub(crate) trait Entry: Copy + Default {
    fn expiry(&self) -> u64;
}

/// A fast keyed hasher for [`Key`]s: a folded 128-bit multiply of the key with a random
/// per-table secret (the keys are already well mixed or exact prefixes).
#[derive(Debug, Clone, Copy)]
pub(crate) struct KeyHasherBuilder {
    s0: u64,
    s1: u64,
}

impl KeyHasherBuilder {
    pub(crate) fn random() -> Self {
        let state = RandomState::new();
        Self {
            s0: state.hash_one(0x9e37_u32) | 1,
            s1: state.hash_one(0x79b9_u32),
        }
    }

    /// A hasher that sends every key whose high half is 0 to the same value (for tests of
    /// long probe chains).
    #[cfg(test)]
    pub(crate) const fn constant() -> Self {
        Self { s0: 0, s1: 0 }
    }

    /// The hash of `key` for the table: one folded 128-bit multiply of its two halves,
    /// each mixed with a secret (every output bit depends on every input bit).
    #[inline]
    #[allow(clippy::cast_possible_truncation)] // splitting a u128 into its two halves
    pub(crate) fn hash_key(&self, key: Key) -> u64 {
        let v = key.as_u128();
        folded_mul((v as u64) ^ self.s0, ((v >> 64) as u64) ^ self.s1)
    }
}

pub(crate) struct KeyHasher {
    s0: u64,
    s1: u64,
    h: u64,
}

#[allow(clippy::cast_possible_truncation)] // splitting a u128 into its two halves
fn folded_mul(a: u64, b: u64) -> u64 {
    let p = u128::from(a).wrapping_mul(u128::from(b));
    (p as u64) ^ ((p >> 64) as u64)
}

impl Hasher for KeyHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.h = folded_mul(self.h ^ u64::from(b) ^ self.s0, self.s1 | 1);
        }
    }

    #[allow(clippy::cast_possible_truncation)] // splitting a u128 into its two halves
    fn write_u128(&mut self, v: u128) {
        let lo = v as u64;
        let hi = (v >> 64) as u64;
        let m = folded_mul(lo ^ self.s0, hi ^ self.s1);
        self.h = folded_mul(m ^ self.h, self.s0 ^ 0x2d35_8dcc_aa6c_78a5);
    }

    fn finish(&self) -> u64 {
        self.h
    }
}

impl BuildHasher for KeyHasherBuilder {
    type Hasher = KeyHasher;

    fn build_hasher(&self) -> KeyHasher {
        KeyHasher {
            s0: self.s0,
            s1: self.s1,
            h: 0,
        }
    }
}

/// The outcome of looking a key up for writing.
pub(crate) enum Slot<'a, V> {
    /// The entry (new entries hold the `fresh` value given).
    Tracked(&'a mut V),
    /// The table is full and the overflow policy says not to track the key.
    Untracked,
}

pub(crate) struct Table<V> {
    map: ProbeMap<V>,
    max_keys: usize,
    overflow: Overflow,
    evicted_fresh: u64,
    evicted_live: u64,
    untracked: u64,
}

pub(crate) fn check_max_keys(max_keys: usize) -> Result<(), Error> {
    if max_keys == 0 {
        return Err(Error::Config {
            field: "max_keys",
            reason: "must be at least 1",
        });
    }
    if max_keys > MAX_TABLE_KEYS {
        return Err(Error::Config {
            field: "max_keys",
            reason: "must be at most MAX_TABLE_KEYS",
        });
    }
    Ok(())
}

impl<V: Entry> core::fmt::Debug for Table<V> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Table")
            .field("stats", &self.stats())
            .finish()
    }
}

impl<V: Entry> Table<V> {
    pub(crate) fn new(max_keys: usize, overflow: Overflow) -> Result<Self, Error> {
        check_max_keys(max_keys)?;
        Ok(Self {
            map: ProbeMap::new(KeyHasherBuilder::random(), max_keys),
            max_keys,
            overflow,
            evicted_fresh: 0,
            evicted_live: 0,
            untracked: 0,
        })
    }

    /// Allocate room for `max_keys` entries now, so that no later insertion allocates.
    pub(crate) fn preallocate(&mut self) {
        let extra = self.max_keys.saturating_sub(self.map.len());
        self.map.reserve(extra);
    }

    pub(crate) fn get(&self, key: Key) -> Option<&V> {
        self.map.get(key)
    }

    /// The entry of a tracked key held in its home bucket (no insertion, no bookkeeping:
    /// the fast path). `None` does not mean untracked: use [`slot`](Self::slot) then.
    #[inline]
    pub(crate) fn get_mut_at_home(&mut self, key: Key) -> Option<&mut V> {
        let at = self.map.find_at_home(key)?;
        self.map.value_mut(at)
    }

    pub(crate) fn remove(&mut self, key: Key) -> Option<V> {
        self.map.remove(key)
    }

    pub(crate) fn overflow(&self) -> Overflow {
        self.overflow
    }

    pub(crate) fn stats(&self) -> TableStats {
        TableStats {
            len: self.map.len(),
            max_keys: self.max_keys,
            evicted_fresh: self.evicted_fresh,
            evicted_live: self.evicted_live,
            untracked: self.untracked,
        }
    }

    /// Bytes of heap held by the table's buckets (two keys and their values per 64-byte
    /// bucket for an 8-byte value; 7/8 of a bucket per key at the 4/7 load factor).
    pub(crate) fn heap_bytes(&self) -> usize {
        self.map.heap_bytes()
    }

    /// The entry of `key`, inserting `fresh` if it is new, making room if the table is full.
    pub(crate) fn slot(&mut self, key: Key, now: u64, fresh: V) -> Slot<'_, V> {
        if self.map.len() >= self.max_keys && !self.map.contains(key) {
            self.make_room(now);
            if self.map.len() >= self.max_keys {
                self.untracked = self.untracked.saturating_add(1);
                return Slot::Untracked;
            }
        }
        if let Some(v) = self.map.get_or_insert(key, fresh) {
            return Slot::Tracked(v);
        }
        self.untracked = self.untracked.saturating_add(1);
        Slot::Untracked
    }

    /// Remove entries equivalent to fresh state; then, under [`Overflow::EvictOldest`], the
    /// oldest entries until a batch of slots is free.
    fn make_room(&mut self, now: u64) {
        let freed = self.map.retain(|v| v.expiry() > now);
        self.evicted_fresh = self.evicted_fresh.saturating_add(freed as u64);
        if self.overflow != Overflow::EvictOldest {
            return;
        }
        let batch = (self.max_keys / EVICTION_BATCH_DIVISOR).max(1);
        let target = self.max_keys.saturating_sub(batch);
        if self.map.len() > target {
            let need = self.map.len() - target;
            self.evict_oldest(need);
        }
    }

    /// Evict the `need` entries with the smallest expiry, without allocating: a 64-bin
    /// histogram of expiries finds the threshold bin, then one pass removes everything below
    /// it and enough of the bin itself.
    fn evict_oldest(&mut self, need: usize) {
        const BINS: usize = 64;
        let mut lo = u64::MAX;
        let mut hi = 0_u64;
        for v in self.map.values() {
            lo = lo.min(v.expiry());
            hi = hi.max(v.expiry());
        }
        if lo > hi {
            return;
        }
        let width = ((hi - lo) / BINS as u64).saturating_add(1);
        let bin_of = |e: u64| -> usize {
            usize::try_from((e.saturating_sub(lo)) / width)
                .unwrap_or(BINS - 1)
                .min(BINS - 1)
        };
        let mut counts = [0_usize; BINS];
        for v in self.map.values() {
            if let Some(c) = counts.get_mut(bin_of(v.expiry())) {
                *c += 1;
            }
        }
        let mut threshold = BINS - 1;
        let mut below = 0_usize;
        for (i, &c) in counts.iter().enumerate() {
            if below + c >= need {
                threshold = i;
                break;
            }
            below += c;
        }
        let mut in_bin = need.saturating_sub(below);
        let removed = self.map.retain(|v| {
            let b = bin_of(v.expiry());
            if b < threshold {
                false
            } else if b == threshold && in_bin > 0 {
                in_bin -= 1;
                false
            } else {
                true
            }
        });
        self.evicted_live = self.evicted_live.saturating_add(removed as u64);
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
    struct E(u64);
    impl Entry for E {
        fn expiry(&self) -> u64 {
            self.0
        }
    }

    fn k(i: u128) -> Key {
        Key::from_u128(i)
    }

    #[test]
    fn evicts_fresh_entries_first() {
        let mut t: Table<E> = Table::new(4, Overflow::EvictOldest).unwrap();
        for i in 0..4 {
            let _ = t.slot(k(i), 0, E(if i == 2 { 5 } else { 100 }));
        }
        assert_eq!(t.len(), 4);
        // At now = 10, key 2 (expiry 5) is fresh again: it goes, nothing live is lost.
        let _ = t.slot(k(9), 10, E(200));
        assert_eq!(t.len(), 4);
        assert!(t.get(k(2)).is_none());
        let s = t.stats();
        assert_eq!((s.evicted_fresh, s.evicted_live), (1, 0));
    }

    #[test]
    fn evicts_oldest_when_nothing_is_fresh() {
        let mut t: Table<E> = Table::new(4, Overflow::EvictOldest).unwrap();
        for i in 0..4 {
            let _ = t.slot(k(i), 0, E(100 + u64::try_from(i).unwrap()));
        }
        let _ = t.slot(k(9), 1, E(500));
        assert_eq!(t.len(), 4);
        assert!(t.get(k(0)).is_none(), "the entry closest to fresh goes");
        assert!(t.get(k(9)).is_some());
        assert_eq!(t.stats().evicted_live, 1);
    }

    #[test]
    fn fail_open_and_closed_do_not_track() {
        for overflow in [Overflow::FailOpen, Overflow::FailClosed] {
            let mut t: Table<E> = Table::new(1, overflow).unwrap();
            assert!(matches!(t.slot(k(1), 0, E(10)), Slot::Tracked(_)));
            assert!(matches!(t.slot(k(2), 0, E(10)), Slot::Untracked));
            assert_eq!(t.stats().untracked, 1);
            // Existing keys stay reachable; once key 1 is fresh it makes room.
            assert!(matches!(t.slot(k(1), 0, E(10)), Slot::Tracked(_)));
            assert!(matches!(t.slot(k(2), 11, E(10)), Slot::Tracked(_)));
            assert_eq!(t.overflow(), overflow);
        }
    }

    #[test]
    fn max_keys_validated_and_memory_reported() {
        assert!(Table::<E>::new(0, Overflow::EvictOldest).is_err());
        assert!(Table::<E>::new(MAX_TABLE_KEYS + 1, Overflow::EvictOldest).is_err());
        let mut t: Table<E> = Table::new(1000, Overflow::EvictOldest).unwrap();
        assert_eq!(t.heap_bytes(), 0);
        t.preallocate();
        assert!(t.heap_bytes() >= 1000 * 16);
        assert!(t.remove(k(1)).is_none());
    }

    #[test]
    fn evict_oldest_with_equal_expiries_removes_exactly_the_batch() {
        let mut t: Table<E> = Table::new(128, Overflow::EvictOldest).unwrap();
        for i in 0..128 {
            let _ = t.slot(k(i), 0, E(50));
        }
        let _ = t.slot(k(1000), 1, E(50));
        // Batch = 128 / 64 = 2: two evicted, then the new key inserted.
        assert_eq!(t.len(), 127);
        assert_eq!(t.stats().evicted_live, 2);
    }
}
