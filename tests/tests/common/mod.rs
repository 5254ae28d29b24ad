//! Shared machinery of the end-to-end tests: the root check, where the
//! binaries are, the knobs read from the environment (`NETOPROC_BIN`,
//! `NETOPROC_HOOKS`, `NETOPROC_EXPECT_HOOKS`, `NETOPROC_LIVE_READ`, `NETOPROC_EXPECT_LIVE_READ`,
//! `NETOPROC_E2E_SCALE`, `CI`), and the entry point every
//! test calls. The parts live in submodules by concept.

pub mod browser;
pub mod cgroups;
pub mod dnsmasq;
pub mod expect;
pub mod generator;
pub mod http;
pub mod link;
pub mod mode;
pub mod netns;
pub mod netoproc_run;
pub mod postgres;
pub mod prometheus;
pub mod scenario;
pub mod scenarios;
pub mod serve_run;

use std::path::PathBuf;

use mode::Mode;
use scenario::Scenario;

/// Runs the scenarios `build` makes under one netoproc, if we are root.
pub fn run_test(test: &str, build: impl FnOnce() -> Vec<Scenario>) {
    run_test_in(test, &Mode::ebpf(), build);
}

/// [`run_test`] with netoproc capturing in `mode`, checked with its
/// tolerances.
pub fn run_test_in(test: &str, mode: &Mode, build: impl FnOnce() -> Vec<Scenario>) {
    if !root_or_skip(test) {
        return;
    }
    netoproc_bin(); // fails early, before any namespace exists, if missing
    scenario::run_in(mode, build());
}

/// True if root. Otherwise fails under `CI=true`, or prints a skip notice.
pub fn root_or_skip(test: &str) -> bool {
    netoproc_testkit::root_or_skip(test, "eBPF and network namespaces (run with sudo)")
}

/// `v` as owned strings (a generator's arguments).
pub fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

/// A copy of `np-trafficgen` in `dir` named `name`, cut to the 15 bytes
/// of a task name: its file name becomes the process name.
pub fn named_trafficgen(dir: &std::path::Path, name: &str) -> PathBuf {
    let mut cut = String::new();
    for c in name.chars() {
        if cut.len() + c.len_utf8() > 15 {
            break;
        }
        cut.push(c);
    }
    let path = dir.join(cut);
    std::fs::copy(trafficgen(), &path).expect("copy np-trafficgen");
    path
}

/// [`named_trafficgen`] named `np<tag><pid>`, so that no other process on
/// the host (another test's agent sees every one) shares its name.
pub fn named_generator(dir: &std::path::Path, tag: &str) -> PathBuf {
    named_trafficgen(dir, &format!("np{tag}{}", std::process::id() % 1_000_000))
}

/// `np-trafficgen`, built by cargo with this test.
pub fn trafficgen() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_np-trafficgen"))
}

/// `$NETOPROC_BIN`, or `netoproc` in this test's target profile directory.
pub fn netoproc_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("NETOPROC_BIN") {
        return PathBuf::from(p);
    }
    // The test runs from <target>/<profile>/deps/capture-<hash>.
    let exe = std::env::current_exe().expect("current_exe");
    let bin = exe
        .parent()
        .and_then(|deps| deps.parent())
        .map(|profile| profile.join("netoproc"))
        .expect("test executable in <target>/<profile>/deps");
    assert!(
        bin.exists(),
        "{} not found; build it first: cargo build -p netoproc (or set NETOPROC_BIN)",
        bin.display()
    );
    bin
}

/// `$NETOPROC_HOOKS` (passed as `--hooks` and checked in meta.hooks).
pub fn hooks() -> Option<String> {
    std::env::var("NETOPROC_HOOKS")
        .ok()
        .filter(|h| !h.is_empty())
}

/// `$NETOPROC_EXPECT_HOOKS`: what `--hooks auto` must pick here (checked
/// in meta.hooks, not forced; `$NETOPROC_HOOKS` wins).
pub fn expected_hooks() -> Option<String> {
    std::env::var("NETOPROC_EXPECT_HOOKS")
        .ok()
        .filter(|h| !h.is_empty())
}

/// Whether `meta.hooks` (`got`) is what `--hooks want` asks for: `calls`
/// is any rung of per-call hooks.
pub fn hooks_match(want: &str, got: &str) -> bool {
    want == got || (want == "calls" && ["tracepoint", "fentry", "kprobe"].contains(&got))
}

/// `$NETOPROC_LIVE_READ` (passed as `--live-read`, checked in
/// meta.live_read).
pub fn live_read() -> Option<String> {
    std::env::var("NETOPROC_LIVE_READ")
        .ok()
        .filter(|h| !h.is_empty())
}

/// `$NETOPROC_EXPECT_LIVE_READ`: the path `auto` must pick here (checked
/// in meta.live_read, not forced).
pub fn expected_live_read() -> Option<String> {
    std::env::var("NETOPROC_EXPECT_LIVE_READ")
        .ok()
        .filter(|h| !h.is_empty())
}

/// `$NETOPROC_E2E_SCALE` (default 1.0): multiplies every byte size.
fn scale() -> f64 {
    match std::env::var("NETOPROC_E2E_SCALE") {
        Ok(v) => match v.parse::<f64>() {
            Ok(s) if s.is_finite() && s > 0.0 => s,
            _ => panic!("NETOPROC_E2E_SCALE must be a positive number, got {v:?}"),
        },
        Err(_) => 1.0,
    }
}

/// `bytes` × scale, but at least `min`.
pub fn scaled(bytes: u64, min: u64) -> u64 {
    ((bytes as f64 * scale()) as u64).max(min)
}
