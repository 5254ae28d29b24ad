//! Replay benchmark: how many packets per second one core parses and
//! aggregates on the AF_PACKET path. Frames are the real captures under
//! `crates/wire/testdata/` plus a synthetic mix built with etherparse
//! (TCP/UDP, IPv4/IPv6, 1000 flows, ACKs to full-MTU segments), all snapped
//! to 128 bytes as the ring delivers them. Each frame goes through the
//! reader threads' own path, [`FlowAggregator::packet`] (`parse_frame`,
//! the flow key by direction, TCP retransmission tracking, new-flow
//! detection), and the deltas are taken every 50 000 frames (the readers
//! hand them over every 20 ms, about as many frames at full speed).
//!
//!     cargo run --release -p netoproc-afpacket --example replay [seconds]

use std::fs::File;
use std::time::{Duration, Instant};

use etherparse::PacketBuilder;
use netoproc_afpacket::capture::FlowAggregator;
use netoproc_afpacket::Direction;
use netoproc_procfs::NetnsId;
use netoproc_wire::LinkType;
use pcap_file::pcap::PcapReader;

const SNAP: usize = 128;
const FLOWS: u32 = 1000;
const SYNTHETIC: u32 = 200_000;
const FLUSH_EVERY: u64 = 50_000;

struct Frame {
    link: LinkType,
    data: Vec<u8>,
    orig_len: u32,
}

fn fixtures() -> Vec<Frame> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../wire/testdata");
    let mut frames = Vec::new();
    for (name, link) in [
        ("lo.pcap", LinkType::Ethernet),
        ("veth.pcap", LinkType::Ethernet),
        ("tun.pcap", LinkType::RawIp),
    ] {
        let file = File::open(format!("{dir}/{name}")).expect("fixture pcap");
        let mut reader = PcapReader::new(file).expect("pcap header");
        while let Some(Ok(p)) = reader.next_raw_packet() {
            frames.push(Frame {
                link,
                data: p.data.into_owned(),
                orig_len: p.orig_len,
            });
        }
    }
    frames
}

/// A deterministic mix: per 10 packets, 4 TCP ACKs, 3 full-size TCP
/// segments, 2 UDP datagrams of 60..=540 bytes, 1 IPv6 TCP segment.
fn synthetic(i: u32) -> Frame {
    let flow = i % FLOWS;
    let eth = PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2]);
    let (a, b) = ([10, 1, (flow >> 8) as u8, flow as u8], [10, 2, 0, 1]);
    let port = 10_000 + flow as u16;
    let mut data = Vec::new();
    let written = match i % 10 {
        0..=3 => eth
            .ipv4(a, b, 64)
            .tcp(port, 443, i, 500)
            .ack(i)
            .write(&mut data, &[]),
        4..=6 => eth
            .ipv4(b, a, 64)
            .tcp(443, port, i, 500)
            .ack(i)
            .write(&mut data, &[0; 1448]),
        7 | 8 => {
            let payload = vec![0; 60 + (i % 481) as usize];
            eth.ipv4(a, b, 64).udp(port, 53).write(&mut data, &payload)
        }
        _ => {
            let mut a6 = [0xfd; 16];
            a6[14..].copy_from_slice(&(flow as u16).to_be_bytes());
            let tcp = eth.ipv6(a6, [0xfe; 16], 64).tcp(port, 443, i, 500).ack(i);
            tcp.write(&mut data, &[0; 1428])
        }
    };
    written.expect("build frame");
    let orig_len = data.len() as u32;
    data.truncate(SNAP);
    Frame {
        link: LinkType::Ethernet,
        data,
        orig_len,
    }
}

fn main() {
    let seconds: u64 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(3);
    let mut frames = fixtures();
    let real = frames.len();
    frames.extend((0..SYNTHETIC).map(synthetic));
    let mut agg = FlowAggregator::new(NetnsId(4026531840));
    let (mut packets, mut bytes, mut new_flows) = (0u64, 0u64, 0u64);
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(seconds) {
        for (i, f) in frames.iter().enumerate() {
            let dir = if i % 2 == 0 {
                Direction::Outgoing
            } else {
                Direction::Incoming
            };
            new_flows += u64::from(agg.packet(Some(f.link), &f.data, f.orig_len, dir).is_some());
            packets += 1;
            if packets % FLUSH_EVERY == 0 {
                bytes += agg
                    .take()
                    .iter()
                    .map(|(_, d)| d.counters.tx_wire_bytes + d.counters.rx_wire_bytes)
                    .sum::<u64>();
            }
        }
    }
    let elapsed = start.elapsed().as_secs_f64();
    let rejected = agg.take_unparsed().total();
    println!(
        "replayed {packets} frames ({real} captured + {SYNTHETIC} synthetic, {} flows, {new_flows} announced, {rejected} not TCP/UDP) in {elapsed:.2} s on one core",
        agg.flows_known()
    );
    println!(
        "{:.2} M packets/s per core ({:.1} ns/packet; {:.1} GB of IP traffic counted)",
        packets as f64 / elapsed / 1e6,
        elapsed * 1e9 / packets as f64,
        bytes as f64 / 1e9
    );
}
