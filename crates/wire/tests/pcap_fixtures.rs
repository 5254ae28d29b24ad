//! Real captures through `parse_frame`. The pcaps under `testdata/` were
//! recorded by `testdata/capture.sh` at snap length 128 (as the ring
//! captures) from the traffic `testdata/traffic.py` generates; every expected
//! size below is one that script sent.

use std::collections::BTreeMap;
use std::fs::File;
use std::net::SocketAddr;

use netoproc_core::model::Protocol;
use netoproc_wire::{parse_frame, LinkType, PacketSummary, WireError};
use pcap_file::pcap::PcapReader;
use pcap_file::DataLink;

const SYN: u8 = 0x02;
const FIN: u8 = 0x01;
const ACK: u8 = 0x10;

/// (link type, frames as (captured bytes, original length)).
fn read_pcap(name: &str) -> (LinkType, Vec<(Vec<u8>, u32)>) {
    let path = format!("{}/testdata/{name}", env!("CARGO_MANIFEST_DIR"));
    let mut reader = PcapReader::new(File::open(&path).expect(&path)).expect("pcap header");
    let link = match reader.header().datalink {
        DataLink::ETHERNET => LinkType::Ethernet,
        DataLink::RAW | DataLink::IPV4 | DataLink::IPV6 => LinkType::RawIp,
        other => panic!("{name}: unexpected link type {other:?}"),
    };
    let mut frames = Vec::new();
    // Raw records: pcap-file 2's checked reader rejects orig_len > snaplen,
    // which is every truncated record.
    while let Some(packet) = reader.next_raw_packet() {
        let packet = packet.expect("pcap record");
        assert!(packet.data.len() <= 128, "{name}: fixture not snapped");
        frames.push((packet.data.into_owned(), packet.orig_len));
    }
    (link, frames)
}

/// Parses every frame; checks the IP length against the capture's
/// original length (link header 14 bytes for Ethernet, 0 for raw IP).
fn parse_all(name: &str) -> Vec<Result<PacketSummary, WireError>> {
    let (link, frames) = read_pcap(name);
    let link_len = if link == LinkType::Ethernet { 14 } else { 0 };
    frames
        .iter()
        .map(|(data, orig_len)| {
            let r = parse_frame(link, data, *orig_len);
            if let Ok(p) = &r {
                assert_eq!(p.ip_len + link_len, *orig_len, "{name}: {p:?}");
                assert!(p.payload_len < p.ip_len);
            }
            r
        })
        .collect()
}

fn ok(all: &[Result<PacketSummary, WireError>]) -> Vec<PacketSummary> {
    all.iter().filter_map(|r| r.ok()).collect()
}

/// Sorted UDP payload sizes sent to `dst_port` over IPv4 or IPv6.
fn udp_sizes(pkts: &[PacketSummary], v6: bool, dst_port: u16) -> Vec<u32> {
    let mut sizes: Vec<u32> = pkts
        .iter()
        .filter(|p| p.protocol == Protocol::Udp && p.dst.is_ipv6() == v6)
        .filter(|p| p.dst.port() == dst_port)
        .map(|p| p.payload_len)
        .collect();
    sizes.sort_unstable();
    sizes
}

/// TCP payload bytes per (src, dst) direction.
fn tcp_bytes(pkts: &[PacketSummary]) -> BTreeMap<(SocketAddr, SocketAddr), u64> {
    let mut m = BTreeMap::new();
    for p in pkts.iter().filter(|p| p.protocol == Protocol::Tcp) {
        *m.entry((p.src, p.dst)).or_insert(0) += u64::from(p.payload_len);
    }
    m
}

fn tcp_flag_count(pkts: &[PacketSummary], flags: u8) -> usize {
    pkts.iter()
        .filter(|p| p.protocol == Protocol::Tcp && p.tcp_flags & flags == flags)
        .count()
}

#[test]
fn loopback_v4_v6_tcp_udp_options_and_big_tcp() {
    let all = parse_all("lo.pcap");
    assert!(all.iter().all(|r| r.is_ok()), "{all:?}");
    let pkts = ok(&all);
    assert_eq!(udp_sizes(&pkts, false, 9000), [0, 1, 50, 100, 1400, 8000]);
    assert_eq!(udp_sizes(&pkts, true, 9000), [10, 20, 30, 1200]);
    let ip_len_of = |v6: bool, payload: u32| {
        let p = pkts.iter().find(|p| {
            p.protocol == Protocol::Udp && p.dst.is_ipv6() == v6 && p.payload_len == payload
        });
        p.unwrap().ip_len
    };
    // IPv4 options (4 bytes), IPv6 hop-by-hop and destination options (8).
    assert_eq!(ip_len_of(false, 50), 20 + 4 + 8 + 50);
    assert_eq!(ip_len_of(true, 20), 40 + 8 + 8 + 20);
    assert_eq!(ip_len_of(true, 30), 40 + 8 + 8 + 30);
    assert_eq!(ip_len_of(false, 8000), 20 + 8 + 8000);

    let mut per_dir: Vec<u64> = tcp_bytes(&pkts).into_values().collect();
    per_dir.sort_unstable();
    assert_eq!(per_dir, [1000, 2000, 1_000_000, 1_000_000]);
    assert_eq!(tcp_flag_count(&pkts, SYN), 4);
    assert_eq!(tcp_flag_count(&pkts, SYN | ACK), 2);
    assert_eq!(tcp_flag_count(&pkts, FIN), 4);
    // BIG TCP: IPv4 total length 0 and IPv6 payload length 0 (+ jumbo
    // hop-by-hop header) above 64 KiB; lengths come from the frame.
    for v6 in [false, true] {
        let big = pkts
            .iter()
            .filter(|p| p.dst.is_ipv6() == v6 && p.ip_len > 65_535)
            .count();
        assert!(big > 0, "no BIG TCP super-packet (v6={v6})");
    }
}

#[test]
fn veth_fragments_arp_and_neighbour_discovery() {
    let all = parse_all("veth.pcap");
    let errors = |e: WireError| all.iter().filter(|r| **r == Err(e)).count();
    // A 3000-byte datagram each way, v4 and v6: 3 fragments, 2 non-first.
    assert_eq!(errors(WireError::Fragment), 8);
    assert_eq!(errors(WireError::NotIp { ether_type: 0x0806 }), 2);
    let icmpv6 = errors(WireError::NotTcpUdp { protocol: 58 });
    assert!(icmpv6 >= 2, "neighbour discovery");
    let parsed = all.iter().filter(|r| r.is_ok()).count();
    assert_eq!(parsed + 8 + 2 + icmpv6, all.len(), "{all:?}");
    let pkts = ok(&all);
    // First fragments: the UDP header plus what fits in an MTU of 1500.
    assert_eq!(udp_sizes(&pkts, false, 9000), [100, 1472]);
    assert_eq!(udp_sizes(&pkts, true, 9000), [100, 1440]);
    let first_v6 = pkts.iter().find(|p| p.payload_len == 1440).unwrap();
    assert_eq!(first_v6.ip_len, 1496);
    let mut per_dir: Vec<u64> = tcp_bytes(&pkts).into_values().collect();
    per_dir.sort_unstable();
    assert_eq!(per_dir, [3000, 5000]);
}

#[test]
fn tun_raw_ip() {
    let all = parse_all("tun.pcap");
    assert!(all.iter().all(|r| r.is_ok()), "{all:?}");
    let pkts = ok(&all);
    assert_eq!(udp_sizes(&pkts, false, 9000), [5, 500]);
    assert_eq!(udp_sizes(&pkts, true, 9000), [7]);
    let syn = pkts.iter().find(|p| p.protocol == Protocol::Tcp).unwrap();
    assert_eq!(syn.tcp_flags, SYN);
    assert_eq!(syn.dst, "10.204.7.2:9001".parse().unwrap());
    assert_eq!(syn.payload_len, 0);
}
