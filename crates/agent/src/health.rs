//! The agent's own families: how capture runs (mode, rung, each program
//! attached, what runs degraded), what was lost by kind, netoproc's own CPU
//! and memory, reads, build info, and what the series budget did.

use prometheus_client::encoding::DescriptorEncoder;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Unit;

use std::sync::atomic::Ordering;

use crate::history_feed::HistoryView;
use crate::metrics::{counter, gauge, with, Labels};
use crate::published::Published;

fn none() -> Labels {
    Vec::new()
}

pub(crate) fn encode(enc: &mut DescriptorEncoder, p: &Published) -> std::fmt::Result {
    let c = &p.capture;
    {
        let mut m = enc.encode_descriptor(
            "netoproc_build",
            "netoproc's version.",
            None,
            MetricType::Info,
        )?;
        m.encode_info(&with(none(), &[("version", env!("CARGO_PKG_VERSION"))]))?;
    }
    {
        let mut m = enc.encode_descriptor(
            "netoproc_capture",
            "How traffic is captured: `mode` (ebpf, afpacket) and the byte hooks (`hooks`: counters, or the per-call rung tracepoint, fentry, kprobe; none for afpacket).",
            None,
            MetricType::Info,
        )?;
        m.encode_info(&with(
            none(),
            &[("mode", c.mode.name()), ("hooks", c.hooks.name())],
        ))?;
    }
    gauge(
        enc,
        "netoproc_capture_program_attached",
        "1 when the capture program attached, 0 when it did not (see `netoproc doctor`).",
        None,
        c.programs.iter().map(|h| {
            (
                with(
                    none(),
                    &[
                        ("program", &h.program),
                        ("attach_point", &h.attach_point),
                        ("feeds", h.feeds),
                    ],
                ),
                if h.attached { 1.0 } else { 0.0 },
            )
        }),
    )?;
    gauge(
        enc,
        "netoproc_capture_degraded_features",
        "Capture features running degraded (the reasons are in /api/v1/snapshot meta.degraded).",
        None,
        [(none(), c.degraded.len() as f64)],
    )?;
    let l = &p.losses;
    let kinds = [
        ("ringbuf_events", l.ringbuf_events),
        ("socket_storage_failures", l.socket_storage_failures),
        ("socket_map_full", l.socket_map_full),
        ("peer_map_full", l.peer_map_full),
        ("kretprobe_misses", l.kretprobe_misses),
        ("program_misses", l.program_misses),
        ("capture_drops", l.capture_drops),
        ("unparsed_packets", l.unparsed_packets),
        ("dns_truncated", l.dns_truncated),
        ("dns_packets_dropped", l.dns_packets_dropped),
    ];
    counter(
        enc,
        "netoproc_lost",
        "Events, packets or calls lost or not counted, by kind (kernel ring buffer full, map full, capture ring drops, unparsed packets, DNS).",
        None,
        kinds.iter().map(|(k, v)| (with(none(), &[("kind", k)]), *v)),
    )?;
    counter(
        enc,
        "netoproc_reads",
        "Complete reads of every live socket's counters.",
        None,
        [(none(), p.reads)],
    )?;
    let read_at = p
        .read_at
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64());
    gauge(
        enc,
        "netoproc_last_read_timestamp",
        "When the published figures were read (Unix time).",
        Some(&Unit::Seconds),
        [(none(), read_at)],
    )?;
    if let Some(own) = &p.own {
        counter(
            enc,
            "netoproc_own_cpu",
            "CPU time netoproc itself used (user and system).",
            Some(&Unit::Seconds),
            [(none(), own.cpu_seconds)],
        )?;
        gauge(
            enc,
            "netoproc_own_resident_memory",
            "netoproc's own resident memory.",
            Some(&Unit::Bytes),
            [(none(), (own.rss_kib * 1024) as f64)],
        )?;
    }
    if let Some(h) = &p.history {
        history(enc, h)?;
    }
    let b = &p.budget;
    gauge(
        enc,
        "netoproc_series_budget",
        "The configured most series /metrics may hold (`max_series`).",
        None,
        [(none(), p.max_series as f64)],
    )?;
    gauge(
        enc,
        "netoproc_budget_identities",
        "Identities with series of their own now, and the most the budget allows.",
        None,
        [
            (
                with(none(), &[("state", "exported")]),
                p.identities.iter().filter(|(i, _)| !i.is_other()).count() as f64,
            ),
            (
                with(none(), &[("state", "max")]),
                p.budget_config.max_identities as f64,
            ),
        ],
    )?;
    counter(
        enc,
        "netoproc_budget_folded_identities",
        "Identities whose traffic the series budget folded into the identity `other`.",
        None,
        [(none(), b.folded)],
    )?;
    counter(
        enc,
        "netoproc_budget_dropped_identities",
        "Identities whose series ended, by reason: `expired` (idle past the TTL) or `evicted` (a busier identity took the place); their counters continue in netoproc_retired_*.",
        None,
        [
            (with(none(), &[("reason", "expired")]), b.expired),
            (with(none(), &[("reason", "evicted")]), b.evicted),
        ],
    )
}

/// The history ledger's writer: up or degraded, what it wrote, lost,
/// folded and deleted.
fn history(enc: &mut DescriptorEncoder, h: &HistoryView) -> std::fmt::Result {
    let st = &h.status;
    let n = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
    gauge(
        enc,
        "netoproc_history_up",
        "1 when the history store took the last write, 0 when it is degraded (the reason is in /readyz and on stderr).",
        None,
        [(none(), if st.up.load(Ordering::Relaxed) { 1.0 } else { 0.0 })],
    )?;
    counter(
        enc,
        "netoproc_history_batches_written",
        "Closed minutes (one batch of rollups each) written to the history store.",
        None,
        [(none(), n(&st.minutes_written))],
    )?;
    counter(
        enc,
        "netoproc_history_batches_dropped",
        "Closed minutes lost: pushed out of the full buffer (60) while the store was down, or unwritten at exit.",
        None,
        [(none(), n(&st.minutes_dropped))],
    )?;
    counter(
        enc,
        "netoproc_history_write_errors",
        "Failed opens, writes and upkeep rounds of the history store.",
        None,
        [(none(), n(&st.write_errors))],
    )?;
    gauge(
        enc,
        "netoproc_history_batches_queued",
        "Closed minutes waiting to be written (at most 60).",
        None,
        [(none(), n(&st.minutes_queued) as f64)],
    )?;
    counter(
        enc,
        "netoproc_history_rows_folded",
        "Minute rows folded into hour rows (sums kept).",
        None,
        [(none(), n(&st.rows_folded))],
    )?;
    counter(
        enc,
        "netoproc_history_rows_deleted",
        "History rows deleted, by reason: `age` (past --retain) or `size` (over --history-max-mib).",
        None,
        [
            (with(none(), &[("reason", "age")]), n(&st.rows_deleted_age)),
            (with(none(), &[("reason", "size")]), n(&st.rows_deleted_size)),
        ],
    )?;
    counter(
        enc,
        "netoproc_history_identities_folded",
        "Identities or (identity, remote) pairs past a minute's bound, kept in history as `other`.",
        None,
        [(none(), h.identities_folded)],
    )
}
