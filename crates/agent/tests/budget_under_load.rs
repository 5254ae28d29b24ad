//! The agent end to end without root: a scripted backend plays 5,000
//! short-lived processes with distinct names over 20,000 remotes (and ten
//! steady heavy ones) through the real engine, budget, encoder and HTTP
//! server. Scrapes check that the series stay within the budget, that
//! identities plus `other` plus the retired counters add up exactly to what
//! the script moved, that the drop counters say what happened, that idle
//! identities expire after the TTL (and their processes are forgotten, the
//! totals kept), and that `promtool check metrics`
//! finds nothing (promtool is required under `CI=true`).

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use netoproc_agent::agent::{serve, ServeOptions};
use netoproc_agent::config::{MetricsSection, MetricsSettings};
use netoproc_core::lifecycle::Outcome;
use netoproc_core::Protocol;
use netoproc_engine::fake::{FakeBackend, FakeFailure, FakeSocket, StepClock};
use netoproc_engine::{Engine, SessionConfig};

const PROCESSES: u32 = 5000;
const SOCKETS_PER_PROCESS: u32 = 4;
const MAX_SERIES: usize = 2000;
const TTL_S: u64 = 30;
const WAIT: Duration = Duration::from_secs(120);

/// The heavy processes' names; the last one is hostile to the exposition
/// format (a quote, a backslash, a line feed), which must be escaped.
fn heavy_name(h: u32) -> String {
    if h == 9 {
        "heavy\"9\\\n".to_string()
    } else {
        format!("heavy{h}")
    }
}

/// A label value escaped as the text formats escape it.
fn escaped(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn script() -> Vec<FakeSocket> {
    let mut out = Vec::new();
    let mut cookie = 0;
    for pid in 1..=PROCESSES {
        let opens_at = 1 + u64::from(pid % 100);
        for k in 0..SOCKETS_PER_PROCESS {
            cookie += 1;
            let n = pid * SOCKETS_PER_PROCESS + k;
            out.push(FakeSocket {
                cookie,
                pid: 10_000 + pid,
                comm: format!("short{pid}"),
                protocol: if k % 2 == 0 {
                    Protocol::Tcp
                } else {
                    Protocol::Udp
                },
                remote: SocketAddr::from(([10, (n >> 16) as u8, (n >> 8) as u8, n as u8], 443)),
                tx_per_read: 100 + u64::from(pid * 37 % 1000),
                rx_per_read: 50 + u64::from(k),
                opens_at,
                closes_after: Some(opens_at + 2),
            });
        }
    }
    for h in 0..10u32 {
        cookie += 1;
        out.push(FakeSocket {
            cookie,
            pid: 100 + h,
            comm: heavy_name(h),
            protocol: Protocol::Tcp,
            remote: SocketAddr::from(([192, 0, 2, h as u8], 443)),
            tx_per_read: 1_000_000,
            rx_per_read: 10_000,
            opens_at: 1,
            closes_after: None,
        });
    }
    out
}

/// The script, the read after which every short-lived socket is closed
/// (the heavy ones stay), and what all sockets moved (sent, received)
/// after a number of reads.
fn scripted() -> (
    Vec<FakeSocket>,
    u64,
    impl Fn(u64) -> (u64, u64) + Send + 'static,
) {
    let sockets = script();
    let end = FakeBackend::new(StepClock::new(), sockets.clone()).last_close();
    let script = sockets.clone();
    let moved = move |reads: u64| -> (u64, u64) {
        script.iter().fold((0, 0), |(tx, rx), s| {
            let c = s.total_after(reads);
            (tx + c.tx_bytes, rx + c.rx_bytes)
        })
    };
    (sockets, end, moved)
}

/// GET `path`: the whole response.
fn try_get(addr: SocketAddr, path: &str) -> String {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(s, "GET {path} HTTP/1.0\r\nHost: test\r\n\r\n").unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).expect("read response");
    resp
}

/// GET `path`; the body, or a panic unless the status is 200.
fn get(addr: SocketAddr, path: &str) -> String {
    let resp = try_get(addr, path);
    let (head, body) = resp.split_once("\r\n\r\n").expect("HTTP response");
    assert!(
        head.starts_with("HTTP/1.1 200") || head.starts_with("HTTP/1.0 200"),
        "{path}: {head}"
    );
    body.to_string()
}

/// Sample lines: (name, labels, value).
fn samples(text: &str) -> Vec<(String, String, f64)> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| {
            let (series, value) = l.rsplit_once(' ').expect("sample line");
            let (name, labels) = match series.split_once('{') {
                Some((n, rest)) => (n.to_string(), rest.trim_end_matches('}').to_string()),
                None => (series.to_string(), String::new()),
            };
            (name, labels, value.parse().expect("number"))
        })
        .collect()
}

fn sum(s: &[(String, String, f64)], name: &str, label: &str) -> f64 {
    s.iter()
        .filter(|(n, l, _)| n == name && l.contains(label))
        .map(|(_, _, v)| v)
        .sum()
}

fn value(s: &[(String, String, f64)], name: &str, label: &str) -> f64 {
    let v: Vec<f64> = s
        .iter()
        .filter(|(n, l, _)| n == name && l.contains(label))
        .map(|(_, _, v)| *v)
        .collect();
    assert_eq!(v.len(), 1, "{name}{{{label}}}: {v:?}");
    v[0]
}

/// Scrapes until `done` holds for a scrape (bounded by [`WAIT`]).
fn scrape_until(
    addr: SocketAddr,
    what: &str,
    done: impl Fn(&[(String, String, f64)]) -> bool,
) -> String {
    let deadline = Instant::now() + WAIT;
    loop {
        let body = get(addr, "/metrics");
        if done(&samples(&body)) {
            return body;
        }
        assert!(
            Instant::now() < deadline,
            "no scrape with {what} within {WAIT:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn promtool_check(body: &str) {
    if let Err(e) = netoproc_testkit::promtool_check_metrics(body) {
        assert!(
            !std::env::var("CI").is_ok_and(|v| v == "true"),
            "promtool not runnable ({e}) and CI=true forbids skipping: apt-get install prometheus"
        );
        eprintln!("skipping promtool check: {e} (apt-get install prometheus)");
    }
}

/// Sets the stop flag when dropped, so a failing scraper ends the loop.
struct StopOnDrop(Arc<AtomicBool>);
impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// Runs the agent on the scripted `sockets` with `max_series` (TTL
/// [`TTL_S`]) and `remote_series` until `scrape` returns (or panics), and
/// returns its result.
fn run_agent(
    sockets: Vec<FakeSocket>,
    max_series: usize,
    remote_series: Option<usize>,
    lifecycle: Option<Vec<FakeFailure>>,
    scrape: impl FnOnce(SocketAddr) + Send + 'static,
) {
    let clock = StepClock::new();
    let mut backend = FakeBackend::new(clock.clone(), sockets);
    if let Some(failures) = lifecycle {
        backend = backend.with_lifecycle(failures);
    }
    let tmp = tempfile::tempdir().unwrap();
    let session = SessionConfig {
        proc_root: tmp.path().to_path_buf(),
        sys_root: tmp.path().to_path_buf(),
        dns: None,
        read_interval: Duration::from_secs(1),
        max_closed: None,
    };
    let flags = MetricsSection {
        max_series: Some(max_series),
        identity_ttl_s: Some(TTL_S),
        min_residency_s: Some(5),
        info_per_identity: Some(2),
        remote_series,
        tcp_connections: None,
    };
    let opts = ServeOptions {
        listen: "127.0.0.1:0".parse().unwrap(),
        metrics: MetricsSettings::resolve(&flags, &MetricsSection::default()).unwrap(),
        config_path: None,
        metrics_flags: flags,
        web: Default::default(),
        web_config_file: None,
        history: None,
    };
    let stop = Arc::new(AtomicBool::new(false));
    let reload = AtomicBool::new(false);
    let (addr_tx, addr_rx) = mpsc::channel();
    let scraper_stop = StopOnDrop(stop.clone());
    let scraper = std::thread::spawn(move || {
        let _stop = scraper_stop;
        let addr: SocketAddr = addr_rx.recv_timeout(WAIT).expect("listening");
        // Not ready (503) until the first read is published.
        let deadline = Instant::now() + WAIT;
        while !try_get(addr, "/readyz")
            .lines()
            .next()
            .is_some_and(|l| l.contains(" 200 "))
        {
            assert!(Instant::now() < deadline, "not ready within {WAIT:?}");
            std::thread::sleep(Duration::from_millis(10));
        }
        scrape(addr);
    });
    let mut engine = Engine::new(&mut backend, session);
    let result = serve(&mut engine, &clock, &stop, &reload, &opts, |a| {
        addr_tx.send(a).unwrap();
    });
    let scraped = scraper.join();
    result.expect("serve");
    if let Err(panic) = scraped {
        std::panic::resume_unwind(panic);
    }
}

#[test]
fn five_thousand_processes_stay_within_the_series_budget_with_exact_totals() {
    let (sockets, end, moved) = scripted();
    // Every TCP socket closes as a success (two per short-lived process);
    // one process in 50 also has a refused connect.
    let tcp_closed = u64::from(PROCESSES * SOCKETS_PER_PROCESS / 2);
    let failures: Vec<FakeFailure> = (1..=PROCESSES)
        .filter(|pid| pid % 50 == 0)
        .map(|pid| FakeFailure {
            cookie: 1_000_000 + u64::from(pid),
            pid: 10_000 + pid,
            comm: format!("short{pid}"),
            remote: SocketAddr::from(([198, 51, 100, 1], 80)),
            after_read: 1 + u64::from(pid % 100),
            outcome: Outcome::Refused,
        })
        .collect();
    let refused = failures.len() as f64;
    run_agent(sockets, MAX_SERIES, None, Some(failures), move |addr| {
        let reads = |s: &[(String, String, f64)]| sum(s, "netoproc_reads_total", "") as u64;

        // Every socket closed: totals final, and still within the budget.
        let body = scrape_until(addr, "every socket closed", |s| reads(s) > end + 1);
        let s = samples(&body);
        assert!(s.len() <= MAX_SERIES, "{} series > {MAX_SERIES}", s.len());
        let sent = sum(&s, "netoproc_payload_bytes_total", "direction=\"sent\"")
            + sum(
                &s,
                "netoproc_retired_payload_bytes_total",
                "direction=\"sent\"",
            );
        let received = sum(&s, "netoproc_payload_bytes_total", "direction=\"received\"")
            + sum(
                &s,
                "netoproc_retired_payload_bytes_total",
                "direction=\"received\"",
            );
        assert_eq!((sent as u64, received as u64), moved(reads(&s)));
        // Each closed connection counted once, under its identity, `other`
        // or the retired counters.
        let closed = |outcome: &str| {
            let o = format!("outcome=\"{outcome}\"");
            sum(&s, "netoproc_tcp_connections_total", &o)
                + sum(&s, "netoproc_retired_tcp_connections_total", &o)
        };
        assert_eq!(closed("success"), tcp_closed as f64);
        assert_eq!(closed("refused"), refused);
        assert!(
            sum(
                &s,
                "netoproc_tcp_connections_total",
                "process=\"other\",service=\"other\",container=\"other\",pod=\"other\",user=\"other\",role=\"client\",outcome=\"success\""
            ) > 0.0,
            "no closed connection folded into other"
        );
        let handshakes = sum(&s, "netoproc_tcp_handshake_seconds_count", "");
        assert!(handshakes > 0.0 && handshakes <= tcp_closed as f64);
        assert_eq!(value(&s, "netoproc_lifecycle_steps_dropped_total", ""), 0.0);
        let other = sum(&s, "netoproc_payload_bytes_total", "process=\"other\"");
        assert!(other > 0.0, "nothing folded into other");
        assert!(value(&s, "netoproc_budget_folded_identities_total", "") > 0.0);
        // The heavy ones hold places of their own.
        let identities: HashMap<String, f64> = s
            .iter()
            .filter(|(n, l, _)| {
                n == "netoproc_payload_bytes_total" && l.contains("direction=\"sent\"")
            })
            .map(|(_, l, v)| (l.clone(), *v))
            .collect();
        for h in 0..10 {
            assert!(
                identities
                    .keys()
                    .any(|l| l.contains(&format!("process=\"{}\"", escaped(&heavy_name(h))))),
                "heavy{h} has no series of its own"
            );
        }
        promtool_check(&body);
        assert!(
            !body.contains("netoproc_remote_"),
            "remote series are opt-in"
        );
        let om = get(addr, "/metrics");
        assert!(
            !om.contains("# EOF"),
            "the default format is Prometheus text"
        );

        // One TTL later only the heavy ones are exported; the short-lived
        // ones' totals moved to retired.
        let body = scrape_until(addr, "identities expired", |s| {
            reads(s) > end + TTL_S + 2
                && value(s, "netoproc_budget_identities", "state=\"exported\"") == 10.0
        });
        let s = samples(&body);
        assert!(
            value(
                &s,
                "netoproc_budget_dropped_identities_total",
                "reason=\"expired\""
            ) > 0.0
        );
        let retired = sum(
            &s,
            "netoproc_retired_payload_bytes_total",
            "direction=\"sent\"",
        );
        let exported = sum(&s, "netoproc_payload_bytes_total", "direction=\"sent\"");
        assert_eq!((retired + exported) as u64, moved(reads(&s)).0);
        let closed = sum(&s, "netoproc_tcp_connections_total", "outcome=\"success\"")
            + sum(
                &s,
                "netoproc_retired_tcp_connections_total",
                "outcome=\"success\"",
            );
        assert_eq!(closed, tcp_closed as f64, "closed connections after expiry");
        assert!(s.len() <= MAX_SERIES);
        promtool_check(&body);
        assert_eq!(get(addr, "/readyz"), "ready\n");
        // The idle processes are forgotten (memory stays bounded), the
        // heavy ones kept; what all moved stays in the total (of a later
        // read: the heavy ones' 10 × 1 MB per read on top).
        let snap: serde_json::Value =
            serde_json::from_str(&get(addr, "/api/v1/snapshot")).expect("snapshot JSON");
        assert_eq!(snap["processes"].as_array().map(Vec::len), Some(10));
        let total = snap["total"]["tx_bytes"].as_u64().expect("total");
        let at_end = moved(end + TTL_S + 2).0;
        assert!(
            total >= at_end && (total - at_end).is_multiple_of(10_000_000),
            "{total}"
        );
    });
}

/// The opt-in remote label: 5,000 processes talking to 20,000 remotes with
/// `remote_series` 200. The pairs stay within their budget, the busiest
/// (the heavy processes' remotes) hold series of their own, the pair
/// `other` and the retired counters hold the rest, and per-remote sums
/// equal what the processes moved, exactly.
#[test]
fn remote_series_are_budgeted_and_sum_to_the_identities() {
    const PAIRS: usize = 200;
    let (sockets, end, moved) = scripted();
    run_agent(sockets, 4000, Some(PAIRS), None, move |addr| {
        let reads = |s: &[(String, String, f64)]| sum(s, "netoproc_reads_total", "") as u64;
        let body = scrape_until(addr, "every socket closed", |s| reads(s) > end + 1);
        let s = samples(&body);
        assert!(s.len() <= 4000, "{} series > 4000", s.len());
        let pairs = value(&s, "netoproc_remote_budget_pairs", "state=\"exported\"");
        assert!(pairs <= PAIRS as f64 && pairs > 0.0, "{pairs} pairs");
        assert_eq!(
            value(&s, "netoproc_remote_budget_pairs", "state=\"max\""),
            PAIRS as f64
        );
        assert!(value(&s, "netoproc_remote_budget_folded_pairs_total", "") > 0.0);
        let both = |family: &str, retired: &str, dir: &str| -> u64 {
            let d = format!("direction=\"{dir}\"");
            (sum(&s, family, &d) + sum(&s, retired, &d)) as u64
        };
        let by_identity = (
            both(
                "netoproc_payload_bytes_total",
                "netoproc_retired_payload_bytes_total",
                "sent",
            ),
            both(
                "netoproc_payload_bytes_total",
                "netoproc_retired_payload_bytes_total",
                "received",
            ),
        );
        let by_remote = (
            both(
                "netoproc_remote_payload_bytes_total",
                "netoproc_remote_retired_payload_bytes_total",
                "sent",
            ),
            both(
                "netoproc_remote_payload_bytes_total",
                "netoproc_remote_retired_payload_bytes_total",
                "received",
            ),
        );
        assert_eq!(by_identity, moved(reads(&s)));
        assert_eq!(by_remote, by_identity, "per-remote sums differ");
        for h in 0..10 {
            let remote = format!("remote=\"192.0.2.{h}\"");
            assert!(
                sum(&s, "netoproc_remote_payload_bytes_total", &remote) > 0.0,
                "heavy{h}'s remote has no series of its own"
            );
        }
        assert!(
            sum(
                &s,
                "netoproc_remote_payload_bytes_total",
                "remote=\"other\""
            ) > 0.0
        );
        promtool_check(&body);
    });
}

/// A scrape of `/metrics` at the full default budget (10,000 series, of
/// of which identities without DNS or closed TCP connections fill
/// ~2,100; 2,000 identities competing for ~150 places, each with room for
/// its DNS and lifecycle series) stays within the budget and answers. How long it takes
/// is a benchmark, not asserted here (BENCHMARKS.md, "Agent"):
/// `cargo test --release -p netoproc-agent --test budget_under_load
/// a_scrape_at_the_full_default_budget -- --nocapture`.
#[test]
fn a_scrape_at_the_full_default_budget_stays_within_it() {
    // Two processes per identity, each with a TCP and a UDP socket: every
    // traffic series and two `_info` series per identity (DNS aside).
    let sockets: Vec<FakeSocket> = (0..8000u32)
        .map(|n| {
            let (id, pid) = (n / 4 + 1, n / 2 + 1);
            FakeSocket {
                cookie: u64::from(n) + 1,
                pid,
                comm: format!("steady{id}"),
                protocol: if n % 2 == 0 {
                    Protocol::Tcp
                } else {
                    Protocol::Udp
                },
                remote: SocketAddr::from(([10, 1, (n >> 8) as u8, n as u8], 443)),
                tx_per_read: 1000 + u64::from(id),
                rx_per_read: 100,
                opens_at: 1,
                closes_after: None,
            }
        })
        .collect();
    run_agent(sockets, 10_000, None, None, |addr| {
        let body = scrape_until(addr, "a full budget", |s| {
            value(s, "netoproc_budget_identities", "state=\"exported\"")
                == value(s, "netoproc_budget_identities", "state=\"max\"")
        });
        let series = samples(&body).len();
        assert!(series <= 10_000 && series > 2_000, "{series} series");
        let mut times: Vec<Duration> = (0..9)
            .map(|_| {
                let t = Instant::now();
                get(addr, "/metrics");
                t.elapsed()
            })
            .collect();
        times.sort();
        eprintln!(
            "scrape at the full budget ({series} series, {} bytes): median {:?}, max {:?} \
             ({} build)",
            body.len(),
            times[times.len() / 2],
            times[times.len() - 1],
            if cfg!(debug_assertions) {
                "debug"
            } else {
                "release"
            }
        );
    });
}
