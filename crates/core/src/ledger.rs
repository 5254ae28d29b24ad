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

use std::collections::{BTreeMap, HashMap, HashSet};
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
    /// What forgotten processes moved (see [`SocketLedger::forget_processes`]).
    forgotten: Counters,
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
    /// traffic at all are left out. Rows come largest first (then by pid,
    /// cookie and remote), so the same ledger always reports the same way.
    pub fn report(&self) -> Report {
        let mut r = self.report_unordered();
        r.connections.sort_by(|a, b| {
            volume(&b.counters)
                .cmp(&volume(&a.counters))
                .then(a.pid.cmp(&b.pid))
                .then(a.cookie.cmp(&b.cookie))
                .then(a.remote.cmp(&b.remote))
        });
        r
    }

    /// [`SocketLedger::report`] with the connection rows in no particular
    /// order, for a caller that sorts them its own way anyway (the live
    /// view): sorting 10,000 rows is a good part of a report's cost.
    /// Process rows are still sorted (there are few).
    pub fn report_unordered(&self) -> Report {
        // One lookup per socket: pids need no DoS-resistant hashing here.
        let mut procs: HashMap<u32, ProcessRow, foldhash::fast::RandomState> =
            HashMap::with_capacity_and_hasher(
                self.processes.len().max(self.retired.len()) + 16,
                Default::default(),
            );
        let mut connections = Vec::with_capacity(self.sockets.len() + self.peers.len());
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

        total.add(&self.forgotten);
        let mut processes: Vec<ProcessRow> = procs.into_values().collect();
        processes.sort_by(|a, b| {
            volume(&b.counters)
                .cmp(&volume(&a.counters))
                .then(a.pid.cmp(&b.pid))
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

    /// Records held of sockets already closed (what
    /// [`SocketLedger::retire_closed`] would fold).
    pub fn closed_count(&self) -> usize {
        self.sockets.values().filter(|s| s.closed).count()
    }

    /// Forgets the processes of `pids` that own no socket any more: their
    /// rows, identities and retired totals go; what they moved stays in the
    /// report's total (and a late observation of one of their retired
    /// sockets adds to it too). For long runs (the agent), where every pid
    /// ever seen would otherwise be kept. Returns how many were forgotten.
    pub fn forget_processes(&mut self, pids: &HashSet<u32>) -> usize {
        let owning: HashSet<u32> = self
            .sockets
            .values()
            .filter_map(|s| s.owner.as_ref().map(|o| o.pid))
            .filter(|p| pids.contains(p))
            .collect();
        let mut n = 0;
        for pid in pids.iter().filter(|p| !owning.contains(p)) {
            self.processes.remove(pid);
            if let Some(r) = self.retired.remove(pid) {
                self.forgotten.add(&r.counters);
                n += 1;
            }
        }
        n
    }

    fn add_retired(&mut self, pid: Option<u32>, c: &Counters, new_socket: bool) {
        let n = u64::from(new_socket);
        match pid.and_then(|p| self.retired.get_mut(&p)) {
            Some(r) => {
                r.sockets += n;
                r.counters.add(c);
            }
            // A forgotten process's socket, reported late.
            None if pid.is_some() => self.forgotten.add(c),
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
#[path = "ledger_tests.rs"]
mod tests;
