//! Reads one retired TPACKET_V3 block: the block descriptor, then each
//! packet's `tpacket3_hdr` and `sockaddr_ll`. Works on a plain byte slice
//! (the ring hands over a block only while the kernel has released it), with
//! every offset bounds-checked, so a corrupt block ends the walk instead of
//! reading out of bounds. Layouts come from `libc`'s copies of
//! `<linux/if_packet.h>` via `offset_of!`, never hand-typed offsets.

use std::mem::{offset_of, size_of};

use libc::{sockaddr_ll, tpacket3_hdr, tpacket_block_desc, tpacket_hdr_v1};
use netoproc_wire::LinkType;

/// Which way a packet crossed the interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Sent by this host (`PACKET_OUTGOING`).
    Outgoing,
    /// Everything else: to this host, broadcast, multicast, or another
    /// host's seen in promiscuous mode.
    Incoming,
}

/// One captured packet, borrowed from the ring until the callback returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Packet<'a> {
    /// How `data` begins; `None` for link layers netoproc does not parse.
    pub link: Option<LinkType>,
    /// The device's `ARPHRD_*` type, as the kernel reported it.
    pub hatype: u16,
    /// Sent by this host, or anything else.
    pub direction: Direction,
    /// Index of the interface it crossed, in the ring's namespace.
    pub ifindex: u32,
    /// The packet's length at the link layer before snapping (`tp_len`).
    pub orig_len: u32,
    /// When the kernel saw it: CLOCK_REALTIME, in ns.
    pub realtime_ns: u64,
    /// The captured bytes, at most the snap length.
    pub data: &'a [u8],
}

const HDR_V1: usize = offset_of!(tpacket_block_desc, hdr);
const BLOCK_STATUS: usize = HDR_V1 + offset_of!(tpacket_hdr_v1, block_status);
const NUM_PKTS: usize = HDR_V1 + offset_of!(tpacket_hdr_v1, num_pkts);
const FIRST_PKT: usize = HDR_V1 + offset_of!(tpacket_hdr_v1, offset_to_first_pkt);
/// `sockaddr_ll` follows the header at `TPACKET_ALIGN(sizeof(tpacket3_hdr))`.
const SLL: usize = libc::TPACKET3_HDRLEN - size_of::<sockaddr_ll>();

/// Byte offset of `block_status` within a block, for the ring's atomic
/// hand-over.
pub(crate) const BLOCK_STATUS_OFFSET: usize = BLOCK_STATUS;

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_ne_bytes(
        b.get(at..at.checked_add(4)?)?.try_into().ok()?,
    ))
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_ne_bytes(
        b.get(at..at.checked_add(2)?)?.try_into().ok()?,
    ))
}

/// Calls `f` for each packet in `block`; returns how many it delivered.
/// Stops early, without reading outside `block`, if an offset is corrupt.
pub(crate) fn for_each_packet(block: &[u8], mut f: impl FnMut(&Packet<'_>)) -> usize {
    let (Some(num), Some(first)) = (u32_at(block, NUM_PKTS), u32_at(block, FIRST_PKT)) else {
        return 0;
    };
    let mut at = first as usize;
    let mut delivered = 0;
    for _ in 0..num {
        let Some(packet) = packet_at(block, at) else {
            break;
        };
        f(&packet);
        delivered += 1;
        match u32_at(block, at + offset_of!(tpacket3_hdr, tp_next_offset)) {
            Some(next @ 1..) => at += next as usize,
            _ => break,
        }
    }
    delivered
}

fn packet_at(block: &[u8], at: usize) -> Option<Packet<'_>> {
    let hdr = block.get(at..)?;
    let snaplen = u32_at(hdr, offset_of!(tpacket3_hdr, tp_snaplen))? as usize;
    let orig_len = u32_at(hdr, offset_of!(tpacket3_hdr, tp_len))?;
    let mac = usize::from(u16_at(hdr, offset_of!(tpacket3_hdr, tp_mac))?);
    let ifindex = u32_at(hdr, SLL + offset_of!(sockaddr_ll, sll_ifindex))?;
    let hatype = u16_at(hdr, SLL + offset_of!(sockaddr_ll, sll_hatype))?;
    let pkttype = *hdr.get(SLL + offset_of!(sockaddr_ll, sll_pkttype))?;
    let sec = u32_at(hdr, offset_of!(tpacket3_hdr, tp_sec))?;
    let nsec = u32_at(hdr, offset_of!(tpacket3_hdr, tp_nsec))?;
    let data = hdr.get(mac..mac.checked_add(snaplen)?)?;
    Some(Packet {
        link: LinkType::from_arphrd(hatype),
        hatype,
        direction: if pkttype == libc::PACKET_OUTGOING {
            Direction::Outgoing
        } else {
            Direction::Incoming
        },
        ifindex,
        orig_len,
        realtime_ns: u64::from(sec) * 1_000_000_000 + u64::from(nsec),
        data,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Writes a block the way the kernel lays one out.
    fn block(packets: &[(&[u8], u32, u8)]) -> Vec<u8> {
        let mut b = vec![0u8; 4096];
        let first = 64usize;
        b[NUM_PKTS..NUM_PKTS + 4].copy_from_slice(&(packets.len() as u32).to_ne_bytes());
        b[FIRST_PKT..FIRST_PKT + 4].copy_from_slice(&(first as u32).to_ne_bytes());
        let mut at = first;
        for (i, (data, orig_len, pkttype)) in packets.iter().enumerate() {
            let mac = libc::TPACKET3_HDRLEN + 2;
            let put32 = |b: &mut Vec<u8>, off: usize, v: u32| {
                b[at + off..at + off + 4].copy_from_slice(&v.to_ne_bytes())
            };
            let size = (mac + data.len()).next_multiple_of(16);
            let next = if i + 1 == packets.len() {
                0
            } else {
                size as u32
            };
            put32(&mut b, offset_of!(tpacket3_hdr, tp_next_offset), next);
            put32(
                &mut b,
                offset_of!(tpacket3_hdr, tp_snaplen),
                data.len() as u32,
            );
            put32(&mut b, offset_of!(tpacket3_hdr, tp_len), *orig_len);
            put32(
                &mut b,
                offset_of!(tpacket3_hdr, tp_sec),
                1_700_000_000 + i as u32,
            );
            put32(&mut b, offset_of!(tpacket3_hdr, tp_nsec), 5);
            let m = at + offset_of!(tpacket3_hdr, tp_mac);
            b[m..m + 2].copy_from_slice(&(mac as u16).to_ne_bytes());
            put32(&mut b, SLL + offset_of!(sockaddr_ll, sll_ifindex), 7);
            let h = at + SLL + offset_of!(sockaddr_ll, sll_hatype);
            b[h..h + 2].copy_from_slice(&772u16.to_ne_bytes());
            b[at + SLL + offset_of!(sockaddr_ll, sll_pkttype)] = *pkttype;
            b[at + mac..at + mac + data.len()].copy_from_slice(data);
            at += size;
        }
        b
    }

    #[test]
    fn walks_every_packet() {
        let b = block(&[(b"abc", 1500, libc::PACKET_OUTGOING), (b"defgh", 60, 0)]);
        let mut seen = Vec::new();
        let n = for_each_packet(&b, |p| {
            seen.push((p.data.to_vec(), p.orig_len, p.direction));
            assert_eq!(p.realtime_ns % 1_000_000_000, 5);
        });
        assert_eq!(n, 2);
        assert_eq!(seen[0], (b"abc".to_vec(), 1500, Direction::Outgoing));
        assert_eq!(seen[1], (b"defgh".to_vec(), 60, Direction::Incoming));
        let mut stamps = Vec::new();
        for_each_packet(&b, |p| stamps.push(p.realtime_ns / 1_000_000_000));
        assert_eq!(stamps, [1_700_000_000, 1_700_000_001]);
        for_each_packet(&b, |p| {
            assert_eq!(
                (p.ifindex, p.hatype, p.link),
                (7, 772, Some(LinkType::Ethernet))
            );
        });
    }

    #[test]
    fn corrupt_offsets_stop_the_walk() {
        let mut b = block(&[(b"abc", 3, 0), (b"def", 3, 0)]);
        // Claim more packets than there are: the walk ends at next == 0.
        b[NUM_PKTS..NUM_PKTS + 4].copy_from_slice(&9u32.to_ne_bytes());
        assert_eq!(for_each_packet(&b, |_| {}), 2);
        // A snap length past the block's end.
        let snap = 64 + offset_of!(tpacket3_hdr, tp_snaplen);
        b[snap..snap + 4].copy_from_slice(&u32::MAX.to_ne_bytes());
        assert_eq!(for_each_packet(&b, |_| {}), 0);
        assert_eq!(for_each_packet(&b[..10], |_| {}), 0);
    }
}
