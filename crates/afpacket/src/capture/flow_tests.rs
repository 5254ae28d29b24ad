use super::*;
use etherparse::PacketBuilder;
use netoproc_core::lifecycle::Outcome;

const NS: NetnsId = NetnsId(4026531840);

fn tcp(src: ([u8; 4], u16), dst: ([u8; 4], u16), payload: usize, flags: u8) -> Vec<u8> {
    let b = PacketBuilder::ethernet2([0; 6], [0; 6])
        .ipv4(src.0, dst.0, 64)
        .tcp(src.1, dst.1, 1, 1000);
    let b = match flags {
        TCP_SYN => b.syn(),
        TCP_FIN => b.fin(),
        _ => b.ack(1),
    };
    let mut out = Vec::new();
    b.write(&mut out, &vec![7; payload]).unwrap();
    out
}

#[test]
fn direction_decides_the_local_end() {
    let frame = tcp(([10, 0, 0, 1], 40000), ([10, 0, 0, 2], 80), 100, 0);
    let p = parse_frame(LinkType::Ethernet, &frame, frame.len() as u32).unwrap();
    let (out_key, out) = classify(NS, &p, Direction::Outgoing);
    assert_eq!(out_key.local, "10.0.0.1:40000".parse().unwrap());
    assert_eq!(out_key.remote, "10.0.0.2:80".parse().unwrap());
    assert_eq!(out.counters.tx_bytes, 100);
    assert_eq!(out.counters.tx_wire_bytes, 140);
    assert_eq!((out.counters.tx_packets, out.counters.rx_packets), (1, 0));
    let (in_key, inc) = classify(NS, &p, Direction::Incoming);
    assert_eq!(in_key.local, "10.0.0.2:80".parse().unwrap());
    assert_eq!(in_key.remote, "10.0.0.1:40000".parse().unwrap());
    assert_eq!(
        (inc.counters.rx_bytes, inc.counters.rx_wire_bytes),
        (100, 140)
    );
    assert_eq!(inc.counters.tx_bytes, 0);
}

#[test]
fn loopback_copies_count_once_for_each_end() {
    // On lo one packet is seen outgoing and incoming: tx of the client's
    // flow, rx of the server's, nothing counted twice for either.
    let mut agg = FlowAggregator::new(NS);
    let frame = tcp(([127, 0, 0, 1], 50000), ([127, 0, 0, 1], 5301), 1000, 0);
    let len = frame.len() as u32;
    let a = agg.packet(Some(LinkType::Ethernet), &frame, len, Direction::Outgoing);
    let b = agg.packet(Some(LinkType::Ethernet), &frame, len, Direction::Incoming);
    let (client, server) = (a.unwrap(), b.unwrap());
    assert_ne!(client, server);
    let deltas: HashMap<FlowKey, FlowDelta> = agg.take().into_iter().collect();
    assert_eq!(deltas[&client].counters.tx_bytes, 1000);
    assert_eq!(deltas[&client].counters.rx_bytes, 0);
    assert_eq!(deltas[&server].counters.rx_bytes, 1000);
    assert_eq!(deltas[&server].counters.tx_bytes, 0);
    assert!(agg.take().is_empty());
}

#[test]
fn new_flows_are_announced_once_until_they_expire() {
    let mut agg = FlowAggregator::new(NS);
    let syn = tcp(([10, 0, 0, 1], 40000), ([10, 0, 0, 2], 80), 0, TCP_SYN);
    let data = tcp(([10, 0, 0, 1], 40000), ([10, 0, 0, 2], 80), 10, 0);
    let fin = tcp(([10, 0, 0, 1], 40000), ([10, 0, 0, 2], 80), 0, TCP_FIN);
    let mut feed = |f: &[u8]| {
        agg.packet(
            Some(LinkType::Ethernet),
            f,
            f.len() as u32,
            Direction::Outgoing,
        )
    };
    assert!(feed(&syn).is_some());
    assert!(feed(&data).is_none());
    assert!(feed(&fin).is_none());
    let d = agg.take();
    assert_eq!(d.len(), 1);
    assert_eq!(d[0].1.counters.tx_packets, 3);
    assert_eq!(d[0].1.counters.tx_bytes, 10);
    assert_eq!(d[0].1.tcp_flags & (TCP_SYN | TCP_FIN), TCP_SYN | TCP_FIN);
    // The SYN was never answered: followed until it times out.
    agg.tick(10_000_000_000);
    let steps = agg.take_life();
    assert_eq!(steps.len(), 2, "connect, then the timeout");
    assert_eq!(steps[1].1.life.outcome, Outcome::Timeout);
    // Seen in this generation: kept over one expiry, then forgotten.
    agg.expire(0);
    assert_eq!(agg.flows_known(), 1);
    agg.expire(0);
    assert_eq!(agg.flows_known(), 0);
    assert!(agg
        .packet(
            Some(LinkType::Ethernet),
            &data,
            data.len() as u32,
            Direction::Outgoing
        )
        .is_some());
}

#[test]
fn a_syn_on_a_closed_connection_starts_the_flow_over() {
    let mut agg = FlowAggregator::new(NS);
    let seg = |seq: u32, flags: u8| {
        let (a, b, pa, pb) = match flags {
            TCP_RST => ([10, 0, 0, 2], [10, 0, 0, 1], 80, 40000),
            _ => ([10, 0, 0, 1], [10, 0, 0, 2], 40000, 80),
        };
        let b = PacketBuilder::ethernet2([0; 6], [0; 6])
            .ipv4(a, b, 64)
            .tcp(pa, pb, seq, 1000);
        let b = match flags {
            TCP_SYN => b.syn(),
            TCP_RST => b.rst().ack(1),
            _ => b.ack(1),
        };
        let mut out = Vec::new();
        b.write(&mut out, &[]).unwrap();
        out
    };
    let eth = Some(LinkType::Ethernet);
    let feed = |agg: &mut FlowAggregator, f: &[u8], d| agg.packet_at(eth, f, f.len() as u32, d, 1);
    assert!(feed(&mut agg, &seg(100, TCP_SYN), Direction::Outgoing).is_some());
    // Its own SYN again: a retransmission, not a new connection.
    assert!(feed(&mut agg, &seg(100, TCP_SYN), Direction::Outgoing).is_none());
    assert!(feed(&mut agg, &seg(0, TCP_RST), Direction::Incoming).is_none());
    assert_eq!(agg.take_reborn(), None);
    let key = feed(&mut agg, &seg(9000, TCP_SYN), Direction::Outgoing);
    assert!(key.is_some(), "announced again");
    assert_eq!(agg.take_reborn(), key);
    let steps: Vec<_> = agg
        .take_life()
        .into_iter()
        .map(|(_, s)| (s.step, s.life.outcome))
        .collect();
    use netoproc_core::lifecycle::Step;
    assert_eq!(
        steps,
        [
            (Step::Connect, Outcome::Open),
            (Step::Closed, Outcome::Refused),
            (Step::Connect, Outcome::Open)
        ]
    );
}

#[test]
fn flows_past_the_bound_are_counted_unannounced_and_unsequenced() {
    let mut agg = FlowAggregator::new(NS).with_max_seen(1);
    let a = tcp(([10, 0, 0, 1], 40000), ([10, 0, 0, 2], 80), 10, 0);
    let b = tcp(([10, 0, 0, 1], 40001), ([10, 0, 0, 2], 80), 10, 0);
    let mut feed = |f: &[u8]| {
        agg.packet(
            Some(LinkType::Ethernet),
            f,
            f.len() as u32,
            Direction::Outgoing,
        )
    };
    assert!(feed(&a).is_some());
    assert!(feed(&b).is_none(), "not remembered: not announced");
    // The same segment again: a's retransmission is seen as such,
    // b's (not remembered) counts again.
    assert!(feed(&a).is_none());
    assert!(feed(&b).is_none());
    let tx: HashMap<u16, u64> = agg
        .take()
        .into_iter()
        .map(|(k, d)| (k.local.port(), d.counters.tx_bytes))
        .collect();
    assert_eq!(tx[&40000], 10);
    assert_eq!(tx[&40001], 20);
    assert_eq!(agg.take_unsequenced(), 2);
    assert_eq!(agg.take_unsequenced(), 0);
    assert_eq!(agg.flows_known(), 1);
}

#[test]
fn retransmitted_payload_counts_once() {
    let mut agg = FlowAggregator::new(NS);
    let seg = |seq: u32, len: usize| {
        let mut out = Vec::new();
        PacketBuilder::ethernet2([0; 6], [0; 6])
            .ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
            .tcp(40000, 80, seq, 1000)
            .ack(1)
            .write(&mut out, &vec![7; len])
            .unwrap();
        out
    };
    for (seq, len) in [(1, 1000), (1001, 1000), (1001, 1000), (2001, 500)] {
        let f = seg(seq, len);
        agg.packet(
            Some(LinkType::Ethernet),
            &f,
            f.len() as u32,
            Direction::Outgoing,
        );
    }
    let d = agg.take();
    let c = d[0].1.counters;
    // The retransmission is a packet and wire bytes, not new payload.
    assert_eq!((c.tx_bytes, c.tx_packets), (2500, 4));
    assert_eq!(c.tx_wire_bytes, 2500 + 1000 + 4 * 40);
}

fn udp(src: ([u8; 4], u16), dst: ([u8; 4], u16), payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    PacketBuilder::ethernet2([0; 6], [0; 6])
        .ipv4(src.0, dst.0, 64)
        .udp(src.1, dst.1)
        .write(&mut out, payload)
        .unwrap();
    out
}

#[test]
fn dns_messages_are_kept_with_their_flow_and_time() {
    let mut agg = FlowAggregator::new(NS).with_dns_ports(vec![53]);
    let eth = Some(LinkType::Ethernet);
    let q = udp(([10, 0, 0, 1], 40000), ([10, 0, 0, 2], 53), b"query");
    let r = udp(([10, 0, 0, 2], 53), ([10, 0, 0, 1], 40000), b"answer");
    let web = udp(([10, 0, 0, 1], 40000), ([10, 0, 0, 2], 80), b"not dns");
    let key = agg.packet_at(eth, &q, q.len() as u32, Direction::Outgoing, 100);
    agg.packet_at(eth, &r, r.len() as u32, Direction::Incoming, 250);
    agg.packet_at(eth, &web, web.len() as u32, Direction::Outgoing, 300);
    // Cut by the snap length: kept as far as captured, and counted.
    agg.packet_at(eth, &r[..45], r.len() as u32, Direction::Incoming, 400);
    let dns = agg.take_dns();
    assert_eq!(dns.len(), 3);
    let (k, p) = &dns[0];
    assert_eq!(Some(*k), key);
    assert!(p.outgoing);
    assert_eq!((p.ktime_ns, p.payload.as_slice()), (100, &b"query"[..]));
    assert_eq!(p.dst, "10.0.0.2:53".parse().unwrap());
    assert_eq!(dns[1].0, *k, "the response belongs to the same flow");
    assert_eq!(
        (dns[1].1.outgoing, &dns[1].1.payload[..]),
        (false, &b"answer"[..])
    );
    assert_eq!(
        (dns[2].1.payload_len, &dns[2].1.payload[..]),
        (6, &b"ans"[..])
    );
    assert_eq!(agg.take_dns_counts().truncated, 1);
    assert!(agg.take_dns().is_empty());
}

#[test]
fn no_dns_ports_no_payload() {
    let mut agg = FlowAggregator::new(NS);
    let q = udp(([10, 0, 0, 1], 40000), ([10, 0, 0, 2], 53), b"query");
    agg.packet_at(
        Some(LinkType::Ethernet),
        &q,
        q.len() as u32,
        Direction::Outgoing,
        1,
    );
    assert!(agg.take_dns().is_empty());
}

#[test]
fn dns_over_tcp_retransmissions_are_left_out() {
    let mut agg = FlowAggregator::new(NS).with_dns_ports(vec![53]);
    let seg = |seq: u32, payload: &[u8]| {
        let mut out = Vec::new();
        PacketBuilder::ethernet2([0; 6], [0; 6])
            .ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
            .tcp(40000, 53, seq, 1000)
            .ack(1)
            .write(&mut out, payload)
            .unwrap();
        out
    };
    for (seq, payload) in [
        (1, &b"\x00\x05ab"[..]),
        (1, &b"\x00\x05ab"[..]),    // the same segment again
        (1, &b"\x00\x05abcde"[..]), // again, with more: only "cde" is new
        (0, &b""[..]),
    ] {
        let f = seg(seq, payload);
        agg.packet_at(
            Some(LinkType::Ethernet),
            &f,
            f.len() as u32,
            Direction::Outgoing,
            5,
        );
    }
    let kept: Vec<Vec<u8>> = agg.take_dns().into_iter().map(|(_, p)| p.payload).collect();
    assert_eq!(kept, vec![b"\x00\x05ab".to_vec(), b"cde".to_vec()]);
}

#[test]
fn parse_failures_are_counted_by_kind() {
    let mut agg = FlowAggregator::new(NS);
    let mut arp = [0u8; 42];
    arp[12..14].copy_from_slice(&0x0806u16.to_be_bytes());
    let mut icmp = Vec::new();
    PacketBuilder::ethernet2([0; 6], [0; 6])
        .ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
        .icmpv4_echo_request(1, 1)
        .write(&mut icmp, &[0; 8])
        .unwrap();
    for (link, f) in [
        (Some(LinkType::Ethernet), &arp[..]),
        (Some(LinkType::Ethernet), &icmp[..]),
        (Some(LinkType::Ethernet), &icmp[..20]),
        (None, &icmp[..]),
    ] {
        assert!(agg
            .packet(link, f, f.len() as u32, Direction::Incoming)
            .is_none());
    }
    let u = agg.take_unparsed();
    assert_eq!(
        (u.not_ip, u.not_tcp_udp, u.truncated, u.unknown_link),
        (1, 1, 1, 1)
    );
    assert_eq!(u.total(), 4);
    assert_eq!(agg.packets(), 4);
    assert!(agg.take().is_empty());
}
