//! Packet → socket → process without eBPF: [`SocketResolver`] answers
//! "which socket, held by which pids, does this (protocol, local, remote)
//! belong to" by joining sock_diag socket tables (one per watched network
//! namespace, matched by the rules of `socket_table`) with the `/proc` fd
//! index. Answers are cached per tuple; `refresh` re-dumps the sockets and
//! updates the fd index from proc events (or by full scans where those are
//! refused); an unknown tuple triggers an immediate re-dump, rate limited so
//! a flood of unknown tuples costs at most one dump per interval. Time is a
//! parameter (`now`), sockets come through [`SocketSource`], so all of this
//! is tested on fixtures. It attributes; it never counts traffic.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Instant;

use netoproc_core::Protocol;

use crate::fd_index::FdIndex;
use crate::netns::NetnsId;
use crate::proc_events::{ProcEvent, ProcEvents, ProcEventsError};
use crate::sock_diag::{InetSocket, SockDiagError};
use crate::socket_source::{SockDiagSource, SocketSource};
use crate::socket_table::{canonical, MatchKind, SocketTable};
use crate::ProcRoot;

/// The socket a tuple belongs to and who holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolution {
    /// The socket, as the namespace's latest dump listed it.
    pub socket: InetSocket,
    /// The network namespace it was found in.
    pub netns: NetnsId,
    /// Processes holding the socket, ascending; empty when none is known
    /// (TIME_WAIT, kernel sockets, a process outside this `/proc`).
    pub pids: Vec<u32>,
    /// Which rule matched: exact tuple, bound address, or wildcard.
    pub matched: MatchKind,
}

/// What one refresh did.
#[derive(Debug, Default)]
pub struct RefreshReport {
    /// Namespaces dumped successfully.
    pub namespaces: usize,
    /// Sockets held over all watched namespaces afterwards.
    pub sockets: usize,
    /// The fd index was rebuilt by a full `/proc/*/fd` scan.
    pub full_scan: bool,
    /// Processes whose descriptors were rescanned one by one.
    pub pids_rescanned: usize,
    /// Namespaces whose dump failed (their previous table is kept).
    pub errors: Vec<(NetnsId, SockDiagError)>,
}

#[derive(Debug)]
struct Namespace {
    path: Option<PathBuf>,
    table: SocketTable,
    generation: u64,
    /// Watched on request (kept even when no process lives in it).
    pinned: bool,
    /// Last [`SocketResolver::dump_now`] of it, per protocol
    /// ([`protocol_slot`]).
    last_dump_now: [Option<Instant>; 2],
    /// An open nsfs file of the namespace, when the watcher handed one
    /// over ([`SocketResolver::watch_netns_held`]): `path` is then its
    /// `/proc/self/fd/N`, which reaches the namespace for as long as it is
    /// watched, whatever became of the process it was found through.
    held: Option<std::fs::File>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct CacheKey {
    netns: Option<NetnsId>,
    protocol: Protocol,
    local: SocketAddr,
    remote: SocketAddr,
}

#[derive(Debug)]
struct CacheEntry {
    resolution: Resolution,
    generation: u64,
    /// The fd index as of the answer: an ownerless answer is retried once
    /// the index changed.
    fd_epoch: u64,
    last_used: Instant,
}

/// Resolves packet tuples to sockets and processes; see the module docs.
pub struct SocketResolver<S: SocketSource = SockDiagSource> {
    proc: ProcRoot,
    source: S,
    config: ResolverConfig,
    current: NetnsId,
    namespaces: HashMap<NetnsId, Namespace>,
    next_generation: u64,
    fds: FdIndex,
    /// Bumped whenever the fd index changes.
    fd_epoch: u64,
    events: Option<ProcEvents>,
    event_driven: bool,
    need_full_scan: bool,
    dirty: BTreeSet<u32>,
    hot: HashMap<u32, Instant>,
    /// Inodes a full scan could not place: no new full scan for them.
    unowned: HashSet<u64>,
    last_full_scan: Option<Instant>,
    /// Per protocol ([`protocol_slot`]): a flood of unknown UDP tuples
    /// does not hold back the dump a new TCP connection needs.
    last_on_demand: [Option<Instant>; 2],
    /// Start of the current exact-lookup window and lookups made in it.
    exact_budget: (Option<Instant>, u32),
    cache: HashMap<CacheKey, CacheEntry>,
    stats: ResolverStats,
}

impl SocketResolver<SockDiagSource> {
    /// A resolver over the real sock_diag, for the namespace `proc` says
    /// is ours (and all others, per `config`). Call [`Self::refresh`] before
    /// the first lookup, and [`Self::start_proc_events`] to go incremental.
    pub fn new(proc: ProcRoot, config: ResolverConfig) -> std::io::Result<Self> {
        let current = proc.current_netns()?;
        Ok(SocketResolver::with_source(
            proc,
            SockDiagSource::new(),
            current,
            config,
        ))
    }
}

impl<S: SocketSource> SocketResolver<S> {
    /// A resolver over `source`, watching `current` (the caller's own
    /// namespace) only; nothing is dumped or scanned until the first
    /// refresh or lookup.
    pub fn with_source(
        proc: ProcRoot,
        source: S,
        current: NetnsId,
        config: ResolverConfig,
    ) -> Self {
        let mut namespaces = HashMap::new();
        namespaces.insert(current, Namespace::new(None, true));
        SocketResolver {
            proc,
            source,
            config,
            current,
            namespaces,
            next_generation: 1,
            fds: FdIndex::new(),
            fd_epoch: 0,
            events: None,
            event_driven: false,
            need_full_scan: true,
            dirty: BTreeSet::new(),
            hot: HashMap::new(),
            unowned: HashSet::new(),
            last_full_scan: None,
            last_on_demand: [None; 2],
            exact_budget: (None, 0),
            cache: HashMap::new(),
            stats: ResolverStats::default(),
        }
    }

    /// Subscribes to proc events so the fd index is updated per process.
    /// On error the resolver keeps using full scans; the error says why.
    pub fn start_proc_events(&mut self) -> Result<(), ProcEventsError> {
        self.events = Some(ProcEvents::start()?);
        self.event_driven = true;
        Ok(())
    }

    /// Feeds process events (from [`ProcEvents`] or a test); the fd index
    /// becomes event driven from now on.
    pub fn note_proc_events(&mut self, events: impl IntoIterator<Item = ProcEvent>, now: Instant) {
        self.event_driven = true;
        for ev in events {
            self.stats.proc_events += 1;
            if ev == ProcEvent::Lost {
                self.stats.proc_events_lost += 1;
                self.need_full_scan = true;
            }
            match ev.changed_process() {
                Some((tgid, true)) => {
                    self.fd_epoch += u64::from(self.fds.remove_pid(tgid));
                    self.dirty.remove(&tgid);
                    self.hot.remove(&tgid);
                }
                Some((tgid, false)) => {
                    self.dirty.insert(tgid);
                    self.hot.insert(tgid, now);
                }
                None => {}
            }
        }
    }

    /// Also watch the namespace at `path` (kept until [`Self::unwatch_netns`]).
    pub fn watch_netns(&mut self, id: NetnsId, path: PathBuf) {
        let ns = self
            .namespaces
            .entry(id)
            .or_insert_with(|| Namespace::new(Some(path.clone()), true));
        ns.pinned = true;
        if id != self.current {
            ns.path = Some(path);
        }
    }

    /// [`Self::watch_netns`] through an open nsfs file of the namespace
    /// (its `/proc/PID/ns/net` opened while that process lived): a
    /// namespace first seen through a short-lived process stays dumpable
    /// after the process exits. Its `ns/net` link dies with it; a path
    /// kept from it made every later dump of the namespace fail, so the
    /// traffic of a namespace made after netoproc started had no owners.
    pub fn watch_netns_held(&mut self, id: NetnsId, file: std::fs::File) {
        use std::os::fd::AsRawFd;
        let path = self
            .proc
            .path()
            .join("self/fd")
            .join(file.as_raw_fd().to_string());
        self.watch_netns(id, path);
        if id != self.current {
            if let Some(ns) = self.namespaces.get_mut(&id) {
                ns.held = Some(file);
            }
        }
    }

    /// Stops dumping namespace `id` and forgets its sockets; the caller's
    /// own namespace is always kept.
    pub fn unwatch_netns(&mut self, id: NetnsId) {
        if id != self.current && self.namespaces.remove(&id).is_some() {
            self.source.forget(id);
        }
    }

    /// Re-dumps every watched namespace and brings the fd index up to date.
    /// Fails only when the caller's own namespace cannot be dumped.
    pub fn refresh(&mut self, now: Instant) -> Result<RefreshReport, SockDiagError> {
        if let Some(dir) = self.config.all_namespaces.clone() {
            self.discover_namespaces(&dir);
        }
        let ids: Vec<NetnsId> = self.namespaces.keys().copied().collect();
        let mut report = self.reload(&ids, &Protocol::ALL, now);
        if let Some(at) = report.errors.iter().position(|(id, _)| *id == self.current) {
            return Err(report.errors.swap_remove(at).1);
        }
        self.cache
            .retain(|_, e| now.saturating_duration_since(e.last_used) < self.config.cache_ttl);
        self.hot
            .retain(|_, t| now.saturating_duration_since(*t) < self.config.hot_window);
        Ok(report)
    }

    /// The socket `local`↔`remote` belongs to, in namespace `netns` (`None`:
    /// the caller's first, then every watched one). For a packet, ask with
    /// (src, dst) for the sender's socket and (dst, src) for the receiver's.
    pub fn resolve(
        &mut self,
        protocol: Protocol,
        local: SocketAddr,
        remote: SocketAddr,
        netns: Option<NetnsId>,
        now: Instant,
    ) -> Option<&Resolution> {
        self.stats.lookups += 1;
        let key = CacheKey {
            netns,
            protocol,
            local: canonical(local),
            remote: canonical(remote),
        };
        let fresh = self.cache.get(&key).is_some_and(|e| {
            self.namespaces
                .get(&e.resolution.netns)
                .map(|n| n.generation)
                == Some(e.generation)
                && (!e.resolution.pids.is_empty() || e.fd_epoch == self.fd_epoch)
        });
        if fresh {
            self.stats.cache_hits += 1;
            return self.answer(key, now);
        }
        let mut found = self.find(&key);
        if found.is_none() && !self.cache.contains_key(&key) {
            found = self.on_demand(&key, now);
        }
        match found {
            Some((resolution, generation)) => {
                let keep_old = resolution.socket.inode == 0
                    && self.cache.get(&key).is_some_and(|old| {
                        old.resolution.socket.cookie == resolution.socket.cookie
                            && old.resolution.socket.inode != 0
                    });
                let e = self.cache.entry(key).or_insert(CacheEntry {
                    resolution: resolution.clone(),
                    generation,
                    fd_epoch: self.fd_epoch,
                    last_used: now,
                });
                if !keep_old {
                    e.resolution = resolution;
                }
                e.generation = generation;
                e.fd_epoch = self.fd_epoch;
                self.answer(key, now)
            }
            // The socket is gone from the latest dump (a FIN after close):
            // the last answer still names the right owner.
            None if self.cache.contains_key(&key) => {
                self.stats.from_closed += 1;
                self.answer(key, now)
            }
            None => {
                self.stats.unresolved += 1;
                None
            }
        }
    }

    /// Counters of the work done so far.
    pub fn stats(&self) -> ResolverStats {
        self.stats
    }

    /// Proc events are delivered (live or fed): the fd index is updated
    /// per process rather than by full scans.
    pub fn is_event_driven(&self) -> bool {
        self.event_driven
    }

    /// Which process holds which socket inode, as of the last scan.
    pub fn fd_index(&self) -> &FdIndex {
        &self.fds
    }

    /// The namespace netoproc itself runs in (always watched).
    pub fn current_netns(&self) -> NetnsId {
        self.current
    }

    /// The latest socket table of a watched namespace.
    pub fn table(&self, netns: NetnsId) -> Option<&SocketTable> {
        self.namespaces.get(&netns).map(|n| &n.table)
    }

    /// Every namespace watched, the current one included, ascending.
    pub fn watched_netns(&self) -> Vec<NetnsId> {
        let mut v: Vec<NetnsId> = self.namespaces.keys().copied().collect();
        v.sort();
        v
    }

    fn answer(&mut self, key: CacheKey, now: Instant) -> Option<&Resolution> {
        let e = self.cache.get_mut(&key)?;
        e.last_used = now;
        self.stats.resolved += 1;
        if e.resolution.pids.is_empty() {
            self.stats.ownerless += 1;
        }
        Some(&e.resolution)
    }

    fn find(&self, key: &CacheKey) -> Option<(Resolution, u64)> {
        let mut order: Vec<NetnsId> = match key.netns {
            Some(id) => vec![id],
            None => self.watched_netns(),
        };
        if key.netns.is_none() {
            order.sort_by_key(|id| *id != self.current);
        }
        // Across namespaces an exact match beats a listener fallback.
        let mut hits = order.into_iter().filter_map(|id| {
            let ns = self.namespaces.get(&id)?;
            let (socket, matched) = ns.table.lookup(key.protocol, key.local, key.remote)?;
            Some((id, ns.generation, socket, matched))
        });
        let first = hits.next()?;
        let (id, generation, socket, matched) = if first.3 == MatchKind::Exact {
            first
        } else {
            hits.find(|h| h.3 == MatchKind::Exact).unwrap_or(first)
        };
        let pids = if socket.inode == 0 {
            Vec::new()
        } else {
            self.fds.owners(socket.inode).to_vec()
        };
        let resolution = Resolution {
            socket: *socket,
            netns: id,
            pids,
            matched,
        };
        Some((resolution, generation))
    }

    fn on_demand(&mut self, key: &CacheKey, now: Instant) -> Option<(Resolution, u64)> {
        if let Some(found) = self.exact_lookup(key, now) {
            return Some(found);
        }
        let slot = protocol_slot(key.protocol);
        let allowed = self.last_on_demand[slot]
            .is_none_or(|t| now.saturating_duration_since(t) >= self.config.min_on_demand_interval);
        if !allowed {
            self.stats.rate_limited += 1;
            return None;
        }
        self.last_on_demand[slot] = Some(now);
        let ids: Vec<NetnsId> = match key.netns {
            Some(id) if self.namespaces.contains_key(&id) => vec![id],
            Some(_) => return None,
            None => self.namespaces.keys().copied().collect(),
        };
        let before = self.stats.dumps;
        // Only the key's protocol: a UDP miss does not walk the TCP tables.
        self.reload(&ids, &[key.protocol], now);
        self.stats.on_demand_dumps += self.stats.dumps - before;
        self.find(key)
    }
}

mod config;
mod refresh;

pub use config::{ResolverConfig, ResolverStats};

impl Namespace {
    fn new(path: Option<PathBuf>, pinned: bool) -> Namespace {
        Namespace {
            path,
            table: SocketTable::default(),
            generation: 0,
            pinned,
            last_dump_now: [None; 2],
            held: None,
        }
    }
}

impl<S: SocketSource> SocketResolver<S> {
    /// Asks the kernel for the key's one socket by its tuple (a hash lookup,
    /// no table walk) and adds it to its namespace's table; within a budget
    /// per `min_on_demand_interval`. Only for a key in one known namespace.
    fn exact_lookup(&mut self, key: &CacheKey, now: Instant) -> Option<(Resolution, u64)> {
        let id = key.netns?;
        let ns = self.namespaces.get(&id)?;
        let (start, used) = self.exact_budget;
        let window_over = start
            .is_none_or(|t| now.saturating_duration_since(t) >= self.config.min_on_demand_interval);
        if window_over {
            self.exact_budget = (Some(now), 0);
        } else if used >= self.config.max_exact_lookups_per_interval {
            return None;
        }
        self.exact_budget.1 += 1;
        let path = if id == self.current {
            None
        } else {
            ns.path.clone()
        };
        self.stats.exact_lookups += 1;
        let socket = self
            .source
            .lookup_one(id, path.as_deref(), key.protocol, key.local, key.remote)
            .ok()
            .flatten()?;
        self.stats.exact_found += 1;
        let generation = self.next_generation;
        self.next_generation += 1;
        if let Some(ns) = self.namespaces.get_mut(&id) {
            ns.table.insert(socket);
            ns.generation = generation;
        }
        // Its holder: the fd index as it is, else the hot processes and a
        // full scan when due.
        if socket.inode != 0 && self.fds.owners(socket.inode).is_empty() {
            self.update_fd_index(now);
        }
        self.find(key)
    }
}

/// Index of a protocol in per-protocol arrays.
fn protocol_slot(p: Protocol) -> usize {
    match p {
        Protocol::Tcp => 0,
        Protocol::Udp => 1,
    }
}

#[cfg(test)]
#[path = "attribution_tests.rs"]
mod tests;
