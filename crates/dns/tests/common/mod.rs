//! The real capture under `testdata/` (`dns.pcap`, recorded by
//! `testdata/capture.sh` from dig and dnsmasq) read back as the DNS packets
//! the kernel would hand over: each packet seen at the client's socket
//! (a cookie per client port), optionally also at the server's, with the
//! capture's timestamps as kernel time.

#![allow(dead_code)]

use std::fs::File;
use std::net::{IpAddr, SocketAddr};

use etherparse::{NetSlice, SlicedPacket, TransportSlice};
use netoproc_core::{DnsPacket, Protocol, SocketCookie};
use pcap_file::pcap::PcapReader;

/// The kernel's copy limit.
pub const KERNEL_COPY: usize = 1024;
/// The pid given to the client side.
pub const CLIENT_PID: u32 = 4242;
pub const SERVER_PID: u32 = 53;

/// One packet of the capture with a payload.
#[derive(Debug, Clone)]
pub struct Captured {
    pub ts_ns: u64,
    pub protocol: Protocol,
    pub src: SocketAddr,
    pub dst: SocketAddr,
    pub payload: Vec<u8>,
    /// TCP: the segment's sequence number.
    pub tcp_seq: Option<u32>,
}

impl Captured {
    /// Sent by the client (to port 53).
    pub fn to_server(&self) -> bool {
        self.dst.port() == 53
    }

    pub fn client(&self) -> SocketAddr {
        if self.to_server() {
            self.src
        } else {
            self.dst
        }
    }
}

/// Every packet of `dns.pcap` that carries a payload, in capture order.
pub fn capture() -> Vec<Captured> {
    let path = format!("{}/testdata/dns.pcap", env!("CARGO_MANIFEST_DIR"));
    let mut reader = PcapReader::new(File::open(&path).expect(&path)).expect("pcap header");
    let mut out = Vec::new();
    while let Some(pkt) = reader.next_packet() {
        let pkt = pkt.expect("pcap record");
        let sliced = SlicedPacket::from_ethernet(&pkt.data).expect("ethernet frame");
        let (sip, dip): (IpAddr, IpAddr) = match sliced.net.expect("IP packet") {
            NetSlice::Ipv4(v4) => (
                v4.header().source_addr().into(),
                v4.header().destination_addr().into(),
            ),
            NetSlice::Ipv6(v6) => (
                v6.header().source_addr().into(),
                v6.header().destination_addr().into(),
            ),
            other => panic!("unexpected {other:?}"),
        };
        let (protocol, sport, dport, payload, tcp_seq) = match sliced.transport.expect("TCP or UDP")
        {
            TransportSlice::Udp(u) => (
                Protocol::Udp,
                u.source_port(),
                u.destination_port(),
                u.payload(),
                None,
            ),
            TransportSlice::Tcp(t) => (
                Protocol::Tcp,
                t.source_port(),
                t.destination_port(),
                t.payload(),
                Some(t.sequence_number()),
            ),
            other => panic!("unexpected {other:?}"),
        };
        if payload.is_empty() {
            continue;
        }
        out.push(Captured {
            ts_ns: pkt.timestamp.as_nanos() as u64,
            protocol,
            src: SocketAddr::new(sip, sport),
            dst: SocketAddr::new(dip, dport),
            payload: payload.to_vec(),
            tcp_seq,
        });
    }
    out
}

/// The whole messages of the capture: UDP payloads, and TCP payloads
/// split on their length prefixes (pairs of (packet, message bytes)).
pub fn messages() -> Vec<(Captured, Vec<u8>)> {
    let mut out = Vec::new();
    let mut streams: std::collections::HashMap<(SocketAddr, SocketAddr), Vec<u8>> =
        Default::default();
    for c in capture() {
        match c.protocol {
            Protocol::Udp => out.push((c.clone(), c.payload.clone())),
            Protocol::Tcp => {
                let buf = streams.entry((c.src, c.dst)).or_default();
                buf.extend_from_slice(&c.payload);
                while buf.len() >= 2 {
                    let len = usize::from(u16::from_be_bytes([buf[0], buf[1]]));
                    if buf.len() < 2 + len {
                        break;
                    }
                    out.push((c.clone(), buf[2..2 + len].to_vec()));
                    buf.drain(..2 + len);
                }
            }
        }
    }
    out
}

/// `c` as the client's socket saw it, copied as the kernel copies.
pub fn at_client(c: &Captured) -> DnsPacket {
    let port = c.client().port();
    packet(
        c,
        SocketCookie(u64::from(port)),
        c.to_server(),
        Some(CLIENT_PID),
    )
}

/// `c` as the server's socket saw it (one socket per transport).
pub fn at_server(c: &Captured) -> DnsPacket {
    let cookie = match c.protocol {
        Protocol::Udp => SocketCookie(1 << 32),
        Protocol::Tcp => SocketCookie((1 << 33) | u64::from(c.client().port())),
    };
    packet(c, cookie, !c.to_server(), Some(SERVER_PID))
}

fn packet(c: &Captured, cookie: SocketCookie, outgoing: bool, pid: Option<u32>) -> DnsPacket {
    let copied = c.payload.len().min(KERNEL_COPY);
    DnsPacket {
        cookie,
        pid,
        outgoing,
        protocol: c.protocol,
        src: c.src,
        dst: c.dst,
        ktime_ns: c.ts_ns,
        payload_len: c.payload.len() as u32,
        payload: c.payload[..copied].to_vec(),
        tcp_seq: c.tcp_seq,
    }
}

/// The real bytes of the first UDP query for `name`/`qtype` and its response.
pub fn exchange(name: &str, qtype: u16) -> (Vec<u8>, Vec<u8>) {
    let msgs = messages();
    let (q, id) = msgs
        .iter()
        .filter(|(c, _)| c.protocol == Protocol::Udp && c.to_server())
        .find_map(|(_, m)| {
            let p = netoproc_dns::parse(m, false).ok()?;
            let q = p.question?;
            (q.name == name && q.qtype.0 == qtype).then(|| (m.clone(), p.id))
        })
        .unwrap_or_else(|| panic!("no query {name} {qtype}"));
    let r = msgs
        .iter()
        .find(|(c, m)| !c.to_server() && u16::from_be_bytes([m[0], m[1]]) == id)
        .map(|(_, m)| m.clone())
        .expect("its response");
    (q, r)
}

/// `msg` with transaction id `id` (and, if given, response code `rcode`).
pub fn edited(msg: &[u8], id: u16, rcode: Option<u8>) -> Vec<u8> {
    let mut m = msg.to_vec();
    m[..2].copy_from_slice(&id.to_be_bytes());
    if let Some(r) = rcode {
        m[3] = (m[3] & 0xf0) | (r & 0x0f);
    }
    m
}

/// A UDP packet between `client` and `server` at socket `cookie`.
pub fn udp(
    cookie: u64,
    pid: Option<u32>,
    outgoing: bool,
    client: &str,
    server: &str,
    t_ns: u64,
    payload: Vec<u8>,
) -> DnsPacket {
    let (c, s): (SocketAddr, SocketAddr) = (client.parse().unwrap(), server.parse().unwrap());
    let (src, dst) = if outgoing { (c, s) } else { (s, c) };
    DnsPacket {
        cookie: SocketCookie(cookie),
        pid,
        outgoing,
        protocol: Protocol::Udp,
        src,
        dst,
        ktime_ns: t_ns,
        payload_len: payload.len() as u32,
        payload,
        tcp_seq: None,
    }
}
