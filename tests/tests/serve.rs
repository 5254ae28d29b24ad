//! End-to-end tests of `netoproc serve` with a real Prometheus server: a
//! TCP flow over loopback in a fresh network namespace between two copies
//! of the traffic generator under a name of their own, scraped every second
//! by Prometheus on a free loopback port; its query API must return the
//! generators' own payload byte counts for that process name — exactly in
//! eBPF mode, within the AF_PACKET bound (`common::mode`) with
//! `--capture-mode afpacket`. The same run checks `/metrics` with
//! `promtool check metrics`, that every PromQL expression of the Grafana
//! dashboard (deploy/grafana) returns data, that SIGHUP reloads the config
//! file and that
//! SIGTERM ends the agent with exit 0. Prometheus also scrapes it over
//! HTTPS with basic auth (`--web-config-file`): the right password reads
//! metrics, a wrong one does not. DNS lookups to dnsmasq (in a namespace
//! the test made) show in the per-identity DNS families by rcode and as
//! timeouts exactly as the client's own log has them. Short TCP connections
//! of a named generator (and one to a closed port) show in
//! `netoproc_tcp_connections_total` by role and outcome exactly as the
//! generators counted them. Bad config files are usage errors
//! (exit 2) naming the line. Needs root (and `prometheus`); skips
//! otherwise, except under `CI=true` where it fails. Run as root:
//! `cargo build -p netoproc && cargo test -p netoproc-e2e --test serve`.

// Each test file uses a different part of the shared harness.
#[allow(dead_code)]
mod common;

use common::named_generator;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::dnsmasq::{dnsmasq_or_skip, start_dnsmasq, web_server};
use common::generator::{tcp_transfer_held, Generator};
use common::mode::Mode;
use common::netns::{Netns, VethPair};
use common::prometheus::{self, Prometheus};
use common::serve_run::ServeRun;
use common::{root_or_skip, scaled, strings};

const MIB: u64 = 1 << 20;
/// How long Prometheus may take to show the final counts.
const SETTLE_WITHIN: Duration = Duration::from_secs(60);

fn promtool_check(body: &str) {
    netoproc_testkit::promtool_check_metrics(body)
        .unwrap_or_else(|e| panic!("promtool (package prometheus) not runnable: {e}"));
}

/// The whole scenario in `mode`.
fn prometheus_sees_generator_bytes(test: &str, mode: &Mode) {
    if !root_or_skip(test) || !prometheus::available(test) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    // One name per test: both tests' agents see every process on the host.
    let tag = if mode.capture_mode == Some("afpacket") {
        "pa"
    } else {
        "pe"
    };
    let bin = named_generator(tmp.path(), tag);
    let name = bin.file_name().unwrap().to_string_lossy().into_owned();
    let config = tmp.path().join("netoproc.toml");
    std::fs::write(&config, "[metrics]\nmax_series = 5000\n").unwrap();
    // Before the agent: AF_PACKET opens its rings in the namespaces that
    // exist when it starts (as in every AF_PACKET scenario).
    let ns = Netns::new("prom");
    let agent = ServeRun::start(mode, &["--config", config.to_str().unwrap()]);
    let prom = Prometheus::start(agent.addr);

    let send = scaled(16 * MIB, MIB);
    let reply = scaled(4 * MIB, 256 * 1024);
    // Held open a while: under load, AF_PACKET may look a socket up after
    // a short-lived process is gone (the capture suites test that; this
    // one tests the agent).
    let (want_sent, want_received) = tcp_transfer_held(&ns.name, &bin, 5311, send, reply, 2000);
    assert!(want_sent > 0 && want_received > 0);

    let q = |dir: &str| {
        format!("sum(netoproc_payload_bytes_total{{process=\"{name}\",direction=\"{dir}\"}})")
    };
    let deadline = Instant::now() + SETTLE_WITHIN;
    let (sent, received) = loop {
        let got = (prom.scalar(&q("sent")), prom.scalar(&q("received")));
        if let (Some(tx), Some(rx)) = got {
            let (tx, rx) = (tx as u64, rx as u64);
            if mode.bytes_match(want_sent, tx) && mode.bytes_match(want_received, rx) {
                break (tx, rx);
            }
            if Instant::now() >= deadline {
                break (tx, rx);
            }
        } else {
            assert!(
                Instant::now() < deadline,
                "Prometheus has no series for {name}: {got:?}"
            );
        }
        std::thread::sleep(Duration::from_millis(500));
    };
    eprintln!(
        "{test}: {name} sent {sent} (generators {want_sent}), received {received} (generators {want_received}), {}",
        mode.bytes_label()
    );
    assert!(
        mode.bytes_match(want_sent, sent),
        "sent: Prometheus {sent}, generators {want_sent}"
    );
    assert!(
        mode.bytes_match(want_received, received),
        "received: Prometheus {received}, generators {want_received}"
    );
    // The mode asked for is the mode that ran (eBPF mode must not have
    // fallen back to AF_PACKET).
    let want_mode = mode.capture_mode.unwrap_or("ebpf");
    let capture = prom.query("netoproc_capture_info");
    assert_eq!(
        capture.first().and_then(|s| s["metric"]["mode"].as_str()),
        Some(want_mode),
        "capture mode: {capture:?}"
    );
    if let (true, Some(h)) = (mode.check_hooks, mode.hooks.as_deref()) {
        let got = capture[0]["metric"]["hooks"].as_str().unwrap_or_default();
        assert!(common::hooks_match(h, got), "hooks: {got}, asked for {h}");
    }
    // pid and command line only in the _info series.
    let info = prom.query(&format!("netoproc_process_info{{process=\"{name}\"}}"));
    let counters = prom.query(&format!(
        "netoproc_payload_bytes_total{{process=\"{name}\"}}"
    ));
    assert!(counters.iter().all(|s| s["metric"].get("pid").is_none()));
    assert!(info.iter().all(|s| s["metric"].get("pid").is_some()));

    let body = agent.metrics();
    promtool_check(&body);
    dashboard_expressions_return_data(&prom);

    // SIGHUP re-reads [metrics].
    std::fs::write(&config, "[metrics]\nmax_series = 3000\n").unwrap();
    agent.signal(libc::SIGHUP);
    let deadline = Instant::now() + Duration::from_secs(20);
    let budget = |m: String| {
        m.lines()
            .find_map(|l| l.strip_prefix("netoproc_series_budget "))
            .and_then(|v| v.parse::<f64>().ok())
    };
    while budget(agent.metrics()) != Some(3000.0) {
        assert!(
            Instant::now() < deadline,
            "SIGHUP did not reload max_series"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    drop(prom);
    agent.stop();
}

/// Every PromQL expression of the Grafana dashboard (and its node
/// variable's) returns data from the test's Prometheus, with Grafana's
/// variables replaced: `$__rate_interval` by 30s, `$instance` by `.*`.
fn dashboard_expressions_return_data(prom: &Prometheus) {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../deploy/grafana/netoproc.json"
    );
    let d: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).expect("dashboard JSON");
    let mut exprs = vec!["count by (instance) (netoproc_build_info)".to_string()];
    for panel in d["panels"].as_array().expect("panels") {
        for t in panel["targets"].as_array().into_iter().flatten() {
            exprs.push(t["expr"].as_str().expect("expr").to_string());
        }
    }
    assert!(exprs.len() > 10, "{exprs:?}");
    // rate() needs two samples in its window: wait for three scrapes.
    let deadline = Instant::now() + Duration::from_secs(30);
    while prom.scalar("count_over_time(up[30s])").unwrap_or(0.0) < 3.0 {
        assert!(
            Instant::now() < deadline,
            "Prometheus did not scrape 3 times in 30 s"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
    for e in &exprs {
        let q = e
            .replace("$__rate_interval", "30s")
            .replace("$instance", ".*");
        assert!(!q.contains('$'), "unreplaced variable in {e}");
        let r = prom.query(&q);
        assert!(!r.is_empty(), "dashboard expression returns no data: {q}");
    }
}

#[test]
fn prometheus_scrapes_exact_bytes_in_ebpf_mode() {
    prometheus_sees_generator_bytes("serve_prometheus_ebpf", &Mode::ebpf());
}

#[test]
fn prometheus_scrapes_bytes_within_the_bound_in_afpacket_mode() {
    prometheus_sees_generator_bytes("serve_prometheus_afpacket", &Mode::afpacket_exact());
}

/// Runs `netoproc serve --config FILE` on `text` (no `--listen`, so the
/// file's `listen` counts): exit code and stderr.
fn serve_with_config(text: &str) -> (Option<i32>, String) {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("bad.toml");
    std::fs::write(&path, text).unwrap();
    let mut child = Command::new(common::netoproc_bin())
        .args(["serve", "--config"])
        .arg(&path)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start netoproc");
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("netoproc serve with a bad config kept running");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    (status.code(), err)
}

#[test]
fn bad_config_files_are_usage_errors_naming_the_line() {
    let (code, err) = serve_with_config("listen = \"127.0.0.1:0\"\n[metrics]\nmax_seriess = 10\n");
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("line 3") && err.contains("max_seriess"),
        "{err}"
    );
    let (code, err) = serve_with_config("[capture]\nmode = \"magic\"\n");
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("capture.mode"), "{err}");
    let (code, err) = serve_with_config("[metrics]\nmax_series = 3\n");
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("max_series"), "{err}");
    let (code, err) = serve_with_config("listen = \"nowhere\"\n");
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("listen"), "{err}");
    let (code, err) = serve_with_config("[history]\nretain = \"soon\"\n");
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("retain"), "{err}");
    let (code, err) = serve_with_config("[history]\nstore = \"mysql://u:pw-x9@h/db\"\n");
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("--history") && !err.contains("pw-x9"), "{err}");
}

/// A real Prometheus scrapes `netoproc serve` over HTTPS with basic auth
/// (`--web-config-file` in the exporters' format, a CA and a server
/// certificate made here): the job with the right password is up and
/// reads netoproc's metrics, the job with a wrong one is down.
#[test]
fn prometheus_scrapes_over_tls_with_basic_auth() {
    let test = "serve_prometheus_tls";
    if !root_or_skip(test) || !prometheus::available(test) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let issuer = rcgen::Issuer::new(ca_params, ca_key);
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["localhost".into()])
        .unwrap()
        .signed_by(&key, &issuer)
        .unwrap();
    let path = |name: &str| dir.path().join(name);
    std::fs::write(path("ca.crt"), ca_cert.pem()).unwrap();
    std::fs::write(path("server.crt"), cert.pem()).unwrap();
    std::fs::write(path("server.key"), key.serialize_pem()).unwrap();
    let hash = bcrypt::hash("right horse", 10).unwrap();
    std::fs::write(
        path("web.yml"),
        format!(
            "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n\
             basic_auth_users:\n  prometheus: {hash}\n"
        ),
    )
    .unwrap();
    let web = path("web.yml");
    let agent = ServeRun::start(&Mode::ebpf(), &["--web-config-file", web.to_str().unwrap()]);
    let job = |name: &str, password: &str| {
        format!(
            "  - job_name: {name}\n    scheme: https\n    tls_config:\n      ca_file: {}\n      \
             server_name: localhost\n    basic_auth:\n      username: prometheus\n      \
             password: '{password}'\n    static_configs:\n      - targets: ['{}']\n",
            path("ca.crt").display(),
            agent.addr
        )
    };
    let prom = Prometheus::start_with_jobs(&(job("good", "right horse") + &job("bad", "wrong")));
    let deadline = Instant::now() + SETTLE_WITHIN;
    loop {
        let good = prom.scalar("up{job=\"good\"}");
        let bad = prom.scalar("up{job=\"bad\"}");
        let reads = prom.scalar("netoproc_reads_total{job=\"good\"}");
        if good == Some(1.0) && bad == Some(0.0) && reads.is_some_and(|r| r > 0.0) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "after {SETTLE_WITHIN:?}: up good {good:?}, up bad {bad:?}, reads {reads:?}"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    assert!(
        prom.scalar("netoproc_reads_total{job=\"bad\"}").is_none(),
        "the wrong password read metrics"
    );
    agent.stop();
}

/// DNS health through Prometheus: lookups by a process of a name of its
/// own to dnsmasq in a namespace the test made (A, AAAA, CNAME, NXDOMAIN,
/// MX; UDP and TCP; IPv4 and IPv6 resolvers; one to a port where nothing
/// answers). Its `netoproc_dns_queries_total` by rcode and
/// `netoproc_dns_timeouts_total` must equal what its own lookup log says,
/// and the resolvers have series of their own.
#[test]
fn prometheus_sees_dns_outcomes_per_identity_and_resolver() {
    let test = "serve_prometheus_dns";
    if !root_or_skip(test) || !prometheus::available(test) || !dnsmasq_or_skip() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let bin = named_generator(tmp.path(), "pd");
    let name = bin.file_name().unwrap().to_string_lossy().into_owned();
    let pair = VethPair::new("pdns");
    pair.pin_neighbours();
    let _dnsmasq = start_dnsmasq(&pair.b.name, &pair);
    let server = web_server(&pair, 8080);
    let agent = ServeRun::start(&Mode::ebpf(), &[]);
    let prom = Prometheus::start(agent.addr);
    let args = [
        "dns-lookups".to_string(),
        format!("--server4={}:53", pair.v4(2)),
        format!("--server6=[{}]:53", pair.v6(2)),
        "--silent=127.0.0.1:53".into(),
        "--queries=20".into(),
        "--connect-name=web.np.test".into(),
        "--connect-port=8080".into(),
    ];
    let client = Generator::spawn_bin("dns-client", &pair.a.name, &bin, &args).finish();
    server.finish();
    let log = client.dns.as_ref().expect("the client's lookup log");
    let count = |want: Option<u8>| log.lookups.iter().filter(|l| l.rcode == want).count() as f64;
    let (noerror, nxdomain, timeouts) = (count(Some(0)), count(Some(3)), count(None));
    assert_eq!(
        noerror + nxdomain + timeouts,
        log.lookups.len() as f64,
        "rcodes the test does not expect"
    );
    assert!(noerror > 0.0 && nxdomain > 0.0 && timeouts == 1.0);

    let q = |rcode: &str| {
        format!("sum(netoproc_dns_queries_total{{process=\"{name}\",rcode=\"{rcode}\"}})")
    };
    let timeouts_q = format!("sum(netoproc_dns_timeouts_total{{process=\"{name}\"}})");
    let want = (Some(noerror), Some(nxdomain), Some(timeouts));
    // The silent lookup times out 5 s after it was sent.
    let deadline = Instant::now() + SETTLE_WITHIN;
    loop {
        let got = (
            prom.scalar(&q("NOERROR")),
            prom.scalar(&q("NXDOMAIN")),
            prom.scalar(&timeouts_q),
        );
        if got == want {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "after {SETTLE_WITHIN:?}: (NOERROR, NXDOMAIN, timeouts) {got:?}, the client's log {want:?}"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    for resolver in [format!("{}:53", pair.v4(2)), format!("[{}]:53", pair.v6(2))] {
        let answered = prom.scalar(&format!(
            "sum(netoproc_dns_resolver_queries_total{{resolver=\"{resolver}\"}})"
        ));
        assert!(
            answered.is_some_and(|n| n > 0.0),
            "resolver {resolver}: {answered:?}"
        );
    }
    let latency = prom.scalar(&format!(
        "sum(netoproc_dns_resolver_latency_seconds_count{{resolver=\"{}:53\"}})",
        pair.v4(2)
    ));
    assert!(
        latency.is_some_and(|n| n > 0.0),
        "latency count {latency:?}"
    );
    drop(prom);
    agent.stop();
}

/// Connection lifecycle per identity: in a fresh namespace a named
/// generator accepts 20 connections another copy of it makes (1 ms each)
/// and a third dials a closed port. Prometheus must show exactly 20
/// client and 20 server successes and 1 refused for that name, nothing
/// else, and a handshake for each client connection; nothing lost.
#[test]
fn prometheus_counts_tcp_connections_per_identity() {
    let test = "serve_prometheus_tcp";
    if !root_or_skip(test) || !prometheus::available(test) {
        return;
    }
    const N: u64 = 20;
    let tmp = tempfile::tempdir().unwrap();
    let bin = named_generator(tmp.path(), "pt");
    let name = bin.file_name().unwrap().to_string_lossy().into_owned();
    let ns = Netns::new("ptcp");
    let agent = ServeRun::start(&Mode::ebpf(), &[]);
    let prom = Prometheus::start(agent.addr);
    let (srv, closed) = ("127.0.0.1:5331", "127.0.0.1:5332");
    let n = N.to_string();
    let mut acceptor = Generator::spawn_bin(
        "acceptor",
        &ns.name,
        &bin,
        &strings(&["tcp-accept", "--listen", srv, "--connections", &n]),
    );
    acceptor.wait_ready();
    let dialer = Generator::spawn_bin(
        "dialer",
        &ns.name,
        &bin,
        &strings(&[
            "tcp-dial",
            "--connect",
            srv,
            "--connections",
            &n,
            "--hold-ms",
            "1",
        ]),
    );
    let refused = Generator::spawn_bin(
        "refused",
        &ns.name,
        &bin,
        &strings(&["tcp-dial", "--connect", closed]),
    );
    let dialed = dialer.finish().outcomes.expect("dialer outcomes");
    let refused = refused.finish().outcomes.expect("refused outcomes");
    acceptor.finish();
    assert_eq!(
        dialed.into_iter().collect::<Vec<_>>(),
        [("success".into(), N)]
    );
    assert_eq!(
        refused.into_iter().collect::<Vec<_>>(),
        [("refused".into(), 1)]
    );

    let q =
        format!("sum by (role, outcome) (netoproc_tcp_connections_total{{process=\"{name}\"}})");
    let want: Vec<(String, String, u64)> = vec![
        ("client".into(), "refused".into(), 1),
        ("client".into(), "success".into(), N),
        ("server".into(), "success".into(), N),
    ];
    let deadline = Instant::now() + SETTLE_WITHIN;
    loop {
        let mut got: Vec<(String, String, u64)> = prom
            .query(&q)
            .iter()
            .map(|s| {
                let m = &s["metric"];
                let v = s["value"][1].as_str().and_then(|v| v.parse::<f64>().ok());
                (
                    m["role"].as_str().unwrap_or("").to_string(),
                    m["outcome"].as_str().unwrap_or("").to_string(),
                    v.unwrap_or(-1.0) as u64,
                )
            })
            .collect();
        got.sort();
        if got == want {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "after {SETTLE_WITHIN:?}: {got:?}, the generators made {want:?}"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    let handshakes = prom.scalar(&format!(
        "sum(netoproc_tcp_handshake_seconds_count{{process=\"{name}\"}})"
    ));
    assert!(
        handshakes.is_some_and(|h| h >= N as f64),
        "handshakes {handshakes:?}"
    );
    assert_eq!(
        prom.scalar("sum(netoproc_lifecycle_steps_dropped_total)"),
        Some(0.0)
    );
    promtool_check(&agent.metrics());
    drop(prom);
    agent.stop();
}
