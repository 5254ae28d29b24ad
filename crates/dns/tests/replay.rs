//! The observatory on the real capture: each packet of `testdata/dns.pcap`
//! fed as the kernel would hand it over (payloads cut at 1024 bytes, TCP
//! segments as they passed), seen at the client's socket and, in one test,
//! at the server's too. Latencies are the capture's own timestamps.

mod common;

use std::collections::HashMap;

use netoproc_core::Protocol;
use netoproc_dns::{Observatory, ObservatoryConfig, PacketPidsOnly, QueryStatus};

fn replay(server_side: bool) -> netoproc_dns::DnsReport {
    let mut obs = Observatory::new(ObservatoryConfig::default());
    let mut packets = Vec::new();
    for c in common::capture() {
        packets.push(common::at_client(&c));
        if server_side {
            packets.push(common::at_server(&c));
        }
    }
    obs.ingest(packets, &PacketPidsOnly);
    obs.report(&PacketPidsOnly)
}

#[test]
fn every_query_is_matched_with_its_latency() {
    let r = replay(false);
    assert_eq!(r.queries.len(), 21);
    assert_eq!(r.stats.malformed, 0);
    assert_eq!(r.stats.unmatched_responses, 0);
    assert_eq!(r.stats.cut, 3, "the three responses over 1024 bytes");
    // Expected latency: the capture's own response time minus query time.
    let mut sent: HashMap<(u16, u16), u64> = HashMap::new();
    let mut expected: HashMap<u16, f64> = HashMap::new();
    for (c, m) in common::messages() {
        let id = u16::from_be_bytes([m[0], m[1]]);
        let port = c.client().port();
        if c.to_server() {
            sent.insert((port, id), c.ts_ns);
        } else {
            let ns = c.ts_ns - sent[&(port, id)];
            expected.insert(id, (ns / 1000) as f64 / 1000.0);
        }
    }
    for q in &r.queries {
        assert_eq!(q.status, QueryStatus::Answered, "{q:?}");
        assert_eq!(q.pid, common::CLIENT_PID);
        assert_eq!(q.latency_ms, Some(expected[&q.id]), "{q:?}");
        assert_eq!(q.resolver.port(), 53);
    }
    let by_name = |name: &str, qtype: &str, t: Protocol| {
        r.queries
            .iter()
            .find(|q| q.name == name && q.qtype == qtype && q.transport == t)
            .unwrap_or_else(|| panic!("{name} {qtype} {t}"))
    };
    let chain = by_name("chain.np.test", "A", Protocol::Tcp);
    assert_eq!(chain.rcode.as_deref(), Some("NOERROR"));
    assert_eq!(
        chain.answers,
        ["CNAME alias.np.test", "CNAME www.np.test", "10.53.0.10"]
    );
    assert_eq!(
        by_name("nx.np.test", "A", Protocol::Tcp).rcode.as_deref(),
        Some("NXDOMAIN")
    );
    assert_eq!(
        by_name("mail.np.test", "A", Protocol::Tcp).answers,
        ["10.53.0.25"]
    );
    assert_eq!(
        by_name("www.np.test", "AAAA", Protocol::Udp)
            .resolver
            .ip()
            .to_string(),
        "127.0.0.1"
    );
    assert!(by_name("big.np.test", "TXT", Protocol::Udp).truncated);
    let many = by_name("many.np.test", "A", Protocol::Udp);
    assert!(many.truncated && many.answers.len() > 10);
}

#[test]
fn summaries_per_process_and_resolver() {
    let r = replay(false);
    assert_eq!(r.processes.len(), 1);
    let p = &r.processes[0];
    assert_eq!(
        (p.pid, p.queries, p.answered, p.pending),
        (common::CLIENT_PID, 21, 21, 0)
    );
    assert_eq!(
        (p.failures.nxdomain, p.failures.refused, p.failures.timeout),
        (2, 1, 0)
    );
    assert_eq!(p.names, 12);
    let v4 = r
        .resolvers
        .iter()
        .find(|x| x.resolver.to_string() == "127.0.0.1:53")
        .unwrap();
    let v6 = r
        .resolvers
        .iter()
        .find(|x| x.resolver.to_string() == "[::1]:53")
        .unwrap();
    assert_eq!((v4.queries, v6.queries), (20, 1));
    assert!(
        (v4.failure_rate - 1.0 / 20.0).abs() < 1e-9,
        "only REFUSED fails"
    );
    let (p50, p99) = (v4.p50_ms.unwrap(), v4.p99_ms.unwrap());
    assert!(0.0 < p50 && p50 <= p99 && p99 < 100.0, "{p50} {p99}");
}

#[test]
fn the_server_side_is_counted_not_recorded() {
    let r = replay(true);
    assert_eq!(r.queries.len(), 21);
    assert_eq!(r.stats.served_messages, 42);
    assert!(r.queries.iter().all(|q| q.pid == common::CLIENT_PID));
}

#[test]
fn answers_name_addresses() {
    let mut obs = Observatory::new(ObservatoryConfig::default());
    let caps = common::capture();
    let last = caps.last().unwrap().ts_ns;
    obs.ingest(caps.iter().map(common::at_client), &PacketPidsOnly);
    let ip = |s: &str| s.parse().unwrap();
    // The last answer for 10.53.0.10 was to `www.np.test` (the PTR answer
    // does not displace a forward one); a chain is filed under the name asked.
    assert_eq!(obs.name_of(ip("10.53.0.10"), last), Some("www.np.test"));
    assert_eq!(obs.name_of(ip("fd00:53::10"), last), Some("www.np.test"));
    assert_eq!(obs.name_of(ip("10.53.1.7"), last), Some("many.np.test"));
    assert_eq!(obs.name_of(ip("10.53.0.25"), last), Some("mail.np.test"));
    let after = last + (300 + 301) * 1_000_000_000;
    assert_eq!(
        obs.name_of(ip("10.53.0.10"), after),
        None,
        "TTL 300 s + grace"
    );
}
