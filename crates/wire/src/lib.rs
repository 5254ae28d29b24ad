//! Pure parsers of untrusted packet bytes. [`parse_frame`] turns one captured
//! frame (possibly cut short by a snap length) into a [`PacketSummary`]: the
//! 5-tuple, IP-layer and L4-payload lengths read from the headers' length
//! fields, and the TCP flags. Header layouts come from `etherparse`; this
//! crate only decides which lengths to trust. It does no I/O, keeps no
//! state, never allocates and never panics, whatever the bytes.

#![warn(missing_docs)]

mod frame;

pub use frame::parse_frame;

use std::fmt;
use std::net::SocketAddr;

use netoproc_core::model::Protocol;

/// How a captured frame begins, as told by the device's `ARPHRD_*` type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LinkType {
    /// An Ethernet II header (possibly VLAN-tagged). Also `lo`: Linux
    /// loopback frames carry a zeroed 14-byte Ethernet header.
    Ethernet,
    /// The IP header comes first: tun, WireGuard, ipip, sit, PPP.
    RawIp,
}

impl LinkType {
    /// Maps a device's hardware type (`sll_hatype`, `ARPHRD_*` from
    /// `<linux/if_arp.h>`) to the frame layout, or `None` when netoproc does
    /// not parse that link layer (e.g. GRE, InfiniBand).
    pub fn from_arphrd(hatype: u16) -> Option<LinkType> {
        match hatype {
            // ARPHRD_ETHER, ARPHRD_LOOPBACK
            1 | 772 => Some(LinkType::Ethernet),
            // ARPHRD_PPP, ARPHRD_RAWIP, ARPHRD_TUNNEL, ARPHRD_TUNNEL6,
            // ARPHRD_SIT, ARPHRD_NONE
            512 | 519 | 768 | 769 | 776 | 0xfffe => Some(LinkType::RawIp),
            _ => None,
        }
    }
}

/// What one TCP or UDP packet says about itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PacketSummary {
    /// TCP or UDP.
    pub protocol: Protocol,
    /// Sender's address and port, as in the packet.
    pub src: SocketAddr,
    /// Receiver's address and port, as in the packet.
    pub dst: SocketAddr,
    /// IP-layer bytes, IP header included, from the IP length fields (or
    /// from the frame's original length for TSO/GSO super-packets whose
    /// length field is 0), so truncated captures still count fully.
    pub ip_len: u32,
    /// L4 payload bytes: `ip_len` minus the IP, extension and TCP/UDP
    /// headers.
    pub payload_len: u32,
    /// Where the L4 payload begins in the frame (may lie past the captured
    /// bytes when the snap length cut it); see [`PacketSummary::payload`].
    pub payload_offset: u32,
    /// The TCP flags byte (CWR ECE URG ACK PSH RST SYN FIN); 0 for UDP.
    pub tcp_flags: u8,
    /// The TCP sequence number (of the first payload byte); 0 for UDP.
    /// Tells retransmitted payload from new payload.
    pub tcp_seq: u32,
    /// The TCP acknowledgment number; 0 for UDP. Times round trips.
    pub tcp_ack: u32,
    /// The MSS option of a TCP SYN, when present and captured; 0
    /// otherwise. Tells how many segments a TSO/GSO super-packet is.
    pub tcp_mss: u16,
}

impl PacketSummary {
    /// The L4 payload bytes captured in `frame` (the frame this summary was
    /// parsed from): at most `payload_len`, fewer when the snap length cut
    /// them, none past the IP packet's end (Ethernet padding).
    pub fn payload<'a>(&self, frame: &'a [u8]) -> &'a [u8] {
        let start = (self.payload_offset as usize).min(frame.len());
        let end = start
            .saturating_add(self.payload_len as usize)
            .min(frame.len());
        &frame[start..end]
    }
}

/// The protocol layer a [`WireError`] refers to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Layer {
    /// The Ethernet header.
    Ethernet,
    /// An 802.1Q/802.1ad VLAN tag.
    Vlan,
    /// The IPv4 or IPv6 header.
    Ip,
    /// An IP extension header (IPv6 extensions, the IPv4 authentication
    /// header).
    IpExtension,
    /// The TCP header.
    Tcp,
    /// The UDP header.
    Udp,
}

impl fmt::Display for Layer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Layer::Ethernet => "Ethernet",
            Layer::Vlan => "VLAN",
            Layer::Ip => "IP",
            Layer::IpExtension => "IP extension",
            Layer::Tcp => "TCP",
            Layer::Udp => "UDP",
        })
    }
}

/// Why a frame yields no [`PacketSummary`]. Each kind is worth counting on
/// its own: `Truncated` means the snap length is too small, `Fragment`
/// means bytes that cannot be attributed to a port pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
pub enum WireError {
    /// The frame carries something other than IPv4/IPv6.
    #[error("not an IP packet (EtherType {ether_type:#06x})")]
    NotIp {
        /// The frame's EtherType, after any VLAN tags.
        ether_type: u16,
    },
    /// An IP packet of another transport (ICMP, SCTP, ...).
    #[error("IP protocol {protocol} is neither TCP nor UDP")]
    NotTcpUdp {
        /// The IP protocol number (for IPv6, the header after any extensions).
        protocol: u8,
    },
    /// The capture length ends inside a header.
    #[error("{layer} header cut short by the capture length")]
    Truncated {
        /// The layer whose header was cut.
        layer: Layer,
    },
    /// A header whose fields contradict themselves (lengths, version).
    #[error("malformed {layer} header")]
    Malformed {
        /// The layer whose header is malformed.
        layer: Layer,
    },
    /// A fragment after the first: no ports to attribute it by.
    #[error("non-first IP fragment: it carries no TCP/UDP header")]
    Fragment,
}
