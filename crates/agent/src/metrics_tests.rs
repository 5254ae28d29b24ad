//! The exposition against the series budget: with every series an
//! identity can have, the families cost what [`series_per_identity`] and
//! [`fixed_series`] reserve, with the TCP families on and off; off, no
//! `netoproc_tcp_` family is written at all.

use std::sync::Arc;
use std::time::SystemTime;

use netoproc_core::backend::{BackendKind, CaptureInfo, HookRung};
use netoproc_core::lifecycle::{ClosedCounts, TimeHistogram, TIME_BOUNDS_S};
use netoproc_core::report::{Losses, Report};
use netoproc_export::Meta;

use super::*;
use crate::budget::BudgetStats;
use crate::config::{MetricsSection, MetricsSettings};
use crate::published::{LifecycleLosses, ProcessInfoRow, SnapshotParts};
use crate::tally::DnsCounts;

#[test]
fn label_values_are_escaped() {
    assert_eq!(escape("nginx"), "nginx");
    assert_eq!(escape("a\"b\\c\nd\te"), "a\\\"b\\\\c\\nd\te");
}

/// A tally with every series an identity can have non-zero.
fn full_tally() -> Tally {
    let c = Counters {
        tx_bytes: 1,
        rx_bytes: 1,
        tx_wire_bytes: 1,
        rx_wire_bytes: 1,
        tx_packets: 1,
        rx_packets: 1,
        ..Default::default()
    };
    let times = TimeHistogram {
        buckets: [1; TIME_BOUNDS_S.len()],
        above: 1,
        sum_ns: 1_000_000,
        count: TIME_BOUNDS_S.len() as u64 + 1,
    };
    let mut tcp = ClosedCounts {
        retransmits: 1,
        segments_out: 10,
        handshake: times,
        response: times,
        ..Default::default()
    };
    for role in &mut tcp.connections {
        role.fill(1);
    }
    Tally {
        traffic: [c, c],
        dns: DnsCounts {
            noerror: 1,
            timeout: 1,
            ..Default::default()
        },
        tcp,
    }
}

/// What a read publishes with `n` full identities (two `_info` series
/// each), `other` and full retired counters, under `settings`.
fn published(n: usize, settings: &MetricsSettings) -> Published {
    let mut identities: Vec<(Identity, Tally)> = (0..n)
        .map(|i| {
            (
                Identity::of(&format!("p{i}"), None, Some(1000)),
                full_tally(),
            )
        })
        .collect();
    let info = identities
        .iter()
        .flat_map(|(id, _)| {
            (0..settings.info_per_identity as u32).map(|pid| ProcessInfoRow {
                identity: id.clone(),
                pid: 100 + pid,
                cmdline: "p --flag".into(),
            })
        })
        .collect();
    identities.push((Identity::other(), full_tally()));
    Published {
        identities,
        retired: full_tally(),
        remotes: None,
        info,
        budget: BudgetStats::default(),
        budget_config: settings.budget(),
        max_series: settings.max_series,
        losses: Losses::default(),
        lifecycle: LifecycleLosses {
            steps_dropped: 1,
            rows_dropped: 1,
            owners_folded: 1,
        },
        tcp_connections: settings.tcp_connections,
        interfaces: Vec::new(),
        resolvers: None,
        capture: CaptureInfo {
            mode: BackendKind::Ebpf,
            hooks: HookRung::Tracepoint,
            live_read: None,
            programs: Vec::new(),
            degraded: Vec::new(),
        },
        own: None,
        reads: 1,
        read_at: SystemTime::UNIX_EPOCH,
        history: None,
        snapshot: SnapshotParts {
            meta: Meta::default(),
            report: Report::default(),
            dns: None,
            remote_hosts: None,
        },
    }
}

/// The OpenMetrics text of `p`.
fn exposition(p: Published) -> String {
    let mut out = String::new();
    prometheus_client::encoding::text::encode(&mut out, &registry(Arc::new(p))).unwrap();
    out
}

/// The sample lines of `text`.
fn samples(text: &str) -> Vec<&str> {
    text.lines().filter(|l| !l.starts_with('#')).collect()
}

/// The default settings, with `tcp_connections` as given.
fn settings(tcp: bool) -> MetricsSettings {
    let flags = MetricsSection {
        tcp_connections: Some(tcp),
        ..Default::default()
    };
    MetricsSettings::resolve(&flags, &MetricsSection::default()).unwrap()
}

#[test]
fn without_tcp_connections_no_tcp_family_is_written_and_identities_get_their_series_back() {
    let off = settings(false);
    // What the default budget held before the TCP families existed.
    assert_eq!(off.budget().max_identities, 471);
    let n = off.budget().max_identities;
    let text = exposition(published(n, &off));
    // (The loss counters' help may name a TCP family; no family or sample
    // of one is written.)
    let tcp_lines: Vec<&str> = text
        .lines()
        .filter(|l| {
            let name = l.strip_prefix("# TYPE ").unwrap_or(l);
            name.starts_with("netoproc_tcp_") || name.starts_with("netoproc_retired_tcp_")
        })
        .collect();
    assert!(
        tcp_lines.is_empty(),
        "TCP families with the switch off: {tcp_lines:?}"
    );
    assert!(
        !text.contains("role=\""),
        "per-role series with the switch off"
    );
    // The loss counters stay, fixed series.
    for name in [
        "netoproc_lifecycle_steps_dropped_total 1",
        "netoproc_lifecycle_rows_dropped_total 1",
        "netoproc_lifecycle_owners_folded_total 1",
    ] {
        assert!(text.lines().any(|l| l == name), "{name} missing");
    }
    let s = samples(&text);
    let one = s.iter().filter(|l| l.contains("process=\"p0\"")).count();
    assert_eq!(one, series_per_identity(2, false));
    assert!(s.len() <= off.max_series, "{} series", s.len());
    assert!(
        s.len() - n * one <= fixed_series(false),
        "{} series besides the identities'",
        s.len() - n * one
    );
}

#[test]
fn with_tcp_connections_every_tcp_family_is_written_within_the_budget() {
    let on = settings(true);
    assert_eq!(on.budget().max_identities, 161);
    let n = on.budget().max_identities;
    let text = exposition(published(n, &on));
    for family in [
        "netoproc_tcp_connections",
        "netoproc_tcp_retransmitted_segments",
        "netoproc_tcp_sent_segments",
        "netoproc_tcp_handshake_seconds",
        "netoproc_tcp_response_seconds",
        "netoproc_retired_tcp_connections",
        "netoproc_retired_tcp_retransmitted_segments",
        "netoproc_retired_tcp_sent_segments",
        "netoproc_lifecycle_steps_dropped",
    ] {
        assert!(
            text.contains(&format!("# TYPE {family} ")),
            "{family} missing"
        );
    }
    let s = samples(&text);
    let one = s.iter().filter(|l| l.contains("process=\"p0\"")).count();
    assert_eq!(one, series_per_identity(2, true));
    let tcp = s
        .iter()
        .filter(|l| l.starts_with("netoproc_tcp_") && l.contains("process=\"p0\""))
        .count();
    assert_eq!(tcp, TCP_SERIES_PER_IDENTITY);
    assert!(s.len() <= on.max_series, "{} series", s.len());
    assert!(
        s.len() - n * one <= fixed_series(true),
        "{} series besides the identities'",
        s.len() - n * one
    );
}
