//! Turns what the generators recorded into expectations about netoproc's
//! report, and checks them with the [`Mode`]'s tolerances (eBPF: exactly):
//! per pid, `tx_bytes`/`rx_bytes`; per remote of an unconnected UDP
//! socket; wire bytes against the packet counter (eBPF within 1%). Also
//! checks the run's metadata (eBPF: `no_owner_bytes == 0` and the hooks
//! asked for; otherwise the capture mode). Prints a table of expected vs
//! got and panics listing every mismatch.

use std::fmt::Write;

use super::mode::Mode;
use super::netoproc_run::{NpReport, Row};
use super::scenario::Outcome;

enum Kind {
    /// The process row(s) of the pid.
    Process,
    /// The connection rows of the pid with this remote.
    Remote(String),
    /// The process row's wire bytes, within 1%.
    Wire,
}

pub struct Expectation {
    label: String,
    pid: u32,
    kind: Kind,
    tx: u64,
    rx: u64,
}

/// Everything one scenario's generators promise about the report.
pub fn from_outcome(o: &Outcome) -> Vec<Expectation> {
    let mut out = Vec::new();
    for (label, r) in &o.reports {
        assert_eq!(
            r.unanswered, 0,
            "{label}: {} datagrams got no reply; the test setup, not netoproc, is at fault",
            r.unanswered
        );
        match &r.children {
            Some(kids) => {
                assert!(!kids.is_empty(), "{label}: no children reported");
                for (i, k) in kids.iter().enumerate() {
                    out.push(Expectation {
                        label: format!("{label}#{i}"),
                        pid: k.pid,
                        kind: Kind::Process,
                        tx: k.tx_bytes,
                        rx: k.rx_bytes,
                    });
                }
            }
            None => out.push(Expectation {
                label: label.clone(),
                pid: r.pid,
                kind: Kind::Process,
                tx: r.tx_bytes,
                rx: r.rx_bytes,
            }),
        }
        for (remote, d) in r.remotes.iter().flatten() {
            out.push(Expectation {
                label: label.clone(),
                pid: r.pid,
                kind: Kind::Remote(remote.clone()),
                tx: d.tx,
                rx: d.rx,
            });
        }
    }
    if let Some((of, w)) = &o.wire {
        assert_eq!(
            w.drops, 0,
            "{}: the packet counter dropped frames",
            o.scenario
        );
        let (_, r) = o
            .reports
            .iter()
            .find(|(l, _)| l == of)
            .unwrap_or_else(|| panic!("{}: no client {of} for the wire count", o.scenario));
        out.push(Expectation {
            label: format!("{of} (wire)"),
            pid: r.pid,
            kind: Kind::Wire,
            tx: w.tx_wire_bytes,
            rx: w.rx_wire_bytes,
        });
    }
    out
}

/// (tx, rx) netoproc reported for `e`, or `None` if it has no such row.
fn got(report: &NpReport, e: &Expectation) -> Option<(u64, u64)> {
    let sum = |rows: Vec<&Row>, wire: bool| {
        if rows.is_empty() {
            return None;
        }
        Some(rows.iter().fold((0, 0), |(t, r), row| {
            if wire {
                (t + row.tx_wire_bytes, r + row.rx_wire_bytes)
            } else {
                (t + row.tx_bytes, r + row.rx_bytes)
            }
        }))
    };
    let procs = || report.processes.iter().filter(|p| p.pid == e.pid);
    match &e.kind {
        Kind::Process => sum(procs().collect(), false),
        Kind::Wire => sum(procs().collect(), true),
        Kind::Remote(remote) => sum(
            report
                .connections
                .iter()
                .filter(|c| c.pid == e.pid && c.remote.as_deref() == Some(remote.as_str()))
                .collect(),
            false,
        ),
    }
}

fn matches(mode: &Mode, kind: &Kind, want: u64, have: u64) -> bool {
    match kind {
        Kind::Wire => mode.wire_match(want, have),
        _ => mode.bytes_match(want, have),
    }
}

/// eBPF: every program loads on every kernel the suite runs on (6.1 in the
/// VM, the host's), or the report says what is missing. A kernel that
/// refuses an iterator ("read: ...") costs only the reading path, never a
/// count (the counts are still checked exactly), and `--hooks calls` climbs
/// past per-call rungs the kernel lacks ("rung skipped, ..."): those entries
/// are expected.
pub fn unexpected_degraded(meta: &super::netoproc_run::Meta) -> Vec<&serde_json::Value> {
    meta.degraded
        .iter()
        .filter(|d| {
            !d.as_str()
                .is_some_and(|s| s.starts_with("read: ") || s.starts_with("rung skipped, "))
        })
        .collect()
}

/// Checks `report` against every expectation; panics with the mismatches.
pub fn check_in(mode: &Mode, report: &NpReport, exps: &[Expectation]) {
    let mut problems = Vec::new();
    let meta = &report.meta;
    let unexpected = unexpected_degraded(meta);
    if mode.check_hooks && !unexpected.is_empty() {
        problems.push(format!("meta.degraded: expected none, got {unexpected:?}"));
    }
    if let Some(h) = mode.hooks.as_deref().filter(|_| mode.check_hooks) {
        if !super::hooks_match(h, &meta.hooks) {
            problems.push(format!("meta.hooks: expected {h:?}, got {:?}", meta.hooks));
        }
    }
    if let Some(want) = mode.live_read.as_deref() {
        if meta.live_read.as_deref() != Some(want) {
            problems.push(format!(
                "meta.live_read: expected {want:?}, got {:?}",
                meta.live_read
            ));
        }
    }
    if let Some(m) = mode.capture_mode {
        if meta.capture_mode != m {
            problems.push(format!(
                "meta.capture_mode: expected {m:?}, got {:?}",
                meta.capture_mode
            ));
        }
    }
    let no_owner = meta.lost.get("no_owner_bytes").copied();
    if mode.no_owner_is_zero && no_owner != Some(0) {
        problems.push(format!(
            "meta.lost.no_owner_bytes: expected 0, got {no_owner:?}"
        ));
    }

    let mut table = String::new();
    let _ = writeln!(
        table,
        "{:<44} {:>8} {:<26} {:>12} {:>12} {:>12} {:>12}",
        "generator", "pid", "check", "tx expected", "tx got", "rx expected", "rx got"
    );
    for e in exps {
        let what = match &e.kind {
            Kind::Process => mode.bytes_label(),
            Kind::Wire => format!("wire bytes (±{}%)", mode.wire * 100.0),
            Kind::Remote(r) => format!("to/from {r}"),
        };
        let g = got(report, e);
        let (gt, gr) = match g {
            Some((t, r)) => (t.to_string(), r.to_string()),
            None => ("(no row)".into(), "(no row)".into()),
        };
        let ok = g.is_some_and(|(t, r)| {
            matches(mode, &e.kind, e.tx, t) && matches(mode, &e.kind, e.rx, r)
        });
        let line = format!(
            "{:<44} {:>8} {:<26} {:>12} {:>12} {:>12} {:>12}{}",
            e.label,
            e.pid,
            what,
            e.tx,
            gt,
            e.rx,
            gr,
            if ok { "" } else { "  <-- MISMATCH" }
        );
        if !ok {
            problems.push(line.clone());
        }
        let _ = writeln!(table, "{line}");
    }
    eprintln!(
        "netoproc: mode {} hooks {} interrupted {} degraded {:?}\nlost: {:?}\nattribution: {}\n{table}",
        meta.capture_mode,
        meta.hooks,
        meta.interrupted,
        meta.degraded,
        meta.lost,
        meta.attribution
            .as_ref()
            .map_or_else(|| "-".to_string(), |a| a.to_string())
    );
    if !problems.is_empty() {
        panic!(
            "{} mismatch(es) between the generators and netoproc:\n{}\n\nall checks:\n{table}",
            problems.len(),
            problems.join("\n")
        );
    }
}
