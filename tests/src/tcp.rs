//! TCP generators: a server that answers K connections (read to EOF, then
//! reply), a client that makes K sequential connections (send, half-close,
//! read to EOF), both also with all K at once (a thread each, so K threads
//! sit blocked in `recv` together), and a client that sends a file with
//! `sendfile(2)`. Every `write`, `read` and `sendfile` return value is added
//! to the [`Tally`].

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::Barrier;
use std::thread;
use std::time::{Duration, Instant};

use crate::tally::{announce_ready, Tally};
use crate::{IO_TIMEOUT, RUN_LIMIT};

const CHUNK: usize = 64 * 1024;

/// Bytes to send: a repeating, non-constant pattern.
fn pattern() -> Vec<u8> {
    (0..CHUNK).map(|i| (i % 251) as u8).collect()
}

fn with_timeouts(s: TcpStream) -> io::Result<TcpStream> {
    s.set_read_timeout(Some(IO_TIMEOUT))?;
    s.set_write_timeout(Some(IO_TIMEOUT))?;
    Ok(s)
}

/// Writes `n` bytes, counting what each `write` returned.
pub fn send_exactly(s: &mut TcpStream, n: u64, t: &mut Tally) -> io::Result<()> {
    let buf = pattern();
    let mut left = n;
    while left > 0 {
        let want = left.min(CHUNK as u64) as usize;
        let got = s.write(&buf[..want])?;
        if got == 0 {
            return Err(io::Error::new(io::ErrorKind::WriteZero, "peer closed"));
        }
        t.sent(got);
        left -= got as u64;
    }
    Ok(())
}

/// Reads until EOF, counting what each `read` returned.
pub fn read_to_eof(s: &mut TcpStream, t: &mut Tally) -> io::Result<()> {
    let mut buf = vec![0u8; CHUNK];
    let start = Instant::now();
    loop {
        let got = s.read(&mut buf)?;
        if got == 0 {
            return Ok(());
        }
        t.received(got);
        if start.elapsed() > RUN_LIMIT {
            return Err(io::Error::new(io::ErrorKind::TimedOut, "read too long"));
        }
    }
}

/// Waits until `l` has a connection to accept, at most [`IO_TIMEOUT`].
fn accept_within(l: &TcpListener) -> io::Result<TcpStream> {
    let mut pfd = libc::pollfd {
        fd: l.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd, count 1.
    let r = unsafe { libc::poll(&mut pfd, 1, IO_TIMEOUT.as_millis() as libc::c_int) };
    match r {
        0 => Err(io::Error::new(io::ErrorKind::TimedOut, "no client came")),
        r if r < 0 => Err(io::Error::last_os_error()),
        _ => with_timeouts(l.accept()?.0),
    }
}

/// Accepts `connections` connections one after the other; on each reads
/// to EOF, then replies `reply` bytes and closes.
pub fn server(
    listen: SocketAddr,
    connections: u32,
    reply: u64,
    hold: Duration,
) -> io::Result<Tally> {
    let l = TcpListener::bind(listen)?;
    announce_ready();
    let mut t = Tally::new();
    let start = Instant::now();
    for _ in 0..connections {
        if start.elapsed() > RUN_LIMIT {
            break;
        }
        let mut s = accept_within(&l)?;
        read_to_eof(&mut s, &mut t)?;
        send_exactly(&mut s, reply, &mut t)?;
        thread::sleep(hold);
    }
    Ok(t)
}

/// Accepts `connections` connections and serves them all at once, a thread
/// each (read to EOF, reply `reply` bytes, close).
pub fn concurrent_server(listen: SocketAddr, connections: u32, reply: u64) -> io::Result<Tally> {
    let l = TcpListener::bind(listen)?;
    announce_ready();
    thread::scope(|scope| {
        let mut handlers = Vec::new();
        for _ in 0..connections {
            let mut s = accept_within(&l)?;
            handlers.push(scope.spawn(move || -> io::Result<Tally> {
                let mut t = Tally::new();
                read_to_eof(&mut s, &mut t)?;
                send_exactly(&mut s, reply, &mut t)?;
                Ok(t)
            }));
        }
        join_tallies(handlers)
    })
}

/// Opens `connections` connections at once, a thread each; once all are
/// up (and the server's threads sit in `recv`), each sends `send` bytes,
/// half-closes and reads the reply to EOF.
pub fn concurrent_client(connect: SocketAddr, connections: u32, send: u64) -> io::Result<Tally> {
    // Long enough for every server thread to be blocked in its first read.
    const SETTLE: Duration = Duration::from_millis(300);
    let all_up = Barrier::new(connections as usize);
    thread::scope(|scope| {
        let handlers: Vec<_> = (0..connections)
            .map(|_| {
                let all_up = &all_up;
                scope.spawn(move || -> io::Result<Tally> {
                    let conn = TcpStream::connect_timeout(&connect, IO_TIMEOUT);
                    // Every thread reaches the barrier, also after an error.
                    all_up.wait();
                    let mut s = with_timeouts(conn?)?;
                    thread::sleep(SETTLE);
                    let mut t = Tally::new();
                    send_exactly(&mut s, send, &mut t)?;
                    s.shutdown(Shutdown::Write)?;
                    read_to_eof(&mut s, &mut t)?;
                    Ok(t)
                })
            })
            .collect();
        join_tallies(handlers)
    })
}

/// Sums the tallies of finished threads; the first error wins.
fn join_tallies(
    handlers: Vec<thread::ScopedJoinHandle<'_, io::Result<Tally>>>,
) -> io::Result<Tally> {
    let mut total = Tally::new();
    for h in handlers {
        let t = h
            .join()
            .map_err(|_| io::Error::other("a connection thread panicked"))??;
        total.tx += t.tx;
        total.rx += t.rx;
    }
    Ok(total)
}

/// Makes `connections` sequential connections; on each sends `send` bytes,
/// half-closes and reads the reply to EOF.
pub fn client(
    connect: SocketAddr,
    connections: u32,
    send: u64,
    hold: Duration,
) -> io::Result<Tally> {
    let mut t = Tally::new();
    let start = Instant::now();
    for _ in 0..connections {
        if start.elapsed() > RUN_LIMIT {
            break;
        }
        let mut s = with_timeouts(TcpStream::connect_timeout(&connect, IO_TIMEOUT)?)?;
        send_exactly(&mut s, send, &mut t)?;
        s.shutdown(Shutdown::Write)?;
        read_to_eof(&mut s, &mut t)?;
        thread::sleep(hold);
    }
    Ok(t)
}

/// Sends a temporary file of `file_bytes` bytes with `sendfile(2)`,
/// half-closes and reads the reply to EOF.
pub fn sendfile_client(connect: SocketAddr, file_bytes: u64) -> io::Result<Tally> {
    let mut file = tempfile::tempfile()?;
    let buf = pattern();
    let mut left = file_bytes;
    while left > 0 {
        let n = left.min(CHUNK as u64) as usize;
        file.write_all(&buf[..n])?;
        left -= n as u64;
    }
    file.flush()?;

    let mut t = Tally::new();
    let mut s = with_timeouts(TcpStream::connect_timeout(&connect, IO_TIMEOUT)?)?;
    let mut offset: libc::off_t = 0;
    let start = Instant::now();
    while (offset as u64) < file_bytes {
        if start.elapsed() > RUN_LIMIT {
            return Err(io::Error::new(io::ErrorKind::TimedOut, "sendfile too long"));
        }
        let want = (file_bytes - offset as u64).min(1 << 30) as usize;
        // SAFETY: both descriptors are open for the call; `offset` is a
        // valid, exclusively borrowed off_t that sendfile advances.
        let r = unsafe { libc::sendfile(s.as_raw_fd(), file.as_raw_fd(), &mut offset, want) };
        if r < 0 {
            return Err(io::Error::last_os_error());
        }
        if r == 0 {
            return Err(io::Error::new(io::ErrorKind::WriteZero, "sendfile sent 0"));
        }
        t.sent(r as usize);
    }
    s.shutdown(Shutdown::Write)?;
    read_to_eof(&mut s, &mut t)?;
    Ok(t)
}
