//! Frame time at scale: 100, 1,000 and 10,000 connections over 500
//! processes (a container for every fifth, a DNS name for every fourth
//! remote). Each frame is one live tick — the ledger's report, the live
//! model's aggregation (rates, history, fading rows), arranging (sort) and
//! rendering to a 160×40 `TestBackend` buffer — timed as a whole, with the
//! median of N runs printed per phase, for the processes view and for the
//! connections view (which sorts every connection). Run in release:
//! `cargo run --release -p netoproc-tui --example frame_time [-- RUNS]`

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use netoproc_core::ledger::SocketLedger;
use netoproc_core::report::Losses;
use netoproc_core::{Counters, Family, Owner, Protocol, SocketCookie, SocketRecord, Tuple};
use netoproc_dns::DnsReport;
use netoproc_tui::sysnet::InterfaceCounters;
use netoproc_tui::{App, Containers, DnsTick, LiveModel, RunInfo, Tick};
use ratatui::backend::TestBackend;
use ratatui::Terminal;

const PROCESSES: u64 = 500;

fn socket(i: u64, tick: u64) -> SocketRecord {
    let pid = 1000 + (i % PROCESSES) as u32;
    let a = [10, (i >> 16) as u8, (i >> 8) as u8, i as u8];
    SocketRecord {
        cookie: SocketCookie(i + 1),
        owner: Some(Owner {
            pid,
            uid: 1000,
            comm: format!("worker-{}", pid % 97),
            cgroup_id: 4000 + u64::from(pid % 20),
            netns: 1,
            ..Owner::default()
        }),
        tuple: Some(Tuple {
            protocol: if i % 5 == 4 {
                Protocol::Udp
            } else {
                Protocol::Tcp
            },
            family: Family::Ipv4,
            local: format!("192.168.0.2:{}", 20000 + i % 40000)
                .parse()
                .unwrap(),
            remote: Some(
                format!("{}.{}.{}.{}:443", a[0], a[1], a[2], a[3])
                    .parse()
                    .unwrap(),
            ),
        }),
        counters: Counters {
            tx_bytes: (i % 13 + 1) * 1000 * tick,
            rx_bytes: (i % 7 + 1) * 30_000 * tick,
            tx_packets: 3 * tick,
            rx_packets: 20 * tick,
            ..Counters::default()
        },
        ..SocketRecord::default()
    }
}

struct Phases {
    report: Duration,
    aggregate: Duration,
    arrange: Duration,
    render: Duration,
    conn_arrange: Duration,
    conn_render: Duration,
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn run(connections: u64, runs: usize) {
    let mut ledger = SocketLedger::new();
    let mut model = LiveModel::new(RunInfo {
        capture_mode: "ebpf".into(),
        hooks: "tracepoint".into(),
        degraded: vec![],
        interval: Duration::from_secs(1),
        lifecycle_off: Some("not part of this measurement".into()),
        lifecycle_missing: vec![],
    });
    let mut term = Terminal::new(TestBackend::new(160, 40)).unwrap();
    let app = App::new();
    let mut conn_app = App::new();
    conn_app.view = netoproc_tui::Screen::Connections;
    let ifs = vec![InterfaceCounters {
        name: "eth0".into(),
        ..Default::default()
    }];
    // Every fifth process in a container.
    let containers: Containers = (0..PROCESSES as u32)
        .step_by(5)
        .map(|i| {
            (
                1000 + i,
                format!("docker:{:012x}", 0x4c01_db0b_0000_u64 + u64::from(i)).into(),
            )
        })
        .collect();
    // A DNS name for every fourth remote address.
    let dns = DnsReport::default();
    let hosts: HashMap<IpAddr, String> = (0..connections)
        .step_by(4)
        .filter_map(|i| {
            let remote = socket(i, 0).tuple?.remote?;
            Some((remote.ip(), format!("host-{i}.example.net")))
        })
        .collect();
    let t0 = Instant::now();
    let mut phases = Vec::new();
    // Two warm-up ticks so rates and history exist.
    for tick in 0..runs as u64 + 2 {
        for i in 0..connections {
            ledger.observe_socket(socket(i, tick));
        }
        let now = t0 + Duration::from_secs(tick);
        let a = Instant::now();
        let report = ledger.report_unordered();
        let b = Instant::now();
        let mut vm = model.update(&Tick {
            now,
            uptime: now - t0,
            report: &report,
            losses: Losses::default(),
            interfaces: Ok(&ifs),
            own: None,
            containers: &containers,
            dns: Some(DnsTick {
                report: &dns,
                now_ns: tick * 1_000_000_000,
                remote_hosts: &hosts,
            }),
            lifecycle: None,
            lifecycle_steps_lost: 0,
        });
        let c = Instant::now();
        vm.arrange(&app);
        let d = Instant::now();
        term.draw(|f| netoproc_tui::render(f, &app, &vm)).unwrap();
        let e = Instant::now();
        vm.arrange(&conn_app);
        let f = Instant::now();
        term.draw(|fr| netoproc_tui::render(fr, &conn_app, &vm))
            .unwrap();
        let g = Instant::now();
        if tick >= 2 {
            phases.push(Phases {
                report: b - a,
                aggregate: c - b,
                arrange: d - c,
                render: e - d,
                conn_arrange: f - e,
                conn_render: g - f,
            });
        }
    }
    let m = |f: fn(&Phases) -> Duration| median(phases.iter().map(f).collect());
    let total = m(|p| p.report + p.aggregate + p.arrange + p.render);
    let conn_total = m(|p| p.report + p.aggregate + p.conn_arrange + p.conn_render);
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "{connections:>6} conns  processes view {:>6.2} ms  connections view {:>6.2} ms  \
         (report {:.2}, aggregate {:.2}, arrange {:.2}/{:.2}, render {:.2}/{:.2}; median of {runs})",
        ms(total),
        ms(conn_total),
        ms(m(|p| p.report)),
        ms(m(|p| p.aggregate)),
        ms(m(|p| p.arrange)),
        ms(m(|p| p.conn_arrange)),
        ms(m(|p| p.render)),
        ms(m(|p| p.conn_render)),
    );
}

fn main() {
    let runs = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(21);
    println!("{PROCESSES} processes, 160x40 screen");
    for n in [100, 1_000, 10_000] {
        run(n, runs);
    }
}
