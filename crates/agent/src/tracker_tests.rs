//! The tracker's deltas: closed TCP connections counted once each, under
//! the identity of the process that owned them (pid reuse included), and
//! owners without a name kept, under no name.

use std::collections::HashMap;
use std::time::Instant;

use netoproc_core::identity::ProcessKey;
use netoproc_core::ledger::SocketLedger;
use netoproc_core::lifecycle::{
    ClosedCounts, ConnectionLife, Outcome, ResponseHistogram, Role, TcpHealth,
};
use netoproc_core::model::{Family, Owner, SocketRecord, Tuple};
use netoproc_core::{Counters, Protocol, SocketCookie};

use super::*;

fn life(role: Role, outcome: Outcome) -> ConnectionLife {
    ConnectionLife {
        role,
        outcome,
        connect_ns: 1,
        established_ns: Some(2),
        closed_ns: Some(3),
        handshake_ns: Some(1_000_000),
        health: Some(TcpHealth {
            total_retrans: 1,
            segs_out: 10,
            ..TcpHealth::default()
        }),
        retrans_events: 1,
        error: 0,
        closer: None,
        response: ResponseHistogram::default(),
    }
}

fn closed(pid: u32, start: u64, comm: &str, lives: &[ConnectionLife]) -> ClosedByOwner {
    let mut counts = ClosedCounts::default();
    for l in lives {
        counts.count(l);
    }
    ClosedByOwner {
        owner: Some(ProcessKey {
            pid,
            start_time_ns: start,
        }),
        comm: comm.into(),
        uid: 1000,
        counts,
    }
}

/// A ledger with one TCP socket of (pid, start) named `comm` that moved
/// `tx` bytes.
fn ledger_with(pid: u32, start: u64, comm: &str, tx: u64) -> SocketLedger {
    let mut l = SocketLedger::new();
    l.observe_socket(SocketRecord {
        cookie: SocketCookie(u64::from(pid)),
        owner: Some(Owner {
            pid,
            uid: 1000,
            comm: comm.into(),
            start_time_ns: start,
            ..Owner::default()
        }),
        tuple: Some(Tuple {
            protocol: Protocol::Tcp,
            family: Family::Ipv4,
            local: "10.0.0.1:40000".parse().unwrap(),
            remote: Some("10.0.0.2:80".parse().unwrap()),
        }),
        counters: Counters {
            tx_bytes: tx,
            tx_packets: 1,
            ..Counters::default()
        },
        ..SocketRecord::default()
    });
    l
}

fn read(
    t: &mut DeltaTracker,
    ledger: &SocketLedger,
    closed: &[ClosedByOwner],
) -> HashMap<Identity, Tally> {
    let report = ledger.report();
    t.read(
        Instant::now(),
        ledger,
        &report,
        None,
        &HashMap::new(),
        closed,
    )
    .by_identity
}

fn id(comm: &str) -> Identity {
    Identity::of(comm, None, Some(1000))
}

#[test]
fn closed_connections_count_once_per_read_that_took_them() {
    let mut t = DeltaTracker::default();
    let ledger = ledger_with(7, 500, "curl", 100);
    let took = [closed(
        7,
        500,
        "curl",
        &[
            life(Role::Client, Outcome::Success),
            life(Role::Client, Outcome::Success),
            life(Role::Client, Outcome::Refused),
        ],
    )];
    let d = read(&mut t, &ledger, &took);
    let tcp = d[&id("curl")].tcp;
    assert_eq!(tcp.closed(Role::Client, Outcome::Success), 2);
    assert_eq!(tcp.closed(Role::Client, Outcome::Refused), 1);
    assert_eq!((tcp.retransmits, tcp.segments_out), (3, 30));
    assert_eq!(tcp.handshake.count, 3);
    // The next read took nothing: nothing is counted again, though the
    // process and its socket are still reported.
    let d = read(&mut t, &ledger, &[]);
    assert!(d.get(&id("curl")).is_none_or(|t| t.tcp.is_zero()), "{d:?}");
}

#[test]
fn a_reused_pid_counts_under_the_process_that_owned_the_connection() {
    let mut t = DeltaTracker::default();
    // The report's row of pid 7 is `old` (started at 500); `new` has the
    // same pid now (started at 900) and moved no byte.
    let ledger = ledger_with(7, 500, "old", 100);
    let took = [
        closed(7, 500, "old", &[life(Role::Server, Outcome::Success)]),
        closed(7, 900, "new", &[life(Role::Client, Outcome::Timeout)]),
    ];
    let d = read(&mut t, &ledger, &took);
    assert_eq!(d[&id("old")].tcp.closed(Role::Server, Outcome::Success), 1);
    assert_eq!(d[&id("old")].tcp.total(), 1);
    assert_eq!(d[&id("new")].tcp.closed(Role::Client, Outcome::Timeout), 1);
    assert_eq!(d[&id("new")].tcp.total(), 1);
    // Across reads too: pid 7 later belongs to `new`.
    let ledger = ledger_with(7, 900, "new", 50);
    let took = [closed(
        7,
        900,
        "new",
        &[life(Role::Client, Outcome::Success)],
    )];
    let d = read(&mut t, &ledger, &took);
    assert_eq!(d[&id("new")].tcp.total(), 1);
    assert!(d.get(&id("old")).is_none_or(|t| t.tcp.is_zero()));
}

#[test]
fn connections_without_an_owner_are_counted_under_no_name() {
    let mut t = DeltaTracker::default();
    let ledger = SocketLedger::new();
    let mut nobody = closed(0, 0, "", &[life(Role::Client, Outcome::Reset)]);
    nobody.owner = None;
    let d = read(&mut t, &ledger, &[nobody]);
    assert_eq!(
        d[&Identity::unnamed()]
            .tcp
            .closed(Role::Client, Outcome::Reset),
        1
    );
}
