//! Stream mode (`netoproc stream`): capture until `--duration` or Ctrl-C
//! and print, every `--interval`, one JSON object on one line — what each
//! process (or each group, with `--group-by`) moved in that interval, the
//! interval's total and the losses so far — flushed line by line, for `jq`
//! and log shippers. A closed pipe (`| head`) ends it quietly (`main`).
//!
//! Each line's figures are differences of the ledger's cumulative process
//! rows (keyed by pid and start time), so the lines of a run add up exactly
//! to what a snapshot of the same window reports; closed sockets are
//! retired after each line (their bytes stay in their process's row), so a
//! stream that runs for days holds only what is open.

use std::collections::HashMap;
use std::io::{self, Write};
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use anyhow::Context;
use netoproc_core::backend::CaptureBackend;
use netoproc_core::clock::Clock;
use netoproc_core::group::{group, GroupBy, GroupRow};
use netoproc_core::report::{Losses, ProcessRow};
use netoproc_core::Counters;
use netoproc_engine::{Engine, SessionConfig};
use serde::Serialize;

use crate::cli::Cli;
use crate::failure::Failure;

/// One line of the stream.
#[derive(Debug, Serialize)]
struct Line {
    /// When the interval ended (RFC 3339 UTC, seconds).
    time: String,
    /// How long it was, in seconds.
    interval_s: f64,
    /// `process`, or what `groups` are grouped by.
    group_by: &'static str,
    /// With `--group-by process` (the default): the processes that moved
    /// anything in the interval, their counters for the interval only.
    #[serde(skip_serializing_if = "Option::is_none")]
    processes: Option<Vec<ProcessRow>>,
    /// With another `--group-by`: those processes summed per group.
    #[serde(skip_serializing_if = "Option::is_none")]
    groups: Option<Vec<GroupRow>>,
    /// Everything the shown processes moved in the interval.
    total: Counters,
    /// What was lost since the start (the snapshot's `meta.lost`).
    lost_since_start: Losses,
}

/// The interval's figures of each process, from the cumulative rows.
#[derive(Debug, Default)]
struct Differ {
    /// Each process's cumulative counters at the previous line.
    seen: HashMap<(u32, u64), Counters>,
}

impl Differ {
    /// The rows of `now` that moved anything since the last call, with
    /// what they moved; forgets processes no longer listed.
    fn step(&mut self, now: Vec<ProcessRow>) -> Vec<ProcessRow> {
        let mut next = HashMap::with_capacity(now.len());
        let mut moved = Vec::new();
        for mut row in now {
            let key = (row.pid, row.start_time_ns.unwrap_or(0));
            let before = self.seen.get(&key).copied().unwrap_or_default();
            next.insert(key, row.counters);
            let delta = row.counters.saturating_sub(&before);
            if !delta.is_zero() {
                row.counters = delta;
                moved.push(row);
            }
        }
        self.seen = next;
        let volume = |r: &ProcessRow| r.counters.tx_bytes + r.counters.rx_bytes;
        moved.sort_by(|a, b| volume(b).cmp(&volume(a)).then(a.pid.cmp(&b.pid)));
        moved
    }
}

/// Runs the front-end, printing to `out` (stdout, or a test's buffer).
pub(crate) fn run_to(
    cli: &Cli,
    mut session: SessionConfig,
    backend: &mut dyn CaptureBackend,
    clock: &dyn Clock,
    stop: &AtomicBool,
    out: &mut dyn Write,
) -> Result<(), Failure> {
    let period = Duration::from_secs_f64(cli.interval);
    // Read at least once a line.
    session.read_interval = session.read_interval.min(period);
    let t0 = clock.now();
    let deadline = cli.duration.map(|d| t0 + Duration::from_secs_f64(d));
    let mut engine = Engine::new(backend, session);
    let mut differ = Differ::default();
    let mut last = t0;
    let mut next = t0 + period;
    engine.run(clock, deadline, stop, |e| {
        let now = clock.now();
        if now < next {
            return Ok(());
        }
        while next <= now {
            next += period;
        }
        emit(e, cli, clock, &mut differ, &mut last, out)
    })?;
    engine
        .final_read()
        .context("final read of the kernel counters")?;
    emit(&mut engine, cli, clock, &mut differ, &mut last, out)
}

/// Prints the line of the interval that ends now.
fn emit(
    e: &mut Engine,
    cli: &Cli,
    clock: &dyn Clock,
    differ: &mut Differ,
    last: &mut Instant,
    out: &mut dyn Write,
) -> Result<(), Failure> {
    let now = clock.now();
    e.name_processes();
    let mut report = e.ledger().report();
    e.identify(&mut report);
    cli.selection().apply(&mut report);
    let moved = differ.step(report.processes);
    let mut total = Counters::default();
    for r in &moved {
        total.add(&r.counters);
    }
    let (processes, groups) = match cli.group_by {
        GroupBy::Process => (Some(moved), None),
        by => (None, Some(group(&moved, by))),
    };
    let line = Line {
        time: humantime::format_rfc3339_seconds(clock.wall()).to_string(),
        interval_s: now.saturating_duration_since(*last).as_secs_f64(),
        group_by: cli.group_by.name(),
        processes,
        groups,
        total,
        lost_since_start: e.losses()?,
    };
    *last = now;
    // Closed sockets' bytes stay in their process's row.
    e.retire_closed();
    let written = serde_json::to_writer(&mut *out, &line)
        .map_err(io::Error::from)
        .and_then(|()| out.write_all(b"\n"))
        .and_then(|()| out.flush());
    written.map_err(|err| Failure::Runtime(anyhow::Error::new(err).context("writing the stream")))
}

#[cfg(test)]
#[path = "stream_tests.rs"]
mod tests;
