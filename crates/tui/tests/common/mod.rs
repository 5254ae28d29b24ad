//! A fixed scenario for render tests: a handful of processes and sockets
//! fed through the real core ledger and the live model over six ticks of a
//! fixed clock, so rates, sparklines, a closing connection (shown fading)
//! and an unowned socket all appear, the same on every run; with the
//! containers, the DNS observatory's report and the TCP lifecycle report
//! (from the core's real connection book, fed lifecycle steps and live
//! samples: handshakes, RTTs, retransmissions, response times, a refused
//! connect and a timeout) the binary would hand in.

// Each test binary uses only some of these fixtures.
#![allow(dead_code)]

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Duration;

use netoproc_core::clock::{Clock, FixedClock};
use netoproc_core::ledger::SocketLedger;
use netoproc_core::lifecycle::{
    ConnectionBook, ConnectionLife, LifeEvent, Outcome, ResponseHistogram, Role, Step, TcpHealth,
};
use netoproc_core::report::Losses;
use netoproc_core::{
    Counters, Family, Owner, PeerRecord, ProcessInfo, Protocol, SocketCookie, SocketRecord, Tuple,
};
use netoproc_dns::{DnsReport, DnsStats, Failures, QueryRow, QueryStatus, ResolverRow};
use netoproc_tui::model::OwnUsage;
use netoproc_tui::sysnet::InterfaceCounters;
use netoproc_tui::{App, Containers, DnsTick, LiveModel, RunInfo, Tick, ViewModel};
use ratatui::backend::TestBackend;
use ratatui::Terminal;

struct Sock {
    cookie: u64,
    pid: Option<u32>,
    protocol: Protocol,
    local: &'static str,
    remote: Option<&'static str>,
    /// Bytes per second moved (tx, rx).
    tx_per_s: u64,
    rx_per_s: u64,
    /// Tick at which the owner closes it.
    closes_at: Option<u64>,
}

const SOCKS: &[Sock] = &[
    Sock {
        cookie: 11,
        pid: Some(4242),
        protocol: Protocol::Tcp,
        local: "[2001:db8::10]:51544",
        remote: Some("[2606:2800:220:1:248:1893:25c8:1946]:443"),
        tx_per_s: 1_200,
        rx_per_s: 2_400_000,
        closes_at: None,
    },
    Sock {
        cookie: 12,
        pid: Some(1717),
        protocol: Protocol::Tcp,
        local: "192.168.1.20:48812",
        remote: Some("151.101.1.140:443"),
        tx_per_s: 9_000,
        rx_per_s: 310_000,
        closes_at: None,
    },
    Sock {
        cookie: 13,
        pid: Some(1717),
        protocol: Protocol::Tcp,
        local: "192.168.1.20:48820",
        remote: Some("140.82.112.25:443"),
        tx_per_s: 800,
        rx_per_s: 1_500,
        closes_at: Some(4),
    },
    Sock {
        cookie: 14,
        pid: Some(1717),
        protocol: Protocol::Udp,
        local: "192.168.1.20:55001",
        remote: Some("142.250.74.110:443"),
        tx_per_s: 40_000,
        rx_per_s: 650_000,
        closes_at: None,
    },
    Sock {
        cookie: 21,
        pid: Some(812),
        protocol: Protocol::Udp,
        local: "0.0.0.0:5353",
        remote: None,
        tx_per_s: 90,
        rx_per_s: 240,
        closes_at: None,
    },
    Sock {
        cookie: 31,
        pid: Some(2201),
        protocol: Protocol::Tcp,
        local: "127.0.0.1:5432",
        remote: Some("127.0.0.1:39410"),
        tx_per_s: 52_000,
        rx_per_s: 3_100,
        closes_at: None,
    },
    Sock {
        cookie: 32,
        pid: Some(3307),
        protocol: Protocol::Tcp,
        local: "127.0.0.1:39410",
        remote: Some("127.0.0.1:5432"),
        tx_per_s: 3_100,
        rx_per_s: 52_000,
        closes_at: None,
    },
    Sock {
        cookie: 41,
        pid: Some(955),
        protocol: Protocol::Tcp,
        local: "10.0.0.5:22",
        remote: Some("10.0.0.77:60122"),
        tx_per_s: 4_500,
        rx_per_s: 320,
        closes_at: None,
    },
    Sock {
        cookie: 51,
        pid: None,
        protocol: Protocol::Tcp,
        local: "10.0.0.5:8080",
        remote: Some("10.0.0.9:41000"),
        tx_per_s: 0,
        rx_per_s: 0,
        closes_at: None,
    },
];

const PROCS: &[(u32, &str, &str, u64)] = &[
    (
        4242,
        "curl",
        "curl -sSLO https://downloads.example.org/releases/2026.11/distribution-netinst.iso",
        8812,
    ),
    (
        1717,
        "firefox",
        "/usr/lib/firefox/firefox -contentproc -childID 4 -isForBrowser",
        7301,
    ),
    (
        812,
        "systemd-resolve",
        "/usr/lib/systemd/systemd-resolved",
        1022,
    ),
    (
        2201,
        "postgres",
        "postgres: app app 127.0.0.1(39410) idle",
        5120,
    ),
    (3307, "python3", "python3 manage.py runworker", 5120),
    (955, "sshd", "sshd: admin@pts/0", 0),
];

/// Container and service labels, as `netoproc_procfs` reads them.
const CONTAINERS: &[(u32, &str)] = &[
    (812, "systemd-resolved.service"),
    (2201, "docker:4c01db0b339c"),
    (3307, "k8s:d7dfb4a21fe1"),
    (955, "ssh.service"),
];

/// Names DNS answers gave for remote addresses of the scenario.
const HOSTS: &[(&str, &str)] = &[
    (
        "2606:2800:220:1:248:1893:25c8:1946",
        "downloads.example.org",
    ),
    ("151.101.1.140", "www.reddit.com"),
    ("140.82.112.25", "alive.github.com"),
    ("142.250.74.110", "www.youtube.com"),
];

/// The queries of the scenario, oldest first: seconds before the last
/// tick, pid, process, name, type, rcode (`-`: no answer), latency in ms,
/// resolver, then the answers separated by `, `.
const QUERIES: &str = "\
5.9 4242 curl downloads.example.org AAAA NOERROR 23.4 127.0.0.53:53 2606:2800:220:1:248:1893:25c8:1946
5.9 4242 curl downloads.example.org A NOERROR 22.9 127.0.0.53:53 93.184.215.14
5.6 4242 curl mirror.example.net A - - 192.168.1.1:53
4.1 812 systemd-resolve www.reddit.com A NOERROR 14.2 192.168.1.1:53 CNAME reddit.map.fastly.net, 151.101.1.140
4.1 1717 firefox www.reddit.com A NOERROR 15.0 127.0.0.53:53 CNAME reddit.map.fastly.net, 151.101.1.140
4.0 1717 firefox www.reddit.com HTTPS NOERROR 0.4 127.0.0.53:53
2.2 3307 python3 db.internal.example A NXDOMAIN 3.1 127.0.0.53:53
1.2 1717 firefox alive.github.com A NOERROR 187.5 127.0.0.53:53 140.82.112.25
0.9 1717 firefox www.youtube.com A NOERROR 0.3 127.0.0.53:53 CNAME youtube-ui.l.google.com, 142.250.74.110
0.1 1717 firefox telemetry.example.com AAAA - - 127.0.0.53:53
";

/// The DNS observatory's report at the last tick (`now_ns`).
fn dns_report(now_ns: u64, label: Label) -> DnsReport {
    let queries = QUERIES
        .lines()
        .enumerate()
        .map(|(i, line)| {
            let f: Vec<&str> = line.splitn(9, ' ').collect();
            let ago_ms = (f[0].parse::<f64>().unwrap() * 1000.0) as u64;
            let answered = f[5] != "-";
            QueryRow {
                pid: f[1].parse().unwrap(),
                process: label(f[2]),
                name: label(f[3]),
                qtype: f[4].into(),
                rcode: answered.then(|| f[5].into()),
                status: match (answered, ago_ms) {
                    (true, _) => QueryStatus::Answered,
                    (false, 0..5_000) => QueryStatus::Pending,
                    (false, _) => QueryStatus::Timeout,
                },
                answers: f
                    .get(8)
                    .map_or(Vec::new(), |a| a.split(", ").map(label).collect()),
                latency_ms: f[6].parse().ok(),
                resolver: addr(f[7]),
                transport: Protocol::Udp,
                id: 0x3a00 + i as u16,
                truncated: false,
                retries: 0,
                sent_ns: now_ns - ago_ms * 1_000_000,
            }
        })
        .collect();
    let resolver = |a: &str, queries, pending, timeout, nxdomain, p50, p99| ResolverRow {
        resolver: addr(a),
        queries,
        answered: queries - timeout,
        pending,
        failures: Failures {
            nxdomain,
            timeout,
            ..Failures::default()
        },
        failure_rate: timeout as f64 / queries as f64,
        p50_ms: Some(p50),
        p99_ms: Some(p99),
    };
    DnsReport {
        queries,
        resolvers: vec![
            resolver("127.0.0.53:53", 7, 1, 0, 1, 15.0, 187.5),
            resolver("192.168.1.1:53", 2, 0, 1, 0, 14.2, 14.2),
        ],
        processes: Vec::new(),
        stats: DnsStats::default(),
    }
}

/// Cookie, role, handshake µs, RTT µs, retransmits and segments per
/// second, response times.
type Health = (u64, Role, u64, u32, u32, u32, &'static [(u64, u64)]);

/// The TCP health of the scenario's owned TCP sockets: cookie, role,
/// handshake and smoothed RTT in µs, retransmitted and sent segments per
/// second, and response times per second (µs, how many).
const HEALTH: &[Health] = &[
    (11, Role::Client, 24_100, 23_800, 3, 1_700, &[(25_300, 2)]),
    (
        12,
        Role::Client,
        12_500,
        12_900,
        0,
        220,
        &[(13_100, 3), (41_000, 1)],
    ),
    (13, Role::Client, 187_000, 190_000, 1, 5, &[(380_000, 1)]),
    (31, Role::Server, 45, 31, 0, 40, &[(420, 6)]),
    (32, Role::Client, 61, 38, 0, 10, &[(510, 5), (1_210, 1)]),
    (41, Role::Server, 31_200, 30_600, 0, 9, &[(180, 4)]),
];

/// Connects that failed, never seen as sockets with traffic: cookie,
/// pid, comm, remote, the tick it ended at and how.
const FAILED: &[(u64, u32, &str, &str, u64, Outcome)] = &[
    (
        91,
        1717,
        "firefox",
        "140.82.112.99:443",
        2,
        Outcome::Refused,
    ),
    (92, 3307, "python3", "10.0.0.40:6379", 3, Outcome::Timeout),
];

const SECOND_NS: u64 = 1_000_000_000;
const BOOT_NS: u64 = 3_600 * SECOND_NS;

/// The lifecycle steps of `tick`: each owned TCP socket's connect and
/// established (or accepted) at its first tick, a live sample every tick,
/// its close; and the failed connects.
fn life_events(tick: u64, label: Label) -> Vec<LifeEvent> {
    let now = BOOT_NS + tick * SECOND_NS;
    let mut out = Vec::new();
    for &(cookie, role, handshake_us, srtt_us, retrans, segs, response) in HEALTH {
        let s = SOCKS.iter().find(|s| s.cookie == cookie).unwrap();
        let closes = s.closes_at.is_some_and(|c| tick == c);
        if s.closes_at.is_some_and(|c| tick > c) {
            continue;
        }
        let secs = tick.min(s.closes_at.unwrap_or(u64::MAX)) as u32;
        let mut hist = ResponseHistogram::default();
        for &(us, n) in response {
            for _ in 0..n * u64::from(secs) {
                hist.record_us(us);
            }
        }
        let life = ConnectionLife {
            role,
            outcome: if closes {
                Outcome::Success
            } else {
                Outcome::Open
            },
            connect_ns: BOOT_NS - handshake_us * 1000,
            established_ns: Some(BOOT_NS),
            closed_ns: closes.then_some(now),
            handshake_ns: Some(handshake_us * 1000),
            health: Some(TcpHealth {
                srtt_us,
                rttvar_us: srtt_us / 10,
                min_rtt_us: srtt_us * 9 / 10,
                cwnd: 10 + secs,
                total_retrans: retrans * secs,
                segs_out: segs * secs.max(1),
            }),
            retrans_events: retrans * secs,
            error: 0,
            closer: None,
            response: hist,
        };
        let steps: &[Step] = match (tick, role, closes) {
            (0, Role::Client, _) => &[Step::Connect, Step::Established],
            (0, Role::Server, _) => &[Step::Accepted],
            (_, _, true) => &[Step::Closed],
            _ => &[Step::Sample],
        };
        for &step in steps {
            out.push(LifeEvent {
                step,
                ktime_ns: now,
                cookie: SocketCookie(cookie),
                record: record(s, tick, label),
                life: life.clone(),
            });
        }
    }
    for &(cookie, pid, comm, remote, at, outcome) in FAILED.iter().filter(|f| f.4 == tick) {
        out.push(LifeEvent {
            step: Step::Closed,
            ktime_ns: now,
            cookie: SocketCookie(cookie),
            record: SocketRecord {
                cookie: SocketCookie(cookie),
                owner: Some(Owner {
                    pid,
                    uid: 1000,
                    comm: label(comm),
                    netns: 1,
                    ..Owner::default()
                }),
                tuple: Some(Tuple {
                    protocol: Protocol::Tcp,
                    family: Family::Ipv4,
                    local: addr("192.168.1.20:48900"),
                    remote: Some(addr(remote)),
                }),
                closed: true,
                owner_is_closer: true,
                ..SocketRecord::default()
            },
            life: ConnectionLife {
                error: 111,
                ..ConnectionLife::client(outcome, now - (at * 100_000_000), Some(now))
            },
        });
    }
    out
}

/// Ticks fed to the model; the last is what is shown.
pub const TICKS: u64 = 6;

fn addr(s: &str) -> std::net::SocketAddr {
    s.parse().unwrap()
}

fn record(s: &Sock, tick: u64, label: Label) -> SocketRecord {
    let secs = tick.min(s.closes_at.unwrap_or(u64::MAX));
    let owner = s.pid.map(|pid| {
        let (_, comm, _, cgroup_id) = PROCS.iter().find(|p| p.0 == pid).unwrap();
        Owner {
            pid,
            uid: 1000,
            comm: label(comm),
            cgroup_id: *cgroup_id,
            netns: 1,
            ..Owner::default()
        }
    });
    let local = addr(s.local);
    // Traffic varies from second to second (in tenths of the nominal
    // rate), so sparklines have a shape.
    const PATTERN: [u64; 7] = [10, 4, 16, 7, 13, 2, 10];
    let tenths: u64 = (1..=secs)
        .map(|i| PATTERN[((i + s.cookie) % 7) as usize])
        .sum();
    let tx = s.tx_per_s * tenths / 10;
    let rx = s.rx_per_s * tenths / 10;
    SocketRecord {
        cookie: SocketCookie(s.cookie),
        owner,
        tuple: Some(Tuple {
            protocol: s.protocol,
            family: if local.is_ipv4() {
                Family::Ipv4
            } else {
                Family::Ipv6
            },
            local,
            remote: s.remote.map(addr),
        }),
        counters: Counters {
            tx_bytes: tx,
            rx_bytes: rx,
            tx_packets: tx / 1400 + secs,
            rx_packets: rx / 1400 + secs,
            tx_wire_bytes: tx + 52 * (tx / 1400 + secs),
            rx_wire_bytes: rx.max(if s.pid.is_none() { 60 * secs } else { 0 })
                + 52 * (rx / 1400 + secs),
            tx_calls: secs,
            rx_calls: secs,
        },
        closed: s.closes_at.is_some_and(|c| tick >= c),
        ..SocketRecord::default()
    }
}

fn interfaces(tick: u64, label: Label) -> Vec<InterfaceCounters> {
    vec![
        InterfaceCounters {
            name: label("eth0"),
            rx_bytes: 9_000_000_000 + 3_500_000 * tick,
            tx_bytes: 700_000_000 + 62_000 * tick,
            rx_packets: 8_000_000 + 2_600 * tick,
            tx_packets: 900_000 + 700 * tick,
            rx_errors: 0,
            tx_errors: 0,
            rx_dropped: 12 + tick / 2,
            tx_dropped: 0,
        },
        InterfaceCounters {
            name: label("lo"),
            rx_bytes: 40_000_000 + 56_000 * tick,
            tx_bytes: 40_000_000 + 56_000 * tick,
            rx_packets: 300_000 + 80 * tick,
            tx_packets: 300_000 + 80 * tick,
            ..Default::default()
        },
    ]
}

/// How the scenario names things: every process name, command line,
/// container label, DNS name and answer and interface name passes through it.
pub type Label<'a> = &'a dyn Fn(&str) -> String;

/// The model after [`TICKS`] one-second ticks.
pub fn scenario() -> ViewModel {
    scenario_named(&|s| s.to_string())
}

/// [`scenario`] with every name from outside passed through `label`.
pub fn scenario_named(label: Label) -> ViewModel {
    let mut clock = FixedClock::at_unix_secs(1_795_000_000);
    let started = clock.now();
    let mut ledger = SocketLedger::new();
    for (pid, comm, cmdline, _) in PROCS {
        ledger.observe_process(ProcessInfo {
            pid: *pid,
            ppid: 1,
            uid: 1000,
            comm: label(comm),
            cmdline: label(cmdline),
            start_time_ns: 0,
        });
    }
    let mut model = LiveModel::new(RunInfo {
        capture_mode: "ebpf".into(),
        hooks: "tracepoint".into(),
        degraded: vec![],
        interval: Duration::from_secs(1),
        lifecycle_off: None,
        lifecycle_missing: vec![],
    });
    let mut book = ConnectionBook::new(1_000, 1_000);
    let containers: Containers = CONTAINERS
        .iter()
        .map(|&(pid, name)| (pid, label(name).into()))
        .collect();
    let boot_ns = BOOT_NS;
    let dns = dns_report(boot_ns + TICKS * SECOND_NS, label);
    let hosts: HashMap<IpAddr, String> = HOSTS
        .iter()
        .map(|(ip, name)| (ip.parse().unwrap(), label(name)))
        .collect();
    let mut vm = ViewModel::default();
    for tick in 0..=TICKS {
        for s in SOCKS {
            ledger.observe_socket(record(s, tick, label));
        }
        // The mDNS socket talks to two remotes.
        for (remote, n) in [("224.0.0.251:5353", 60u64), ("192.168.1.1:5353", 30)] {
            ledger.observe_peer(PeerRecord {
                cookie: SocketCookie(21),
                remote: addr(remote),
                tx_bytes: n * tick,
                rx_bytes: 2 * n * tick,
                tx_calls: tick,
                rx_calls: tick,
            });
        }
        let report = ledger.report();
        for ev in life_events(tick, label) {
            book.observe(&ev);
        }
        let lifecycle = book.report();
        let ifs = interfaces(tick, label);
        vm = model.update(&Tick {
            now: clock.now(),
            uptime: clock.now() - started,
            report: &report,
            losses: Losses {
                unattributed_rx_packets: 24,
                unattributed_rx_wire_bytes: 1536,
                no_owner_wire_bytes: 60 * tick,
                ..Losses::default()
            },
            interfaces: Ok(&ifs),
            own: Some(OwnUsage {
                cpu_percent: 0.4,
                rss_kib: 14_336,
            }),
            containers: &containers,
            dns: Some(DnsTick {
                report: &dns,
                now_ns: boot_ns + tick * SECOND_NS,
                remote_hosts: &hosts,
            }),
            lifecycle: Some(&lifecycle),
            lifecycle_steps_lost: 0,
        });
        ledger.retire_closed();
        clock.advance(Duration::from_secs(1));
    }
    vm
}

/// Arranges `vm` for `app` and draws it on a `width`×`height` test screen.
pub fn screen(app: &mut App, vm: &mut ViewModel, width: u16, height: u16) -> String {
    vm.arrange(app);
    app.follow(vm.row_keys());
    let mut t = Terminal::new(TestBackend::new(width, height)).unwrap();
    t.draw(|f| netoproc_tui::render(f, app, vm)).unwrap();
    t.backend().to_string()
}
