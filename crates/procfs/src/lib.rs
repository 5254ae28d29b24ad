//! netoproc-procfs: what netoproc reads from `/proc` — a process's identity
//! (comm, cmdline, uid, ppid) when the kernel's own record of it is missing,
//! the kernel release, netoproc's own CPU time and memory, and the
//! container or service a process runs in ([`container_label`]). Every path is
//! under an injected root, so tests run on fixtures under `testdata/`.
//!
//! Hand-written rather than the `procfs` crate: three small, stable files
//! are read, and this keeps the root injectable and the dependency tree small.
//!
//! It also attributes sockets to processes without eBPF (the AF_PACKET
//! backend's path): [`sock_diag`] lists the kernel's TCP/UDP sockets with
//! their cookies, [`fd_index`] maps socket inodes to pids, [`proc_events`]
//! says which pids changed, [`netns`] finds the network namespaces, and
//! [`attribution::SocketResolver`] joins them, with the matching rules in
//! the pure [`socket_table`].

#![warn(missing_docs)]

pub mod attribution;
mod cgroup;
pub mod cgroup_ids;
pub mod fd_index;
pub mod identity;
mod netlink;
pub mod netns;
pub mod proc_events;
pub mod sock_diag;
pub mod socket_source;
pub mod socket_table;
pub mod sysnet;

pub use attribution::{RefreshReport, Resolution, ResolverConfig, ResolverStats, SocketResolver};
pub use cgroup::container_label;
pub use fd_index::FdIndex;
pub use identity::{HostState, IdentityReader};
pub use netns::{Netns, NetnsId};
pub use proc_events::{ProcEvent, ProcEvents, ProcEventsError};
pub use sock_diag::{InetSocket, SockDiag, SockDiagError, TcpState};
pub use socket_source::{SockDiagSource, SocketSource};
pub use socket_table::{MatchKind, SocketTable};

use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use netoproc_core::ProcessInfo;

/// A `/proc` tree (normally `/proc`).
#[derive(Debug, Clone)]
pub struct ProcRoot {
    root: PathBuf,
}

/// CPU time and memory of one process.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    /// User + system CPU time, in clock ticks.
    pub cpu_ticks: u64,
    /// Resident set size now, in KiB.
    pub rss_kib: u64,
    /// Peak resident set size, in KiB.
    pub peak_rss_kib: u64,
}

impl Default for ProcRoot {
    fn default() -> Self {
        ProcRoot::new("/proc")
    }
}

impl ProcRoot {
    /// Reads under `root` (`/proc` outside tests).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        ProcRoot { root: root.into() }
    }

    /// The `/proc` root this reads under.
    pub fn path(&self) -> &Path {
        &self.root
    }

    /// The running kernel's release, e.g. `6.1.0-26-amd64`.
    pub fn kernel_release(&self) -> io::Result<String> {
        Ok(fs::read_to_string(self.root.join("sys/kernel/osrelease"))?
            .trim()
            .to_string())
    }

    /// Identity of a live process; `None` once it has exited.
    pub fn process_info(&self, pid: u32) -> Option<ProcessInfo> {
        let dir = self.root.join(pid.to_string());
        let status = fs::read_to_string(dir.join("status")).ok()?;
        let comm = fs::read_to_string(dir.join("comm")).unwrap_or_default();
        // Any user chooses how long their argv is (up to megabytes): read
        // only what is kept.
        let mut cmdline = Vec::new();
        let _ = fs::File::open(dir.join("cmdline"))
            .and_then(|f| f.take(MAX_CMDLINE as u64 + 1).read_to_end(&mut cmdline));
        let mut info = parse_process(pid, &status, &comm, &cmdline);
        info.start_time_ns = self.start_time_ns(pid).unwrap_or(0);
        Some(info)
    }

    /// When the process `pid` now names started (ns since boot, at clock
    /// tick resolution); `None` once it has exited. One small read: tells
    /// a cached identity from a later process that reused the pid.
    pub fn start_time_ns(&self, pid: u32) -> Option<u64> {
        let stat = fs::read_to_string(self.root.join(pid.to_string()).join("stat")).ok()?;
        stat_start_ticks(&stat).map(ticks_to_ns)
    }

    /// CPU and memory use of a process (`self` for netoproc itself).
    pub fn usage(&self, pid: &str) -> io::Result<Usage> {
        let dir = self.root.join(pid);
        let stat = fs::read_to_string(dir.join("stat"))?;
        let status = fs::read_to_string(dir.join("status"))?;
        let kib = |name: &str| {
            status_field(&status, name)
                .and_then(|v| v.split_whitespace().next()?.parse().ok())
                .unwrap_or(0)
        };
        Ok(Usage {
            cpu_ticks: stat_cpu_ticks(&stat).unwrap_or(0),
            rss_kib: kib("VmRSS"),
            peak_rss_kib: kib("VmHWM"),
        })
    }
}

/// A process's identity from the text of its `status` and `comm` files
/// and the bytes of its `cmdline` (NUL-separated arguments). Whatever they
/// hold, this gives an answer: a field it cannot read is 0 or empty.
pub fn parse_process(pid: u32, status: &str, comm: &str, cmdline: &[u8]) -> ProcessInfo {
    let field = |name: &str| {
        status_field(status, name).and_then(|v| v.split_whitespace().next()?.parse().ok())
    };
    ProcessInfo {
        pid,
        ppid: field("PPid").unwrap_or(0),
        uid: field("Uid").unwrap_or(UNKNOWN_UID),
        comm: comm.trim_end().to_string(),
        cmdline: join_argv(cmdline),
        start_time_ns: 0,
    }
}

pub(crate) fn status_field<'a>(status: &'a str, name: &str) -> Option<&'a str> {
    status
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(':').map(str::trim))
}

/// The start time from `/proc/PID/stat` (field 22), in clock ticks since
/// boot.
pub fn stat_start_ticks(stat: &str) -> Option<u64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    // After ')' comes field 3; starttime is field 22.
    rest.split_whitespace().nth(19)?.parse().ok()
}

/// Clock ticks (`USER_HZ`, `sysconf(_SC_CLK_TCK)`) to ns.
fn ticks_to_ns(ticks: u64) -> u64 {
    let hz = rustix::param::clock_ticks_per_second().max(1);
    ticks.saturating_mul(1_000_000_000 / hz)
}

/// utime + stime from `/proc/PID/stat`. The command name (field 2) may hold
/// spaces and parentheses, so fields are counted after the last `)`.
pub fn stat_cpu_ticks(stat: &str) -> Option<u64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut f = rest.split_whitespace();
    // After ')' come field 3 (state) onwards; utime is field 14, stime 15.
    let utime: u64 = f.nth(11)?.parse().ok()?;
    let stime: u64 = f.next()?.parse().ok()?;
    utime.checked_add(stime)
}

pub use netoproc_core::identity::MAX_CMDLINE;
pub use netoproc_core::model::join_argv;
use netoproc_core::model::UNKNOWN_UID;

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture() -> ProcRoot {
        ProcRoot::new(concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/proc"))
    }

    #[test]
    fn reads_a_process_from_fixture() {
        let p = fixture().process_info(4242).unwrap();
        assert_eq!(p.comm, "sleep");
        assert_eq!(p.cmdline, "sleep 10");
        assert_eq!(p.ppid, 21862);
        assert_eq!(p.uid, 0);
        // Field 22 of the fixture's stat, in ns.
        assert_eq!(p.start_time_ns, ticks_to_ns(103508));
        assert!(p.start_time_ns > 0);
        assert!(fixture().process_info(1).is_none());
    }

    #[test]
    fn start_time_tells_a_live_process_and_none_once_gone() {
        let f = fixture();
        assert_eq!(f.start_time_ns(4242), Some(ticks_to_ns(103508)));
        assert_eq!(f.start_time_ns(1), None);
        let own = ProcRoot::new("/proc");
        let me = std::process::id();
        let start = own.start_time_ns(me).expect("this process");
        assert_eq!(own.process_info(me).map(|p| p.start_time_ns), Some(start));
    }

    #[test]
    fn kernel_release_and_usage() {
        assert!(!fixture().kernel_release().unwrap().is_empty());
        let u = fixture().usage("4242").unwrap();
        assert!(u.rss_kib > 0 && u.peak_rss_kib >= u.rss_kib);
    }

    #[test]
    fn stat_with_odd_command_names() {
        let s = "1 (a) b)) R 0 1 1 0 -1 0 0 0 0 0 7 5 0 0 20 0 1 0 1 1 1";
        assert_eq!(stat_cpu_ticks(s), Some(12));
        assert_eq!(stat_cpu_ticks("garbage"), None);
        assert_eq!(stat_cpu_ticks("1 (x) R 1"), None);
        assert_eq!(stat_start_ticks(s), Some(1));
        // Found by fuzz/stable: times whose sum overflows are no answer.
        let max = u64::MAX;
        let s = format!("1 (x) R 0 1 1 0 -1 0 0 0 0 0 {max} 1 0 0 20 0 1 0 1 1 1");
        assert_eq!(stat_cpu_ticks(&s), None);
        let real = "4242 (sle ep) S 1 2 3 0 -1 4 5 6 7 8 9 10 11 12 20 0 1 0 987654 1 2";
        assert_eq!(stat_start_ticks(real), Some(987654));
    }

    #[test]
    fn argv_joining() {
        assert_eq!(join_argv(b"a\0b c\0"), "a b c");
        assert_eq!(join_argv(b""), "");
    }
}
