//! Untrusted bytes: hostile messages (compression loops, forward pointers,
//! lengths past the end, absurd counts) are counted as malformed and
//! skipped; arbitrary bytes, mutated real messages and random TCP
//! segmentation never panic.

mod common;

use netoproc_core::{DnsPacket, Protocol, SocketCookie};
use netoproc_dns::{parse, Observatory, ObservatoryConfig, PacketPidsOnly, ParseError};
use proptest::prelude::*;

/// A query header (id 0x1234, one question) followed by `body`.
fn query(body: &[u8]) -> Vec<u8> {
    let mut m = vec![0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
    m.extend_from_slice(body);
    m
}

#[test]
fn hostile_messages_are_malformed() {
    let cases: [(&str, Vec<u8>); 6] = [
        ("pointer to itself", query(&[0xc0, 12, 0, 1, 0, 1])),
        (
            "two pointers in a loop",
            query(&[1, b'a', 0xc0, 16, 0xc0, 12, 0, 1, 0, 1]),
        ),
        ("forward pointer", query(&[0xc0, 40, 0, 1, 0, 1])),
        ("label past the end", query(&[60, b'a', b'b'])),
        ("no type and class", query(&[1, b'a', 0])),
        ("65535 questions", {
            let mut m = query(&[1, b'a', 0, 0, 1, 0, 1]);
            m[4..6].copy_from_slice(&[0xff, 0xff]);
            m
        }),
    ];
    for (what, m) in &cases {
        assert_eq!(parse(m, false), Err(ParseError::Malformed), "{what}");
    }
    let mut obs = Observatory::new(ObservatoryConfig::default());
    let packets = cases.iter().map(|(_, m)| {
        common::udp(
            1,
            Some(1),
            true,
            "10.0.0.2:4000",
            "10.0.0.1:53",
            0,
            m.clone(),
        )
    });
    obs.ingest(packets, &PacketPidsOnly);
    let short = common::udp(
        1,
        Some(1),
        true,
        "10.0.0.2:4000",
        "10.0.0.1:53",
        0,
        vec![0x12, 0x34, 1],
    );
    obs.ingest([short], &PacketPidsOnly);
    let r = obs.report(&PacketPidsOnly);
    assert_eq!(
        (r.stats.packets, r.stats.malformed, r.stats.messages),
        (7, 7, 0)
    );
    assert!(r.queries.is_empty());
}

fn real_messages() -> &'static [Vec<u8>] {
    static MSGS: std::sync::OnceLock<Vec<Vec<u8>>> = std::sync::OnceLock::new();
    MSGS.get_or_init(|| common::messages().into_iter().map(|(_, m)| m).collect())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..1500), cut: bool) {
        let _ = parse(&bytes, cut);
    }

    #[test]
    fn mutated_real_messages_never_panic(
        pick in any::<prop::sample::Index>(),
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
        keep in any::<prop::sample::Index>(),
    ) {
        let msgs = real_messages();
        let mut m = pick.get(msgs).clone();
        for (at, b) in edits {
            let i = at.index(m.len());
            m[i] = b;
        }
        let n = keep.index(m.len() + 1);
        let _ = parse(&m[..n], true);
        let _ = parse(&m, false);
    }

    #[test]
    fn arbitrary_packets_never_panic_the_observatory(
        packets in proptest::collection::vec(
            (any::<bool>(), any::<bool>(), 0u64..4, any::<u16>(), proptest::collection::vec(any::<u8>(), 0..300), 0u32..2000),
            0..40,
        )
    ) {
        let mut obs = Observatory::new(ObservatoryConfig { max_queries: 8, max_pending: 4, max_tcp_streams: 2, ..Default::default() });
        let pkts: Vec<DnsPacket> = packets.into_iter().enumerate().map(|(i, (tcp, out, cookie, t, payload, extra))| DnsPacket {
            cookie: SocketCookie(cookie),
            pid: (cookie % 2 == 0).then_some(cookie as u32),
            outgoing: out,
            protocol: if tcp { Protocol::Tcp } else { Protocol::Udp },
            src: "10.0.0.2:4000".parse().unwrap(),
            dst: "10.0.0.1:53".parse().unwrap(),
            ktime_ns: u64::from(t) * 1_000_000 + i as u64,
            payload_len: payload.len() as u32 + extra,
            payload,
            tcp_seq: (tcp && t % 3 != 0).then_some(u32::from(t).wrapping_mul(7919)),
        }).collect();
        obs.ingest(pkts, &PacketPidsOnly);
        obs.sweep(u64::MAX, &PacketPidsOnly);
        let r = obs.report(&PacketPidsOnly);
        prop_assert!(r.queries.len() <= 8 + 4);
    }
}
