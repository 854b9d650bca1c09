//! Virtual IPv4 addresses for names, so clients that resolve names themselves can reach I2P.
//!
//! torsocks (and any client using Tor's SOCKS extensions, Tor's socks-extensions.txt) asks
//! the proxy to RESOLVE a name, then connects to the address it got. For `.i2p` names there
//! is no IP address, so we hand out one from a private range and map a later CONNECT to it
//! back to the name, like Tor's `AutomapHostsOnResolve`.
//!
//! Rules (sans-I/O: the caller passes the time):
//! * one name ↔ one address; resolving or connecting refreshes the mapping;
//! * a mapping unused for the idle timeout expires, and the least recently used one goes when
//!   the map is full, so memory stays bounded for long-running applications;
//! * addresses are handed out round-robin over the whole range, so an address that was freed
//!   is given to a different name only after every other address of the range was used: an
//!   application that still holds an old address does not reach someone else's site.
use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use thiserror::Error;

/// Default range: 240.0.0.0/4 is reserved "for future use" (RFC 1112 section 4, RFC 6890), never
/// routed, so it cannot collide with real traffic; it is not loopback either, which torsocks
/// refuses to connect to.
pub const DEFAULT_RANGE: &str = "240.0.0.0/4";
/// Default idle time after which an unused mapping expires.
pub const DEFAULT_IDLE: Duration = Duration::from_secs(24 * 3600);
/// Most mappings held at once (a few MiB at most).
pub const DEFAULT_CAPACITY: usize = 65_536;

/// An IPv4 network in CIDR notation, `a.b.c.d/n`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VirtualRange {
    base: u32,
    prefix: u8,
}

/// Why a range was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RangeError {
    /// Not `a.b.c.d/n`.
    #[error("expected an IPv4 network like 240.0.0.0/4")]
    Syntax,
    /// Fewer than 256 or more than 2^28 addresses.
    #[error("prefix length must be 4-24 (a range of 256 addresses or more)")]
    Prefix,
    /// Bits set below the prefix.
    #[error("address has bits set below the prefix length")]
    NotAligned,
}

impl FromStr for VirtualRange {
    type Err = RangeError;

    fn from_str(text: &str) -> Result<Self, RangeError> {
        let (addr, prefix) = text.split_once('/').ok_or(RangeError::Syntax)?;
        let addr: Ipv4Addr = addr.parse().map_err(|_| RangeError::Syntax)?;
        if prefix.is_empty() || !prefix.bytes().all(|b| b.is_ascii_digit()) {
            return Err(RangeError::Syntax);
        }
        let prefix: u8 = prefix.parse().map_err(|_| RangeError::Syntax)?;
        if !(4..=24).contains(&prefix) {
            return Err(RangeError::Prefix);
        }
        let base = u32::from(addr);
        if base & !mask(prefix) != 0 {
            return Err(RangeError::NotAligned);
        }
        Ok(VirtualRange { base, prefix })
    }
}

impl fmt::Display for VirtualRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", Ipv4Addr::from(self.base), self.prefix)
    }
}

fn mask(prefix: u8) -> u32 {
    u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0)
}

impl VirtualRange {
    /// Number of addresses in the range.
    pub fn size(&self) -> u32 {
        !mask(self.prefix) + 1
    }

    /// Is `addr` inside the range?
    pub fn contains(&self, addr: Ipv4Addr) -> bool {
        u32::from(addr) & mask(self.prefix) == self.base
    }

    fn offset_of(&self, addr: Ipv4Addr) -> Option<u32> {
        self.contains(addr).then(|| u32::from(addr) - self.base)
    }

    fn addr_at(&self, offset: u32) -> Ipv4Addr {
        Ipv4Addr::from(self.base | (offset & !mask(self.prefix)))
    }
}

/// Every address of the range is held by a mapping that has not expired.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[error("every virtual address is in use")]
pub struct RangeFull;

#[derive(Debug, Clone)]
struct Mapping {
    name: Vec<u8>,
    last_used: Instant,
}

/// The name ↔ address map (not thread-safe; [`VirtualAddrs`] wraps it in a lock).
#[derive(Debug, Clone)]
pub struct VirtualMap {
    range: VirtualRange,
    idle: Duration,
    capacity: usize,
    by_name: HashMap<Vec<u8>, u32>,
    by_offset: HashMap<u32, Mapping>,
    /// (last use, offset), oldest first.
    lru: BTreeSet<(Instant, u32)>,
    /// Next offset to try when handing out an address.
    cursor: u32,
}

impl VirtualMap {
    /// An empty map over `range`; mappings expire after `idle` without use, and at most
    /// `capacity` are held (at least 1).
    pub fn new(range: VirtualRange, idle: Duration, capacity: usize) -> Self {
        VirtualMap {
            range,
            idle,
            capacity: capacity.max(1),
            by_name: HashMap::new(),
            by_offset: HashMap::new(),
            lru: BTreeSet::new(),
            cursor: 1,
        }
    }

    /// The range addresses come from.
    pub fn range(&self) -> VirtualRange {
        self.range
    }

    /// Number of live mappings.
    pub fn len(&self) -> usize {
        self.by_offset.len()
    }

    /// No live mappings?
    pub fn is_empty(&self) -> bool {
        self.by_offset.is_empty()
    }

    /// The address for `name`: the one it already has (refreshed), or a new one.
    pub fn assign(&mut self, name: &[u8], now: Instant) -> Result<Ipv4Addr, RangeFull> {
        self.expire(now);
        if let Some(&offset) = self.by_name.get(name) {
            self.touch(offset, now);
            return Ok(self.range.addr_at(offset));
        }
        if self.by_offset.len() >= self.capacity {
            self.evict_oldest();
        }
        let offset = self.next_free().ok_or(RangeFull)?;
        self.by_name.insert(name.to_vec(), offset);
        self.by_offset.insert(
            offset,
            Mapping {
                name: name.to_vec(),
                last_used: now,
            },
        );
        self.lru.insert((now, offset));
        Ok(self.range.addr_at(offset))
    }

    /// The name mapped to `addr` (refreshed), if any.
    pub fn name_of(&mut self, addr: Ipv4Addr, now: Instant) -> Option<Vec<u8>> {
        self.expire(now);
        let offset = self.range.offset_of(addr)?;
        let name = self.by_offset.get(&offset)?.name.clone();
        self.touch(offset, now);
        Some(name)
    }

    fn touch(&mut self, offset: u32, now: Instant) {
        if let Some(mapping) = self.by_offset.get_mut(&offset) {
            self.lru.remove(&(mapping.last_used, offset));
            mapping.last_used = now;
            self.lru.insert((now, offset));
        }
    }

    fn expire(&mut self, now: Instant) {
        while let Some(&(last_used, offset)) = self.lru.first() {
            if now.saturating_duration_since(last_used) < self.idle {
                break;
            }
            self.remove(last_used, offset);
        }
    }

    fn evict_oldest(&mut self) {
        if let Some(&(last_used, offset)) = self.lru.first() {
            self.remove(last_used, offset);
        }
    }

    fn remove(&mut self, last_used: Instant, offset: u32) {
        self.lru.remove(&(last_used, offset));
        if let Some(mapping) = self.by_offset.remove(&offset) {
            self.by_name.remove(&mapping.name);
        }
    }

    /// The next unused offset at or after the cursor, round-robin. Addresses ending in .0 or
    /// .255 are skipped: some software treats them as network or broadcast addresses.
    fn next_free(&mut self) -> Option<u32> {
        let size = self.range.size();
        for _ in 0..size {
            let offset = self.cursor;
            self.cursor = (self.cursor + 1) % size;
            let last_octet = self.range.addr_at(offset).octets()[3];
            if last_octet != 0 && last_octet != 255 && !self.by_offset.contains_key(&offset) {
                return Some(offset);
            }
        }
        None
    }
}

/// [`VirtualMap`] shared by every client of the SOCKS server.
#[derive(Debug)]
pub struct VirtualAddrs {
    map: Mutex<VirtualMap>,
}

impl VirtualAddrs {
    /// A shared map over `range` with the given idle timeout and the default capacity.
    pub fn new(range: VirtualRange, idle: Duration) -> Self {
        VirtualAddrs {
            map: Mutex::new(VirtualMap::new(range, idle, DEFAULT_CAPACITY)),
        }
    }

    /// Is `addr` one of ours (mapped or not)?
    pub fn contains(&self, addr: Ipv4Addr) -> bool {
        self.with(|map| map.range().contains(addr))
    }

    /// See [`VirtualMap::assign`].
    pub fn assign(&self, name: &[u8]) -> Result<Ipv4Addr, RangeFull> {
        self.with(|map| map.assign(name, Instant::now()))
    }

    /// See [`VirtualMap::name_of`].
    pub fn name_of(&self, addr: Ipv4Addr) -> Option<Vec<u8>> {
        self.with(|map| map.name_of(addr, Instant::now()))
    }

    fn with<T>(&self, f: impl FnOnce(&mut VirtualMap) -> T) -> T {
        // A panic while holding the lock cannot leave the map inconsistent in a way that
        // matters more than losing it; keep serving.
        let mut guard = self
            .map
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        f(&mut guard)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(text: &str) -> VirtualRange {
        text.parse().unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    #[test]
    fn parses_and_checks_ranges() {
        let r = range("240.0.0.0/4");
        assert_eq!(r.size(), 1 << 28);
        assert!(r.contains(Ipv4Addr::new(255, 1, 2, 3)));
        assert!(!r.contains(Ipv4Addr::new(239, 255, 255, 255)));
        assert_eq!(r.to_string(), "240.0.0.0/4");
        assert_eq!(range("10.8.0.0/24").size(), 256);
        for (bad, err) in [
            ("240.0.0.0", RangeError::Syntax),
            ("240.0.0/4", RangeError::Syntax),
            ("240.0.0.0/+4", RangeError::Syntax),
            ("240.0.0.0/", RangeError::Syntax),
            ("240.0.0.0/3", RangeError::Prefix),
            ("10.0.0.0/25", RangeError::Prefix),
            ("10.0.0.0/99999999999", RangeError::Syntax),
            ("240.0.0.1/4", RangeError::NotAligned),
        ] {
            assert_eq!(bad.parse::<VirtualRange>(), Err(err), "{bad}");
        }
    }

    #[test]
    fn same_name_same_address_different_names_differ() -> Result<(), RangeFull> {
        let now = Instant::now();
        let mut map = VirtualMap::new(range("240.0.0.0/4"), DEFAULT_IDLE, 10);
        let a = map.assign(b"a.i2p", now)?;
        let b = map.assign(b"b.i2p", now)?;
        assert_ne!(a, b);
        assert_eq!(map.assign(b"a.i2p", now)?, a);
        assert_eq!(a, Ipv4Addr::new(240, 0, 0, 1));
        assert_eq!(map.name_of(b, now), Some(b"b.i2p".to_vec()));
        assert_eq!(map.name_of(Ipv4Addr::new(240, 0, 0, 99), now), None);
        assert_eq!(map.name_of(Ipv4Addr::new(10, 0, 0, 1), now), None);
        Ok(())
    }

    #[test]
    fn use_refreshes_and_idle_mappings_expire() -> Result<(), RangeFull> {
        let start = Instant::now();
        let idle = Duration::from_secs(60);
        let mut map = VirtualMap::new(range("240.0.0.0/4"), idle, 10);
        let a = map.assign(b"a.i2p", start)?;
        let b = map.assign(b"b.i2p", start)?;
        // `a` is used at 50 s, `b` is not: at 100 s only `a` is still there.
        assert!(map.name_of(a, start + Duration::from_secs(50)).is_some());
        let later = start + Duration::from_secs(100);
        assert_eq!(map.name_of(b, later), None);
        assert_eq!(map.name_of(a, later), Some(b"a.i2p".to_vec()));
        assert_eq!(map.len(), 1);
        // A name that expired gets a new address, not its old one nor a reused one.
        let b2 = map.assign(b"b.i2p", later)?;
        assert!(b2 != b && b2 != a);
        Ok(())
    }

    #[test]
    fn freed_addresses_are_not_reused_before_the_range_wraps() -> Result<(), RangeFull> {
        let now = Instant::now();
        // Capacity 2: the third name evicts the least recently used.
        let mut map = VirtualMap::new(range("10.1.0.0/24"), DEFAULT_IDLE, 2);
        let a = map.assign(b"a.i2p", now)?;
        let b = map.assign(b"b.i2p", now + Duration::from_secs(1))?;
        let c = map.assign(b"c.i2p", now + Duration::from_secs(2))?;
        assert_eq!(map.name_of(a, now), None, "a was evicted");
        assert_eq!(map.len(), 2);
        let mut seen = vec![a, b, c];
        // 253 more names: none gets `a`'s address until every other address was used.
        for i in 0..251u32 {
            let addr = map.assign(format!("n{i}.i2p").as_bytes(), now)?;
            assert!(!seen.contains(&addr), "{addr} reused after {i}");
            let last = addr.octets()[3];
            assert!(last != 0 && last != 255, "{addr}");
            seen.push(addr);
        }
        // The range has 254 usable addresses; the next one wraps around to the oldest free.
        let wrapped = map.assign(b"late.i2p", now)?;
        assert!(seen.contains(&wrapped));
        Ok(())
    }

    #[test]
    fn a_full_range_refuses_new_names() {
        let now = Instant::now();
        let mut map = VirtualMap::new(range("10.1.0.0/24"), DEFAULT_IDLE, 1000);
        for i in 0..254u32 {
            assert!(map.assign(format!("n{i}.i2p").as_bytes(), now).is_ok());
        }
        assert_eq!(map.assign(b"one-more.i2p", now), Err(RangeFull));
        assert!(map.assign(b"n7.i2p", now).is_ok(), "known names still work");
    }
}
