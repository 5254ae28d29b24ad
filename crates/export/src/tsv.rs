//! The TSV format, for `awk -F'\t'`, `cut` and spreadsheets:
//!
//! - Lines starting with `#` are comments. They come only before the first
//!   header and carry the run's metadata: `# netoproc <version>
//!   capture=<mode> hooks=<hooks> kernel=<release> duration_s=<s> ...`,
//!   `# lost <name>=<count> ...` (every loss counter), with AF_PACKET
//!   capture `# attribution <name>=<value> ...` (how owners were found),
//!   and one `# degraded <reason>` per degraded feature.
//! - Then the process table: one header line, one tab-separated line per
//!   process, raw integers without units, `cmdline`, then the identity
//!   columns (added after `cmdline`, so earlier field numbers stay):
//!   `user` (name), `workload` (`docker`, `kubernetes`, `podman`, `lxc`,
//!   `service`, `session`, `host`), `owner` (its label: `docker:web`,
//!   `nginx.service`), `container_id`, `pod` (`namespace/name` or
//!   `pod:<uid>`), `netns`, `container_pid`, `ppid`, `cgroup`; `*` where
//!   unknown or not applicable.
//! - With `--group-by` other than `process`: a `# group_by <what>` comment
//!   and the group table instead (`key`, `name`, `processes`, `sockets`,
//!   the counters), each group the exact sum of its processes.
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
use netoproc_core::group::{group, GroupBy};
use netoproc_core::report::ProcessRow;

const COUNTER_COLUMNS: &str = "tx_bytes\trx_bytes\ttx_packets\trx_packets\t\
                               tx_wire_bytes\trx_wire_bytes\ttx_calls\trx_calls";

pub(crate) fn write(out: &mut dyn Write, snap: &Snapshot) -> io::Result<()> {
    write_comments(out, snap)?;

    if snap.group_by != GroupBy::Process {
        writeln!(out, "# group_by {}", snap.group_by.name())?;
        writeln!(out, "key\tname\tprocesses\tsockets\t{COUNTER_COLUMNS}")?;
        for g in group(&snap.report.processes, snap.group_by) {
            writeln!(
                out,
                "{}\t{}\t{}\t{}\t{}",
                reversible(&g.key),
                reversible(&g.name),
                g.processes,
                g.sockets,
                Fields(&g.counters),
            )?;
        }
    } else {
        writeln!(
            out,
            "pid\tprocess\tuid\t{COUNTER_COLUMNS}\tcmdline\t{IDENTITY_COLUMNS}"
        )?;
        for p in &snap.report.processes {
            writeln!(
                out,
                "{}\t{}\t{}\t{}\t{}\t{}",
                p.pid,
                reversible(&p.process),
                p.uid.map_or_else(String::new, |u| u.to_string()),
                Fields(&p.counters),
                reversible(&p.cmdline),
                IdentityFields(p),
            )?;
        }
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

const IDENTITY_COLUMNS: &str =
    "user\tworkload\towner\tcontainer_id\tpod\tnetns\tcontainer_pid\tppid\tcgroup";

/// The identity columns of a process row, in [`IDENTITY_COLUMNS`] order.
struct IdentityFields<'a>(&'a ProcessRow);

impl std::fmt::Display for IdentityFields<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let star = || "*".to_string();
        let text = |s: Option<String>| {
            s.filter(|s| !s.is_empty())
                .map_or_else(star, |s| reversible(&s).into_owned())
        };
        let num = |n: Option<u64>| n.map_or_else(star, |n| n.to_string());
        let Some(id) = self.0.identity.as_deref() else {
            return write!(f, "*\t*\t*\t*\t*\t*\t*\t*\t*");
        };
        let w = &id.workload;
        write!(
            f,
            "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}",
            text(id.user.clone()),
            w.kind(),
            text(Some(w.label())),
            text(w.container_id().map(str::to_string)),
            text(w.pod_label()),
            num(id.netns),
            num(id.container_pid.map(u64::from)),
            num(id.ppid.map(u64::from)),
            text(Some(id.cgroup.clone())),
        )
    }
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
    use netoproc_core::workload::{ProcessIdentity, Workload};

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
            group_by: GroupBy::Process,
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
                identity: None,
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
             tx_wire_bytes\trx_wire_bytes\ttx_calls\trx_calls\tcmdline\t\
             user\tworkload\towner\tcontainer_id\tpod\tnetns\tcontainer_pid\tppid\tcgroup"
        );
        assert_eq!(
            lines[3],
            "7\twe\\x09ird\t1000\t1536\t0\t0\t0\t0\t0\t0\t4\tsh -c 'echo a\\x09b\\x0ac'\
             \t*\t*\t*\t*\t*\t*\t*\t*\t*"
        );
        let fields: Vec<&str> = lines[3].split('\t').collect();
        let cmdline = netoproc_core::escape::unescape(fields[11]);
        assert_eq!(cmdline.as_deref(), Some("sh -c 'echo a\tb\nc'"));
        assert_eq!(lines.len(), 4);
        assert_eq!(lines[3].split('\t').count(), lines[2].split('\t').count());
    }

    fn identified(pid: u32, tx: u64, workload: Workload, cgroup: &str) -> ProcessRow {
        ProcessRow {
            pid,
            process: "gen".into(),
            cmdline: String::new(),
            uid: Some(0),
            start_time_ns: Some(5),
            cgroup_id: 3,
            sockets: 1,
            counters: Counters {
                tx_bytes: tx,
                ..Counters::default()
            },
            identity: Some(std::sync::Arc::new(ProcessIdentity {
                cgroup: cgroup.into(),
                netns: Some(4026532001),
                user: Some("root".into()),
                ppid: Some(1),
                container_pid: Some(1),
                workload,
            })),
        }
    }

    #[test]
    fn identity_columns_are_escaped_and_groups_sum_their_rows() {
        let id = "4c01db0b339c2f8104fba08f6d3682da2bd8e369316bf60b7d9b3263896cf746";
        let docker = Workload::Docker {
            id: id.into(),
            name: Some("web".into()),
        };
        let report = Report {
            processes: vec![
                identified(1, 100, docker.clone(), "/system.slice/x\tand\nline"),
                identified(2, 50, docker, "/b"),
                identified(3, 7, Workload::Host, "/init.scope"),
            ],
            ..Report::default()
        };
        let text = render(&report, false);
        let lines: Vec<&str> = text.lines().collect();
        let row = lines[3];
        let fields: Vec<&str> = row.split('\t').collect();
        assert_eq!(fields.len(), lines[2].split('\t').count());
        assert_eq!(&fields[12..17], ["root", "docker", "docker:web", id, "*"]);
        assert_eq!(fields[20], "/system.slice/x\\x09and\\x0aline");

        let meta = Meta::default();
        let snap = Snapshot {
            meta: &meta,
            report: &report,
            connections: false,
            dns: None,
            remote_hosts: None,
            view: crate::View::Processes,
            group_by: GroupBy::Container,
        };
        let mut buf = Vec::new();
        write(&mut buf, &snap).unwrap();
        let text = String::from_utf8(buf).unwrap();
        let rows: Vec<Vec<&str>> = text
            .lines()
            .skip_while(|l| !l.starts_with("key\t"))
            .skip(1)
            .map(|l| l.split('\t').collect())
            .collect();
        assert_eq!(rows.len(), 2);
        assert_eq!(&rows[0][..5], [id, "docker:web", "2", "2", "150"]);
        assert_eq!(&rows[1][..5], ["(host)", "(host)", "1", "1", "7"]);
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
