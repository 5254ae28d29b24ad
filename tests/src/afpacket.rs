//! An independent wire-byte count: an `AF_PACKET` socket bound to one
//! interface counts, per direction, the IP-layer bytes (frame length minus
//! the 14-byte Ethernet header) of TCP packets to or from one port. It is
//! the yardstick for netoproc's `tx_wire_bytes`/`rx_wire_bytes`. GSO
//! super-packets show up here as one large frame, as they do to netoproc.
//!
//! Hand-written with libc: a few socket calls and two fixed header
//! offsets, where a capture library would add far more than it saves.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use crate::tally::{announce_ready, WireCount};
use crate::RUN_LIMIT;

const ETH_HLEN: usize = 14;
const ETH_P_IP: u16 = 0x0800;
const ETH_P_IPV6: u16 = 0x86dd;
const IPPROTO_TCP: u8 = 6;

fn check(r: libc::c_int) -> io::Result<libc::c_int> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

fn setsockopt_int(fd: &OwnedFd, level: i32, name: i32, v: i32) -> io::Result<()> {
    // SAFETY: `v` lives across the call and the length matches its type.
    check(unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            level,
            name,
            (&v as *const i32).cast(),
            std::mem::size_of::<i32>() as libc::socklen_t,
        )
    })
    .map(drop)
}

/// The TCP source and destination ports of an Ethernet frame, if it is
/// TCP over IPv4 or IPv6 (no extension headers).
fn tcp_ports(frame: &[u8]) -> Option<(u16, u16)> {
    let be16 = |b: &[u8], at: usize| -> Option<u16> {
        Some(u16::from_be_bytes([*b.get(at)?, *b.get(at + 1)?]))
    };
    let ip = frame.get(ETH_HLEN..)?;
    let l4 = match be16(frame, 12)? {
        ETH_P_IP if *ip.get(9)? == IPPROTO_TCP => usize::from(ip.first()? & 0x0f) * 4,
        ETH_P_IPV6 if *ip.get(6)? == IPPROTO_TCP => 40,
        _ => return None,
    };
    Some((be16(ip, l4)?, be16(ip, l4 + 2)?))
}

/// Counts TCP traffic to or from `port` on interface `iface` until `stop`
/// is set (or [`RUN_LIMIT`]). Prints `ready` once bound.
pub fn count(iface: &str, port: u16, stop: &AtomicBool) -> io::Result<WireCount> {
    let name = CString::new(iface).map_err(io::Error::other)?;
    // SAFETY: a NUL-terminated name.
    let ifindex = unsafe { libc::if_nametoindex(name.as_ptr()) };
    if ifindex == 0 {
        return Err(io::Error::other(format!("no interface {iface}")));
    }
    let proto = (libc::ETH_P_ALL as u16).to_be();
    // SAFETY: plain socket(2); the descriptor is owned right away.
    let fd = check(unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW, proto.into()) })?;
    // SAFETY: `fd` is a fresh descriptor nobody else owns.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    setsockopt_int(&fd, libc::SOL_SOCKET, libc::SO_RCVBUFFORCE, 64 << 20)?;
    let tv = libc::timeval {
        tv_sec: 0,
        tv_usec: 100_000,
    };
    // SAFETY: `tv` lives across the call and the length matches its type.
    check(unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVTIMEO,
            (&tv as *const libc::timeval).cast(),
            std::mem::size_of::<libc::timeval>() as libc::socklen_t,
        )
    })?;
    // SAFETY: all-zero is a valid sockaddr_ll.
    let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    sll.sll_family = libc::AF_PACKET as u16;
    sll.sll_protocol = proto;
    sll.sll_ifindex = ifindex as i32;
    let sll_len = std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t;
    // SAFETY: `sll` is a valid sockaddr_ll of the given length.
    check(unsafe {
        libc::bind(
            fd.as_raw_fd(),
            (&sll as *const libc::sockaddr_ll).cast(),
            sll_len,
        )
    })?;
    announce_ready();

    let mut w = WireCount::default();
    let mut buf = [0u8; 256];
    let start = Instant::now();
    while !stop.load(Ordering::Relaxed) && start.elapsed() < RUN_LIMIT {
        // SAFETY: all-zero is a valid sockaddr_ll.
        let mut from: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        let mut from_len = sll_len;
        // SAFETY: `buf` and `from` are valid for the lengths given; with
        // MSG_TRUNC the kernel returns the full frame length but writes at
        // most `buf.len()` bytes.
        let n = unsafe {
            libc::recvfrom(
                fd.as_raw_fd(),
                buf.as_mut_ptr().cast(),
                buf.len(),
                libc::MSG_TRUNC,
                (&mut from as *mut libc::sockaddr_ll).cast(),
                &mut from_len,
            )
        };
        if n < 0 {
            let e = io::Error::last_os_error();
            match e.kind() {
                io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => continue,
                io::ErrorKind::Interrupted => continue,
                _ => return Err(e),
            }
        }
        let len = n as usize;
        if from.sll_ifindex != ifindex as i32 || len < ETH_HLEN {
            continue;
        }
        let Some((sport, dport)) = tcp_ports(&buf[..len.min(buf.len())]) else {
            continue;
        };
        if sport != port && dport != port {
            continue;
        }
        let ip_bytes = (len - ETH_HLEN) as u64;
        if from.sll_pkttype == libc::PACKET_OUTGOING {
            w.tx_wire_bytes += ip_bytes;
            w.tx_frames += 1;
        } else {
            w.rx_wire_bytes += ip_bytes;
            w.rx_frames += 1;
        }
    }
    w.drops = drops(&fd)?;
    Ok(w)
}

/// Frames the kernel dropped for this socket (PACKET_STATISTICS).
fn drops(fd: &OwnedFd) -> io::Result<u64> {
    let mut st = libc::tpacket_stats {
        tp_packets: 0,
        tp_drops: 0,
    };
    let mut len = std::mem::size_of::<libc::tpacket_stats>() as libc::socklen_t;
    // SAFETY: `st` is valid for `len` bytes.
    check(unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            libc::SOL_PACKET,
            libc::PACKET_STATISTICS,
            (&mut st as *mut libc::tpacket_stats).cast(),
            &mut len,
        )
    })?;
    Ok(st.tp_drops.into())
}

/// Sets `stop` once stdin reaches EOF (the test closes it when done).
pub fn stop_on_stdin_eof(stop: &'static AtomicBool) {
    std::thread::spawn(move || {
        let _ = io::copy(&mut io::stdin().lock(), &mut io::sink());
        stop.store(true, Ordering::Relaxed);
    });
}

#[cfg(test)]
mod tests {
    use super::tcp_ports;

    #[test]
    fn finds_ports_of_ipv4_and_ipv6_tcp() {
        let mut v4 = vec![0u8; 14 + 20 + 4];
        v4[12..14].copy_from_slice(&[0x08, 0x00]);
        v4[14] = 0x45;
        v4[14 + 9] = 6;
        v4[34..38].copy_from_slice(&[0x13, 0x89, 0xc0, 0x00]);
        assert_eq!(tcp_ports(&v4), Some((5001, 49152)));
        let mut v6 = vec![0u8; 14 + 40 + 4];
        v6[12..14].copy_from_slice(&[0x86, 0xdd]);
        v6[14 + 6] = 6;
        v6[54..58].copy_from_slice(&[0x00, 0x50, 0x13, 0x89]);
        assert_eq!(tcp_ports(&v6), Some((80, 5001)));
        v6[14 + 6] = 17;
        assert_eq!(tcp_ports(&v6), None);
        assert_eq!(tcp_ports(&v4[..20]), None);
    }
}
