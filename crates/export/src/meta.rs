//! The run's metadata printed next to every report — version, capture mode,
//! hooks, kernel, window, losses, degraded features, program status — and
//! how it is named in each format (the JSON `meta` object, the
//! `name=value` listing of losses). It describes the run; it does not
//! measure anything itself.

use std::time::SystemTime;

use netoproc_core::backend::HookStatus;
use netoproc_core::report::{AttributionStats, Losses};
use serde::{Serialize, Serializer};

/// How the snapshot was captured. Serialized as the JSON `meta` object.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Meta {
    /// netoproc's version.
    pub version: String,
    /// `ebpf` (or `afpacket`).
    pub capture_mode: String,
    /// The byte-hook rung: `tracepoint`, `fentry` or `kprobe`.
    pub hooks: String,
    /// How live sockets are read (eBPF): `map-iter`, `socket-iter` or
    /// `walk`; absent for AF_PACKET.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub live_read: Option<String>,
    /// `uname -r` of the capturing host.
    pub kernel: String,
    /// The capture window actually covered, in seconds.
    pub duration_s: f64,
    /// Start of the window, serialized as RFC 3339 UTC with seconds.
    #[serde(serialize_with = "rfc3339_seconds")]
    pub started_at: SystemTime,
    /// Ctrl-C ended the window before its planned end.
    pub interrupted: bool,
    /// Everything counted as lost or unattributable during the window.
    pub lost: Losses,
    /// Closed sockets folded into their process rows to bound memory
    /// (`--max-connections`): their bytes are in the process rows and the
    /// totals, but they have no connection row.
    pub connections_folded: u64,
    /// Processes whose totals were summed into the `(other processes)` row
    /// (pid 0) because the ledger already held its bound of process rows
    /// (65,536): their bytes are in that row and the totals.
    pub processes_folded: u64,
    /// Features running degraded, each with its reason.
    pub degraded: Vec<String>,
    /// Each program or hook the backend tried, and how that went.
    pub programs: Vec<HookStatus>,
    /// How owners were found (AF_PACKET capture only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attribution: Option<AttributionStats>,
    /// The network namespaces (inode numbers, as in `/proc/PID/ns/net`)
    /// of the processes whose identity was read, sorted.
    pub namespaces: Vec<u64>,
}

impl Default for Meta {
    /// An empty run starting at the Unix epoch: a base for struct update
    /// syntax and tests.
    fn default() -> Self {
        Meta {
            version: String::new(),
            capture_mode: String::new(),
            hooks: String::new(),
            live_read: None,
            kernel: String::new(),
            duration_s: 0.0,
            started_at: SystemTime::UNIX_EPOCH,
            interrupted: false,
            lost: Losses::default(),
            connections_folded: 0,
            processes_folded: 0,
            degraded: Vec::new(),
            programs: Vec::new(),
            attribution: None,
            namespaces: Vec::new(),
        }
    }
}

impl Meta {
    /// `started_at` as RFC 3339 UTC with seconds, e.g. `2026-11-23T04:12:59Z`.
    pub fn started_at_rfc3339(&self) -> String {
        humantime::format_rfc3339_seconds(self.started_at).to_string()
    }

    /// The window length as printed in text formats: milliseconds precision.
    pub(crate) fn duration_text(&self) -> String {
        format!("{:.3}", self.duration_s)
    }
}

/// The line text formats print when connection rows were folded.
pub(crate) fn folded_text(n: u64) -> String {
    format!(
        "folded: {n} closed connections have no row (over --max-connections); their bytes are in their process rows"
    )
}

pub(crate) fn processes_folded_text(n: u64) -> String {
    format!(
        "folded: {n} processes have no row of their own (over the ledger's bound); their bytes are in the (other processes) row"
    )
}

fn rfc3339_seconds<S: Serializer>(t: &SystemTime, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(&humantime::format_rfc3339_seconds(*t))
}

/// Whether a loss counter counts bytes (shown in human units) or events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LossUnit {
    Events,
    Bytes,
}

/// Every [`Losses`] field by its serialized name, in declaration order.
/// The destructuring is exhaustive, so a field added in core fails to
/// compile here until it is listed.
pub(crate) fn loss_fields(l: &Losses) -> [(&'static str, u64, LossUnit); 18] {
    use LossUnit::{Bytes, Events};
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
        unattributed_tx_packets,
        unattributed_rx_packets,
        unattributed_tx_wire_bytes,
        unattributed_rx_wire_bytes,
        no_owner_bytes,
        no_owner_wire_bytes,
        dns_truncated,
        dns_packets_dropped,
    } = *l;
    [
        ("ringbuf_events", ringbuf_events, Events),
        ("socket_storage_failures", socket_storage_failures, Events),
        ("socket_map_full", socket_map_full, Events),
        ("peer_map_full", peer_map_full, Events),
        ("peer_map_evicted", peer_map_evicted, Events),
        ("ring_records_undecodable", ring_records_undecodable, Events),
        ("kretprobe_misses", kretprobe_misses, Events),
        ("program_misses", program_misses, Events),
        ("capture_drops", capture_drops, Events),
        ("unparsed_packets", unparsed_packets, Events),
        ("unattributed_tx_packets", unattributed_tx_packets, Events),
        ("unattributed_rx_packets", unattributed_rx_packets, Events),
        (
            "unattributed_tx_wire_bytes",
            unattributed_tx_wire_bytes,
            Bytes,
        ),
        (
            "unattributed_rx_wire_bytes",
            unattributed_rx_wire_bytes,
            Bytes,
        ),
        ("no_owner_bytes", no_owner_bytes, Bytes),
        ("no_owner_wire_bytes", no_owner_wire_bytes, Bytes),
        ("dns_truncated", dns_truncated, Events),
        ("dns_packets_dropped", dns_packets_dropped, Events),
    ]
}

/// The attribution statistics as one line of `name=value` pairs, for the
/// TSV `# attribution` comment and the pretty footer.
pub(crate) fn attribution_text(a: &AttributionStats) -> String {
    let u = &a.unparsed;
    format!(
        "attributed_share={:.4} bytes={} bytes_attributed={} bytes_inferred={} flows={} \
         flows_resolved={} flows_inferred={} flows_unresolved={} flows_aggregated={} \
         flows_folded={} bytes_folded={} packets_unsequenced={} \
         lookups={} cache_hits={} \
         dumps={} on_demand_dumps={} rate_limited={} full_scans={} pid_rescans={} \
         proc_connector={} proc_events={} proc_events_lost={} namespaces={} rings={} \
         unparsed_not_ip={} unparsed_not_tcp_udp={} unparsed_fragments={} \
         unparsed_truncated={} unparsed_malformed={} unparsed_unknown_link={}",
        a.attributed_share,
        a.bytes,
        a.bytes_attributed,
        a.bytes_inferred,
        a.flows,
        a.flows_resolved,
        a.flows_inferred,
        a.flows_unresolved,
        a.flows_aggregated,
        a.flows_folded,
        a.bytes_folded,
        a.packets_unsequenced,
        a.lookups,
        a.cache_hits,
        a.dumps,
        a.on_demand_dumps,
        a.rate_limited,
        a.full_scans,
        a.pid_rescans,
        a.proc_connector,
        a.proc_events,
        a.proc_events_lost,
        a.namespaces,
        a.rings,
        u.not_ip,
        u.not_tcp_udp,
        u.fragments,
        u.truncated,
        u.malformed,
        u.unknown_link,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn loss_names_match_the_serialized_names() {
        let json = serde_json::to_value(Losses::default()).unwrap();
        let names: Vec<&str> = loss_fields(&Losses::default())
            .iter()
            .map(|f| f.0)
            .collect();
        let mut keys: Vec<&str> = json
            .as_object()
            .unwrap()
            .keys()
            .map(|k| k.as_str())
            .collect();
        let mut sorted = names.clone();
        sorted.sort_unstable();
        keys.sort_unstable();
        assert_eq!(sorted, keys);
    }

    #[test]
    fn attribution_is_listed_only_when_known() {
        let v = serde_json::to_value(Meta::default()).unwrap();
        assert!(v.get("attribution").is_none());
        let a = AttributionStats {
            flows: 3,
            bytes: 100,
            bytes_attributed: 90,
            attributed_share: 0.9,
            proc_connector: true,
            ..AttributionStats::default()
        };
        let meta = Meta {
            attribution: Some(a),
            ..Meta::default()
        };
        let v = serde_json::to_value(&meta).unwrap();
        assert_eq!(v["attribution"]["flows"], 3);
        assert_eq!(v["attribution"]["attributed_share"], 0.9);
        assert_eq!(v["attribution"]["unparsed"]["fragments"], 0);
        let text = attribution_text(&a);
        assert!(text.starts_with("attributed_share=0.9000 bytes=100 bytes_attributed=90 "));
        assert!(text.contains(" proc_connector=true "));
    }

    #[test]
    fn started_at_is_rfc3339_utc_seconds() {
        let meta = Meta {
            started_at: SystemTime::UNIX_EPOCH + Duration::new(1_795_407_179, 999_000_000),
            ..Meta::default()
        };
        assert_eq!(meta.started_at_rfc3339(), "2026-11-23T04:12:59Z");
        let v = serde_json::to_value(&meta).unwrap();
        assert_eq!(v["started_at"], "2026-11-23T04:12:59Z");
    }
}
