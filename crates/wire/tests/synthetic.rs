//! Cases no fixture here can hold, built with etherparse's packet builder:
//! VLAN tags (this kernel has no 8021q), QinQ, cut-short and malformed
//! headers, and the `ARPHRD_*` mapping.

use etherparse::{PacketBuilder, VlanId};
use netoproc_core::model::Protocol;
use netoproc_wire::{parse_frame, Layer, LinkType, PacketSummary, WireError};

const MAC_A: [u8; 6] = [2, 0, 0, 0, 0, 1];
const MAC_B: [u8; 6] = [2, 0, 0, 0, 0, 2];

fn tcp_v4(vlans: &[u16], payload: usize) -> Vec<u8> {
    let eth = PacketBuilder::ethernet2(MAC_A, MAC_B);
    let ip = match vlans {
        [] => eth.ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64),
        [v] => eth
            .single_vlan(VlanId::try_new(*v).unwrap())
            .ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64),
        [o, i] => eth
            .double_vlan(VlanId::try_new(*o).unwrap(), VlanId::try_new(*i).unwrap())
            .ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64),
        _ => unreachable!(),
    };
    let b = ip.tcp(40000, 443, 1, 1000).syn();
    let mut out = Vec::new();
    b.write(&mut out, &vec![0u8; payload]).unwrap();
    out
}

fn parse_eth(frame: &[u8]) -> Result<PacketSummary, WireError> {
    parse_frame(LinkType::Ethernet, frame, frame.len() as u32)
}

#[test]
fn vlan_and_qinq_tags_are_skipped() {
    let plain = parse_eth(&tcp_v4(&[], 300)).unwrap();
    assert_eq!(plain.protocol, Protocol::Tcp);
    assert_eq!(plain.src, "10.0.0.1:40000".parse().unwrap());
    assert_eq!(plain.dst, "10.0.0.2:443".parse().unwrap());
    assert_eq!((plain.ip_len, plain.payload_len), (20 + 20 + 300, 300));
    assert_eq!(plain.tcp_flags, 0x02);
    assert_eq!(plain.payload_offset, 14 + 20 + 20);
    for tags in [&[100][..], &[200, 100][..]] {
        let frame = tcp_v4(tags, 300);
        // The payload starts 4 bytes later per tag.
        let tagged = PacketSummary {
            payload_offset: plain.payload_offset + 4 * tags.len() as u32,
            ..plain
        };
        assert_eq!(parse_eth(&frame), Ok(tagged), "tags {tags:?}");
        // Truncated to 128 bytes the lengths still come from the headers.
        let cut = parse_frame(LinkType::Ethernet, &frame[..128], frame.len() as u32);
        assert_eq!(cut, Ok(tagged));
        assert_eq!(
            cut.unwrap().payload(&frame[..128]).len(),
            128 - 54 - 4 * tags.len()
        );
    }
}

#[test]
fn four_vlan_tags_are_malformed() {
    let mut frame = tcp_v4(&[200, 100], 0);
    // Insert two more 802.1Q tags after the MAC addresses.
    let tag = [0x81, 0x00, 0x00, 0x07];
    frame.splice(12..12, tag.iter().chain(tag.iter()).copied());
    assert_eq!(
        parse_eth(&frame),
        Err(WireError::Malformed { layer: Layer::Vlan })
    );
}

#[test]
fn udp_v6_raw_ip() {
    let b = PacketBuilder::ipv6([0xfd; 16], [0xfe; 16], 64).udp(53, 5353);
    let mut frame = Vec::new();
    b.write(&mut frame, &[7u8; 33]).unwrap();
    let p = parse_frame(LinkType::RawIp, &frame, frame.len() as u32).unwrap();
    assert_eq!(
        (p.protocol, p.ip_len, p.payload_len, p.tcp_flags),
        (Protocol::Udp, 40 + 8 + 33, 33, 0)
    );
    assert_eq!((p.src.port(), p.dst.port()), (53, 5353));
    assert_eq!(p.payload(&frame), &[7u8; 33][..]);
}

#[test]
fn payload_is_what_the_ip_length_covers() {
    let b = PacketBuilder::ethernet2(MAC_A, MAC_B)
        .ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
        .udp(40000, 53);
    let mut frame = Vec::new();
    b.write(&mut frame, b"abc").unwrap();
    // Ethernet pads short frames: the padding is not payload.
    frame.extend_from_slice(&[0xee; 15]);
    let p = parse_eth(&frame).unwrap();
    assert_eq!((p.payload_offset, p.payload_len), (14 + 20 + 8, 3));
    assert_eq!(p.payload(&frame), b"abc");
    // Cut inside the payload, or before it: what was captured, or nothing.
    assert_eq!(p.payload(&frame[..14 + 28 + 1]), b"a");
    assert_eq!(p.payload(&frame[..20]), b"");
}

#[test]
fn ipv4_total_length_zero_uses_the_original_length() {
    let mut frame = tcp_v4(&[], 100);
    frame[16..18].copy_from_slice(&[0, 0]); // IPv4 total length
    let p = parse_frame(LinkType::Ethernet, &frame[..80], 14 + 70_000).unwrap();
    assert_eq!((p.ip_len, p.payload_len), (70_000, 70_000 - 40));
}

#[test]
fn cut_short_headers_are_truncated() {
    let frame = tcp_v4(&[], 10);
    let cut = |n: usize| parse_eth(&frame[..n]);
    assert_eq!(
        cut(0),
        Err(WireError::Truncated {
            layer: Layer::Ethernet
        })
    );
    assert_eq!(cut(20), Err(WireError::Truncated { layer: Layer::Ip }));
    assert_eq!(
        cut(14 + 20 + 10),
        Err(WireError::Truncated { layer: Layer::Tcp })
    );
    let vlan = tcp_v4(&[5], 0);
    assert_eq!(
        parse_eth(&vlan[..16]),
        Err(WireError::Truncated { layer: Layer::Vlan })
    );
}

#[test]
fn inconsistent_lengths_are_malformed() {
    let mut short_total = tcp_v4(&[], 10);
    short_total[16..18].copy_from_slice(&10u16.to_be_bytes()); // < IHL
    assert_eq!(
        parse_eth(&short_total),
        Err(WireError::Malformed { layer: Layer::Ip })
    );
    let mut tcp_small_total = tcp_v4(&[], 0);
    tcp_small_total[16..18].copy_from_slice(&30u16.to_be_bytes()); // IP 20 + 10 < TCP 20
    assert_eq!(
        parse_eth(&tcp_small_total),
        Err(WireError::Malformed { layer: Layer::Tcp })
    );
    let mut bad_offset = tcp_v4(&[], 0);
    bad_offset[14 + 20 + 12] = 0x20; // data offset 2 words
    assert_eq!(
        parse_eth(&bad_offset),
        Err(WireError::Malformed { layer: Layer::Tcp })
    );
    let mut version5 = tcp_v4(&[], 0);
    version5[14] = 0x55;
    assert_eq!(
        parse_eth(&version5),
        Err(WireError::Malformed { layer: Layer::Ip })
    );
}

#[test]
fn non_ip_and_non_tcp_udp() {
    let mut arp = tcp_v4(&[], 0);
    arp[12..14].copy_from_slice(&[0x08, 0x06]);
    assert_eq!(
        parse_eth(&arp),
        Err(WireError::NotIp { ether_type: 0x0806 })
    );
    let mut icmp = tcp_v4(&[], 0);
    icmp[14 + 9] = 1;
    assert_eq!(parse_eth(&icmp), Err(WireError::NotTcpUdp { protocol: 1 }));
}

#[test]
fn non_first_ipv4_fragment() {
    let mut frag = tcp_v4(&[], 100);
    frag[14 + 6..14 + 8].copy_from_slice(&185u16.to_be_bytes()); // offset 1480
    assert_eq!(parse_eth(&frag), Err(WireError::Fragment));
}

#[test]
fn arphrd_mapping() {
    assert_eq!(LinkType::from_arphrd(1), Some(LinkType::Ethernet));
    assert_eq!(LinkType::from_arphrd(772), Some(LinkType::Ethernet));
    assert_eq!(LinkType::from_arphrd(0xfffe), Some(LinkType::RawIp));
    assert_eq!(LinkType::from_arphrd(778), None); // ARPHRD_IPGRE
}
