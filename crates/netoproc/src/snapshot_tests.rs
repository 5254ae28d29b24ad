//! The snapshot front-end end to end without root: the scripted backend
//! through the real engine loop (four reads on a stepping clock), printed
//! as JSON, TSV and the pretty table, each compared with an insta snapshot.
//! Nothing of the host is read: an empty proc root, a `/sys` fixture.

use std::sync::atomic::AtomicBool;

use netoproc_engine::fake::{FakeBackend, StepClock};

use super::run_to;
use crate::fake_script::{backend, Roots};
use crate::session::{session_config, FrontEnd};

/// `netoproc <args>` on the script (the stop flag set before the start
/// when `stopped`); what it printed and the backend after the run.
fn run_script(args: &[&str], stopped: bool) -> (String, FakeBackend) {
    let roots = Roots::new();
    let cli = roots.cli(args);
    let clock = StepClock::new();
    let mut backend = backend(&clock);
    let session = session_config(&cli, FrontEnd::Snapshot);
    let mut out = Vec::new();
    let stop = AtomicBool::new(stopped);
    run_to(&cli, session, &mut backend, &clock, &stop, &mut out).expect("the snapshot is written");
    let out = String::from_utf8(out)
        .expect("UTF-8 output")
        .replace(env!("CARGO_PKG_VERSION"), "[version]");
    (out, backend)
}

/// `netoproc -d 4 <args>`: four seconds of the script, what it printed.
fn snapshot(args: &[&str]) -> String {
    let mut argv = vec!["-d", "4"];
    argv.extend_from_slice(args);
    let (out, backend) = run_script(&argv, false);
    assert!(backend.reads >= 4, "only {} reads", backend.reads);
    out
}

#[test]
fn json_over_four_reads() {
    let (out, backend) = run_script(&["-d", "4", "--format", "json"], false);
    let v: serde_json::Value = serde_json::from_str(&out).expect("one JSON object");
    // The closed firefox connection's bytes are in its process's total.
    let firefox = v["processes"]
        .as_array()
        .expect("processes")
        .iter()
        .find(|p| p["process"] == "firefox")
        .expect("firefox row");
    let sent: u64 = backend
        .sockets
        .iter()
        .filter(|s| s.pid == 1717)
        .map(|s| s.total_after(backend.reads).rx_bytes)
        .sum();
    assert_eq!(firefox["rx_bytes"].as_u64(), Some(sent), "{firefox}");
    insta::assert_snapshot!(out);
}

#[test]
fn tsv_with_connections() {
    insta::assert_snapshot!(snapshot(&["--format", "tsv", "--connections"]));
}

#[test]
fn pretty_with_connections() {
    insta::assert_snapshot!(snapshot(&["--connections"]));
}

#[test]
fn a_stop_request_ends_the_window_early() {
    // No --duration: only the stop flag ends it; set before the start, the
    // window ends at once and the final read still counts the first read.
    let (out, backend) = run_script(&["--format", "tsv"], true);
    assert!(backend.reads <= 2, "{} reads", backend.reads);
    assert!(out.contains("curl"), "{out}");
}
