//! The name cache: which name an address was given as an answer for, so
//! connection rows can show `remote_host`. Learned only from responses
//! netoproc saw pass; it never sends a lookup of its own.
//!
//! An A/AAAA answer reached through a CNAME chain is filed under the name
//! that was asked (`www.example.com`, not the CDN's edge name); a PTR answer
//! names its address when no forward answer did. An entry lives for its TTL
//! plus [`GRACE_NS`]: connections are opened right after the answer but
//! shown later, and a TTL of 0 is common. The number of entries is capped;
//! the oldest go first.

use std::collections::{HashMap, HashSet, VecDeque};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use netoproc_core::model::canonical_ip;

use crate::message::{AnswerData, DnsMessage, Rcode};

/// How long past its TTL an answer still names its address.
pub const GRACE_NS: u64 = 300 * 1_000_000_000;

#[derive(Debug, Clone)]
struct Entry {
    name: String,
    expires_ns: u64,
    /// Which insertion this is, to skip outdated queue entries.
    seq: u64,
    /// From a PTR answer (a forward answer replaces it, not the reverse).
    reverse: bool,
}

/// Address to the name it was an answer for, with TTL plus grace; the
/// oldest entries are evicted past the cap, and counted.
#[derive(Debug)]
pub struct NameCache {
    entries: HashMap<IpAddr, Entry>,
    /// Insertion order, for eviction; may hold outdated (ip, seq) pairs.
    order: VecDeque<(IpAddr, u64)>,
    next_seq: u64,
    max_entries: usize,
    evicted: u64,
}

impl NameCache {
    /// An empty cache holding at most `max_entries` addresses (at least 1).
    pub fn new(max_entries: usize) -> Self {
        NameCache {
            entries: HashMap::new(),
            order: VecDeque::new(),
            next_seq: 0,
            max_entries: max_entries.max(1),
            evicted: 0,
        }
    }

    /// Addresses held, expired ones included until evicted.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// No address named.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Entries dropped to stay within the cap before they expired.
    pub fn evicted(&self) -> u64 {
        self.evicted
    }

    /// The name `ip` was an answer for, if that answer is still current at
    /// `now_ns` (kernel monotonic clock).
    pub fn name_of(&self, ip: IpAddr, now_ns: u64) -> Option<&str> {
        self.entries
            .get(&canonical_ip(ip))
            .filter(|e| e.expires_ns > now_ns)
            .map(|e| e.name.as_str())
    }

    /// Learns the addresses a successful response gives, received at `ktime_ns`.
    pub fn learn(&mut self, msg: &DnsMessage, ktime_ns: u64) {
        if !msg.is_response || msg.rcode != Rcode::NOERROR {
            return;
        }
        let Some(q) = &msg.question else { return };
        // The asked name and every alias the chain leads to.
        let mut chain: HashSet<&str> = HashSet::from([q.name.as_str()]);
        loop {
            let before = chain.len();
            for a in &msg.answers {
                if let AnswerData::Cname(target) = &a.data {
                    if chain.contains(a.name.as_str()) {
                        chain.insert(target);
                    }
                }
            }
            if chain.len() == before {
                break;
            }
        }
        for a in &msg.answers {
            let ip = match &a.data {
                AnswerData::A(v4) if chain.contains(a.name.as_str()) => IpAddr::V4(*v4),
                AnswerData::Aaaa(v6) if chain.contains(a.name.as_str()) => IpAddr::V6(*v6),
                AnswerData::Ptr(target) if a.name == q.name => {
                    if let Some(ip) = reverse_ip(&q.name) {
                        self.insert(ip, target, a.ttl, ktime_ns, true);
                    }
                    continue;
                }
                _ => continue,
            };
            self.insert(ip, &q.name, a.ttl, ktime_ns, false);
        }
    }

    fn insert(&mut self, ip: IpAddr, name: &str, ttl: u32, now_ns: u64, reverse: bool) {
        let ip = canonical_ip(ip);
        let expires_ns = now_ns
            .saturating_add(u64::from(ttl).saturating_mul(1_000_000_000))
            .saturating_add(GRACE_NS);
        if reverse {
            if let Some(e) = self.entries.get(&ip) {
                if !e.reverse && e.expires_ns > now_ns {
                    return;
                }
            }
        }
        if !self.entries.contains_key(&ip) {
            while self.entries.len() >= self.max_entries {
                self.evict_one(now_ns);
            }
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        self.entries.insert(
            ip,
            Entry {
                name: name.to_string(),
                expires_ns,
                seq,
                reverse,
            },
        );
        self.order.push_back((ip, seq));
        if self.order.len() > 2 * self.max_entries + 64 {
            let entries = &self.entries;
            self.order
                .retain(|(ip, seq)| entries.get(ip).is_some_and(|e| e.seq == *seq));
        }
    }

    fn evict_one(&mut self, now_ns: u64) {
        while let Some((ip, seq)) = self.order.pop_front() {
            if self.entries.get(&ip).is_some_and(|e| e.seq == seq) {
                if self
                    .entries
                    .remove(&ip)
                    .is_some_and(|e| e.expires_ns > now_ns)
                {
                    self.evicted += 1;
                }
                return;
            }
        }
    }
}

/// The address a reverse-lookup name stands for
/// (`10.0.53.10.in-addr.arpa` → 10.53.0.10; nibbles under `ip6.arpa`).
fn reverse_ip(name: &str) -> Option<IpAddr> {
    if let Some(rest) = name.strip_suffix(".in-addr.arpa") {
        let mut octets = [0u8; 4];
        let parts: Vec<&str> = rest.split('.').collect();
        if parts.len() != 4 {
            return None;
        }
        for (o, p) in octets.iter_mut().zip(parts.iter().rev()) {
            *o = p.parse().ok()?;
        }
        return Some(IpAddr::V4(Ipv4Addr::from(octets)));
    }
    let rest = name.strip_suffix(".ip6.arpa")?;
    let nibbles: Vec<&str> = rest.split('.').collect();
    if nibbles.len() != 32 {
        return None;
    }
    let mut v: u128 = 0;
    for n in nibbles.iter().rev() {
        if n.len() != 1 {
            return None;
        }
        v = v << 4 | u128::from(u8::from_str_radix(n, 16).ok()?);
    }
    Some(IpAddr::V6(Ipv6Addr::from(v)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reverse_names() {
        assert_eq!(
            reverse_ip("10.0.53.10.in-addr.arpa"),
            Some("10.53.0.10".parse().unwrap())
        );
        assert_eq!(reverse_ip("1.2.3.in-addr.arpa"), None);
        assert_eq!(reverse_ip("300.0.0.1.in-addr.arpa"), None);
        let v6 = "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.f.ip6.arpa";
        assert_eq!(reverse_ip(v6), Some("fd00::1".parse().unwrap()));
        assert_eq!(reverse_ip("www.np.test"), None);
    }

    #[test]
    fn entries_expire_and_are_capped() {
        let mut c = NameCache::new(2);
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        c.insert(ip("10.0.0.1"), "a.test", 0, 0, false);
        assert_eq!(c.name_of(ip("10.0.0.1"), GRACE_NS - 1), Some("a.test"));
        assert_eq!(c.name_of(ip("::ffff:10.0.0.1"), 1), Some("a.test"));
        assert_eq!(c.name_of(ip("10.0.0.1"), GRACE_NS), None);
        c.insert(ip("10.0.0.2"), "b.test", 60, 0, false);
        c.insert(ip("10.0.0.1"), "a2.test", 60, 1, false);
        c.insert(ip("10.0.0.3"), "c.test", 60, 2, false);
        assert_eq!(c.len(), 2);
        assert_eq!(c.evicted(), 1);
        assert_eq!(c.name_of(ip("10.0.0.2"), 3), None);
        assert_eq!(c.name_of(ip("10.0.0.1"), 3), Some("a2.test"));
        // A PTR answer does not replace a current forward answer.
        c.insert(ip("10.0.0.1"), "ptr.test", 60, 4, true);
        assert_eq!(c.name_of(ip("10.0.0.1"), 5), Some("a2.test"));
    }
}
