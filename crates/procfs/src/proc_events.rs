//! Process lifecycle events from the kernel's proc connector
//! (`NETLINK_CONNECTOR`, `CN_IDX_PROC`/`CN_VAL_PROC`, `PROC_CN_MCAST_LISTEN`):
//! fork, exec and exit with pid and tgid, so the fd index rescans only the
//! processes that changed. [`ProcEvents`] reads them on a background thread
//! and hands them over a bounded channel; where the connector is refused
//! (no CAP_NET_ADMIN, not the initial network namespace, kernel without
//! `CONFIG_PROC_EVENTS`) it returns an error value and the caller falls back
//! to periodic full scans. Hand-written: no well-kept crate speaks the proc
//! connector (the netlink-packet-* family covers route, sock_diag, audit,
//! generic netlink, not connector), so only its socket comes from
//! `netlink-sys`. The parser takes untrusted bytes and never panics.

use std::io;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use netlink_sys::protocols::NETLINK_CONNECTOR;
use netlink_sys::Socket;

use crate::netlink::{self, read_u32, NLMSG_DONE};

const CN_IDX_PROC: u32 = 1;
const CN_VAL_PROC: u32 = 1;
const CN_MSG_LEN: usize = 20;
const PROC_CN_MCAST_LISTEN: u32 = 1;
const PROC_CN_MCAST_IGNORE: u32 = 2;
const PROC_EVENT_NONE: u32 = 0;
const PROC_EVENT_FORK: u32 = 1;
const PROC_EVENT_EXEC: u32 = 2;
const PROC_EVENT_EXIT: u32 = 0x8000_0000;
/// `struct proc_event` before its union: what, cpu, timestamp_ns.
const PROC_EVENT_HDR: usize = 16;

/// One process event. Pids are as the kernel sees them from the initial
/// pid namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProcEvent {
    /// A task was created; a new process when `child_pid == child_tgid`,
    /// else a thread.
    Fork {
        /// Thread id of the forking task.
        parent_pid: u32,
        /// Process id of the forking task.
        parent_tgid: u32,
        /// Thread id of the new task.
        child_pid: u32,
        /// Process id of the new task.
        child_tgid: u32,
    },
    /// A process replaced its image (close-on-exec descriptors are gone).
    Exec {
        /// Thread id of the task that called exec.
        pid: u32,
        /// Its process id.
        tgid: u32,
    },
    /// A task ended; the process is gone when `pid == tgid`.
    Exit {
        /// Thread id of the task that ended.
        pid: u32,
        /// Its process id.
        tgid: u32,
        /// The raw wait status (exit code and signal, as `waitpid` gives).
        exit_code: u32,
    },
    /// The kernel's answer to a subscription (`err` is a positive errno, 0
    /// for success).
    Ack {
        /// 0 for success, else a positive errno.
        err: u32,
    },
    /// Any other event (uid, gid, sid, ptrace, comm, coredump, ...).
    Other {
        /// The `PROC_EVENT_*` number.
        what: u32,
    },
    /// Events were lost (socket or channel overrun): rescan everything.
    Lost,
}

impl ProcEvent {
    /// The process whose descriptor table may have changed, and whether it
    /// is gone: `Some((tgid, exited))`. Thread-only events give `None`.
    pub fn changed_process(&self) -> Option<(u32, bool)> {
        match *self {
            ProcEvent::Fork {
                child_pid,
                child_tgid,
                ..
            } if child_pid == child_tgid => Some((child_tgid, false)),
            ProcEvent::Exec { tgid, .. } => Some((tgid, false)),
            ProcEvent::Exit { pid, tgid, .. } if pid == tgid => Some((tgid, true)),
            _ => None,
        }
    }
}

/// Why the proc connector cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ProcEventsError {
    /// EPERM/EACCES: the caller may not subscribe.
    #[error(
        "the proc connector is not permitted (before Linux 6.6 it needs CAP_NET_ADMIN in \
         the initial user namespace); falling back to periodic /proc scans"
    )]
    NotPermitted(#[source] io::Error),
    /// No connector here (another network namespace, or not built in).
    #[error(
        "the proc connector is unavailable (it exists only in the initial network \
         namespace of a kernel built with CONFIG_PROC_EVENTS); falling back to periodic /proc scans"
    )]
    Unavailable(#[source] io::Error),
    /// Any other failure opening or subscribing.
    #[error("proc connector subscription failed")]
    Io(#[source] io::Error),
}

impl ProcEventsError {
    fn classify(e: io::Error) -> ProcEventsError {
        use rustix::io::Errno;
        match Errno::from_io_error(&e) {
            Some(Errno::PERM | Errno::ACCESS) => ProcEventsError::NotPermitted(e),
            // ECONNREFUSED: no connector in this network namespace.
            Some(Errno::PROTONOSUPPORT | Errno::NOENT | Errno::CONNREFUSED) => {
                ProcEventsError::Unavailable(e)
            }
            _ => ProcEventsError::Io(e),
        }
    }
}

/// Every event in one received datagram. Malformed or foreign messages are
/// skipped; this never panics, whatever the bytes.
pub fn parse_datagram(data: &[u8]) -> Vec<ProcEvent> {
    netlink::frames(data)
        .map_while(Result::ok)
        .filter_map(|frame| parse_cn_msg(frame.payload()))
        .collect()
}

/// A `struct cn_msg` carrying a `struct proc_event`.
fn parse_cn_msg(cn: &[u8]) -> Option<ProcEvent> {
    if read_u32(cn, 0)? != CN_IDX_PROC || read_u32(cn, 4)? != CN_VAL_PROC {
        return None;
    }
    let len = usize::from(netlink::read_u16(cn, 16)?);
    let data = cn.get(CN_MSG_LEN..)?;
    parse_proc_event(data.get(..len).unwrap_or(data))
}

fn parse_proc_event(ev: &[u8]) -> Option<ProcEvent> {
    let what = read_u32(ev, 0)?;
    let d = ev.get(PROC_EVENT_HDR..)?;
    let u = |i: usize| read_u32(d, i * 4);
    Some(match what {
        PROC_EVENT_NONE => ProcEvent::Ack { err: u(0)? },
        PROC_EVENT_FORK => ProcEvent::Fork {
            parent_pid: u(0)?,
            parent_tgid: u(1)?,
            child_pid: u(2)?,
            child_tgid: u(3)?,
        },
        PROC_EVENT_EXEC => ProcEvent::Exec {
            pid: u(0)?,
            tgid: u(1)?,
        },
        PROC_EVENT_EXIT => ProcEvent::Exit {
            pid: u(0)?,
            tgid: u(1)?,
            exit_code: u(2)?,
        },
        other => ProcEvent::Other { what: other },
    })
}

/// The proc connector exists only in the initial network namespace: a
/// netoproc started in another one (a container without the host network,
/// `ip netns exec`) opens its socket there, from a thread that enters that
/// namespace (`CAP_SYS_ADMIN`) and ends; the socket keeps its namespace.
fn connector_socket() -> Result<Socket, ProcEventsError> {
    let here = crate::netns::netns_of_link(Path::new("/proc/self/ns/net")).ok();
    // Init's link may be unreadable (a supervisor that is not dumpable);
    // kthreadd (pid 2), like every kernel thread, lives in the initial
    // namespace too.
    let Some((initial, init)) = ["/proc/1/ns/net", "/proc/2/ns/net"]
        .into_iter()
        .map(Path::new)
        .find_map(|p| Some((p, crate::netns::netns_of_link(p).ok()?)))
    else {
        return Socket::new(NETLINK_CONNECTOR).map_err(ProcEventsError::classify);
    };
    let init = Some(init);
    if here.is_none() || here == init {
        return Socket::new(NETLINK_CONNECTOR).map_err(ProcEventsError::classify);
    }
    std::thread::scope(|s| {
        s.spawn(|| {
            crate::netns::enter(initial).map_err(|e| {
                ProcEventsError::Unavailable(io::Error::new(
                    e.kind(),
                    format!(
                        "entering the initial network namespace failed: {e} (needs CAP_SYS_ADMIN)"
                    ),
                ))
            })?;
            Socket::new(NETLINK_CONNECTOR).map_err(ProcEventsError::classify)
        })
        .join()
        .unwrap_or_else(|_| {
            Err(ProcEventsError::Unavailable(io::Error::other(
                "the thread opening the proc connector panicked",
            )))
        })
    })
}

/// A subscribed proc connector socket, read by the caller.
pub struct ProcConnector {
    socket: Socket,
}

impl ProcConnector {
    /// Joins the proc events group and subscribes; waits (up to one second)
    /// for the kernel's acknowledgement, so a refusal is an error here.
    pub fn subscribe() -> Result<ProcConnector, ProcEventsError> {
        let mut socket = connector_socket()?;
        socket
            .bind(&netlink_sys::SocketAddr::new(0, CN_IDX_PROC))
            .map_err(ProcEventsError::classify)?;
        let seq = std::process::id();
        let request = mcast_message(seq, PROC_CN_MCAST_LISTEN);
        socket
            .send(&request, 0)
            .map_err(ProcEventsError::classify)?;
        let mut conn = ProcConnector { socket };
        conn.set_timeout(Duration::from_millis(200))
            .map_err(ProcEventsError::Io)?;
        let deadline = Instant::now() + Duration::from_secs(1);
        let mut buf = vec![0u8; 4096];
        while Instant::now() < deadline {
            let Some(data) = conn.recv(&mut buf).map_err(ProcEventsError::classify)? else {
                continue;
            };
            for ev in parse_datagram(data) {
                if let ProcEvent::Ack { err } = ev {
                    if err != 0 {
                        return Err(ProcEventsError::classify(io::Error::from_raw_os_error(
                            err as i32,
                        )));
                    }
                    return Ok(conn);
                }
            }
        }
        Err(ProcEventsError::Unavailable(io::Error::new(
            io::ErrorKind::TimedOut,
            "no acknowledgement from the proc connector",
        )))
    }

    fn set_timeout(&mut self, t: Duration) -> io::Result<()> {
        rustix::net::sockopt::set_socket_timeout(
            &self.socket,
            rustix::net::sockopt::Timeout::Recv,
            Some(t),
        )
        .map_err(io::Error::from)
    }

    /// One raw datagram; `None` when the receive timeout passed.
    pub fn recv<'b>(&mut self, buf: &'b mut [u8]) -> io::Result<Option<&'b [u8]>> {
        match self.socket.recv(&mut &mut *buf, 0) {
            Ok(n) => Ok(Some(&buf[..n.min(buf.len())])),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                Ok(None)
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(None),
            Err(e) => Err(e),
        }
    }
}

impl std::fmt::Debug for ProcConnector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProcConnector").finish_non_exhaustive()
    }
}

impl Drop for ProcConnector {
    /// Unsubscribes, so the kernel stops building events nobody reads
    /// (older kernels count listeners only by these requests).
    fn drop(&mut self) {
        let _ = self.socket.send(&mcast_message(0, PROC_CN_MCAST_IGNORE), 0);
    }
}

/// `nlmsghdr` + `cn_msg` + a `PROC_CN_MCAST_*` operation.
fn mcast_message(seq: u32, op: u32) -> Vec<u8> {
    let total = (netlink::NLMSG_HDRLEN + CN_MSG_LEN + 4) as u32;
    let mut m = Vec::with_capacity(total as usize);
    m.extend_from_slice(&total.to_ne_bytes());
    m.extend_from_slice(&NLMSG_DONE.to_ne_bytes());
    m.extend_from_slice(&0u16.to_ne_bytes()); // flags
    m.extend_from_slice(&seq.to_ne_bytes());
    m.extend_from_slice(&std::process::id().to_ne_bytes());
    m.extend_from_slice(&CN_IDX_PROC.to_ne_bytes());
    m.extend_from_slice(&CN_VAL_PROC.to_ne_bytes());
    m.extend_from_slice(&seq.to_ne_bytes()); // cn_msg.seq
    m.extend_from_slice(&0u32.to_ne_bytes()); // cn_msg.ack
    m.extend_from_slice(&4u16.to_ne_bytes()); // cn_msg.len
    m.extend_from_slice(&0u16.to_ne_bytes()); // cn_msg.flags
    m.extend_from_slice(&op.to_ne_bytes());
    m
}

/// Proc events read on a background thread. Dropping it stops the thread.
pub struct ProcEvents {
    rx: Receiver<ProcEvent>,
    stop: Arc<AtomicBool>,
    lost: Arc<AtomicU64>,
    thread: Option<JoinHandle<()>>,
}

/// Events buffered before the reader starts dropping (and reports `Lost`).
const CHANNEL_CAPACITY: usize = 8_192;

impl ProcEvents {
    /// Subscribes and starts the reader thread.
    pub fn start() -> Result<ProcEvents, ProcEventsError> {
        let conn = ProcConnector::subscribe()?;
        let (tx, rx) = mpsc::sync_channel(CHANNEL_CAPACITY);
        let stop = Arc::new(AtomicBool::new(false));
        let lost = Arc::new(AtomicU64::new(0));
        let thread = std::thread::Builder::new()
            .name("netoproc-procev".into())
            .spawn({
                let (stop, lost) = (stop.clone(), lost.clone());
                move || read_loop(conn, tx, &stop, &lost)
            })
            .map_err(ProcEventsError::Io)?;
        Ok(ProcEvents {
            rx,
            stop,
            lost,
            thread: Some(thread),
        })
    }

    /// The events received so far, without waiting.
    pub fn drain(&self) -> impl Iterator<Item = ProcEvent> + '_ {
        self.rx.try_iter()
    }

    /// Waits up to `timeout` for the next event.
    pub fn recv_timeout(&self, timeout: Duration) -> Option<ProcEvent> {
        self.rx.recv_timeout(timeout).ok()
    }

    /// Overruns so far (kernel socket buffer or channel full).
    pub fn lost(&self) -> u64 {
        self.lost.load(Ordering::Relaxed)
    }

    /// The reader thread is still running (it stops on a socket error).
    pub fn is_running(&self) -> bool {
        self.thread.as_ref().is_some_and(|t| !t.is_finished())
    }
}

impl std::fmt::Debug for ProcEvents {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProcEvents")
            .field("lost", &self.lost())
            .field("running", &self.is_running())
            .finish()
    }
}

impl Drop for ProcEvents {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn read_loop(
    mut conn: ProcConnector,
    tx: SyncSender<ProcEvent>,
    stop: &AtomicBool,
    lost: &AtomicU64,
) {
    let mut buf = vec![0u8; 16 * 1024];
    let mut owe_lost = false;
    while !stop.load(Ordering::Relaxed) {
        if owe_lost {
            match tx.try_send(ProcEvent::Lost) {
                Ok(()) => owe_lost = false,
                Err(TrySendError::Full(_)) => {}
                Err(TrySendError::Disconnected(_)) => return,
            }
        }
        let events = match conn.recv(&mut buf) {
            Ok(Some(data)) => parse_datagram(data),
            Ok(None) => continue,
            Err(e) if rustix::io::Errno::from_io_error(&e) == Some(rustix::io::Errno::NOBUFS) => {
                vec![ProcEvent::Lost]
            }
            Err(_) => return,
        };
        for ev in events {
            if matches!(ev, ProcEvent::Lost) {
                lost.fetch_add(1, Ordering::Relaxed);
                owe_lost = true;
                continue;
            }
            if owe_lost {
                // The consumer must see `Lost` before anything newer.
                match tx.try_send(ProcEvent::Lost) {
                    Ok(()) => owe_lost = false,
                    Err(TrySendError::Full(_)) => {
                        lost.fetch_add(1, Ordering::Relaxed);
                        continue;
                    }
                    Err(TrySendError::Disconnected(_)) => return,
                }
            }
            match tx.try_send(ev) {
                Ok(()) => {}
                Err(TrySendError::Full(_)) => {
                    lost.fetch_add(1, Ordering::Relaxed);
                    owe_lost = true;
                }
                Err(TrySendError::Disconnected(_)) => return,
            }
        }
    }
}

#[cfg(test)]
#[path = "proc_events_tests.rs"]
mod tests;
