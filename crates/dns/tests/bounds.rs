//! The observatory stays bounded when a local process sends queries to
//! more resolver addresses than it keeps rows for: the rest are summed in
//! one overflow row and counted, and every query is still in the totals.

mod common;

use common::{edited, exchange, udp};
use netoproc_dns::{
    Observatory, ObservatoryConfig, PacketPidsOnly, MAX_RESOLVERS, OVERFLOW_RESOLVER,
};

const MS: u64 = 1_000_000;
const EXTRA: usize = 300;

#[test]
fn resolvers_past_the_bound_share_one_counted_overflow_row() {
    let mut o = Observatory::new(ObservatoryConfig::default());
    let (q, _) = exchange("www.np.test", 1);
    let n = MAX_RESOLVERS + EXTRA;
    let packets: Vec<_> = (0..n)
        .map(|i| {
            let resolver = format!("10.{}.{}.{}:53", 100 + i / 65_536, (i / 256) % 256, i % 256);
            udp(
                1,
                Some(7),
                true,
                "10.0.0.2:40000",
                &resolver,
                i as u64,
                edited(&q, i as u16, None),
            )
        })
        .collect();
    o.ingest(packets, &PacketPidsOnly);
    // Every query times out: each ends and is summed under its resolver.
    o.sweep(6_000 * MS + n as u64, &PacketPidsOnly);
    let r = o.report(&PacketPidsOnly);
    assert_eq!(r.resolvers.len(), MAX_RESOLVERS + 1);
    let overflow = r
        .resolvers
        .iter()
        .find(|row| row.resolver == OVERFLOW_RESOLVER)
        .expect("an overflow row");
    assert_eq!(overflow.queries, EXTRA as u64);
    assert_eq!(overflow.failures.timeout, EXTRA as u64);
    assert_eq!(r.stats.resolvers_overflowed, EXTRA as u64);
    let total: u64 = r.resolvers.iter().map(|row| row.queries).sum();
    assert_eq!(total, n as u64);
    assert_eq!(r.processes[0].queries, n as u64);
}

#[test]
fn pending_queries_to_resolvers_past_the_bound_show_in_the_overflow_row() {
    let mut o = Observatory::new(ObservatoryConfig::default());
    let (q, _) = exchange("www.np.test", 1);
    let n = MAX_RESOLVERS + EXTRA;
    let packets: Vec<_> = (0..n)
        .map(|i| {
            let resolver = format!("10.200.{}.{}:53", i / 256, i % 256);
            udp(
                1,
                Some(7),
                true,
                "10.0.0.2:40000",
                &resolver,
                0,
                edited(&q, i as u16, None),
            )
        })
        .collect();
    o.ingest(packets, &PacketPidsOnly);
    let r = o.report(&PacketPidsOnly);
    assert_eq!(r.resolvers.len(), MAX_RESOLVERS + 1);
    let pending: u64 = r.resolvers.iter().map(|row| row.pending).sum();
    assert_eq!(pending, n as u64);
}
