//! The whole loop without root: a scripted backend, a stepping clock and a
//! `/proc` fixture written to a temporary directory.

use std::fs;
use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use netoproc_core::Protocol;

use super::*;
use crate::fake::{FakeBackend, FakeSocket, StepClock};

fn socket(cookie: u64, pid: u32, opens_at: u64, closes_after: Option<u64>) -> FakeSocket {
    FakeSocket {
        cookie,
        pid,
        comm: format!("gen{pid}"),
        protocol: Protocol::Tcp,
        remote: "192.0.2.7:443".parse().unwrap(),
        tx_per_read: 1000,
        rx_per_read: 250,
        opens_at,
        closes_after,
    }
}

/// A `/proc` with one process (pid 42, in a docker container) and `self`.
fn proc_fixture(dir: &Path) {
    let p = dir.join("42");
    fs::create_dir_all(&p).unwrap();
    fs::write(
        p.join("status"),
        "Name:\tcurl\nPPid:\t1\nUid:\t1000\t1000\t1000\t1000\n",
    )
    .unwrap();
    fs::write(p.join("comm"), "curl\n").unwrap();
    fs::write(p.join("cmdline"), b"curl\0https://example.org\0").unwrap();
    let id = "3f9a1c0b7e22".repeat(5) + "abcd";
    fs::write(
        p.join("cgroup"),
        format!("0::/system.slice/docker-{id}.scope\n"),
    )
    .unwrap();
}

fn config(dir: &Path, max_closed: Option<u64>) -> SessionConfig {
    SessionConfig {
        proc_root: dir.to_path_buf(),
        sys_root: dir.to_path_buf(),
        dns: None,
        read_interval: Duration::from_millis(500),
        max_closed,
    }
}

#[test]
fn a_window_reads_every_interval_and_keeps_closed_sockets_bytes() {
    let tmp = tempfile::tempdir().unwrap();
    proc_fixture(tmp.path());
    let clock = StepClock::new();
    let sockets = vec![
        socket(1, 42, 1, None),
        socket(2, 7, 2, Some(3)),
        socket(3, 7, 4, Some(4)),
    ];
    let mut backend = FakeBackend::new(clock.clone(), sockets.clone());
    let mut engine = Engine::new(&mut backend, config(tmp.path(), Some(1)));
    let deadline = clock.now() + Duration::from_secs(5);
    let stop = AtomicBool::new(false);
    let mut seen = Vec::new();
    let end = engine
        .run::<EngineError>(&clock, Some(deadline), &stop, |e| {
            seen.push(e.reads());
            Ok(())
        })
        .unwrap();
    assert!(!end.interrupted);
    assert_eq!(end.duration, Duration::from_secs(5));
    // One read at the start, then one every 500 ms up to the deadline.
    assert_eq!(seen, (1..=10).collect::<Vec<_>>());
    engine.final_read().unwrap();
    let reads = engine.reads();
    assert_eq!(reads, 11);

    engine.name_processes();
    let report = engine.ledger().report();
    engine.look_up_containers(&report);
    let sum = |pid: u32| {
        sockets
            .iter()
            .filter(|s| s.pid == pid)
            .map(|s| s.total_after(reads).tx_bytes)
            .sum::<u64>()
    };
    for p in &report.processes {
        assert_eq!(p.counters.tx_bytes, sum(p.pid), "pid {}", p.pid);
    }
    assert_eq!(report.processes.len(), 2);
    assert_eq!(
        report.total.tx_bytes,
        sockets
            .iter()
            .map(|s| s.total_after(reads).tx_bytes)
            .sum::<u64>()
    );
    // Past one closed connection, both closed ones were folded; the bytes
    // stayed.
    assert_eq!(engine.folded(), 2);
    assert_eq!(report.connections.len(), 1);
    // Pid 42 is named from the fixture's /proc, its container from its
    // cgroup; pid 7 is gone from /proc and keeps the kernel's name.
    assert_eq!(
        engine.ledger().process(42).unwrap().cmdline,
        "curl https://example.org"
    );
    assert!(engine.ledger().process(7).is_none());
    assert_eq!(
        engine.containers().get(&42).map(|c| &**c),
        Some("docker:3f9a1c0b7e22")
    );
    // Identities were read while the processes ran (at each read); pid 7
    // never was in /proc.
    let mut identified = report.clone();
    engine.identify(&mut identified);
    let of = |pid: u32| {
        identified
            .processes
            .iter()
            .find(|p| p.pid == pid)
            .and_then(|p| p.identity.clone())
    };
    let id42 = of(42).expect("pid 42 identified");
    assert_eq!(id42.workload.label(), "docker:3f9a1c0b7e22");
    assert_eq!(id42.ppid, Some(1));
    assert!(of(7).is_none());
    assert_eq!(
        engine.losses().unwrap(),
        netoproc_core::report::Losses::default()
    );
}

#[test]
fn the_stop_flag_ends_a_window_without_deadline() {
    let tmp = tempfile::tempdir().unwrap();
    let clock = StepClock::new();
    let mut backend = FakeBackend::new(clock.clone(), vec![socket(1, 42, 1, None)]);
    let mut engine = Engine::new(&mut backend, config(tmp.path(), None));
    let stop = AtomicBool::new(false);
    let end = engine
        .run::<EngineError>(&clock, None, &stop, |e| {
            if e.reads() == 3 {
                stop.store(true, std::sync::atomic::Ordering::Relaxed);
            }
            Ok(())
        })
        .unwrap();
    assert!(end.interrupted);
    assert_eq!(engine.reads(), 3);
    assert_eq!(engine.ledger().report().total.tx_bytes, 3000);
}

#[test]
fn an_error_from_the_read_callback_ends_the_window() {
    let tmp = tempfile::tempdir().unwrap();
    let clock = StepClock::new();
    let mut backend = FakeBackend::new(clock.clone(), vec![]);
    let mut engine = Engine::new(&mut backend, config(tmp.path(), None));
    let stop = AtomicBool::new(false);
    let r: Result<WindowEnd, String> = engine.run(&clock, None, &stop, |e| {
        if e.reads() == 2 {
            Err("enough".to_string())
        } else {
            Ok(())
        }
    });
    assert_eq!(r, Err("enough".into()));
}

impl From<EngineError> for String {
    fn from(e: EngineError) -> String {
        e.to_string()
    }
}

#[test]
fn closed_sockets_past_the_cap_fold_into_exact_process_rows() {
    use netoproc_core::{Counters, Family, Owner, SocketCookie, SocketRecord, Tuple};
    let rec = |cookie: u64, closed: bool| SocketRecord {
        cookie: SocketCookie(cookie),
        owner: Some(Owner {
            pid: 7,
            comm: "dig".into(),
            cgroup_id: 1,
            netns: 1,
            ..Owner::default()
        }),
        tuple: Some(Tuple {
            protocol: Protocol::Udp,
            family: Family::Ipv4,
            local: "10.0.0.1:40000".parse().unwrap(),
            remote: Some("10.0.0.53:53".parse().unwrap()),
        }),
        counters: Counters {
            tx_bytes: 40,
            rx_bytes: 100,
            ..Counters::default()
        },
        closed,
        ..SocketRecord::default()
    };
    let mut ledger = SocketLedger::new();
    ledger.observe_socket(rec(1, false));
    for cookie in 2..=5 {
        ledger.observe_socket(rec(cookie, true));
    }
    let before = ledger.report();
    // At the cap nothing happens; past it every closed socket folds.
    assert_eq!(fold_closed(&mut ledger, 4), 0);
    assert_eq!(fold_closed(&mut ledger, 3), 4);
    let after = ledger.report();
    assert_eq!(after.processes, before.processes);
    assert_eq!(after.processes[0].sockets, 5);
    assert_eq!(after.total, before.total);
    assert_eq!(after.connections.len(), 1);
    assert_eq!(fold_closed(&mut ledger, 3), 0);
}

/// Each closed TCP connection is in exactly one take, whatever the book
/// does with its row (here: a book of one closed row, folding the rest).
#[test]
fn closed_connections_are_handed_out_once_per_owner() {
    use crate::fake::FakeFailure;
    use netoproc_core::lifecycle::{Outcome, Role};
    let tmp = tempfile::tempdir().unwrap();
    let clock = StepClock::new();
    let sockets = vec![
        socket(1, 42, 1, Some(2)),
        socket(2, 42, 1, Some(3)),
        socket(3, 7, 2, Some(3)),
    ];
    let refused = FakeFailure {
        cookie: 99,
        pid: 7,
        comm: "gen7".into(),
        remote: "192.0.2.9:81".parse().unwrap(),
        after_read: 2,
        outcome: Outcome::Refused,
    };
    let mut backend = FakeBackend::new(clock.clone(), sockets).with_lifecycle(vec![refused]);
    let mut cfg = config(tmp.path(), None);
    cfg.max_closed = Some(1);
    let mut engine = Engine::new(&mut backend, cfg);
    engine.count_closed();
    let deadline = clock.now() + Duration::from_secs(5);
    let stop = AtomicBool::new(false);
    let mut by_pid: std::collections::BTreeMap<u32, (u64, u64)> = Default::default();
    engine
        .run::<EngineError>(&clock, Some(deadline), &stop, |e| {
            for c in e.take_closed() {
                let pid = c.owner.expect("owned").pid;
                let n = by_pid.entry(pid).or_default();
                n.0 += c.counts.closed(Role::Client, Outcome::Success);
                n.1 += c.counts.closed(Role::Client, Outcome::Refused);
            }
            Ok(())
        })
        .unwrap();
    engine.final_read().unwrap();
    assert!(engine.take_closed().is_empty());
    assert_eq!(by_pid, [(7, (1, 1)), (42, (2, 0))].into_iter().collect());
    assert_eq!(engine.closed_owners_folded(), 0);
}
