//! The DNS observatory's output: the JSON `dns` section, `remote_host` on
//! connections, and `--view dns` in TSV and pretty (pinned with insta).

mod common;

use netoproc_core::group::GroupBy;
use netoproc_export::{Format, Snapshot, View};
use serde_json::Value;

fn render(fmt: Format, view: View, connections: bool) -> String {
    let (meta, report, dns, hosts) = (
        common::meta(),
        common::report(),
        common::dns(),
        common::remote_hosts(),
    );
    common::render_snapshot(
        fmt,
        &Snapshot {
            meta: &meta,
            report: &report,
            connections,
            dns: Some(&dns),
            remote_hosts: Some(&hosts),
            view,
            group_by: GroupBy::Process,
        },
    )
}

#[test]
fn json_has_a_dns_section_with_the_documented_keys() {
    let v: Value = serde_json::from_str(&render(Format::Json, View::Processes, true)).unwrap();
    let dns = &v["dns"];
    let q = &dns["queries"][0];
    for key in [
        "pid",
        "process",
        "name",
        "type",
        "rcode",
        "answers",
        "latency_ms",
        "resolver",
        "transport",
        "status",
        "id",
    ] {
        assert!(q.get(key).is_some(), "query without {key}: {q}");
    }
    assert_eq!(q["name"], "downloads.example.org");
    assert_eq!(q["type"], "AAAA");
    assert_eq!(q["resolver"], "127.0.0.53:53");
    assert_eq!(q["transport"], "udp");
    assert_eq!(q["answers"][1], "2606:2800:220:1::1946");
    let t = &dns["queries"][2];
    assert_eq!(
        (
            t["status"].as_str(),
            t["rcode"].is_null(),
            t["latency_ms"].is_null()
        ),
        (Some("timeout"), true, true)
    );
    assert_eq!(dns["resolvers"][0]["failures"]["timeout"], 1);
    assert_eq!(dns["resolvers"][0]["failure_rate"], 0.5);
    assert_eq!(dns["processes"][1]["doh_connections"], 1);
    assert_eq!(dns["stats"]["malformed"], 1);
}

#[test]
fn connections_named_by_dns_carry_remote_host() {
    let v: Value = serde_json::from_str(&render(Format::Json, View::Processes, true)).unwrap();
    let c = v["connections"].as_array().unwrap();
    assert_eq!(c[0]["remote_host"], "downloads.example.org");
    assert!(c[1].get("remote_host").is_none());
    let tsv = render(Format::Tsv, View::Processes, true);
    let row = tsv.lines().find(|l| l.starts_with("tcp\t")).unwrap();
    assert!(row.ends_with("\t40961\tdownloads.example.org"), "{row}");
    let pretty = render(Format::Pretty, View::Processes, true);
    assert!(pretty.contains("[2606:2800:220:1::1946]:443 (downloads.example.org)"));
}

#[test]
fn tsv_dns_view() {
    let out = render(Format::Tsv, View::Dns, false);
    let blocks: Vec<&str> = out.split("\n\n").collect();
    assert_eq!(blocks.len(), 3);
    for block in blocks {
        let lines: Vec<&str> = block.lines().filter(|l| !l.starts_with('#')).collect();
        let n = lines[0].split('\t').count();
        assert!(lines.iter().all(|l| l.split('\t').count() == n), "{block}");
    }
    insta::assert_snapshot!(out);
}

#[test]
fn pretty_dns_view() {
    let out = render(Format::Pretty, View::Dns, false);
    assert!(out.lines().all(|l| l.chars().count() <= 160));
    insta::assert_snapshot!(out);
}

#[test]
fn dns_view_without_dns() {
    let (meta, report) = (common::meta(), common::report());
    let snap = Snapshot {
        meta: &meta,
        report: &report,
        connections: false,
        dns: None,
        remote_hosts: None,
        view: View::Dns,
        group_by: GroupBy::Process,
    };
    assert!(common::render_snapshot(Format::Pretty, &snap).contains("no DNS query seen in 10.0 s"));
    let tsv = common::render_snapshot(Format::Tsv, &snap);
    assert_eq!(
        tsv.lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
            .count(),
        3,
        "headers only"
    );
    let json = common::render_snapshot(Format::Json, &snap);
    assert!(!json.contains("\"dns\""));
}
