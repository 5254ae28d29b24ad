//! The records flows are bound to ([`Sock`]): a kernel socket (by its
//! cookie) or a record of its own (synthetic cookie), with its owner and
//! how that owner was found, its cumulative counters, its per-remote split
//! when it is an unconnected UDP socket, and whether it is closed. Also the
//! [`Tally`] of flows and bytes by how their owner was found. Plain data
//! and arithmetic; the rules that fill them live in `attribute.rs`.

use std::collections::{BTreeMap, BTreeSet};

use foldhash::HashSet;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use netoproc_core::model::{Counters, Owner, PeerRecord, SocketCookie, SocketRecord, Tuple};
use netoproc_procfs::NetnsId;

use super::flow::{FlowDelta, FlowKey, TCP_FIN, TCP_RST};

/// How a record's owner was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum How {
    /// A live socket held by a known process.
    Resolved,
    /// The socket was gone or ownerless; see `attribute.rs` for the rules.
    Inferred,
    /// Nobody could be named.
    Unresolved,
    /// No owner yet; looked up again until this instant, then inferred.
    Waiting(Instant),
}

impl How {
    pub fn inferred_if(pid: Option<u32>) -> How {
        if pid.is_some() {
            How::Inferred
        } else {
            How::Unresolved
        }
    }

    /// What a record without an owner is, whatever its flow found.
    pub fn unowned(self) -> How {
        match self {
            How::Resolved | How::Inferred => How::Unresolved,
            waiting => waiting,
        }
    }
}

/// Remotes tracked per unconnected UDP socket (a busy DNS server talks to
/// a new client port per query); the rest count in its remainder row.
pub const MAX_PEERS: usize = 4096;

/// Bytes to and from one remote of an unconnected UDP socket.
#[derive(Debug, Clone, Copy, Default)]
struct PeerBytes {
    tx: u64,
    rx: u64,
}

#[derive(Debug)]
pub struct Sock {
    pub netns: NetnsId,
    pub owner: Option<Owner>,
    pub how: How,
    pub tuple: Tuple,
    pub counters: Counters,
    tcp_flags: u8,
    peers: Option<BTreeMap<SocketAddr, PeerBytes>>,
    dirty_peers: BTreeSet<SocketAddr>,
    /// A kernel socket: closed when the latest dump no longer lists it.
    pub real: bool,
    pub closed: bool,
    /// Flows bound to it and not yet forgotten.
    pub keys: HashSet<FlowKey>,
    /// Flows ever bound to it.
    pub flow_count: u64,
    /// While waiting for an owner: its namespace's last dump as of the
    /// last lookup.
    pub tried_dump: Option<Instant>,
    pub last_activity: Instant,
}

impl Sock {
    pub fn new(netns: NetnsId, tuple: Tuple, real: bool, per_remote: bool, now: Instant) -> Sock {
        Sock {
            netns,
            owner: None,
            how: How::Unresolved,
            tuple,
            counters: Counters::default(),
            tcp_flags: 0,
            peers: per_remote.then(BTreeMap::new),
            dirty_peers: BTreeSet::new(),
            real,
            closed: false,
            keys: HashSet::default(),
            flow_count: 0,
            tried_dump: None,
            last_activity: now,
        }
    }

    /// Adds one flow's delta (the flow's remote is `remote`). Returns
    /// `false` when the remote could not be tracked on its own (the socket
    /// already has [`MAX_PEERS`]): its bytes count in the socket's total,
    /// in the remote-unknown remainder.
    pub fn add(&mut self, remote: SocketAddr, d: &FlowDelta, now: Instant) -> bool {
        self.counters.add(&d.counters);
        self.tcp_flags |= d.tcp_flags;
        self.last_activity = now;
        let Some(peers) = &mut self.peers else {
            return true;
        };
        if peers.len() >= MAX_PEERS && !peers.contains_key(&remote) {
            return false;
        }
        let p = peers.entry(remote).or_default();
        p.tx += d.counters.tx_bytes;
        p.rx += d.counters.rx_bytes;
        self.dirty_peers.insert(remote);
        true
    }

    pub fn payload(&self) -> u64 {
        self.counters.tx_bytes + self.counters.rx_bytes
    }

    pub fn idle_for(&self, now: Instant) -> Duration {
        now.saturating_duration_since(self.last_activity)
    }

    pub fn active_since(&self, now: Instant, window: Duration) -> bool {
        self.idle_for(now) < window
    }

    pub fn saw_fin_or_rst(&self) -> bool {
        self.tcp_flags & (TCP_FIN | TCP_RST) != 0
    }

    pub fn record(&self, cookie: SocketCookie) -> SocketRecord {
        SocketRecord {
            cookie,
            owner: self.owner.clone(),
            tuple: Some(self.tuple),
            counters: self.counters,
            closed: self.closed,
            owner_is_closer: false,
        }
    }

    /// Per-remote records that changed since the last call.
    pub fn take_dirty_peers(&mut self, cookie: SocketCookie) -> Vec<PeerRecord> {
        let Some(peers) = &self.peers else {
            return Vec::new();
        };
        let dirty = std::mem::take(&mut self.dirty_peers);
        dirty
            .into_iter()
            .filter_map(|remote| {
                let p = peers.get(&remote)?;
                Some(PeerRecord {
                    cookie,
                    remote,
                    tx_bytes: p.tx,
                    rx_bytes: p.rx,
                    tx_calls: 0,
                    rx_calls: 0,
                })
            })
            .collect()
    }
}

/// Flows and payload bytes by how their owner was found.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    /// Every flow seen (also those still waiting to be bound).
    pub flows: u64,
    pub flows_resolved: u64,
    pub flows_inferred: u64,
    pub flows_unresolved: u64,
    /// Of `flows`: counted in an aggregate record (attribution behind).
    pub flows_aggregated: u64,
    /// Deltas of flows not remembered (past the flow or record bound),
    /// counted in an overflow record: once per flush a flow moved in.
    pub flows_folded: u64,
    /// Their payload bytes.
    pub bytes_folded: u64,
    /// Remotes of unconnected UDP sockets not tracked on their own.
    pub peers_untracked: u64,
    pub bytes_resolved: u64,
    pub bytes_inferred: u64,
    pub bytes_unresolved: u64,
}

impl Tally {
    fn slot(&mut self, how: How) -> (&mut u64, &mut u64) {
        match how {
            How::Resolved => (&mut self.flows_resolved, &mut self.bytes_resolved),
            How::Inferred => (&mut self.flows_inferred, &mut self.bytes_inferred),
            How::Unresolved | How::Waiting(_) => {
                (&mut self.flows_unresolved, &mut self.bytes_unresolved)
            }
        }
    }

    pub fn add(&mut self, how: How, flows: u64, bytes: u64) {
        let (f, b) = self.slot(how);
        *f += flows;
        *b += bytes;
    }

    pub fn remove(&mut self, how: How, flows: u64, bytes: u64) {
        let (f, b) = self.slot(how);
        *f = f.saturating_sub(flows);
        *b = b.saturating_sub(bytes);
    }

    pub fn bytes(&self) -> u64 {
        self.bytes_resolved + self.bytes_inferred + self.bytes_unresolved
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use netoproc_core::model::{Family, Protocol};

    #[test]
    fn remotes_beyond_the_cap_count_in_the_total_only() {
        let tuple = Tuple {
            protocol: Protocol::Udp,
            family: Family::Ipv4,
            local: "0.0.0.0:53".parse().unwrap(),
            remote: None,
        };
        let now = Instant::now();
        let mut s = Sock::new(NetnsId(1), tuple, true, true, now);
        let mut d = FlowDelta::default();
        d.counters.rx_bytes = 10;
        for port in 0..MAX_PEERS as u16 {
            assert!(s.add(SocketAddr::from(([10, 0, 0, 1], 1024 + port)), &d, now));
        }
        assert!(!s.add("10.0.0.2:1".parse().unwrap(), &d, now));
        // A tracked remote still adds up.
        assert!(s.add("10.0.0.1:1024".parse().unwrap(), &d, now));
        assert_eq!(s.counters.rx_bytes, 10 * (MAX_PEERS as u64 + 2));
        let peers = s.take_dirty_peers(SocketCookie(1));
        assert_eq!(peers.len(), MAX_PEERS);
        assert_eq!(
            peers.iter().map(|p| p.rx_bytes).sum::<u64>(),
            10 * (MAX_PEERS as u64 + 1)
        );
    }
}
