//! End-to-end: AF_PACKET capture with netoproc itself inside a network
//! namespace of its own (`ip netns exec`), as in a container without the
//! host network. A file of its own so that no other test's traffic runs
//! beside it (test binaries run one after another): AF_PACKET captures every
//! namespace, and the bulk flows of the main AF_PACKET suite would load the
//! attribution this test measures. Needs root; fails under `CI=true`
//! without it. Run: `cargo test -p netoproc-e2e --test capture_afpacket_netns`.

#[allow(dead_code)]
mod common;

use common::strings;

use common::mode::Mode;
use common::netns::Netns;
use common::scenarios as sc;
use common::{root_or_skip, scenario};

#[test]
/// netoproc in AF_PACKET mode started inside a network namespace of its own
/// (`ip netns exec`: a container without the host network). The proc
/// connector exists only in the initial namespace: netoproc opens it there,
/// so one-socket DNS queries and 1 ms connections keep their owners (≥ 90%
/// of their bytes on the right pid, as in the initial namespace), and long
/// flows stay within 0.5%.
fn netoproc_inside_a_non_initial_network_namespace() {
    let test = "afpacket_inside_netns";
    if !root_or_skip(test) {
        return;
    }
    common::netoproc_bin();
    let ns = Netns::new("afrunner");
    let wrap = |mode: Mode| Mode {
        wrapper: strings(&["ip", "netns", "exec", &ns.name]),
        ..mode
    };
    // As in the initial namespace, one netoproc per scenario and the same
    // bounds: the short-lived ones at least 90% on the right pid (the goal
    // is 95%; a loaded 2-core machine misses it in either namespace), the
    // long flows within 0.5%.
    // (50 ms processes are left out here as in the initial namespace: under
    // CPU load AF_PACKET misses some of them in either namespace.)
    let short: [fn() -> common::scenario::Scenario; 2] = [sc::dns, sc::tcp_short_connections];
    for build in short {
        let report = scenario::run_in(&wrap(Mode::afpacket(0.90)), vec![build()]);
        let degraded: Vec<_> = report
            .meta
            .degraded
            .iter()
            .filter(|d| d.as_str().is_some_and(|s| s.contains("proc connector")))
            .collect();
        assert!(degraded.is_empty(), "{test}: {degraded:?}");
    }
    scenario::run_in(
        &wrap(Mode::afpacket_exact()),
        vec![sc::tcp_bulk_v4(), sc::udp(), sc::second_namespace()],
    );
    drop(ns);
}
