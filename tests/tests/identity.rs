//! End-to-end: who the traffic is for beyond the pid. Real cgroup v2 groups
//! with each runtime's path layout (Docker, containerd under Kubernetes,
//! Podman, a systemd service), one TCP client moved into each before it
//! starts, each in its own network namespace behind a veth pair to a server
//! in another; netoproc runs with `--group-by` and its groups must hold
//! exactly the client's bytes (eBPF) or within 1% (AF_PACKET), its process
//! rows the right workload, cgroup and namespace. Namespaces are made before
//! netoproc starts. Needs root; fails under `CI=true` without it. Run:
//! `cargo test -p netoproc-e2e --test identity`.

#[allow(dead_code)]
mod common;

use common::strings;

use std::os::unix::fs::MetadataExt;

use common::cgroups::{fake_id, fake_uuid, Cgroup};
use common::generator::{tcp_client_args, tcp_server_args, Generator};
use common::mode::Mode;
use common::netns::VethPair;
use common::netoproc_run::{NetoprocRun, NpReport};
use common::root_or_skip;
use common::serve_run::ServeRun;
use netoproc_e2e::tally::GenReport;

const SEND: u64 = 3 << 20;
const REPLY: u64 = 1 << 20;

/// One workload: its group, its client's namespace pair, what netoproc
/// must call it.
struct Workload {
    label: &'static str,
    /// `docker`, `kubernetes`, `podman`, `service`.
    kind: &'static str,
    container_id: Option<String>,
    pod_uid: Option<String>,
    unit: Option<String>,
    cg: Cgroup,
    pair: VethPair,
}

impl Workload {
    /// The key of this workload's group under `--group-by by`.
    fn group_key(&self, by: &str) -> String {
        match by {
            "container" => self.container_id.clone().expect("a container"),
            "pod" => self.pod_uid.clone().expect("a pod"),
            "service" => match &self.unit {
                Some(u) => u.clone(),
                // Containers group as their label (`docker:<12 hex>`).
                None => {
                    let id = self.container_id.as_deref().unwrap_or_default();
                    let prefix = match self.kind {
                        "kubernetes" => "k8s",
                        k => k,
                    };
                    format!("{prefix}:{}", &id[..12])
                }
            },
            "cgroup" => self.cg.path.clone(),
            other => panic!("no group key for {other}"),
        }
    }
}

fn workloads() -> Vec<Workload> {
    let docker = fake_id("docker");
    let k8s = fake_id("k8s");
    let pod = fake_uuid("pod");
    let podman = fake_id("podman");
    let unit = format!("np-e2e-{}.service", std::process::id());
    let pod_slice = pod.replace('-', "_");
    vec![
        Workload {
            label: "docker",
            kind: "docker",
            cg: Cgroup::new(&format!("system.slice/docker-{docker}.scope")),
            container_id: Some(docker),
            pod_uid: None,
            unit: None,
            pair: VethPair::new("iddock"),
        },
        Workload {
            label: "k8s",
            kind: "kubernetes",
            cg: Cgroup::new(&format!(
                "kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{pod_slice}.slice/cri-containerd-{k8s}.scope"
            )),
            container_id: Some(k8s),
            pod_uid: Some(pod),
            unit: None,
            pair: VethPair::new("idk8s"),
        },
        Workload {
            label: "podman",
            kind: "podman",
            cg: Cgroup::new(&format!("machine.slice/libpod-{podman}.scope")),
            container_id: Some(podman),
            pod_uid: None,
            unit: None,
            pair: VethPair::new("idpod"),
        },
        Workload {
            label: "service",
            kind: "service",
            cg: Cgroup::new(&format!("system.slice/{unit}")),
            container_id: None,
            pod_uid: None,
            unit: Some(unit),
            pair: VethPair::new("idsvc"),
        },
    ]
}

/// One test at a time: AF_PACKET sees every namespace's traffic, and the
/// groups' parents (`system.slice`) are shared.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// The start of every test here: root (or skip, or fail under `CI=true`),
/// the binary built, and the others waited for; `None` when skipping.
fn one_at_a_time(test: &str) -> Option<std::sync::MutexGuard<'static, ()>> {
    if !root_or_skip(test) {
        return None;
    }
    common::netoproc_bin();
    Some(ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner()))
}

/// A `tcp-server` at `srv` in `pair`'s namespace b replying [`REPLY`],
/// ready, and a `tcp-client` in namespace a and cgroup `cg` sending [`SEND`]
/// to it and holding the connection `hold_ms` after; both still running.
fn server_and_client(
    label: &str,
    pair: &VethPair,
    cg: &Cgroup,
    srv: &str,
    hold_ms: u64,
) -> (Generator, Generator) {
    let mut server = Generator::spawn(
        &format!("{label}/server"),
        &pair.b.name,
        &tcp_server_args(srv, REPLY, 0),
    );
    server.wait_ready();
    let client = Generator::spawn_in_cgroup(
        &format!("{label}/client"),
        &pair.a.name,
        cg,
        &tcp_client_args(srv, SEND, hold_ms),
    );
    (server, client)
}

/// Runs every workload's client and server under one netoproc grouping by
/// `by`; returns the report and each client's own count.
fn capture(mode: &Mode, by: &str, ws: &[Workload], hold_ms: u64) -> (NpReport, Vec<GenReport>) {
    let mut mode = mode.clone();
    mode.args.extend(strings(&["--group-by", by]));
    let np = NetoprocRun::start_in(&mode);
    let mut servers = Vec::new();
    let mut clients = Vec::new();
    for (i, w) in ws.iter().enumerate() {
        let srv = format!("{}:{}", w.pair.v4(2), 5301 + i);
        let (s, c) = server_and_client(w.label, &w.pair, &w.cg, &srv, hold_ms);
        servers.push(s);
        clients.push(c);
    }
    let counts: Vec<GenReport> = clients.into_iter().map(Generator::finish).collect();
    for s in servers {
        s.finish();
    }
    std::thread::sleep(std::time::Duration::from_millis(300));
    (np.stop(), counts)
}

/// Whether `have` is `want` (share 0) or within `share` of it.
fn close(want: u64, have: u64, share: f64) -> bool {
    want.abs_diff(have) as f64 <= want as f64 * share
}

fn check(test: &str, mode: &Mode, share: f64, hold_ms: u64, by: &str, ws: &[Workload]) {
    let (report, counts) = capture(mode, by, ws, hold_ms);
    let mut failures = Vec::new();
    for (w, c) in ws.iter().zip(&counts) {
        // The client's process row: its workload, cgroup and namespace.
        let row = report.processes.iter().find(|p| p.pid == c.pid);
        let id = row.and_then(|r| r.identity.as_ref());
        match id {
            None if row.is_none() => {
                failures.push(format!("{}: no process row for pid {}", w.label, c.pid))
            }
            None => failures.push(format!("{}: pid {} has no identity", w.label, c.pid)),
            Some(id) => {
                let wl = &id["workload"];
                if wl["kind"] != w.kind {
                    failures.push(format!("{}: workload {wl}", w.label));
                }
                let want_id = w.container_id.as_deref();
                let got_id = wl["id"].as_str().or(wl["container_id"].as_str());
                if got_id != want_id {
                    failures.push(format!("{}: container id {got_id:?}", w.label));
                }
                if let Some(pod) = &w.pod_uid {
                    if wl["pod_uid"] != pod.as_str() || wl["runtime"] != "containerd" {
                        failures.push(format!("{}: pod {wl}", w.label));
                    }
                }
                if let Some(unit) = &w.unit {
                    if wl["unit"] != unit.as_str() {
                        failures.push(format!("{}: unit {wl}", w.label));
                    }
                }
                if id["cgroup"] != w.cg.path.as_str() {
                    failures.push(format!(
                        "{}: cgroup {} not {}",
                        w.label, id["cgroup"], w.cg.path
                    ));
                }
                // The namespace the client ran in, as the kernel numbers it.
                let want_ns = std::fs::metadata(format!("/run/netns/{}", w.pair.a.name))
                    .map(|m| m.ino())
                    .expect("the client's namespace");
                let ns = id["netns"].as_u64().unwrap_or(0);
                if ns != want_ns || !report.meta.namespaces.contains(&ns) {
                    failures.push(format!(
                        "{}: netns {ns}, not {want_ns} (meta.namespaces {:?})",
                        w.label, report.meta.namespaces
                    ));
                }
            }
        }
        if by == "pod" && w.pod_uid.is_none() || by == "container" && w.container_id.is_none() {
            continue;
        }
        // Its group: exactly (or within `share` of) what the client moved.
        let key = w.group_key(by);
        match report.groups.iter().find(|g| g.key == key) {
            None => failures.push(format!("{}: no {by} group {key}", w.label)),
            Some(g) => {
                eprintln!(
                    "{test} {by} {:8} tx {} / {} rx {} / {} ({} processes)",
                    w.label, g.tx_bytes, c.tx_bytes, g.rx_bytes, c.rx_bytes, g.processes
                );
                if !close(c.tx_bytes, g.tx_bytes, share) || !close(c.rx_bytes, g.rx_bytes, share) {
                    failures.push(format!(
                        "{}: group {key}: tx {} rx {}, client moved tx {} rx {}",
                        w.label, g.tx_bytes, g.rx_bytes, c.tx_bytes, c.rx_bytes
                    ));
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{test} (--group-by {by}):\n{}",
        failures.join("\n")
    );
}

#[test]
/// eBPF: every runtime's group holds exactly its client's bytes, grouped
/// by container, pod, service and cgroup.
fn runtime_cgroups_group_exactly_in_ebpf_mode() {
    let test = "identity_ebpf";
    let Some(_one) = one_at_a_time(test) else {
        return;
    };
    let ws = workloads();
    for by in ["container", "pod", "service", "cgroup"] {
        // Clients that exit at once: identified by their cgroup id.
        check(test, &Mode::ebpf(), 0.0, 0, by, &ws);
    }
}

#[test]
/// AF_PACKET: the same, within 1%, with traffic in four other network
/// namespaces keeping its owners' identities.
fn runtime_cgroups_group_within_a_percent_in_afpacket_mode() {
    let test = "identity_afpacket";
    let Some(_one) = one_at_a_time(test) else {
        return;
    };
    let ws = workloads();
    for by in ["container", "service"] {
        // AF_PACKET names a socket's owner from /proc while it runs (a
        // process gone before that has no owner, see README): clients stay
        // a moment after their reply.
        check(test, &Mode::afpacket_exact(), 0.01, 1500, by, &ws);
    }
}

#[test]
/// AF_PACKET: a namespace made after netoproc started, first entered by a
/// short-lived process (`ip netns exec … sleep 0.2`, as setup scripts do), keeps
/// its owners: the client's bytes land on its pid and in its container's
/// group within 1%, not in `no_owner_bytes`. (The resolver used to keep the
/// dead process's `ns/net` path and never dump that namespace again.)
fn a_namespace_made_after_start_keeps_its_owners_in_afpacket_mode() {
    let test = "identity_late_netns";
    let Some(_one) = one_at_a_time(test) else {
        return;
    };
    let mut mode = Mode::afpacket_exact();
    mode.args.extend(strings(&["--group-by", "container"]));
    let np = NetoprocRun::start_in(&mode);
    let id = fake_id("late");
    let cg = Cgroup::new(&format!("system.slice/docker-{id}.scope"));
    let pair = VethPair::new("late");
    for ns in [&pair.a.name, &pair.b.name] {
        let st = std::process::Command::new("ip")
            .args(["netns", "exec", ns, "sleep", "0.2"])
            .status()
            .expect("ip netns exec");
        assert!(st.success());
    }
    // The watcher notices the namespaces through those processes, which
    // are gone by now.
    std::thread::sleep(std::time::Duration::from_millis(500));
    let srv = format!("{}:5390", pair.v4(2));
    let (server, client) = server_and_client(test, &pair, &cg, &srv, 1500);
    let c = client.finish();
    server.finish();
    std::thread::sleep(std::time::Duration::from_millis(300));
    let report = np.stop();
    let row = report.processes.iter().find(|p| p.pid == c.pid);
    let group = report.groups.iter().find(|g| g.key == id);
    eprintln!(
        "{test}: row {:?} group {:?} no_owner_bytes {:?}",
        row.map(|r| (r.tx_bytes, r.rx_bytes)),
        group.map(|g| (g.tx_bytes, g.rx_bytes)),
        report.meta.lost.get("no_owner_bytes")
    );
    let row = row.unwrap_or_else(|| panic!("{test}: no row for the client (pid {})", c.pid));
    assert!(
        close(c.tx_bytes, row.tx_bytes, 0.01) && close(c.rx_bytes, row.rx_bytes, 0.01),
        "{test}: client row tx {} rx {}, it moved tx {} rx {}",
        row.tx_bytes,
        row.rx_bytes,
        c.tx_bytes,
        c.rx_bytes
    );
    let group = group.unwrap_or_else(|| panic!("{test}: no group {id}"));
    assert!(
        close(c.tx_bytes, group.tx_bytes, 0.01) && close(c.rx_bytes, group.rx_bytes, 0.01),
        "{test}: group tx {} rx {}",
        group.tx_bytes,
        group.rx_bytes
    );
    drop(pair);
    drop(cg);
}

#[test]
/// The agent names the same workload: a client in a Kubernetes pod's group
/// (containerd layout) shows in `/metrics` under its `container` and `pod`
/// labels with exactly the bytes it moved (eBPF).
fn the_agent_labels_series_with_container_and_pod() {
    let test = "identity_agent_pod";
    let Some(_one) = one_at_a_time(test) else {
        return;
    };
    let k8s = fake_id("agentpod");
    let pod = fake_uuid("agentpod");
    let cg = Cgroup::new(&format!(
        "kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod{}.slice/cri-containerd-{k8s}.scope",
        pod.replace('-', "_")
    ));
    let pair = VethPair::new("agpod");
    let agent = ServeRun::start(&Mode::ebpf(), &[]);
    let srv = format!("{}:5391", pair.v4(2));
    let (server, client) = server_and_client(test, &pair, &cg, &srv, 0);
    let c = client.finish();
    server.finish();
    let container = format!("k8s:{}", &k8s[..12]);
    let pod_label = format!("pod:{pod}");
    let want = |dir: &str, bytes: u64| {
        format!(
            "netoproc_payload_bytes_total{{process=\"np-trafficgen\",service=\"\",container=\"{container}\",pod=\"{pod_label}\",user=\"0\",direction=\"{dir}\",protocol=\"tcp\"}} {bytes}"
        )
    };
    let (sent, received) = (want("sent", c.tx_bytes), want("received", c.rx_bytes));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let m = agent.metrics();
        if m.lines().any(|l| l == sent) && m.lines().any(|l| l == received) {
            break;
        }
        if std::time::Instant::now() >= deadline {
            let ours: Vec<&str> = m.lines().filter(|l| l.contains(&pod_label)).collect();
            panic!("{test}: no series `{sent}` and `{received}`; the pod's: {ours:#?}");
        }
        std::thread::sleep(std::time::Duration::from_millis(300));
    }
    agent.stop();
    drop(pair);
    drop(cg);
}
