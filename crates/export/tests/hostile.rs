//! Hostile names — a task name that clears the screen, a command line that
//! writes the clipboard (OSC 52) and reverses the text after it, a DNS name
//! and answer carrying escapes and tabs — in every format: pretty shows them
//! escaped and nothing a terminal would obey (pinned with insta), TSV keeps
//! every row's fields and reads back exactly, JSON stays valid and lossless.

mod common;

use netoproc_core::escape::{is_unsafe, unescape};
use netoproc_core::group::GroupBy;
use netoproc_core::report::Report;
use netoproc_dns::DnsReport;
use netoproc_export::{Format, Snapshot, View};
use std::collections::HashMap;
use std::net::IpAddr;

/// Clears the screen and homes the cursor.
const CLEAR: &str = "\u{1b}[2J\u{1b}[H";
/// Sets the clipboard to "pwned" (base64), ended by BEL.
const OSC52: &str = "\u{1b}]52;c;cHduZWQ=\u{7}";
/// Right-to-left override: `exe.txt` shows as `txt.exe`.
const RLO: &str = "\u{202e}";

fn hostile_name() -> String {
    format!("ev{CLEAR}il")
}

fn hostile_cmdline() -> String {
    format!("sh -c 'printf {OSC52}' \tinvoice{RLO}fdp.exe\nfake\trow")
}

fn hostile_dns_name() -> String {
    format!("a{RLO}moc.evil\t.example.")
}

fn hostile() -> (Report, DnsReport, HashMap<IpAddr, String>) {
    let mut report = common::report();
    report.processes[0].process = hostile_name();
    report.processes[0].cmdline = hostile_cmdline();
    report.connections[0].process = hostile_name();
    let mut dns = common::dns();
    dns.queries[0].process = hostile_name();
    dns.queries[0].name = hostile_dns_name();
    dns.queries[0].answers = vec![format!("CNAME x{OSC52}.example."), "\u{9b}31m".into()];
    dns.processes[1].process = hostile_name();
    let mut hosts = common::remote_hosts();
    for name in hosts.values_mut() {
        *name = hostile_dns_name();
    }
    (report, dns, hosts)
}

fn render(fmt: Format, view: View) -> String {
    let (report, dns, hosts) = hostile();
    let mut meta = common::meta();
    meta.degraded.push(format!("udp-remote: {CLEAR}"));
    common::render_snapshot(
        fmt,
        &Snapshot {
            meta: &meta,
            report: &report,
            connections: true,
            dns: Some(&dns),
            remote_hosts: Some(&hosts),
            view,
            group_by: GroupBy::Process,
        },
    )
}

/// Nothing a terminal obeys but the line ends the format writes itself.
fn assert_inert(out: &str) {
    for (n, line) in out.lines().enumerate() {
        let bad: Vec<char> = line
            .chars()
            .filter(|&c| is_unsafe(c) && c != '\t')
            .collect();
        assert!(bad.is_empty(), "line {n} holds {bad:?}: {line:?}");
    }
}

#[test]
fn pretty_processes_show_hostile_names_escaped() {
    let out = render(Format::Pretty, View::Processes);
    assert_inert(&out);
    assert!(!out.contains('\t'));
    assert!(out.contains("ev\\x1b[2J\\x1b[Hil"));
    assert!(out.contains("printf \\x1b]52;c;cHduZWQ=\\x07' \\x09invoice\\u{202e}fdp.exe"));
    assert!(out.contains("a\\u{202e}moc.evil\\x09.example."));
    insta::assert_snapshot!(out);
}

#[test]
fn pretty_dns_view_shows_hostile_names_escaped() {
    let out = render(Format::Pretty, View::Dns);
    assert_inert(&out);
    assert!(!out.contains('\t'));
    assert!(out.contains("CNAME x\\x1b]52;c;cHduZWQ=\\x07.example., \\x9b31m"));
    insta::assert_snapshot!(out);
}

#[test]
fn tsv_rows_keep_their_fields_and_read_back_exactly() {
    for view in [View::Processes, View::Dns] {
        let out = render(Format::Tsv, view);
        assert_inert(&out);
        let mut header = 0;
        for line in out.lines().filter(|l| !l.starts_with('#')) {
            let fields = line.split('\t').count();
            if line.is_empty() {
                header = 0;
            } else if header == 0 {
                header = fields;
            } else {
                assert_eq!(fields, header, "{line:?}");
            }
        }
    }
    let out = render(Format::Tsv, View::Processes);
    let curl = out.lines().find(|l| l.starts_with("4242\t")).unwrap();
    let fields: Vec<&str> = curl.split('\t').collect();
    assert_eq!(unescape(fields[1]), Some(hostile_name()));
    assert_eq!(unescape(fields[11]), Some(hostile_cmdline()));
    let conn = out.lines().find(|l| l.starts_with("tcp\t")).unwrap();
    let host = conn.rsplit('\t').next().unwrap();
    assert_eq!(unescape(host), Some(hostile_dns_name()));
    assert!(out.contains("# degraded udp-remote: \\x1b[2J\\x1b[H\n"));
}

#[test]
fn json_stays_valid_and_lossless() {
    let out = render(Format::Json, View::Processes);
    assert!(!out.contains('\u{1b}'), "serde_json escapes controls");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["processes"][0]["process"], hostile_name());
    assert_eq!(v["processes"][0]["cmdline"], hostile_cmdline());
    assert_eq!(v["dns"]["queries"][0]["name"], hostile_dns_name());
    assert_eq!(v["connections"][0]["remote_host"], hostile_dns_name());
}
