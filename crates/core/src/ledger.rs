//! The socket ledger: every socket seen in the capture window, merged from
//! periodic map reads and close events by cookie, plus the per-remote split of
//! unconnected UDP and what is known of each process. It turns that into a
//! [`Report`]: rows per process and per connection whose sums equal what the
//! sockets moved, with unnamed traffic counted, never dropped.
//!
//! A long run calls [`SocketLedger::retire_closed`] to stay bounded: closed
//! sockets are folded into per-process retired totals and forgotten, so
//! process totals since start stay exact while connection rows only list
//! sockets still held. A retired socket the kernel reports again (it may
//! linger after its owner released it) adds only what it moved since.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;

use crate::model::{canonical_ip, Counters, PeerRecord, ProcessInfo, SocketCookie, SocketRecord};
use crate::report::{ConnectionRow, ProcessRow, Report};

#[derive(Debug, Default)]
pub struct SocketLedger {
    sockets: HashMap<SocketCookie, SocketRecord>,
    peers: HashMap<SocketCookie, BTreeMap<SocketAddr, PeerRecord>>,
    processes: HashMap<u32, ProcessInfo>,
    retired: HashMap<u32, Retired>,
    retired_unowned: Unowned,
    tombstones: HashMap<SocketCookie, Tombstone>,
}

/// What the retired sockets of one pid moved.
#[derive(Debug, Clone, Default)]
struct Retired {
    comm: String,
    uid: u32,
    cgroup_id: u64,
    sockets: u64,
    counters: Counters,
}

/// A retired socket's last known counters, kept while the kernel still
/// reports it so a late observation adds only the difference.
#[derive(Debug, Clone, Copy)]
struct Tombstone {
    pid: Option<u32>,
    counters: Counters,
    /// Observed since the last [`SocketLedger::retire_closed`].
    seen: bool,
}

/// Bytes of sockets that were never seen in a send/receive call.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Unowned {
    pub sockets: u64,
    pub bytes: u64,
    pub wire_bytes: u64,
}

impl SocketLedger {
    pub fn new() -> Self {
        Self::default()
    }

    /// Merges one observation of a socket (map read or close event).
    pub fn observe_socket(&mut self, rec: SocketRecord) {
        if let Some(t) = self.tombstones.get_mut(&rec.cookie) {
            t.seen = true;
            let before = t.counters;
            t.counters.max_merge(&rec.counters);
            let (pid, delta) = (t.pid, t.counters.saturating_sub(&before));
            if !delta.is_zero() {
                self.add_retired(pid, &delta, before.is_zero());
            }
            return;
        }
        match self.sockets.get_mut(&rec.cookie) {
            Some(known) => known.merge(&rec),
            None => {
                self.sockets.insert(rec.cookie, rec);
            }
        }
    }

    /// Merges one observation of an unconnected UDP socket's remote.
    pub fn observe_peer(&mut self, p: PeerRecord) {
        if self.tombstones.contains_key(&p.cookie) {
            // Its socket's row is gone; the bytes are in the retired totals.
            return;
        }
        let by_remote = self.peers.entry(p.cookie).or_default();
        let remote = SocketAddr::new(canonical_ip(p.remote.ip()), p.remote.port());
        let e = by_remote
            .entry(remote)
            .or_insert(PeerRecord { remote, ..p });
        e.tx_bytes = e.tx_bytes.max(p.tx_bytes);
        e.rx_bytes = e.rx_bytes.max(p.rx_bytes);
        e.tx_calls = e.tx_calls.max(p.tx_calls);
        e.rx_calls = e.rx_calls.max(p.rx_calls);
    }

    /// Records what is known of a process; a later record for the same pid
    /// (a reused pid) replaces the earlier one.
    pub fn observe_process(&mut self, p: ProcessInfo) {
        self.processes.insert(p.pid, p);
    }

    pub fn process(&self, pid: u32) -> Option<&ProcessInfo> {
        self.processes.get(&pid)
    }

    pub fn socket(&self, cookie: SocketCookie) -> Option<&SocketRecord> {
        self.sockets.get(&cookie)
    }

    pub fn sockets(&self) -> impl Iterator<Item = &SocketRecord> {
        self.sockets.values()
    }

    /// Pids that own a socket but have no [`ProcessInfo`] yet.
    pub fn pids_without_info(&self) -> Vec<u32> {
        let mut pids: Vec<u32> = self
            .sockets
            .values()
            .filter_map(|s| s.owner.as_ref().map(|o| o.pid))
            .chain(self.retired.keys().copied())
            .filter(|pid| !self.processes.contains_key(pid))
            .collect();
        pids.sort_unstable();
        pids.dedup();
        pids
    }

    /// Traffic of sockets without an owner.
    pub fn unowned(&self) -> Unowned {
        let mut u = self.retired_unowned;
        for s in self.sockets.values().filter(|s| s.owner.is_none()) {
            u.sockets += 1;
            u.bytes += s.counters.tx_bytes + s.counters.rx_bytes;
            u.wire_bytes += s.counters.tx_wire_bytes + s.counters.rx_wire_bytes;
        }
        u
    }

    /// Builds the per-process and per-connection report. Sockets with no
    /// traffic at all are left out.
    pub fn report(&self) -> Report {
        let mut procs: HashMap<u32, ProcessRow> = HashMap::new();
        let mut connections = Vec::new();
        let mut total = Counters::default();

        for s in self.sockets.values().filter(|s| !s.counters.is_zero()) {
            let (pid, process) = match &s.owner {
                Some(o) => (o.pid, o.comm.as_str()),
                None => (0, ""),
            };
            if let Some(o) = &s.owner {
                let row = procs
                    .entry(o.pid)
                    .or_insert_with(|| self.process_row(o.pid, &o.comm, o.uid, o.cgroup_id));
                row.sockets += 1;
                row.counters.add(&s.counters);
                total.add(&s.counters);
            }
            self.connection_rows(s, pid, process, &mut connections);
        }
        for (&pid, r) in self.retired.iter().filter(|(_, r)| !r.counters.is_zero()) {
            let row = procs
                .entry(pid)
                .or_insert_with(|| self.process_row(pid, &r.comm, r.uid, r.cgroup_id));
            row.sockets += r.sockets;
            row.counters.add(&r.counters);
            total.add(&r.counters);
        }

        let mut processes: Vec<ProcessRow> = procs.into_values().collect();
        processes.sort_by(|a, b| {
            volume(&b.counters)
                .cmp(&volume(&a.counters))
                .then(a.pid.cmp(&b.pid))
        });
        connections.sort_by(|a, b| {
            volume(&b.counters)
                .cmp(&volume(&a.counters))
                .then(a.pid.cmp(&b.pid))
                .then(a.cookie.cmp(&b.cookie))
                .then(a.remote.cmp(&b.remote))
        });
        Report {
            processes,
            connections,
            total,
        }
    }

    /// Folds every closed socket into its process's retired totals and
    /// drops its record and per-remote split; returns how many were
    /// retired. Process rows of [`SocketLedger::report`] keep counting them;
    /// connection rows no longer list them. Call it after each read of the
    /// live sockets: a retired socket not observed again before the next
    /// call is forgotten for good.
    pub fn retire_closed(&mut self) -> usize {
        self.tombstones.retain(|_, t| std::mem::take(&mut t.seen));
        let closed: Vec<SocketCookie> = self
            .sockets
            .values()
            .filter(|s| s.closed)
            .map(|s| s.cookie)
            .collect();
        for cookie in &closed {
            let Some(s) = self.sockets.remove(cookie) else {
                continue;
            };
            self.peers.remove(cookie);
            let pid = s.owner.as_ref().map(|o| o.pid);
            if let Some(o) = &s.owner {
                self.retired.entry(o.pid).or_insert_with(|| Retired {
                    comm: o.comm.clone(),
                    uid: o.uid,
                    cgroup_id: o.cgroup_id,
                    ..Retired::default()
                });
            }
            if !s.counters.is_zero() {
                self.add_retired(pid, &s.counters, true);
            }
            self.tombstones.insert(
                *cookie,
                Tombstone {
                    pid,
                    counters: s.counters,
                    seen: false,
                },
            );
        }
        closed.len()
    }

    /// Whether the socket was released by its owner (also once retired).
    pub fn is_closed(&self, cookie: SocketCookie) -> bool {
        self.tombstones.contains_key(&cookie) || self.sockets.get(&cookie).is_some_and(|s| s.closed)
    }

    /// Socket records held (retired ones not included).
    pub fn socket_count(&self) -> usize {
        self.sockets.len()
    }

    fn add_retired(&mut self, pid: Option<u32>, c: &Counters, new_socket: bool) {
        let n = u64::from(new_socket);
        match pid.and_then(|p| self.retired.get_mut(&p)) {
            Some(r) => {
                r.sockets += n;
                r.counters.add(c);
            }
            None => {
                let u = &mut self.retired_unowned;
                u.sockets += n;
                u.bytes += c.tx_bytes + c.rx_bytes;
                u.wire_bytes += c.tx_wire_bytes + c.rx_wire_bytes;
            }
        }
    }

    fn process_row(&self, pid: u32, comm: &str, uid: u32, cgroup_id: u64) -> ProcessRow {
        let info = self.processes.get(&pid);
        ProcessRow {
            pid,
            process: info.map_or_else(|| comm.to_string(), |i| i.comm.clone()),
            cmdline: info.map(|i| i.cmdline.clone()).unwrap_or_default(),
            uid,
            cgroup_id,
            sockets: 0,
            counters: Counters::default(),
        }
    }

    /// One row per connected socket; an unconnected UDP socket gets one row
    /// per known remote plus one for the remainder (remote unknown), so the
    /// rows of a socket always add up to its counters.
    fn connection_rows(
        &self,
        s: &SocketRecord,
        pid: u32,
        process: &str,
        out: &mut Vec<ConnectionRow>,
    ) {
        let (protocol, family, local, remote) = match &s.tuple {
            Some(t) => (t.protocol, t.family, Some(t.local), t.remote),
            None => return,
        };
        let local = local.map(|a| SocketAddr::new(canonical_ip(a.ip()), a.port()));
        let remote = remote.map(|a| SocketAddr::new(canonical_ip(a.ip()), a.port()));
        let state = if s.closed { "closed" } else { "open" };
        let row = |remote: Option<SocketAddr>, counters: Counters| ConnectionRow {
            protocol,
            family,
            local,
            remote,
            state,
            pid,
            process: process.to_string(),
            cookie: s.cookie.0,
            counters,
        };

        let peers = match (remote, self.peers.get(&s.cookie)) {
            (None, Some(p)) if !p.is_empty() => p,
            _ => {
                out.push(row(remote, s.counters));
                return;
            }
        };
        let mut rest = s.counters;
        for p in peers.values() {
            let c = Counters {
                tx_bytes: p.tx_bytes,
                rx_bytes: p.rx_bytes,
                tx_calls: p.tx_calls,
                rx_calls: p.rx_calls,
                ..Counters::default()
            };
            rest = rest.saturating_sub(&c);
            out.push(row(Some(p.remote), c));
        }
        if !rest.is_zero() {
            out.push(row(None, rest));
        }
    }
}

fn volume(c: &Counters) -> u64 {
    c.tx_bytes + c.rx_bytes + c.tx_wire_bytes + c.rx_wire_bytes
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Family, Owner, Protocol, Tuple};

    fn owner(pid: u32) -> Owner {
        Owner {
            pid,
            uid: 1000,
            comm: format!("p{pid}"),
            cgroup_id: 9,
            netns: 1,
        }
    }

    fn sock(cookie: u64, pid: Option<u32>, tx: u64, rx: u64) -> SocketRecord {
        SocketRecord {
            cookie: SocketCookie(cookie),
            owner: pid.map(owner),
            tuple: Some(Tuple {
                protocol: Protocol::Tcp,
                family: Family::Ipv4,
                local: "10.0.0.1:40000".parse().unwrap(),
                remote: Some("10.0.0.2:80".parse().unwrap()),
            }),
            counters: Counters {
                tx_bytes: tx,
                rx_bytes: rx,
                ..Default::default()
            },
            closed: false,
        }
    }

    #[test]
    fn processes_sum_their_sockets_and_merge_observations() {
        let mut l = SocketLedger::new();
        l.observe_socket(sock(1, Some(10), 100, 5));
        l.observe_socket(sock(2, Some(10), 50, 0));
        l.observe_socket(sock(3, Some(11), 1, 1));
        // A close event with later counters for socket 1.
        let mut closed = sock(1, Some(10), 150, 5);
        closed.closed = true;
        l.observe_socket(closed);
        // A stale map read must not lower anything.
        l.observe_socket(sock(1, Some(10), 120, 5));

        let r = l.report();
        assert_eq!(r.processes.len(), 2);
        assert_eq!(r.processes[0].pid, 10);
        assert_eq!(r.processes[0].counters.tx_bytes, 200);
        assert_eq!(r.processes[0].sockets, 2);
        assert_eq!(r.total.tx_bytes, 201);
        let c1 = r.connections.iter().find(|c| c.cookie == 1).unwrap();
        assert_eq!(c1.state, "closed");
    }

    #[test]
    fn process_info_names_rows_after_exit() {
        let mut l = SocketLedger::new();
        l.observe_socket(sock(1, Some(42), 10, 0));
        assert_eq!(l.pids_without_info(), vec![42]);
        l.observe_process(ProcessInfo {
            pid: 42,
            comm: "short".into(),
            cmdline: "short --once".into(),
            ..Default::default()
        });
        assert!(l.pids_without_info().is_empty());
        let r = l.report();
        assert_eq!(r.processes[0].cmdline, "short --once");
        assert_eq!(r.processes[0].process, "short");
    }

    #[test]
    fn unowned_sockets_are_counted_not_attributed() {
        let mut l = SocketLedger::new();
        let mut s = sock(5, None, 0, 0);
        s.counters.rx_wire_bytes = 60;
        l.observe_socket(s);
        let r = l.report();
        assert!(r.processes.is_empty());
        assert_eq!(r.connections.len(), 1);
        assert_eq!(r.connections[0].pid, 0);
        assert_eq!(
            l.unowned(),
            Unowned {
                sockets: 1,
                bytes: 0,
                wire_bytes: 60
            }
        );
    }

    #[test]
    fn unconnected_udp_splits_by_remote_and_keeps_the_remainder() {
        let mut l = SocketLedger::new();
        let mut s = sock(7, Some(3), 300, 40);
        s.tuple = Some(Tuple {
            protocol: Protocol::Udp,
            family: Family::Ipv6,
            local: "[::]:5353".parse().unwrap(),
            remote: None,
        });
        l.observe_socket(s);
        for (port, tx) in [(1001u16, 100u64), (1002, 150)] {
            l.observe_peer(PeerRecord {
                cookie: SocketCookie(7),
                remote: SocketAddr::new("::ffff:10.0.0.9".parse().unwrap(), port),
                tx_bytes: tx,
                rx_bytes: 10,
                tx_calls: 1,
                rx_calls: 1,
            });
        }
        let r = l.report();
        let rows: Vec<_> = r.connections.iter().filter(|c| c.cookie == 7).collect();
        assert_eq!(rows.len(), 3);
        let sum: u64 = rows.iter().map(|c| c.counters.tx_bytes).sum();
        assert_eq!(sum, 300);
        assert!(rows
            .iter()
            .any(|c| c.remote == Some("10.0.0.9:1002".parse().unwrap())));
        let rest = rows.iter().find(|c| c.remote.is_none()).unwrap();
        assert_eq!((rest.counters.tx_bytes, rest.counters.rx_bytes), (50, 20));
    }

    #[test]
    fn retiring_keeps_process_totals_and_drops_connections() {
        let mut l = SocketLedger::new();
        l.observe_socket(sock(1, Some(10), 100, 5));
        let mut closed = sock(2, Some(10), 50, 7);
        closed.closed = true;
        l.observe_socket(closed.clone());
        let mut gone = sock(3, Some(11), 30, 0);
        gone.closed = true;
        l.observe_socket(gone);
        let mut nobody = sock(4, None, 0, 0);
        nobody.counters.rx_wire_bytes = 60;
        nobody.closed = true;
        l.observe_socket(nobody);
        let before = l.report();
        let unowned_before = l.unowned();

        assert_eq!(l.retire_closed(), 3);
        assert_eq!(l.socket_count(), 1);
        assert!(l.is_closed(SocketCookie(2)) && !l.is_closed(SocketCookie(1)));
        let after = l.report();
        assert_eq!(after.processes, before.processes);
        assert_eq!(after.total, before.total);
        assert_eq!(l.unowned(), unowned_before);
        assert_eq!(after.connections.len(), 1);
        assert_eq!(after.connections[0].cookie, 1);

        // The kernel reports socket 2 again with a few more bytes (its FIN):
        // only the difference is added, and a stale read adds nothing.
        closed.counters.tx_bytes = 52;
        l.observe_socket(closed.clone());
        closed.counters.tx_bytes = 51;
        l.observe_socket(closed.clone());
        let p10 = |r: &Report| r.processes.iter().find(|p| p.pid == 10).unwrap().clone();
        assert_eq!(p10(&l.report()).counters.tx_bytes, 152);
        assert_eq!(p10(&l.report()).sockets, 2);

        // Seen since the last call: kept; then not seen again: forgotten.
        l.retire_closed();
        assert!(l.is_closed(SocketCookie(2)));
        assert!(!l.is_closed(SocketCookie(3)));
        l.retire_closed();
        assert!(!l.is_closed(SocketCookie(2)));
        assert_eq!(p10(&l.report()).counters.tx_bytes, 152);
    }

    #[test]
    fn retired_udp_peers_are_dropped_and_not_recreated() {
        let mut l = SocketLedger::new();
        let mut s = sock(7, Some(3), 300, 0);
        s.tuple.as_mut().unwrap().remote = None;
        s.closed = true;
        l.observe_socket(s);
        let peer = PeerRecord {
            cookie: SocketCookie(7),
            remote: "10.0.0.9:53".parse().unwrap(),
            tx_bytes: 100,
            rx_bytes: 0,
            tx_calls: 1,
            rx_calls: 0,
        };
        l.observe_peer(peer);
        l.retire_closed();
        l.observe_peer(peer);
        assert!(l.peers.is_empty());
        let r = l.report();
        assert!(r.connections.is_empty());
        assert_eq!(r.processes[0].counters.tx_bytes, 300);
        assert_eq!(l.pids_without_info(), vec![3]);
    }

    #[test]
    fn silent_sockets_are_left_out() {
        let mut l = SocketLedger::new();
        l.observe_socket(sock(1, Some(10), 0, 0));
        assert_eq!(l.report(), Report::default());
    }
}
