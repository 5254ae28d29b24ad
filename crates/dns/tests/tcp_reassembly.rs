//! DNS over TCP rebuilt from real segments (`testdata/dns.pcap`): the
//! client that wrote two queries in one segment and a length prefix alone
//! in another, every stream re-cut at every point and byte by byte, and a
//! segment cut by the kernel's copy limit.

mod common;

use std::collections::BTreeMap;
use std::net::SocketAddr;

use common::Captured;
use netoproc_core::{Protocol, SocketCookie};
use netoproc_dns::{parse, StreamKey, TcpFrames};

/// TCP segments with payload, per (source, destination), in order.
fn streams() -> BTreeMap<(SocketAddr, SocketAddr), Vec<Captured>> {
    let mut s: BTreeMap<_, Vec<Captured>> = BTreeMap::new();
    for c in common::capture()
        .into_iter()
        .filter(|c| c.protocol == Protocol::Tcp)
    {
        s.entry((c.src, c.dst)).or_default().push(c);
    }
    s
}

const KEY: StreamKey = StreamKey {
    cookie: SocketCookie(1),
    outgoing: true,
};

/// Feeds chunks; returns (message, cut) pairs.
fn frame(chunks: &[(&[u8], usize)]) -> Vec<(Vec<u8>, bool)> {
    let mut t = TcpFrames::new(8);
    let mut out = Vec::new();
    for (i, (data, hole)) in chunks.iter().enumerate() {
        t.feed(KEY, i as u64, None, data, *hole, &mut |m, cut| {
            out.push((m.to_vec(), cut))
        });
    }
    out
}

fn ids(frames: &[(Vec<u8>, bool)]) -> Vec<u16> {
    frames
        .iter()
        .map(|(m, _)| parse(m, false).expect("whole message").id)
        .collect()
}

#[test]
fn two_queries_in_one_segment_and_a_prefix_alone() {
    let s = streams();
    let (_, segs) = s
        .iter()
        .find(|(_, segs)| segs.iter().any(|c| c.payload.len() == 1))
        .expect("the stream whose length prefix was split off");
    let sizes: Vec<usize> = segs.iter().map(|c| c.payload.len()).collect();
    assert_eq!(sizes, [61, 1, 31], "two queries, then a split prefix");
    let chunks: Vec<(&[u8], usize)> = segs.iter().map(|c| (&c.payload[..], 0)).collect();
    let got = frame(&chunks);
    assert_eq!(ids(&got), [0x1111, 0x2222, 0x3333]);
    assert!(got.iter().all(|(_, cut)| !cut));
}

#[test]
fn every_stream_recut_anywhere_gives_the_same_messages() {
    for ((src, dst), segs) in streams() {
        let bytes: Vec<u8> = segs.iter().flat_map(|c| c.payload.clone()).collect();
        let whole = frame(&[(&bytes, 0)]);
        assert!(!whole.is_empty(), "{src} -> {dst}");
        for at in 0..=bytes.len() {
            let (a, b) = bytes.split_at(at);
            assert_eq!(
                frame(&[(a, 0), (b, 0)]),
                whole,
                "{src} -> {dst} split at {at}"
            );
        }
        let singles: Vec<(&[u8], usize)> = bytes.chunks(1).map(|b| (b, 0)).collect();
        assert_eq!(frame(&singles), whole);
    }
}

#[test]
fn a_segment_cut_by_the_copy_limit_then_the_next_message() {
    let s = streams();
    let big = s
        .values()
        .flatten()
        .find(|c| c.payload.len() > common::KERNEL_COPY)
        .expect("a 1483-byte response segment");
    let (copied, hole) = (
        &big.payload[..common::KERNEL_COPY],
        big.payload.len() - common::KERNEL_COPY,
    );
    let next = [0u8, 12, 0xab, 0xcd, 0x81, 0x80, 0, 0, 0, 0, 0, 0, 0, 0];
    let got = frame(&[(copied, hole), (&next, 0)]);
    assert_eq!(got.len(), 2);
    assert!(got[0].1, "handed on cut");
    let m = parse(&got[0].0, true).unwrap();
    assert_eq!(m.question.unwrap().name, "many.np.test");
    assert!(!m.complete && m.answers.len() > 10);
    assert_eq!(parse(&got[1].0, false).unwrap().id, 0xabcd);
}
