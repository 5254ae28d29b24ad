//! The fuzz targets: one function per family of untrusted bytes, each
//! taking any byte string, calling the real parsers with it and checking
//! what they promise. A panic — an index out of range, an overflow, a
//! failed assertion here — is a bug in the parser. The first byte of an
//! input often picks a variant (link type, file, request), so one corpus
//! reaches every parser of its family.

use std::net::SocketAddr;

use netoproc_core::{DnsPacket, Family, Protocol, SocketCookie};
use netoproc_dns::{parse, Observatory, ObservatoryConfig, PacketPidsOnly, StreamKey, TcpFrames};
use netoproc_ebpf::records::{decode_event, decode_peer_dump, decode_socket_dump, peer_record};
use netoproc_procfs::sock_diag::{read_answer, Request};
use netoproc_wire::{parse_frame as wire_parse_frame, LinkType};

use crate::corpus;

/// A fuzz target: its name on the command line, the function, the longest
/// input worth trying, and where its seeds come from.
pub struct Target {
    pub name: &'static str,
    pub run: fn(&[u8]),
    pub max_len: usize,
    pub seeds: fn() -> Vec<Vec<u8>>,
}

/// Every target, in the order `all` runs them.
pub const TARGETS: [Target; 5] = [
    Target {
        name: "dns_message",
        run: dns_message,
        max_len: 1536,
        seeds: corpus::dns_messages,
    },
    Target {
        name: "parse_frame",
        run: parse_frame,
        max_len: 1600,
        seeds: corpus::frames,
    },
    Target {
        name: "proc_files",
        run: proc_files,
        max_len: 4096,
        seeds: corpus::proc_files,
    },
    Target {
        name: "sock_diag",
        run: sock_diag,
        max_len: 4096,
        seeds: corpus::sock_diag_answers,
    },
    Target {
        name: "bpf_records",
        run: bpf_records,
        max_len: 2048,
        seeds: corpus::bpf_records,
    },
];

/// The target called `name`.
pub fn by_name(name: &str) -> Option<&'static Target> {
    TARGETS.iter().find(|t| t.name == name)
}

/// `netoproc_dns::parse` whole and as a cut copy; DNS-over-TCP framing
/// with the rest split into two segments (the second after a hole) where
/// the first byte says; and the observatory, given the message as a query
/// sent and a response received on one socket, over UDP and TCP. A message
/// parsed whole must say so, and hold no more answers than it announced.
pub fn dns_message(data: &[u8]) {
    if let Ok(m) = parse(data, false) {
        assert!(m.complete, "a message parsed whole is complete");
        assert!(m.answers.len() <= usize::from(m.answer_count));
    }
    let _ = parse(data, true);
    let Some((&split, rest)) = data.split_first() else {
        return;
    };
    let at = usize::from(split).min(rest.len());
    let key = StreamKey {
        cookie: SocketCookie(1),
        outgoing: true,
    };
    let mut frames = TcpFrames::new(2);
    let mut emit = |m: &[u8], cut: bool| {
        let _ = parse(m, cut);
    };
    let seq = u32::from(split) << 24;
    frames.feed(key, 0, Some(seq), &rest[..at], 0, &mut emit);
    let next = seq.wrapping_add(at as u32);
    frames.feed(
        key,
        1,
        Some(next),
        &rest[at..],
        usize::from(split),
        &mut emit,
    );

    let client = SocketAddr::from(([10, 0, 0, 2], 40000));
    let resolver = SocketAddr::from(([10, 0, 0, 53], 53));
    let packet = |outgoing: bool, protocol: Protocol, ktime_ns: u64| {
        let (src, dst) = if outgoing {
            (client, resolver)
        } else {
            (resolver, client)
        };
        DnsPacket {
            cookie: SocketCookie(7),
            pid: Some(7),
            outgoing,
            protocol,
            src,
            dst,
            ktime_ns,
            payload_len: data.len() as u32 + u32::from(split & 0x0f),
            payload: data.to_vec(),
            tcp_seq: (protocol == Protocol::Tcp).then_some(u32::from(split)),
        }
    };
    let mut obs = Observatory::new(ObservatoryConfig::default());
    obs.ingest(
        [
            packet(true, Protocol::Udp, 1),
            packet(false, Protocol::Udp, 2),
            packet(true, Protocol::Tcp, 3),
            packet(false, Protocol::Tcp, 4),
        ],
        &PacketPidsOnly,
    );
    let report = obs.report(&PacketPidsOnly);
    assert!(report.stats.messages <= report.stats.packets * 64);
}

/// `netoproc_wire::parse_frame`: the first byte picks the link type, the
/// next four the original length, the rest is the frame. An accepted frame
/// has `payload_len <= ip_len`, and its payload lies within the frame.
pub fn parse_frame(data: &[u8]) {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let Some((len, frame)) = rest.split_first_chunk::<4>() else {
        return;
    };
    let link = if selector & 1 == 0 {
        LinkType::Ethernet
    } else {
        LinkType::RawIp
    };
    if let Ok(p) = wire_parse_frame(link, frame, u32::from_le_bytes(*len)) {
        assert!(p.payload_len <= p.ip_len);
        assert!(p.payload(frame).len() <= frame.len());
    }
}

/// What netoproc reads from `/proc` and the proc connector. The first byte
/// picks the parser: a process's `status`, `comm` and `cmdline` (split at
/// 0xff bytes), `stat`, a `cgroup` file, `fd` and `ns` link targets, a
/// proc connector datagram, or `mountinfo` (read by the BPF loader).
pub fn proc_files(data: &[u8]) {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let text = String::from_utf8_lossy(rest);
    match selector % 6 {
        0 => {
            let mut parts = rest.splitn(3, |&b| b == 0xff);
            let status = String::from_utf8_lossy(parts.next().unwrap_or_default());
            let comm = String::from_utf8_lossy(parts.next().unwrap_or_default());
            let cmdline = parts.next().unwrap_or_default();
            let p = netoproc_procfs::parse_process(1, &status, &comm, cmdline);
            assert!(p.cmdline.len() <= cmdline.len() * 3);
        }
        1 => {
            let _ = netoproc_procfs::stat_cpu_ticks(&text);
        }
        2 => {
            let _ = netoproc_procfs::container_label(&text);
        }
        3 => {
            let _ = netoproc_procfs::fd_index::parse_socket_link(&text);
            let _ = netoproc_procfs::netns::parse_ns_link(&text);
        }
        4 => {
            let _ = netoproc_procfs::proc_events::parse_datagram(rest);
        }
        _ => {
            let _ = netoproc_ebpf::cgroup::cgroup2_mount(&text);
        }
    }
}

/// One datagram of a sock_diag answer. The first byte picks the request
/// (bit 0: UDP, bit 1: IPv6, bit 2: a single-socket lookup); its sequence
/// number is the first frame's, so the frames are read, not passed over.
pub fn sock_diag(data: &[u8]) {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let seq = rest
        .get(8..12)
        .and_then(|b| b.try_into().ok())
        .map_or(0, u32::from_ne_bytes);
    let request = Request {
        seq,
        protocol: if selector & 1 == 0 {
            Protocol::Tcp
        } else {
            Protocol::Udp
        },
        family: if selector & 2 == 0 {
            Family::Ipv4
        } else {
            Family::Ipv6
        },
        dump: selector & 4 == 0,
    };
    let (mut sockets, mut undecodable) = (0usize, 0u64);
    let _ = read_answer(rest, request, &mut undecodable, &mut |_| sockets += 1);
    // Each socket needs a frame of at least a netlink header.
    assert!(sockets.saturating_add(undecodable as usize) <= rest.len() / 16);
}

/// What the BPF programs hand over: one ring-buffer event, the socket
/// storage iterator's records, the per-remote UDP map's entries.
pub fn bpf_records(data: &[u8]) {
    if let Ok(netoproc_ebpf::records::Event::Dns(p)) = decode_event(data) {
        assert!(p.payload.len() <= data.len());
    }
    let _ = decode_socket_dump(data).count();
    for e in decode_peer_dump(data) {
        let _ = peer_record(&e.key, &e.counters);
    }
}
