//! A fixed scenario for render tests: a handful of processes and sockets
//! fed through the real core ledger and the live model over six ticks of a
//! fixed clock, so rates, sparklines, a closing connection (shown fading)
//! and an unowned socket all appear, the same on every run.

use std::time::Duration;

use netoproc_core::clock::{Clock, FixedClock};
use netoproc_core::ledger::SocketLedger;
use netoproc_core::report::Losses;
use netoproc_core::{
    Counters, Family, Owner, PeerRecord, ProcessInfo, Protocol, SocketCookie, SocketRecord, Tuple,
};
use netoproc_tui::model::OwnUsage;
use netoproc_tui::sysnet::InterfaceCounters;
use netoproc_tui::{App, LiveModel, RunInfo, Tick, ViewModel};
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

/// Ticks fed to the model; the last is what is shown.
pub const TICKS: u64 = 6;

fn addr(s: &str) -> std::net::SocketAddr {
    s.parse().unwrap()
}

fn record(s: &Sock, tick: u64) -> SocketRecord {
    let secs = tick.min(s.closes_at.unwrap_or(u64::MAX));
    let owner = s.pid.map(|pid| {
        let (_, comm, _, cgroup_id) = PROCS.iter().find(|p| p.0 == pid).unwrap();
        Owner {
            pid,
            uid: 1000,
            comm: comm.to_string(),
            cgroup_id: *cgroup_id,
            netns: 1,
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
    }
}

fn interfaces(tick: u64) -> Vec<InterfaceCounters> {
    vec![
        InterfaceCounters {
            name: "eth0".into(),
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
            name: "lo".into(),
            rx_bytes: 40_000_000 + 56_000 * tick,
            tx_bytes: 40_000_000 + 56_000 * tick,
            rx_packets: 300_000 + 80 * tick,
            tx_packets: 300_000 + 80 * tick,
            ..Default::default()
        },
    ]
}

/// The model after [`TICKS`] one-second ticks.
pub fn scenario() -> ViewModel {
    let mut clock = FixedClock::at_unix_secs(1_795_000_000);
    let started = clock.now();
    let mut ledger = SocketLedger::new();
    for (pid, comm, cmdline, _) in PROCS {
        ledger.observe_process(ProcessInfo {
            pid: *pid,
            ppid: 1,
            uid: 1000,
            comm: comm.to_string(),
            cmdline: cmdline.to_string(),
            start_time_ns: 0,
        });
    }
    let mut model = LiveModel::new(RunInfo {
        capture_mode: "ebpf".into(),
        hooks: "tracepoint".into(),
        degraded: vec![],
        interval: Duration::from_secs(1),
    });
    let mut vm = ViewModel::default();
    for tick in 0..=TICKS {
        for s in SOCKS {
            ledger.observe_socket(record(s, tick));
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
        let ifs = interfaces(tick);
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
