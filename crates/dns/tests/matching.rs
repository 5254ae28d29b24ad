//! Matching, latency, timeouts, owners and bounds, with synthetic kernel
//! timestamps around real captured messages (ids and rcodes edited where a
//! test needs another).

mod common;

use std::cell::RefCell;
use std::collections::HashMap;

use common::{edited, exchange, udp};
use netoproc_core::model::{Counters, Family, Protocol};
use netoproc_core::report::ConnectionRow;
use netoproc_core::SocketCookie;
use netoproc_dns::{
    DnsReport, Observatory, ObservatoryConfig, OwnerLookup, PacketPidsOnly, ProcessRef, QueryStatus,
};

const MS: u64 = 1_000_000;
const C: &str = "10.0.0.2:40000";
const R: &str = "10.0.0.53:53";

fn obs() -> Observatory {
    Observatory::new(ObservatoryConfig::default())
}

/// A query at `t` and, if `latency` is given, its response after it.
fn exchange_at(
    o: &mut Observatory,
    cookie: u64,
    id: u16,
    t: u64,
    latency: Option<u64>,
    rcode: Option<u8>,
) {
    let (q, r) = exchange("www.np.test", 1);
    let mut pkts = vec![udp(cookie, Some(7), true, C, R, t, edited(&q, id, None))];
    if let Some(l) = latency {
        pkts.push(udp(
            cookie,
            Some(7),
            false,
            C,
            R,
            t + l,
            edited(&r, id, rcode),
        ));
    }
    o.ingest(pkts, &PacketPidsOnly);
}

fn report(o: &Observatory) -> DnsReport {
    o.report(&PacketPidsOnly)
}

#[test]
fn latency_is_response_minus_query_in_kernel_time() {
    let mut o = obs();
    exchange_at(&mut o, 1, 100, 1_000 * MS, Some(12_345_678), None);
    let r = report(&o);
    let q = &r.queries[0];
    assert_eq!(q.status, QueryStatus::Answered);
    assert_eq!(q.latency_ms, Some(12.345));
    assert_eq!(
        (q.name.as_str(), q.qtype.as_str(), q.rcode.as_deref()),
        ("www.np.test", "A", Some("NOERROR"))
    );
    assert_eq!(q.answers, ["10.53.0.10"]);
    assert_eq!((q.pid, q.transport, q.id), (7, Protocol::Udp, 100));
    assert_eq!(q.resolver.to_string(), R);
}

#[test]
fn same_id_on_other_sockets_or_resolvers_is_another_query() {
    let (q, r) = exchange("www.np.test", 1);
    let mut o = obs();
    o.ingest(
        [
            udp(1, Some(7), true, C, R, 0, q.clone()),
            udp(2, Some(8), true, C, R, MS, q.clone()),
            udp(1, Some(7), true, C, "10.0.0.54:53", 2 * MS, q.clone()),
            udp(2, Some(8), false, C, R, 5 * MS, r.clone()),
            udp(1, Some(7), false, C, "10.0.0.54:53", 6 * MS, r.clone()),
            udp(1, Some(7), false, C, R, 9 * MS, r.clone()),
            udp(1, Some(7), false, C, R, 10 * MS, r),
        ],
        &PacketPidsOnly,
    );
    let rep = report(&o);
    let lat: Vec<(u32, Option<f64>)> = rep.queries.iter().map(|q| (q.pid, q.latency_ms)).collect();
    assert_eq!(lat, [(7, Some(9.0)), (8, Some(4.0)), (7, Some(4.0))]);
    assert_eq!(rep.stats.unmatched_responses, 1, "the duplicate response");
}

#[test]
fn no_response_within_five_seconds_is_a_timeout() {
    let mut o = obs();
    exchange_at(&mut o, 1, 1, 1_000 * MS, None, None);
    o.sweep(5_999 * MS, &PacketPidsOnly);
    assert_eq!(report(&o).queries[0].status, QueryStatus::Pending);
    assert_eq!(report(&o).processes[0].pending, 1);
    o.sweep(6_000 * MS, &PacketPidsOnly);
    let r = report(&o);
    let q = &r.queries[0];
    assert_eq!(
        (q.status, q.rcode.as_deref(), q.latency_ms),
        (QueryStatus::Timeout, None, None)
    );
    assert_eq!(r.processes[0].failures.timeout, 1);
    assert_eq!(r.resolvers[0].failure_rate, 1.0);
    assert_eq!(r.resolvers[0].p50_ms, None);
}

#[test]
fn later_packets_end_earlier_queries_too() {
    let mut o = obs();
    exchange_at(&mut o, 1, 1, 0, None, None);
    exchange_at(&mut o, 2, 2, 7_000 * MS, Some(MS), None);
    let r = report(&o);
    assert_eq!(r.queries[0].status, QueryStatus::Timeout);
    assert_eq!(r.queries[1].status, QueryStatus::Answered);
}

#[test]
fn a_response_after_the_timeout_is_late() {
    let mut o = obs();
    exchange_at(&mut o, 1, 1, 0, Some(5_001 * MS), None);
    let r = report(&o);
    assert_eq!(r.queries[0].status, QueryStatus::Timeout);
    assert_eq!(r.stats.late_responses, 1);
}

#[test]
fn failures_by_kind() {
    let mut o = obs();
    for (i, rcode) in [(1, 3), (2, 2), (3, 5), (4, 0), (5, 4)] {
        exchange_at(&mut o, i, i as u16, i * MS, Some(MS), Some(rcode));
    }
    let r = report(&o);
    let f = r.processes[0].failures;
    assert_eq!(
        (f.nxdomain, f.servfail, f.refused, f.timeout, f.other),
        (1, 1, 1, 0, 1)
    );
    let codes: Vec<_> = r.queries.iter().map(|q| q.rcode.clone().unwrap()).collect();
    assert_eq!(
        codes,
        ["NXDOMAIN", "SERVFAIL", "REFUSED", "NOERROR", "NOTIMP"]
    );
    assert!(
        (r.resolvers[0].failure_rate - 0.6).abs() < 1e-9,
        "NXDOMAIN is an answer"
    );
}

#[test]
fn a_repeated_query_counts_as_a_retry() {
    let (q, r) = exchange("www.np.test", 1);
    let mut o = obs();
    o.ingest(
        [
            udp(1, Some(7), true, C, R, 0, q.clone()),
            udp(1, Some(7), true, C, R, 1_000 * MS, q),
            udp(1, Some(7), false, C, R, 1_002 * MS, r),
        ],
        &PacketPidsOnly,
    );
    let row = &report(&o).queries[0];
    assert_eq!((row.retries, row.latency_ms), (1, Some(1_002.0)));
}

/// An owner lookup that learns sockets as a test goes (like the ledger).
#[derive(Default)]
struct Sockets(RefCell<HashMap<u64, ProcessRef>>);

impl OwnerLookup for Sockets {
    fn owner(&self, cookie: SocketCookie, pid: Option<u32>) -> Option<ProcessRef> {
        self.0
            .borrow()
            .get(&cookie.0)
            .cloned()
            .or_else(|| PacketPidsOnly.owner(cookie, pid))
    }
}

#[test]
fn owners_unknown_at_first_are_looked_up_by_cookie() {
    let (q, _) = exchange("www.np.test", 1);
    let ledger = Sockets::default();
    let mut o = obs();
    // The query leaves before the kernel knows the socket's owner.
    o.ingest([udp(9, None, true, C, R, 0, q)], &ledger);
    ledger.0.borrow_mut().insert(
        9,
        ProcessRef {
            pid: 77,
            comm: "resolver-test".into(),
        },
    );
    o.ingest([], &ledger);
    // The socket is gone from the ledger by the time the query times out.
    ledger.0.borrow_mut().clear();
    o.sweep(6_000 * MS, &ledger);
    let r = o.report(&ledger);
    assert_eq!(
        (r.queries[0].pid, r.queries[0].process.as_str()),
        (77, "resolver-test")
    );
    assert_eq!(
        (r.processes[0].pid, r.processes[0].failures.timeout),
        (77, 1)
    );
}

#[test]
fn records_are_capped_and_summaries_stay_exact() {
    let cfg = ObservatoryConfig {
        max_queries: 3,
        max_pending: 2,
        ..Default::default()
    };
    let mut o = Observatory::new(cfg);
    for i in 0..10u64 {
        exchange_at(&mut o, i, i as u16, i * MS, Some(MS), None);
    }
    for i in 10..14u64 {
        exchange_at(&mut o, i, i as u16, 20 * MS + i, None, None);
    }
    let r = report(&o);
    assert_eq!(r.queries.len(), 3 + 2);
    assert_eq!((r.stats.queries_evicted, r.stats.pending_evicted), (7, 2));
    assert_eq!((r.processes[0].queries, r.processes[0].pending), (10, 2));
    assert_eq!(r.resolvers[0].answered, 10);
}

#[test]
fn encrypted_dns_is_flagged_per_process() {
    let row = |cookie: u64, pid: u32, remote: &str| ConnectionRow {
        protocol: Protocol::Tcp,
        family: Family::Ipv4,
        local: Some("10.0.0.2:50000".parse().unwrap()),
        remote: Some(remote.parse().unwrap()),
        state: "open",
        pid,
        process: format!("p{pid}"),
        cookie,
        counters: Counters::default(),
    };
    let mut o = obs();
    o.observe_connections(
        &[
            row(1, 5, "9.9.9.9:853"),
            row(2, 5, "1.1.1.1:443"),
            row(2, 5, "1.1.1.1:443"),
            row(3, 6, "93.184.215.14:443"),
            row(4, 0, "1.0.0.1:443"),
        ],
        0,
    );
    let r = report(&o);
    assert_eq!(r.processes.len(), 1);
    let p = &r.processes[0];
    assert_eq!(
        (
            p.pid,
            p.process.as_str(),
            p.dot_connections,
            p.doh_connections
        ),
        (5, "p5", 1, 1)
    );
}
