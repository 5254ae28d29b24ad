//! What the views print: per-process and per-connection rows, the traffic
//! nobody could be named for, and the run's metadata (capture mode, hooks,
//! losses). Built by the ledger; formatted by `netoproc-export`.

use std::net::SocketAddr;
use std::sync::Arc;

use serde::Serialize;

use crate::model::{Counters, Family, Protocol};
use crate::workload::ProcessIdentity;

/// One process's traffic over the capture window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProcessRow {
    /// 0 only for the row that sums processes past the ledger's bound
    /// (`process` is then [`OTHER_PROCESSES`]).
    pub pid: u32,
    /// When the process started (ns since boot, the kernel's boot-time
    /// clock); with `pid` it names one process, as pids are reused. `None`
    /// when not known.
    pub start_time_ns: Option<u64>,
    /// Kernel task name (`comm`).
    pub process: String,
    /// Cut to 4096 bytes.
    pub cmdline: String,
    /// `None` when it could not be read (never shown as 0, root).
    pub uid: Option<u32>,
    /// cgroup v2 id of the process (0 if unknown).
    pub cgroup_id: u64,
    /// Sockets the process used in the window.
    pub sockets: u64,
    /// Traffic of those sockets in the window, closed ones folded in.
    #[serde(flatten)]
    pub counters: Counters,
    /// Its cgroup, namespace, user and workload (container, pod, service),
    /// read from `/proc` while it ran; `None` when never read (it exited
    /// first, or the row sums several processes).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub identity: Option<Arc<ProcessIdentity>>,
}

/// The `process` of the row that sums the processes past the ledger's
/// bound (pid 0).
pub const OTHER_PROCESSES: &str = "(other processes)";

/// One connection (or, for unconnected UDP, one socket-and-remote pair).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConnectionRow {
    /// TCP or UDP.
    pub protocol: Protocol,
    /// The family the socket was created with.
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
    /// The owner's task name (`comm`); empty when no process was named.
    pub process: String,
    /// The kernel's socket cookie (AF_PACKET: a synthetic one per flow).
    pub cookie: u64,
    /// Traffic of the connection (or of the socket to this remote).
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
    /// Per-remote rows of unconnected UDP evicted from the kernel's LRU map
    /// while their socket was open (a flood of remotes): their bytes stay in
    /// the socket's and process's totals, shown under remote `*`.
    pub peer_map_evicted: u64,
    /// Ring-buffer records that could not be decoded (skipped, counted).
    pub ring_records_undecodable: u64,
    /// kprobe rung: calls whose bytes were not counted because their return
    /// probe did not run (the kernel ran out of kretprobe instances) or ran
    /// without its entry (calls in flight at start).
    pub kretprobe_misses: u64,
    /// Runs of netoproc's eBPF tracing programs (tracepoint, fentry,
    /// kprobe) the kernel skipped because the same program was already
    /// running on that CPU — a run that was preempted or interrupted (the
    /// kernel's per-program `recursion_misses`). A skipped byte hook loses
    /// that call's bytes; a skipped state hook, a lifecycle step.
    pub program_misses: u64,
    /// Packets the kernel dropped because a capture ring was full
    /// (AF_PACKET `PACKET_STATISTICS`, summed over every ring).
    pub capture_drops: u64,
    /// Captured packets not counted: not IP, neither TCP nor UDP, non-first
    /// fragments, cut or malformed headers (AF_PACKET; kinds in
    /// [`AttributionStats::unparsed`]).
    pub unparsed_packets: u64,
    /// IP packets without a full socket (handshake replies, TIME_WAIT ACKs).
    pub unattributed_tx_packets: u64,
    /// Received IP packets without a full socket.
    pub unattributed_rx_packets: u64,
    /// IP-layer bytes (headers included) of `unattributed_tx_packets`.
    pub unattributed_tx_wire_bytes: u64,
    /// IP-layer bytes (headers included) of `unattributed_rx_packets`.
    pub unattributed_rx_wire_bytes: u64,
    /// Bytes of sockets never seen in a send/receive call (no owner known).
    pub no_owner_bytes: u64,
    /// IP-layer bytes of those same sockets, headers included.
    pub no_owner_wire_bytes: u64,
    /// DNS packets longer than the kernel copies (parsed as far as copied).
    pub dns_truncated: u64,
    /// DNS packets dropped in userspace: nobody took them in time.
    pub dns_packets_dropped: u64,
}

impl Losses {
    /// Everything counted as lost outright, in events: what a one-number
    /// "lost" display must sum. Traffic that was seen but could not be named
    /// (no socket, no owner) is not in it; it is shown in bytes on its own.
    /// Exhaustive, so a new field has to be placed here or there.
    pub fn lost_events(&self) -> u64 {
        let Losses {
            ringbuf_events,
            socket_storage_failures,
            socket_map_full,
            peer_map_full,
            peer_map_evicted,
            ring_records_undecodable,
            kretprobe_misses,
            program_misses,
            capture_drops,
            unparsed_packets,
            unattributed_tx_packets: _,
            unattributed_rx_packets: _,
            unattributed_tx_wire_bytes: _,
            unattributed_rx_wire_bytes: _,
            no_owner_bytes: _,
            no_owner_wire_bytes: _,
            dns_truncated,
            dns_packets_dropped,
        } = *self;
        ringbuf_events
            + socket_storage_failures
            + socket_map_full
            + peer_map_full
            + peer_map_evicted
            + ring_records_undecodable
            + kretprobe_misses
            + program_misses
            + capture_drops
            + unparsed_packets
            + dns_truncated
            + dns_packets_dropped
    }
}

/// The result of one capture window.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Report {
    /// One row per process, plus the `(other processes)` row past the
    /// ledger's bound.
    pub processes: Vec<ProcessRow>,
    /// One row per connection still held (closed ones past the bound are
    /// folded into their process rows and have none).
    pub connections: Vec<ConnectionRow>,
    /// Sum over all processes.
    pub total: Counters,
}

/// How a capture without socket hooks (AF_PACKET) named the owners of what
/// it counted, and what that cost: flows and payload bytes by how their
/// owner was found, and the resolver's work (sock_diag dumps, `/proc`
/// scans, proc connector events). `None` for eBPF, which sees owners
/// directly.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct AttributionStats {
    /// Flows (network namespace, protocol, local, remote) seen.
    pub flows: u64,
    /// Of `flows`: owner named by a socket the kernel still listed.
    pub flows_resolved: u64,
    /// Of `flows`: socket already gone (or ownerless, as in TIME_WAIT); the
    /// owner was inferred (the namespace's only process, or the one process
    /// that recently talked from that address to that remote).
    pub flows_inferred: u64,
    /// Of `flows`: no owner could be named; shown with pid 0.
    pub flows_unresolved: u64,
    /// Of `flows`: arrived while attribution was behind (a flood of new
    /// flows) and were counted in one record per local address and remote,
    /// the ephemeral port shown as 0.
    pub flows_aggregated: u64,
    /// Flows not remembered because attribution held its bound of flows or
    /// records (`--max-flows`; a flood of distinct flows): their bytes
    /// count in an overflow row per namespace, protocol and address family
    /// (unspecified addresses, no owner), so totals stay exact. Counted
    /// once per 20 ms in which such a flow moved (a one-packet flow once).
    pub flows_folded: u64,
    /// Of `bytes`: payload bytes counted in overflow rows.
    pub bytes_folded: u64,
    /// Packets of flows a capture reader did not remember (past its bound
    /// of flows): counted without TCP retransmission detection.
    pub packets_unsequenced: u64,
    /// L4 payload bytes counted, both directions.
    pub bytes: u64,
    /// Of `bytes`: of flows with an owner (resolved or inferred).
    pub bytes_attributed: u64,
    /// Of `bytes_attributed`: of flows whose owner was inferred.
    pub bytes_inferred: u64,
    /// `bytes_attributed / bytes` (1 when nothing was counted).
    pub attributed_share: f64,
    /// Tuple lookups, and those answered from the resolver's cache.
    pub lookups: u64,
    /// Of `lookups`: answered from the resolver's cache.
    pub cache_hits: u64,
    /// sock_diag dumps (one per namespace), and those a new tuple caused.
    pub dumps: u64,
    /// Of `dumps`: caused by an unknown tuple.
    pub on_demand_dumps: u64,
    /// New tuples that waited for the next dump (rate limit).
    pub rate_limited: u64,
    /// Full `/proc/*/fd` scans, and processes rescanned one by one.
    pub full_scans: u64,
    /// Processes rescanned one by one (proc events, hot processes).
    pub pid_rescans: u64,
    /// Whether the proc connector delivers fork/exec/exit events (else
    /// the fd index is kept fresh by scans alone).
    pub proc_connector: bool,
    /// Process events received from the proc connector, overruns included.
    pub proc_events: u64,
    /// Proc event overruns (each forces a full `/proc` scan).
    pub proc_events_lost: u64,
    /// Network namespaces captured in, and rings open.
    pub namespaces: u64,
    /// AF_PACKET rings open over all namespaces (`--rings` in each).
    pub rings: u64,
    /// Captured packets not counted, by why.
    pub unparsed: UnparsedPackets,
}

/// Captured packets not counted, by why.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct UnparsedPackets {
    /// ARP, LLDP, ...: not IPv4 or IPv6.
    pub not_ip: u64,
    /// ICMP, IGMP, SCTP, ...
    pub not_tcp_udp: u64,
    /// Non-first IP fragments (no ports to attribute them by).
    pub fragments: u64,
    /// Headers cut short by the snap length.
    pub truncated: u64,
    /// Headers whose fields contradict themselves (lengths, version).
    pub malformed: u64,
    /// Link layers netoproc does not parse (e.g. GRE, InfiniBand).
    pub unknown_link: u64,
}

impl UnparsedPackets {
    /// All kinds summed.
    pub fn total(&self) -> u64 {
        self.not_ip
            + self.not_tcp_udp
            + self.fragments
            + self.truncated
            + self.malformed
            + self.unknown_link
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lost_events_sums_what_was_lost_not_what_was_unnamed() {
        let l = Losses {
            ringbuf_events: 1,
            kretprobe_misses: 2,
            capture_drops: 4,
            dns_packets_dropped: 8,
            unattributed_rx_packets: 1000,
            no_owner_bytes: 1000,
            ..Losses::default()
        };
        assert_eq!(l.lost_events(), 15);
    }
}
