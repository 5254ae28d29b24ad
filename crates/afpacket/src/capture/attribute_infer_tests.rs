//! The attribution rules for sockets that are gone, ownerless or not yet
//! placed, with the fake of `attribute_tests.rs`: inference (recent owner,
//! only process), waiting and retries, closes and late packets.

use std::time::Duration;

use netoproc_core::ledger::SocketLedger;
use netoproc_core::model::SocketCookie;
use netoproc_procfs::{MatchKind, TcpState};

use super::tests::{attributor, exact, key, ms, owner_pid, res, rx, tx, Fake};
use crate::capture::flow::TCP_FIN;
use netoproc_core::model::Protocol;

#[test]
fn gone_sockets_inherit_the_recent_owner_of_their_address_pair() {
    let mut f = Fake {
        netns_pids: vec![1, 2, 3],
        ..Fake::default()
    };
    let live = key(Protocol::Tcp, "10.0.0.1:40000", "10.0.0.2:80");
    let r = exact(live, 9, 100, &[42]);
    f.add(r);
    let (mut at, t0) = attributor(f);
    at.new_flow(live, t0);
    // The next connection closed before its first packet was looked up.
    let gone = key(Protocol::Tcp, "10.0.0.1:40001", "10.0.0.2:80");
    at.new_flow(gone, t0 + ms(1));
    at.deltas(&[(gone, tx(10))], t0 + ms(1));
    let b = at.take_batch();
    let s = b
        .sockets
        .iter()
        .find(|s| s.tuple.unwrap().local == gone.local)
        .unwrap();
    assert_eq!(owner_pid(s), Some(42));
    assert_eq!((at.tally.flows_inferred, at.tally.bytes_inferred), (1, 10));

    // Once two processes talked to that remote, nothing is inferred.
    let other = key(Protocol::Tcp, "10.0.0.1:40002", "10.0.0.2:80");
    let r = exact(other, 11, 101, &[43]);
    at.owners.add(r);
    at.new_flow(other, t0 + ms(2));
    let third = key(Protocol::Tcp, "10.0.0.1:40003", "10.0.0.2:80");
    at.new_flow(third, t0 + ms(3));
    at.deltas(&[(third, tx(5))], t0 + ms(3));
    let b = at.take_batch();
    let s = b
        .sockets
        .iter()
        .find(|s| s.tuple.unwrap().local == third.local)
        .unwrap();
    assert!(s.owner.is_none());
}

#[test]
fn a_namespace_with_one_process_names_its_gone_sockets() {
    let f = Fake {
        netns_pids: vec![555],
        ..Fake::default()
    };
    let (mut at, t0) = attributor(f);
    let k = key(Protocol::Udp, "10.0.0.1:33000", "10.0.0.2:53");
    at.new_flow(k, t0);
    at.deltas(&[(k, tx(40)), (k, rx(100))], t0);
    let b = at.take_batch();
    assert_eq!(owner_pid(&b.sockets[0]), Some(555));
    assert_eq!(at.tally.bytes_inferred, 140);
}

#[test]
fn time_wait_sockets_are_closed_and_inferred() {
    let mut f = Fake {
        netns_pids: vec![9],
        ..Fake::default()
    };
    let k = key(Protocol::Tcp, "10.0.0.1:40000", "10.0.0.2:80");
    let mut r = exact(k, 13, 0, &[]);
    r.socket.state = TcpState::TimeWait;
    f.add(r);
    let (mut at, t0) = attributor(f);
    at.new_flow(k, t0);
    let b = at.take_batch();
    assert!(b.sockets[0].closed);
    assert_eq!(b.sockets[0].cookie, SocketCookie(13));
    assert_eq!(owner_pid(&b.sockets[0]), Some(9));
}

#[test]
fn an_unplaced_socket_waits_for_its_owner() {
    let mut f = Fake::default();
    let k = key(Protocol::Tcp, "10.0.0.1:40000", "10.0.0.2:80");
    let mut r = exact(k, 9, 100, &[]);
    f.add(r.clone());
    let (mut at, t0) = attributor(f);
    at.new_flow(k, t0);
    at.deltas(&[(k, tx(100))], t0);
    assert!(at.take_batch().is_empty(), "waits, nothing emitted yet");
    // The fd index learns the inode: the next retry binds it.
    r.pids = vec![42];
    at.owners.add(r);
    at.tick(t0 + ms(5));
    let b = at.take_batch();
    assert_eq!(owner_pid(&b.sockets[0]), Some(42));
    assert_eq!(b.sockets[0].counters.tx_bytes, 100);
}

#[test]
fn a_rate_limited_flow_is_settled_then_named_in_the_same_record() {
    let f = Fake {
        rate_limited: true,
        netns_pids: vec![1, 2],
        ..Fake::default()
    };
    let (mut at, t0) = attributor(f);
    let k = key(Protocol::Tcp, "10.0.0.1:40000", "10.0.0.2:80");
    at.new_flow(k, t0);
    at.deltas(&[(k, tx(100))], t0);
    // A read that must be complete: bound now, owner still unknown.
    at.settle(t0 + ms(1));
    let first = at.take_batch();
    assert!(first.sockets[0].owner.is_none());
    let cookie = first.sockets[0].cookie;
    // The next dump lists it with its owner.
    let r = exact(k, 9, 100, &[42]);
    at.owners.add(r);
    at.tick(t0 + ms(10));
    let second = at.take_batch();
    assert_eq!(second.sockets[0].cookie, cookie);
    assert_eq!(owner_pid(&second.sockets[0]), Some(42));
    assert_eq!((at.tally.flows_resolved, at.tally.bytes_resolved), (1, 100));
    assert_eq!(at.tally.flows_unresolved, 0);

    let mut ledger = SocketLedger::new();
    ledger.observe_socket(first.sockets[0].clone());
    ledger.observe_socket(second.sockets[0].clone());
    assert_eq!(ledger.report().processes[0].pid, 42);
    assert_eq!(ledger.unowned().bytes, 0);
}

#[test]
fn closed_sockets_keep_their_owner_for_late_packets() {
    let mut f = Fake::default();
    let k = key(Protocol::Tcp, "10.0.0.1:40000", "10.0.0.2:80");
    let r = exact(k, 9, 100, &[42]);
    f.add(r);
    f.alive.insert(SocketCookie(9));
    let (mut at, t0) = attributor(f);
    at.new_flow(k, t0);
    at.deltas(&[(k, tx(100))], t0);
    at.tick(t0);
    assert!(!at.take_batch().sockets[0].closed);
    // Gone from the dumps and from the lookups.
    at.owners.alive.clear();
    at.owners.exact.clear();
    at.tick(t0 + Duration::from_secs(2));
    let b = at.take_batch();
    assert!(b.sockets[0].closed);
    // A late FIN: same record, same owner.
    let mut fin = tx(0);
    fin.tcp_flags = TCP_FIN;
    at.deltas(&[(k, fin)], t0 + Duration::from_secs(2));
    let b = at.take_batch();
    assert_eq!(b.sockets[0].cookie, SocketCookie(9));
    assert_eq!(owner_pid(&b.sockets[0]), Some(42));
    assert_eq!(b.sockets[0].counters.tx_packets, 2);
    // Quiet for the grace period: forgotten.
    at.tick(t0 + Duration::from_secs(20));
    assert_eq!(at.flows_tracked(), 0);
}

#[test]
fn synthetic_records_close_after_fin_and_silence() {
    // An accepted connection named by its listener has a record of its own.
    let mut f = Fake::default();
    f.add(res(
        Protocol::Tcp,
        "0.0.0.0:80",
        None,
        5,
        50,
        &[8],
        MatchKind::Wildcard,
    ));
    let (mut at, t0) = attributor(f);
    let k = key(Protocol::Tcp, "10.0.0.2:80", "10.0.0.1:40000");
    at.new_flow(k, t0);
    let mut fin = tx(10);
    fin.tcp_flags = TCP_FIN;
    at.deltas(&[(k, fin)], t0);
    at.take_batch();
    at.tick(t0 + ms(500));
    assert!(at.take_batch().is_empty());
    at.tick(t0 + Duration::from_secs(2));
    assert!(at.take_batch().sockets[0].closed);
}

#[test]
fn sockets_gone_before_the_lookup_are_closed_at_once() {
    let f = Fake {
        netns_pids: vec![1, 2],
        ..Fake::default()
    };
    let (mut at, t0) = attributor(f);
    let k = key(Protocol::Udp, "10.0.0.1:33000", "10.0.0.2:53");
    at.new_flow(k, t0);
    at.deltas(&[(k, tx(40))], t0);
    let b = at.take_batch();
    assert!(b.sockets[0].closed && b.sockets[0].owner.is_none());
    // Forgotten after a short silence, so query storms stay bounded.
    at.tick(t0 + Duration::from_secs(4));
    assert_eq!(at.flows_tracked(), 0);
}

#[test]
fn a_socket_in_the_accept_queue_waits_to_be_accepted() {
    // Listed without an inode but established: accept() has not run yet,
    // its owner is about to take it; not "gone".
    let mut f = Fake {
        netns_pids: vec![1, 2],
        ..Fake::default()
    };
    let k = key(Protocol::Tcp, "10.0.0.2:80", "10.0.0.1:40000");
    let mut r = exact(k, 21, 0, &[]);
    f.add(r.clone());
    let (mut at, t0) = attributor(f);
    at.new_flow(k, t0);
    at.deltas(&[(k, rx(64))], t0);
    assert!(at.take_batch().is_empty());
    (r.socket.inode, r.pids) = (210, vec![8]);
    at.owners.add(r);
    at.tick(t0 + ms(5));
    let b = at.take_batch();
    assert_eq!(b.sockets[0].cookie, SocketCookie(21));
    assert!(!b.sockets[0].closed);
    assert_eq!(owner_pid(&b.sockets[0]), Some(8));
}

#[test]
fn flows_that_waited_too_long_join_an_aggregate() {
    // A storm of one-socket queries: attribution is behind, so each flow
    // is not looked up on its own; one record per address pair.
    let f = Fake {
        netns_pids: vec![77],
        ..Fake::default()
    };
    let (mut at, t0) = attributor(f);
    let behind = Duration::from_millis(80);
    let keys: Vec<_> = (40000..40100)
        .map(|p| key(Protocol::Udp, &format!("10.0.0.1:{p}"), "10.0.0.2:53"))
        .collect();
    for k in &keys {
        at.new_flow_queued(*k, behind, t0);
        at.deltas(&[(*k, tx(40)), (*k, rx(100))], t0);
    }
    let b = at.take_batch();
    assert_eq!(b.sockets.len(), 1);
    let s = &b.sockets[0];
    assert_eq!(owner_pid(s), Some(77));
    assert_eq!((s.counters.tx_bytes, s.counters.rx_bytes), (4000, 10000));
    let t = s.tuple.unwrap();
    assert_eq!((t.local.port(), t.remote.unwrap().port()), (0, 53));
    assert_eq!((at.tally.flows, at.tally.flows_aggregated), (100, 100));
    assert_eq!(at.tally.flows_inferred, 100);
    // Fresh flows are looked up one by one again.
    let k = key(Protocol::Udp, "10.0.0.1:50000", "10.0.0.2:53");
    at.new_flow_queued(k, ms(1), t0);
    assert_eq!(at.tally.flows_aggregated, 100);
    // Aggregated flows are forgotten soon; the record stays until quiet.
    at.tick(t0 + Duration::from_secs(3));
    assert!(at.flows_tracked() <= 1);
}
