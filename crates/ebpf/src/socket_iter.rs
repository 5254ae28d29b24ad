//! Live socket records through socket iterators (`iter/tcp`, `iter/udp`),
//! for kernels that refuse the storage map iterator. A socket iterator walks
//! only the network namespace of the thread that starts the walk, so each
//! read starts one walk per namespace: ours directly, every other from a
//! short-lived thread that enters it (`setns`, which needs `CAP_SYS_ADMIN`).
//! Namespaces are listed from `/proc/*/ns/net` and `/run/netns`, again when
//! a socket names one not seen yet (at most once a second) and every
//! [`RESCAN`] otherwise. A socket in a namespace that cannot be entered
//! still gets its final counters from its close event; the namespaces
//! skipped are reported, never hidden.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use netoproc_procfs::ProcRoot;

use crate::map_dump::{read_walk, IterLink};

/// How long a namespace list is trusted when no socket names a new one.
pub const RESCAN: Duration = Duration::from_secs(5);
/// Rescans prompted by an unknown namespace are at most this frequent.
const RESCAN_MIN: Duration = Duration::from_secs(1);

/// The two socket iterators and the namespaces they walk.
pub struct SocketIters {
    tcp: IterLink,
    udp: IterLink,
    proc: ProcRoot,
    run_netns: PathBuf,
    /// Our own namespace's inode (walked without entering it).
    own: Option<u64>,
    /// Every other namespace, by inode, with a path `setns` accepts.
    others: BTreeMap<u64, PathBuf>,
    scanned_at: Option<Instant>,
    /// A path of the list no longer named its namespace at the last read.
    stale: bool,
    buf: Vec<u8>,
    /// Namespaces that could not be entered at the last read, with why.
    pub unreachable: BTreeMap<u64, String>,
}

impl SocketIters {
    /// Walks with `tcp` and `udp` in the host's `/proc` namespaces; the
    /// namespace list is read on first use.
    pub fn new(tcp: IterLink, udp: IterLink) -> Self {
        let proc = ProcRoot::new("/proc");
        let own = proc.current_netns().ok().map(|id| id.0);
        SocketIters {
            tcp,
            udp,
            proc,
            run_netns: PathBuf::from(netoproc_procfs::netns::RUN_NETNS),
            own,
            others: BTreeMap::new(),
            scanned_at: None,
            stale: false,
            buf: Vec::with_capacity(64 * 1024),
            unreachable: BTreeMap::new(),
        }
    }

    /// One walk of every namespace: the records of every live TCP and UDP
    /// socket that has one. `named` are the namespaces the ledger's open
    /// sockets live in; one not known yet prompts a rescan.
    pub fn read_all(&mut self, named: &BTreeSet<u32>) -> io::Result<&[u8]> {
        self.rescan_if_needed(named);
        self.buf.clear();
        read_walk(self.tcp.open()?, &mut self.buf)?;
        read_walk(self.udp.open()?, &mut self.buf)?;
        if self.others.is_empty() {
            return Ok(&self.buf);
        }
        let (tcp, udp) = (&self.tcp, &self.udp);
        let others = &self.others;
        let (walks, unreachable, stale) = std::thread::scope(|s| {
            s.spawn(|| open_in_namespaces(others, tcp, udp))
                .join()
                .unwrap_or_else(|_| (Vec::new(), BTreeMap::new(), true))
        });
        self.unreachable = unreachable;
        if stale {
            // A namespace is gone or its path names another: list again soon.
            self.stale = true;
        }
        for walk in walks {
            read_walk(walk, &mut self.buf)?;
        }
        Ok(&self.buf)
    }

    fn rescan_if_needed(&mut self, named: &BTreeSet<u32>) {
        let age = self.scanned_at.map(|t| t.elapsed());
        let unknown = self.stale
            || named.iter().any(|&n| {
                n != 0 && Some(n as u64) != self.own && !self.others.contains_key(&(n as u64))
            });
        let due = match age {
            None => true,
            Some(a) => a >= RESCAN || (unknown && a >= RESCAN_MIN),
        };
        if !due {
            return;
        }
        self.scanned_at = Some(Instant::now());
        self.stale = false;
        self.others = self
            .proc
            .list_netns(&self.run_netns)
            .into_iter()
            .filter(|ns| Some(ns.id.0) != self.own)
            .map(|ns| (ns.id.0, ns.path))
            .collect();
    }

    /// How many namespaces a read walks (ours included).
    pub fn namespaces(&self) -> usize {
        1 + self.others.len()
    }
}

/// Runs on a thread of its own, which it moves from namespace to namespace
/// and which ends with the walks started: the caller's thread never changes
/// namespace.
fn open_in_namespaces(
    others: &BTreeMap<u64, PathBuf>,
    tcp: &IterLink,
    udp: &IterLink,
) -> (Vec<File>, BTreeMap<u64, String>, bool) {
    let mut walks = Vec::with_capacity(others.len() * 2);
    let mut unreachable = BTreeMap::new();
    let mut stale = false;
    for (&id, path) in others {
        match enter(id, path) {
            Ok(()) => {}
            // The namespace is gone (its last process exited): nothing to read.
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                stale = true;
                continue;
            }
            Err(e) => {
                unreachable.insert(id, format!("{}: {e}", path.display()));
                continue;
            }
        }
        for link in [tcp, udp] {
            match link.open() {
                Ok(f) => walks.push(f),
                Err(e) => {
                    unreachable.insert(id, format!("starting a socket walk: {e}"));
                }
            }
        }
    }
    (walks, unreachable, stale)
}

/// Moves the calling thread into the namespace at `path`, after checking it
/// is still namespace `id` (a pid's link may name another one by now).
fn enter(id: u64, path: &Path) -> io::Result<()> {
    let file = File::open(path)?;
    if file.metadata()?.ino() != id {
        return Err(io::Error::new(
            io::ErrorKind::NotFound,
            "the path names another namespace now",
        ));
    }
    // SAFETY: setns on a descriptor we own, for this thread only
    // (CLONE_NEWNET does not affect other threads).
    let r = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}
