//! The pretty format, for a person at a terminal: a line naming the run
//! (mode, hooks, kernel, window), the process table in human units, the
//! connection table when asked for (a remote named by a DNS answer shows
//! the name after the address), then what was lost or unattributed and
//! what ran degraded. Nothing here is meant to be parsed; scripts use TSV or
//! JSON. `--view dns` is written by `dns.rs`.

use std::io::{self, Write};

use netoproc_core::report::Report;

use netoproc_core::escape::for_terminal;

use crate::cell::{addr, user_and_owner};
use crate::meta::{attribution_text, folded_text, loss_fields, processes_folded_text, LossUnit};
use crate::table::{Align, Table};
use crate::units::human_bytes;
use crate::{Meta, Snapshot};
use netoproc_core::group::{group, GroupBy, GroupRow};

/// Lines of the process table stay within this many characters; the
/// command line is cut to fit.
pub(crate) const MAX_WIDTH: usize = 160;

pub(crate) fn write(out: &mut dyn Write, snap: &Snapshot) -> io::Result<()> {
    let (meta, report) = (snap.meta, snap.report);
    write_title(out, meta)?;
    writeln!(out)?;

    let show_connections = snap.connections && !report.connections.is_empty();
    if report.processes.is_empty() {
        if show_connections {
            writeln!(
                out,
                "no process could be named for the traffic captured in {:.1} s",
                meta.duration_s
            )?;
        } else {
            writeln!(out, "no traffic captured in {:.1} s", meta.duration_s)?;
        }
    } else if snap.group_by != GroupBy::Process {
        writeln!(out, "by {}:", snap.group_by.name())?;
        group_table(&group(&report.processes, snap.group_by)).write(out, MAX_WIDTH)?;
    } else {
        process_table(report).write(out, MAX_WIDTH)?;
    }

    if show_connections {
        writeln!(out)?;
        connection_table(snap).write(out, MAX_WIDTH)?;
    } else if snap.connections && !report.processes.is_empty() {
        writeln!(out)?;
        writeln!(out, "no connection has a known address")?;
    }

    writeln!(out)?;
    write_footer(out, meta)
}

pub(crate) fn write_title(out: &mut dyn Write, m: &Meta) -> io::Result<()> {
    write!(
        out,
        "netoproc {}: {} capture, {} hooks, kernel {}, {:.1} s from {}",
        for_terminal(&m.version),
        for_terminal(&m.capture_mode),
        for_terminal(&m.hooks),
        for_terminal(&m.kernel),
        m.duration_s,
        m.started_at_rfc3339(),
    )?;
    if m.interrupted {
        write!(out, " (interrupted)")?;
    }
    writeln!(out)
}

/// The process table; USER and OWNER (container, service, pod) columns
/// only when some row's identity was read.
fn process_table(report: &Report) -> Table {
    use Align::{Left, Right};
    let identities = report.processes.iter().any(|p| p.identity.is_some());
    let mut columns = vec![
        ("PID", Right),
        ("PROCESS", Left),
        ("UID", Right),
        ("TX", Right),
        ("RX", Right),
        ("TX PKTS", Right),
        ("RX PKTS", Right),
        ("TX WIRE", Right),
        ("RX WIRE", Right),
    ];
    if identities {
        columns.extend([("USER", Left), ("OWNER", Left)]);
    }
    columns.push(("CMDLINE", Left));
    let mut t = Table::new(&columns);
    for p in &report.processes {
        let c = &p.counters;
        let mut row = vec![
            p.pid.to_string(),
            for_terminal(&p.process).into_owned(),
            p.uid.map_or_else(|| "?".to_string(), |u| u.to_string()),
            human_bytes(c.tx_bytes),
            human_bytes(c.rx_bytes),
            c.tx_packets.to_string(),
            c.rx_packets.to_string(),
            human_bytes(c.tx_wire_bytes),
            human_bytes(c.rx_wire_bytes),
        ];
        if identities {
            let (user, owner) = user_and_owner(p);
            let owner = if owner.is_empty() { "-".into() } else { owner };
            row.push(for_terminal(&user).into_owned());
            row.push(for_terminal(&owner).into_owned());
        }
        row.push(for_terminal(&p.cmdline).into_owned());
        t.push(row);
    }
    t
}

fn group_table(groups: &[GroupRow]) -> Table {
    use Align::{Left, Right};
    let mut t = Table::new(&[
        ("GROUP", Left),
        ("PROCS", Right),
        ("SOCKETS", Right),
        ("TX", Right),
        ("RX", Right),
        ("TX PKTS", Right),
        ("RX PKTS", Right),
        ("TX WIRE", Right),
        ("RX WIRE", Right),
        ("KEY", Left),
    ]);
    for g in groups {
        let c = &g.counters;
        t.push(vec![
            for_terminal(&g.name).into_owned(),
            g.processes.to_string(),
            g.sockets.to_string(),
            human_bytes(c.tx_bytes),
            human_bytes(c.rx_bytes),
            c.tx_packets.to_string(),
            c.rx_packets.to_string(),
            human_bytes(c.tx_wire_bytes),
            human_bytes(c.rx_wire_bytes),
            for_terminal(&g.key).into_owned(),
        ]);
    }
    t
}

fn connection_table(snap: &Snapshot) -> Table {
    use Align::{Left, Right};
    let mut t = Table::new(&[
        ("PROTO", Left),
        ("LOCAL", Left),
        ("REMOTE", Left),
        ("STATE", Left),
        ("PID", Right),
        ("PROCESS", Left),
        ("TX", Right),
        ("RX", Right),
    ]);
    for c in &snap.report.connections {
        let remote = match snap.remote_host(c.remote) {
            Some(host) => format!("{} ({})", addr(c.remote), for_terminal(host)),
            None => addr(c.remote),
        };
        let (pid, process) = if c.pid == 0 {
            ("-".to_string(), "-".to_string())
        } else {
            (c.pid.to_string(), for_terminal(&c.process).into_owned())
        };
        t.push(vec![
            c.protocol.as_str().to_string(),
            addr(c.local),
            remote,
            c.state.to_string(),
            pid,
            process,
            human_bytes(c.counters.tx_bytes),
            human_bytes(c.counters.rx_bytes),
        ]);
    }
    t
}

pub(crate) fn write_footer(out: &mut dyn Write, m: &Meta) -> io::Result<()> {
    let lost: Vec<String> = loss_fields(&m.lost)
        .into_iter()
        .filter(|(_, value, _)| *value != 0)
        .map(|(name, value, unit)| match unit {
            LossUnit::Events => format!("{name}={value}"),
            LossUnit::Bytes => format!("{name}={}", human_bytes(value)),
        })
        .collect();
    if lost.is_empty() {
        writeln!(out, "lost/unattributed: nothing lost")?;
    } else {
        writeln!(out, "lost/unattributed: {}", lost.join(", "))?;
    }
    if m.connections_folded > 0 {
        writeln!(out, "{}", folded_text(m.connections_folded))?;
    }
    if m.processes_folded > 0 {
        writeln!(out, "{}", processes_folded_text(m.processes_folded))?;
    }
    if let Some(a) = &m.attribution {
        writeln!(out, "attribution: {}", attribution_text(a))?;
    }
    for reason in &m.degraded {
        writeln!(out, "degraded: {}", for_terminal(reason))?;
    }
    Ok(())
}
