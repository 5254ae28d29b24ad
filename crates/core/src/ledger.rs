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
//!
//! Processes are pid and start time ([`ProcessKey`], see [`crate::identity`]):
//! the rows of a process and of a later one that reused its pid never
//! merge. At most [`MAX_PROCESS_ROWS`] retired processes keep rows of their
//! own; past that, a newly retired process is summed into the
//! [`OTHER_PROCESSES`] row (pid 0) and counted
//! ([`SocketLedger::processes_folded`]).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::SocketAddr;

use crate::identity::{known_uid, Identities, Learned, ProcessKey, MAX_PROCESS_INFOS};
use crate::model::{canonical_ip, Counters, PeerRecord, ProcessInfo, SocketCookie, SocketRecord};
use crate::report::{ConnectionRow, ProcessRow, Report, OTHER_PROCESSES};

/// Retired processes with rows of their own (a fresh pid per short-lived
/// process makes this attacker-sized); past it, see [`OTHER_PROCESSES`].
pub const MAX_PROCESS_ROWS: usize = 65_536;

/// Every socket seen in the capture, by cookie, with the processes that
/// owned them. Observations merge (counters by maximum, so order does not
/// matter); [`SocketLedger::retire_closed`] folds closed sockets into
/// their process rows, and processes past [`MAX_PROCESS_ROWS`] into
/// [`OTHER_PROCESSES`], each fold counted.
#[derive(Debug, Default)]
pub struct SocketLedger {
    sockets: HashMap<SocketCookie, SocketRecord>,
    peers: HashMap<SocketCookie, BTreeMap<SocketAddr, PeerRecord>>,
    processes: Identities,
    /// Sockets of an earlier process of a pid since reused (its start).
    pinned: HashMap<SocketCookie, u64>,
    /// Held sockets whose owner has no start time, by owner pid: the ones
    /// a pid's reuse pins (entries may be stale; checked when used).
    startless: HashMap<u32, HashSet<SocketCookie>>,
    retired: HashMap<ProcessKey, Retired>,
    /// Retired processes past [`MAX_PROCESS_ROWS`], summed.
    retired_other: Retired,
    processes_folded: u64,
    retired_unowned: Unowned,
    /// What forgotten processes moved (see [`SocketLedger::forget_processes`]).
    forgotten: Counters,
    tombstones: HashMap<SocketCookie, Tombstone>,
    /// See [`SocketLedger::take_new_processes`].
    new_processes: Vec<ProcessKey>,
}

/// New processes remembered between two [`SocketLedger::take_new_processes`].
pub const MAX_NEW_PROCESSES: usize = 4096;

/// What the retired sockets of one pid moved.
#[derive(Debug, Clone, Default)]
struct Retired {
    comm: String,
    uid: Option<u32>,
    cgroup_id: u64,
    sockets: u64,
    counters: Counters,
}

/// A retired socket's last known counters, kept while the kernel still
/// reports it so a late observation adds only the difference.
#[derive(Debug, Clone, Copy)]
struct Tombstone {
    pid: Option<ProcessKey>,
    counters: Counters,
    /// Observed since the last [`SocketLedger::retire_closed`].
    seen: bool,
}

/// Bytes of sockets that were never seen in a send/receive call.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Unowned {
    /// How many such sockets.
    pub sockets: u64,
    /// Their L4 payload bytes, both directions.
    pub bytes: u64,
    /// Their IP-layer bytes, headers included, both directions.
    pub wire_bytes: u64,
}

impl SocketLedger {
    /// An empty ledger.
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
        let startless = rec
            .owner
            .as_ref()
            .filter(|o| o.start_time_ns == 0)
            .map(|o| o.pid);
        let cookie = rec.cookie;
        match self.sockets.get_mut(&cookie) {
            Some(known) => known.merge(&rec),
            None => {
                self.sockets.insert(cookie, rec);
            }
        }
        if let Some(pid) = startless {
            self.startless.entry(pid).or_default().insert(cookie);
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

    /// Records what is known of a process. A record with a later start
    /// time for a known pid is a new process: the sockets held so far stay
    /// with the earlier one.
    pub fn observe_process(&mut self, p: ProcessInfo) {
        let new = !self.processes.knows(p.pid);
        let key = ProcessKey {
            pid: p.pid,
            start_time_ns: p.start_time_ns,
        };
        let learned = self.processes.observe(p);
        if (new || learned != Learned::Nothing) && self.new_processes.len() < MAX_NEW_PROCESSES {
            self.new_processes.push(key);
        }
        match learned {
            Learned::Nothing => {}
            Learned::FirstStart { pid, start_time_ns } => {
                let unknown = ProcessKey {
                    pid,
                    start_time_ns: 0,
                };
                if let Some(r) = self.retired.remove(&unknown) {
                    let key = ProcessKey { pid, start_time_ns };
                    self.retired.insert(key, r);
                }
            }
            Learned::Reused { pid, previous } => {
                // Owners with a start time name their process themselves.
                let cookies = self.startless.remove(&pid).unwrap_or_default();
                for cookie in cookies {
                    let held = self.sockets.get(&cookie).and_then(|s| s.owner.as_ref());
                    if held.is_some_and(|o| o.pid == pid && o.start_time_ns == 0) {
                        self.pinned.entry(cookie).or_insert(previous);
                    }
                }
            }
        }
    }

    /// The processes first recorded (or whose pid was reused) since the
    /// last call, at most [`MAX_NEW_PROCESSES`]: for reading what else is
    /// known of them while they run. Those past the bound are left to the
    /// next periodic look.
    pub fn take_new_processes(&mut self) -> Vec<ProcessKey> {
        std::mem::take(&mut self.new_processes)
    }

    /// The latest record of `pid`.
    pub fn process(&self, pid: u32) -> Option<&ProcessInfo> {
        self.processes.latest(pid)
    }

    /// The process socket `s` belongs to, if it has an owner: the one its
    /// owner names by start time, else the one of its pid known when it
    /// was first seen.
    fn key_of(&self, s: &SocketRecord) -> Option<ProcessKey> {
        let o = s.owner.as_ref()?;
        if o.start_time_ns != 0 {
            return Some(ProcessKey {
                pid: o.pid,
                start_time_ns: o.start_time_ns,
            });
        }
        Some(match self.pinned.get(&s.cookie) {
            Some(&start_time_ns) => ProcessKey {
                pid: o.pid,
                start_time_ns,
            },
            None => self.processes.current(o.pid),
        })
    }

    /// Retired processes summed into the [`OTHER_PROCESSES`] row.
    pub fn processes_folded(&self) -> u64 {
        self.processes_folded
    }

    /// The merged record of one socket still held; `None` when never seen
    /// or folded away.
    pub fn socket(&self, cookie: SocketCookie) -> Option<&SocketRecord> {
        self.sockets.get(&cookie)
    }

    /// Every socket record held, live and closed, in no order.
    pub fn sockets(&self) -> impl Iterator<Item = &SocketRecord> {
        self.sockets.values()
    }

    /// Pids that own a socket but have no [`ProcessInfo`] yet.
    pub fn pids_without_info(&self) -> Vec<u32> {
        let mut pids: Vec<u32> = self
            .sockets
            .values()
            .filter_map(|s| s.owner.as_ref().map(|o| o.pid))
            .chain(self.retired.keys().map(|k| k.pid))
            .filter(|&pid| !self.processes.knows(pid))
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
        let mut procs: HashMap<ProcessKey, ProcessRow, foldhash::fast::RandomState> =
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
            if let (Some(o), Some(key)) = (&s.owner, self.key_of(s)) {
                let row = procs.entry(key).or_insert_with(|| {
                    let info = self.processes.info(key);
                    let uid = known_uid(info, o.uid);
                    self.process_row(key, &o.comm, uid, o.cgroup_id)
                });
                row.sockets += 1;
                row.counters.add(&s.counters);
                total.add(&s.counters);
            }
            self.connection_rows(s, pid, process, &mut connections);
        }
        for (&key, r) in self.retired.iter().filter(|(_, r)| !r.counters.is_zero()) {
            let row = procs
                .entry(key)
                .or_insert_with(|| self.process_row(key, &r.comm, r.uid, r.cgroup_id));
            row.sockets += r.sockets;
            row.counters.add(&r.counters);
            total.add(&r.counters);
        }
        if !self.retired_other.counters.is_zero() {
            let r = &self.retired_other;
            let mut row = self.process_row(ProcessKey::default(), OTHER_PROCESSES, None, 0);
            row.sockets = r.sockets;
            row.counters = r.counters;
            total.add(&r.counters);
            procs.insert(ProcessKey::default(), row);
        }

        total.add(&self.forgotten);
        let mut processes: Vec<ProcessRow> = procs.into_values().collect();
        processes.sort_by(|a, b| {
            volume(&b.counters)
                .cmp(&volume(&a.counters))
                .then(a.pid.cmp(&b.pid))
                .then(a.start_time_ns.cmp(&b.start_time_ns))
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
            if let Some(o) = &s.owner {
                if let Some(set) = self.startless.get_mut(&o.pid) {
                    set.remove(cookie);
                    if set.is_empty() {
                        self.startless.remove(&o.pid);
                    }
                }
            }
            let key = self.key_of(&s);
            self.pinned.remove(cookie);
            let pid = match (&s.owner, key) {
                (Some(_), Some(key)) if self.retired.contains_key(&key) => Some(key),
                (Some(_), Some(_)) if self.retired.len() >= MAX_PROCESS_ROWS => {
                    self.processes_folded += 1;
                    Some(OTHER_KEY)
                }
                (Some(o), Some(key)) => {
                    let uid = known_uid(self.processes.info(key), o.uid);
                    self.retired.insert(
                        key,
                        Retired {
                            comm: o.comm.clone(),
                            uid,
                            cgroup_id: o.cgroup_id,
                            ..Retired::default()
                        },
                    );
                    Some(key)
                }
                _ => None,
            };
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
        if self.processes.len() > MAX_PROCESS_INFOS {
            self.forget_unused_processes();
        }
        closed.len()
    }

    /// Drops the records of processes no row refers to any more.
    fn forget_unused_processes(&mut self) {
        let live: std::collections::HashSet<ProcessKey> = self
            .sockets
            .values()
            .filter_map(|s| self.key_of(s))
            .collect();
        let retired = &self.retired;
        self.processes
            .retain(|k| live.contains(k) || retired.contains_key(k));
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
        let gone = |pid: u32| pids.contains(&pid) && !owning.contains(&pid);
        self.processes.retain(|k| !gone(k.pid));
        let keys: Vec<ProcessKey> = self
            .retired
            .keys()
            .filter(|k| gone(k.pid))
            .copied()
            .collect();
        let mut n = 0;
        for k in keys {
            if let Some(r) = self.retired.remove(&k) {
                self.forgotten.add(&r.counters);
                n += 1;
            }
        }
        n
    }

    fn add_retired(&mut self, key: Option<ProcessKey>, c: &Counters, new_socket: bool) {
        let n = u64::from(new_socket);
        // Filed under an unknown start that became known since.
        let key = key.map(|k| match k.start_time_ns {
            0 if !self.retired.contains_key(&k) => self.processes.current(k.pid),
            _ => k,
        });
        let retired = match key {
            Some(OTHER_KEY) => Some(&mut self.retired_other),
            Some(k) => self.retired.get_mut(&k),
            None => None,
        };
        match retired {
            Some(r) => {
                r.sockets += n;
                r.counters.add(c);
            }
            // A forgotten process's socket, reported late.
            None if key.is_some() => self.forgotten.add(c),
            None => {
                let u = &mut self.retired_unowned;
                u.sockets += n;
                u.bytes += c.tx_bytes + c.rx_bytes;
                u.wire_bytes += c.tx_wire_bytes + c.rx_wire_bytes;
            }
        }
    }

    fn process_row(
        &self,
        key: ProcessKey,
        comm: &str,
        uid: Option<u32>,
        cgroup_id: u64,
    ) -> ProcessRow {
        let info = (key != OTHER_KEY)
            .then(|| self.processes.info(key))
            .flatten();
        ProcessRow {
            pid: key.pid,
            start_time_ns: Some(key.start_time_ns).filter(|&t| t != 0),
            process: info.map_or_else(|| comm.to_string(), |i| i.comm.clone()),
            cmdline: info.map(|i| i.cmdline.clone()).unwrap_or_default(),
            uid,
            cgroup_id,
            sockets: 0,
            counters: Counters::default(),
            identity: None,
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

/// Where the [`OTHER_PROCESSES`] row is filed (no process has pid 0).
const OTHER_KEY: ProcessKey = ProcessKey {
    pid: 0,
    start_time_ns: 0,
};

fn volume(c: &Counters) -> u64 {
    c.tx_bytes + c.rx_bytes + c.tx_wire_bytes + c.rx_wire_bytes
}

#[cfg(test)]
#[path = "ledger_tests.rs"]
mod tests;
