//! TCP generators for connection-lifecycle tests: a dialer that makes N
//! connections and records how each ended (connected, or the error kind
//! the kernel gave connect or the first read), an acceptor that takes N
//! connections and reads each to EOF, a server that resets each connection
//! (SO_LINGER 0), and a request/response pair whose server sleeps a fixed
//! time before each answer. Bytes are counted in the [`Tally`] as
//! elsewhere; outcomes go to the report's `outcomes`.

use std::collections::BTreeMap;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::thread;
use std::time::{Duration, Instant};

use crate::tally::{announce_ready, Tally};
use crate::tcp::{read_to_eof, send_exactly};
use crate::{IO_TIMEOUT, RUN_LIMIT};

fn kind(e: &io::Error) -> String {
    match e.raw_os_error() {
        Some(libc::ECONNREFUSED) => "refused".into(),
        Some(libc::ECONNRESET) => "reset".into(),
        Some(libc::ETIMEDOUT) => "timeout".into(),
        Some(libc::EHOSTUNREACH | libc::ENETUNREACH) => "unreachable".into(),
        _ => format!("{:?}", e.kind()).to_lowercase(),
    }
}

/// `connections` sequential connections to `to` (each connect timed); on each, `send` bytes,
/// hold `hold`, then (if it sent) half-close and read to EOF; close. Outcomes by kind:
/// `success`, `refused`, `reset`, `timeout`, ...
pub fn dial(
    to: SocketAddr,
    connections: u32,
    send: u64,
    hold: Duration,
    connect_timeout: Duration,
) -> io::Result<(Tally, BTreeMap<String, u64>, Vec<u64>)> {
    let mut t = Tally::default();
    let mut outcomes = BTreeMap::new();
    let mut connect_us = Vec::new();
    let start = Instant::now();
    for _ in 0..connections {
        if start.elapsed() > RUN_LIMIT {
            break;
        }
        let began = Instant::now();
        let result = TcpStream::connect_timeout(&to, connect_timeout).and_then(|mut s| {
            connect_us.push(began.elapsed().as_micros() as u64);
            s.set_read_timeout(Some(IO_TIMEOUT))?;
            s.set_write_timeout(Some(IO_TIMEOUT))?;
            if send > 0 {
                send_exactly(&mut s, send, &mut t)?;
            }
            // Held before the half-close: once both FINs have passed, the
            // kernel keeps only a TIME_WAIT entry (no tcp_info for `ss`).
            thread::sleep(hold);
            if send > 0 {
                // A peer that already reset makes this ENOTCONN; the read
                // below reports the reset itself.
                let _ = s.shutdown(std::net::Shutdown::Write);
                read_to_eof(&mut s, &mut t)?;
            }
            Ok(())
        });
        let k = match result {
            Ok(()) => "success".to_string(),
            Err(e) => kind(&e),
        };
        *outcomes.entry(k).or_default() += 1;
    }
    Ok((t, outcomes, connect_us))
}

/// Accepts `connections` connections in turn, reads each to EOF, closes.
pub fn accept(listen: SocketAddr, connections: u32) -> io::Result<Tally> {
    let l = TcpListener::bind(listen)?;
    announce_ready();
    let mut t = Tally::default();
    for _ in 0..connections {
        let (mut s, _) = l.accept()?;
        s.set_read_timeout(Some(IO_TIMEOUT))?;
        read_to_eof(&mut s, &mut t)?;
    }
    Ok(t)
}

/// Accepts `connections` connections; reads the first bytes of each, then
/// closes it with SO_LINGER 0, so the peer gets a reset.
pub fn reset_server(listen: SocketAddr, connections: u32) -> io::Result<Tally> {
    let l = TcpListener::bind(listen)?;
    announce_ready();
    let mut t = Tally::default();
    let mut buf = vec![0u8; 64 * 1024];
    for _ in 0..connections {
        let (mut s, _) = l.accept()?;
        s.set_read_timeout(Some(IO_TIMEOUT))?;
        let n = s.read(&mut buf)?;
        t.received(n);
        let linger = libc::linger {
            l_onoff: 1,
            l_linger: 0,
        };
        // SAFETY: `linger` lives across the call; the length is its type's.
        let r = unsafe {
            libc::setsockopt(
                s.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_LINGER,
                (&linger as *const libc::linger).cast(),
                std::mem::size_of::<libc::linger>() as libc::socklen_t,
            )
        };
        if r != 0 {
            return Err(io::Error::last_os_error());
        }
        drop(s);
    }
    Ok(t)
}

/// One connection: `requests` times read `size` bytes, sleep `think`,
/// answer `size` bytes; then read to EOF.
pub fn rr_server(
    listen: SocketAddr,
    requests: u32,
    size: usize,
    think: Duration,
) -> io::Result<Tally> {
    let l = TcpListener::bind(listen)?;
    announce_ready();
    let mut t = Tally::default();
    let (mut s, _) = l.accept()?;
    s.set_read_timeout(Some(IO_TIMEOUT))?;
    s.set_nodelay(true)?;
    let mut buf = vec![0u8; size];
    for _ in 0..requests {
        s.read_exact(&mut buf)?;
        t.received(size);
        thread::sleep(think);
        s.write_all(&buf)?;
        t.sent(size);
    }
    read_to_eof(&mut s, &mut t)?;
    Ok(t)
}

/// The client of [`rr_server`]: `requests` round trips of `size` bytes.
pub fn rr_client(to: SocketAddr, requests: u32, size: usize) -> io::Result<Tally> {
    let mut s = TcpStream::connect_timeout(&to, IO_TIMEOUT)?;
    s.set_read_timeout(Some(IO_TIMEOUT))?;
    s.set_nodelay(true)?;
    let mut t = Tally::default();
    let out: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
    let mut buf = vec![0u8; size];
    for _ in 0..requests {
        s.write_all(&out)?;
        t.sent(size);
        s.read_exact(&mut buf)?;
        t.received(size);
    }
    Ok(t)
}
