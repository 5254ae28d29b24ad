//! Snapshot mode: capture for `--duration` (or until Ctrl-C), then print one
//! report. Live counters are read every `--read-interval-ms`; close events
//! are drained continuously, so sockets and processes that come and go
//! between two reads keep their bytes. At the end everything is read once
//! more, so the report includes traffic up to the last moment. DNS packets
//! go to the DNS observatory as they arrive (its owners looked up in the
//! ledger), so queries are matched and timed out while the capture runs.

use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::Context;
use netoproc_core::backend::CaptureBackend;
use netoproc_core::clock::Clock;
use netoproc_core::ledger::SocketLedger;
use netoproc_core::report::Losses;
use netoproc_dns::{Observatory, ObservatoryConfig};
use netoproc_export::{write_snapshot, Meta, Snapshot};
use netoproc_procfs::ProcRoot;

use crate::cli::Cli;
use crate::failure::Failure;

const POLL_SLICE: Duration = Duration::from_millis(100);

/// When the process started (set first thing in `main`), for the start-up
/// time reported with `--verbose`.
pub static PROCESS_START: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();

pub fn run(
    cli: &Cli,
    backend: &mut dyn CaptureBackend,
    clock: &dyn Clock,
    stop: &AtomicBool,
) -> Result<(), Failure> {
    let procfs = ProcRoot::new(&cli.proc_root);
    let started_at = clock.wall();
    let t0 = clock.now();
    let interval = Duration::from_millis(cli.read_interval_ms);
    let deadline = cli.duration.map(|d| t0 + Duration::from_secs_f64(d));
    let mut ledger = SocketLedger::new();

    backend
        .read_sockets(&mut ledger)
        .map_err(|e| anyhow::anyhow!("reading socket counters: {e}"))?;
    if cli.verbose {
        let since = PROCESS_START.get().copied().unwrap_or(t0);
        eprintln!(
            "netoproc: first complete read after {:.1} ms",
            since.elapsed().as_secs_f64() * 1000.0
        );
    }
    let mut next_read = clock.now() + interval;
    let mut interrupted = false;
    let mut folded = 0u64;
    let mut dns =
        (!cli.dns_ports.0.is_empty()).then(|| Observatory::new(ObservatoryConfig::default()));
    loop {
        if stop.load(Ordering::Relaxed) {
            interrupted = true;
            break;
        }
        let now = clock.now();
        if deadline.is_some_and(|d| now >= d) {
            break;
        }
        if now >= next_read {
            backend
                .read_sockets(&mut ledger)
                .map_err(|e| anyhow::anyhow!("reading socket counters: {e}"))?;
            // DNS packets taken so far still find their sockets' owners.
            feed_dns(dns.as_mut(), backend, &ledger);
            folded += fold_closed(&mut ledger, cli.max_connections);
            next_read += interval;
            continue;
        }
        let mut wait = (next_read - now).min(POLL_SLICE);
        if let Some(d) = deadline {
            wait = wait.min(d.saturating_duration_since(now));
        }
        backend
            .drain_events(&mut ledger, wait)
            .map_err(|e| anyhow::anyhow!("reading kernel events: {e}"))?;
        feed_dns(dns.as_mut(), backend, &ledger);
    }
    let duration = clock.now().duration_since(t0);

    // Final pass: events first, then every live socket, then the events of
    // sockets that closed during the read.
    let final_pass =
        |ledger: &mut SocketLedger, backend: &mut dyn CaptureBackend| -> anyhow::Result<()> {
            backend
                .drain_events(ledger, Duration::ZERO)
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            backend
                .read_sockets(ledger)
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            backend
                .drain_events(ledger, Duration::ZERO)
                .map_err(|e| anyhow::anyhow!("{e}"))
        };
    final_pass(&mut ledger, backend).context("final read of the kernel counters")?;
    feed_dns(dns.as_mut(), backend, &ledger);

    // Processes whose kernel record was lost (or that predate their first
    // socket's record) are looked up while they still exist.
    for pid in ledger.pids_without_info() {
        if let Some(info) = procfs.process_info(pid) {
            ledger.observe_process(info);
        }
    }

    let mut lost: Losses = backend
        .losses()
        .map_err(|e| anyhow::anyhow!("reading loss counters: {e}"))?;
    let unowned = ledger.unowned();
    lost.no_owner_bytes = unowned.bytes;
    lost.no_owner_wire_bytes = unowned.wire_bytes;

    let info = backend.info();
    let meta = Meta {
        version: env!("CARGO_PKG_VERSION").to_string(),
        capture_mode: info.mode.to_string(),
        hooks: info.hooks.to_string(),
        live_read: info.live_read.map(str::to_string),
        kernel: procfs.kernel_release().unwrap_or_else(|_| "unknown".into()),
        duration_s: duration.as_secs_f64(),
        started_at,
        interrupted,
        lost,
        connections_folded: folded,
        processes_folded: ledger.processes_folded(),
        degraded: info.degraded.clone(),
        programs: info.programs.clone(),
        attribution: backend.attribution(),
    };
    let report = ledger.report();
    let now_ns = crate::ktime::monotonic_ns();
    let (dns_report, remote_hosts) = match dns.as_mut() {
        Some(obs) => {
            obs.observe_connections(&report.connections, now_ns);
            let hosts = obs.remote_hosts(&report.connections, now_ns);
            (Some(obs.report(&ledger)), Some(hosts))
        }
        None => (None, None),
    };
    if cli.verbose {
        if let Some(d) = &dns_report {
            eprintln!(
                "netoproc: {} DNS packets seen, {} queries",
                d.stats.packets,
                d.queries.len()
            );
        }
    }
    let snap = Snapshot {
        meta: &meta,
        report: &report,
        connections: cli.connections,
        dns: dns_report.as_ref(),
        remote_hosts: remote_hosts.as_ref(),
        view: cli.view,
    };
    let stdout = io::stdout();
    let mut out = stdout.lock();
    match write_snapshot(&mut out, cli.format, &snap).and_then(|()| out.flush().map_err(Into::into))
    {
        Ok(()) => Ok(()),
        Err(e) if e.is_broken_pipe() => Ok(()),
        Err(e) => Err(Failure::Runtime(
            anyhow::Error::new(e).context("writing the snapshot"),
        )),
    }
}

/// Folds the closed sockets into their process rows once more than `max`
/// are held; returns how many were folded. All of them go at once, so the
/// scan behind the count runs only when the ledger has grown past `max`.
fn fold_closed(ledger: &mut SocketLedger, max: u64) -> u64 {
    if ledger.socket_count() as u64 <= max || ledger.closed_count() as u64 <= max {
        return 0;
    }
    ledger.retire_closed() as u64
}

/// Hands the DNS packets captured since the last call to the observatory
/// and ends the queries that have timed out by now.
fn feed_dns(
    dns: Option<&mut Observatory>,
    backend: &mut dyn CaptureBackend,
    ledger: &SocketLedger,
) {
    let packets = backend.take_dns();
    if let Some(obs) = dns {
        obs.ingest(packets, ledger);
        obs.sweep(crate::ktime::monotonic_ns(), ledger);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use netoproc_core::{Counters, Family, Owner, Protocol, SocketCookie, SocketRecord, Tuple};

    fn closed_socket(cookie: u64, pid: u32, closed: bool) -> SocketRecord {
        SocketRecord {
            cookie: SocketCookie(cookie),
            owner: Some(Owner {
                pid,
                uid: 0,
                comm: "dig".into(),
                cgroup_id: 1,
                netns: 1,
            }),
            tuple: Some(Tuple {
                protocol: Protocol::Udp,
                family: Family::Ipv4,
                local: "10.0.0.1:40000".parse().unwrap(),
                remote: Some("10.0.0.53:53".parse().unwrap()),
            }),
            counters: Counters {
                tx_bytes: 40,
                rx_bytes: 100,
                ..Counters::default()
            },
            closed,
            owner_is_closer: false,
        }
    }

    #[test]
    fn closed_sockets_past_the_cap_fold_into_exact_process_rows() {
        let mut ledger = SocketLedger::new();
        ledger.observe_socket(closed_socket(1, 7, false));
        for cookie in 2..=5 {
            ledger.observe_socket(closed_socket(cookie, 7, true));
        }
        let before = ledger.report();
        // At the cap nothing happens; past it every closed socket folds.
        assert_eq!(fold_closed(&mut ledger, 4), 0);
        assert_eq!(fold_closed(&mut ledger, 3), 4);
        let after = ledger.report();
        assert_eq!(after.processes, before.processes);
        assert_eq!(after.processes[0].sockets, 5);
        assert_eq!(after.total, before.total);
        assert_eq!(after.connections.len(), 1);
        assert_eq!(fold_closed(&mut ledger, 3), 0);
    }
}
