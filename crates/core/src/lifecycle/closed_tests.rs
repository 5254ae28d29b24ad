use super::*;
use crate::lifecycle::TcpHealth;

fn life(role: Role, outcome: Outcome, handshake_ns: Option<u64>) -> ConnectionLife {
    ConnectionLife {
        role,
        outcome,
        connect_ns: 1,
        established_ns: handshake_ns.map(|h| h + 1),
        closed_ns: Some(10),
        handshake_ns,
        health: Some(TcpHealth {
            total_retrans: 2,
            segs_out: 40,
            ..TcpHealth::default()
        }),
        retrans_events: 2,
        error: 0,
        closer: None,
        response: ResponseHistogram::default(),
    }
}

#[test]
fn each_closed_connection_counts_once_by_role_and_outcome_and_open_ones_not_at_all() {
    let mut c = ClosedCounts::default();
    c.count(&life(Role::Client, Outcome::Success, Some(300_000)));
    c.count(&life(Role::Client, Outcome::Refused, None));
    c.count(&life(Role::Server, Outcome::Success, Some(2_000_000_000)));
    c.count(&life(Role::Client, Outcome::Open, Some(1)));
    assert_eq!(c.closed(Role::Client, Outcome::Success), 1);
    assert_eq!(c.closed(Role::Client, Outcome::Refused), 1);
    assert_eq!(c.closed(Role::Server, Outcome::Success), 1);
    assert_eq!(c.closed(Role::Client, Outcome::Open), 0);
    assert_eq!(c.total(), 3);
    assert_eq!((c.retransmits, c.segments_out), (6, 120));
    // Refused: no handshake. 0.3 ms in the first bucket, 2 s above all.
    assert_eq!(c.handshake.count, 2);
    assert_eq!(c.handshake.buckets[0], 1);
    assert_eq!(c.handshake.above, 1);
    assert_eq!(c.handshake.sum_ns, 2_000_300_000);
    let mut twice = c;
    twice.add(&c);
    assert_eq!(twice.total(), 6);
    assert_eq!(twice.handshake.count, 4);
}

#[test]
fn handshake_bounds_are_inclusive() {
    let mut h = TimeHistogram::default();
    h.record_ns(1_000_000); // exactly 1 ms: le="0.001"
    h.record_ns(1_000_001);
    assert_eq!(h.buckets[1], 1);
    assert_eq!(h.buckets[2], 1);
}

#[test]
fn response_buckets_map_onto_the_bounds_by_their_midpoints() {
    let mut r = ResponseHistogram::default();
    r.record_us(30_000); // 30 ms: le="0.1"
    r.record_us(30_500);
    r.record_us(400); // le="0.0005"
    r.record_us(5_000_000); // above 1 s
    let mut h = TimeHistogram::default();
    h.add_response(&r);
    assert_eq!(h.count, 4);
    assert_eq!(h.buckets[0], 1);
    assert_eq!(h.buckets[5], 2);
    assert_eq!(h.above, 1);
    assert_eq!(h.sum_ns, (30_000 + 30_500 + 400 + 5_000_000) * 1000);
    // Saturated kernel counters: the sum is scaled to the bucketed count.
    let sat = ResponseHistogram {
        counts: vec![(10, 2)],
        taken: 4,
        sum_us: 400,
    };
    let mut h = TimeHistogram::default();
    h.add_response(&sat);
    assert_eq!((h.count, h.sum_ns), (2, 200_000));
}
