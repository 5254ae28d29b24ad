//! The observed facts: a socket (by cookie) with its owner, tuple and
//! cumulative counters; the per-remote split of an unconnected UDP socket;
//! and what is known of a process. Backends produce these; the ledger merges
//! them. Counters are cumulative since netoproc first saw the socket, so any
//! two observations of one socket merge by taking each field's maximum.

use std::fmt;
use std::net::{IpAddr, SocketAddr};

use serde::Serialize;

/// The kernel's socket cookie: unique per socket for the life of the boot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Default)]
pub struct SocketCookie(pub u64);

/// The transport a socket speaks; netoproc counts only these two.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// TCP (stream sockets).
    Tcp,
    /// UDP (datagram sockets), connected or not.
    Udp,
}

impl Protocol {
    /// Both protocols, TCP first.
    pub const ALL: [Protocol; 2] = [Protocol::Tcp, Protocol::Udp];

    /// The lowercase name, as in JSON and metrics labels: `tcp`, `udp`.
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Address family as the socket was created (an IPv6 socket talking to an
/// IPv4-mapped address is still `Ipv6`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Family {
    /// An `AF_INET` socket.
    Ipv4,
    /// An `AF_INET6` socket (also when it talks to IPv4-mapped addresses).
    Ipv6,
}

impl Family {
    /// The lowercase name, as in JSON: `ipv4`, `ipv6`.
    pub fn as_str(self) -> &'static str {
        match self {
            Family::Ipv4 => "ipv4",
            Family::Ipv6 => "ipv6",
        }
    }
}

/// A socket's endpoints. `remote` is `None` while the socket is not
/// connected (unconnected UDP; its remotes are [`PeerRecord`]s).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Tuple {
    /// TCP or UDP.
    pub protocol: Protocol,
    /// The family the socket was created with.
    pub family: Family,
    /// This host's address and port.
    pub local: SocketAddr,
    /// The peer's address and port; `None` while not connected.
    pub remote: Option<SocketAddr>,
}

/// The uid of an [`Owner`] or [`ProcessInfo`] that could not be read:
/// `(uid_t)-1`, which the kernel never gives a process (`INVALID_UID`).
/// Reports show it as absent, never as 0 (root).
pub const UNKNOWN_UID: u32 = u32::MAX;

/// The process that used a socket, as the kernel saw it at the socket's
/// first send or receive.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Owner {
    /// Process id (thread group id) of the owner at that call.
    pub pid: u32,
    /// [`UNKNOWN_UID`] when not known.
    pub uid: u32,
    /// Command name of the calling task (the kernel's `comm`, at most 15
    /// bytes).
    pub comm: String,
    /// The task's cgroup v2 id (the cgroup directory's inode number).
    pub cgroup_id: u64,
    /// Inode number of the task's network namespace.
    pub netns: u32,
    /// When the process started, as [`ProcessInfo::start_time_ns`] (0: not
    /// known): with the pid, which process this is.
    pub start_time_ns: u64,
}

/// Cumulative counters of one socket, connection or process.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counters {
    /// L4 payload bytes moved by send calls.
    pub tx_bytes: u64,
    /// L4 payload bytes moved by receive calls (peeks excluded).
    pub rx_bytes: u64,
    /// IP-layer packets (GSO/GRO super-packets count once).
    pub tx_packets: u64,
    /// IP-layer packets received (GSO/GRO super-packets count once).
    pub rx_packets: u64,
    /// IP-layer bytes, headers included.
    pub tx_wire_bytes: u64,
    /// IP-layer bytes received, headers included.
    pub rx_wire_bytes: u64,
    /// Successful send / receive calls.
    pub tx_calls: u64,
    /// Successful receive calls.
    pub rx_calls: u64,
}

impl Counters {
    /// Field-wise maximum: merges two observations of the same socket.
    pub fn max_merge(&mut self, o: &Counters) {
        self.tx_bytes = self.tx_bytes.max(o.tx_bytes);
        self.rx_bytes = self.rx_bytes.max(o.rx_bytes);
        self.tx_packets = self.tx_packets.max(o.tx_packets);
        self.rx_packets = self.rx_packets.max(o.rx_packets);
        self.tx_wire_bytes = self.tx_wire_bytes.max(o.tx_wire_bytes);
        self.rx_wire_bytes = self.rx_wire_bytes.max(o.rx_wire_bytes);
        self.tx_calls = self.tx_calls.max(o.tx_calls);
        self.rx_calls = self.rx_calls.max(o.rx_calls);
    }

    /// Field-wise sum: totals over several sockets.
    pub fn add(&mut self, o: &Counters) {
        self.tx_bytes += o.tx_bytes;
        self.rx_bytes += o.rx_bytes;
        self.tx_packets += o.tx_packets;
        self.rx_packets += o.rx_packets;
        self.tx_wire_bytes += o.tx_wire_bytes;
        self.rx_wire_bytes += o.rx_wire_bytes;
        self.tx_calls += o.tx_calls;
        self.rx_calls += o.rx_calls;
    }

    /// Field-wise difference, saturating at zero.
    pub fn saturating_sub(&self, o: &Counters) -> Counters {
        Counters {
            tx_bytes: self.tx_bytes.saturating_sub(o.tx_bytes),
            rx_bytes: self.rx_bytes.saturating_sub(o.rx_bytes),
            tx_packets: self.tx_packets.saturating_sub(o.tx_packets),
            rx_packets: self.rx_packets.saturating_sub(o.rx_packets),
            tx_wire_bytes: self.tx_wire_bytes.saturating_sub(o.tx_wire_bytes),
            rx_wire_bytes: self.rx_wire_bytes.saturating_sub(o.rx_wire_bytes),
            tx_calls: self.tx_calls.saturating_sub(o.tx_calls),
            rx_calls: self.rx_calls.saturating_sub(o.rx_calls),
        }
    }

    /// Nothing counted in any field.
    pub fn is_zero(&self) -> bool {
        *self == Counters::default()
    }
}

/// One observation of a socket: from a periodic map read or a close event.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SocketRecord {
    /// Which socket.
    pub cookie: SocketCookie,
    /// `None` when only packets were seen, never a send/receive call.
    pub owner: Option<Owner>,
    /// Endpoints; `None` when the observation did not carry them.
    pub tuple: Option<Tuple>,
    /// Cumulative since netoproc first saw the socket.
    pub counters: Counters,
    /// The owner released the socket (closed its last descriptor).
    pub closed: bool,
    /// `owner` is only the process that released the socket, which was
    /// never seen sending or receiving in this observation; an observation
    /// whose owner did send or receive replaces it in [`SocketRecord::merge`].
    pub owner_is_closer: bool,
}

impl SocketRecord {
    /// Merges a later (or earlier) observation of the same socket.
    pub fn merge(&mut self, o: &SocketRecord) {
        debug_assert_eq!(self.cookie, o.cookie);
        self.counters.max_merge(&o.counters);
        let better_owner = o.owner.is_some() && self.owner_is_closer && !o.owner_is_closer;
        if self.owner.is_none() || better_owner {
            self.owner.clone_from(&o.owner);
            self.owner_is_closer = o.owner_is_closer;
        }
        // A connected tuple beats an unconnected one.
        match (&self.tuple, &o.tuple) {
            (None, Some(_)) => self.tuple = o.tuple,
            (Some(a), Some(b)) if a.remote.is_none() && b.remote.is_some() => self.tuple = o.tuple,
            _ => {}
        }
        self.closed |= o.closed;
    }
}

/// Traffic of an unconnected UDP socket to or from one remote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerRecord {
    /// The unconnected UDP socket.
    pub cookie: SocketCookie,
    /// The remote the datagrams went to or came from.
    pub remote: SocketAddr,
    /// Payload bytes sent to `remote`, cumulative.
    pub tx_bytes: u64,
    /// Payload bytes received from `remote`, cumulative.
    pub rx_bytes: u64,
    /// Send calls to `remote`.
    pub tx_calls: u64,
    /// Receive calls that returned a datagram from `remote`.
    pub rx_calls: u64,
}

/// What is known about a process. Captured by the kernel at its first
/// socket, so it survives the process's exit.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ProcessInfo {
    /// Process id (thread group id).
    pub pid: u32,
    /// Parent's process id at capture time; 0 when not known.
    pub ppid: u32,
    /// [`UNKNOWN_UID`] when not known.
    pub uid: u32,
    /// Command name (the kernel's `comm`, at most 15 bytes).
    pub comm: String,
    /// Arguments, joined by spaces; empty when unreadable.
    pub cmdline: String,
    /// Task start time (ns since boot), tells reused pids apart; 0 when
    /// not known.
    pub start_time_ns: u64,
}

/// One DNS packet seen at a socket: the kernel parsed its headers and
/// copied only the DNS payload. Parsed by the DNS observatory, then dropped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsPacket {
    /// The socket the packet passed.
    pub cookie: SocketCookie,
    /// The socket's owner when the kernel already knew it; otherwise join by
    /// cookie (the first query of a fresh socket leaves before its owner is
    /// recorded).
    pub pid: Option<u32>,
    /// Sent by the local socket (`true`) or received by it.
    pub outgoing: bool,
    /// UDP, or TCP (length-prefixed messages).
    pub protocol: Protocol,
    /// Packet source.
    pub src: SocketAddr,
    /// Packet destination.
    pub dst: SocketAddr,
    /// Kernel monotonic time (ns) the packet passed the socket layer.
    pub ktime_ns: u64,
    /// L4 payload bytes of the packet (TCP: may hold part of, or several,
    /// length-prefixed messages).
    pub payload_len: u32,
    /// The payload as copied, at most the kernel's limit: shorter than
    /// `payload_len` when truncated.
    pub payload: Vec<u8>,
    /// TCP: the sequence number of the payload's first byte (tells a
    /// retransmitted segment from new data); `None` for UDP.
    pub tcp_seq: Option<u32>,
}

/// NUL-separated argv (as in `/proc/PID/cmdline` or a kernel copy of the
/// argument area) to one space-separated line.
pub fn join_argv(raw: &[u8]) -> String {
    let raw = raw.strip_suffix(&[0]).unwrap_or(raw);
    raw.split(|&b| b == 0)
        .map(String::from_utf8_lossy)
        .collect::<Vec<_>>()
        .join(" ")
}

/// Shows an IPv4-mapped IPv6 address as the IPv4 address it carries.
pub fn canonical_ip(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(v6),
        },
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(tx: u64, rx_wire: u64, owner: bool) -> SocketRecord {
        SocketRecord {
            cookie: SocketCookie(7),
            owner: owner.then(|| Owner {
                pid: 10,
                uid: 0,
                comm: "curl".into(),
                cgroup_id: 1,
                netns: 2,
                start_time_ns: 0,
            }),
            tuple: None,
            counters: Counters {
                tx_bytes: tx,
                rx_wire_bytes: rx_wire,
                ..Default::default()
            },
            closed: false,
            owner_is_closer: false,
        }
    }

    #[test]
    fn merge_takes_fieldwise_max_and_keeps_owner() {
        let mut a = rec(100, 0, false);
        let b = rec(40, 900, true);
        a.merge(&b);
        assert_eq!(a.counters.tx_bytes, 100);
        assert_eq!(a.counters.rx_wire_bytes, 900);
        assert_eq!(a.owner.as_ref().map(|o| o.pid), Some(10));
    }

    #[test]
    fn owner_that_did_io_replaces_owner_that_closed_in_either_order() {
        let mut closer = rec(0, 0, true);
        closer.owner_is_closer = true;
        if let Some(o) = closer.owner.as_mut() {
            o.comm = "worker-thread".into();
        }
        closer.closed = true;
        let io = rec(100, 0, true);

        let mut a = closer.clone();
        a.merge(&io);
        assert_eq!(a.owner, io.owner);
        assert!(!a.owner_is_closer && a.closed);

        let mut b = io.clone();
        b.merge(&closer);
        assert_eq!(b.owner, io.owner);
        assert!(!b.owner_is_closer && b.closed);

        // A closer is still better than nobody, and never replaces a closer.
        let mut c = rec(0, 0, false);
        c.merge(&closer);
        assert_eq!(
            (c.owner.clone(), c.owner_is_closer),
            (closer.owner.clone(), true)
        );
        let mut other = closer.clone();
        other.owner.as_mut().unwrap().pid = 11;
        c.merge(&other);
        assert_eq!(c.owner.as_ref().map(|o| o.pid), Some(10));
    }

    #[test]
    fn merge_prefers_connected_tuple() {
        let unconnected = Tuple {
            protocol: Protocol::Udp,
            family: Family::Ipv4,
            local: "0.0.0.0:5000".parse().unwrap(),
            remote: None,
        };
        let connected = Tuple {
            remote: Some("10.0.0.1:53".parse().unwrap()),
            ..unconnected
        };
        let mut a = rec(0, 0, true);
        a.tuple = Some(unconnected);
        let mut b = a.clone();
        b.tuple = Some(connected);
        a.merge(&b);
        assert_eq!(a.tuple, Some(connected));
        b.merge(&rec(0, 0, false));
        assert_eq!(b.tuple, Some(connected));
    }

    #[test]
    fn mapped_ipv6_shows_as_ipv4() {
        let ip: IpAddr = "::ffff:10.1.2.3".parse().unwrap();
        assert_eq!(canonical_ip(ip), "10.1.2.3".parse::<IpAddr>().unwrap());
        let ip6: IpAddr = "fd00::1".parse().unwrap();
        assert_eq!(canonical_ip(ip6), ip6);
    }
}
