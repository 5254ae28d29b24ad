//! `SocketLedger`: merging observations, reports, retiring closed sockets.

use super::*;
use crate::model::{Family, Owner, Protocol, Tuple};

fn owner(pid: u32) -> Owner {
    Owner {
        pid,
        uid: 1000,
        comm: format!("p{pid}"),
        cgroup_id: 9,
        netns: 1,
        ..Owner::default()
    }
}

fn sock(cookie: u64, pid: Option<u32>, tx: u64, rx: u64) -> SocketRecord {
    SocketRecord {
        cookie: SocketCookie(cookie),
        owner: pid.map(owner),
        tuple: Some(Tuple {
            protocol: Protocol::Tcp,
            family: Family::Ipv4,
            local: "10.0.0.1:40000".parse().unwrap(),
            remote: Some("10.0.0.2:80".parse().unwrap()),
        }),
        counters: Counters {
            tx_bytes: tx,
            rx_bytes: rx,
            ..Default::default()
        },
        ..SocketRecord::default()
    }
}

#[test]
fn processes_sum_their_sockets_and_merge_observations() {
    let mut l = SocketLedger::new();
    l.observe_socket(sock(1, Some(10), 100, 5));
    l.observe_socket(sock(2, Some(10), 50, 0));
    l.observe_socket(sock(3, Some(11), 1, 1));
    // A close event with later counters for socket 1.
    let mut closed = sock(1, Some(10), 150, 5);
    closed.closed = true;
    l.observe_socket(closed);
    // A stale map read must not lower anything.
    l.observe_socket(sock(1, Some(10), 120, 5));

    let r = l.report();
    assert_eq!(r.processes.len(), 2);
    assert_eq!(r.processes[0].pid, 10);
    assert_eq!(r.processes[0].counters.tx_bytes, 200);
    assert_eq!(r.processes[0].sockets, 2);
    assert_eq!(r.total.tx_bytes, 201);
    let c1 = r.connections.iter().find(|c| c.cookie == 1).unwrap();
    assert_eq!(c1.state, "closed");
}

#[test]
fn process_info_names_rows_after_exit() {
    let mut l = SocketLedger::new();
    l.observe_socket(sock(1, Some(42), 10, 0));
    assert_eq!(l.pids_without_info(), vec![42]);
    l.observe_process(ProcessInfo {
        pid: 42,
        comm: "short".into(),
        cmdline: "short --once".into(),
        ..Default::default()
    });
    assert!(l.pids_without_info().is_empty());
    let r = l.report();
    assert_eq!(r.processes[0].cmdline, "short --once");
    assert_eq!(r.processes[0].process, "short");
}

#[test]
fn unowned_sockets_are_counted_not_attributed() {
    let mut l = SocketLedger::new();
    let mut s = sock(5, None, 0, 0);
    s.counters.rx_wire_bytes = 60;
    l.observe_socket(s);
    let r = l.report();
    assert!(r.processes.is_empty());
    assert_eq!(r.connections.len(), 1);
    assert_eq!(r.connections[0].pid, 0);
    assert_eq!(
        l.unowned(),
        Unowned {
            sockets: 1,
            bytes: 0,
            wire_bytes: 60
        }
    );
}

#[test]
fn unconnected_udp_splits_by_remote_and_keeps_the_remainder() {
    let mut l = SocketLedger::new();
    let mut s = sock(7, Some(3), 300, 40);
    s.tuple = Some(Tuple {
        protocol: Protocol::Udp,
        family: Family::Ipv6,
        local: "[::]:5353".parse().unwrap(),
        remote: None,
    });
    l.observe_socket(s);
    for (port, tx) in [(1001u16, 100u64), (1002, 150)] {
        l.observe_peer(PeerRecord {
            cookie: SocketCookie(7),
            remote: SocketAddr::new("::ffff:10.0.0.9".parse().unwrap(), port),
            tx_bytes: tx,
            rx_bytes: 10,
            tx_calls: 1,
            rx_calls: 1,
        });
    }
    let r = l.report();
    let rows: Vec<_> = r.connections.iter().filter(|c| c.cookie == 7).collect();
    assert_eq!(rows.len(), 3);
    let sum: u64 = rows.iter().map(|c| c.counters.tx_bytes).sum();
    assert_eq!(sum, 300);
    assert!(rows
        .iter()
        .any(|c| c.remote == Some("10.0.0.9:1002".parse().unwrap())));
    let rest = rows.iter().find(|c| c.remote.is_none()).unwrap();
    assert_eq!((rest.counters.tx_bytes, rest.counters.rx_bytes), (50, 20));
}

#[test]
fn retiring_keeps_process_totals_and_drops_connections() {
    let mut l = SocketLedger::new();
    l.observe_socket(sock(1, Some(10), 100, 5));
    let mut closed = sock(2, Some(10), 50, 7);
    closed.closed = true;
    l.observe_socket(closed.clone());
    let mut gone = sock(3, Some(11), 30, 0);
    gone.closed = true;
    l.observe_socket(gone);
    let mut nobody = sock(4, None, 0, 0);
    nobody.counters.rx_wire_bytes = 60;
    nobody.closed = true;
    l.observe_socket(nobody);
    let before = l.report();
    let unowned_before = l.unowned();

    assert_eq!(l.retire_closed(), 3);
    assert_eq!(l.socket_count(), 1);
    assert!(l.is_closed(SocketCookie(2)) && !l.is_closed(SocketCookie(1)));
    let after = l.report();
    assert_eq!(after.processes, before.processes);
    assert_eq!(after.total, before.total);
    assert_eq!(l.unowned(), unowned_before);
    assert_eq!(after.connections.len(), 1);
    assert_eq!(after.connections[0].cookie, 1);

    // The kernel reports socket 2 again with a few more bytes (its FIN):
    // only the difference is added, and a stale read adds nothing.
    closed.counters.tx_bytes = 52;
    l.observe_socket(closed.clone());
    closed.counters.tx_bytes = 51;
    l.observe_socket(closed.clone());
    let p10 = |r: &Report| r.processes.iter().find(|p| p.pid == 10).unwrap().clone();
    assert_eq!(p10(&l.report()).counters.tx_bytes, 152);
    assert_eq!(p10(&l.report()).sockets, 2);

    // Seen since the last call: kept; then not seen again: forgotten.
    l.retire_closed();
    assert!(l.is_closed(SocketCookie(2)));
    assert!(!l.is_closed(SocketCookie(3)));
    l.retire_closed();
    assert!(!l.is_closed(SocketCookie(2)));
    assert_eq!(p10(&l.report()).counters.tx_bytes, 152);
}

#[test]
fn retired_udp_peers_are_dropped_and_not_recreated() {
    let mut l = SocketLedger::new();
    let mut s = sock(7, Some(3), 300, 0);
    s.tuple.as_mut().unwrap().remote = None;
    s.closed = true;
    l.observe_socket(s);
    let peer = PeerRecord {
        cookie: SocketCookie(7),
        remote: "10.0.0.9:53".parse().unwrap(),
        tx_bytes: 100,
        rx_bytes: 0,
        tx_calls: 1,
        rx_calls: 0,
    };
    l.observe_peer(peer);
    l.retire_closed();
    l.observe_peer(peer);
    assert!(l.peers.is_empty());
    let r = l.report();
    assert!(r.connections.is_empty());
    assert_eq!(r.processes[0].counters.tx_bytes, 300);
    assert_eq!(l.pids_without_info(), vec![3]);
}

#[test]
fn unordered_report_has_the_same_rows() {
    let mut l = SocketLedger::new();
    for i in 0..20u64 {
        l.observe_socket(sock(i + 1, Some(10 + (i % 3) as u32), i * 7 % 11, i % 5));
    }
    let sorted = l.report();
    let mut unordered = l.report_unordered();
    assert_eq!(unordered.processes, sorted.processes);
    assert_eq!(unordered.total, sorted.total);
    unordered.connections.sort_by_key(|c| c.cookie);
    let mut by_cookie = sorted.connections.clone();
    by_cookie.sort_by_key(|c| c.cookie);
    assert_eq!(unordered.connections, by_cookie);
    // The sorted one is largest first.
    assert!(sorted
        .connections
        .windows(2)
        .all(|w| volume(&w[0].counters) >= volume(&w[1].counters)));
}

#[test]
fn silent_sockets_are_left_out() {
    let mut l = SocketLedger::new();
    l.observe_socket(sock(1, Some(10), 0, 0));
    assert_eq!(l.report(), Report::default());
}

#[test]
fn closed_count_counts_held_closed_sockets_only() {
    let mut l = SocketLedger::new();
    l.observe_socket(sock(1, Some(10), 1, 1));
    for cookie in 2..5 {
        let mut s = sock(cookie, Some(10), 1, 1);
        s.closed = true;
        l.observe_socket(s);
    }
    assert_eq!(l.closed_count(), 3);
    l.retire_closed();
    assert_eq!(l.closed_count(), 0);
    assert_eq!(l.socket_count(), 1);
}

fn started(pid: u32, start: u64, comm: &str) -> ProcessInfo {
    ProcessInfo {
        pid,
        comm: comm.into(),
        cmdline: comm.into(),
        start_time_ns: start,
        uid: 1000,
        ..Default::default()
    }
}

#[test]
fn a_reused_pid_is_a_new_process_whose_rows_never_merge_with_the_old() {
    let mut l = SocketLedger::new();
    l.observe_process(started(42, 100, "old"));
    l.observe_socket(sock(1, Some(42), 10, 0));
    let mut gone = sock(2, Some(42), 5, 0);
    gone.closed = true;
    l.observe_socket(gone);
    l.retire_closed();
    // pid 42 comes round again as another process.
    l.observe_process(started(42, 900, "new"));
    l.observe_socket(sock(3, Some(42), 1000, 0));
    // A late observation of the old process's open socket stays with it.
    l.observe_socket(sock(1, Some(42), 20, 0));

    let r = l.report();
    assert_eq!(r.processes.len(), 2, "{:?}", r.processes);
    let new = &r.processes[0];
    let old = &r.processes[1];
    assert_eq!(
        (new.pid, new.start_time_ns, new.process.as_str()),
        (42, Some(900), "new")
    );
    assert_eq!((new.counters.tx_bytes, new.sockets), (1000, 1));
    assert_eq!(
        (old.pid, old.start_time_ns, old.process.as_str()),
        (42, Some(100), "old")
    );
    assert_eq!((old.counters.tx_bytes, old.sockets), (25, 2));
    assert_eq!(r.total.tx_bytes, 1025);
}

#[test]
fn an_owner_with_a_start_time_joins_its_own_process_whatever_came_first() {
    let mut l = SocketLedger::new();
    l.observe_process(started(42, 100, "old"));
    l.observe_socket(sock(1, Some(42), 10, 0));
    // The new process of pid 42 sends before its record arrives.
    let mut s = sock(3, Some(42), 1000, 0);
    s.owner.as_mut().unwrap().start_time_ns = 900;
    l.observe_socket(s);
    l.observe_process(started(42, 900, "new"));
    let r = l.report();
    let of = |start: u64| {
        let p = r.processes.iter().find(|p| p.start_time_ns == Some(start));
        let p = p.unwrap_or_else(|| panic!("no process started at {start}: {r:?}"));
        (p.process.clone(), p.counters.tx_bytes)
    };
    assert_eq!(of(900), ("new".to_string(), 1000));
    assert_eq!(of(100), ("old".to_string(), 10));
}

#[test]
fn a_socket_seen_before_its_process_record_joins_the_process_once_known() {
    let mut l = SocketLedger::new();
    let mut s = sock(1, Some(7), 10, 0);
    s.closed = true;
    l.observe_socket(s);
    l.retire_closed();
    l.observe_process(started(7, 55, "late"));
    let r = l.report();
    assert_eq!(r.processes.len(), 1);
    assert_eq!(
        (
            r.processes[0].start_time_ns,
            r.processes[0].process.as_str()
        ),
        (Some(55), "late")
    );
}

#[test]
fn an_unknown_uid_is_absent_not_root() {
    let mut l = SocketLedger::new();
    let mut s = sock(1, Some(9), 10, 0);
    s.owner.as_mut().unwrap().uid = crate::model::UNKNOWN_UID;
    l.observe_socket(s);
    assert_eq!(l.report().processes[0].uid, None);
    let mut info = started(9, 1, "x");
    info.uid = crate::model::UNKNOWN_UID;
    l.observe_process(info);
    assert_eq!(l.report().processes[0].uid, None);
}

#[test]
fn processes_past_the_bound_are_summed_in_one_counted_row() {
    let mut l = SocketLedger::new();
    let extra = 10u32;
    let n = MAX_PROCESS_ROWS as u32 + extra;
    for pid in 1..=n {
        l.observe_process(started(pid, u64::from(pid), "short"));
        let mut s = sock(u64::from(pid), Some(pid), 1, 0);
        s.closed = true;
        l.observe_socket(s);
        if pid % 4096 == 0 {
            l.retire_closed();
        }
    }
    l.retire_closed();
    let r = l.report();
    assert_eq!(l.processes_folded(), u64::from(extra));
    assert_eq!(r.processes.len(), MAX_PROCESS_ROWS + 1);
    let other = r
        .processes
        .iter()
        .find(|p| p.pid == 0)
        .expect("overflow row");
    assert_eq!(other.process, crate::report::OTHER_PROCESSES);
    assert_eq!(
        (other.counters.tx_bytes, other.sockets),
        (u64::from(extra), u64::from(extra))
    );
    assert_eq!(r.total.tx_bytes, u64::from(n));
}

#[test]
fn forgotten_processes_leave_their_rows_but_not_the_total() {
    let mut l = SocketLedger::new();
    let mut gone = sock(1, Some(10), 100, 5);
    gone.closed = true;
    l.observe_socket(gone.clone());
    l.observe_socket(sock(2, Some(11), 7, 7));
    l.retire_closed();
    let before = l.report();
    // Pid 11 still owns a socket: kept. Pid 10 goes.
    let pids: std::collections::HashSet<u32> = [10, 11].into();
    assert_eq!(l.forget_processes(&pids), 1);
    let after = l.report();
    assert_eq!(after.total, before.total);
    assert_eq!(after.processes.len(), 1);
    assert_eq!(after.processes[0].pid, 11);
    // A late observation of pid 10's retired socket still counts.
    gone.counters.tx_bytes = 150;
    l.observe_socket(gone);
    assert_eq!(l.report().total.tx_bytes, before.total.tx_bytes + 50);
    assert_eq!(l.unowned().bytes, 0);
}

#[test]
fn new_processes_are_handed_out_once() {
    let mut l = SocketLedger::new();
    let p = |pid: u32, start: u64| ProcessInfo {
        pid,
        start_time_ns: start,
        comm: "x".into(),
        ..ProcessInfo::default()
    };
    l.observe_process(p(5, 100));
    l.observe_process(p(5, 100));
    l.observe_process(p(6, 0));
    let key = |pid, start_time_ns| ProcessKey { pid, start_time_ns };
    assert_eq!(l.take_new_processes(), [key(5, 100), key(6, 0)]);
    assert!(l.take_new_processes().is_empty());
    // A reused pid is a new process.
    l.observe_process(p(5, 200));
    assert_eq!(l.take_new_processes(), [key(5, 200)]);
}
