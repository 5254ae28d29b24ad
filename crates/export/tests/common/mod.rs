//! Shared fixtures for the format tests: a fixed run (fixed start time, so
//! snapshots are stable) with two processes and three connections, one of
//! them the remote-unknown remainder of an unconnected UDP socket, and what
//! the DNS observatory saw meanwhile.

// Each test binary uses only some of these fixtures.
#![allow(dead_code)]

use netoproc_core::group::GroupBy;
use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, SystemTime};

use netoproc_core::backend::HookStatus;
use netoproc_core::model::{Counters, Family, Protocol};
use netoproc_core::report::{ConnectionRow, Losses, ProcessRow, Report};
use netoproc_dns::{
    DnsProcessRow, DnsReport, DnsStats, Failures, QueryRow, QueryStatus, ResolverRow,
};
use netoproc_export::{write_snapshot, Format, Meta, Snapshot, View};

/// 2026-11-23T04:12:59Z
pub const STARTED_AT_SECS: u64 = 1_795_407_179;

pub fn meta() -> Meta {
    Meta {
        version: "0.1.0".into(),
        capture_mode: "ebpf".into(),
        hooks: "tracepoint".into(),
        live_read: Some("map-iter".into()),
        kernel: "6.8.0-45-generic".into(),
        duration_s: 10.004,
        started_at: SystemTime::UNIX_EPOCH + Duration::from_secs(STARTED_AT_SECS),
        interrupted: false,
        lost: Losses {
            unattributed_rx_packets: 12,
            unattributed_rx_wire_bytes: 1536,
            kretprobe_misses: 2,
            ..Losses::default()
        },
        connections_folded: 3,
        processes_folded: 0,
        degraded: vec!["udp-remote: cgroup/recvmsg4 not attachable (EPERM); \
                        unconnected UDP shows one row per socket"
            .into()],
        programs: vec![
            HookStatus {
                program: "np_tp_send".into(),
                attach_point: "tp_btf/sock_send_length".into(),
                feeds: "bytes",
                attached: true,
                error: None,
            },
            HookStatus {
                program: "np_recvmsg4".into(),
                attach_point: "cgroup/recvmsg4".into(),
                feeds: "udp-remote",
                attached: false,
                error: Some("EPERM".into()),
            },
        ],
        attribution: None,
        namespaces: Vec::new(),
    }
}

fn counters(tx: u64, rx: u64, tx_pkts: u64, rx_pkts: u64) -> Counters {
    Counters {
        tx_bytes: tx,
        rx_bytes: rx,
        tx_packets: tx_pkts,
        rx_packets: rx_pkts,
        tx_wire_bytes: tx + tx_pkts * 52,
        rx_wire_bytes: rx + rx_pkts * 52,
        tx_calls: tx_pkts,
        rx_calls: rx_pkts / 2 + 1,
    }
}

pub fn report() -> Report {
    let curl = counters(1_234, 157_286_400, 2_410, 108_001);
    let resolved = counters(512, 1_023, 4, 4);
    let mut total = curl;
    total.add(&resolved);
    Report {
        processes: vec![
            ProcessRow {
                pid: 4242,
                process: "curl".into(),
                cmdline: "curl -sS https://downloads.example.org/releases/2026.11/\
                          distribution-netinst-amd64.iso -o /tmp/netinst.iso \
                          --retry 5 --retry-delay 2 --header 'User-Agent: netoproc-test'"
                    .into(),
                uid: Some(1000),
                start_time_ns: Some(1_000_000),
                cgroup_id: 8812,
                sockets: 1,
                counters: curl,
                identity: None,
            },
            ProcessRow {
                pid: 812,
                process: "systemd-resolve".into(),
                cmdline: "/usr/lib/systemd/systemd-resolved".into(),
                uid: None,
                start_time_ns: None,
                cgroup_id: 1207,
                sockets: 1,
                counters: resolved,
                identity: None,
            },
        ],
        connections: vec![
            ConnectionRow {
                protocol: Protocol::Tcp,
                family: Family::Ipv6,
                local: Some("[2001:db8::10]:51544".parse().unwrap()),
                remote: Some("[2606:2800:220:1::1946]:443".parse().unwrap()),
                state: "closed",
                pid: 4242,
                process: "curl".into(),
                cookie: 40961,
                counters: curl,
            },
            ConnectionRow {
                protocol: Protocol::Udp,
                family: Family::Ipv4,
                local: Some("0.0.0.0:5353".parse().unwrap()),
                remote: Some("192.168.1.1:53".parse().unwrap()),
                state: "open",
                pid: 812,
                process: "systemd-resolve".into(),
                cookie: 20480,
                counters: Counters {
                    tx_bytes: 384,
                    rx_bytes: 900,
                    tx_calls: 3,
                    rx_calls: 3,
                    ..Counters::default()
                },
            },
            ConnectionRow {
                protocol: Protocol::Udp,
                family: Family::Ipv4,
                local: Some("0.0.0.0:5353".parse().unwrap()),
                remote: None,
                state: "open",
                pid: 812,
                process: "systemd-resolve".into(),
                cookie: 20480,
                counters: Counters {
                    tx_bytes: 128,
                    rx_bytes: 123,
                    tx_calls: 1,
                    rx_calls: 0,
                    ..resolved
                },
            },
        ],
        total,
    }
}

pub fn render(fmt: Format, meta: &Meta, report: &Report, connections: bool) -> String {
    render_snapshot(
        fmt,
        &Snapshot {
            meta,
            report,
            connections,
            dns: None,
            remote_hosts: None,
            view: View::Processes,
            group_by: GroupBy::Process,
        },
    )
}

pub fn render_snapshot(fmt: Format, snap: &Snapshot) -> String {
    let mut buf = Vec::new();
    write_snapshot(&mut buf, fmt, snap).unwrap();
    String::from_utf8(buf).unwrap()
}

/// The curl connection's remote, as a DNS answer named it.
pub fn remote_hosts() -> HashMap<IpAddr, String> {
    HashMap::from([(
        "2606:2800:220:1::1946".parse().unwrap(),
        "downloads.example.org".to_string(),
    )])
}

/// What the DNS observatory reports for the run: curl's lookups through
/// systemd-resolved, resolved's through the upstream resolver (one timed out).
pub fn dns() -> DnsReport {
    let query = |pid: u32, process: &str, name: &str, qtype: &str, resolver: &str| QueryRow {
        pid,
        process: process.into(),
        name: name.into(),
        qtype: qtype.into(),
        rcode: Some("NOERROR".into()),
        status: QueryStatus::Answered,
        answers: Vec::new(),
        latency_ms: Some(0.412),
        resolver: resolver.parse().unwrap(),
        transport: Protocol::Udp,
        id: 4711,
        truncated: false,
        retries: 0,
        sent_ns: 1_000,
    };
    let stub = "127.0.0.53:53";
    let upstream = "192.168.1.1:53";
    DnsReport {
        queries: vec![
            QueryRow {
                answers: vec![
                    "CNAME edge.example.net".into(),
                    "2606:2800:220:1::1946".into(),
                ],
                ..query(4242, "curl", "downloads.example.org", "AAAA", stub)
            },
            QueryRow {
                rcode: Some("NXDOMAIN".into()),
                latency_ms: Some(23.9),
                id: 4712,
                sent_ns: 2_000,
                ..query(812, "systemd-resolve", "wpad.lan", "A", upstream)
            },
            QueryRow {
                rcode: None,
                status: QueryStatus::Timeout,
                latency_ms: None,
                transport: Protocol::Tcp,
                id: 4713,
                sent_ns: 3_000,
                ..query(
                    812,
                    "systemd-resolve",
                    "slow.example.com",
                    "HTTPS",
                    upstream,
                )
            },
        ],
        resolvers: vec![
            ResolverRow {
                resolver: upstream.parse().unwrap(),
                queries: 2,
                answered: 1,
                pending: 0,
                failures: Failures {
                    nxdomain: 1,
                    timeout: 1,
                    ..Failures::default()
                },
                failure_rate: 0.5,
                p50_ms: Some(23.9),
                p99_ms: Some(23.9),
            },
            ResolverRow {
                resolver: stub.parse().unwrap(),
                queries: 1,
                answered: 1,
                pending: 0,
                failures: Failures::default(),
                failure_rate: 0.0,
                p50_ms: Some(0.412),
                p99_ms: Some(0.412),
            },
        ],
        processes: vec![
            DnsProcessRow {
                pid: 812,
                process: "systemd-resolve".into(),
                queries: 2,
                answered: 1,
                pending: 0,
                names: 2,
                failures: Failures {
                    nxdomain: 1,
                    timeout: 1,
                    ..Failures::default()
                },
                dot_connections: 0,
                doh_connections: 0,
            },
            DnsProcessRow {
                pid: 4242,
                process: "curl".into(),
                queries: 1,
                answered: 1,
                pending: 0,
                names: 1,
                failures: Failures::default(),
                dot_connections: 0,
                doh_connections: 1,
            },
        ],
        stats: DnsStats {
            packets: 9,
            messages: 9,
            malformed: 1,
            ..DnsStats::default()
        },
    }
}
