//! Concurrency limits as leases: a session holds a slot until it releases it or the lease
//! expires, so a crashed session cannot leak a slot. Limits apply in total and per subject;
//! some slots can be reserved for allow-listed clients.

use std::collections::HashMap;

use crate::Error;
use crate::state::{self, KIND_LEASE, Writer};
use crate::subject::Key;
use crate::table::KeyHasherBuilder;
use crate::verdict::{Clock, REPLY_TOO_MANY_CONNECTIONS, Verdict};

/// The most simultaneous leases a [`Concurrency`] holds (its `total` bound).
pub const MAX_LEASES: u32 = 1 << 20;

/// Which slots a session may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum SlotClass {
    /// Ordinary clients: `total - reserved` slots.
    #[default]
    Normal,
    /// Allow-listed clients: all `total` slots, and no per-subject limit.
    Reserved,
}

/// Concurrency limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ConcurrencyConfig {
    /// Simultaneous sessions in total (at most [`MAX_LEASES`]).
    pub total: u32,
    /// Simultaneous sessions per subject (0: no per-subject limit).
    pub per_subject: u32,
    /// Slots of `total` that only [`SlotClass::Reserved`] sessions may use.
    pub reserved: u32,
    /// Lease lifetime: a lease not renewed within this is freed (ms).
    pub lease_ttl_ms: u64,
}

/// Default lease lifetime: 10 minutes, twice RFC 5321 §4.5.3.2.7's server timeout of 5 minutes,
/// so a live session renews it at every command well before it runs out.
pub const DEFAULT_LEASE_TTL_MS: u64 = 600_000;

impl Default for ConcurrencyConfig {
    fn default() -> Self {
        Self {
            total: 1000,
            per_subject: 10,
            reserved: 0,
            lease_ttl_ms: DEFAULT_LEASE_TTL_MS,
        }
    }
}

/// A lease handle: slot index plus a generation, so a stale handle never frees a reused slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Lease {
    index: u32,
    generation: u32,
}

impl Lease {
    /// The lease as one number, for callers that keep it outside Rust (a C session table):
    /// the slot index in the low 32 bits, its generation in the high 32 bits.
    ///
    /// ```
    /// use postern_policy::concurrency::{Concurrency, ConcurrencyConfig, Lease, SlotClass};
    /// use postern_policy::{PrefixLengths, Subjects};
    /// let subjects = Subjects::new(PrefixLengths::default());
    /// let mut slots = Concurrency::new(ConcurrencyConfig::default())?;
    /// let lease = slots.acquire(subjects.client_ip("192.0.2.1".parse()?), SlotClass::Normal, 0).unwrap();
    /// assert_eq!(Lease::from_u64(lease.to_u64()), lease);
    /// assert!(slots.release(Lease::from_u64(lease.to_u64())));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn to_u64(self) -> u64 {
        (u64::from(self.generation) << 32) | u64::from(self.index)
    }

    /// A lease back from [`Lease::to_u64`]. A number that names no live lease (released,
    /// expired, or made up) is refused by [`Concurrency::renew`] and
    /// [`Concurrency::release`]: a slot's generation changes each time it is freed.
    pub fn from_u64(value: u64) -> Self {
        Self {
            index: u32::try_from(value & u64::from(u32::MAX)).unwrap_or(u32::MAX),
            generation: u32::try_from(value >> 32).unwrap_or(u32::MAX),
        }
    }
}

/// Why a lease was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConcurrencyRefusal {
    /// All slots this class may use are taken.
    Total,
    /// The subject holds `per_subject` leases already.
    PerSubject,
}

impl ConcurrencyRefusal {
    /// 421 4.7.0, disconnect.
    pub fn verdict(&self) -> Verdict {
        Verdict::Disconnect {
            reply: REPLY_TOO_MANY_CONNECTIONS,
            retry_after_ms: None,
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Held {
    key: Key,
    expires_ms: u64,
    generation: u32,
    class: SlotClass,
    live: bool,
}

/// Leases over a slab preallocated for `total` sessions: acquiring and releasing never
/// allocate.
#[derive(Debug)]
pub struct Concurrency {
    config: ConcurrencyConfig,
    slots: Vec<Held>,
    free: Vec<u32>,
    per_key: HashMap<Key, u32, KeyHasherBuilder>,
    live_normal: u32,
    live_reserved: u32,
    next_expiry_ms: u64,
    expired: u64,
    clock: Clock,
}

impl Concurrency {
    /// Limits per `config`; allocates all slots now.
    ///
    /// # Errors
    /// [`Error::Config`] when `total` is 0 or above [`MAX_LEASES`], or `reserved > total`.
    pub fn new(config: ConcurrencyConfig) -> Result<Self, Error> {
        if config.total == 0 || config.total > MAX_LEASES {
            return Err(Error::Config {
                field: "total",
                reason: "must be between 1 and MAX_LEASES",
            });
        }
        if config.reserved > config.total {
            return Err(Error::Config {
                field: "reserved",
                reason: "must not exceed total",
            });
        }
        let n = config.total as usize;
        let idle = Held {
            key: Key::from_u128(0),
            expires_ms: 0,
            generation: 0,
            class: SlotClass::Normal,
            live: false,
        };
        let mut per_key = HashMap::with_hasher(KeyHasherBuilder::random());
        per_key.reserve(n);
        Ok(Self {
            config,
            slots: vec![idle; n],
            free: (0..config.total).rev().collect(),
            per_key,
            live_normal: 0,
            live_reserved: 0,
            next_expiry_ms: u64::MAX,
            expired: 0,
            clock: Clock::new(),
        })
    }

    /// The configuration.
    pub const fn config(&self) -> &ConcurrencyConfig {
        &self.config
    }

    /// Leases held now (after freeing expired ones at the last call).
    pub fn active(&self) -> u32 {
        self.live_normal.saturating_add(self.live_reserved)
    }

    /// Leases held by `key`.
    pub fn active_for(&self, key: Key) -> u32 {
        self.per_key.get(&key).copied().unwrap_or(0)
    }

    /// Leases freed because they expired (sessions that never released them).
    pub fn expired_count(&self) -> u64 {
        self.expired
    }

    fn free_slot(&mut self, index: u32) {
        let Some(held) = self.slots.get_mut(index as usize) else {
            return;
        };
        if !held.live {
            return;
        }
        held.live = false;
        held.generation = held.generation.wrapping_add(1);
        let key = held.key;
        match held.class {
            SlotClass::Normal => self.live_normal = self.live_normal.saturating_sub(1),
            SlotClass::Reserved => self.live_reserved = self.live_reserved.saturating_sub(1),
        }
        if let Some(n) = self.per_key.get_mut(&key) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.per_key.remove(&key);
            }
        }
        self.free.push(index);
    }

    /// Free the leases that expired by `now`; cheap unless one is due.
    fn sweep(&mut self, now: u64) {
        if now < self.next_expiry_ms {
            return;
        }
        let mut next = u64::MAX;
        for i in 0..self.slots.len() {
            let Some(&held) = self.slots.get(i) else {
                break;
            };
            if !held.live {
                continue;
            }
            if held.expires_ms <= now {
                if let Ok(index) = u32::try_from(i) {
                    self.free_slot(index);
                    self.expired = self.expired.saturating_add(1);
                }
            } else {
                next = next.min(held.expires_ms);
            }
        }
        self.next_expiry_ms = next;
    }

    /// Take a slot for a session of `key` at `now_ms`.
    ///
    /// # Errors
    /// None as `Err`: a refusal is the `Err` side of the returned `Result`-like value.
    pub fn acquire(
        &mut self,
        key: Key,
        class: SlotClass,
        now_ms: u64,
    ) -> Result<Lease, ConcurrencyRefusal> {
        let now = self.clock.observe(now_ms);
        self.sweep(now);
        let cfg = self.config;
        let limit = match class {
            SlotClass::Normal => cfg.total - cfg.reserved,
            SlotClass::Reserved => cfg.total,
        };
        // Reserved sessions may use every slot; normal ones only those not reserved, and
        // the reserved sessions' overflow into the shared slots counts against them.
        let used = match class {
            SlotClass::Normal => self
                .live_normal
                .saturating_add(self.live_reserved.saturating_sub(cfg.reserved)),
            SlotClass::Reserved => self.active(),
        };
        if used >= limit {
            return Err(ConcurrencyRefusal::Total);
        }
        if class == SlotClass::Normal
            && cfg.per_subject > 0
            && self.active_for(key) >= cfg.per_subject
        {
            return Err(ConcurrencyRefusal::PerSubject);
        }
        let Some(index) = self.free.pop() else {
            return Err(ConcurrencyRefusal::Total);
        };
        let expires_ms = now.saturating_add(cfg.lease_ttl_ms);
        let Some(held) = self.slots.get_mut(index as usize) else {
            return Err(ConcurrencyRefusal::Total);
        };
        held.key = key;
        held.expires_ms = expires_ms;
        held.class = class;
        held.live = true;
        let lease = Lease {
            index,
            generation: held.generation,
        };
        match class {
            SlotClass::Normal => self.live_normal += 1,
            SlotClass::Reserved => self.live_reserved += 1,
        }
        *self.per_key.entry(key).or_insert(0) += 1;
        self.next_expiry_ms = self.next_expiry_ms.min(expires_ms);
        Ok(lease)
    }

    fn held(&self, lease: Lease) -> Option<&Held> {
        self.slots
            .get(lease.index as usize)
            .filter(|h| h.live && h.generation == lease.generation)
    }

    /// Extend a lease to `now + lease_ttl`. Returns false if the lease already expired or was
    /// released (the session should then stop, or acquire again).
    pub fn renew(&mut self, lease: Lease, now_ms: u64) -> bool {
        let now = self.clock.observe(now_ms);
        self.sweep(now);
        if self.held(lease).is_none() {
            return false;
        }
        let expires = now.saturating_add(self.config.lease_ttl_ms);
        if let Some(h) = self.slots.get_mut(lease.index as usize) {
            h.expires_ms = expires;
        }
        true
    }

    /// Release a lease; a stale or unknown lease is ignored. Returns whether it was held.
    pub fn release(&mut self, lease: Lease) -> bool {
        if self.held(lease).is_none() {
            return false;
        }
        self.free_slot(lease.index);
        true
    }
}

/// The record of one lease in an external store (for example one member of a Redis sorted
/// set per subject): its expiry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LeaseState {
    /// When the lease expires (ms on the store's clock).
    pub expires_ms: u64,
}

impl LeaseState {
    /// Length of the encoding: version, kind, expiry.
    pub const ENCODED_LEN: usize = 10;

    /// The record: `[version, kind=3, expiry (u64, big-endian)]`.
    pub fn encode(&self) -> [u8; Self::ENCODED_LEN] {
        let mut w = Writer::<{ Self::ENCODED_LEN }>::new(KIND_LEASE);
        w.put(&self.expires_ms.to_be_bytes());
        w.finish()
    }

    /// Decode a record written by [`encode`](Self::encode).
    ///
    /// # Errors
    /// [`Error::StateVersion`] or [`Error::State`] when the record is not a lease record.
    pub fn decode(bytes: &[u8]) -> Result<Self, Error> {
        state::header(bytes, KIND_LEASE, Self::ENCODED_LEN)?;
        Ok(Self {
            expires_ms: state::read_u64(bytes, 2)?,
        })
    }

    /// The time from which this lease no longer counts (the store may drop it).
    pub const fn fresh_after_ms(&self) -> u64 {
        self.expires_ms
    }
}

/// One acquisition as a pure step over the stored leases of a subject: counts those still
/// live at `now_ms` and, if fewer than `limit`, returns the new lease to add.
///
/// # Errors
/// Those of [`LeaseState::decode`], for the first record that does not decode.
pub fn acquire_step<'a>(
    leases: impl IntoIterator<Item = &'a [u8]>,
    limit: u32,
    now_ms: u64,
    ttl_ms: u64,
) -> Result<Result<LeaseState, ConcurrencyRefusal>, Error> {
    let mut live = 0_u32;
    for bytes in leases {
        if LeaseState::decode(bytes)?.expires_ms > now_ms {
            live = live.saturating_add(1);
        }
    }
    if live >= limit {
        return Ok(Err(ConcurrencyRefusal::PerSubject));
    }
    Ok(Ok(LeaseState {
        expires_ms: now_ms.saturating_add(ttl_ms),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: Key = Key::from_u128(1);
    const B: Key = Key::from_u128(2);

    fn conc(total: u32, per: u32, reserved: u32) -> Concurrency {
        Concurrency::new(ConcurrencyConfig {
            total,
            per_subject: per,
            reserved,
            lease_ttl_ms: 1000,
        })
        .unwrap()
    }

    #[test]
    fn per_subject_limit_and_release() {
        let mut c = conc(100, 2, 0);
        let l1 = c.acquire(A, SlotClass::Normal, 0).unwrap();
        let _l2 = c.acquire(A, SlotClass::Normal, 1).unwrap();
        assert_eq!(
            c.acquire(A, SlotClass::Normal, 2),
            Err(ConcurrencyRefusal::PerSubject)
        );
        assert!(c.acquire(B, SlotClass::Normal, 2).is_ok());
        assert!(c.release(l1));
        assert!(!c.release(l1), "a second release is ignored");
        assert!(c.acquire(A, SlotClass::Normal, 3).is_ok());
        assert_eq!(c.active_for(A), 2);
        assert_eq!(c.active(), 3);
        let v = ConcurrencyRefusal::PerSubject.verdict();
        assert_eq!(v.reply().unwrap().code, 421);
    }

    #[test]
    fn total_limit_and_reserved_slots() {
        let mut c = conc(3, 0, 1);
        assert!(c.acquire(A, SlotClass::Normal, 0).is_ok());
        assert!(c.acquire(B, SlotClass::Normal, 0).is_ok());
        assert_eq!(
            c.acquire(Key::from_u128(3), SlotClass::Normal, 0),
            Err(ConcurrencyRefusal::Total)
        );
        // The reserved slot is there for an allow-listed client.
        assert!(c.acquire(Key::from_u128(4), SlotClass::Reserved, 0).is_ok());
        assert_eq!(
            c.acquire(Key::from_u128(5), SlotClass::Reserved, 0),
            Err(ConcurrencyRefusal::Total)
        );
    }

    #[test]
    fn reserved_sessions_overflowing_count_against_normal_ones() {
        let mut c = conc(3, 0, 1);
        let _r1 = c.acquire(A, SlotClass::Reserved, 0).unwrap();
        let _r2 = c.acquire(A, SlotClass::Reserved, 0).unwrap();
        assert!(c.acquire(B, SlotClass::Normal, 0).is_ok());
        assert_eq!(
            c.acquire(B, SlotClass::Normal, 0),
            Err(ConcurrencyRefusal::Total)
        );
    }

    #[test]
    fn expired_leases_are_freed() {
        let mut c = conc(1, 0, 0);
        let lease = c.acquire(A, SlotClass::Normal, 0).unwrap();
        assert_eq!(
            c.acquire(B, SlotClass::Normal, 999),
            Err(ConcurrencyRefusal::Total)
        );
        // The session crashed: its lease runs out at 1000.
        let l2 = c.acquire(B, SlotClass::Normal, 1000).unwrap();
        assert_eq!(c.expired_count(), 1);
        assert!(!c.renew(lease, 1000), "the stale handle cannot renew");
        assert!(!c.release(lease), "nor free the reused slot");
        assert!(c.renew(l2, 1500));
        assert_eq!(
            c.acquire(A, SlotClass::Normal, 2400),
            Err(ConcurrencyRefusal::Total)
        );
        assert!(c.acquire(A, SlotClass::Normal, 2500).is_ok());
    }

    #[test]
    fn backwards_clock_clamped() {
        let mut c = conc(1, 0, 0);
        let _ = c.acquire(A, SlotClass::Normal, 5000).unwrap();
        assert_eq!(
            c.acquire(B, SlotClass::Normal, 0),
            Err(ConcurrencyRefusal::Total)
        );
    }

    #[test]
    fn config_validated() {
        assert!(
            Concurrency::new(ConcurrencyConfig {
                total: 0,
                ..Default::default()
            })
            .is_err()
        );
        assert!(
            Concurrency::new(ConcurrencyConfig {
                total: 1,
                reserved: 2,
                ..Default::default()
            })
            .is_err()
        );
        assert_eq!(conc(5, 1, 0).config().total, 5);
    }

    #[test]
    fn pure_lease_step() {
        let a = LeaseState { expires_ms: 100 }.encode();
        let b = LeaseState { expires_ms: 50 }.encode();
        let r = acquire_step([&a[..], &b[..]], 2, 60, 10).unwrap();
        assert_eq!(r, Ok(LeaseState { expires_ms: 70 }));
        let r = acquire_step([&a[..], &b[..]], 1, 40, 10).unwrap();
        assert_eq!(r, Err(ConcurrencyRefusal::PerSubject));
        assert!(acquire_step([&[0_u8][..]], 1, 0, 1).is_err());
        assert_eq!(LeaseState::decode(&a), Ok(LeaseState { expires_ms: 100 }));
        assert_eq!(LeaseState { expires_ms: 9 }.fresh_after_ms(), 9);
    }
}
