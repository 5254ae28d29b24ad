//! The attribution rules with a fake [`Owners`] and a hand-driven clock:
//! binding flows to socket, per-remote and synthetic records, merged into a
//! real ledger. The fake and helpers serve `attribute_infer_tests.rs` too.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;

use netoproc_core::ledger::SocketLedger;
use netoproc_core::model::{Counters, Family, ProcessInfo, SocketCookie};
use netoproc_procfs::{InetSocket, MatchKind, NetnsId, Resolution, TcpState};

use super::*;
use crate::capture::owners::{Lookup, ProcessMeta};

const NS: NetnsId = NetnsId(4026531840);

#[derive(Default)]
pub(super) struct Fake {
    pub(super) exact: HashMap<(Protocol, SocketAddr, SocketAddr), Resolution>,
    /// Unconnected sockets and listeners, by local port.
    pub(super) by_port: HashMap<(Protocol, u16), Resolution>,
    pub(super) rate_limited: bool,
    pub(super) alive: HashSet<SocketCookie>,
    pub(super) netns_pids: Vec<u32>,
    pub(super) dead: HashSet<u32>,
    pub(super) hot: Vec<u32>,
    pub(super) dumped: Option<Instant>,
}

impl Owners for Fake {
    fn resolve(&mut self, key: &FlowKey, _now: Instant) -> Lookup {
        let found = self
            .exact
            .get(&(key.protocol, key.local, key.remote))
            .or_else(|| self.by_port.get(&(key.protocol, key.local.port())))
            .cloned();
        Lookup {
            rate_limited: found.is_none() && self.rate_limited,
            found,
            dumped_at: self.dumped,
        }
    }
    fn refresh(&mut self, now: Instant) {
        self.dumped = Some(now);
    }
    fn redump(&mut self, _netns: NetnsId, _protocol: Protocol, now: Instant) {
        // Rate limited like lookups are.
        if !self.rate_limited {
            self.dumped = Some(now);
        }
    }
    fn dumped_at(&self, _netns: NetnsId, _protocol: Protocol) -> Option<Instant> {
        self.dumped
    }
    fn socket_alive(&self, _netns: NetnsId, cookie: SocketCookie) -> bool {
        self.alive.contains(&cookie)
    }
    fn process(&mut self, pid: u32) -> Option<ProcessMeta> {
        Some(ProcessMeta {
            info: ProcessInfo {
                pid,
                uid: 1000,
                comm: format!("p{pid}"),
                ..ProcessInfo::default()
            },
            cgroup_id: 77,
        })
    }
    fn is_alive(&self, pid: u32) -> bool {
        !self.dead.contains(&pid)
    }
    fn candidates(&mut self, _netns: NetnsId, _since: Instant, _now: Instant) -> Vec<u32> {
        self.netns_pids.clone()
    }
    fn mark_hot(&mut self, pid: u32, _now: Instant) {
        self.hot.push(pid);
    }
}

pub(super) fn a(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

pub(super) fn key(p: Protocol, local: &str, remote: &str) -> FlowKey {
    FlowKey {
        netns: NS,
        protocol: p,
        local: a(local),
        remote: a(remote),
    }
}

pub(super) fn res(
    p: Protocol,
    local: &str,
    remote: Option<&str>,
    cookie: u64,
    inode: u64,
    pids: &[u32],
    matched: MatchKind,
) -> Resolution {
    let local = a(local);
    Resolution {
        socket: InetSocket {
            protocol: p,
            family: if local.is_ipv4() {
                Family::Ipv4
            } else {
                Family::Ipv6
            },
            local,
            remote: remote.map(a),
            state: TcpState::Established,
            uid: 1000,
            inode,
            cookie: SocketCookie(cookie),
        },
        netns: NS,
        pids: pids.to_vec(),
        matched,
    }
}

/// The exact match of `k`'s socket: `cookie`, `inode`, held by `pids`.
pub(super) fn exact(k: FlowKey, cookie: u64, inode: u64, pids: &[u32]) -> Resolution {
    let (local, remote) = (k.local.to_string(), k.remote.to_string());
    res(
        k.protocol,
        &local,
        Some(&remote),
        cookie,
        inode,
        pids,
        MatchKind::Exact,
    )
}

impl Fake {
    /// Resolves flows to `r`: by its address pair if an exact match, else
    /// by its local port.
    pub(super) fn add(&mut self, r: Resolution) {
        let s = &r.socket;
        match (r.matched, s.remote) {
            (MatchKind::Exact, Some(remote)) => {
                self.exact.insert((s.protocol, s.local, remote), r);
            }
            _ => {
                self.by_port.insert((s.protocol, s.local.port()), r);
            }
        }
    }
}

/// The pid of the process `s` is attributed to, if any.
pub(super) fn owner_pid(s: &SocketRecord) -> Option<u32> {
    s.owner.as_ref().map(|o| o.pid)
}

pub(super) fn tx(bytes: u64) -> FlowDelta {
    FlowDelta {
        counters: Counters {
            tx_bytes: bytes,
            tx_wire_bytes: bytes + 52,
            tx_packets: 1,
            ..Counters::default()
        },
        tcp_flags: 0,
    }
}

pub(super) fn rx(bytes: u64) -> FlowDelta {
    FlowDelta {
        counters: Counters {
            rx_bytes: bytes,
            rx_wire_bytes: bytes + 52,
            rx_packets: 1,
            ..Counters::default()
        },
        tcp_flags: 0,
    }
}

pub(super) fn attributor(f: Fake) -> (Attributor<Fake>, Instant) {
    (
        Attributor::new(f, AttributionConfig::default()),
        Instant::now(),
    )
}

pub(super) fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

#[test]
fn exact_socket_keeps_its_cookie_owner_and_tuple() {
    let k = key(Protocol::Tcp, "10.0.0.1:40000", "10.0.0.2:80");
    let mut f = Fake::default();
    let r = exact(k, 9, 100, &[42]);
    f.add(r);
    let (mut at, t0) = attributor(f);
    at.new_flow(k, t0);
    at.deltas(&[(k, tx(1000)), (k, rx(200))], t0);
    let b = at.take_batch();
    assert_eq!(b.processes.len(), 1);
    assert_eq!(b.sockets.len(), 1);
    let s = &b.sockets[0];
    assert_eq!(s.cookie, SocketCookie(9));
    let owner = s.owner.as_ref().unwrap();
    assert_eq!((owner.pid, owner.uid, owner.cgroup_id), (42, 1000, 77));
    assert_eq!(owner.netns, NS.0 as u32);
    assert_eq!(s.tuple.unwrap().remote, Some(k.remote));
    assert_eq!((s.counters.tx_bytes, s.counters.rx_bytes), (1000, 200));
    assert_eq!(at.owners.hot, vec![42]);
    assert_eq!(
        (at.tally.flows_resolved, at.tally.bytes_resolved),
        (1, 1200)
    );
    // Nothing changed: an empty batch; the process is announced once.
    assert!(at.take_batch().is_empty());
}

#[test]
fn unconnected_udp_is_one_record_split_per_remote() {
    let mut f = Fake::default();
    f.add(res(
        Protocol::Udp,
        "0.0.0.0:5353",
        None,
        21,
        300,
        &[7],
        MatchKind::Wildcard,
    ));
    let (mut at, t0) = attributor(f);
    let k1 = key(Protocol::Udp, "10.0.0.2:5353", "10.0.0.1:1111");
    let k2 = key(Protocol::Udp, "10.0.0.2:5353", "10.0.0.3:2222");
    at.new_flow(k1, t0);
    at.new_flow(k2, t0);
    at.deltas(&[(k1, rx(40)), (k1, tx(100)), (k2, rx(60))], t0);
    let b = at.take_batch();
    assert_eq!(b.sockets.len(), 1);
    let s = &b.sockets[0];
    assert_eq!(s.cookie, SocketCookie(21));
    assert_eq!(s.tuple.unwrap().remote, None);
    assert_eq!((s.counters.tx_bytes, s.counters.rx_bytes), (100, 100));
    let mut peers: Vec<_> = b
        .peers
        .iter()
        .map(|p| (p.remote, p.tx_bytes, p.rx_bytes))
        .collect();
    peers.sort();
    assert_eq!(peers, vec![(k1.remote, 100, 40), (k2.remote, 0, 60)]);

    let mut ledger = SocketLedger::new();
    ledger.observe_socket(s.clone());
    b.peers.iter().for_each(|p| ledger.observe_peer(*p));
    // One row per remote with its bytes; the rest (packets and wire bytes,
    // which peers do not split) in a remote-unknown row.
    let rows = ledger.report().connections;
    assert!(rows.iter().all(|c| c.pid == 7));
    assert_eq!(rows.iter().filter(|c| c.remote.is_some()).count(), 2);
    let rest = rows.iter().find(|c| c.remote.is_none()).unwrap();
    assert_eq!((rest.counters.tx_bytes, rest.counters.rx_bytes), (0, 0));
    assert_eq!(rest.counters.rx_packets, 2);
}

#[test]
fn listener_match_gets_a_record_of_its_own() {
    let mut f = Fake::default();
    f.add(res(
        Protocol::Tcp,
        "0.0.0.0:5401",
        None,
        5,
        50,
        &[8],
        MatchKind::Wildcard,
    ));
    let (mut at, t0) = attributor(f);
    let k1 = key(Protocol::Tcp, "10.0.0.2:5401", "10.0.0.1:40001");
    let k2 = key(Protocol::Tcp, "10.0.0.2:5401", "10.0.0.1:40002");
    for k in [k1, k2] {
        at.new_flow(k, t0);
        at.deltas(&[(k, rx(2000)), (k, tx(3000))], t0);
    }
    let b = at.take_batch();
    assert_eq!(b.sockets.len(), 2);
    for s in &b.sockets {
        assert_ne!(s.cookie.0 & SYNTHETIC_BIT, 0);
        assert_eq!(s.owner.as_ref().unwrap().pid, 8);
        assert_eq!(s.counters.tx_bytes, 3000);
        assert_eq!(s.tuple.unwrap().local, a("10.0.0.2:5401"));
    }
}

#[test]
fn unresolved_flows_show_with_their_tuple_and_no_owner() {
    let f = Fake {
        netns_pids: vec![1, 2, 3],
        ..Fake::default()
    };
    let (mut at, t0) = attributor(f);
    let k = key(Protocol::Tcp, "192.168.1.5:443", "192.168.1.9:50000");
    at.new_flow(k, t0);
    at.deltas(&[(k, rx(500))], t0);
    let b = at.take_batch();
    let s = &b.sockets[0];
    assert!(s.owner.is_none());
    assert_ne!(s.cookie.0 & SYNTHETIC_BIT, 0);
    let t = s.tuple.unwrap();
    assert_eq!((t.local, t.remote), (k.local, Some(k.remote)));
    assert_eq!(
        (at.tally.flows_unresolved, at.tally.bytes_unresolved),
        (1, 500)
    );

    let mut ledger = SocketLedger::new();
    ledger.observe_socket(s.clone());
    assert_eq!(ledger.unowned().bytes, 500);
    let rows = ledger.report().connections;
    assert_eq!((rows.len(), rows[0].pid), (1, 0));
}

#[test]
fn flows_past_the_bound_count_in_an_ownerless_overflow_row() {
    let mut f = Fake::default();
    let keys: Vec<FlowKey> = (0..5u16)
        .map(|i| {
            let k = key(
                Protocol::Tcp,
                &format!("10.0.0.1:{}", 40000 + i),
                "10.0.0.2:80",
            );
            f.add(exact(k, 100 + u64::from(i), 200 + u64::from(i), &[42]));
            k
        })
        .collect();
    let config = AttributionConfig {
        max_flows: 2,
        ..AttributionConfig::default()
    };
    let mut at = Attributor::new(f, config);
    let t0 = Instant::now();
    for k in &keys {
        at.new_flow(*k, t0);
    }
    let deltas: Vec<_> = keys.iter().map(|k| (*k, tx(1000))).collect();
    at.deltas(&deltas, t0);
    assert_eq!(at.flows_tracked(), 2);
    assert_eq!(at.tally.flows_folded, 3);
    assert_eq!(at.tally.bytes_folded, 3000);
    let b = at.take_batch();
    let total: u64 = b.sockets.iter().map(|s| s.counters.tx_bytes).sum();
    assert_eq!(total, 5000, "every byte is counted somewhere");
    let over: Vec<_> = b
        .sockets
        .iter()
        .filter(|s| s.tuple.unwrap().local == a("0.0.0.0:0"))
        .collect();
    assert_eq!(over.len(), 1, "one overflow row: {:?}", b.sockets);
    assert_eq!(over[0].counters.tx_bytes, 3000);
    assert!(over[0].owner.is_none(), "the overflow row names nobody");
    assert_eq!(at.tally.bytes_unresolved, 3000);
    assert_eq!(at.tally.bytes_resolved, 2000);

    // Once the remembered flows idle out, new flows are remembered again.
    let later = t0 + AttributionConfig::default().flow_idle + ms(1);
    at.tick(later);
    assert_eq!(at.flows_tracked(), 0);
    at.new_flow(keys[4], later);
    at.deltas(&[(keys[4], tx(10))], later);
    assert_eq!(at.flows_tracked(), 1);
    let b = at.take_batch();
    let s = b.sockets.iter().find(|s| s.cookie == SocketCookie(104));
    let s = s.expect("the flow's own record");
    assert_eq!(s.counters.tx_bytes, 10);
    assert_eq!(owner_pid(s), Some(42));
    assert_eq!(at.tally.flows_folded, 3);
}

#[test]
fn the_record_bound_also_folds_new_flows() {
    let (mut at, t0) = {
        let config = AttributionConfig {
            max_records: 1,
            ..AttributionConfig::default()
        };
        (Attributor::new(Fake::default(), config), Instant::now())
    };
    // Nothing resolves: each flow would get a record of its own.
    let k1 = key(Protocol::Udp, "10.0.0.1:5000", "10.0.0.9:53");
    let k2 = key(Protocol::Udp, "10.0.0.1:5001", "10.0.0.9:53");
    let k3 = key(Protocol::Udp, "[fd00::1]:5001", "[fd00::9]:53");
    for k in [k1, k2, k3] {
        at.new_flow(k, t0);
    }
    at.settle(t0 + ms(500));
    at.deltas(&[(k1, rx(7)), (k2, rx(11)), (k3, rx(13))], t0 + ms(500));
    assert_eq!(at.tally.flows_folded, 2);
    let b = at.take_batch();
    let rx_of = |local: &str| -> u64 {
        b.sockets
            .iter()
            .filter(|s| s.tuple.unwrap().local == a(local))
            .map(|s| s.counters.rx_bytes)
            .sum()
    };
    assert_eq!(rx_of("10.0.0.1:5000"), 7);
    assert_eq!(rx_of("0.0.0.0:0"), 11);
    assert_eq!(rx_of("[::]:0"), 13, "one overflow row per address family");
}
