//! [`LifeHold`]: steps leave with their flow's record, wait for owners,
//! and what has no record of its own is counted.

use super::*;
use netoproc_core::lifecycle::{ConnectionLife, Outcome, Step};
use netoproc_core::model::{Protocol, SocketCookie, SocketRecord};
use netoproc_procfs::NetnsId;
use std::time::Duration;

fn key(port: u16) -> FlowKey {
    FlowKey {
        netns: NetnsId(1),
        protocol: Protocol::Tcp,
        local: format!("10.0.0.1:{port}").parse().unwrap(),
        remote: "10.0.0.2:80".parse().unwrap(),
    }
}

fn step(ktime_ns: u64) -> LifeStep {
    LifeStep {
        step: Step::Connect,
        ktime_ns,
        life: ConnectionLife::client(Outcome::Open, ktime_ns, None),
    }
}

fn record(cookie: u64) -> SocketRecord {
    SocketRecord {
        cookie: SocketCookie(cookie),
        ..SocketRecord::default()
    }
}

#[test]
fn steps_leave_with_their_record_or_wait_for_its_owner() {
    let t0 = Instant::now();
    let mut h = LifeHold::default();
    h.add(
        vec![(key(1), step(1)), (key(2), step(2)), (key(3), step(3))],
        t0,
    );
    let rec = |k: &FlowKey| match k.local.port() {
        1 => LifeRecord::Ready(record(7)),
        2 => LifeRecord::Waiting(Some(record(8))),
        _ => LifeRecord::Waiting(None),
    };
    let out = h.release(rec, t0, false, None);
    assert_eq!(out.len(), 1);
    assert_eq!((out[0].cookie, out[0].ktime_ns), (SocketCookie(7), 1));
    // After the wait: with its record, owner or not; never bound: dropped.
    let out = h.release(rec, t0 + OWNER_WAIT, false, None);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].cookie, SocketCookie(8));
    assert_eq!((h.len(), h.dropped), (0, 1));
}

#[test]
fn a_flow_starting_over_releases_its_own_steps_first() {
    let t0 = Instant::now();
    let mut h = LifeHold::default();
    h.add(vec![(key(1), step(1)), (key(2), step(2))], t0);
    let rec = |_: &FlowKey| LifeRecord::Waiting(Some(record(9)));
    let out = h.release(rec, t0, false, Some(&key(2)));
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].ktime_ns, 2);
    assert_eq!(h.len(), 1);
    let out = h.release(rec, t0 + Duration::from_millis(1), true, None);
    assert_eq!(out.len(), 1, "a sync releases what has a record");
}

#[test]
fn shared_records_and_overflow_are_counted() {
    let t0 = Instant::now();
    let mut h = LifeHold::default();
    h.add(vec![(key(1), step(1))], t0);
    assert!(h
        .release(|_| LifeRecord::Unusable, t0, false, None)
        .is_empty());
    assert_eq!(h.dropped, 1);
    h.add(
        (0..MAX_HELD + 2)
            .map(|i| (key(1), step(i as u64)))
            .collect(),
        t0,
    );
    assert_eq!((h.len(), h.dropped), (MAX_HELD, 3));
}
