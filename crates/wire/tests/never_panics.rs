//! Properties over arbitrary input: `parse_frame` never panics, and what it
//! accepts is self-consistent. The cargo-fuzz target `fuzz/` explores the
//! same function with coverage guidance.

use etherparse::PacketBuilder;
use netoproc_wire::{parse_frame, LinkType};
use proptest::prelude::*;

fn link() -> impl Strategy<Value = LinkType> {
    prop_oneof![Just(LinkType::Ethernet), Just(LinkType::RawIp)]
}

/// A valid TCP or UDP frame, v4 or v6, to be cut and corrupted.
fn valid_frame(v6: bool, tcp: bool, payload: usize) -> Vec<u8> {
    let eth = PacketBuilder::ethernet2([1; 6], [2; 6]);
    let ip = if v6 {
        eth.ipv6([1; 16], [2; 16], 64)
    } else {
        eth.ipv4([1; 4], [2; 4], 64)
    };
    let mut out = Vec::new();
    if tcp {
        ip.tcp(1, 2, 3, 4)
            .write(&mut out, &vec![0; payload])
            .unwrap();
    } else {
        ip.udp(1, 2).write(&mut out, &vec![0; payload]).unwrap();
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(20_000))]

    #[test]
    fn arbitrary_bytes_never_panic(
        link in link(),
        bytes in proptest::collection::vec(any::<u8>(), 0..256),
        orig_len in any::<u32>(),
    ) {
        if let Ok(p) = parse_frame(link, &bytes, orig_len) {
            prop_assert!(p.payload_len <= p.ip_len);
        }
    }

    #[test]
    fn corrupted_valid_frames_never_panic(
        v6 in any::<bool>(),
        tcp in any::<bool>(),
        payload in 0usize..200,
        cut in any::<prop::sample::Index>(),
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..4),
        orig_len in any::<u32>(),
    ) {
        let mut frame = valid_frame(v6, tcp, payload);
        for (at, byte) in flips {
            let i = at.index(frame.len());
            frame[i] = byte;
        }
        let n = cut.index(frame.len() + 1);
        if let Ok(p) = parse_frame(LinkType::Ethernet, &frame[..n], orig_len) {
            prop_assert!(p.payload_len <= p.ip_len);
        }
    }
}
