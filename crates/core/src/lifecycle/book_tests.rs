use super::*;
use crate::lifecycle::histogram::{bucket_of_us, bucket_range_us};
use crate::lifecycle::TcpHealth;
use crate::lifecycle::RT_BUCKETS;
use crate::model::{Owner, SocketRecord};

fn life(role: Role, outcome: Outcome, closed: bool) -> ConnectionLife {
    ConnectionLife {
        role,
        outcome,
        connect_ns: 1_000_000,
        established_ns: (outcome != Outcome::Refused).then_some(21_000_000),
        closed_ns: closed.then_some(22_000_000),
        handshake_ns: (outcome != Outcome::Refused).then_some(20_000_000),
        health: Some(TcpHealth {
            srtt_us: 20_000,
            rttvar_us: 500,
            min_rtt_us: 19_900,
            cwnd: 10,
            total_retrans: 2,
            segs_out: 100,
        }),
        retrans_events: 2,
        error: 0,
        closer: None,
        response: ResponseHistogram::default(),
    }
}

fn event(cookie: u64, pid: u32, step: Step, life: ConnectionLife) -> LifeEvent {
    LifeEvent {
        step,
        ktime_ns: 0,
        cookie: SocketCookie(cookie),
        record: SocketRecord {
            cookie: SocketCookie(cookie),
            owner: Some(Owner {
                pid,
                comm: "curl".into(),
                ..Owner::default()
            }),
            ..SocketRecord::default()
        },
        life,
    }
}

#[test]
fn rollup_counts_outcomes_and_a_short_success_is_a_success() {
    let mut b = ConnectionBook::new(100, 100);
    b.observe(&event(
        1,
        7,
        Step::Closed,
        life(Role::Client, Outcome::Success, true),
    ));
    b.observe(&event(
        2,
        7,
        Step::Closed,
        life(Role::Client, Outcome::Refused, true),
    ));
    b.observe(&event(
        3,
        7,
        Step::Connect,
        life(Role::Client, Outcome::Open, false),
    ));
    let r = b.report();
    assert_eq!(r.connections.len(), 3);
    let p = &r.processes[0];
    assert_eq!(
        (p.pid, p.connections_opened, p.successes, p.open),
        (7, 3, 1, 1)
    );
    assert_eq!(p.failures["refused"], 1);
    assert_eq!(p.failures["timeout"], 0);
    let hs = p.handshake_ms.p50.expect("handshake");
    assert!((hs - 20.0).abs() < 0.1, "{hs}");
    assert_eq!(p.retransmits, 6);
    assert_eq!(p.retransmit_ratio, Some(0.02));
}

#[test]
fn closed_rows_past_the_bound_fold_into_their_process() {
    let mut b = ConnectionBook::new(100, 2);
    for c in 0..5 {
        b.observe(&event(
            c,
            9,
            Step::Closed,
            life(Role::Server, Outcome::Success, true),
        ));
    }
    let r = b.report();
    assert_eq!(r.connections.len(), 2);
    assert_eq!(r.rows_folded, 3);
    assert_eq!(r.processes[0].connections_accepted, 5);
}

#[test]
fn the_accepting_process_owns_a_server_connection() {
    let mut b = ConnectionBook::new(100, 100);
    let mut e = event(1, 0, Step::Sample, life(Role::Server, Outcome::Open, false));
    e.record.owner = None;
    b.observe(&e);
    b.observe(&event(
        1,
        42,
        Step::Accepted,
        life(Role::Server, Outcome::Open, false),
    ));
    assert_eq!(b.report().connections[0].pid, Some(42));
}

#[test]
fn open_rows_past_the_bound_are_counted() {
    let mut b = ConnectionBook::new(1, 10);
    b.observe(&event(
        1,
        1,
        Step::Connect,
        life(Role::Client, Outcome::Open, false),
    ));
    b.observe(&event(
        2,
        1,
        Step::Connect,
        life(Role::Client, Outcome::Open, false),
    ));
    assert_eq!(b.report().rows_dropped, 1);
    assert_eq!(b.len(), 1);
}

#[test]
fn response_buckets_match_the_kernel_and_read_within_an_eighth() {
    for us in [
        1u64,
        64,
        100,
        1_000,
        30_000,
        123_456,
        4_000_000,
        u64::MAX / 2,
    ] {
        // The kernel's np_rt_bucket, written out.
        let kernel = if us < 64 {
            0
        } else {
            let msb = 63 - us.leading_zeros();
            (((msb - 6) * 8 + ((us >> (msb - 3)) & 7) as u32) as usize).min(RT_BUCKETS - 1)
        };
        assert_eq!(bucket_of_us(us), kernel);
        let i = bucket_of_us(us);
        let (lo, hi) = bucket_range_us(i);
        if i > 0 && i < RT_BUCKETS - 1 {
            assert!(lo <= us && us < hi, "{us} in [{lo},{hi})");
        }
    }
    let mut h = ResponseHistogram::default();
    for _ in 0..100 {
        h.record_us(30_000);
    }
    let p50 = h.quantile_us(0.5).expect("samples");
    assert!((p50 - 30_000.0).abs() <= 1_024.0, "{p50}");
    assert_eq!(h.quantiles_ms().mean, Some(30.0));
}
