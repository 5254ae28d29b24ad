//! The TSV format, for `awk -F'\t'`, `cut` and spreadsheets:
//!
//! - Lines starting with `#` are comments. They come only before the first
//!   header and carry the run's metadata: `# netoproc <version>
//!   capture=<mode> hooks=<hooks> kernel=<release> duration_s=<s> ...`,
//!   `# lost <name>=<count> ...` (every loss counter), with AF_PACKET
//!   capture `# attribution <name>=<value> ...` (how owners were found),
//!   and one `# degraded <reason>` per degraded feature.
//! - Then the process table: one header line, one tab-separated line per
//!   process, raw integers without units, `cmdline` last.
//! - With connections: a blank line, then the connection table the same way
//!   (unknown addresses are `*`), `remote_host` last (the name a DNS answer
//!   gave the remote address, `*` when none did).
//! - `--view dns` prints DNS tables instead of these (see `dns.rs`).
//!
//! Strings from outside (task names, command lines, DNS names, kernel
//! strings) are written with [`netoproc_core::escape::reversible`]: a tab,
//! a line break or any other control character is written `\xHH` (`\x09`,
//! `\x0a`, `\x1b`), a bidi control `\u{202e}`, and a backslash `\\`. So a
//! row is always one line with a fixed number of fields, no field starts a
//! `#` line, and `netoproc_core::escape::unescape` gives back the exact
//! string.

use std::io::{self, Write};

use netoproc_core::model::Counters;

use netoproc_core::escape::reversible;

use crate::cell::addr;
use crate::meta::{attribution_text, folded_text, loss_fields, processes_folded_text};
use crate::Snapshot;

const COUNTER_COLUMNS: &str = "tx_bytes\trx_bytes\ttx_packets\trx_packets\t\
                               tx_wire_bytes\trx_wire_bytes\ttx_calls\trx_calls";

pub(crate) fn write(out: &mut dyn Write, snap: &Snapshot) -> io::Result<()> {
    write_comments(out, snap)?;

    writeln!(out, "pid\tprocess\tuid\t{COUNTER_COLUMNS}\tcmdline")?;
    for p in &snap.report.processes {
        writeln!(
            out,
            "{}\t{}\t{}\t{}\t{}",
            p.pid,
            reversible(&p.process),
            p.uid.map_or_else(String::new, |u| u.to_string()),
            Fields(&p.counters),
            reversible(&p.cmdline),
        )?;
    }

    if snap.connections {
        writeln!(out)?;
        writeln!(
            out,
            "protocol\tfamily\tlocal\tremote\tstate\tpid\tprocess\t{COUNTER_COLUMNS}\tcookie\tremote_host"
        )?;
        for c in &snap.report.connections {
            writeln!(
                out,
                "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}",
                c.protocol.as_str(),
                c.family.as_str(),
                addr(c.local),
                addr(c.remote),
                reversible(c.state),
                c.pid,
                reversible(&c.process),
                Fields(&c.counters),
                c.cookie,
                snap.remote_host(c.remote).map_or("*".into(), reversible),
            )?;
        }
    }
    Ok(())
}

pub(crate) fn write_comments(out: &mut dyn Write, snap: &Snapshot) -> io::Result<()> {
    let m = snap.meta;
    writeln!(
        out,
        "# netoproc {} capture={} hooks={} kernel={} duration_s={} started_at={} interrupted={}",
        reversible(&m.version),
        reversible(&m.capture_mode),
        reversible(&m.hooks),
        reversible(&m.kernel),
        m.duration_text(),
        m.started_at_rfc3339(),
        m.interrupted,
    )?;
    write!(out, "# lost")?;
    for (name, value, _) in loss_fields(&m.lost) {
        write!(out, " {name}={value}")?;
    }
    writeln!(out)?;
    if m.connections_folded > 0 {
        writeln!(out, "# {}", folded_text(m.connections_folded))?;
    }
    if m.processes_folded > 0 {
        writeln!(out, "# {}", processes_folded_text(m.processes_folded))?;
    }
    if let Some(a) = &m.attribution {
        writeln!(out, "# attribution {}", attribution_text(a))?;
    }
    for reason in &m.degraded {
        writeln!(out, "# degraded {}", reversible(reason))?;
    }
    Ok(())
}

/// The eight counters, tab-separated, in [`COUNTER_COLUMNS`] order.
struct Fields<'a>(&'a Counters);

impl std::fmt::Display for Fields<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let c = self.0;
        write!(
            f,
            "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}",
            c.tx_bytes,
            c.rx_bytes,
            c.tx_packets,
            c.rx_packets,
            c.tx_wire_bytes,
            c.rx_wire_bytes,
            c.tx_calls,
            c.rx_calls
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Meta;
    use netoproc_core::report::{ProcessRow, Report};

    fn render(report: &Report, connections: bool) -> String {
        let meta = Meta {
            version: "0.1.0".into(),
            capture_mode: "ebpf".into(),
            hooks: "fentry".into(),
            kernel: "6.8.0".into(),
            duration_s: 2.5,
            ..Meta::default()
        };
        let snap = Snapshot {
            meta: &meta,
            report,
            connections,
            dns: None,
            remote_hosts: None,
            view: crate::View::Processes,
        };
        let mut buf = Vec::new();
        write(&mut buf, &snap).unwrap();
        String::from_utf8(buf).unwrap()
    }

    #[test]
    fn comments_precede_the_header_and_rows_have_fixed_fields() {
        let report = Report {
            processes: vec![ProcessRow {
                pid: 7,
                process: "we\tird".into(),
                cmdline: "sh -c 'echo a\tb\nc'".into(),
                uid: Some(1000),
                start_time_ns: None,
                cgroup_id: 3,
                sockets: 1,
                counters: Counters {
                    tx_bytes: 1536,
                    rx_calls: 4,
                    ..Counters::default()
                },
            }],
            ..Report::default()
        };
        let text = render(&report, false);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            "# netoproc 0.1.0 capture=ebpf hooks=fentry kernel=6.8.0 duration_s=2.500 \
             started_at=1970-01-01T00:00:00Z interrupted=false"
        );
        assert!(lines[1].starts_with("# lost ringbuf_events=0 socket_storage_failures=0 "));
        assert!(lines[1].ends_with(" dns_packets_dropped=0"));
        assert_eq!(
            lines[2],
            "pid\tprocess\tuid\ttx_bytes\trx_bytes\ttx_packets\trx_packets\t\
             tx_wire_bytes\trx_wire_bytes\ttx_calls\trx_calls\tcmdline"
        );
        assert_eq!(
            lines[3],
            "7\twe\\x09ird\t1000\t1536\t0\t0\t0\t0\t0\t0\t4\tsh -c 'echo a\\x09b\\x0ac'"
        );
        let fields: Vec<&str> = lines[3].split('\t').collect();
        let cmdline = netoproc_core::escape::unescape(fields[11]);
        assert_eq!(cmdline.as_deref(), Some("sh -c 'echo a\tb\nc'"));
        assert_eq!(lines.len(), 4);
        assert_eq!(lines[3].split('\t').count(), lines[2].split('\t').count());
    }

    #[test]
    fn connections_follow_a_blank_line_with_star_for_unknown() {
        use netoproc_core::model::{Family, Protocol};
        use netoproc_core::report::ConnectionRow;
        let report = Report {
            connections: vec![ConnectionRow {
                protocol: Protocol::Udp,
                family: Family::Ipv6,
                local: Some("[fd00::1]:5353".parse().unwrap()),
                remote: None,
                state: "open",
                pid: 0,
                process: String::new(),
                cookie: 99,
                counters: Counters::default(),
            }],
            ..Report::default()
        };
        let text = render(&report, true);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[3], "");
        assert!(lines[4].starts_with("protocol\tfamily\tlocal\tremote\tstate\tpid\tprocess\t"));
        assert!(lines[4].ends_with("\trx_calls\tcookie\tremote_host"));
        assert_eq!(
            lines[5],
            "udp\tipv6\t[fd00::1]:5353\t*\topen\t0\t\t0\t0\t0\t0\t0\t0\t0\t0\t99\t*"
        );
        assert_eq!(lines[5].split('\t').count(), lines[4].split('\t').count());
        // Without the flag there is no connection table at all.
        assert_eq!(render(&report, false).lines().count(), 3);
    }
}
