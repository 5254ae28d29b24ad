//! HTTPS in front of the HTTP server: tiny_http's own TLS feature is tied
//! to an old rustls, so the agent terminates TLS itself (rustls, ring) and
//! hands each connection's plaintext to tiny_http over a Unix socket in a
//! private folder (mode 0700, removed at stop). One thread per connection,
//! at most [`MAX_CONNECTIONS`] at once; a connection idle for [`IDLE`]
//! (handshake included) is closed.

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use rustls::ServerConnection;

use crate::http::WebState;

pub const MAX_CONNECTIONS: usize = 64;
pub const IDLE: Duration = Duration::from_secs(30);
const ACCEPT_POLL_MS: i32 = 200;

/// Accepts on `listener` until `stop` is set.
pub(crate) fn start(
    listener: TcpListener,
    upstream: PathBuf,
    web: Arc<WebState>,
    stop: Arc<AtomicBool>,
) -> io::Result<JoinHandle<()>> {
    let active = Arc::new(AtomicUsize::new(0));
    std::thread::Builder::new()
        .name("netoproc-tls".into())
        .spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                if !readable(listener.as_raw_fd(), ACCEPT_POLL_MS) {
                    continue;
                }
                let Ok((tcp, _)) = listener.accept() else {
                    continue;
                };
                // Dropping `slot` (and `tcp`, which closes it) gives the
                // place back, also when the thread cannot be started.
                let slot = Slot::take(&active);
                let Some(config) = web.get().tls else {
                    continue;
                };
                if slot.over() {
                    continue;
                }
                let upstream = upstream.clone();
                let _ = std::thread::Builder::new()
                    .name("netoproc-tls-conn".into())
                    .spawn(move || {
                        let _slot = slot;
                        let _ = pump(tcp, config, &upstream);
                    });
            }
        })
}

/// One of the [`MAX_CONNECTIONS`] places, given back on drop.
struct Slot(Arc<AtomicUsize>, usize);

impl Slot {
    fn take(active: &Arc<AtomicUsize>) -> Self {
        let before = active.fetch_add(1, Ordering::AcqRel);
        Slot(active.clone(), before)
    }

    fn over(&self) -> bool {
        self.1 >= MAX_CONNECTIONS
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

fn poll(fds: &mut [libc::pollfd], timeout_ms: i32) -> io::Result<usize> {
    loop {
        // SAFETY: `fds` is a valid, exclusively borrowed array of pollfd.
        let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, timeout_ms) };
        if n >= 0 {
            return Ok(n as usize);
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

fn readable(fd: i32, timeout_ms: i32) -> bool {
    let mut fds = [libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    }];
    matches!(poll(&mut fds, timeout_ms), Ok(n) if n > 0)
}

fn flush(conn: &mut ServerConnection, tcp: &mut TcpStream) -> io::Result<()> {
    while conn.wants_write() {
        conn.write_tls(tcp)?;
    }
    Ok(())
}

/// One connection: TLS from `tcp`, plaintext to and from `upstream`.
fn pump(mut tcp: TcpStream, config: Arc<rustls::ServerConfig>, upstream: &Path) -> io::Result<()> {
    tcp.set_write_timeout(Some(IDLE))?;
    let mut conn = ServerConnection::new(config).map_err(io::Error::other)?;
    let mut up: Option<UnixStream> = None;
    let mut buf = vec![0u8; 16 * 1024];
    let mut tcp_eof = false;
    let idle_ms = i32::try_from(IDLE.as_millis()).unwrap_or(i32::MAX);
    loop {
        flush(&mut conn, &mut tcp)?;
        if up.is_none() && !conn.is_handshaking() {
            let u = UnixStream::connect(upstream)?;
            u.set_write_timeout(Some(IDLE))?;
            up = Some(u);
        }
        let mut fds = [
            libc::pollfd {
                fd: tcp.as_raw_fd(),
                events: if tcp_eof { 0 } else { libc::POLLIN },
                revents: 0,
            },
            libc::pollfd {
                fd: up.as_ref().map_or(-1, |u| u.as_raw_fd()),
                events: libc::POLLIN,
                revents: 0,
            },
        ];
        if poll(&mut fds, idle_ms)? == 0 {
            return Err(io::ErrorKind::TimedOut.into());
        }
        if !tcp_eof && fds[0].revents != 0 {
            if conn.read_tls(&mut tcp)? == 0 {
                tcp_eof = true;
            }
            let state = match conn.process_new_packets() {
                Ok(s) => s,
                Err(e) => {
                    let _ = flush(&mut conn, &mut tcp);
                    return Err(io::Error::other(e));
                }
            };
            let peer_closed = state.peer_has_closed();
            if state.plaintext_bytes_to_read() > 0 {
                if up.is_none() {
                    let u = UnixStream::connect(upstream)?;
                    u.set_write_timeout(Some(IDLE))?;
                    up = Some(u);
                }
                let u = up.as_mut().expect("connected above");
                loop {
                    match conn.reader().read(&mut buf) {
                        Ok(0) => break,
                        Ok(n) => u.write_all(&buf[..n])?,
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                        Err(e) => return Err(e),
                    }
                }
            }
            if peer_closed || tcp_eof {
                tcp_eof = true;
                match &up {
                    Some(u) => {
                        let _ = u.shutdown(Shutdown::Write);
                    }
                    None => return Ok(()),
                }
            }
        }
        if let Some(u) = up.as_mut() {
            if fds[1].revents != 0 {
                let n = u.read(&mut buf)?;
                if n == 0 {
                    conn.send_close_notify();
                    return flush(&mut conn, &mut tcp);
                }
                let mut off = 0;
                while off < n {
                    off += conn.writer().write(&buf[off..n])?;
                    flush(&mut conn, &mut tcp)?;
                }
            }
        }
    }
}
