//! End to end on `lo` in a fresh network namespace (root): every UDP
//! datagram and TCP segment is seen exactly twice, once outgoing and once
//! incoming, with the right lengths, truncated to the snap length, and the
//! kernel drops nothing. Also a two-ring fanout group sharing that traffic,
//! each flow (both directions) on one ring.

mod common;

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream, UdpSocket};
use std::time::Duration;

use common::{drain, have_root, Netns, Seen};
use netoproc_afpacket::{Direction, Ring, RingConfig};
use netoproc_core::model::Protocol;

const QUIET: Duration = Duration::from_millis(400);
const DATAGRAMS: usize = 50;
const TCP_UP: usize = 300_000;
const TCP_DOWN: usize = 7_000;

fn config() -> RingConfig {
    RingConfig {
        interface: Some("lo".into()),
        ring_mib: 4,
        ..RingConfig::default()
    }
}

/// Sends 50 datagrams of 0..=490 bytes, each from its own socket (50
/// flows), and one TCP transfer (300 kB up, 7 kB down) over 127.0.0.1.
fn traffic() {
    let rx = UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut buf = [0u8; 1024];
    for i in 0..DATAGRAMS {
        let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
        tx.send_to(&vec![b'u'; i * 10], rx.local_addr().unwrap())
            .unwrap();
        assert_eq!(rx.recv(&mut buf).unwrap(), i * 10);
    }
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::scope(|s| {
        s.spawn(|| {
            let (mut c, _) = listener.accept().unwrap();
            let mut got = Vec::new();
            c.read_to_end(&mut got).unwrap();
            assert_eq!(got.len(), TCP_UP);
            c.write_all(&vec![b'd'; TCP_DOWN]).unwrap();
        });
        let mut c = TcpStream::connect(addr).unwrap();
        c.write_all(&vec![b'q'; TCP_UP]).unwrap();
        c.shutdown(std::net::Shutdown::Write).unwrap();
        let mut got = Vec::new();
        c.read_to_end(&mut got).unwrap();
        assert_eq!(got.len(), TCP_DOWN);
    });
}

/// Checks `seen` holds each packet of `traffic()` exactly once per direction.
fn check_each_packet_twice(seen: &[Seen]) {
    let mut counts: HashMap<_, [usize; 2]> = HashMap::new();
    for s in seen {
        let p = s.summary.expect("only TCP/UDP on this lo");
        assert_eq!(s.orig_len, 14 + p.ip_len, "{s:?}");
        assert_eq!(s.captured, (s.orig_len as usize).min(128), "snap length");
        assert_eq!(s.ifindex, 1, "lo");
        let key = (
            p.protocol,
            p.src,
            p.dst,
            p.ip_len,
            p.payload_len,
            p.tcp_flags,
        );
        let dir = usize::from(s.direction == Direction::Outgoing);
        counts.entry(key).or_default()[dir] += 1;
    }
    // The same packet (same tuple, lengths, flags) may recur (TCP ACKs);
    // what matters is that outgoing and incoming copies pair up.
    for (key, [incoming, outgoing]) in &counts {
        assert_eq!(incoming, outgoing, "{key:?}");
    }
    let udp: Vec<u32> = {
        let mut v: Vec<u32> = counts
            .iter()
            .filter(|(k, _)| k.0 == Protocol::Udp)
            .flat_map(|(k, c)| std::iter::repeat_n(k.4, c[1]))
            .collect();
        v.sort_unstable();
        v
    };
    assert_eq!(
        udp,
        (0..DATAGRAMS as u32).map(|i| i * 10).collect::<Vec<_>>()
    );
    for (k, c) in counts.iter().filter(|(k, _)| k.0 == Protocol::Udp) {
        assert_eq!((k.3, c[1]), (28 + k.4, 1), "UDP lengths");
    }
    let mut tcp_bytes: Vec<u64> = {
        let mut per_dir: HashMap<_, u64> = HashMap::new();
        for (k, c) in counts.iter().filter(|(k, _)| k.0 == Protocol::Tcp) {
            *per_dir.entry((k.1, k.2)).or_default() += u64::from(k.4) * c[1] as u64;
        }
        per_dir.into_values().collect()
    };
    tcp_bytes.sort_unstable();
    assert_eq!(tcp_bytes, [TCP_DOWN as u64, TCP_UP as u64]);
}

#[test]
fn loopback_sees_each_packet_once_per_direction() {
    if !have_root("loopback_sees_each_packet_once_per_direction") {
        return;
    }
    let ns = Netns::new("lo");
    let mut ring = Ring::open_in_netns(&ns.path(), &config()).expect("open ring");
    assert_eq!(ring.ifindex(), Some(1));
    ns.run(traffic);
    let seen = drain(&mut ring, QUIET);
    check_each_packet_twice(&seen);
    let stats = ring.stats().unwrap();
    assert_eq!(stats.drops, 0);
    assert_eq!(stats.packets, seen.len() as u64);
    assert_eq!(ring.stats().unwrap(), stats, "accumulated, not reset");
}

#[test]
fn fanout_group_shares_the_traffic() {
    if !have_root("fanout_group_shares_the_traffic") {
        return;
    }
    let ns = Netns::new("fanout");
    let cfg = RingConfig {
        fanout: Some(0x4e50),
        ..config()
    };
    let mut rings: Vec<Ring> = (0..2)
        .map(|_| Ring::open_in_netns(&ns.path(), &cfg).expect("open ring"))
        .collect();
    ns.run(traffic);
    let per_ring: Vec<Vec<Seen>> = rings.iter_mut().map(|r| drain(r, QUIET)).collect();
    // The kernel hashes flows symmetrically (__skb_get_hash_symmetric):
    // both directions of a flow land on the same ring.
    let mut ring_of_flow = HashMap::new();
    for (i, seen) in per_ring.iter().enumerate() {
        assert!(!seen.is_empty(), "51 flows, yet ring {i} got none");
        for s in seen {
            let p = s.summary.unwrap();
            let flow = (p.protocol, p.src.min(p.dst), p.src.max(p.dst));
            assert_eq!(*ring_of_flow.entry(flow).or_insert(i), i, "{flow:?} split");
        }
    }
    check_each_packet_twice(&per_ring.concat());
    for r in &mut rings {
        assert_eq!(r.stats().unwrap().drops, 0);
    }
}
