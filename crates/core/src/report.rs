//! What the views print: per-process and per-connection rows, the traffic
//! nobody could be named for, and the run's metadata (capture mode, hooks,
//! losses). Built by the ledger; formatted by `netoproc-export`.

use std::net::SocketAddr;

use serde::Serialize;

use crate::model::{Counters, Family, Protocol};

/// One process's traffic over the capture window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProcessRow {
    pub pid: u32,
    /// Kernel task name (`comm`).
    pub process: String,
    pub cmdline: String,
    pub uid: u32,
    /// cgroup v2 id of the process (0 if unknown).
    pub cgroup_id: u64,
    /// Sockets the process used in the window.
    pub sockets: u64,
    #[serde(flatten)]
    pub counters: Counters,
}

/// One connection (or, for unconnected UDP, one socket-and-remote pair).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConnectionRow {
    pub protocol: Protocol,
    pub family: Family,
    /// `None` when only packets were seen before any send/receive call.
    pub local: Option<SocketAddr>,
    /// `None` for the part of an unconnected UDP socket's traffic whose
    /// remote is not known (for example `recv` without an address).
    pub remote: Option<SocketAddr>,
    /// `open` or `closed` (released by its owner).
    pub state: &'static str,
    /// 0 when no process could be named.
    pub pid: u32,
    pub process: String,
    pub cookie: u64,
    #[serde(flatten)]
    pub counters: Counters,
}

/// Everything that was counted as lost or unattributable.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Losses {
    /// Events the kernel could not queue: ring buffer full.
    pub ringbuf_events: u64,
    /// Sockets whose storage the kernel could not allocate.
    pub socket_storage_failures: u64,
    /// Sockets not tracked: kprobe-rung socket map full.
    pub socket_map_full: u64,
    /// Unconnected-UDP remotes not tracked: peer map full.
    pub peer_map_full: u64,
    /// Return probes whose entry was not seen (calls in flight at start).
    pub kretprobe_misses: u64,
    /// IP packets without a full socket (handshake replies, TIME_WAIT ACKs).
    pub unattributed_tx_packets: u64,
    pub unattributed_rx_packets: u64,
    pub unattributed_tx_wire_bytes: u64,
    pub unattributed_rx_wire_bytes: u64,
    /// Bytes of sockets never seen in a send/receive call (no owner known).
    pub no_owner_bytes: u64,
    pub no_owner_wire_bytes: u64,
    /// DNS packets longer than the kernel copies (parsed as far as copied).
    pub dns_truncated: u64,
    /// DNS packets dropped in userspace: nobody took them in time.
    pub dns_packets_dropped: u64,
}

/// The result of one capture window.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Report {
    pub processes: Vec<ProcessRow>,
    pub connections: Vec<ConnectionRow>,
    /// Sum over all processes.
    pub total: Counters,
}
