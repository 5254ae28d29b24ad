//! The JSON format parsed back: one object with `meta`, `processes`,
//! `connections` and `total`, addresses as strings or null.

mod common;

use netoproc_core::report::Report;
use netoproc_export::Format;
use serde_json::{json, Value};

fn parse(connections: bool) -> (String, Value) {
    let text = common::render(
        Format::Json,
        &common::meta(),
        &common::report(),
        connections,
    );
    let value = serde_json::from_str(&text).expect("output is one JSON value");
    (text, value)
}

#[test]
fn one_object_with_the_documented_keys() {
    let (text, v) = parse(true);
    assert!(text.ends_with('\n'));
    assert_eq!(text.trim_end().lines().count(), 1);
    let mut keys: Vec<&str> = v.as_object().unwrap().keys().map(|k| k.as_str()).collect();
    keys.sort_unstable();
    assert_eq!(keys, ["connections", "meta", "processes", "total"]);
}

#[test]
fn meta_carries_the_run() {
    let (_, v) = parse(false);
    let m = &v["meta"];
    assert_eq!(m["version"], "0.1.0");
    assert_eq!(m["capture_mode"], "ebpf");
    assert_eq!(m["hooks"], "tracepoint");
    assert_eq!(m["kernel"], "6.8.0-45-generic");
    assert_eq!(m["duration_s"], 10.004);
    assert_eq!(m["started_at"], "2026-11-23T04:12:59Z");
    assert_eq!(m["interrupted"], false);
    assert_eq!(m["lost"]["unattributed_rx_wire_bytes"], 1536);
    assert_eq!(m["lost"]["ringbuf_events"], 0);
    assert_eq!(m["connections_folded"], 3);
    assert_eq!(m["degraded"].as_array().unwrap().len(), 1);
    assert_eq!(m["programs"][1]["attached"], false);
    assert_eq!(m["programs"][1]["error"], "EPERM");
}

#[test]
fn processes_have_flat_counters() {
    let (_, v) = parse(false);
    let p = &v["processes"][0];
    let mut keys: Vec<&str> = p.as_object().unwrap().keys().map(|k| k.as_str()).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "cgroup_id",
            "cmdline",
            "pid",
            "process",
            "rx_bytes",
            "rx_calls",
            "rx_packets",
            "rx_wire_bytes",
            "sockets",
            "start_time_ns",
            "tx_bytes",
            "tx_calls",
            "tx_packets",
            "tx_wire_bytes",
            "uid",
        ]
    );
    assert_eq!(p["pid"], 4242);
    assert_eq!(p["uid"], 1000);
    assert_eq!(p["start_time_ns"], 1_000_000);
    // An unknown uid is null, never 0 (root).
    assert!(v["processes"][1]["uid"].is_null());
    assert_eq!(p["rx_bytes"], 157_286_400);
    assert_eq!(v["total"]["tx_bytes"], 1_234 + 512);
}

#[test]
fn connections_are_empty_unless_asked_for() {
    let (_, v) = parse(false);
    assert_eq!(v["connections"], json!([]));
    assert_eq!(v["processes"].as_array().unwrap().len(), 2);
}

#[test]
fn connections_name_addresses_as_strings_or_null() {
    let (_, v) = parse(true);
    let c = v["connections"].as_array().unwrap();
    assert_eq!(c.len(), 3);
    assert_eq!(c[0]["protocol"], "tcp");
    assert_eq!(c[0]["family"], "ipv6");
    assert_eq!(c[0]["local"], "[2001:db8::10]:51544");
    assert_eq!(c[0]["remote"], "[2606:2800:220:1::1946]:443");
    assert_eq!(c[0]["state"], "closed");
    assert_eq!(c[0]["cookie"], 40961);
    assert_eq!(c[1]["local"], "0.0.0.0:5353");
    assert_eq!(c[1]["remote"], "192.168.1.1:53");
    assert_eq!(c[2]["remote"], Value::Null);
    assert_eq!(c[2]["tx_bytes"], 128);
    assert_eq!(c[2]["process"], "systemd-resolve");
}

#[test]
fn empty_report_is_still_one_complete_object() {
    let text = common::render(Format::Json, &common::meta(), &Report::default(), true);
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["processes"], json!([]));
    assert_eq!(v["connections"], json!([]));
    assert_eq!(v["total"]["rx_bytes"], 0);
}
