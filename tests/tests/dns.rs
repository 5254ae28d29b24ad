//! End-to-end: the DNS observatory against a real DNS server. dnsmasq
//! serves local zones in one namespace; `np-trafficgen dns-lookups` in
//! another sends 122 lookups (A, AAAA, a CNAME chain, NXDOMAIN, MX; UDP and
//! TCP; to an IPv4 and an IPv6 server; one to a port where nothing
//! answers), each on a fresh socket, timing each itself, then connects over
//! TCP to an answered address. Every lookup must be in netoproc's `dns`
//! section under the client's pid with its name, type, rcode and answers,
//! its latency within 1 ms of the client's own (never longer; at most one
//! lookup may be shorter by more, the client's wake-up having been
//! delayed), the silent one timed out, and the TCP connection labelled with
//! the name it was resolved from. `NETOPROC_E2E_DNS_TRACE=1` prints every
//! lookup's two latencies.
//!
//! Both capture modes: eBPF, and AF_PACKET (`afpacket_…`).
//!
//! Needs root and dnsmasq (Debian: dnsmasq-base); skips otherwise, except
//! under `CI=true` where it fails. Run as root:
//! `cargo build -p netoproc && cargo test -p netoproc-e2e --test dns`.

// The shared harness; this test uses only part of it.
#[allow(dead_code)]
mod common;

use std::time::{Duration, Instant};

use common::dnsmasq::{dnsmasq_or_skip, start_dnsmasq, web_server};
use common::generator::Generator;
use common::mode::Mode;
use common::netns::VethPair;
use common::netoproc_run::NetoprocRun;
use netoproc_e2e::dns::{Lookup, A, AAAA, MX};
use serde_json::Value;

const QUERIES: u32 = 120;
const WEB_PORT: u16 = 8080;
/// The observatory's timeout, plus a margin, after the silent lookup.
const TIMEOUT_WAIT: Duration = Duration::from_millis(5_800);
const LATENCY_TOLERANCE_MS: f64 = 1.0;
/// Lookups whose client measured over 1 ms more than netoproc, allowed.
const MAX_DELAYED_CLIENTS: usize = 1;

/// The 1 ms, unless `NETOPROC_E2E_LATENCY_MS` says otherwise: the
/// 6.1-kernel VM is emulated (QEMU TCG, ~20× slower), so the client's own
/// clock reads there lag the kernel's packet stamps by up to ~20 ms, so
/// there the test checks attribution, names and answers, and latency only
/// loosely; the 1 ms check runs on the host.
fn latency_tolerance_ms() -> f64 {
    std::env::var("NETOPROC_E2E_LATENCY_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(LATENCY_TOLERANCE_MS)
}

/// What the zones say `name`/`qtype` resolves to, as netoproc shows answers.
fn expected_answers(pair: &VethPair, name: &str, qtype: u16) -> (u8, Vec<String>) {
    let (www4, www6) = (pair.v4(10).to_string(), pair.v6(10).to_string());
    match (name, qtype) {
        ("www.np.test", A) => (0, vec![www4]),
        ("www.np.test", AAAA) => (0, vec![www6]),
        ("chain.np.test", A) => (
            0,
            vec![
                "CNAME alias.np.test".into(),
                "CNAME www.np.test".into(),
                www4,
            ],
        ),
        ("nx.np.test", _) => (3, vec![]),
        ("np.test", MX) => (0, vec!["MX 10 mail.np.test".into()]),
        ("web.np.test", A) => (0, vec![pair.v4(2).to_string()]),
        other => panic!("no expectation for {other:?}"),
    }
}

fn rcode_name(r: u8) -> &'static str {
    match r {
        0 => "NOERROR",
        3 => "NXDOMAIN",
        _ => "other",
    }
}

fn type_name(t: u16) -> &'static str {
    match t {
        A => "A",
        AAAA => "AAAA",
        MX => "MX",
        _ => "other",
    }
}

#[test]
fn every_lookup_is_attributed_timed_and_names_its_connection() {
    lookups_in("dns_observatory", &Mode::ebpf());
}

/// The same with `--capture-mode afpacket`: the ring keeps DNS packets
/// whole, and each waits for its flow's owner before the observatory sees
/// it. Every lookup still has a socket of its own.
#[test]
fn afpacket_every_lookup_is_attributed_timed_and_names_its_connection() {
    lookups_in("dns_observatory_afpacket", &Mode::afpacket(1.0));
}

/// One lookup test at a time: latencies are compared to 1 ms, and two
/// runs at once on a 2-core machine delay the client's wake-ups by more.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn lookups_in(name: &str, mode: &Mode) {
    if !common::root_or_skip(name) || !dnsmasq_or_skip() {
        return;
    }
    let _alone = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    common::netoproc_bin();
    let pair = VethPair::new("dns");
    // Lookups are timed from the socket (the client) and, in AF_PACKET
    // mode, from the device: keep neighbour resolution out of both.
    pair.pin_neighbours();
    let _dnsmasq = start_dnsmasq(&pair.b.name, &pair);
    let server = web_server(&pair, WEB_PORT);

    let run = NetoprocRun::start_in(mode);
    let started = Instant::now();
    let args = [
        "dns-lookups".to_string(),
        format!("--server4={}:53", pair.v4(2)),
        format!("--server6=[{}]:53", pair.v6(2)),
        "--silent=127.0.0.1:53".into(),
        format!("--queries={QUERIES}"),
        "--connect-name=web.np.test".into(),
        format!("--connect-port={WEB_PORT}"),
    ];
    let client = Generator::spawn("dns-client", &pair.a.name, &args).finish();
    server.finish();
    // The silent lookup went first: wait until netoproc has timed it out.
    // In the emulated VM (NETOPROC_E2E_LATENCY_MS set) the generator may
    // start seconds late, so wait the whole timeout after it finished.
    let waited = if std::env::var_os("NETOPROC_E2E_LATENCY_MS").is_some() {
        Duration::ZERO
    } else {
        started.elapsed()
    };
    std::thread::sleep(TIMEOUT_WAIT.saturating_sub(waited));
    let report = run.stop();
    if let Some(m) = mode.capture_mode {
        assert_eq!(report.meta.capture_mode, m);
    }
    if mode.check_hooks {
        // eBPF: every program loaded, the early-owner hooks included.
        let unexpected = common::expect::unexpected_degraded(&report.meta);
        assert!(unexpected.is_empty(), "degraded: {unexpected:?}");
    }

    let log = client.dns.as_ref().expect("the client's lookup log");
    assert_eq!(log.lookups.len(), QUERIES as usize + 2);
    let dns = report
        .dns
        .as_ref()
        .expect("netoproc's JSON has a dns section");
    let rows: Vec<&Value> = dns["queries"]
        .as_array()
        .expect("dns.queries")
        .iter()
        .filter(|q| q["pid"] == client.pid)
        .collect();
    assert_eq!(
        rows.len(),
        log.lookups.len(),
        "one row per lookup of pid {}",
        client.pid
    );
    let mut worst = 0.0f64;
    let (mut too_long, mut descheduled) = (Vec::new(), Vec::new());
    for (i, l) in log.lookups.iter().enumerate() {
        let row = find(&rows, l);
        assert_eq!(row["process"], "np-trafficgen");
        assert_eq!(row["resolver"], l.server.as_str());
        match l.rcode {
            None => {
                assert_eq!(row["status"], "timeout", "{row}");
                assert!(row["latency_ms"].is_null() && row["rcode"].is_null());
            }
            Some(rcode) => {
                let (want_rcode, want_answers) = expected_answers(&pair, &l.name, l.qtype);
                assert_eq!(rcode, want_rcode, "the server's own answer for {}", l.name);
                assert_eq!(row["status"], "answered", "{row}");
                assert_eq!(row["rcode"], rcode_name(rcode), "{row}");
                let answers: Vec<&str> = row["answers"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|a| a.as_str().unwrap())
                    .collect();
                assert_eq!(answers, want_answers, "{row}");
                assert_eq!(usize::from(l.answers), want_answers.len());
                let theirs = row["latency_ms"].as_f64().expect("latency");
                let ours = l.latency_us.unwrap() as f64 / 1000.0;
                worst = worst.max((theirs - ours).abs());
                if std::env::var_os("NETOPROC_E2E_DNS_TRACE").is_some() {
                    eprintln!("trace {i} {} {} {theirs:.3} {ours:.3}", l.name, l.transport);
                }
                let line = || {
                    format!(
                        "lookup {i} ({} {} {} id {}): netoproc {theirs} ms, client {ours} ms",
                        l.name, l.transport, l.server, l.id
                    )
                };
                // netoproc's packets lie inside the client's send-to-receive
                // window: its latency may never exceed the client's.
                if theirs > ours + latency_tolerance_ms() {
                    too_long.push(line());
                } else if ours - theirs > latency_tolerance_ms() {
                    descheduled.push(line());
                }
            }
        }
    }
    assert!(
        too_long.is_empty(),
        "netoproc's latency exceeds the client's by more than {} ms:\n{}",
        latency_tolerance_ms(),
        too_long.join("\n")
    );
    // The client's own measurement also holds its wake-up after the answer
    // arrived: on this 2-vCPU VM the hypervisor or another thread delays it
    // by over a millisecond now and then. One such lookup in 122 is noise;
    // more is netoproc mis-timing (or delaying) them.
    assert!(
        descheduled.len() <= MAX_DELAYED_CLIENTS,
        "latencies short of the client's by more than {} ms:\n{}",
        latency_tolerance_ms(),
        descheduled.join("\n")
    );
    if !descheduled.is_empty() {
        eprintln!(
            "client wake-up delayed (allowed): {}",
            descheduled.join("; ")
        );
    }
    let slowest = log.lookups.iter().filter_map(|l| l.latency_us).max();
    eprintln!(
        "DNS latencies: worst difference {worst:.3} ms over {} lookups; slowest {:?} µs",
        log.lookups.len(),
        slowest
    );

    let client_resolvers: Vec<&Value> = dns["resolvers"].as_array().unwrap().iter().collect();
    assert!(client_resolvers
        .iter()
        .any(|r| r["resolver"] == format!("{}:53", pair.v4(2))));
    let proc_row = dns["processes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["pid"] == client.pid)
        .expect("the client's process row");
    assert_eq!(proc_row["failures"]["timeout"], 1);
    assert_eq!(proc_row["failures"]["nxdomain"], (QUERIES / 8) as u64);

    let connected = log.connected.as_deref().expect("the client connected");
    let conn = report
        .connections
        .iter()
        .find(|c| c.pid == client.pid && c.remote.as_deref() == Some(connected))
        .unwrap_or_else(|| panic!("no connection row to {connected}"));
    assert_eq!(conn.remote_host.as_deref(), Some("web.np.test"));
}

/// netoproc's row for lookup `l`: same id, name, type, transport.
fn find<'a>(rows: &[&'a Value], l: &Lookup) -> &'a Value {
    rows.iter()
        .copied()
        .find(|q| {
            q["id"] == l.id
                && q["name"] == l.name.as_str()
                && q["type"] == type_name(l.qtype)
                && q["transport"] == l.transport.as_str()
        })
        .unwrap_or_else(|| panic!("no row for lookup {l:?}"))
}
