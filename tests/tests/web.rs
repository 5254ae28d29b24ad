//! End-to-end test of the agent's web page in a real browser: `netoproc
//! serve` (eBPF mode) while two copies of the traffic generator, under
//! names of their own, move a known number of bytes over loopback in a
//! network namespace this test makes; headless Chromium
//! (`tests/web/check_page.py`) must show the client's row with exactly the
//! bytes the client counted and its container (the client runs in a
//! cgroup with Docker's layout) as `docker:<short id>`, sort by a column both ways, filter, show a
//! process named with markup (`<b>np'"&…`) as text with no element made
//! from it, draw every tab — the history tab with its chart and the client
//! among the top talkers (the agent keeps history with 10 s "minutes"),
//! its drill-down listing its remotes — and end with no error in the
//! browser console.
//! Screenshots of each tab are kept in `<target>/tmp/web-screenshots/`.
//! Needs root, the browsers, their WebDrivers and Selenium; skips otherwise, except
//! under `CI=true` where it fails. Run as root:
//! `cargo build -p netoproc && cargo test -p netoproc-e2e --test web`.

// Each test file uses a different part of the shared harness.
#[allow(dead_code)]
mod common;

use common::{named_trafficgen, strings};

use common::browser::{self, Browser};
use common::cgroups::{fake_id, Cgroup};
use common::generator::Generator;
use common::mode::Mode;
use common::netns::Netns;
use common::serve_run::ServeRun;
use common::{root_or_skip, scaled};

const MIB: u64 = 1 << 20;

#[test]
fn the_page_shows_live_traffic_in_a_real_browser() {
    let test = "the_page_shows_live_traffic_in_a_real_browser";
    if !root_or_skip(test) {
        return;
    }
    let browsers: Vec<Browser> = [Browser::Chromium, Browser::Firefox]
        .into_iter()
        .filter(|&b| browser::available(test, b))
        .collect();
    if browsers.is_empty() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let id = std::process::id() % 100_000;
    let client_bin = named_trafficgen(tmp.path(), &format!("npwebc{id}"));
    let server_bin = named_trafficgen(tmp.path(), &format!("npwebs{id}"));
    let hostile_bin = named_trafficgen(tmp.path(), &format!("<b>np'\"&{id}"));
    let client_name = client_bin
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    let hostile_name = hostile_bin
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();

    let ns = Netns::new("web");
    // History with 10 s "minutes" (a hidden test-only flag), so the page's
    // history tab has the traffic within seconds.
    let agent = ServeRun::start(&Mode::ebpf(), &["--history-minute-secs", "10"]);

    let send = scaled(8 * MIB, MIB).to_string();
    let reply = scaled(2 * MIB, 256 * 1024).to_string();
    let srv = "127.0.0.1:5321";
    let mut server = Generator::spawn_bin(
        "server",
        &ns.name,
        &server_bin,
        &strings(&["tcp-server", "--listen", srv, "--reply", &reply]),
    );
    server.wait_ready();
    // The client runs in a group with Docker's layout: the page must name
    // its container as every other output does.
    let docker_id = fake_id("web");
    let cg = Cgroup::new(&format!("system.slice/docker-{docker_id}.scope"));
    let client = Generator::spawn_bin_in_cgroup(
        "client",
        &ns.name,
        &client_bin,
        &cg,
        &strings(&["tcp-client", "--connect", srv, "--send", &send]),
    )
    .finish();
    server.finish();
    assert!(client.tx_bytes > 0 && client.rx_bytes > 0);

    // The process named with markup: a short exchange of its own.
    let hsrv = "127.0.0.1:5322";
    let mut hostile = Generator::spawn_bin(
        "hostile-server",
        &ns.name,
        &hostile_bin,
        &strings(&["tcp-server", "--listen", hsrv, "--reply", "10"]),
    );
    hostile.wait_ready();
    Generator::spawn_bin(
        "hostile-client",
        &ns.name,
        &hostile_bin,
        &strings(&["tcp-client", "--connect", hsrv, "--send", "777"]),
    )
    .finish();
    hostile.finish();

    let shots = browser::shots_dir(test);
    let args = [
        "--url".into(),
        format!("http://{}", agent.addr),
        "--process".into(),
        client_name.clone(),
        "--sent".into(),
        client.tx_bytes.to_string(),
        "--received".into(),
        client.rx_bytes.to_string(),
        "--hostile".into(),
        hostile_name,
        "--workload".into(),
        format!("docker:{}", &docker_id[..12]),
        "--history-process".into(),
        client_name.clone(),
    ];
    for b in browsers {
        let report = browser::check_page(b, &args, &shots);
        eprintln!("page check: {report}; screenshots in {}", shots.display());
        for tab in [
            "processes",
            "connections",
            "dns",
            "interfaces",
            "health",
            "history",
        ] {
            assert!(
                shots.join(b.name()).join(format!("{tab}.png")).is_file(),
                "no screenshot of {tab} in {}",
                b.name()
            );
        }
    }
    agent.stop();
}
