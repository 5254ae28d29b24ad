//! The [`Engine`]: one capture session's state and the steps every
//! front-end takes with it. Close events are drained continuously so
//! sockets and processes that come and go between two reads keep their
//! bytes; every live socket is read at each read; DNS packets go to the
//! observatory as they arrive, their owners looked up in the ledger, so
//! queries are matched and timed out while the capture runs. Process names
//! missing from the kernel's records are read from `/proc` once per pid,
//! container labels likewise.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use netoproc_core::backend::{CaptureBackend, CaptureError, CaptureInfo};
use netoproc_core::clock::Clock;
use netoproc_core::identity::ProcessKey;
use netoproc_core::ledger::SocketLedger;
use netoproc_core::lifecycle::{ConnectionBook, LifeEvent, LifecycleReport, Step};
use netoproc_core::report::{AttributionStats, Losses, Report};
use netoproc_core::workload::ProcessIdentity;
use netoproc_dns::{DnsReport, Observatory};
use netoproc_procfs::{HostState, IdentityReader, ProcRoot};

use crate::closed::{ClosedByOwner, ClosedSums};
use crate::config::SessionConfig;
use crate::ktime;
use crate::own::{OwnMeter, OwnUsage};

/// Longest single wait for kernel events, so a stop request or a deadline
/// is noticed within this long.
pub const POLL_SLICE: Duration = Duration::from_millis(100);

/// A live process's identity is read again after this many reads.
pub const IDENTITY_REFRESH_READS: u64 = 10;

/// Identities kept; past it, those of processes no row names are dropped.
pub const MAX_IDENTITIES: usize = netoproc_core::identity::MAX_PROCESS_INFOS;

/// A step of the loop failed in the backend.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The backend failed; `what` says which step (e.g. "reading socket
    /// counters"), the source says why.
    #[error("{what}")]
    Backend {
        /// The step that failed, e.g. "reading socket counters".
        what: &'static str,
        /// The backend's error.
        #[source]
        source: CaptureError,
    },
}

fn backend_err(what: &'static str) -> impl FnOnce(CaptureError) -> EngineError {
    move |source| EngineError::Backend { what, source }
}

/// How a [`Engine::run`] window ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WindowEnd {
    /// The stop flag ended it (rather than the deadline).
    pub interrupted: bool,
    /// From the first instant of the window to its end, by the run's clock.
    pub duration: Duration,
}

/// One capture session: a backend and everything accumulated from it.
pub struct Engine<'b> {
    backend: &'b mut dyn CaptureBackend,
    cfg: SessionConfig,
    ledger: SocketLedger,
    procfs: ProcRoot,
    /// `None` when DNS capture is off.
    dns: Option<Observatory>,
    /// Pids already looked up in /proc (found or not), so a process that
    /// exited before it could be named is not looked up at every read.
    looked_up: HashSet<u32>,
    /// Container or service labels by pid, read once per pid (found or not).
    containers: HashMap<u32, Arc<str>>,
    container_checked: HashSet<u32>,
    /// Reads process identities (cgroup, workload, user) from `/proc`.
    reader: IdentityReader,
    /// Identities by process (pid and start time: a reused pid is another
    /// key), with the read count they were taken at; kept after the process
    /// exits, re-read while it runs every [`IDENTITY_REFRESH_READS`] reads
    /// (an exec, or a move to another cgroup).
    identities: HashMap<ProcessKey, (Arc<ProcessIdentity>, u64)>,
    own: OwnMeter,
    /// Closed connections folded into their process rows so far.
    folded: u64,
    /// Complete reads of every live socket so far.
    reads: u64,
    /// TCP connections' lifecycle and health, and per-process rollups.
    book: ConnectionBook,
    /// Lifecycle steps kept for a front-end that streams them (`watch`);
    /// `None` when none does.
    life_stream: Option<Vec<LifeEvent>>,
    /// Steps dropped because the front-end did not take them in time.
    life_stream_dropped: u64,
    /// Closed connections summed per owner for a front-end that counts
    /// them (`serve`); `None` when none does.
    closed: Option<ClosedSums>,
}

/// Open connections kept as rows at most (more are counted, not kept).
pub const MAX_OPEN_CONNECTIONS: usize = 262_144;
/// Closed connections kept as rows when the session sets no bound.
pub const DEFAULT_MAX_CLOSED_CONNECTIONS: usize = 10_000;
/// Lifecycle steps held for a streaming front-end between two takes.
const LIFE_STREAM_MAX: usize = 65_536;

impl<'b> Engine<'b> {
    /// A session over `backend` with an empty ledger, reading processes
    /// under `cfg.proc_root`; DNS is observed only when `cfg.dns` is set.
    pub fn new(backend: &'b mut dyn CaptureBackend, cfg: SessionConfig) -> Self {
        let cfg_max = cfg.max_closed;
        Engine {
            backend,
            procfs: ProcRoot::new(&cfg.proc_root),
            reader: IdentityReader::new(ProcRoot::new(&cfg.proc_root), HostState::system()),
            dns: cfg.dns.map(Observatory::new),
            cfg,
            ledger: SocketLedger::new(),
            looked_up: HashSet::new(),
            containers: HashMap::new(),
            container_checked: HashSet::new(),
            identities: HashMap::new(),
            own: OwnMeter::default(),
            folded: 0,
            reads: 0,
            book: ConnectionBook::new(MAX_OPEN_CONNECTIONS, cfg_max_closed(&cfg_max)),
            life_stream: None,
            life_stream_dropped: 0,
            closed: None,
        }
    }

    /// The configuration the session was started with.
    pub fn config(&self) -> &SessionConfig {
        &self.cfg
    }

    /// What the backend attached: mode, hook rung, programs, degradations.
    pub fn info(&self) -> &CaptureInfo {
        self.backend.info()
    }

    /// Every socket counted so far, live and closed, and the process rows
    /// closed ones were folded into.
    pub fn ledger(&self) -> &SocketLedger {
        &self.ledger
    }

    /// The `/proc` the session names processes from.
    pub fn procfs(&self) -> &ProcRoot {
        &self.procfs
    }

    /// Closed connections folded into their process rows so far.
    pub fn folded(&self) -> u64 {
        self.folded
    }

    /// Complete reads of every live socket so far.
    pub fn reads(&self) -> u64 {
        self.reads
    }

    /// Container labels of the processes named so far (see
    /// [`Engine::look_up_containers`]).
    pub fn containers(&self) -> &HashMap<u32, Arc<str>> {
        &self.containers
    }

    /// Waits up to `timeout` for kernel events, merges them, and hands the
    /// DNS packets captured so far to the observatory.
    pub fn drain(&mut self, timeout: Duration) -> Result<(), EngineError> {
        self.backend
            .drain_events(&mut self.ledger, timeout)
            .map_err(backend_err("reading kernel events"))?;
        self.identify_new_processes();
        self.feed_lifecycle();
        self.feed_dns();
        Ok(())
    }

    /// Reads every live socket, then feeds DNS (packets taken so far still
    /// find their sockets' owners) and folds closed sockets past
    /// [`SessionConfig::max_closed`].
    pub fn read(&mut self) -> Result<(), EngineError> {
        self.backend
            .read_sockets(&mut self.ledger)
            .map_err(backend_err("reading socket counters"))?;
        self.reads += 1;
        self.reader.refresh_cgroups();
        self.identify_owners();
        self.feed_lifecycle();
        self.feed_dns();
        if let Some(max) = self.cfg.max_closed {
            self.folded += fold_closed(&mut self.ledger, max);
        }
        Ok(())
    }

    /// A read with nothing left behind: events first, then every live
    /// socket, then the events of sockets that closed during the read.
    pub fn final_read(&mut self) -> Result<(), EngineError> {
        self.drain(Duration::ZERO)?;
        self.read()?;
        self.drain(Duration::ZERO)
    }

    /// The timed loop: reads every live socket every
    /// [`SessionConfig::read_interval`] (calling `on_read` after each),
    /// drains events in between, until `deadline` or until `stop` is set.
    /// Starts with one read. Each wait is at most [`POLL_SLICE`].
    pub fn run<E: From<EngineError>>(
        &mut self,
        clock: &dyn Clock,
        deadline: Option<Instant>,
        stop: &AtomicBool,
        mut on_read: impl FnMut(&mut Self) -> Result<(), E>,
    ) -> Result<WindowEnd, E> {
        let t0 = clock.now();
        let interval = self.cfg.read_interval;
        self.read()?;
        on_read(self)?;
        let mut next_read = clock.now() + interval;
        let interrupted = loop {
            if stop.load(Ordering::Relaxed) {
                break true;
            }
            let now = clock.now();
            if deadline.is_some_and(|d| now >= d) {
                break false;
            }
            if now >= next_read {
                self.read()?;
                on_read(self)?;
                next_read += interval;
                continue;
            }
            let mut wait = (next_read - now).min(POLL_SLICE);
            if let Some(d) = deadline {
                wait = wait.min(d.saturating_duration_since(now));
            }
            self.drain(wait)?;
        };
        Ok(WindowEnd {
            interrupted,
            duration: clock.now().duration_since(t0),
        })
    }

    /// Reads from `/proc` the processes the kernel's records did not name,
    /// each pid once.
    pub fn name_processes(&mut self) {
        for pid in self.ledger.pids_without_info() {
            if self.looked_up.insert(pid) {
                if let Some(info) = self.procfs.process_info(pid) {
                    self.ledger.observe_process(info);
                }
            }
        }
    }

    /// Reads the identity of every socket owner not identified yet (or
    /// not for [`IDENTITY_REFRESH_READS`] reads) while it still runs: at
    /// every read, so a process that lives one read long keeps its
    /// container and service.
    fn identify_owners(&mut self) {
        let mut owners: HashSet<ProcessKey> = HashSet::new();
        for s in self.ledger.sockets() {
            if let Some(o) = &s.owner {
                let start = match o.start_time_ns {
                    0 => self.ledger.process(o.pid).map_or(0, |p| p.start_time_ns),
                    t => t,
                };
                owners.insert(ProcessKey {
                    pid: o.pid,
                    start_time_ns: start,
                });
            }
        }
        let reads = self.reads;
        for key in owners {
            let stale = self
                .identities
                .get(&key)
                .is_none_or(|(_, at)| reads >= at + IDENTITY_REFRESH_READS);
            if !stale || key.pid == 0 {
                continue;
            }
            match self.reader.read(key.pid, key.start_time_ns) {
                Some(id) => {
                    self.identities.insert(key, (Arc::new(id), reads));
                }
                // Gone (or another process now): keep what was read, and
                // do not try again until the next refresh.
                None => {
                    if let Some(e) = self.identities.get_mut(&key) {
                        e.1 = reads;
                    }
                }
            }
        }
        if self.identities.len() > MAX_IDENTITIES {
            let live: HashSet<ProcessKey> = self
                .ledger
                .sockets()
                .filter_map(|s| s.owner.as_ref())
                .map(|o| ProcessKey {
                    pid: o.pid,
                    start_time_ns: o.start_time_ns,
                })
                .collect();
            self.identities.retain(|k, _| live.contains(k));
        }
    }

    /// Reads the identity of each process the kernel recorded since the
    /// last drain (eBPF names a process at its first socket), so one that
    /// lives less than a read interval is still identified.
    fn identify_new_processes(&mut self) {
        for key in self.ledger.take_new_processes() {
            if key.pid == 0 || self.identities.contains_key(&key) {
                continue;
            }
            if let Some(id) = self.reader.read(key.pid, key.start_time_ns) {
                self.identities.insert(key, (Arc::new(id), self.reads));
            }
        }
    }

    /// Gives each process row the identity read for its process (its pid
    /// and start time; a row without a start time takes the one read
    /// without), reading those not read yet when they still run.
    pub fn identify(&mut self, report: &mut Report) {
        // The network namespace each owner's sockets were in, for those
        // gone before /proc was read (built only when one is).
        let mut netns_of: Option<HashMap<u32, u64>> = None;
        for row in &mut report.processes {
            if row.pid == 0 {
                continue;
            }
            let key = ProcessKey {
                pid: row.pid,
                start_time_ns: row.start_time_ns.unwrap_or(0),
            };
            // A row without a start time is the pid's latest known process
            // (as the ledger files such owners): its identity, if read.
            let latest = (key.start_time_ns == 0)
                .then(|| self.ledger.process(row.pid))
                .flatten()
                .map(|p| ProcessKey {
                    pid: row.pid,
                    start_time_ns: p.start_time_ns,
                })
                .filter(|k| k.start_time_ns != 0 && self.identities.contains_key(k));
            if let Some(latest) = latest {
                row.identity = self.identities.get(&latest).map(|(id, _)| id.clone());
                continue;
            }
            if !self.identities.contains_key(&key) {
                // Gone before it was read: what its cgroup id still tells.
                let ppid = self.ledger.process(row.pid).map(|p| p.ppid);
                let id = self.reader.read(key.pid, key.start_time_ns).or_else(|| {
                    let ledger = &self.ledger;
                    let netns = netns_of
                        .get_or_insert_with(|| {
                            ledger
                                .sockets()
                                .filter_map(|s| s.owner.as_ref())
                                .filter(|o| o.netns != 0)
                                .map(|o| (o.pid, u64::from(o.netns)))
                                .collect()
                        })
                        .get(&row.pid)
                        .copied();
                    self.reader
                        .read_gone(row.cgroup_id, netns, row.uid, ppid.filter(|&p| p != 0))
                });
                if let Some(id) = id {
                    self.identities.insert(key, (Arc::new(id), self.reads));
                }
            }
            row.identity = self.identities.get(&key).map(|(id, _)| id.clone());
        }
    }

    /// The network namespaces of the processes identified so far, sorted.
    pub fn namespaces_seen(&self) -> Vec<u64> {
        let mut ns: Vec<u64> = self
            .identities
            .values()
            .filter_map(|(id, _)| id.netns)
            .collect::<HashSet<u64>>()
            .into_iter()
            .collect();
        ns.sort_unstable();
        ns
    }

    /// Reads the container labels of the report's processes not seen before.
    pub fn look_up_containers(&mut self, report: &Report) {
        for p in &report.processes {
            if self.container_checked.insert(p.pid) {
                if let Some(label) = self.procfs.container(p.pid) {
                    self.containers.insert(p.pid, label.into());
                }
            }
        }
    }

    /// Everything lost or unattributable so far, the ledger's unowned bytes
    /// included.
    pub fn losses(&self) -> Result<Losses, EngineError> {
        let mut losses = self
            .backend
            .losses()
            .map_err(backend_err("reading loss counters"))?;
        let unowned = self.ledger.unowned();
        losses.no_owner_bytes = unowned.bytes;
        losses.no_owner_wire_bytes = unowned.wire_bytes;
        Ok(losses)
    }

    /// The DNS observatory; `None` when DNS capture is off.
    pub fn dns(&self) -> Option<&Observatory> {
        self.dns.as_ref()
    }

    /// How owners were found, for backends that infer them from packets
    /// (AF_PACKET); `None` where the kernel names them (eBPF).
    pub fn attribution(&self) -> Option<AttributionStats> {
        self.backend.attribution()
    }

    /// The DNS report and the names of the report's remote hosts, after
    /// telling the observatory about the connections (DoT/DoH); `None`
    /// when DNS capture is off.
    pub fn dns_report(&mut self, report: &Report) -> Option<(DnsReport, HashMap<IpAddr, String>)> {
        let now_ns = ktime::monotonic_ns();
        let obs = self.dns.as_mut()?;
        obs.observe_connections(&report.connections, now_ns);
        let hosts = obs.remote_hosts(&report.connections, now_ns);
        Some((obs.report(&self.ledger), hosts))
    }

    /// Forgets the closed sockets' rows; their bytes stay in their process
    /// totals. Returns how many went.
    pub fn retire_closed(&mut self) -> usize {
        self.ledger.retire_closed()
    }

    /// Forgets processes that own no socket any more (ledger rows, names,
    /// containers), keeping what they moved in the report's total; for
    /// long runs. Returns how many had retired totals to fold.
    pub fn forget_processes(&mut self, pids: &HashSet<u32>) -> usize {
        for pid in pids {
            self.looked_up.remove(pid);
            self.container_checked.remove(pid);
            self.containers.remove(pid);
        }
        self.identities.retain(|k, _| !pids.contains(&k.pid));
        self.ledger.forget_processes(pids)
    }

    /// netoproc's own CPU share since the last sample, and its memory.
    pub fn own_usage(&mut self, now: Instant) -> Option<OwnUsage> {
        self.own.sample(&self.procfs, now)
    }

    /// Keeps every lifecycle step from now on for [`Engine::take_life_events`].
    pub fn stream_lifecycle(&mut self) {
        self.life_stream.get_or_insert_with(Vec::new);
    }

    /// Lifecycle steps since the last call (with [`Engine::stream_lifecycle`]).
    pub fn take_life_events(&mut self) -> Vec<LifeEvent> {
        self.life_stream
            .as_mut()
            .map(std::mem::take)
            .unwrap_or_default()
    }

    /// Sums closed TCP connections per owner from now on, for
    /// [`Engine::take_closed`].
    pub fn count_closed(&mut self) {
        self.closed.get_or_insert_with(ClosedSums::default);
    }

    /// Connections closed since the last call, summed per owner (with
    /// [`Engine::count_closed`]); each connection is in exactly one take.
    pub fn take_closed(&mut self) -> Vec<ClosedByOwner> {
        self.closed
            .as_mut()
            .map(ClosedSums::take)
            .unwrap_or_default()
    }

    /// Owners whose closed connections were summed under no owner because
    /// too many closed connections between two takes
    /// ([`crate::MAX_CLOSED_OWNERS`]).
    pub fn closed_owners_folded(&self) -> u64 {
        self.closed.as_ref().map_or(0, |c| c.owners_folded)
    }

    /// Connections the connection book did not keep as rows (too many open
    /// at once); still counted when they close.
    pub fn lifecycle_rows_dropped(&self) -> u64 {
        self.book.rows_dropped()
    }

    /// Connections' lifecycle and health and the per-process rollups now.
    pub fn lifecycle(&self) -> LifecycleReport {
        self.book.report()
    }

    /// Lifecycle steps lost so far: in the backend (its ring or backlog) and
    /// between the engine and a streaming front-end.
    pub fn lifecycle_dropped(&self) -> u64 {
        self.backend.lifecycle_dropped() + self.life_stream_dropped
    }

    fn feed_lifecycle(&mut self) {
        for ev in self.backend.take_lifecycle() {
            self.book.observe(&ev);
            if let Some(c) = &mut self.closed {
                c.count(&ev);
            }
            if let Some(q) = &mut self.life_stream {
                if ev.step == Step::Sample {
                    continue;
                }
                if q.len() < LIFE_STREAM_MAX {
                    q.push(ev);
                } else {
                    self.life_stream_dropped += 1;
                }
            }
        }
    }

    fn feed_dns(&mut self) {
        let packets = self.backend.take_dns();
        if let Some(obs) = &mut self.dns {
            obs.ingest(packets, &self.ledger);
            obs.sweep(ktime::monotonic_ns(), &self.ledger);
        }
    }
}

fn cfg_max_closed(max: &Option<u64>) -> usize {
    max.map_or(DEFAULT_MAX_CLOSED_CONNECTIONS, |m| {
        usize::try_from(m).unwrap_or(usize::MAX)
    })
}

/// Folds the closed sockets into their process rows once more than `max`
/// are held; returns how many were folded. All of them go at once, so the
/// scan behind the count runs only when the ledger has grown past `max`.
fn fold_closed(ledger: &mut SocketLedger, max: u64) -> u64 {
    if ledger.socket_count() as u64 <= max || ledger.closed_count() as u64 <= max {
        return 0;
    }
    ledger.retire_closed() as u64
}

#[cfg(test)]
#[path = "engine_tests.rs"]
mod tests;
