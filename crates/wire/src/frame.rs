//! One frame → one [`PacketSummary`]: strips the link layer (Ethernet, up to
//! two VLAN tags), reads the IPv4/IPv6 header and extension headers with
//! `etherparse`'s lax slicers (which accept payloads cut short by a snap
//! length), then the TCP or UDP header. Lengths come from the IP header's
//! length fields, never from how many bytes were captured; only a zero
//! length field (TSO/GSO super-packets above 64 KiB) falls back to the
//! frame's original length. Every slice access goes through `etherparse` or
//! `get`, so no input can panic.

use std::net::{IpAddr, SocketAddr};

use etherparse::err::ip::LaxHeaderSliceError;
use etherparse::err::ipv6_exts::HeaderSliceError as ExtError;
use etherparse::{
    ip_number, EtherType, Ethernet2Slice, Ipv6ExtensionSlice, LaxIpPayloadSlice, LaxIpSlice,
    LenSource, SingleVlanSlice, TcpHeaderSlice, UdpHeaderSlice,
};
use netoproc_core::model::Protocol;

use crate::{Layer, LinkType, PacketSummary, WireError};

/// 802.1Q plus 802.1ad (QinQ) plus one spare: more tags is malformed.
const MAX_VLAN_TAGS: usize = 3;
const IPV6_HEADER_LEN: u32 = 40;
const UDP_HEADER_LEN: u32 = 8;
/// Offset of the flags byte in the TCP header.
const TCP_FLAGS_OFFSET: usize = 13;

/// Parses one captured frame. `frame` holds the captured bytes (possibly
/// truncated); `orig_len` is the frame's length on the wire (`tp_len`),
/// used only when an IP length field is 0.
pub fn parse_frame(
    link: LinkType,
    frame: &[u8],
    orig_len: u32,
) -> Result<PacketSummary, WireError> {
    let ip = match link {
        LinkType::Ethernet => strip_ethernet(frame)?,
        LinkType::RawIp => frame,
    };
    let link_len = u32::try_from(frame.len().saturating_sub(ip.len())).unwrap_or(u32::MAX);
    let mut summary = parse_ip(ip, orig_len.saturating_sub(link_len))?;
    summary.payload_offset = summary.payload_offset.saturating_add(link_len);
    Ok(summary)
}

/// Returns the bytes after the Ethernet header and any VLAN tags.
fn strip_ethernet(frame: &[u8]) -> Result<&[u8], WireError> {
    let eth = Ethernet2Slice::from_slice_without_fcs(frame).map_err(|_| WireError::Truncated {
        layer: Layer::Ethernet,
    })?;
    let mut ether_type = eth.ether_type();
    let mut rest = eth.payload_slice();
    for _ in 0..=MAX_VLAN_TAGS {
        match ether_type {
            EtherType::IPV4 | EtherType::IPV6 => return Ok(rest),
            EtherType::VLAN_TAGGED_FRAME
            | EtherType::PROVIDER_BRIDGING
            | EtherType::VLAN_DOUBLE_TAGGED_FRAME => {
                let vlan = SingleVlanSlice::from_slice(rest)
                    .map_err(|_| WireError::Truncated { layer: Layer::Vlan })?;
                ether_type = vlan.ether_type();
                rest = vlan.payload_slice();
            }
            other => {
                return Err(WireError::NotIp {
                    ether_type: other.0,
                })
            }
        }
    }
    Err(WireError::Malformed { layer: Layer::Vlan })
}

/// Parses from the IP header on. `wire_ip_len` is the IP packet's length
/// on the wire as told by the capture (fallback for zero length fields).
fn parse_ip(ip: &[u8], wire_ip_len: u32) -> Result<PacketSummary, WireError> {
    let (slice, ext_err) = LaxIpSlice::from_slice(ip).map_err(|e| match e {
        LaxHeaderSliceError::Len(_) => WireError::Truncated { layer: Layer::Ip },
        LaxHeaderSliceError::Content(_) => WireError::Malformed { layer: Layer::Ip },
    })?;
    // Checked after the fragment test: a non-first fragment's payload is
    // no header, so failing to parse it as one is expected.
    let ext_ok = || match ext_err {
        None => Ok(()),
        Some((ExtError::Len(_), _)) => Err(WireError::Truncated {
            layer: Layer::IpExtension,
        }),
        Some((ExtError::Content(_), _)) => Err(WireError::Malformed {
            layer: Layer::IpExtension,
        }),
    };
    let malformed_ip = WireError::Malformed { layer: Layer::Ip };
    match slice {
        LaxIpSlice::Ipv4(v4) => {
            let header = v4.header();
            if header.fragments_offset().value() != 0 {
                return Err(WireError::Fragment);
            }
            ext_ok()?;
            let ip_len = match header.total_len() {
                0 => wire_ip_len,
                n => u32::from(n),
            };
            let auth_len = v4.extensions().auth.map_or(0, |a| a.slice().len());
            let headers_len = len_u32(header.slice().len() + auth_len);
            let l4_len = ip_len.checked_sub(headers_len).ok_or(malformed_ip)?;
            let payload = v4.payload();
            parse_l4(
                ip,
                payload,
                l4_len,
                IpAddr::V4(header.source_addr()),
                IpAddr::V4(header.destination_addr()),
                ip_len,
            )
        }
        LaxIpSlice::Ipv6(v6) => {
            let header = v6.header();
            let ip_len = match header.payload_length() {
                0 => wire_ip_len,
                n => IPV6_HEADER_LEN + u32::from(n),
            };
            let exts = v6.extensions();
            // etherparse 0.21's extension iterator trusts its slice to be
            // fully validated; after an extension error it is not (reading
            // past it is undefined behaviour), so then only a fragment
            // header right after the fixed header is looked at, by hand.
            if ext_err.is_none() {
                for ext in exts.clone() {
                    if let Ipv6ExtensionSlice::Fragment(frag) = ext {
                        if frag.fragment_offset().value() != 0 {
                            return Err(WireError::Fragment);
                        }
                    }
                }
            } else if header.next_header() == ip_number::IPV6_FRAG {
                let at = IPV6_HEADER_LEN as usize + 2;
                let offset = ip
                    .get(at..at + 2)
                    .map(|b| u16::from_be_bytes([b[0], b[1]]) >> 3);
                if offset.is_some_and(|o| o != 0) {
                    return Err(WireError::Fragment);
                }
            }
            ext_ok()?;
            let headers_len = IPV6_HEADER_LEN + len_u32(exts.slice().len());
            let l4_len = ip_len.checked_sub(headers_len).ok_or(malformed_ip)?;
            let payload = v6.payload();
            parse_l4(
                ip,
                payload,
                l4_len,
                IpAddr::V6(header.source_addr()),
                IpAddr::V6(header.destination_addr()),
                ip_len,
            )
        }
    }
}

/// Reads the TCP or UDP header from the IP payload (captured bytes, maybe
/// truncated, a part of `ip`); `l4_len` is the L4 length the IP header
/// claims.
fn parse_l4(
    ip: &[u8],
    ip_payload: &LaxIpPayloadSlice<'_>,
    l4_len: u32,
    src_ip: IpAddr,
    dst_ip: IpAddr,
    ip_len: u32,
) -> Result<PacketSummary, WireError> {
    let l4 = ip_payload.payload;
    // Too few bytes for the L4 header: the capture cut them, or (when the
    // IP length field bounded the slice) the IP header lies.
    let short = |layer| match ip_payload.len_source {
        LenSource::Slice => WireError::Truncated { layer },
        _ => WireError::Malformed { layer },
    };
    let (protocol, src_port, dst_port, header_len, (tcp_flags, tcp_seq, tcp_ack, tcp_mss), layer) =
        match ip_payload.ip_number {
            ip_number::TCP => {
                let tcp = TcpHeaderSlice::from_slice(l4).map_err(|e| match e {
                    etherparse::err::tcp::HeaderSliceError::Len(_) => short(Layer::Tcp),
                    etherparse::err::tcp::HeaderSliceError::Content(_) => {
                        WireError::Malformed { layer: Layer::Tcp }
                    }
                })?;
                let flags = tcp.slice().get(TCP_FLAGS_OFFSET).copied().unwrap_or(0);
                let header_len = len_u32(tcp.slice().len());
                let ports = (tcp.source_port(), tcp.destination_port());
                (
                    Protocol::Tcp,
                    ports.0,
                    ports.1,
                    header_len,
                    (
                        flags,
                        tcp.sequence_number(),
                        tcp.acknowledgment_number(),
                        if tcp.syn() { syn_mss(&tcp) } else { 0 },
                    ),
                    Layer::Tcp,
                )
            }
            ip_number::UDP => {
                let udp = UdpHeaderSlice::from_slice(l4).map_err(|_| short(Layer::Udp))?;
                let ports = (udp.source_port(), udp.destination_port());
                (
                    Protocol::Udp,
                    ports.0,
                    ports.1,
                    UDP_HEADER_LEN,
                    (0, 0, 0, 0),
                    Layer::Udp,
                )
            }
            other => return Err(WireError::NotTcpUdp { protocol: other.0 }),
        };
    let payload_len = l4_len
        .checked_sub(header_len)
        .ok_or(WireError::Malformed { layer })?;
    // `l4` is a sub-slice of `ip`, so its address tells where it begins.
    let l4_offset = l4.as_ptr().addr().saturating_sub(ip.as_ptr().addr());
    Ok(PacketSummary {
        protocol,
        src: SocketAddr::new(src_ip, src_port),
        dst: SocketAddr::new(dst_ip, dst_port),
        ip_len,
        payload_len,
        payload_offset: len_u32(l4_offset).saturating_add(header_len),
        tcp_flags,
        tcp_seq,
        tcp_ack,
        tcp_mss,
    })
}

/// The MSS option of a SYN (0 when absent or malformed).
fn syn_mss(tcp: &TcpHeaderSlice<'_>) -> u16 {
    tcp.options_iterator()
        .find_map(|o| match o {
            Ok(etherparse::TcpOptionElement::MaximumSegmentSize(m)) => Some(m),
            _ => None,
        })
        .unwrap_or(0)
}

/// Header lengths are bounded by the slice they came from; saturate anyway.
fn len_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}
