//! Subjects: who a decision is about (client prefix, sender, sender domain, authenticated user,
//! recipient), normalised and reduced to a fixed-size [`Key`].

use core::fmt;
use core::hash::{BuildHasher, Hash, Hasher};
use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::hash::RandomState;

use crate::Error;
use crate::siphash::SipHasher24;

/// Default IPv4 aggregation: each address on its own.
pub const DEFAULT_IPV4_PREFIX: u8 = 32;
/// Default IPv6 aggregation: one /64, the smallest block usually assigned to one site or host
/// (RFC 6177 §3), so that an attacker cannot rotate through a subnet's addresses.
pub const DEFAULT_IPV6_PREFIX: u8 = 64;

/// The prefix lengths by which client addresses are aggregated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PrefixLengths {
    ipv4: u8,
    ipv6: u8,
}

impl Default for PrefixLengths {
    fn default() -> Self {
        Self {
            ipv4: DEFAULT_IPV4_PREFIX,
            ipv6: DEFAULT_IPV6_PREFIX,
        }
    }
}

impl PrefixLengths {
    /// Aggregate IPv4 addresses by `/ipv4` and IPv6 addresses by `/ipv6`.
    ///
    /// # Errors
    /// [`Error::Config`] when `ipv4 > 32` or `ipv6 > 128`.
    pub fn new(ipv4: u8, ipv6: u8) -> Result<Self, Error> {
        if ipv4 > 32 {
            return Err(Error::Config {
                field: "ipv4_prefix",
                reason: "must be at most 32",
            });
        }
        if ipv6 > 128 {
            return Err(Error::Config {
                field: "ipv6_prefix",
                reason: "must be at most 128",
            });
        }
        Ok(Self { ipv4, ipv6 })
    }

    /// The IPv4 prefix length.
    pub const fn ipv4(&self) -> u8 {
        self.ipv4
    }

    /// The IPv6 prefix length.
    pub const fn ipv6(&self) -> u8 {
        self.ipv6
    }
}

/// A client address reduced to its aggregation prefix (`192.0.2.7/32`, `2001:db8:1:2::/64`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ClientPrefix {
    addr: IpAddr,
    len: u8,
}

fn mask_v4(addr: Ipv4Addr, len: u8) -> u32 {
    let bits = u32::from(addr);
    match len {
        0 => 0,
        1..=31 => bits & (u32::MAX << (32 - u32::from(len))),
        _ => bits,
    }
}

fn mask_v6(addr: Ipv6Addr, len: u8) -> u128 {
    let bits = u128::from(addr);
    match len {
        0 => 0,
        1..=127 => bits & (u128::MAX << (128 - u32::from(len))),
        _ => bits,
    }
}

impl ClientPrefix {
    /// The prefix of `ip` under `lengths`. An IPv4-mapped IPv6 address (`::ffff:192.0.2.1`)
    /// is treated as the IPv4 address it carries.
    pub fn new(ip: IpAddr, lengths: PrefixLengths) -> Self {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            IpAddr::V4(_) => ip,
        };
        match ip {
            IpAddr::V4(v4) => Self {
                addr: IpAddr::V4(Ipv4Addr::from(mask_v4(v4, lengths.ipv4))),
                len: lengths.ipv4,
            },
            IpAddr::V6(v6) => Self {
                addr: IpAddr::V6(Ipv6Addr::from(mask_v6(v6, lengths.ipv6))),
                len: lengths.ipv6,
            },
        }
    }

    /// The network address (host bits cleared).
    pub const fn network(&self) -> IpAddr {
        self.addr
    }

    /// The prefix length.
    pub const fn prefix_len(&self) -> u8 {
        self.len
    }

    /// Whether `ip` lies in this prefix.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            IpAddr::V4(_) => ip,
        };
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => mask_v4(ip, self.len) == u32::from(net),
            (IpAddr::V6(net), IpAddr::V6(ip)) => mask_v6(ip, self.len) == u128::from(net),
            _ => false,
        }
    }
}

impl fmt::Display for ClientPrefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.len)
    }
}

/// The parts of an envelope sender after normalisation: `<Alice+news@Example.ORG>` and
/// `prvs=1234abcd=alice@example.org` both give local part `alice` and domain `example.org`
/// (compared ASCII case-insensitively; see [`normalize_sender`]).
///
/// Borrowed from the input: the case is folded when hashing or rendering, not here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SenderParts<'a> {
    /// The local part with BATV tag and `+extension` removed (case not yet folded).
    pub local: &'a str,
    /// The domain without a trailing dot (case not yet folded); empty when there is none.
    pub domain: &'a str,
}

/// `s.trim()`, skipping the Unicode scan when both ends are visible ASCII.
fn trim(s: &str) -> &str {
    let visible = |b: Option<&u8>| b.is_some_and(|&b| b > b' ' && b < 0x80);
    if visible(s.as_bytes().first()) && visible(s.as_bytes().last()) {
        s
    } else {
        s.trim()
    }
}

/// The first index of the ASCII byte `b` in `s` (a plain loop: subjects are short, too short
/// for `memchr`'s set-up to pay off).
fn find_byte(s: &str, b: u8) -> Option<usize> {
    s.bytes().position(|c| c == b)
}

/// The last index of the ASCII byte `b` in `s`.
fn rfind_byte(s: &str, b: u8) -> Option<usize> {
    s.bytes().rposition(|c| c == b)
}

fn strip_angles(addr: &str) -> &str {
    let addr = trim(addr);
    addr.strip_prefix('<')
        .and_then(|a| a.strip_suffix('>'))
        .unwrap_or(addr)
}

/// Split and normalise an envelope sender: surrounding `<>` and white space removed, a BATV
/// `prvs=TAG=` prefix (BATV draft §4.1) and a `+extension` removed from the local part, a
/// trailing dot removed from the domain. An empty sender (the null reverse-path `<>`) gives
/// empty parts. A local part that would become empty is kept whole.
pub fn sender_parts(addr: &str) -> SenderParts<'_> {
    let addr = strip_angles(addr);
    let (local, domain) = match rfind_byte(addr, b'@') {
        Some(at) => (
            addr.get(..at).unwrap_or(""),
            addr.get(at + 1..).unwrap_or(""),
        ),
        None => (addr, ""),
    };
    let domain = domain.strip_suffix('.').unwrap_or(domain);
    let mut base = local;
    if base.len() > 5
        && base
            .as_bytes()
            .get(..5)
            .is_some_and(|p| p.eq_ignore_ascii_case(b"prvs="))
    {
        // prvs=KDDDSSSSSS=local-part
        if let Some(rest) = base.get(5..)
            && let Some(eq) = find_byte(rest, b'=')
            && let Some(tail) = rest.get(eq + 1..)
            && !tail.is_empty()
        {
            base = tail;
        }
    }
    if let Some(plus) = find_byte(base, b'+')
        && plus > 0
        && let Some(head) = base.get(..plus)
    {
        base = head;
    }
    SenderParts {
        local: base,
        domain,
    }
}

/// The normalised form of an envelope sender as a string: lower case (ASCII), BATV tag and
/// `+extension` removed (`Alice+news@Example.ORG` → `alice@example.org`). Allocates; the
/// decision paths hash [`sender_parts`] instead.
pub fn normalize_sender(addr: &str) -> String {
    let parts = sender_parts(addr);
    let mut out = String::with_capacity(parts.local.len() + parts.domain.len() + 1);
    out.push_str(&parts.local.to_ascii_lowercase());
    if !parts.domain.is_empty() {
        out.push('@');
        out.push_str(&parts.domain.to_ascii_lowercase());
    }
    out
}

/// What a [`Key`] is about; part of the key, so two kinds never share a slot.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SubjectKind {
    /// An aggregated client address.
    Client,
    /// A normalised envelope sender.
    Sender,
    /// The domain of the envelope sender.
    SenderDomain,
    /// An authenticated (SASL) user.
    User,
    /// An envelope recipient (lower-cased only).
    Recipient,
    /// A greylisting triplet (client prefix, sender, recipient).
    Triplet,
    /// A greylisting pair (sender, recipient).
    SenderRecipient,
    /// A greylisting pair (SPF-verified sender domain, recipient).
    DomainRecipient,
}

const TAG_CLIENT_V4: u8 = 1;
const TAG_CLIENT_V6: u8 = 9;
const TAG_CLIENT_V6_HASHED: u8 = 10;

impl SubjectKind {
    const fn tag(self) -> u8 {
        match self {
            Self::Client => TAG_CLIENT_V4,
            Self::Sender => 2,
            Self::SenderDomain => 3,
            Self::User => 4,
            Self::Recipient => 5,
            Self::Triplet => 6,
            Self::SenderRecipient => 7,
            Self::DomainRecipient => 8,
        }
    }
}

/// A fixed-size (16-byte, 8-byte aligned) key for one subject in a policy table.
///
/// IPv4 prefixes and IPv6 prefixes up to /112 are stored exactly; everything else is a 120-bit
/// keyed hash of the normalised subject (see [`Subjects`]), so keys of one [`Subjects`] value
/// are comparable with each other only. The top byte is the [`SubjectKind`] tag.
// Two u64 halves rather than one u128: u128 is 16-byte aligned, which would pad a table
// entry (key + 8-byte state) from 24 to 32 bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Key {
    hi: u64,
    lo: u64,
}

impl Hash for Key {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u128(self.as_u128());
    }
}

impl Key {
    /// The key as a number (for logs and tests).
    pub const fn as_u128(self) -> u128 {
        ((self.hi as u128) << 64) | self.lo as u128
    }

    /// A key from a number (for tests and benchmarks that need many distinct keys).
    #[allow(clippy::cast_possible_truncation)] // splitting into the two halves
    pub const fn from_u128(v: u128) -> Self {
        Self {
            hi: (v >> 64) as u64,
            lo: v as u64,
        }
    }

    const fn tagged(tag: u8, body: u128) -> Self {
        // Top byte: the kind tag; the 120 bits below: the body.
        Self::from_u128(((tag as u128) << 120) | (body & (u128::MAX >> 8)))
    }
}

/// Turns subjects into [`Key`]s: holds the prefix lengths and the secret seed of the hash.
///
/// Keys are only stable within one seed: [`Subjects::new`] draws a random seed (so that
/// nobody can precompute colliding senders); [`Subjects::with_seed`] fixes it, for tests
/// and for hosts that must agree on keys.
///
/// The hash is fixed and documented, so that hosts built with any Rust release agree on the
/// keys of one seed (keys name shared state, for example in Redis): SipHash-2-4 with the
/// 128-bit output of the reference implementation, keyed with `k0 = seed[0]`,
/// `k1 = seed[1]`, over the message `tag byte ‖ fields`, where a client key field is its
/// 16 little-endian bytes and a text field its ASCII-lowercased bytes followed by `0xff`.
/// The key is the kind tag in the top byte above the output's low 120 bits. Tests pin
/// known key values.
#[derive(Debug, Clone)]
pub struct Subjects {
    prefixes: PrefixLengths,
    seed: [u64; 2],
}

/// Streams a subject's bytes into SipHash-2-4 (128-bit output) keyed with the seed, with
/// ASCII case folding. The message is the kind tag byte, then each field in order: a raw
/// number as 16 little-endian bytes, a text field as its ASCII-lowercased bytes followed by
/// the byte `0xff` (which UTF-8 text never contains, so `("ab", "c")` and `("a", "bc")` differ).
struct Digest {
    sip: SipHasher24,
    /// The message gathered so far and not yet hashed: short subjects are hashed in one
    /// call, longer ones in `BUF`-byte pieces.
    buf: [u8; BUF],
    len: usize,
}

/// Digest buffer size: room for a triplet of typical addresses.
const BUF: usize = 192;

impl Digest {
    fn new(seed: [u64; 2], tag: u8) -> Self {
        let mut d = Self {
            sip: SipHasher24::new128(seed[0], seed[1]),
            buf: [0; BUF],
            len: 0,
        };
        d.push(&[tag]);
        d
    }

    /// Append `bytes`, ASCII-lowercased when `fold`.
    fn append(&mut self, mut bytes: &[u8], fold: bool) {
        while !bytes.is_empty() {
            if self.len == BUF {
                self.sip.write(&self.buf);
                self.len = 0;
            }
            let room = BUF - self.len;
            let (now, later) = bytes.split_at(room.min(bytes.len()));
            if let Some(dst) = self.buf.get_mut(self.len..self.len + now.len()) {
                dst.copy_from_slice(now);
                if fold {
                    dst.make_ascii_lowercase();
                }
            }
            self.len += now.len();
            bytes = later;
        }
    }

    fn push(&mut self, bytes: &[u8]) {
        self.append(bytes, false);
    }

    fn folded(&mut self, s: &str) {
        self.append(s.as_bytes(), true);
        self.push(&[0xff]);
    }

    fn raw(&mut self, v: u128) {
        self.push(&v.to_le_bytes());
    }

    fn finish(mut self, tag: u8) -> Key {
        if let Some(rest) = self.buf.get(..self.len) {
            self.sip.write(rest);
        }
        Key::tagged(tag, self.sip.finish128())
    }
}

impl Subjects {
    /// Subjects with a random hash seed.
    pub fn new(prefixes: PrefixLengths) -> Self {
        let state = RandomState::new();
        Self {
            prefixes,
            seed: [state.hash_one(1_u8), state.hash_one(2_u8)],
        }
    }

    /// Subjects with a fixed hash seed.
    pub const fn with_seed(prefixes: PrefixLengths, seed: [u64; 2]) -> Self {
        Self { prefixes, seed }
    }

    /// The prefix lengths in use.
    pub const fn prefixes(&self) -> PrefixLengths {
        self.prefixes
    }

    /// The aggregated prefix of `ip`.
    pub fn prefix(&self, ip: IpAddr) -> ClientPrefix {
        ClientPrefix::new(ip, self.prefixes)
    }

    /// The key of a client prefix: exact for IPv4 and for IPv6 prefixes up to /112.
    pub fn client(&self, prefix: ClientPrefix) -> Key {
        let len = u128::from(prefix.len);
        match prefix.addr {
            IpAddr::V4(v4) => Key::tagged(TAG_CLIENT_V4, (u128::from(u32::from(v4)) << 8) | len),
            IpAddr::V6(v6) if prefix.len <= 112 => {
                // The top 112 bits of the address (the rest is zero), then the length.
                Key::tagged(TAG_CLIENT_V6, ((u128::from(v6) >> 16) << 8) | len)
            }
            IpAddr::V6(v6) => {
                let mut d = Digest::new(self.seed, TAG_CLIENT_V6_HASHED);
                d.raw(u128::from(v6));
                d.raw(len);
                d.finish(TAG_CLIENT_V6_HASHED)
            }
        }
    }

    /// The key of the client address `ip` aggregated to its prefix.
    pub fn client_ip(&self, ip: IpAddr) -> Key {
        self.client(self.prefix(ip))
    }

    fn hash_sender(d: &mut Digest, addr: &str) {
        let parts = sender_parts(addr);
        d.folded(parts.local);
        d.folded(parts.domain);
    }

    /// The key of a normalised envelope sender (see [`normalize_sender`]).
    pub fn sender(&self, addr: &str) -> Key {
        let tag = SubjectKind::Sender.tag();
        let mut d = Digest::new(self.seed, tag);
        Self::hash_sender(&mut d, addr);
        d.finish(tag)
    }

    /// The key of the domain of an envelope sender (or of a bare domain).
    pub fn sender_domain(&self, addr: &str) -> Key {
        let tag = SubjectKind::SenderDomain.tag();
        let mut d = Digest::new(self.seed, tag);
        d.folded(domain_of(addr));
        d.finish(tag)
    }

    /// The key of an authenticated user (case-folded).
    pub fn user(&self, user: &str) -> Key {
        let tag = SubjectKind::User.tag();
        let mut d = Digest::new(self.seed, tag);
        d.folded(user);
        d.finish(tag)
    }

    /// The key of a recipient: lower-cased, but with its `+extension` kept (it may be a
    /// distinct mailbox).
    pub fn recipient(&self, addr: &str) -> Key {
        let tag = SubjectKind::Recipient.tag();
        let mut d = Digest::new(self.seed, tag);
        d.folded(strip_angles(addr));
        d.finish(tag)
    }

    /// The greylisting triplet (RFC 6647 §2.2): client prefix, normalised sender, recipient.
    pub fn triplet(&self, prefix: ClientPrefix, sender: &str, rcpt: &str) -> Key {
        let tag = SubjectKind::Triplet.tag();
        let mut d = Digest::new(self.seed, tag);
        d.raw(self.client(prefix).as_u128());
        Self::hash_sender(&mut d, sender);
        d.folded(strip_angles(rcpt));
        d.finish(tag)
    }

    /// The weaker greylisting pair: normalised sender and recipient, any client.
    pub fn sender_recipient(&self, sender: &str, rcpt: &str) -> Key {
        let tag = SubjectKind::SenderRecipient.tag();
        let mut d = Digest::new(self.seed, tag);
        Self::hash_sender(&mut d, sender);
        d.folded(strip_angles(rcpt));
        d.finish(tag)
    }

    /// The greylisting pair for an SPF-verified sender: sender domain and recipient (RFC 6647
    /// §2.3: a domain's outbound servers may change between retries).
    pub fn domain_recipient(&self, sender_or_domain: &str, rcpt: &str) -> Key {
        let tag = SubjectKind::DomainRecipient.tag();
        let mut d = Digest::new(self.seed, tag);
        d.folded(domain_of(sender_or_domain));
        d.folded(strip_angles(rcpt));
        d.finish(tag)
    }
}

/// The domain part of an address, or the input itself when it has no `@`, without a trailing
/// dot.
fn domain_of(addr: &str) -> &str {
    let addr = strip_angles(addr);
    let domain = rfind_byte(addr, b'@').map_or(addr, |at| addr.get(at + 1..).unwrap_or(""));
    domain.strip_suffix('.').unwrap_or(domain)
}

/// A list of networks (for example allow-listed clients that get reserved slots), matched by
/// longest-prefix-agnostic linear scan. Bounded by [`MAX_NETWORKS`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Networks {
    nets: Vec<ClientPrefix>,
}

/// The most networks a [`Networks`] list holds.
pub const MAX_NETWORKS: usize = 4096;

impl Networks {
    /// An empty list.
    pub const fn new() -> Self {
        Self { nets: Vec::new() }
    }

    /// Add `ip/len`.
    ///
    /// # Errors
    /// [`Error::Config`] when the prefix length is too long for the address family or the
    /// list already holds [`MAX_NETWORKS`] entries.
    pub fn push(&mut self, ip: IpAddr, len: u8) -> Result<(), Error> {
        let max = if ip.is_ipv4() { 32 } else { 128 };
        if len > max {
            return Err(Error::Config {
                field: "network",
                reason: "prefix length too long for the address family",
            });
        }
        if self.nets.len() >= MAX_NETWORKS {
            return Err(Error::Config {
                field: "network",
                reason: "more than MAX_NETWORKS entries",
            });
        }
        let lengths = if ip.is_ipv4() {
            PrefixLengths { ipv4: len, ipv6: 0 }
        } else {
            PrefixLengths { ipv4: 0, ipv6: len }
        };
        self.nets.push(ClientPrefix::new(ip, lengths));
        Ok(())
    }

    /// Whether `ip` lies in one of the networks.
    pub fn contains(&self, ip: IpAddr) -> bool {
        self.nets.iter().any(|n| n.contains(ip))
    }

    /// Number of networks.
    pub fn len(&self) -> usize {
        self.nets.len()
    }

    /// Whether the list is empty.
    pub fn is_empty(&self) -> bool {
        self.nets.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn prefixes_aggregate() {
        let s = Subjects::with_seed(PrefixLengths::default(), [1, 2]);
        assert_eq!(
            s.client_ip(ip("2001:db8:1:2::1")),
            s.client_ip(ip("2001:db8:1:2:ffff::9"))
        );
        assert_ne!(
            s.client_ip(ip("2001:db8:1:2::1")),
            s.client_ip(ip("2001:db8:1:3::1"))
        );
        assert_ne!(s.client_ip(ip("192.0.2.1")), s.client_ip(ip("192.0.2.2")));
        assert_eq!(
            s.client_ip(ip("::ffff:192.0.2.1")),
            s.client_ip(ip("192.0.2.1"))
        );
        let s24 = Subjects::with_seed(PrefixLengths::new(24, 48).unwrap(), [1, 2]);
        assert_eq!(
            s24.client_ip(ip("192.0.2.1")),
            s24.client_ip(ip("192.0.2.200"))
        );
        assert_eq!(s24.prefix(ip("192.0.2.77")).to_string(), "192.0.2.0/24");
        assert_eq!(
            s24.prefix(ip("2001:db8:aa:bb::1")).to_string(),
            "2001:db8:aa::/48"
        );
        let s128 = Subjects::with_seed(PrefixLengths::new(32, 128).unwrap(), [1, 2]);
        assert_ne!(
            s128.client_ip(ip("2001:db8::1")),
            s128.client_ip(ip("2001:db8::2"))
        );
        let s0 = Subjects::with_seed(PrefixLengths::new(0, 0).unwrap(), [1, 2]);
        assert_eq!(s0.client_ip(ip("10.0.0.1")), s0.client_ip(ip("192.0.2.1")));
        assert_ne!(s0.client_ip(ip("10.0.0.1")), s0.client_ip(ip("::1")));
    }

    #[test]
    fn prefix_lengths_validated() {
        assert!(PrefixLengths::new(33, 64).is_err());
        assert!(PrefixLengths::new(32, 129).is_err());
        assert!(PrefixLengths::new(32, 128).is_ok());
    }

    #[test]
    fn prefix_contains() {
        let p = ClientPrefix::new(ip("198.51.100.9"), PrefixLengths::new(24, 64).unwrap());
        assert!(p.contains(ip("198.51.100.200")));
        assert!(!p.contains(ip("198.51.101.1")));
        assert!(!p.contains(ip("::1")));
        assert_eq!(p.network(), ip("198.51.100.0"));
        assert_eq!(p.prefix_len(), 24);
    }

    #[test]
    fn senders_normalise() {
        assert_eq!(
            normalize_sender("Alice+News@Example.ORG"),
            "alice@example.org"
        );
        assert_eq!(
            normalize_sender("prvs=1234abcdef=Bob@example.org"),
            "bob@example.org"
        );
        assert_eq!(
            normalize_sender("<PRVS=0123456789=bob+x@Example.org.>"),
            "bob@example.org"
        );
        assert_eq!(normalize_sender("<>"), "");
        assert_eq!(normalize_sender("postmaster"), "postmaster");
        assert_eq!(normalize_sender("+only@example.org"), "+only@example.org");
        assert_eq!(normalize_sender("prvs=@example.org"), "prvs=@example.org");
        let s = Subjects::with_seed(PrefixLengths::default(), [7, 8]);
        assert_eq!(
            s.sender("Alice+x@EXAMPLE.org"),
            s.sender("prvs=0001abcdef=alice@example.org")
        );
        assert_ne!(s.sender("alice@example.org"), s.sender("alic@eexample.org"));
        assert_eq!(
            s.sender_domain("a@Example.org"),
            s.sender_domain("b@example.ORG.")
        );
        assert_eq!(
            s.sender_domain("a@Example.org"),
            s.sender_domain("example.org")
        );
        assert_ne!(s.recipient("bob+a@x.org"), s.recipient("bob+b@x.org"));
        assert_eq!(s.recipient("Bob@X.org"), s.recipient("<bob@x.org>"));
        assert_eq!(s.user("Alice"), s.user("alice"));
        assert_ne!(s.user("alice"), s.sender("alice"));
    }

    #[test]
    fn composite_keys_separate_fields() {
        let s = Subjects::with_seed(PrefixLengths::default(), [3, 4]);
        let p = s.prefix(ip("192.0.2.1"));
        assert_ne!(s.triplet(p, "a@b", "c@d"), s.triplet(p, "a@bc", "@d"));
        assert_eq!(s.triplet(p, "A@B", "C@D"), s.triplet(p, "a@b", "c@d"));
        assert_ne!(
            s.triplet(p, "a@b", "c@d"),
            s.triplet(s.prefix(ip("192.0.2.2")), "a@b", "c@d")
        );
        assert_eq!(
            s.domain_recipient("x@shop.example", "bob@example.net"),
            s.domain_recipient("y@SHOP.example", "bob@example.net")
        );
        assert_ne!(
            s.sender_recipient("x@shop.example", "bob@example.net"),
            s.sender_recipient("y@shop.example", "bob@example.net")
        );
        let other = Subjects::with_seed(PrefixLengths::default(), [5, 6]);
        assert_ne!(s.sender("a@b"), other.sender("a@b"));
    }

    #[test]
    fn networks_match() {
        let mut n = Networks::new();
        assert!(n.is_empty());
        n.push(ip("10.0.0.0"), 8).unwrap();
        n.push(ip("2001:db8::"), 32).unwrap();
        assert!(n.push(ip("10.0.0.0"), 33).is_err());
        assert_eq!(n.len(), 2);
        assert!(n.contains(ip("10.1.2.3")));
        assert!(n.contains(ip("2001:db8:ffff::1")));
        assert!(!n.contains(ip("192.0.2.1")));
    }

    /// Keys name shared state (Redis) and must not change with the Rust release or with
    /// this crate's internals: these values pin the documented hash.
    #[test]
    fn keys_are_pinned_to_the_documented_siphash() {
        let s = Subjects::with_seed(PrefixLengths::new(32, 128).unwrap(), [0x1234, 0x5678]);
        let p = s.prefix(ip("192.0.2.1"));
        let hex = |k: Key| format!("{:032x}", k.as_u128());
        assert_eq!(
            hex(s.sender("Alice+x@Example.org")),
            "02d672bca133c06909c9081d2fd81f1e"
        );
        assert_eq!(
            hex(s.sender_domain("alice@example.org")),
            "037f862b552fbcb3e10a8a67e097c105"
        );
        assert_eq!(hex(s.user("Alice")), "044dac30e6205e4a6d1aab5b1a1f6a4c");
        assert_eq!(
            hex(s.recipient("<Bob@example.net>")),
            "054d60cc17f684210857fec7aa5b1d1f"
        );
        assert_eq!(
            hex(s.triplet(p, "alice@example.org", "bob@example.net")),
            "065577bd7f74b90dc72b3e38abbee504"
        );
        assert_eq!(
            hex(s.sender_recipient("alice@example.org", "bob@example.net")),
            "073fd6c7f4ca82f27f0a222813ae69f0"
        );
        assert_eq!(
            hex(s.domain_recipient("example.org", "bob@example.net")),
            "08ab636b178dd43aac1e64cfd1bdaefc"
        );
        assert_eq!(
            hex(s.client_ip(ip("2001:db8::1"))),
            "0a72957d3819fc018dc677de0e518054"
        );
        assert_eq!(hex(s.client(p)), "0100000000000000000000c000020120");
        // The documented construction, spelled out: tag 2, "alice", 0xff, "example.org", 0xff.
        let mut sip = SipHasher24::new128(0x1234, 0x5678);
        sip.write(b"\x02alice\xffexample.org\xff");
        let body = sip.finish128() & (u128::MAX >> 8);
        assert_eq!(s.sender("alice@example.org").as_u128(), (2 << 120) | body);
    }

    /// The straightforward form of [`sender_parts`] (`str::trim`, `find`, `rfind`).
    fn sender_parts_reference(addr: &str) -> (String, String) {
        let addr = addr.trim();
        let addr = addr
            .strip_prefix('<')
            .and_then(|a| a.strip_suffix('>'))
            .unwrap_or(addr);
        let (local, domain) = match addr.rfind('@') {
            Some(at) => (&addr[..at], &addr[at + 1..]),
            None => (addr, ""),
        };
        let domain = domain.strip_suffix('.').unwrap_or(domain);
        let mut base = local;
        if base.len() > 5
            && base
                .get(..5)
                .is_some_and(|p| p.eq_ignore_ascii_case("prvs="))
        {
            let rest = &base[5..];
            if let Some(eq) = rest.find('=')
                && !rest[eq + 1..].is_empty()
            {
                base = &rest[eq + 1..];
            }
        }
        if let Some(plus) = base.find('+')
            && plus > 0
        {
            base = &base[..plus];
        }
        (base.to_owned(), domain.to_owned())
    }

    proptest::proptest! {
        /// The byte-scanning normalisation gives what the `str` methods give, on any text
        /// (Unicode white space and multi-byte characters included).
        #[test]
        fn sender_parts_match_the_reference(
            addr in "[ \u{a0}\u{2003}<>]{0,2}(?i:prvs=)?[a-zA-Z0-9=+@.\u{e9}\u{2003} ]{0,24}[ \u{a0}<>.]{0,2}"
        ) {
            let parts = sender_parts(&addr);
            let (local, domain) = sender_parts_reference(&addr);
            proptest::prop_assert_eq!(parts.local, local.as_str());
            proptest::prop_assert_eq!(parts.domain, domain.as_str());
            let s = Subjects::with_seed(PrefixLengths::default(), [9, 9]);
            let mut whole = Digest::new([9, 9], 2);
            whole.folded(&local);
            whole.folded(&domain);
            proptest::prop_assert_eq!(s.sender(&addr), whole.finish(2));
        }

        /// Subjects longer than the digest buffer hash as if in one piece.
        #[test]
        fn long_subjects_hash_like_one_piece(text in "[a-zA-Z]{0,600}", split in 0_usize..600) {
            let mut pieces = Digest::new([1, 2], 4);
            let cut = split.min(text.len());
            pieces.append(&text.as_bytes()[..cut], true);
            pieces.append(&text.as_bytes()[cut..], true);
            let mut sip = SipHasher24::new128(1, 2);
            sip.write(&[4]);
            sip.write(text.to_ascii_lowercase().as_bytes());
            proptest::prop_assert_eq!(pieces.finish(4), Key::tagged(4, sip.finish128()));
        }
    }
}
