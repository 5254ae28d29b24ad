//! Flows → socket records: the attribution rules of the AF_PACKET backend.
//! Each new flow is bound once to a record and keeps it, so its owner
//! survives the socket's close (late FINs, TIME_WAIT ACKs):
//!
//! - a socket listed with exactly the flow's tuple: the socket's own record
//!   (its cookie is the one eBPF would report);
//! - an unconnected UDP socket (matched by bound or wildcard address): that
//!   socket's record, split per remote with peer records;
//! - a TCP listener (the accepted socket is not listed yet or any more): a
//!   record of its own with the listener's owner;
//! - nothing: a record of its own with the flow's tuple, so unresolved
//!   traffic shows as an unattributed row and in `no_owner_bytes`.
//!
//! Records of their own get a synthetic cookie (bit 62 set, counting up).
//! When the socket is gone (or ownerless, as in TIME_WAIT) the owner is
//! inferred: the one live process that recently owned a flow from the same
//! local address to the same remote, else the namespace's only process.
//! A flow whose socket exists but whose owner is not yet known, or whose
//! lookup was rate limited, waits up to `pending_max` and is retried.
//! Time is a parameter and sockets come through [`Owners`], so all of this
//! is tested with a fake. It never reads packets.

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use netoproc_core::model::{
    Family, Owner, PeerRecord, ProcessInfo, Protocol, SocketCookie, SocketRecord, Tuple,
};
use netoproc_procfs::{MatchKind, NetnsId, Resolution};

use super::flow::{FlowDelta, FlowKey};
use super::owners::Owners;
use super::sockets::{How, Sock, Tally};

/// Timing of the attribution rules.
#[derive(Debug, Clone)]
pub struct AttributionConfig {
    /// Longest a new flow waits for its socket's owner before it is bound
    /// without one (or with an inferred one).
    pub pending_max: Duration,
    /// Shortest time between two lookups of one waiting flow.
    pub retry_every: Duration,
    /// How often every namespace is re-dumped (closes, late owners).
    pub refresh_every: Duration,
    /// How long a live owner of (local address, remote) counts as the
    /// likely owner of that pair's next flows.
    pub recent_window: Duration,
    /// Flows idle this long are forgotten (their record stays).
    pub flow_idle: Duration,
    /// A synthetic record closes after a FIN/RST and this much silence...
    pub fin_idle: Duration,
    /// ...or after this much silence without one.
    pub synthetic_idle: Duration,
    /// Closed records are forgotten after this much silence.
    pub closed_grace: Duration,
}

impl Default for AttributionConfig {
    fn default() -> Self {
        AttributionConfig {
            pending_max: Duration::from_millis(200),
            retry_every: Duration::from_millis(3),
            refresh_every: Duration::from_secs(1),
            recent_window: Duration::from_secs(10),
            flow_idle: Duration::from_secs(60),
            fin_idle: Duration::from_secs(1),
            synthetic_idle: Duration::from_secs(30),
            closed_grace: Duration::from_secs(10),
        }
    }
}

/// Records that changed, to merge into the ledger.
#[derive(Debug, Default)]
pub struct Batch {
    pub sockets: Vec<SocketRecord>,
    pub peers: Vec<PeerRecord>,
    pub processes: Vec<ProcessInfo>,
}

impl Batch {
    pub fn is_empty(&self) -> bool {
        self.sockets.is_empty() && self.peers.is_empty() && self.processes.is_empty()
    }
}

struct Flow {
    cookie: Option<SocketCookie>,
    /// Counted while waiting to be bound.
    waiting: FlowDelta,
    first_seen: Instant,
    last_seen: Instant,
    last_try: Instant,
}

/// Who recently owned flows from one local address to one remote.
#[derive(Debug, Clone, Copy)]
struct Recent {
    pid: u32,
    at: Instant,
    /// Two different processes did: no inference from this pair.
    ambiguous: bool,
}

type RecentKey = (NetnsId, Protocol, IpAddr, SocketAddr);

const SYNTHETIC_BIT: u64 = 1 << 62;

pub struct Attributor<O: Owners> {
    pub owners: O,
    config: AttributionConfig,
    flows: HashMap<FlowKey, Flow>,
    sockets: HashMap<SocketCookie, Sock>,
    waiting: HashSet<FlowKey>,
    recent: HashMap<RecentKey, Recent>,
    dirty: HashSet<SocketCookie>,
    announced: HashSet<u32>,
    new_processes: Vec<ProcessInfo>,
    next_synthetic: u64,
    last_refresh: Option<Instant>,
    pub tally: Tally,
}

impl<O: Owners> Attributor<O> {
    pub fn new(owners: O, config: AttributionConfig) -> Self {
        Attributor {
            owners,
            config,
            flows: HashMap::new(),
            sockets: HashMap::new(),
            waiting: HashSet::new(),
            recent: HashMap::new(),
            dirty: HashSet::new(),
            announced: HashSet::new(),
            new_processes: Vec::new(),
            next_synthetic: 1,
            last_refresh: None,
            tally: Tally::default(),
        }
    }

    /// A reader saw the flow's first packet: look its owner up now.
    pub fn new_flow(&mut self, key: FlowKey, now: Instant) {
        if self.flows.contains_key(&key) {
            return;
        }
        self.flows.insert(
            key,
            Flow {
                cookie: None,
                waiting: FlowDelta::default(),
                first_seen: now,
                last_seen: now,
                last_try: now,
            },
        );
        self.tally.flows += 1;
        if !self.try_bind(key, now, false) {
            self.waiting.insert(key);
        }
    }

    /// Adds what flows moved since the readers' last flush.
    pub fn deltas(&mut self, deltas: &[(FlowKey, FlowDelta)], now: Instant) {
        for (key, d) in deltas {
            if !self.flows.contains_key(key) {
                // Forgotten here while a reader still knew it.
                self.new_flow(*key, now);
            }
            let Some(flow) = self.flows.get_mut(key) else {
                continue;
            };
            flow.last_seen = now;
            match flow.cookie {
                Some(cookie) => self.apply(cookie, key, d, now),
                None => flow.waiting.add(d),
            }
        }
    }

    /// Periodic work: retries, re-dumps, closes, forgetting.
    pub fn tick(&mut self, now: Instant) {
        let refresh = self
            .last_refresh
            .is_none_or(|t| now.saturating_duration_since(t) >= self.config.refresh_every);
        if refresh {
            self.last_refresh = Some(now);
            self.owners.refresh(now);
            self.close_and_forget(now);
            let window = self.config.recent_window;
            self.recent
                .retain(|_, r| now.saturating_duration_since(r.at) < window);
        }
        self.retry_waiting(now, false);
        self.retry_owners(now, refresh);
    }

    /// Binds every waiting flow now (for a read that must be complete);
    /// those still without an owner keep being retried until `pending_max`.
    pub fn settle(&mut self, now: Instant) {
        self.retry_waiting(now, true);
    }

    /// The records that changed since the last call.
    pub fn take_batch(&mut self) -> Batch {
        let mut batch = Batch {
            processes: std::mem::take(&mut self.new_processes),
            ..Batch::default()
        };
        for cookie in self.dirty.drain() {
            if let Some(s) = self.sockets.get_mut(&cookie) {
                batch.sockets.push(s.record(cookie));
                batch.peers.extend(s.take_dirty_peers(cookie));
            }
        }
        batch
    }

    pub fn flows_tracked(&self) -> usize {
        self.flows.len()
    }

    fn retry_waiting(&mut self, now: Instant, force: bool) {
        if self.waiting.is_empty() {
            return;
        }
        let mut keys: Vec<FlowKey> = self.waiting.iter().copied().collect();
        keys.sort_by_key(|k| self.flows.get(k).map(|f| f.first_seen));
        for key in keys {
            let Some(f) = self.flows.get(&key) else {
                self.waiting.remove(&key);
                continue;
            };
            let due = now.saturating_duration_since(f.last_try) >= self.config.retry_every;
            let old = now.saturating_duration_since(f.first_seen) >= self.config.pending_max;
            if (force || due || old) && self.try_bind(key, now, force || old) {
                self.waiting.remove(&key);
            }
        }
    }

    /// Looks the flow's socket up and binds it to a record; `false` when
    /// it should wait and be retried.
    fn try_bind(&mut self, key: FlowKey, now: Instant, force: bool) -> bool {
        let Some(flow) = self.flows.get_mut(&key) else {
            return true;
        };
        flow.last_try = now;
        let young = now.saturating_duration_since(flow.first_seen) < self.config.pending_max;
        let retry_until = flow.first_seen + self.config.pending_max;
        let lookup = self.owners.resolve(&key, now);
        let (cookie, how, owner_pid) = match lookup.found {
            Some(r) if !r.pids.is_empty() => {
                let pid = r.pids[0];
                self.note_recent(&key, pid, now);
                self.owners.mark_hot(pid, now);
                (self.record_for(&key, &r, now), How::Resolved, Some(pid))
            }
            Some(ref r) if r.socket.inode != 0 && young && !force => return false,
            Some(r) => {
                let cookie = self.record_for(&key, &r, now);
                if r.socket.inode == 0 {
                    // TIME_WAIT or a request socket: no process holds it.
                    if let Some(s) = self.sockets.get_mut(&cookie) {
                        s.closed = true;
                    }
                    let pid = self.infer(&key, now);
                    (cookie, How::inferred_if(pid), pid)
                } else if young {
                    (cookie, How::Waiting(retry_until), None)
                } else {
                    let pid = self.infer(&key, now);
                    (cookie, How::inferred_if(pid), pid)
                }
            }
            None if lookup.rate_limited && young && !force => return false,
            None if lookup.rate_limited && young => {
                (self.synthetic(&key, now), How::Waiting(retry_until), None)
            }
            None => {
                let cookie = self.synthetic(&key, now);
                let pid = self.infer(&key, now);
                (cookie, How::inferred_if(pid), pid)
            }
        };
        self.bind(key, cookie, how, owner_pid, now);
        true
    }

    /// Attaches the flow to record `cookie` (creating nothing) and moves
    /// what it counted while waiting.
    fn bind(
        &mut self,
        key: FlowKey,
        cookie: SocketCookie,
        how: How,
        pid: Option<u32>,
        now: Instant,
    ) {
        let owner = pid.and_then(|p| self.owner(p, &key));
        let Some(flow) = self.flows.get_mut(&key) else {
            return;
        };
        flow.cookie = Some(cookie);
        let waiting = std::mem::take(&mut flow.waiting);
        if let Some(s) = self.sockets.get_mut(&cookie) {
            if s.owner.is_none() {
                self.tally.remove(s.how, s.flow_count, s.payload());
                s.owner = owner;
                s.how = if s.owner.is_some() {
                    how
                } else {
                    how.unowned()
                };
                self.tally.add(s.how, s.flow_count, s.payload());
            }
            s.keys.insert(key);
            s.flow_count += 1;
            self.tally.add(s.how, 1, 0);
        }
        self.dirty.insert(cookie);
        if waiting != FlowDelta::default() {
            self.apply(cookie, &key, &waiting, now);
        }
    }

    /// The record a found socket's flows go to (created if new).
    fn record_for(&mut self, key: &FlowKey, r: &Resolution, now: Instant) -> SocketCookie {
        let s = &r.socket;
        let unconnected_udp = key.protocol == Protocol::Udp && r.matched != MatchKind::Exact;
        if r.matched != MatchKind::Exact && !unconnected_udp {
            // A listener: the accepted socket gets a record of its own.
            return self.synthetic(key, now);
        }
        let tuple = Tuple {
            protocol: s.protocol,
            family: s.family,
            local: s.local,
            remote: if unconnected_udp { None } else { s.remote },
        };
        self.sockets
            .entry(s.cookie)
            .or_insert_with(|| Sock::new(key.netns, tuple, true, unconnected_udp, now));
        s.cookie
    }

    fn synthetic(&mut self, key: &FlowKey, now: Instant) -> SocketCookie {
        let cookie = SocketCookie(SYNTHETIC_BIT | self.next_synthetic);
        self.next_synthetic += 1;
        let family = match key.local.ip() {
            IpAddr::V4(_) => Family::Ipv4,
            IpAddr::V6(_) => Family::Ipv6,
        };
        let tuple = Tuple {
            protocol: key.protocol,
            family,
            local: key.local,
            remote: Some(key.remote),
        };
        self.sockets
            .insert(cookie, Sock::new(key.netns, tuple, false, false, now));
        cookie
    }

    fn apply(&mut self, cookie: SocketCookie, key: &FlowKey, d: &FlowDelta, now: Instant) {
        if let Some(s) = self.sockets.get_mut(&cookie) {
            s.add(key.remote, d, now);
            self.tally.add(s.how, 0, d.payload());
            self.dirty.insert(cookie);
        }
    }

    fn owner(&mut self, pid: u32, key: &FlowKey) -> Option<Owner> {
        let meta = self.owners.process(pid);
        if let Some(m) = &meta {
            if self.announced.insert(pid) {
                self.new_processes.push(m.info.clone());
            }
        }
        Some(Owner {
            pid,
            uid: meta.as_ref().map_or(0, |m| m.info.uid),
            comm: meta
                .as_ref()
                .map(|m| m.info.comm.clone())
                .unwrap_or_default(),
            cgroup_id: meta.as_ref().map_or(0, |m| m.cgroup_id),
            netns: key.netns.0 as u32,
        })
    }

    fn note_recent(&mut self, key: &FlowKey, pid: u32, now: Instant) {
        let k = (key.netns, key.protocol, key.local.ip(), key.remote);
        let window = self.config.recent_window;
        let e = self.recent.entry(k).or_insert(Recent {
            pid,
            at: now,
            ambiguous: false,
        });
        let fresh = now.saturating_duration_since(e.at) < window;
        if e.pid != pid {
            e.ambiguous = fresh;
            e.pid = pid;
        }
        e.at = now;
    }

    /// Who probably owned a flow whose socket is gone or ownerless.
    fn infer(&mut self, key: &FlowKey, now: Instant) -> Option<u32> {
        let k = (key.netns, key.protocol, key.local.ip(), key.remote);
        if let Some(r) = self.recent.get(&k) {
            let fresh = now.saturating_duration_since(r.at) < self.config.recent_window;
            if fresh && !r.ambiguous && self.owners.is_alive(r.pid) {
                return Some(r.pid);
            }
        }
        match self.owners.netns_pids(key.netns, now).as_slice() {
            [only] => Some(*only),
            _ => None,
        }
    }

    /// Records bound while waiting for an owner: retried, then inferred.
    fn retry_owners(&mut self, now: Instant, refreshed: bool) {
        let mut waiting: Vec<(SocketCookie, Instant, FlowKey, bool)> = Vec::new();
        for (c, s) in &self.sockets {
            let due = match s.how {
                How::Waiting(until) => Some(now >= until),
                // Still moving without an owner: the namespace may be
                // newly watched, or a scan may have found the process.
                How::Unresolved => {
                    (refreshed && s.active_since(now, self.config.refresh_every)).then_some(false)
                }
                _ => None,
            };
            if let (Some(expired), Some(k)) = (due, s.keys.iter().next()) {
                waiting.push((*c, s.last_activity, *k, expired));
            }
        }
        for (cookie, _, key, expired) in waiting {
            let lookup = self.owners.resolve(&key, now);
            let (how, pid) = match lookup.found.filter(|r| !r.pids.is_empty()) {
                Some(r) => (How::Resolved, Some(r.pids[0])),
                None if expired => {
                    let pid = self.infer(&key, now);
                    (How::inferred_if(pid), pid)
                }
                None => continue,
            };
            self.set_owner(cookie, &key, how, pid);
        }
    }

    fn set_owner(&mut self, cookie: SocketCookie, key: &FlowKey, how: How, pid: Option<u32>) {
        let owner = pid.and_then(|p| self.owner(p, key));
        if let Some(s) = self.sockets.get_mut(&cookie) {
            self.tally.remove(s.how, s.flow_count, s.payload());
            s.how = how;
            s.owner = owner;
            self.tally.add(s.how, s.flow_count, s.payload());
            self.dirty.insert(cookie);
        }
    }

    fn close_and_forget(&mut self, now: Instant) {
        let cfg = &self.config;
        let mut gone = Vec::new();
        for (cookie, s) in self.sockets.iter_mut() {
            if !s.closed {
                let close = if s.real {
                    !self.owners.socket_alive(s.netns, *cookie)
                } else {
                    s.idle_for(now) >= cfg.synthetic_idle
                        || (s.saw_fin_or_rst() && s.idle_for(now) >= cfg.fin_idle)
                };
                if close {
                    s.closed = true;
                    self.dirty.insert(*cookie);
                }
            } else if s.idle_for(now) >= cfg.closed_grace && !self.dirty.contains(cookie) {
                gone.push(*cookie);
            }
        }
        for cookie in gone {
            if let Some(s) = self.sockets.remove(&cookie) {
                for k in &s.keys {
                    self.flows.remove(k);
                    self.waiting.remove(k);
                }
            }
        }
        // Idle flows of live records: forget the flow, keep the record.
        let idle = cfg.flow_idle;
        let sockets = &mut self.sockets;
        self.flows.retain(|k, f| {
            let keep = now.saturating_duration_since(f.last_seen) < idle || f.cookie.is_none();
            if !keep {
                if let Some(s) = f.cookie.and_then(|c| sockets.get_mut(&c)) {
                    s.keys.remove(k);
                }
            }
            keep
        });
    }
}

#[cfg(test)]
#[path = "attribute_tests.rs"]
mod tests;
