//! Return probes with room for many calls in flight (kprobe rung). The kernel
//! gives each kretprobe a fixed pool of instances, by default
//! max(10, 2 × CPUs); a call that starts while all are in use is not reported
//! when it returns, so its bytes would be missing. Ten threads blocked in
//! `recvmsg` are enough for that on a busy host. aya 0.14 creates kprobes
//! through the perf kprobe PMU, which cannot ask for a bigger pool, so the
//! return probes are created here through tracefs (`r4096:` in
//! `kprobe_events`, the kernel's maximum), bound to the program with
//! `perf_event_open` + `PERF_EVENT_IOC_SET_BPF`, and removed again on drop.
//! What the kernel still misses is read from `kprobe_profile`. Where no
//! tracefs is visible (`ip netns exec` mounts a fresh /sys without it), one
//! is mounted where only netoproc sees it ([`Tracefs::find`]).

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::error::TracefsError;

/// Kretprobe instances asked for (`KRETPROBE_MAXACTIVE_MAX` in the kernel).
pub const MAXACTIVE: u32 = 4096;

/// Event names start with this, then the pid of the netoproc that made them.
const PREFIX: &str = "netoproc_";

const PERF_TYPE_TRACEPOINT: u32 = 2;
const PERF_FLAG_FD_CLOEXEC: libc::c_ulong = 8;
/// `_IO('$', 0)`.
const PERF_EVENT_IOC_ENABLE: libc::c_ulong = 0x2400;
/// `_IOW('$', 8, __u32)`.
const PERF_EVENT_IOC_SET_BPF: libc::c_ulong = 0x4004_2408;

/// `struct perf_event_attr` up to `config1` (`PERF_ATTR_SIZE_VER0`); the
/// kernel treats the fields after it as zero.
#[repr(C)]
#[derive(Default)]
struct PerfEventAttr {
    kind: u32,
    size: u32,
    config: u64,
    sample_period: u64,
    sample_type: u64,
    read_format: u64,
    flags: u64,
    wakeup_events: u32,
    bp_type: u32,
    config1: u64,
}
const _: () = assert!(std::mem::size_of::<PerfEventAttr>() == 64);

/// The tracefs directory that has `kprobe_events`, if any is mounted.
pub fn tracefs_root() -> Option<PathBuf> {
    ["/sys/kernel/tracing", "/sys/kernel/debug/tracing"]
        .into_iter()
        .map(PathBuf::from)
        .find(|d| d.join("kprobe_events").exists())
}

/// A tracefs to create return probes through: a mounted one, else one
/// mounted privately (kept alive by its open directory, reached as
/// `/proc/self/fd/N`).
#[derive(Debug, Clone)]
pub struct Tracefs {
    /// The tracefs directory holding `kprobe_events`.
    pub root: PathBuf,
    /// Whether it was mounted by netoproc, for netoproc only.
    pub private: bool,
    _mount: Option<Arc<File>>,
}

impl Tracefs {
    /// The mounted tracefs; else a private mount (needs `CAP_SYS_ADMIN`);
    /// `None` when neither works.
    pub fn find() -> Option<Tracefs> {
        if let Some(root) = tracefs_root() {
            return Some(Tracefs {
                root,
                private: false,
                _mount: None,
            });
        }
        let dir = crate::cgroup::mount_private(
            c"tracefs",
            &["/sys/kernel/tracing", "/sys/kernel/debug", "/mnt", "/tmp"],
        )
        .ok()?;
        let root = PathBuf::from(format!("/proc/self/fd/{}", dir.as_raw_fd()));
        root.join("kprobe_events").exists().then(|| Tracefs {
            root,
            private: true,
            _mount: Some(Arc::new(dir)),
        })
    }
}

/// One return probe, attached to a program, removed on drop.
#[derive(Debug)]
pub struct TracefsKretprobe {
    /// The BPF program it runs.
    pub program: &'static str,
    /// Its tracefs (held: a private mount lives as long as its probes).
    tracefs: Tracefs,
    name: String,
    perf: Option<OwnedFd>,
}

impl TracefsKretprobe {
    /// Creates `r4096:kprobes/netoproc_<pid>_<function> <function>` and runs
    /// `prog` (a loaded kprobe program) at every return of `function`.
    pub fn attach(
        tracefs: &Tracefs,
        program: &'static str,
        prog: BorrowedFd<'_>,
        function: &str,
    ) -> Result<Self, TracefsError> {
        let root = &tracefs.root;
        let name = format!("{PREFIX}{}_{function}", std::process::id());
        write_events(root, &format!("r{MAXACTIVE}:kprobes/{name} {function}"))?;
        // From here on, drop removes the event again.
        let mut probe = TracefsKretprobe {
            program,
            tracefs: tracefs.clone(),
            name,
            perf: None,
        };
        let id_path = probe
            .tracefs
            .root
            .join("events/kprobes")
            .join(&probe.name)
            .join("id");
        let id: u64 = fs::read_to_string(&id_path)
            .map_err(|source| TracefsError::Id {
                path: id_path.clone(),
                source,
            })?
            .trim()
            .parse()
            .map_err(|source| TracefsError::BadId {
                path: id_path.clone(),
                source,
            })?;
        let perf = perf_event_open_tracepoint(id).map_err(TracefsError::perf("perf_event_open"))?;
        ioctl(
            &perf,
            PERF_EVENT_IOC_SET_BPF,
            prog.as_raw_fd() as libc::c_ulong,
        )
        .map_err(TracefsError::perf("PERF_EVENT_IOC_SET_BPF"))?;
        ioctl(&perf, PERF_EVENT_IOC_ENABLE, 0)
            .map_err(TracefsError::perf("PERF_EVENT_IOC_ENABLE"))?;
        probe.perf = Some(perf);
        Ok(probe)
    }
}

/// Returns the kernel could not report, summed over `probes`
/// (`kprobe_profile`'s nmissed: since Linux 5.17 it includes the returns
/// that found no free instance). One read of the profile for all of them.
pub fn missed_returns(probes: &[TracefsKretprobe]) -> u64 {
    let Some(first) = probes.first() else {
        return 0;
    };
    let Ok(text) = fs::read_to_string(first.tracefs.root.join("kprobe_profile")) else {
        return 0;
    };
    probes
        .iter()
        .filter_map(|p| parse_nmissed(&text, &p.name))
        .sum()
}

impl Drop for TracefsKretprobe {
    fn drop(&mut self) {
        // The event can only be removed once no perf event uses it.
        drop(self.perf.take());
        let _ = write_events(&self.tracefs.root, &format!("-:kprobes/{}", self.name));
    }
}

/// Removes return probes left behind by a netoproc that did not exit
/// cleanly (killed with SIGKILL); each would keep 4096 instances allocated.
pub fn remove_stale(root: &Path) {
    let Ok(text) = fs::read_to_string(root.join("kprobe_events")) else {
        return;
    };
    let alive = |pid: u32| Path::new(&format!("/proc/{pid}")).exists();
    for name in stale_events(&text, alive) {
        let _ = write_events(root, &format!("-:kprobes/{name}"));
    }
}

/// Appends one command to `kprobe_events`. Opening it without `O_APPEND`
/// would truncate it, removing every kprobe event on the system.
fn write_events(root: &Path, command: &str) -> Result<(), TracefsError> {
    let path = root.join("kprobe_events");
    OpenOptions::new()
        .append(true)
        .open(&path)
        .and_then(|mut f| f.write_all(format!("{command}\n").as_bytes()))
        .map_err(|source| TracefsError::Events {
            path,
            command: command.to_string(),
            source,
        })
}

fn perf_event_open_tracepoint(id: u64) -> io::Result<OwnedFd> {
    let attr = PerfEventAttr {
        kind: PERF_TYPE_TRACEPOINT,
        size: std::mem::size_of::<PerfEventAttr>() as u32,
        config: id,
        sample_period: 1,
        wakeup_events: 1,
        ..Default::default()
    };
    // SAFETY: attr is a valid, zero-padded perf_event_attr of the size it
    // states; pid -1 with cpu 0 is the form the kernel takes for a BPF
    // program on a trace event (it then runs on every CPU).
    let fd = unsafe {
        libc::syscall(
            libc::SYS_perf_event_open,
            &attr as *const PerfEventAttr,
            -1 as libc::pid_t,
            0 as libc::c_int,
            -1 as libc::c_int,
            PERF_FLAG_FD_CLOEXEC,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a new file descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

fn ioctl(fd: &OwnedFd, request: libc::c_ulong, arg: libc::c_ulong) -> io::Result<()> {
    // SAFETY: both requests take an integer argument, not a pointer.
    let ret = unsafe { libc::ioctl(fd.as_raw_fd(), request as _, arg) };
    if ret < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// The nmissed column of `name`'s line in `kprobe_profile`
/// (`  <name> <nhit> <nmissed>`).
fn parse_nmissed(profile: &str, name: &str) -> Option<u64> {
    profile.lines().find_map(|l| {
        let mut cols = l.split_whitespace();
        if cols.next()? != name {
            return None;
        }
        cols.nth(1)?.parse().ok()
    })
}

/// Names of our events in `kprobe_events` (`r4096:kprobes/<name> <func>`)
/// whose netoproc is gone.
fn stale_events(events: &str, alive: impl Fn(u32) -> bool) -> Vec<String> {
    events
        .lines()
        .filter_map(|l| {
            let (_, rest) = l.split_once(":kprobes/")?;
            let name = rest.split_whitespace().next()?;
            let pid: u32 = name.strip_prefix(PREFIX)?.split('_').next()?.parse().ok()?;
            (!alive(pid)).then(|| name.to_string())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nmissed_is_the_third_column_of_the_named_line() {
        let profile = "  netoproc_12_inet_recvmsg                     4711          3\n  \
                       netoproc_12_inet6_recvmsg                      17          0\n";
        assert_eq!(parse_nmissed(profile, "netoproc_12_inet_recvmsg"), Some(3));
        assert_eq!(parse_nmissed(profile, "netoproc_12_inet6_recvmsg"), Some(0));
        assert_eq!(parse_nmissed(profile, "netoproc_12_inet"), None);
        assert_eq!(parse_nmissed("", "x"), None);
    }

    #[test]
    fn only_events_of_dead_netoprocs_are_stale() {
        let events = "r4096:kprobes/netoproc_100_inet_recvmsg inet_recvmsg\n\
                      r4096:kprobes/netoproc_200_inet_recvmsg inet_recvmsg\n\
                      p:kprobes/other_tool do_sys_open\n\
                      r:kprobes/netoproc_x_bad inet_recvmsg\n";
        assert_eq!(
            stale_events(events, |pid| pid == 200),
            vec!["netoproc_100_inet_recvmsg".to_string()]
        );
    }
}
