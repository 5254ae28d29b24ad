//! End to end across a veth pair (root): namespaces A (10.204.0.1/24) and
//! B (.2), the ring in A on its veth end. A's packets are seen once,
//! outgoing; B's replies once, incoming. No loopback doubling here.

mod common;

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::time::Duration;

use common::{drain, have_root, ip, Netns};
use netoproc_afpacket::{Direction, Ring, RingConfig};
use netoproc_core::model::Protocol;

const A: &str = "10.204.0.1";
const B: &str = "10.204.0.2";
const DATAGRAMS: u32 = 40;
const TCP_UP: usize = 200_000;
const TCP_DOWN: usize = 9_000;

#[test]
fn veth_sees_each_packet_once_per_direction() {
    if !have_root("veth_sees_each_packet_once_per_direction") {
        return;
    }
    let (a, b) = (Netns::new("veth-a"), Netns::new("veth-b"));
    ip(&[
        "link", "add", "npva", "netns", &a.name, "type", "veth", "peer", "name", "npvb", "netns",
        &b.name,
    ]);
    for (ns, dev, addr) in [(&a, "npva", A), (&b, "npvb", B)] {
        ip(&[
            "-n",
            &ns.name,
            "addr",
            "add",
            &format!("{addr}/24"),
            "dev",
            dev,
        ]);
        ip(&["-n", &ns.name, "link", "set", dev, "up"]);
    }
    let config = RingConfig {
        interface: Some("npva".into()),
        ring_mib: 4,
        ..RingConfig::default()
    };
    let mut ring = Ring::open_in_netns(&a.path(), &config).expect("open ring");

    // B: a UDP echo and a TCP server; A: the clients.
    let udp_echo = b.run(|| UdpSocket::bind((B, 9000)).unwrap());
    let tcp_server = b.run(|| TcpListener::bind((B, 9001)).unwrap());
    std::thread::scope(|s| {
        s.spawn(|| {
            let mut buf = [0u8; 2048];
            for _ in 0..DATAGRAMS {
                let (n, peer) = udp_echo.recv_from(&mut buf).unwrap();
                udp_echo.send_to(&buf[..n], peer).unwrap();
            }
            let (mut c, _) = tcp_server.accept().unwrap();
            let mut got = Vec::new();
            c.read_to_end(&mut got).unwrap();
            assert_eq!(got.len(), TCP_UP);
            c.write_all(&vec![b'd'; TCP_DOWN]).unwrap();
        });
        a.run(|| {
            let udp = UdpSocket::bind((A, 0)).unwrap();
            udp.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let mut buf = [0u8; 2048];
            for i in 0..DATAGRAMS {
                udp.send_to(&vec![b'u'; (i * 25) as usize], (B, 9000))
                    .unwrap();
                assert_eq!(udp.recv(&mut buf).unwrap(), (i * 25) as usize);
            }
            let mut c = TcpStream::connect((B, 9001)).unwrap();
            c.write_all(&vec![b'q'; TCP_UP]).unwrap();
            c.shutdown(std::net::Shutdown::Write).unwrap();
            let mut got = Vec::new();
            c.read_to_end(&mut got).unwrap();
            assert_eq!(got.len(), TCP_DOWN);
        });
    });

    let seen = drain(&mut ring, Duration::from_millis(400));
    let (a_ip, b_ip) = (A.parse().unwrap(), B.parse().unwrap());
    let mut udp: HashMap<(Direction, u32), u32> = HashMap::new();
    let mut tcp: HashMap<Direction, u64> = HashMap::new();
    for s in &seen {
        // ARP and IPv6 neighbour discovery share the wire; skip them.
        let Ok(p) = s.summary else { continue };
        let (from, to): (SocketAddr, SocketAddr) = (p.src, p.dst);
        let expected = if s.direction == Direction::Outgoing {
            (a_ip, b_ip)
        } else {
            (b_ip, a_ip)
        };
        assert_eq!((from.ip(), to.ip()), expected, "{s:?}");
        assert_eq!(s.orig_len, 14 + p.ip_len);
        match p.protocol {
            Protocol::Udp => *udp.entry((s.direction, p.payload_len)).or_default() += 1,
            Protocol::Tcp => *tcp.entry(s.direction).or_default() += u64::from(p.payload_len),
        }
    }
    for i in 0..DATAGRAMS {
        for dir in [Direction::Outgoing, Direction::Incoming] {
            assert_eq!(udp.get(&(dir, i * 25)), Some(&1), "{dir:?} datagram {i}");
        }
    }
    assert_eq!(udp.len(), 2 * DATAGRAMS as usize);
    assert_eq!(tcp[&Direction::Outgoing], TCP_UP as u64);
    assert_eq!(tcp[&Direction::Incoming], TCP_DOWN as u64);
    assert_eq!(ring.stats().unwrap().drops, 0);
}
