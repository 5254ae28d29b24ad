//! Only an answer to a query a local process sent names an address: real
//! captured responses that arrive unasked, on another socket, from another
//! resolver, with another id or question, or that a local server sends,
//! are counted and leave `remote_host` empty; the genuine exchange, after
//! all of them, still names its address.

mod common;

use std::net::IpAddr;

use common::{edited, exchange, udp};
use netoproc_core::DnsPacket;
use netoproc_dns::{Observatory, ObservatoryConfig, PacketPidsOnly};

const MS: u64 = 1_000_000;
const C: &str = "10.0.0.2:40000";
const R: &str = "10.0.0.53:53";

/// The address the captured answer for `www.np.test A` gives.
fn answered_ip() -> IpAddr {
    "10.53.0.10".parse().unwrap()
}

fn observe(packets: Vec<DnsPacket>) -> Observatory {
    let mut o = Observatory::new(ObservatoryConfig::default());
    o.ingest(packets, &PacketPidsOnly);
    o
}

#[test]
fn a_response_nobody_asked_for_names_nothing() {
    let (_, r) = exchange("www.np.test", 1);
    let o = observe(vec![udp(1, Some(7), false, C, R, MS, r)]);
    assert_eq!(o.name_of(answered_ip(), MS), None);
    let rep = o.report(&PacketPidsOnly);
    assert_eq!(rep.stats.unmatched_responses, 1);
    assert!(rep.queries.is_empty());
}

#[test]
fn a_response_a_local_server_sends_names_nothing() {
    let (q, r) = exchange("www.np.test", 1);
    // The server's socket: the query comes in, the response goes out.
    let o = observe(vec![
        udp(9, Some(53), false, C, R, 0, q),
        udp(9, Some(53), true, C, R, MS, r),
    ]);
    assert_eq!(o.name_of(answered_ip(), MS), None);
    assert_eq!(o.report(&PacketPidsOnly).stats.served_messages, 2);
}

#[test]
fn responses_that_do_not_match_the_query_name_nothing() {
    let (q, r) = exchange("www.np.test", 1);
    let (_, other) = exchange("www.np.test", 28);
    let id = u16::from_be_bytes([q[0], q[1]]);
    let forged = [
        // Another socket of the same client address.
        udp(2, Some(7), false, C, R, MS, r.clone()),
        // Another resolver.
        udp(1, Some(7), false, C, "10.0.0.54:53", MS, r.clone()),
        // Another client port.
        udp(1, Some(7), false, "10.0.0.2:40001", R, MS, r.clone()),
        // Another transaction id.
        udp(
            1,
            Some(7),
            false,
            C,
            R,
            MS,
            edited(&r, id.wrapping_add(1), None),
        ),
        // The right id, tuple and socket, but the answer to another question.
        udp(1, Some(7), false, C, R, MS, edited(&other, id, None)),
    ];
    for (n, f) in forged.into_iter().enumerate() {
        let o = observe(vec![udp(1, Some(7), true, C, R, 0, q.clone()), f]);
        assert_eq!(o.name_of(answered_ip(), MS), None, "forgery {n}");
        assert_eq!(
            o.name_of("fd00:53::10".parse().unwrap(), MS),
            None,
            "forgery {n}"
        );
        let rep = o.report(&PacketPidsOnly);
        assert_eq!(rep.stats.unmatched_responses, 1, "forgery {n}");
        assert_eq!(
            rep.processes[0].pending, 1,
            "forgery {n}: the query still waits"
        );
    }
}

#[test]
fn the_real_answer_after_a_forged_one_still_names_its_address() {
    let (q, r) = exchange("www.np.test", 1);
    let (_, other) = exchange("www.np.test", 28);
    let id = u16::from_be_bytes([q[0], q[1]]);
    let o = observe(vec![
        udp(1, Some(7), true, C, R, 0, q),
        udp(1, Some(7), false, C, R, MS, edited(&other, id, None)),
        udp(1, Some(7), false, C, R, 2 * MS, r),
    ]);
    assert_eq!(o.name_of(answered_ip(), 2 * MS), Some("www.np.test"));
    let rep = o.report(&PacketPidsOnly);
    assert_eq!(rep.stats.unmatched_responses, 1);
    assert_eq!(rep.queries[0].latency_ms, Some(2.0));
}
