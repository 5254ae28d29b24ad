//! Snapshot mode: capture for `--duration` (or until Ctrl-C), then print one
//! report. The engine's timed loop reads live counters every
//! `--read-interval-ms` and drains close events (and DNS packets) in
//! between; at the end everything is read once more, so the report includes
//! traffic up to the last moment.

use std::io::Write;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use anyhow::Context;
use netoproc_core::backend::CaptureBackend;
use netoproc_core::clock::Clock;
use netoproc_engine::{Engine, SessionConfig};
use netoproc_export::{write_snapshot_with_lifecycle, LifecycleSection, Meta, Snapshot};

use crate::cli::Cli;
use crate::failure::Failure;

/// When the process started (set first thing in `main`), for the start-up
/// time reported with `--verbose`.
pub static PROCESS_START: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();

/// Runs the front-end, printing to `out` (stdout, or a test's buffer).
pub(crate) fn run_to(
    cli: &Cli,
    session: SessionConfig,
    backend: &mut dyn CaptureBackend,
    clock: &dyn Clock,
    stop: &AtomicBool,
    out: &mut dyn Write,
) -> Result<(), Failure> {
    let started_at = clock.wall();
    let t0 = clock.now();
    let deadline = cli.duration.map(|d| t0 + Duration::from_secs_f64(d));
    let mut engine = Engine::new(backend, session);
    let verbose = cli.verbose;
    let window = engine.run(clock, deadline, stop, |e| {
        if verbose && e.reads() == 1 {
            let since = PROCESS_START.get().copied().unwrap_or(t0);
            eprintln!(
                "netoproc: first complete read after {:.1} ms",
                since.elapsed().as_secs_f64() * 1000.0
            );
        }
        Ok::<(), Failure>(())
    })?;
    engine
        .final_read()
        .context("final read of the kernel counters")?;
    // Processes whose kernel record was lost (or that predate their first
    // socket's record) are looked up while they still exist.
    engine.name_processes();
    let lost = engine.losses()?;
    let mut report = engine.ledger().report();
    engine.identify(&mut report);
    cli.selection().apply(&mut report);

    let info = engine.info();
    let meta = Meta {
        version: env!("CARGO_PKG_VERSION").to_string(),
        capture_mode: info.mode.to_string(),
        hooks: info.hooks.to_string(),
        live_read: info.live_read.map(str::to_string),
        kernel: engine
            .procfs()
            .kernel_release()
            .unwrap_or_else(|_| "unknown".into()),
        duration_s: window.duration.as_secs_f64(),
        started_at,
        interrupted: window.interrupted,
        lost,
        connections_folded: engine.folded(),
        processes_folded: engine.ledger().processes_folded(),
        degraded: info.degraded.clone(),
        programs: info.programs.clone(),
        attribution: engine.attribution(),
        namespaces: engine.namespaces_seen(),
    };
    let (dns_report, remote_hosts) = match engine.dns_report(&report) {
        Some((d, hosts)) => (Some(d), Some(hosts)),
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
        group_by: cli.group_by,
    };
    let life_report = engine.lifecycle();
    let (sources, unavailable) = crate::watch::lifecycle_sources(engine.info());
    let life = LifecycleSection {
        sources: &sources,
        unavailable: &unavailable,
        steps_dropped: engine.lifecycle_dropped(),
        report: &life_report,
    };
    match write_snapshot_with_lifecycle(out, cli.format, &snap, Some(&life))
        .and_then(|()| out.flush().map_err(Into::into))
    {
        Ok(()) => Ok(()),
        Err(e) => Err(Failure::Runtime(
            anyhow::Error::new(e).context("writing the snapshot"),
        )),
    }
}

#[cfg(test)]
#[path = "snapshot_tests.rs"]
mod tests;
