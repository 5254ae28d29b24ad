//! End-to-end in AF_PACKET mode: the scenarios of `capture.rs` run with
//! `--capture-mode afpacket` and checked with packet capture's tolerances
//! (`common::mode`): long flows within 0.5% of the generators' payload
//! bytes and wire bytes within 0.5% of the packet counter; 300 short
//! connections and 120 one-socket DNS-style queries at least 90% on the
//! right pid. Then `auto` with BPF denied (capabilities dropped with
//! `capsh`): it must say on stderr that it fell back and why, and still
//! attribute a loopback flow; and an unprivileged user running a copy of
//! the binary with file capabilities (`setcap`, `setpriv`) must attribute
//! root's flows the same. `doctor` without BPF privileges must choose
//! AF_PACKET, and an interface that exists nowhere is a usage error (exit
//! 2). Needs root; skips otherwise, except under
//! `CI=true` where it fails. Run as root:
//! `cargo build -p netoproc && cargo test -p netoproc-e2e --test capture_afpacket`.

// Each test file uses a different part of the shared harness.
#[allow(dead_code)]
mod common;

use common::strings;

use std::os::unix::fs::PermissionsExt;
use std::process::Command;

use common::mode::Mode;
use common::netns::Netns;
use common::scenarios as sc;
use common::{root_or_skip, run_test_in, scenario};

#[test]
fn tcp_ipv4_bulk_over_veth_with_wire_bytes() {
    run_test_in("afpacket_tcp_ipv4_bulk", &Mode::afpacket_exact(), || {
        vec![sc::tcp_bulk_v4()]
    });
}

#[test]
fn tcp_over_loopback_in_one_namespace() {
    run_test_in("afpacket_tcp_loopback", &Mode::afpacket_exact(), || {
        vec![sc::tcp_loopback()]
    });
}

#[test]
fn tcp_ipv6_over_veth() {
    run_test_in("afpacket_tcp_ipv6", &Mode::afpacket_exact(), || {
        vec![sc::tcp_bulk_v6()]
    });
}

#[test]
fn udp_connected_and_unconnected_sendto_four_ports() {
    run_test_in("afpacket_udp", &Mode::afpacket_exact(), || vec![sc::udp()]);
}

#[test]
fn tcp_sendfile() {
    run_test_in("afpacket_sendfile", &Mode::afpacket_exact(), || {
        vec![sc::sendfile()]
    });
}

#[test]
fn traffic_from_a_second_namespace() {
    run_test_in("afpacket_second_namespace", &Mode::afpacket_exact(), || {
        vec![sc::second_namespace()]
    });
}

#[test]
fn tcp_300_short_connections_from_one_process() {
    run_test_in(
        "afpacket_300_short_connections",
        &Mode::afpacket(0.90),
        || vec![sc::tcp_short_connections()],
    );
}

#[test]
fn dns_style_queries_each_on_a_fresh_socket() {
    run_test_in("afpacket_dns_style_queries", &Mode::afpacket(0.90), || {
        vec![sc::dns()]
    });
}

/// True if `tool` runs; otherwise fails under `CI=true`, or skips.
fn tool_or_skip(test: &str, tool: &str, package: &str) -> bool {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        assert!(
            !std::env::var("CI").is_ok_and(|v| v == "true"),
            "{test}: {tool} is not installed and CI=true forbids skipping: apt-get install {package}"
        );
        eprintln!("skipping {test}: {tool} not found (apt-get install {package})");
    }
    found
}

#[test]
fn auto_falls_back_to_afpacket_when_bpf_is_denied() {
    let test = "auto_fallback_without_bpf";
    if !root_or_skip(test) || !tool_or_skip(test, "capsh", "libcap2-bin") {
        return;
    }
    common::netoproc_bin();
    // netoproc runs in the flow's namespace: without CAP_SYS_ADMIN it
    // cannot enter others.
    let ns = Netns::new("fallback");
    let mode = Mode {
        wrapper: strings(&[
            "ip",
            "netns",
            "exec",
            &ns.name,
            "capsh",
            "--drop=cap_bpf,cap_sys_admin,cap_perfmon",
            "--",
            "-c",
            "exec \"$0\" \"$@\"",
        ]),
        args: Vec::new(),
        ..Mode::afpacket_exact()
    };
    let report = scenario::run_in(&mode, vec![sc::tcp_loopback_in(ns)]);
    let said: Vec<&String> = report
        .stderr
        .iter()
        .filter(|l| l.starts_with("netoproc: eBPF unavailable ("))
        .collect();
    assert_eq!(
        said.len(),
        1,
        "one line must say why eBPF is not used; stderr: {:#?}",
        report.stderr
    );
    assert!(
        said[0].ends_with("; capturing with AF_PACKET") && said[0].contains("not permitted"),
        "{}",
        said[0]
    );
}

#[test]
fn unprivileged_user_with_file_capabilities() {
    let test = "unprivileged_with_file_capabilities";
    if !root_or_skip(test)
        || !tool_or_skip(test, "setcap", "libcap2-bin")
        || !tool_or_skip(test, "setpriv", "util-linux")
    {
        return;
    }
    // A copy the unprivileged user can run, with the AF_PACKET set of
    // capabilities (scripts/install-linux.sh grants the same).
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let bin = dir.path().join("netoproc");
    std::fs::copy(common::netoproc_bin(), &bin).expect("copy netoproc");
    std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).unwrap();
    let caps = "cap_net_raw,cap_net_admin,cap_sys_ptrace,cap_dac_read_search+ep";
    let set = Command::new("setcap").arg(caps).arg(&bin).status();
    assert!(set.is_ok_and(|s| s.success()), "setcap {caps} failed");

    let ns = Netns::new("caps");
    let mode = Mode {
        bin: Some(bin),
        wrapper: strings(&[
            "ip",
            "netns",
            "exec",
            &ns.name,
            "setpriv",
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
        ]),
        ..Mode::afpacket_exact()
    };
    // The generators run as root; netoproc as nobody must name them.
    let report = scenario::run_in(&mode, vec![sc::tcp_loopback_in(ns)]);
    let a = report
        .meta
        .attribution
        .expect("AF_PACKET reports attribution");
    assert!(
        a["flows_resolved"].as_u64().unwrap_or(0) >= 2,
        "the loopback sockets were not found live: {a}"
    );
}

#[test]
fn doctor_chooses_afpacket_without_bpf_and_says_why() {
    let test = "doctor_without_bpf";
    if !root_or_skip(test) || !tool_or_skip(test, "capsh", "libcap2-bin") {
        return;
    }
    let bin = common::netoproc_bin();
    let o = Command::new("capsh")
        .args(["--drop=cap_bpf,cap_sys_admin,cap_perfmon", "--", "-c"])
        .arg("exec \"$0\" doctor --format json")
        .arg(&bin)
        .output()
        .expect("run capsh");
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(0), "doctor failed: {err}");
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("doctor JSON");
    assert_eq!(v["auto"]["mode"], "afpacket", "{}", v["auto"]);
    let reason = v["auto"]["reason"].as_str().unwrap_or_default();
    assert!(reason.contains("not permitted"), "{reason}");
    let check = |name: &str| {
        v["checks"]
            .as_array()
            .and_then(|c| c.iter().find(|c| c["name"] == name))
            .map(|c| c["verdict"].clone())
    };
    assert_eq!(check("af_packet"), Some("ok".into()));
    assert!(check("proc_connector").is_some());
}

#[test]
fn an_interface_that_exists_nowhere_is_a_usage_error() {
    if !root_or_skip("unknown_interface") {
        return;
    }
    let o = Command::new(common::netoproc_bin())
        .args([
            "--capture-mode",
            "afpacket",
            "--interface",
            "np-nosuch0",
            "-d",
            "1",
        ])
        .output()
        .expect("run netoproc");
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("no network interface named \"np-nosuch0\""),
        "{err}"
    );
}
