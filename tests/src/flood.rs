//! Floods of hostile-shaped input for netoproc's bound tests, bounded in
//! count and in time ([`crate::RUN_LIMIT`]): DNS queries to many distinct
//! resolver addresses, UDP datagrams from many distinct (spoofed, with
//! `IP_TRANSPARENT`) source addresses and ports, and many short processes
//! that each send one datagram. Nothing answers; the report's `unanswered`
//! is the number of datagrams sent, `tx_bytes` their payload bytes. Run only
//! inside the test's network namespaces.

use std::io;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, UdpSocket};
use std::time::Instant;

use crate::tally::{GenReport, Tally};
use crate::RUN_LIMIT;

/// A DNS query for `f.np.test` A with id `id` (RFC 1035 wire format).
fn query(id: u16) -> Vec<u8> {
    let mut m = id.to_be_bytes().to_vec();
    m.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
    m.extend_from_slice(b"\x01f\x02np\x04test\x00\x00\x01\x00\x01");
    m
}

/// `base` + `i` (wrapping inside IPv4).
fn nth(base: Ipv4Addr, i: u32) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(base).wrapping_add(i))
}

/// One query to port 53 of each of `count` addresses from `base` on.
pub fn resolvers(base: Ipv4Addr, count: u32) -> io::Result<GenReport> {
    let sock = UdpSocket::bind("0.0.0.0:0")?;
    let start = Instant::now();
    let mut t = Tally::new();
    for i in 0..count {
        if start.elapsed() > RUN_LIMIT {
            break;
        }
        let q = query(i as u16);
        let n = sock.send_to(&q, SocketAddrV4::new(nth(base, i), 53))?;
        t.sent(n);
        t.unanswered += 1;
    }
    Ok(t.into_report("flood-resolvers"))
}

/// `count` datagrams to `to`, each from its own socket bound (with
/// `IP_TRANSPARENT`, root only) to a distinct address from `base` on and a
/// port from 1024 on.
pub fn sources(to: SocketAddr, base: Ipv4Addr, count: u32) -> io::Result<GenReport> {
    let start = Instant::now();
    let mut t = Tally::new();
    for i in 0..count {
        if start.elapsed() > RUN_LIMIT {
            break;
        }
        let from = SocketAddrV4::new(nth(base, i / 16), 1024 + (i % 16) as u16 * 997 + 1);
        let n = transparent_send(from, to, b"flood")?;
        t.sent(n);
        t.unanswered += 1;
    }
    Ok(t.into_report("flood-sources"))
}

fn transparent_send(from: SocketAddrV4, to: SocketAddr, payload: &[u8]) -> io::Result<usize> {
    // SAFETY: plain socket calls on a descriptor this function owns and
    // closes; the sockaddr and option pointers outlive the calls.
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0);
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        let one: libc::c_int = 1;
        let r = libc::setsockopt(
            fd,
            libc::SOL_IP,
            libc::IP_TRANSPARENT,
            (&one as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        );
        let sa = sockaddr(from);
        let r = if r == 0 {
            libc::bind(
                fd,
                (&sa as *const libc::sockaddr_in).cast(),
                std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
            )
        } else {
            r
        };
        let dst = match to {
            SocketAddr::V4(v4) => sockaddr(v4),
            SocketAddr::V6(_) => {
                libc::close(fd);
                return Err(io::Error::other("IPv4 destinations only"));
            }
        };
        let n = if r == 0 {
            libc::sendto(
                fd,
                payload.as_ptr().cast(),
                payload.len(),
                0,
                (&dst as *const libc::sockaddr_in).cast(),
                std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
            )
        } else {
            -1
        };
        let err = io::Error::last_os_error();
        libc::close(fd);
        if n < 0 {
            return Err(err);
        }
        Ok(n as usize)
    }
}

fn sockaddr(a: SocketAddrV4) -> libc::sockaddr_in {
    libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: a.port().to_be(),
        sin_addr: libc::in_addr {
            s_addr: u32::from(*a.ip()).to_be(),
        },
        sin_zero: [0; 8],
    }
}

/// `count` processes in turn (fork, no exec), each sending one datagram to
/// `to` from a fresh socket and exiting; stops early at the time limit.
pub fn fresh_pids(to: SocketAddr, count: u32) -> io::Result<GenReport> {
    let start = Instant::now();
    let mut t = Tally::new();
    for _ in 0..count {
        if start.elapsed() > RUN_LIMIT {
            break;
        }
        // SAFETY: the child only makes async-signal-safe calls (socket,
        // sendto, close via a pre-built address) before _exit; the parent
        // reaps it at once.
        let pid = unsafe { libc::fork() };
        if pid < 0 {
            return Err(io::Error::last_os_error());
        }
        if pid == 0 {
            let ok = match to {
                SocketAddr::V4(v4) => child_send(v4),
                SocketAddr::V6(_) => false,
            };
            // SAFETY: ends the forked child without running destructors.
            unsafe { libc::_exit(if ok { 0 } else { 1 }) };
        }
        let mut status = 0;
        // SAFETY: reaping our own child.
        if unsafe { libc::waitpid(pid, &mut status, 0) } != pid
            || !libc::WIFEXITED(status)
            || libc::WEXITSTATUS(status) != 0
        {
            return Err(io::Error::other("a short process failed to send"));
        }
        t.sent(1);
        t.unanswered += 1;
    }
    Ok(t.into_report("flood-pids"))
}

fn child_send(to: SocketAddrV4) -> bool {
    let dst = sockaddr(to);
    // SAFETY: socket calls on a descriptor the child owns.
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_DGRAM, 0);
        if fd < 0 {
            return false;
        }
        let n = libc::sendto(
            fd,
            b"p".as_ptr().cast(),
            1,
            0,
            (&dst as *const libc::sockaddr_in).cast(),
            std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
        );
        libc::close(fd);
        n == 1
    }
}
