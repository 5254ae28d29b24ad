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
//! lookup was rate limited, waits up to `pending_max` and is looked up
//! again after each new dump of its namespace. This file holds the flow
//! side (new flows, deltas, waiting, batches); `records` the records,
//! `infer` the inference rules, `lifecycle` closing and forgetting, `storm`
//! what happens when attribution falls behind. Time is a parameter and
//! sockets come through [`Owners`], so all of this is tested with a fake.
//! It never reads packets.

use std::collections::VecDeque;

// Keys come from packets; foldhash's per-map random seed keeps them
// spread, at a fraction of SipHash's cost per new flow.
use foldhash::{HashMap, HashSet};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use netoproc_core::model::{PeerRecord, ProcessInfo, Protocol, SocketCookie, SocketRecord};
use netoproc_procfs::NetnsId;

use super::dns_hold::Binding;
use super::flow::{FlowDelta, FlowKey};
use super::owners::{released, Owners};
use super::sockets::{How, Sock, Tally};

/// Timing of the attribution rules.
#[derive(Debug, Clone)]
pub struct AttributionConfig {
    /// Longest a new flow waits for its socket's owner before it is bound
    /// without one (or with an inferred one).
    pub pending_max: Duration,
    /// Shortest time between two lookups of one waiting flow; it is looked
    /// up again only once its namespace was dumped since.
    pub retry_every: Duration,
    /// How often every namespace is re-dumped (closes, late owners).
    pub refresh_every: Duration,
    /// How long a live owner of (local address, remote) counts as the
    /// likely owner of that pair's next flows.
    pub recent_window: Duration,
    /// Flows idle this long are forgotten (their record stays)...
    pub flow_idle: Duration,
    /// ...those of an aggregate after this long.
    pub aggregated_idle: Duration,
    /// A new flow whose first packet waited longer than this for
    /// attribution joins an aggregate (see `storm`).
    pub behind: Duration,
    /// A synthetic record closes after a FIN/RST and this much silence...
    pub fin_idle: Duration,
    /// ...or after this much silence without one.
    pub synthetic_idle: Duration,
    /// Closed records are forgotten after this much silence.
    pub closed_grace: Duration,
    /// Flows remembered at once, at most (see `overflow`).
    pub max_flows: usize,
    /// Records (kernel sockets and records of their own) at once, at most.
    pub max_records: usize,
}

impl Default for AttributionConfig {
    fn default() -> Self {
        AttributionConfig {
            pending_max: Duration::from_millis(200),
            retry_every: Duration::from_millis(3),
            refresh_every: Duration::from_secs(1),
            recent_window: Duration::from_secs(10),
            flow_idle: Duration::from_secs(10),
            aggregated_idle: Duration::from_secs(2),
            behind: Duration::from_millis(50),
            fin_idle: Duration::from_secs(1),
            synthetic_idle: Duration::from_secs(30),
            closed_grace: Duration::from_secs(3),
            max_flows: MAX_FLOWS,
            max_records: MAX_RECORDS,
        }
    }
}

/// Where a flow's lifecycle record stands (see [`Attributor::life_record`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LifeRecord {
    /// Its own record, owner known or given up on.
    Ready(SocketRecord),
    /// Not bound yet, or bound (to this record) with its owner still looked up.
    Waiting(Option<SocketRecord>),
    /// Forgotten, or counted in a record shared with other flows.
    Unusable,
}

/// Records that changed, to merge into the ledger.
#[derive(Debug, Default)]
pub struct Batch {
    /// Socket records (real or synthetic cookies) with their counters.
    pub sockets: Vec<SocketRecord>,
    /// Per-remote counters of unconnected UDP sockets.
    pub peers: Vec<PeerRecord>,
    /// Owners not announced to the ledger before.
    pub processes: Vec<ProcessInfo>,
}

impl Batch {
    /// Nothing changed.
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
    /// Its namespace's last dump as of the last lookup.
    tried_dump: Option<Instant>,
    /// Bound to an aggregate record (attribution was behind).
    aggregated: bool,
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

/// Default bounds on flows and records: a random-source flood makes one of
/// each per packet. About 200 and 400 bytes each with their map slots:
/// ~150 MiB at worst for both (each ring reader's own flows, bounded by the
/// same number, ~40 MiB more per ring).
pub const MAX_FLOWS: usize = 262_144;
pub const MAX_RECORDS: usize = 262_144;
/// (local address, remote) pairs remembered for inference, at most; past
/// it a pair is not remembered (inference knows less, nothing is lost).
const MAX_RECENT: usize = 65_536;

/// Processes remembered as announced (their record sent to the ledger).
const MAX_ANNOUNCED: usize = 65_536;

/// Waiting flows looked up again per tick, at most.
const RETRIES_PER_TICK: usize = 1024;
/// How much earlier than its first sighting a flow's packets may have been
/// sent (ring block timeout, queueing): processes gone this long before
/// still count as candidates.
const CANDIDATE_SLACK: Duration = Duration::from_millis(100);

/// Binds flows to socket records and owners, and turns flow deltas into
/// [`Batch`]es; bounded by its [`AttributionConfig`].
pub struct Attributor<O: Owners> {
    /// Where sockets and processes are looked up.
    pub owners: O,
    config: AttributionConfig,
    flows: HashMap<FlowKey, Flow>,
    sockets: HashMap<SocketCookie, Sock>,
    /// Flows not bound yet, oldest first.
    waiting: VecDeque<FlowKey>,
    /// Records bound without an owner that are still looked up
    /// ([`How::Waiting`]).
    owner_waits: HashSet<SocketCookie>,
    /// Each namespace's last dump as of the last pass over waiting flows.
    waiting_dumps: HashMap<(NetnsId, Protocol), Option<Instant>>,
    /// Aggregate records by their key (see `storm`).
    aggregates: HashMap<FlowKey, SocketCookie>,
    /// Overflow records by (namespace, protocol, IPv6) (see `overflow`).
    overflows: HashMap<(NetnsId, Protocol, bool), SocketCookie>,
    recent: HashMap<RecentKey, Recent>,
    dirty: HashSet<SocketCookie>,
    /// Processes (pid, start time) whose record was sent; bounded by
    /// `MAX_ANNOUNCED` (then cleared: a record is sent again at worst).
    announced: HashSet<(u32, u64)>,
    new_processes: Vec<ProcessInfo>,
    next_synthetic: u64,
    last_refresh: Option<Instant>,
    /// Flows and payload bytes by how their owner was found.
    pub tally: Tally,
}

impl<O: Owners> Attributor<O> {
    /// No flows yet; synthetic cookies start at 1 (bit 62 set).
    pub fn new(owners: O, config: AttributionConfig) -> Self {
        Attributor {
            owners,
            config,
            flows: HashMap::default(),
            sockets: HashMap::default(),
            waiting: VecDeque::new(),
            owner_waits: HashSet::default(),
            waiting_dumps: HashMap::default(),
            aggregates: HashMap::default(),
            overflows: HashMap::default(),
            recent: HashMap::default(),
            dirty: HashSet::default(),
            announced: HashSet::default(),
            new_processes: Vec::new(),
            next_synthetic: 1,
            last_refresh: None,
            tally: Tally::default(),
        }
    }

    /// A reader saw the flow's first packet: look its owner up now.
    pub fn new_flow(&mut self, key: FlowKey, now: Instant) {
        if self.flows.contains_key(&key) || self.full() {
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
                tried_dump: None,
                aggregated: false,
            },
        );
        self.tally.flows += 1;
        if !self.try_bind(key, now, false) {
            self.waiting.push_back(key);
        }
    }

    /// Adds what flows moved since the readers' last flush.
    pub fn deltas(&mut self, deltas: &[(FlowKey, FlowDelta)], now: Instant) {
        for (key, d) in deltas {
            if !self.flows.contains_key(key) && !self.full() {
                // Forgotten here while a reader still knew it.
                self.new_flow(*key, now);
            }
            let Some(flow) = self.flows.get_mut(key) else {
                // Past the flow bound: counted in its overflow record.
                self.fold(key, d, now);
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

    /// Where flow `key` stands: which record, which owner (for the DNS
    /// packets that wait for it).
    pub fn binding(&self, key: &FlowKey) -> Binding {
        let Some(flow) = self.flows.get(key) else {
            return Binding::Unknown;
        };
        let Some(cookie) = flow.cookie else {
            return Binding::Waiting(None);
        };
        match self.sockets.get(&cookie) {
            Some(s) if matches!(s.how, How::Waiting(_)) => Binding::Waiting(Some(cookie)),
            s => Binding::Bound {
                cookie,
                pid: s.and_then(|s| s.owner.as_ref()).map(|o| o.pid),
            },
        }
    }

    /// The record a TCP lifecycle step of flow `key` belongs to: the
    /// flow's own (not shared with other flows: aggregates and overflow
    /// rows have no lifecycle), with its owner, counters and tuple now.
    pub fn life_record(&self, key: &FlowKey) -> LifeRecord {
        let Some(flow) = self.flows.get(key) else {
            return LifeRecord::Unusable;
        };
        let Some(cookie) = flow.cookie else {
            return LifeRecord::Waiting(None);
        };
        match self.sockets.get(&cookie) {
            Some(s) if flow.aggregated || s.keys.len() > 1 => LifeRecord::Unusable,
            None => LifeRecord::Unusable,
            Some(s) if matches!(s.how, How::Waiting(_)) => {
                LifeRecord::Waiting(Some(s.record(cookie)))
            }
            Some(s) => LifeRecord::Ready(s.record(cookie)),
        }
    }

    /// Flow `key` starts over as a new connection (a reader saw a SYN open
    /// it again): it is forgotten, so its next packets are bound anew. A
    /// flow still waiting to be bound stays (its bytes wait with it).
    pub fn forget_flow(&mut self, key: &FlowKey) {
        let Some(cookie) = self.flows.get(key).and_then(|f| f.cookie) else {
            return;
        };
        self.flows.remove(key);
        if let Some(s) = self.sockets.get_mut(&cookie) {
            s.keys.remove(key);
        }
    }

    /// Flows bound or waiting now (at most `max_flows`).
    pub fn flows_tracked(&self) -> usize {
        self.flows.len()
    }

    /// Retries waiting flows, oldest first; at most [`RETRIES_PER_TICK`]
    /// unless `force` (so a burst of new flows cannot stall the thread).
    fn retry_waiting(&mut self, now: Instant, force: bool) {
        let n = if force {
            self.waiting.len()
        } else {
            self.waiting.len().min(RETRIES_PER_TICK)
        };
        // One fresh dump per namespace and protocol serves all its waiting
        // flows; until one of them is dumped again (or a flow is too old to
        // wait), a pass would only find what the last one found.
        let mut scopes: Vec<(NetnsId, Protocol)> = Vec::new();
        for k in self.waiting.iter().take(n) {
            if !scopes.contains(&(k.netns, k.protocol)) {
                scopes.push((k.netns, k.protocol));
            }
        }
        let mut changed = false;
        for (ns, protocol) in scopes {
            self.owners.redump(ns, protocol, now);
            let dumped = self.owners.dumped_at(ns, protocol);
            changed |= self.waiting_dumps.insert((ns, protocol), dumped) != Some(dumped);
        }
        let oldest_is_old = self
            .waiting
            .front()
            .and_then(|k| self.flows.get(k))
            .is_some_and(|f| {
                now.saturating_duration_since(f.first_seen) >= self.config.pending_max
            });
        if !(force || changed || oldest_is_old) {
            return;
        }
        for _ in 0..n {
            let Some(key) = self.waiting.pop_front() else {
                break;
            };
            let Some(f) = self.flows.get(&key).filter(|f| f.cookie.is_none()) else {
                continue;
            };
            let due = now.saturating_duration_since(f.last_try) >= self.config.retry_every
                && self.owners.dumped_at(key.netns, key.protocol) > f.tried_dump;
            let old = now.saturating_duration_since(f.first_seen) >= self.config.pending_max;
            let bound = (force || due || old) && self.try_bind(key, now, force || old);
            if !bound {
                self.waiting.push_back(key);
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
        let first_seen = flow.first_seen;
        let young = now.saturating_duration_since(first_seen) < self.config.pending_max;
        let retry_until = first_seen + self.config.pending_max;
        let lookup = self.owners.resolve(&key, now);
        if let Some(f) = self.flows.get_mut(&key) {
            f.tried_dump = lookup.dumped_at;
        }
        let unchecked = lookup.rate_limited && lookup.dumped_at.is_none_or(|t| t <= first_seen);
        let (cookie, how, owner_pid) = match lookup.found {
            Some(r) if !r.pids.is_empty() => {
                let pid = r.pids[0];
                self.note_recent(&key, pid, now);
                self.owners.mark_hot(pid, now);
                (self.record_for(&key, &r, now), How::Resolved, Some(pid))
            }
            // Not placed yet (held, or in the accept queue): ask again.
            Some(ref r) if !released(&r.socket) && young && !force => return false,
            Some(r) => {
                let cookie = self.record_for(&key, &r, now);
                if released(&r.socket) {
                    // TIME_WAIT or closing after close(): no process holds
                    // it any more.
                    if let Some(s) = self.sockets.get_mut(&cookie) {
                        s.closed = true;
                    }
                    let pid = self.infer(&key, first_seen, now);
                    (cookie, How::inferred_if(pid), pid)
                } else if young {
                    (cookie, How::Waiting(retry_until), None)
                } else {
                    let pid = self.infer(&key, first_seen, now);
                    (cookie, How::inferred_if(pid), pid)
                }
            }
            // No dump since the flow appeared has been looked at yet.
            None if unchecked && young && !force => return false,
            None if unchecked && young => {
                (self.synthetic(&key, now), How::Waiting(retry_until), None)
            }
            None => {
                // Not in a dump taken after its first packet: gone already
                // (or never local, as forwarded traffic).
                let cookie = self.synthetic(&key, now);
                if let Some(s) = self.sockets.get_mut(&cookie) {
                    s.closed = !unchecked;
                }
                let pid = self.infer(&key, first_seen, now);
                (cookie, How::inferred_if(pid), pid)
            }
        };
        self.bind(key, cookie, how, owner_pid, now);
        true
    }
}

mod infer;
mod lifecycle;
mod overflow;
mod records;
mod storm;

#[cfg(test)]
#[path = "attribute_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "attribute_infer_tests.rs"]
mod infer_tests;
