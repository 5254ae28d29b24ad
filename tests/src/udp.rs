//! UDP generators: an echo server on several ports that answers every
//! datagram with a fixed-size reply; a connected client; one unconnected
//! socket that talks to several ports with `send_to`/`recv_from` and splits
//! its bytes by remote; and DNS-style clients that use a fresh socket per
//! query. Clients work in lockstep (one datagram out, its reply in), so
//! nothing is dropped on the way and every call's return is recorded.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use crate::tally::{announce_ready, Tally};
use crate::{IO_TIMEOUT, RUN_LIMIT};

const MAX_DATAGRAM: usize = 65536;

fn payload(size: usize) -> Vec<u8> {
    (0..size).map(|i| (i % 241) as u8).collect()
}

fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

/// A socket bound to an ephemeral port of `peer`'s family.
fn ephemeral_for(peer: SocketAddr) -> io::Result<UdpSocket> {
    let any: IpAddr = match peer {
        SocketAddr::V4(_) => Ipv4Addr::UNSPECIFIED.into(),
        SocketAddr::V6(_) => Ipv6Addr::UNSPECIFIED.into(),
    };
    let s = UdpSocket::bind((any, 0))?;
    s.set_read_timeout(Some(IO_TIMEOUT))?;
    s.set_write_timeout(Some(IO_TIMEOUT))?;
    Ok(s)
}

/// Binds every address in `binds`, answers each datagram with `reply`
/// bytes, and exits after `expect` datagrams, after [`IO_TIMEOUT`] without
/// any, or after [`RUN_LIMIT`].
pub fn echo_server(binds: &[SocketAddr], expect: u64, reply: usize) -> io::Result<Tally> {
    let socks = binds
        .iter()
        .map(|a| {
            let s = UdpSocket::bind(a)?;
            s.set_nonblocking(true)?;
            Ok(s)
        })
        .collect::<io::Result<Vec<_>>>()?;
    announce_ready();
    let answer = payload(reply);
    let mut buf = vec![0u8; MAX_DATAGRAM];
    let mut t = Tally::new();
    let mut seen = 0u64;
    let start = Instant::now();
    while seen < expect && start.elapsed() < RUN_LIMIT {
        let mut pfds: Vec<libc::pollfd> = socks
            .iter()
            .map(|s| libc::pollfd {
                fd: s.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            })
            .collect();
        let ms = IO_TIMEOUT.as_millis() as libc::c_int;
        // SAFETY: `pfds` is a valid array of `pfds.len()` pollfds.
        let r = unsafe { libc::poll(pfds.as_mut_ptr(), pfds.len() as libc::nfds_t, ms) };
        if r == 0 {
            break; // idle too long: the clients are gone
        }
        if r < 0 {
            return Err(io::Error::last_os_error());
        }
        for (s, p) in socks.iter().zip(&pfds) {
            if p.revents == 0 {
                continue;
            }
            loop {
                match s.recv_from(&mut buf) {
                    Ok((n, from)) => {
                        t.received(n);
                        seen += 1;
                        // A nonblocking send to a peer that waits for it.
                        let sent = s.send_to(&answer, from)?;
                        t.sent(sent);
                    }
                    Err(e) if is_timeout(&e) => break,
                    Err(e) => return Err(e),
                }
            }
        }
    }
    Ok(t)
}

/// A connected socket: `count` datagrams of `size` bytes, each followed by
/// a `recv` of the reply; the socket stays open `hold` after the last.
pub fn connected_client(
    server: SocketAddr,
    count: u32,
    size: usize,
    hold: Duration,
) -> io::Result<Tally> {
    let s = ephemeral_for(server)?;
    s.connect(server)?;
    let msg = payload(size);
    let mut buf = vec![0u8; MAX_DATAGRAM];
    let mut t = Tally::new();
    let start = Instant::now();
    for _ in 0..count {
        if start.elapsed() > RUN_LIMIT {
            break;
        }
        t.sent(s.send(&msg)?);
        match s.recv(&mut buf) {
            Ok(n) => t.received(n),
            Err(e) if is_timeout(&e) => t.unanswered += 1,
            Err(e) => return Err(e),
        }
    }
    std::thread::sleep(hold);
    drop(s);
    Ok(t)
}

/// ONE unconnected socket: `rounds` times, a datagram to each of `to`,
/// each followed by `recv_from` of its reply. Bytes are split by remote;
/// the socket stays open `hold` after the last.
pub fn sendto_client(
    to: &[SocketAddr],
    rounds: u32,
    size: usize,
    hold: Duration,
) -> io::Result<Tally> {
    let first = *to.first().ok_or_else(|| io::Error::other("no remotes"))?;
    let s = ephemeral_for(first)?;
    let msg = payload(size);
    let mut buf = vec![0u8; MAX_DATAGRAM];
    let mut t = Tally::per_remote();
    let start = Instant::now();
    for _ in 0..rounds {
        if start.elapsed() > RUN_LIMIT {
            break;
        }
        for &peer in to {
            t.sent_to(peer, s.send_to(&msg, peer)?);
            match s.recv_from(&mut buf) {
                Ok((n, from)) => t.received_from(from, n),
                Err(e) if is_timeout(&e) => t.unanswered += 1,
                Err(e) => return Err(e),
            }
        }
    }
    std::thread::sleep(hold);
    drop(s);
    Ok(t)
}

/// `queries` DNS-style exchanges, each on a fresh ephemeral socket that is
/// closed after its reply.
pub fn dns_client(server: SocketAddr, queries: u32, size: usize) -> io::Result<Tally> {
    let msg = payload(size);
    let mut buf = vec![0u8; MAX_DATAGRAM];
    let mut t = Tally::new();
    let start = Instant::now();
    for _ in 0..queries {
        if start.elapsed() > RUN_LIMIT {
            break;
        }
        let s = ephemeral_for(server)?;
        t.sent(s.send_to(&msg, server)?);
        match s.recv_from(&mut buf) {
            Ok((n, _)) => t.received(n),
            Err(e) if is_timeout(&e) => t.unanswered += 1,
            Err(e) => return Err(e),
        }
    }
    Ok(t)
}
