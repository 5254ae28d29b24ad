//! Reducing the capabilities of every thread, not only the caller's.
//! Linux keeps capability sets, the bounding set and no-new-privs per
//! thread, and the backends have already started their threads (ring
//! readers, attribution, namespace watcher) when capture is set up; a
//! `capset` on the main thread alone would leave them privileged. Each
//! thread must make the calls itself, so every thread is signalled and its
//! handler makes them (what libcap's `libpsx` does for C programs; no Rust
//! library does it, and the `caps` crate allocates, which a signal handler
//! must not). Success is read back from `/proc/self/task/*/status`, and
//! threads started meanwhile are caught by the next round.

use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::{DropError, ThreadCaps};

/// Capabilities every thread keeps, set before any thread is signalled.
static KEEP: AtomicU64 = AtomicU64::new(0);
/// Whether threads also cut their bounding set (needs `CAP_SETPCAP`).
static BOUNDING: AtomicBool = AtomicBool::new(false);
/// The highest capability number this kernel knows.
static LAST_CAP: AtomicU64 = AtomicU64::new(40);
/// The errno of the last call that failed in some thread, 0 if none.
static FAILED: AtomicI32 = AtomicI32::new(0);

/// Rounds of signalling before giving up, and how long one waits.
const ROUNDS: u32 = 20;
const ROUND_WAIT: Duration = Duration::from_millis(100);

/// `_LINUX_CAPABILITY_VERSION_3`: two 32-bit words per set.
const CAPABILITY_VERSION_3: u32 = 0x2008_0522;

#[repr(C)]
struct CapHeader {
    version: u32,
    pid: libc::c_int,
}

#[repr(C)]
#[derive(Clone, Copy)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

/// Makes every thread of the process keep only `keep` (and cut its
/// bounding set to it when `bounding`), with no-new-privs set.
pub fn reduce(keep: u64, bounding: bool) -> Result<(), DropError> {
    KEEP.store(keep, Ordering::SeqCst);
    BOUNDING.store(bounding, Ordering::SeqCst);
    if let Some(last) = std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
        .ok()
        .and_then(|s| s.trim().parse::<u64>().ok())
    {
        LAST_CAP.store(last.min(63), Ordering::SeqCst);
    }
    let signal = install_handler()?;
    reduce_this_thread();
    // SAFETY: getpid has no preconditions.
    let pid = unsafe { libc::getpid() };
    let mut behind = Vec::new();
    for _ in 0..ROUNDS {
        behind = threads_behind(keep)?;
        if behind.is_empty() {
            return Ok(());
        }
        if let Some(errno) = nonzero(FAILED.load(Ordering::SeqCst)) {
            return Err(DropError::InThread(std::io::Error::from_raw_os_error(
                errno,
            )));
        }
        for &tid in &behind {
            // SAFETY: tgkill with our own pid; a thread that has exited
            // meanwhile gives ESRCH, which is fine.
            unsafe { libc::syscall(libc::SYS_tgkill, pid, tid, signal) };
        }
        let until = Instant::now() + ROUND_WAIT;
        while Instant::now() < until && !threads_behind(keep)?.is_empty() {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    Err(DropError::Kept {
        rounds: ROUNDS,
        threads: behind,
    })
}

fn nonzero(v: i32) -> Option<i32> {
    (v != 0).then_some(v)
}

/// Threads of this process whose status shows more than `keep`.
fn threads_behind(keep: u64) -> Result<Vec<libc::pid_t>, DropError> {
    let dir = std::fs::read_dir("/proc/self/task").map_err(DropError::ListThreads)?;
    let mut behind = Vec::new();
    for entry in dir.flatten() {
        let Some(tid) = entry.file_name().to_str().and_then(|s| s.parse().ok()) else {
            continue;
        };
        // A thread that exited between the listing and the read is gone.
        let Ok(status) = std::fs::read_to_string(entry.path().join("status")) else {
            continue;
        };
        if !ThreadCaps::parse(&status).is_some_and(|c| c.reduced_to(keep)) {
            behind.push(tid);
        }
    }
    Ok(behind)
}

/// A real-time signal of ours; its handler reduces the thread it runs on.
fn install_handler() -> Result<libc::c_int, DropError> {
    let signal = libc::SIGRTMIN() + 6;
    // SAFETY: a zeroed sigaction is valid (empty mask, no flags); the
    // handler only makes async-signal-safe system calls.
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
        action.sa_flags = libc::SA_RESTART;
        libc::sigemptyset(&mut action.sa_mask);
        if libc::sigaction(signal, &action, std::ptr::null_mut()) != 0 {
            return Err(DropError::Handler(std::io::Error::last_os_error()));
        }
    }
    Ok(signal)
}

extern "C" fn on_signal(_: libc::c_int) {
    // SAFETY: errno is thread-local; saved and restored so the code the
    // signal interrupted sees its own.
    let errno = unsafe { *libc::__errno_location() };
    reduce_this_thread();
    // SAFETY: as above.
    unsafe { *libc::__errno_location() = errno };
}

/// Reduces the calling thread. Async-signal-safe: atomics and raw system
/// calls only.
fn reduce_this_thread() {
    let keep = KEEP.load(Ordering::SeqCst);
    let fail = |rc: libc::c_long| {
        if rc < 0 {
            // SAFETY: reading this thread's errno.
            FAILED.store(unsafe { *libc::__errno_location() }, Ordering::SeqCst);
        }
    };
    // SAFETY (all calls below): prctl and capset with arguments of the
    // documented types; they change only this thread's credentials.
    unsafe {
        if BOUNDING.load(Ordering::SeqCst) {
            for cap in 0..=LAST_CAP.load(Ordering::SeqCst) {
                if keep & (1 << cap) == 0 {
                    // EINVAL for a capability the kernel does not know.
                    libc::prctl(libc::PR_CAPBSET_DROP, cap as libc::c_ulong, 0, 0, 0);
                }
            }
        }
        // EINVAL on kernels without ambient capabilities (before 4.3).
        libc::prctl(
            libc::PR_CAP_AMBIENT,
            libc::PR_CAP_AMBIENT_CLEAR_ALL as libc::c_ulong,
            0,
            0,
            0,
        );
        let header = CapHeader {
            version: CAPABILITY_VERSION_3,
            pid: 0,
        };
        let set = |lo: bool| {
            let v = if lo { keep as u32 } else { (keep >> 32) as u32 };
            CapData {
                effective: v,
                permitted: v,
                inheritable: 0,
            }
        };
        let data = [set(true), set(false)];
        fail(libc::syscall(libc::SYS_capset, &header, data.as_ptr()));
        fail(libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) as libc::c_long);
    }
}
