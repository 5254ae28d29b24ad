//! Packets → flows, on the reader threads. A flow is what one local socket
//! sees of one remote: (network namespace, protocol, local, remote). The
//! packet's direction decides which end is local: an outgoing copy
//! (`PACKET_OUTGOING`) was sent by a local socket, so its source is local
//! and it is that socket's tx; anything else arrived, so its destination is
//! local and it is rx. On `lo` a packet is seen twice, once each way, which
//! is exactly tx of the sender's socket and rx of the receiver's.
//!
//! [`FlowAggregator`] sums per-flow deltas between flushes (payload bytes
//! from the headers — TCP retransmissions counted once, see `seq` —
//! IP-layer bytes, packets, TCP flags seen), says when a flow is new so its
//! owner can be looked up at once, and counts what it could not parse by
//! kind. Packets from or to a DNS port also give their DNS payload, kept
//! until the next flush as [`DnsPacket`]s (the only payload it ever
//! copies; TCP retransmissions are left out so the observatory's framing
//! stays intact). A TCP flow that begins with a SYN also gets a
//! [`TcpLife`] (lifecycle and health from its headers, see `tcp_life`)
//! whose steps are kept until the next flush; a SYN opening a flow whose
//! connection closed starts it anew ([`FlowAggregator::take_reborn`]).
//! Pure: headers in, numbers out; no I/O.

use std::net::SocketAddr;

// Per-packet maps keyed by packet fields: foldhash, randomly seeded per map.
use foldhash::HashMap;
use std::collections::hash_map::Entry;

use netoproc_core::model::{Counters, DnsPacket, Protocol, SocketCookie};
use netoproc_core::report::UnparsedPackets;
use netoproc_procfs::NetnsId;
use netoproc_wire::{parse_frame, LinkType, PacketSummary, WireError};

use super::seq::SeqTracker;
use super::tcp_life::{LifeStep, Segment, TcpLife};
use crate::Direction;

/// One local socket's view of one remote, in one network namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FlowKey {
    /// The namespace whose ring saw the packets.
    pub netns: NetnsId,
    /// TCP or UDP.
    pub protocol: Protocol,
    /// This host's end (the source of outgoing packets).
    pub local: SocketAddr,
    /// The other end.
    pub remote: SocketAddr,
}

/// What a flow moved since the last flush.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FlowDelta {
    /// Payload, IP-layer bytes and packets; `tx_calls`/`rx_calls` stay 0
    /// (packets say nothing about calls).
    pub counters: Counters,
    /// Every TCP flag seen, OR-ed (FIN and RST end a connection).
    pub tcp_flags: u8,
}

/// The TCP FIN flag bit.
pub const TCP_FIN: u8 = 0x01;
/// The TCP SYN flag bit.
pub const TCP_SYN: u8 = 0x02;
/// The TCP RST flag bit.
pub const TCP_RST: u8 = 0x04;

impl FlowDelta {
    /// Adds a later delta of the same flow: counters summed, flags OR-ed.
    pub fn add(&mut self, o: &FlowDelta) {
        self.counters.add(&o.counters);
        self.tcp_flags |= o.tcp_flags;
    }

    /// L4 payload bytes, both directions.
    pub fn payload(&self) -> u64 {
        self.counters.tx_bytes + self.counters.rx_bytes
    }
}

/// The flow a parsed packet belongs to, and what it adds to it.
pub fn classify(netns: NetnsId, p: &PacketSummary, direction: Direction) -> (FlowKey, FlowDelta) {
    let (ip, payload) = (u64::from(p.ip_len), u64::from(p.payload_len));
    let mut c = Counters::default();
    let (local, remote) = match direction {
        Direction::Outgoing => {
            (c.tx_bytes, c.tx_wire_bytes, c.tx_packets) = (payload, ip, 1);
            (p.src, p.dst)
        }
        Direction::Incoming => {
            (c.rx_bytes, c.rx_wire_bytes, c.rx_packets) = (payload, ip, 1);
            (p.dst, p.src)
        }
    };
    let key = FlowKey {
        netns,
        protocol: p.protocol,
        local,
        remote,
    };
    let delta = FlowDelta {
        counters: c,
        tcp_flags: p.tcp_flags,
    };
    (key, delta)
}

fn keep_life(held: &mut Vec<(FlowKey, LifeStep)>, lost: &mut u64, key: FlowKey, step: LifeStep) {
    if held.len() < MAX_LIFE_HELD {
        held.push((key, step));
    } else {
        *lost += 1;
    }
}

/// Counts one parse failure under its kind.
pub fn count_unparsed(u: &mut UnparsedPackets, e: &WireError) {
    match e {
        WireError::NotIp { .. } => u.not_ip += 1,
        WireError::NotTcpUdp { .. } => u.not_tcp_udp += 1,
        WireError::Fragment => u.fragments += 1,
        WireError::Truncated { .. } => u.truncated += 1,
        WireError::Malformed { .. } => u.malformed += 1,
    }
}

/// Flows a reader remembers at once (announced, with their TCP sequence
/// space), at most; a packet of a new flow past it is counted without
/// either (see [`FlowAggregator::unsequenced`]). ~150 bytes each.
pub const MAX_SEEN: usize = 262_144;

/// Flows not seen for this many [`FlowAggregator::expire`] calls are
/// forgotten (announced again as new if they come back).
const SEEN_GENERATIONS: u32 = 2;

/// What a reader remembers of a flow between flushes.
#[derive(Debug, Default)]
struct Seen {
    generation: u32,
    /// TCP only: sent and received sequence space.
    tx: SeqTracker,
    rx: SeqTracker,
    /// TCP flows seen from their SYN: the connection's lifecycle.
    life: Option<Box<TcpLife>>,
}

/// Lifecycle steps held between two takes, at most; more are dropped and
/// counted in [`FlowAggregator::take_life_lost`].
pub const MAX_LIFE_HELD: usize = 65_536;

/// Per-reader aggregation between flushes.
#[derive(Debug)]
pub struct FlowAggregator {
    netns: NetnsId,
    deltas: HashMap<FlowKey, FlowDelta>,
    /// Flows announced, with the generation they were last seen in.
    seen: HashMap<FlowKey, Seen>,
    generation: u32,
    unparsed: UnparsedPackets,
    packets: u64,
    dns_ports: Vec<u16>,
    /// DNS packets since the last [`FlowAggregator::take_dns`], with their
    /// flows; their cookie is not known here (0), nor their owner.
    dns: Vec<(FlowKey, DnsPacket)>,
    dns_counts: DnsCounts,
    max_seen: usize,
    unsequenced: u64,
    /// Lifecycle steps since the last take, with their flows.
    life: Vec<(FlowKey, LifeStep)>,
    /// Lifecycle steps lost since the last take (see `take_life_lost`).
    life_lost: u64,
    /// A flow whose connection closed was opened again by a SYN.
    reborn: Option<FlowKey>,
}

/// What happened to DNS payloads on a reader.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DnsCounts {
    /// Kept with less than their whole payload (snap length).
    pub truncated: u64,
    /// Not kept: more than [`MAX_DNS_HELD`] between two takes.
    pub dropped: u64,
}

/// DNS packets held between two takes (a flush every 20 ms: 3.2 M/s).
pub const MAX_DNS_HELD: usize = 65_536;

impl FlowAggregator {
    /// An aggregator for a ring in namespace `netns`, nothing seen yet.
    pub fn new(netns: NetnsId) -> FlowAggregator {
        FlowAggregator {
            netns,
            deltas: HashMap::default(),
            seen: HashMap::default(),
            generation: 0,
            unparsed: UnparsedPackets::default(),
            packets: 0,
            dns_ports: Vec::new(),
            dns: Vec::new(),
            dns_counts: DnsCounts::default(),
            max_seen: MAX_SEEN,
            unsequenced: 0,
            life: Vec::new(),
            life_lost: 0,
            reborn: None,
        }
    }

    /// Remembers at most `n` flows (tests; the default is [`MAX_SEEN`]).
    pub fn with_max_seen(mut self, n: usize) -> FlowAggregator {
        self.max_seen = n;
        self
    }

    /// Keeps the DNS messages of TCP and UDP packets from or to `ports`.
    pub fn with_dns_ports(mut self, ports: Vec<u16>) -> FlowAggregator {
        self.dns_ports = ports;
        self
    }

    /// Adds one captured frame, seen at `ktime_ns` (CLOCK_MONOTONIC: the
    /// time its DNS message, if any, is stamped with). Returns its flow when
    /// the flow is new (not seen recently), so the caller can have its owner
    /// looked up now.
    pub fn packet_at(
        &mut self,
        link: Option<LinkType>,
        data: &[u8],
        orig_len: u32,
        direction: Direction,
        ktime_ns: u64,
    ) -> Option<FlowKey> {
        self.packets += 1;
        let Some(link) = link else {
            self.unparsed.unknown_link += 1;
            return None;
        };
        let summary = match parse_frame(link, data, orig_len) {
            Ok(s) => s,
            Err(e) => {
                count_unparsed(&mut self.unparsed, &e);
                return None;
            }
        };
        let (key, mut delta) = classify(self.netns, &summary, direction);
        let generation = self.generation;
        let mut is_new = false;
        let full = self.seen.len() >= self.max_seen;
        let tcp = summary.protocol == Protocol::Tcp;
        let seg = Segment {
            outgoing: direction == Direction::Outgoing,
            flags: summary.tcp_flags,
            seq: summary.tcp_seq,
            ack: summary.tcp_ack,
            len: summary.payload_len,
            mss: summary.tcp_mss,
            ktime_ns,
        };
        let opens = tcp && seg.is_open();
        let seen = match self.seen.entry(key) {
            Entry::Occupied(e) => {
                let s = e.into_mut();
                if opens && s.life.as_ref().is_none_or(|l| l.is_closed()) {
                    // A new connection on the same addresses: new sequence
                    // space, new lifecycle, looked up anew.
                    *s = Seen::default();
                    is_new = true;
                    self.reborn = Some(key);
                }
                Some(s)
            }
            Entry::Vacant(_) if full => None,
            Entry::Vacant(e) => {
                is_new = true;
                Some(e.insert(Seen::default()))
            }
        };
        // Payload bytes of this packet not seen before (TCP).
        let mut fresh = summary.payload_len;
        if seen.is_none() {
            // Past the bound: the attribution thread learns of the flow
            // from its deltas; a retransmission counts again.
            self.unsequenced += 1;
            // ...and a connection it opens is not followed.
            self.life_lost += u64::from(opens);
        }
        let tcp_seen = seen.and_then(|seen| {
            seen.generation = generation;
            (summary.protocol == Protocol::Tcp).then_some(seen)
        });
        if let Some(seen) = tcp_seen {
            let syn = summary.tcp_flags & TCP_SYN != 0;
            let (seq, len) = (summary.tcp_seq, summary.payload_len);
            let c = &mut delta.counters;
            fresh = match direction {
                Direction::Outgoing => seen.tx.new_bytes(seq, len, syn),
                Direction::Incoming => seen.rx.new_bytes(seq, len, syn),
            };
            match direction {
                Direction::Outgoing => c.tx_bytes = fresh.into(),
                Direction::Incoming => c.rx_bytes = fresh.into(),
            }
            let step = match &mut seen.life {
                Some(life) => life.segment(&seg),
                None => TcpLife::open(&seg).and_then(|(life, step)| {
                    seen.life = Some(Box::new(life));
                    step
                }),
            };
            if let Some(step) = step {
                keep_life(&mut self.life, &mut self.life_lost, key, step);
            }
        }
        self.deltas.entry(key).or_default().add(&delta);
        if fresh > 0 && self.is_dns(&summary) {
            self.keep_dns(key, &summary, data, direction, ktime_ns, fresh);
        }
        is_new.then_some(key)
    }

    /// [`FlowAggregator::packet_at`] without a time (no DNS ports, or
    /// replayed traffic).
    pub fn packet(
        &mut self,
        link: Option<LinkType>,
        data: &[u8],
        orig_len: u32,
        direction: Direction,
    ) -> Option<FlowKey> {
        self.packet_at(link, data, orig_len, direction, 0)
    }

    fn is_dns(&self, p: &PacketSummary) -> bool {
        !self.dns_ports.is_empty()
            && (self.dns_ports.contains(&p.src.port()) || self.dns_ports.contains(&p.dst.port()))
    }

    /// Keeps the last `fresh` payload bytes of a DNS packet (the rest a
    /// TCP retransmission already gave).
    fn keep_dns(
        &mut self,
        key: FlowKey,
        p: &PacketSummary,
        data: &[u8],
        direction: Direction,
        ktime_ns: u64,
        fresh: u32,
    ) {
        if self.dns.len() >= MAX_DNS_HELD {
            self.dns_counts.dropped += 1;
            return;
        }
        let skip = (p.payload_len - fresh) as usize;
        let payload = p.payload(data).get(skip..).unwrap_or_default();
        if payload.len() < fresh as usize {
            self.dns_counts.truncated += 1;
        }
        self.dns.push((
            key,
            DnsPacket {
                cookie: SocketCookie(0),
                pid: None,
                outgoing: direction == Direction::Outgoing,
                protocol: p.protocol,
                src: p.src,
                dst: p.dst,
                ktime_ns,
                payload_len: fresh,
                payload: payload.to_vec(),
                tcp_seq: (p.protocol == Protocol::Tcp).then(|| {
                    let syn = u32::from(p.tcp_flags & TCP_SYN != 0);
                    p.tcp_seq.wrapping_add(syn).wrapping_add(skip as u32)
                }),
            },
        ));
    }

    /// The DNS packets since the last call, oldest first, with their flows.
    pub fn take_dns(&mut self) -> Vec<(FlowKey, DnsPacket)> {
        std::mem::take(&mut self.dns)
    }

    /// DNS counts since the last call, and resets them.
    pub fn take_dns_counts(&mut self) -> DnsCounts {
        std::mem::take(&mut self.dns_counts)
    }

    /// The deltas since the last call, and resets them.
    pub fn take(&mut self) -> Vec<(FlowKey, FlowDelta)> {
        self.deltas.drain().collect()
    }

    /// Parse failures since the last call, and resets them.
    pub fn take_unparsed(&mut self) -> UnparsedPackets {
        std::mem::take(&mut self.unparsed)
    }

    /// Frames seen since the aggregator was made.
    pub fn packets(&self) -> u64 {
        self.packets
    }

    /// Starts a new generation and forgets flows idle for the last ones,
    /// except connections their lifecycle still follows
    /// ([`TcpLife::keeps_flow`] at `now_ns`, monotonic); call every few
    /// seconds to keep the set bounded. An open connection forgotten here
    /// (idle too long) loses its close step: counted.
    pub fn expire(&mut self, now_ns: u64) {
        self.generation = self.generation.wrapping_add(1);
        let now = self.generation;
        let mut lost = 0;
        self.seen.retain(|_, s| {
            let keep = now.wrapping_sub(s.generation) < SEEN_GENERATIONS
                || s.life.as_ref().is_some_and(|l| l.keeps_flow(now_ns));
            if !keep && s.life.as_ref().is_some_and(|l| l.is_open()) {
                lost += 1;
            }
            keep
        });
        self.life_lost += lost;
    }

    /// Lets time pass for the connections followed (an unanswered SYN
    /// times out); `now_ns` is monotonic.
    pub fn tick(&mut self, now_ns: u64) {
        for (key, s) in self.seen.iter_mut() {
            if let Some(step) = s.life.as_mut().and_then(|l| l.tick(now_ns)) {
                keep_life(&mut self.life, &mut self.life_lost, *key, step);
            }
        }
    }

    /// A [`Step::Sample`](netoproc_core::lifecycle::Step::Sample) of every
    /// open connection that changed since its last step or sample.
    pub fn sample_open(&mut self, now_ns: u64) {
        for (key, s) in self.seen.iter_mut() {
            if let Some(step) = s.life.as_mut().and_then(|l| l.sample(now_ns)) {
                keep_life(&mut self.life, &mut self.life_lost, *key, step);
            }
        }
    }

    /// Lifecycle steps since the last call, oldest first, with their flows.
    pub fn take_life(&mut self) -> Vec<(FlowKey, LifeStep)> {
        std::mem::take(&mut self.life)
    }

    /// Lifecycle steps lost since the last call (held steps past
    /// [`MAX_LIFE_HELD`], connections opened on flows past the bound or
    /// forgotten while open), and resets the count.
    pub fn take_life_lost(&mut self) -> u64 {
        std::mem::take(&mut self.life_lost)
    }

    /// The flow a SYN opened again after its connection closed, since the
    /// last call: its earlier deltas and steps belong to the connection
    /// before (the caller hands them on first).
    pub fn take_reborn(&mut self) -> Option<FlowKey> {
        self.reborn.take()
    }

    /// Flows remembered now (at most [`MAX_SEEN`]).
    pub fn flows_known(&self) -> usize {
        self.seen.len()
    }

    /// Packets of flows not remembered (past the bound) since the last
    /// call, and resets the count.
    pub fn take_unsequenced(&mut self) -> u64 {
        std::mem::take(&mut self.unsequenced)
    }
}

#[cfg(test)]
#[path = "flow_tests.rs"]
mod tests;
