//! Where the attribution thread learns who owns a flow: the [`Owners`]
//! trait (so the attribution rules are tested with a fake, without root),
//! and [`ProcOwners`], the real one — `netoproc-procfs`'s
//! [`SocketResolver`] (sock_diag dumps joined with the `/proc/*/fd` index,
//! kept fresh by proc connector events) plus what `/proc` says of a process
//! (identity, cgroup) and which processes live in a namespace (now, and
//! recently per the [`Sightings`] of the namespace watcher), each cached
//! briefly. It answers questions; the rules that use the answers live in
//! `attribute.rs`.

use std::collections::HashMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use netoproc_core::model::ProcessInfo;
use netoproc_core::model::Protocol;
use netoproc_core::SocketCookie;
use netoproc_procfs::{
    InetSocket, NetnsId, ProcRoot, Resolution, ResolverStats, SocketResolver, TcpState,
};

use super::flow::FlowKey;
use super::sightings::Sightings;

/// The answer to "which socket is this flow's".
#[derive(Debug, Clone, Default)]
pub struct Lookup {
    /// The socket and its holders; `None` when no socket matched.
    pub found: Option<Resolution>,
    /// Not found because a fresh dump had to wait (rate limit): asking
    /// again soon may find it...
    pub rate_limited: bool,
    /// ...unless the key's namespace was dumped after the flow appeared:
    /// when it was last dumped.
    pub dumped_at: Option<Instant>,
}

/// A process as the owner of a socket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessMeta {
    /// What `/proc` said of the process.
    pub info: ProcessInfo,
    /// cgroup v2 id (the cgroup directory's inode); 0 if unknown.
    pub cgroup_id: u64,
}

/// What the attribution rules ask.
pub trait Owners {
    /// The socket of `key` and its holders, from the latest dump of the
    /// key's namespace or a fresh one.
    fn resolve(&mut self, key: &FlowKey, now: Instant) -> Lookup;
    /// Re-dumps every watched namespace.
    fn refresh(&mut self, now: Instant);
    /// Re-dumps one protocol's sockets of one namespace soon: now, unless
    /// they were dumped very recently (rate limited), for flows waiting on
    /// them. (A TCP dump walks the whole established hash table; UDP flows
    /// must not pay for it.)
    fn redump(&mut self, netns: NetnsId, protocol: Protocol, now: Instant);
    /// When the `protocol` sockets of `netns` were last dumped.
    fn dumped_at(&self, netns: NetnsId, protocol: Protocol) -> Option<Instant>;
    /// Whether the latest dump of `netns` still lists the socket as held
    /// by some process.
    fn socket_alive(&self, netns: NetnsId, cookie: SocketCookie) -> bool;
    /// Identity of a process, cached from when it was first asked about.
    fn process(&mut self, pid: u32) -> Option<ProcessMeta>;
    /// Whether the process still exists.
    fn is_alive(&self, pid: u32) -> bool;
    /// The processes (netoproc excepted) that lived in `netns` at some
    /// point since `since`: those there now and those seen starting there.
    fn candidates(&mut self, netns: NetnsId, since: Instant, now: Instant) -> Vec<u32>;
    /// The process owned a recent flow: look for new sockets there first.
    fn mark_hot(&mut self, pid: u32, now: Instant);
}

/// Processes whose meta is cached (a fresh pid per short process makes
/// this attacker-sized; pids are at most `pid_max`, up to 4 M).
const MAX_CACHED_PROCESSES: usize = 65_536;

/// Processes per namespace are re-read when older than this: the list
/// decides "the namespace's only process", so it must be recent (a
/// process that just started must not be missed).
const NETNS_PIDS_MAX_AGE: Duration = Duration::from_millis(20);
/// A namespace is re-dumped for waiting flows at most this often.
const REDUMP_EVERY: Duration = Duration::from_millis(5);
/// Descriptor tables are rescanned for a socket not placed yet at most
/// this often (a dump also rescans).
const RESCAN_EVERY: Duration = Duration::from_millis(2);
/// A namespace with at most this many processes has them all rescanned
/// when one of its sockets is not placed yet (a container, a test).
const FEW_PROCESSES: usize = 16;
/// Cached process identities older than this are re-read if the process
/// still exists (its comm may change with exec); one whose pid now names
/// a process with another start time is re-read at once.
const PROCESS_MAX_AGE: Duration = Duration::from_secs(10);

/// The real [`Owners`]: a [`SocketResolver`] and `/proc`.
pub struct ProcOwners {
    /// Tuples to sockets and holders.
    pub resolver: SocketResolver,
    proc: ProcRoot,
    cgroup_root: PathBuf,
    processes: HashMap<u32, (ProcessMeta, Instant)>,
    netns_pids: HashMap<NetnsId, Vec<u32>>,
    netns_pids_at: Option<Instant>,
    run_netns: PathBuf,
    sightings: Arc<Mutex<Sightings>>,
    dumped_at: HashMap<(NetnsId, Protocol), Instant>,
    last_rescan: Option<Instant>,
}

impl ProcOwners {
    /// Owners from `resolver`, processes read under `proc`, cgroup ids
    /// under `cgroup_root`, named namespaces under `run_netns`.
    pub fn new(
        resolver: SocketResolver,
        proc: ProcRoot,
        cgroup_root: PathBuf,
        run_netns: PathBuf,
        sightings: Arc<Mutex<Sightings>>,
    ) -> ProcOwners {
        ProcOwners {
            resolver,
            proc,
            cgroup_root,
            processes: HashMap::new(),
            netns_pids: HashMap::new(),
            netns_pids_at: None,
            run_netns,
            sightings,
            dumped_at: HashMap::new(),
            last_rescan: None,
        }
    }

    /// The resolver's counters.
    pub fn stats(&self) -> ResolverStats {
        self.resolver.stats()
    }

    fn lookup(&mut self, key: &FlowKey, now: Instant) -> Option<Resolution> {
        let dumps = self.resolver.stats().dumps;
        let found = self
            .resolver
            .resolve(key.protocol, key.local, key.remote, Some(key.netns), now)
            .cloned();
        if self.resolver.stats().dumps > dumps {
            self.dumped_at.insert((key.netns, key.protocol), now);
        }
        found
    }
}

impl Owners for ProcOwners {
    fn resolve(&mut self, key: &FlowKey, now: Instant) -> Lookup {
        let before = self.resolver.stats().rate_limited;
        let mut found = self.lookup(key, now);
        let rate_limited = found.is_none() && self.resolver.stats().rate_limited > before;
        let rescan_due = self
            .last_rescan
            .is_none_or(|t| now.saturating_duration_since(t) >= RESCAN_EVERY);
        let unplaced = found
            .as_ref()
            .filter(|r| r.pids.is_empty() && !released(&r.socket))
            .map(|r| r.socket.inode);
        if let Some(inode) = unplaced {
            // Listed but not placed: its holder is most likely one of the
            // namespace's processes (when few) — look there first, at the
            // next rescan.
            let pids = self.candidates(key.netns, now, now);
            if pids.len() <= FEW_PROCESSES {
                for pid in pids {
                    self.resolver.mark_hot(pid, now);
                }
            }
            if rescan_due {
                self.last_rescan = Some(now);
                // In the accept queue it has no inode yet: dump again (rate
                // limited) to see it accepted. Then rescan right now, not
                // at the next dump.
                if inode == 0 && self.resolver.dump_now(key.netns, key.protocol, now) {
                    self.dumped_at.insert((key.netns, key.protocol), now);
                }
                self.resolver.rescan_owners(now);
                found = self.lookup(key, now);
            }
        }
        Lookup {
            found,
            rate_limited,
            dumped_at: self.dumped_at.get(&(key.netns, key.protocol)).copied(),
        }
    }

    fn refresh(&mut self, now: Instant) {
        // A namespace that fails to dump keeps its previous table; the
        // failure is counted in the resolver's stats.
        let _ = self.resolver.refresh(now);
        self.dumped_at.clear();
        for id in self.resolver.watched_netns() {
            for p in Protocol::ALL {
                self.dumped_at.insert((id, p), now);
            }
        }
    }

    fn redump(&mut self, netns: NetnsId, protocol: Protocol, now: Instant) {
        let recent = self
            .dumped_at
            .get(&(netns, protocol))
            .is_some_and(|t| now.saturating_duration_since(*t) < REDUMP_EVERY);
        if !recent && self.resolver.dump_now(netns, protocol, now) {
            self.dumped_at.insert((netns, protocol), now);
        }
    }

    fn dumped_at(&self, netns: NetnsId, protocol: Protocol) -> Option<Instant> {
        self.dumped_at.get(&(netns, protocol)).copied()
    }

    fn socket_alive(&self, netns: NetnsId, cookie: SocketCookie) -> bool {
        // A TIME_WAIT socket keeps its cookie but no process holds it any
        // more: its owner has closed it.
        self.resolver
            .table(netns)
            .and_then(|t| t.by_cookie(cookie))
            .is_some_and(|s| s.inode != 0)
    }

    fn process(&mut self, pid: u32) -> Option<ProcessMeta> {
        let now = Instant::now();
        if let Some((meta, at)) = self.processes.get(&pid) {
            // The pid may name a later process by now (reused within the
            // cache's age): its start time tells.
            match self.proc.start_time_ns(pid) {
                None => return Some(meta.clone()),
                Some(start)
                    if start == meta.info.start_time_ns
                        && now.saturating_duration_since(*at) < PROCESS_MAX_AGE =>
                {
                    return Some(meta.clone())
                }
                Some(_) => {}
            }
        }
        let Some(meta) = process_meta(&self.proc, &self.cgroup_root, pid) else {
            // Gone: what it was when it started, if it was seen starting.
            let sightings = self.sightings.lock().unwrap_or_else(|e| e.into_inner());
            return sightings.meta(pid).cloned();
        };
        if self.processes.len() >= MAX_CACHED_PROCESSES {
            // A cache: what is dropped is read from /proc again, or from
            // the sightings once the process is gone.
            self.processes
                .retain(|_, (_, at)| now.saturating_duration_since(*at) < PROCESS_MAX_AGE);
            if self.processes.len() >= MAX_CACHED_PROCESSES {
                self.processes.clear();
            }
        }
        self.processes.insert(pid, (meta.clone(), now));
        Some(meta)
    }

    fn is_alive(&self, pid: u32) -> bool {
        self.proc.path().join(pid.to_string()).exists()
    }

    fn candidates(&mut self, netns: NetnsId, since: Instant, now: Instant) -> Vec<u32> {
        let stale = self
            .netns_pids_at
            .is_none_or(|t| now.saturating_duration_since(t) >= NETNS_PIDS_MAX_AGE);
        if stale {
            self.netns_pids = list_pids_by_netns(&self.proc, &self.run_netns);
            self.netns_pids_at = Some(now);
        }
        let mut pids = self.netns_pids.get(&netns).cloned().unwrap_or_default();
        pids.extend(
            self.sightings
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .alive_since(netns, since),
        );
        // netoproc itself never owns the traffic it watches.
        let own = std::process::id();
        pids.retain(|&p| p != own);
        pids.sort_unstable();
        pids.dedup();
        pids
    }

    fn mark_hot(&mut self, pid: u32, now: Instant) {
        self.resolver.mark_hot(pid, now);
    }
}

/// The socket's owner has let go of it: TIME_WAIT, or a TCP socket closing
/// after close(). A socket without an inode in another state is still in
/// its listener's accept queue: its owner is about to take it.
pub fn released(s: &InetSocket) -> bool {
    use TcpState::*;
    s.inode == 0
        && (s.protocol == Protocol::Udp
            || matches!(
                s.state,
                TimeWait | FinWait1 | FinWait2 | Closing | LastAck | Close
            ))
}

/// What `/proc` says of a live process, with its cgroup v2 id (the inode
/// of its directory under `cgroup_root`, 0 if unknown).
pub fn process_meta(proc: &ProcRoot, cgroup_root: &Path, pid: u32) -> Option<ProcessMeta> {
    let info = proc.process_info(pid)?;
    let path = proc.path().join(pid.to_string()).join("cgroup");
    let cgroup_id = std::fs::read_to_string(path)
        .ok()
        .and_then(|s| {
            let rel = s.lines().find_map(|l| l.strip_prefix("0::"))?.to_string();
            let dir = cgroup_root.join(rel.trim_start_matches('/'));
            std::fs::metadata(dir).ok().map(|m| m.ino())
        })
        .unwrap_or(0);
    Some(ProcessMeta { info, cgroup_id })
}

fn list_pids_by_netns(proc: &ProcRoot, run_netns: &Path) -> HashMap<NetnsId, Vec<u32>> {
    proc.list_netns(run_netns)
        .into_iter()
        .map(|n| (n.id, n.pids))
        .collect()
}
