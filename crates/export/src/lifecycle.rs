//! TCP lifecycle and health in the outputs: the `lifecycle` object of the
//! JSON snapshot, the "TCP health" table of the pretty view, and the
//! JSON-lines stream of `netoproc watch` (one object per lifecycle step,
//! one per process and interval). TSV carries none of it: its one header
//! line is the process table's.

use std::io::{self, Write};

use netoproc_core::escape::for_terminal;
use netoproc_core::lifecycle::{
    event_row, ConnectionRow, LifeEvent, LifecycleReport, ProcessHealth, Quantiles,
};
use serde::Serialize;

use crate::table::{Align, Table};
use crate::ExportError;

/// The `lifecycle` object of a snapshot.
#[derive(Debug, Clone, Serialize)]
pub struct LifecycleSection<'a> {
    /// Where each field came from, e.g. `tp_btf/inet_sock_set_state`.
    pub sources: &'a [(&'static str, &'static str)],
    /// Fields this capture cannot fill, with the reason.
    pub unavailable: &'a [String],
    /// Lifecycle steps lost (ring buffer full, backlogs full).
    pub steps_dropped: u64,
    /// Connections and per-process rollups.
    #[serde(flatten)]
    pub report: &'a LifecycleReport,
}

/// Milliseconds with three significant digits or so (loopback RTTs are
/// tens of microseconds).
fn ms(v: f64) -> String {
    if v < 1.0 {
        format!("{v:.3}")
    } else if v < 100.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.0}")
    }
}

fn q(v: &Quantiles) -> String {
    match (v.p50, v.p99) {
        (Some(a), Some(b)) => format!("{}/{}", ms(a), ms(b)),
        _ => "-".into(),
    }
}

/// The per-process health table (pretty view); nothing when empty.
pub(crate) fn write_pretty(out: &mut dyn Write, s: &LifecycleSection) -> io::Result<()> {
    if s.report.processes.is_empty() {
        return Ok(());
    }
    writeln!(out)?;
    writeln!(
        out,
        "TCP health (ms as p50/p99; failures as refused/reset/timeout/unreachable/aborted/other)"
    )?;
    let mut t = Table::new(&[
        ("PID", Align::Right),
        ("OPENED", Align::Right),
        ("ACCEPTED", Align::Right),
        ("OK", Align::Right),
        ("FAILURES", Align::Right),
        ("HANDSHAKE", Align::Right),
        ("RTT", Align::Right),
        ("RESPONSE", Align::Right),
        ("RETRANS%", Align::Right),
        ("PROCESS", Align::Left),
    ]);
    for p in &s.report.processes {
        let f = |k: &str| p.failures.get(k).copied().unwrap_or(0);
        t.push(vec![
            p.pid.to_string(),
            p.connections_opened.to_string(),
            p.connections_accepted.to_string(),
            p.successes.to_string(),
            format!(
                "{}/{}/{}/{}/{}/{}",
                f("refused"),
                f("reset"),
                f("timeout"),
                f("unreachable"),
                f("aborted_by_exit"),
                f("other")
            ),
            q(&p.handshake_ms),
            q(&p.rtt_ms),
            q(&p.response_ms),
            p.retransmit_ratio
                .map_or("-".into(), |r| format!("{:.2}", r * 100.0)),
            for_terminal(&p.comm).into_owned(),
        ]);
    }
    t.write(out, crate::pretty::MAX_WIDTH)?;
    if s.steps_dropped > 0 {
        writeln!(out, "lifecycle steps lost: {}", s.steps_dropped)?;
    }
    Ok(())
}

#[derive(Serialize)]
struct StepLine<'a> {
    event: &'static str,
    /// Seconds since the Unix epoch.
    time: f64,
    #[serde(flatten)]
    row: &'a ConnectionRow,
}

/// One lifecycle step as one JSON line. `time` is wall-clock seconds.
pub fn write_step(out: &mut dyn Write, ev: &LifeEvent, time: f64) -> Result<(), ExportError> {
    let row = event_row(ev);
    serde_json::to_writer(
        &mut *out,
        &StepLine {
            event: ev.step.as_str(),
            time,
            row: &row,
        },
    )?;
    out.write_all(b"\n")?;
    Ok(())
}

#[derive(Serialize)]
struct SummaryLine<'a> {
    event: &'static str,
    time: f64,
    interval_s: f64,
    /// Connections opened and accepted per second in this interval.
    opened_per_s: f64,
    accepted_per_s: f64,
    #[serde(flatten)]
    process: &'a ProcessHealth,
}

/// One process's rollup (since the start) as one JSON line, with the rates
/// of this interval (`opened`/`accepted`: how many in it).
pub fn write_summary(
    out: &mut dyn Write,
    p: &ProcessHealth,
    time: f64,
    interval_s: f64,
    opened: u64,
    accepted: u64,
) -> Result<(), ExportError> {
    let per_s = |n: u64| {
        if interval_s > 0.0 {
            n as f64 / interval_s
        } else {
            0.0
        }
    };
    serde_json::to_writer(
        &mut *out,
        &SummaryLine {
            event: "summary",
            time,
            interval_s,
            opened_per_s: per_s(opened),
            accepted_per_s: per_s(accepted),
            process: p,
        },
    )?;
    out.write_all(b"\n")?;
    Ok(())
}

#[cfg(test)]
#[path = "lifecycle_tests.rs"]
mod tests;
