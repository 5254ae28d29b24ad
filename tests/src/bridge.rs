//! A delaying, lossy link in user space, for hosts whose kernel has no
//! `netem`: two `AF_PACKET` sockets on two interfaces of a middle network
//! namespace forward every frame from one to the other, each held for a
//! fixed delay and dropped with a fixed probability from a seeded RNG (so
//! a run is repeatable). `PACKET_VNET_HDR` carries the GSO and checksum
//! state across, so super-packets are segmented and checksummed by the
//! sending side's kernel as a real link would see them.
//!
//! Hand-written with libc: a netem replacement is not a library's job, and
//! the socket calls are few.

use std::collections::VecDeque;
use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use crate::tally::{announce_ready, WireCount};
use crate::RUN_LIMIT;

/// Frames held at once per direction; more are dropped (and counted).
const QUEUE_MAX: usize = 65_536;
/// virtio_net_hdr (10 bytes) + the largest GSO frame.
const FRAME_MAX: usize = 10 + 65_536 + 64;
const PACKET_VNET_HDR: i32 = 15;

fn check(r: libc::c_int) -> io::Result<libc::c_int> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

fn setsockopt<T>(fd: &OwnedFd, level: i32, name: i32, v: &T) -> io::Result<()> {
    // SAFETY: `v` lives across the call and the length is its type's.
    check(unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            level,
            name,
            (v as *const T).cast(),
            std::mem::size_of::<T>() as libc::socklen_t,
        )
    })
    .map(drop)
}

/// A packet socket bound to `iface`, with vnet headers and a 100 ms
/// receive timeout.
fn open(iface: &str) -> io::Result<(OwnedFd, i32)> {
    let name = CString::new(iface).map_err(io::Error::other)?;
    // SAFETY: a NUL-terminated name.
    let ifindex = unsafe { libc::if_nametoindex(name.as_ptr()) } as i32;
    if ifindex == 0 {
        return Err(io::Error::other(format!("no interface {iface}")));
    }
    let proto = (libc::ETH_P_ALL as u16).to_be();
    // SAFETY: plain socket(2); the descriptor is owned right away.
    let fd = check(unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW, proto.into()) })?;
    // SAFETY: `fd` is a fresh descriptor nobody else owns.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    setsockopt(&fd, libc::SOL_PACKET, PACKET_VNET_HDR, &1i32)?;
    setsockopt(&fd, libc::SOL_SOCKET, libc::SO_RCVBUFFORCE, &(32i32 << 20))?;
    let tv = libc::timeval {
        tv_sec: 0,
        tv_usec: 100_000,
    };
    setsockopt(&fd, libc::SOL_SOCKET, libc::SO_RCVTIMEO, &tv)?;
    // SAFETY: all-zero is a valid sockaddr_ll.
    let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    sll.sll_family = libc::AF_PACKET as u16;
    sll.sll_protocol = proto;
    sll.sll_ifindex = ifindex;
    // SAFETY: `sll` is a valid sockaddr_ll of the given length.
    check(unsafe {
        libc::bind(
            fd.as_raw_fd(),
            (&sll as *const libc::sockaddr_ll).cast(),
            std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
        )
    })?;
    Ok((fd, ifindex))
}

/// xorshift64*: a seeded, repeatable loss pattern (no crate needed for
/// one line of arithmetic).
struct Rng(u64);

impl Rng {
    fn next_f64(&mut self) -> f64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        (x.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[derive(Default)]
struct Counts {
    received: AtomicU64,
    forwarded: AtomicU64,
    dropped: AtomicU64,
    overflow: AtomicU64,
}

type Queue = Arc<(Mutex<VecDeque<(Instant, Vec<u8>)>>, Condvar)>;

/// How frames cross one direction of the link.
#[derive(Clone, Copy)]
struct Impairment {
    delay: Duration,
    loss: f64,
    seed: u64,
}

/// One direction: frames read from `from` leave on `to` after the delay.
fn direction(
    from: Arc<OwnedFd>,
    from_index: i32,
    to: Arc<OwnedFd>,
    how: Impairment,
    stop: Arc<AtomicBool>,
    counts: Arc<Counts>,
) -> [thread::JoinHandle<()>; 2] {
    let Impairment { delay, loss, seed } = how;
    let queue: Queue = Arc::new((Mutex::new(VecDeque::new()), Condvar::new()));
    let (q, st, c) = (Arc::clone(&queue), Arc::clone(&stop), Arc::clone(&counts));
    let reader = thread::spawn(move || {
        let mut rng = Rng(seed.max(1));
        let mut buf = vec![0u8; FRAME_MAX];
        while !st.load(Ordering::Relaxed) {
            // SAFETY: all-zero is a valid sockaddr_ll.
            let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
            let mut len = std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t;
            // SAFETY: `buf` and `sll` are valid for the lengths given.
            let n = unsafe {
                libc::recvfrom(
                    from.as_raw_fd(),
                    buf.as_mut_ptr().cast(),
                    buf.len(),
                    0,
                    (&mut sll as *mut libc::sockaddr_ll).cast(),
                    &mut len,
                )
            };
            if n <= 0 || sll.sll_ifindex != from_index {
                continue;
            }
            // Our own sends on this interface come back as outgoing.
            if sll.sll_pkttype == libc::PACKET_OUTGOING {
                continue;
            }
            c.received.fetch_add(1, Ordering::Relaxed);
            if rng.next_f64() < loss {
                c.dropped.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            let (lock, cv) = &*q;
            let mut pending = lock.lock().expect("queue");
            if pending.len() >= QUEUE_MAX {
                c.overflow.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            pending.push_back((Instant::now() + delay, buf[..n as usize].to_vec()));
            cv.notify_one();
        }
    });
    let writer = thread::spawn(move || {
        let (lock, cv) = &*queue;
        loop {
            let mut pending = lock.lock().expect("queue");
            if stop.load(Ordering::Relaxed) {
                return;
            }
            let Some((due, _)) = pending.front() else {
                let _ = cv.wait_timeout(pending, Duration::from_millis(100));
                continue;
            };
            let now = Instant::now();
            if *due > now {
                let wait = *due - now;
                drop(pending);
                thread::sleep(wait);
                continue;
            }
            let (_, frame) = pending.pop_front().expect("front exists");
            drop(pending);
            // SAFETY: `frame` is valid for its length; the socket is bound,
            // so send(2) needs no address.
            let r = unsafe { libc::send(to.as_raw_fd(), frame.as_ptr().cast(), frame.len(), 0) };
            if r >= 0 {
                counts.forwarded.fetch_add(1, Ordering::Relaxed);
            } else {
                counts.overflow.fetch_add(1, Ordering::Relaxed);
            }
        }
    });
    [reader, writer]
}

/// Forwards frames between `a` and `b` with `delay` each way and `loss`
/// probability per frame until `stop` (or [`RUN_LIMIT`]). Prints `ready`
/// once both sockets are bound. `tx_frames`: forwarded, `rx_frames`:
/// received, `drops`: dropped on purpose; frames that could not be queued
/// or sent are added to `drops` too (and make the report's `unanswered`).
pub fn run(
    a: &str,
    b: &str,
    delay: Duration,
    loss: f64,
    seed: u64,
    stop: &AtomicBool,
) -> io::Result<(WireCount, u64)> {
    let (fa, ia) = open(a)?;
    let (fb, ib) = open(b)?;
    let (fa, fb) = (Arc::new(fa), Arc::new(fb));
    let halt = Arc::new(AtomicBool::new(false));
    let counts = Arc::new(Counts::default());
    let mut threads = Vec::new();
    threads.extend(direction(
        Arc::clone(&fa),
        ia,
        Arc::clone(&fb),
        Impairment { delay, loss, seed },
        Arc::clone(&halt),
        Arc::clone(&counts),
    ));
    threads.extend(direction(
        fb,
        ib,
        fa,
        Impairment {
            delay,
            loss,
            seed: seed.wrapping_mul(31).wrapping_add(7),
        },
        Arc::clone(&halt),
        Arc::clone(&counts),
    ));
    announce_ready();
    let start = Instant::now();
    while !stop.load(Ordering::Relaxed) && start.elapsed() < RUN_LIMIT {
        thread::sleep(Duration::from_millis(50));
    }
    halt.store(true, Ordering::Relaxed);
    for t in threads {
        let _ = t.join();
    }
    let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
    Ok((
        WireCount {
            tx_frames: get(&counts.forwarded),
            rx_frames: get(&counts.received),
            drops: get(&counts.dropped),
            ..WireCount::default()
        },
        get(&counts.overflow),
    ))
}
