//! From the ledger's cumulative view to what each identity moved since the
//! last read. Socket counters are cumulative per cookie, so each socket's
//! delta is its counters minus what was last seen of it, put under its
//! owner and protocol. The ledger's per-process totals are the reference:
//! what a process's row grew by beyond its sockets' deltas (a socket the
//! kernel reported again after it was retired, or one without a tuple) is
//! put under that process's main protocol, so identity sums equal the
//! ledger's totals exactly. DNS counts are cumulative per pid in the
//! observatory and are differenced the same way. Pids idle (no open
//! socket, no traffic) for the identity TTL are forgotten, here and in the
//! engine, so an agent that sees millions of short-lived processes keeps
//! only the recent ones; what they moved stays in the totals. With remote
//! series on, each socket's delta is also put under its remote address
//! (what a pid moved beyond its sockets, under no address), so those sums
//! equal the identities' too. TCP connections closed since the last read
//! come summed per owner from the engine (each connection in exactly one
//! read's sums, so nothing is counted twice however often it is reported)
//! and are put under their owner's identity: the identity of the report
//! row of the same process (pid and start time), else one named from the
//! closed step itself (a process that moved no byte, or whose pid another
//! process has now).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use netoproc_core::ledger::SocketLedger;
use netoproc_core::model::UNKNOWN_UID;
use netoproc_core::report::Report;
use netoproc_core::{Counters, SocketCookie};
use netoproc_dns::DnsReport;
use netoproc_engine::ClosedByOwner;

use crate::identity::Identity;
use crate::tally::{proto_index, DnsCounts, Tally};

#[derive(Debug)]
struct PidState {
    /// What this pid's deltas added up to so far.
    counted: Counters,
    /// Payload bytes per protocol, to tell its main one.
    per_proto: [u64; 2],
    /// The last read it moved anything or owned an open socket.
    active: Instant,
}

/// Remembers what was last seen, per socket and per pid.
#[derive(Debug, Default)]
pub struct DeltaTracker {
    sockets: HashMap<SocketCookie, Counters>,
    pids: HashMap<u32, PidState>,
    /// DNS totals per pid as last reported (the observatory bounds its
    /// pids, so this is bounded too).
    dns: HashMap<u32, DnsCounts>,
    /// The report's total as last seen.
    total: Counters,
    /// Whether to split traffic by remote address too.
    remotes: bool,
}

/// One read's deltas by identity, and which pids were networking.
#[derive(Debug, Default)]
pub struct ReadDeltas {
    /// What each identity moved in this read.
    pub by_identity: HashMap<Identity, Tally>,
    /// Pids with an open socket, by identity (for the `_info` series).
    pub live_pids: HashMap<Identity, Vec<u32>>,
    /// With remote series on: the traffic of `by_identity` by identity
    /// and remote address (payload, wire bytes and packets; no DNS).
    pub by_remote: HashMap<Identity, Tally>,
}

impl DeltaTracker {
    /// A tracker that also splits traffic by remote address.
    pub fn with_remotes(remotes: bool) -> Self {
        DeltaTracker {
            remotes,
            ..DeltaTracker::default()
        }
    }

    /// Turns the split by remote address on or off (config reload).
    pub fn set_remotes(&mut self, remotes: bool) {
        self.remotes = remotes;
    }

    /// Deltas since the previous call. `report` is the ledger's report of
    /// this read, its rows identified (`Engine::identify`): a row's workload
    /// names its service, container and pod; `containers` (cgroup labels by
    /// pid) stand in for rows without one. `closed`: the TCP connections
    /// closed since the previous call (`Engine::take_closed`).
    pub fn read(
        &mut self,
        now: Instant,
        ledger: &SocketLedger,
        report: &Report,
        dns: Option<&DnsReport>,
        containers: &HashMap<u32, Arc<str>>,
        closed: &[ClosedByOwner],
    ) -> ReadDeltas {
        let mut by_pid: HashMap<u32, Tally> = HashMap::new();
        // Remote series: by pid and remote address.
        let mut by_pid_remote: HashMap<(u32, String), Tally> = HashMap::new();
        let mut live: HashSet<u32> = HashSet::new();
        for s in ledger.sockets() {
            let Some(owner) = &s.owner else { continue };
            if !s.closed {
                live.insert(owner.pid);
            }
            let before = self
                .sockets
                .insert(s.cookie, s.counters)
                .unwrap_or_default();
            let delta = s.counters.saturating_sub(&before);
            let Some(t) = &s.tuple else { continue };
            if delta.is_zero() {
                continue;
            }
            let i = proto_index(t.protocol);
            let st = self
                .pids
                .entry(owner.pid)
                .or_insert_with(|| PidState::new(now));
            st.counted.add(&delta);
            st.per_proto[i] += delta.tx_bytes + delta.rx_bytes;
            by_pid.entry(owner.pid).or_default().traffic[i].add(&delta);
            if self.remotes {
                if let Some(r) = t.remote {
                    let ip = netoproc_core::model::canonical_ip(r.ip()).to_string();
                    by_pid_remote.entry((owner.pid, ip)).or_default().traffic[i].add(&delta);
                }
            }
        }
        // Closed sockets are retired after this read: forget them.
        for s in ledger.sockets().filter(|s| s.closed) {
            self.sockets.remove(&s.cookie);
        }

        let mut identity_of: HashMap<u32, Identity> = HashMap::new();
        // The same by process, for closed connections, and the pids whose
        // row has no start time.
        let mut identity_by_key: HashMap<(u32, u64), Identity> = HashMap::new();
        let mut unstarted: HashSet<u32> = HashSet::new();
        for row in &report.processes {
            let st = self
                .pids
                .entry(row.pid)
                .or_insert_with(|| PidState::new(now));
            let rest = row.counters.saturating_sub(&st.counted);
            if !rest.is_zero() {
                st.counted.add(&rest);
                let main = usize::from(st.per_proto[1] > st.per_proto[0]);
                by_pid.entry(row.pid).or_default().traffic[main].add(&rest);
            }
            let comm = ledger
                .process(row.pid)
                .map_or(row.process.as_str(), |p| p.comm.as_str());
            // The workload /proc named for this process (by pid and start
            // time); else the cgroup label looked up by pid.
            let id = match &row.identity {
                Some(pi) => Identity::of_workload(comm, &pi.workload, row.uid),
                None => Identity::of(comm, containers.get(&row.pid).map(|l| &**l), row.uid),
            };
            match row.start_time_ns {
                Some(t) => {
                    identity_by_key.insert((row.pid, t), id.clone());
                }
                None => {
                    unstarted.insert(row.pid);
                }
            }
            identity_of.insert(row.pid, id);
        }
        let mut tcp: Vec<(Identity, &ClosedByOwner)> = Vec::with_capacity(closed.len());
        for c in closed {
            let id = closed_identity(c, &identity_by_key, &unstarted, &identity_of, containers);
            tcp.push((id, c));
        }

        if let Some(dns) = dns {
            for row in &dns.processes {
                let seen = DnsCounts::from_row(row.answered, &row.failures);
                let last = self.dns.insert(row.pid, seen).unwrap_or_default();
                let delta = seen.saturating_sub(&last);
                if !delta.is_zero() {
                    by_pid.entry(row.pid).or_default().dns.add(&delta);
                }
                identity_of.entry(row.pid).or_insert_with(|| {
                    match (row.pid, ledger.process(row.pid)) {
                        (0, _) => Identity::unnamed(),
                        (pid, Some(p)) => {
                            let uid = (p.uid != UNKNOWN_UID).then_some(p.uid);
                            Identity::of(&p.comm, containers.get(&pid).map(|l| &**l), uid)
                        }
                        // Named by the packet only: the uid is not known.
                        (_, None) => Identity::of(&row.process, None, None),
                    }
                });
            }
        }

        // What the total grew by beyond every pid's delta: late bytes of a
        // forgotten process's socket. Counted, under no name.
        let mut named = Counters::default();
        for t in by_pid.values() {
            for c in &t.traffic {
                named.add(c);
            }
        }
        let rest = report
            .total
            .saturating_sub(&self.total)
            .saturating_sub(&named);
        self.total = report.total;
        for (pid, t) in &by_pid {
            if !t.is_zero() {
                if let Some(st) = self.pids.get_mut(pid) {
                    st.active = now;
                }
            }
        }
        for pid in &live {
            if let Some(st) = self.pids.get_mut(pid) {
                st.active = now;
            }
        }

        let mut out = ReadDeltas::default();
        if !rest.is_zero() {
            let mut t = Tally::default();
            t.traffic[0] = rest;
            out.by_identity.insert(Identity::unnamed(), t);
        }
        for (pid, tally) in by_pid {
            let id = identity_of
                .get(&pid)
                .cloned()
                .unwrap_or_else(Identity::unnamed);
            out.by_identity.entry(id).or_default().add(&tally);
        }
        for (id, c) in tcp {
            if !c.counts.is_zero() {
                out.by_identity.entry(id).or_default().tcp.add(&c.counts);
            }
        }
        if self.remotes {
            out.by_remote = split_by_remote(&out.by_identity, by_pid_remote, &identity_of);
        }
        for pid in live {
            if let Some(id) = identity_of.get(&pid) {
                out.live_pids.entry(id.clone()).or_default().push(pid);
            }
        }
        for pids in out.live_pids.values_mut() {
            pids.sort_unstable();
        }
        out
    }

    /// Pids with no open socket that moved nothing for `idle`: forgotten
    /// here, to be forgotten by the engine too — right after closed
    /// sockets are retired, so none of them owns a socket the ledger holds.
    pub fn forget_idle(&mut self, now: Instant, idle: Duration) -> HashSet<u32> {
        let gone: HashSet<u32> = self
            .pids
            .iter()
            .filter(|(_, st)| now.saturating_duration_since(st.active) >= idle)
            .map(|(pid, _)| *pid)
            .collect();
        for pid in &gone {
            self.pids.remove(pid);
        }
        gone
    }
}

/// Whose identity a closed connection's owner is: the report row of the
/// same process; with no start time known on one side, the pid's row;
/// else named from the closed step (its cgroup label only if no row
/// names the pid: a row of another process with the same pid would lend
/// it the wrong one).
fn closed_identity(
    c: &ClosedByOwner,
    by_key: &HashMap<(u32, u64), Identity>,
    unstarted: &HashSet<u32>,
    identity_of: &HashMap<u32, Identity>,
    containers: &HashMap<u32, Arc<str>>,
) -> Identity {
    let Some(k) = c.owner else {
        return Identity::unnamed();
    };
    if let Some(id) = by_key.get(&(k.pid, k.start_time_ns)) {
        return id.clone();
    }
    if k.start_time_ns == 0 || unstarted.contains(&k.pid) {
        if let Some(id) = identity_of.get(&k.pid) {
            return id.clone();
        }
    }
    let uid = (c.uid != UNKNOWN_UID).then_some(c.uid);
    let label = if identity_of.contains_key(&k.pid) {
        None
    } else {
        containers.get(&k.pid).map(|l| &**l)
    };
    Identity::of(&c.comm, label, uid)
}

/// The identities' traffic by remote address: each pid's socket deltas
/// under their remote, and what its identity moved beyond them (sockets
/// without a remote, bytes not seen per socket) under no address; DNS
/// counts are left out.
fn split_by_remote(
    by_identity: &HashMap<Identity, Tally>,
    by_pid_remote: HashMap<(u32, String), Tally>,
    identity_of: &HashMap<u32, Identity>,
) -> HashMap<Identity, Tally> {
    let mut out: HashMap<Identity, Tally> = HashMap::new();
    let mut placed: HashMap<&Identity, Tally> = HashMap::new();
    let unnamed = Identity::unnamed();
    for ((pid, remote), t) in by_pid_remote {
        let id = identity_of.get(&pid).unwrap_or(&unnamed);
        placed.entry(id).or_default().add(&t);
        out.entry(id.with_remote(&remote)).or_default().add(&t);
    }
    for (id, total) in by_identity {
        let mut rest = Tally::default();
        let done = placed.get(id).copied().unwrap_or_default();
        for i in 0..rest.traffic.len() {
            rest.traffic[i] = total.traffic[i].saturating_sub(&done.traffic[i]);
        }
        if !rest.is_zero() {
            out.entry(id.with_remote("")).or_default().add(&rest);
        }
    }
    out
}

impl PidState {
    fn new(now: Instant) -> Self {
        PidState {
            counted: Counters::default(),
            per_proto: [0; 2],
            active: now,
        }
    }
}

#[cfg(test)]
#[path = "tracker_tests.rs"]
mod tests;
