//! The AF_PACKET capture backend: counts every TCP and UDP packet from its
//! headers and names each flow's owner without eBPF. Three kinds of thread
//! cooperate:
//!
//! - one reader per ring (`reader`): rings in every network namespace that
//!   has processes or a name (`namespaces`), `--rings` per namespace in one
//!   fanout group; a flow's first packet goes to attribution at once, its
//!   counts every 20 ms;
//! - the attribution thread (`worker`, rules in `attribute`): sock_diag
//!   dumps joined with the `/proc/*/fd` index, inference when a socket is
//!   already gone, records out every 20 ms;
//! - the namespace watcher: new namespaces get rings, gone ones lose them.
//!
//! The caller's thread only merges records into the ledger
//! ([`CaptureBackend`]); `read_sockets` first syncs with every reader so a
//! read includes everything captured until it began. Payload is never
//! kept: rings snap packets to their headers.

mod attribute;
mod flow;
mod namespaces;
mod owners;
mod reader;
mod seq;
mod sockets;
mod worker;

pub use attribute::{AttributionConfig, Attributor, Batch};
pub use flow::{classify, FlowAggregator, FlowDelta, FlowKey, TCP_FIN, TCP_RST, TCP_SYN};
pub use owners::{Lookup, Owners, ProcOwners, ProcessMeta};

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender, TryRecvError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use netoproc_core::backend::{CaptureBackend, CaptureError, CaptureInfo};
use netoproc_core::ledger::SocketLedger;
use netoproc_core::report::{AttributionStats, Losses};
use netoproc_procfs::{ProcEvents, ProcRoot, ResolverConfig, SocketResolver};

use crate::{RingConfig, RingError};
use namespaces::{Namespaces, RingPlan};
use reader::{Shared, ToWorker};
use worker::{ToMain, WorkerStats};

/// How the backend captures.
#[derive(Debug, Clone)]
pub struct AfPacketOptions {
    /// Capture on this interface only (in every namespace that has it).
    pub interface: Option<String>,
    /// Rings per namespace, one reader thread each (1..=16).
    pub rings: usize,
    /// Memory of each ring, in MiB.
    pub ring_mib: u32,
    /// A partly filled block reaches userspace after this long: short, so
    /// a new flow is looked up while its socket still exists.
    pub block_timeout: Duration,
    pub proc_root: PathBuf,
    pub run_netns: PathBuf,
    /// Where cgroup v2 is mounted, for owners' cgroup ids.
    pub cgroup_root: PathBuf,
    /// Capture in every network namespace, not only netoproc's own.
    pub all_namespaces: bool,
}

impl Default for AfPacketOptions {
    fn default() -> Self {
        AfPacketOptions {
            interface: None,
            rings: 1,
            ring_mib: 8,
            block_timeout: Duration::from_millis(2),
            proc_root: PathBuf::from("/proc"),
            run_netns: PathBuf::from(netoproc_procfs::netns::RUN_NETNS),
            cgroup_root: PathBuf::from("/sys/fs/cgroup"),
            all_namespaces: true,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("{0}")]
    Privileges(String),
    #[error(
        "no network interface named {0:?} in any network namespace; `ip link` lists them \
         (`ip -n NAME link` inside a named namespace)"
    )]
    UnknownInterface(String),
    #[error("{0}")]
    Invalid(String),
    #[error("AF_PACKET capture is unavailable here: {0}")]
    Unavailable(String),
}

const BLOCK_SIZE: u32 = 256 << 10;
/// The kernel retires blocks on its timer tick (10 ms at HZ=100).
const COARSEST_TICK: Duration = Duration::from_millis(10);

pub struct AfPacketCapture {
    info: CaptureInfo,
    start_degraded: Vec<String>,
    shared: Arc<Shared>,
    to_worker: Sender<ToWorker>,
    from_worker: Receiver<ToMain>,
    stats: Arc<Mutex<WorkerStats>>,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
    sync_epoch: u64,
    proc_connector: bool,
}

impl AfPacketCapture {
    pub fn start(opts: &AfPacketOptions) -> Result<AfPacketCapture, StartError> {
        if !(1..=16).contains(&opts.rings) {
            return Err(StartError::Invalid(format!(
                "--rings must be between 1 and 16, got {}",
                opts.rings
            )));
        }
        let config = RingConfig {
            interface: opts.interface.clone(),
            ring_mib: opts.ring_mib,
            block_size: BLOCK_SIZE,
            block_timeout: opts.block_timeout,
            fanout: (opts.rings > 1).then(|| (std::process::id() & 0xffff) as u16),
            ..RingConfig::default()
        };
        config
            .geometry()
            .map_err(|e| StartError::Invalid(e.to_string()))?;
        let plan = RingPlan {
            config,
            rings: opts.rings,
            settle: 2 * opts.block_timeout.max(COARSEST_TICK),
        };
        let proc = ProcRoot::new(&opts.proc_root);
        let unavailable = |e: std::io::Error| StartError::Unavailable(e.to_string());
        let mut degraded = Vec::new();

        let (to_worker, worker_rx) = mpsc::channel();
        let (main_tx, from_worker) = mpsc::channel();
        let shared = Arc::new(Shared::default());
        let mut ns = Namespaces::new(
            plan,
            proc.clone(),
            opts.run_netns.clone(),
            Arc::clone(&shared),
            to_worker.clone(),
        )
        .map_err(unavailable)?;
        match ns.open_own() {
            Ok(()) => {}
            Err(RingError::Permission) => {
                return Err(StartError::Privileges(RingError::Permission.to_string()))
            }
            Err(RingError::UnknownInterface { .. }) if opts.interface.is_some() => {}
            Err(e) => return Err(StartError::Unavailable(e.to_string())),
        }
        if opts.all_namespaces {
            for (id, e) in ns.sync_all() {
                ns.note(id, &e);
            }
        }
        if let Some(name) = &opts.interface {
            if ns.counts().0 == 0 {
                return Err(StartError::UnknownInterface(name.clone()));
            }
        }

        let mut resolver = SocketResolver::new(
            proc.clone(),
            ResolverConfig {
                min_on_demand_interval: Duration::from_millis(2),
                hot_window: Duration::from_secs(10),
                all_namespaces: None,
                ..ResolverConfig::default()
            },
        )
        .map_err(unavailable)?;
        let proc_connector = match resolver.start_proc_events() {
            Ok(()) => true,
            Err(e) => {
                degraded.push(format!("attribution: {e}"));
                false
            }
        };
        if let Err(e) = resolver.refresh(Instant::now()) {
            degraded.push(format!(
                "attribution: listing sockets failed ({e}); traffic shows without owners"
            ));
        }
        let events = (proc_connector && opts.all_namespaces)
            .then(ProcEvents::start)
            .and_then(Result::ok);
        let owners = ProcOwners::new(
            resolver,
            proc,
            opts.cgroup_root.clone(),
            opts.run_netns.clone(),
        );
        let attributor = Attributor::new(owners, AttributionConfig::default());
        let stop = Arc::new(AtomicBool::new(false));
        let stats = Arc::new(Mutex::new(WorkerStats::default()));
        let spawned = worker::spawn(
            attributor,
            worker_rx,
            main_tx,
            Arc::clone(&stats),
            Arc::clone(&stop),
        )
        .and_then(|w| {
            let n = namespaces::spawn_watcher(ns, events, Arc::clone(&stop), opts.all_namespaces)?;
            Ok(vec![w, n])
        })
        .map_err(unavailable)?;

        Ok(AfPacketCapture {
            info: CaptureInfo {
                mode: "afpacket",
                hooks: "none",
                programs: Vec::new(),
                degraded: [degraded.clone(), shared.uncaptured_lines()].concat(),
            },
            start_degraded: degraded,
            shared,
            to_worker,
            from_worker,
            stats,
            stop,
            threads: spawned,
            sync_epoch: 0,
            proc_connector,
        })
    }

    fn apply(ledger: &mut SocketLedger, msg: ToMain) -> Option<u64> {
        match msg {
            ToMain::Batch(b) => {
                for p in b.processes {
                    ledger.observe_process(p);
                }
                for s in b.sockets {
                    ledger.observe_socket(s);
                }
                for p in b.peers {
                    ledger.observe_peer(p);
                }
                None
            }
            ToMain::Synced(n) => Some(n),
        }
    }

    fn readers_acked(&self, n: u64) -> bool {
        let readers = self
            .shared
            .readers
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        readers.iter().all(|r| r.acked.load(Ordering::Acquire) >= n)
    }

    fn refresh_degraded(&mut self) {
        let mut d = self.start_degraded.clone();
        d.extend(self.shared.uncaptured_lines());
        for r in self
            .shared
            .readers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
        {
            if let Some(e) = r.error.lock().unwrap_or_else(|e| e.into_inner()).as_ref() {
                d.push(format!("a ring in {} stopped: {e}", r.netns));
            }
        }
        self.info.degraded = d;
    }
}

/// Longest a read waits for the readers and the attribution thread.
const SYNC_WITHIN: Duration = Duration::from_secs(2);

impl CaptureBackend for AfPacketCapture {
    fn info(&self) -> &CaptureInfo {
        &self.info
    }

    fn drain_events(
        &mut self,
        ledger: &mut SocketLedger,
        timeout: Duration,
    ) -> Result<(), CaptureError> {
        let first = match self.from_worker.recv_timeout(timeout) {
            Ok(m) => m,
            Err(RecvTimeoutError::Timeout) => return Ok(()),
            Err(RecvTimeoutError::Disconnected) => {
                return Err("the attribution thread stopped".into())
            }
        };
        Self::apply(ledger, first);
        loop {
            match self.from_worker.try_recv() {
                Ok(m) => {
                    Self::apply(ledger, m);
                }
                Err(TryRecvError::Empty) => return Ok(()),
                Err(TryRecvError::Disconnected) => {
                    return Err("the attribution thread stopped".into())
                }
            }
        }
    }

    fn read_sockets(&mut self, ledger: &mut SocketLedger) -> Result<(), CaptureError> {
        self.sync_epoch += 1;
        let n = self.sync_epoch;
        let deadline = Instant::now() + SYNC_WITHIN;
        self.shared.sync_request.store(n, Ordering::Release);
        while !self.readers_acked(n) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
        self.to_worker
            .send(ToWorker::Sync(n))
            .map_err(|_| "the attribution thread stopped")?;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.from_worker.recv_timeout(left) {
                Ok(m) => {
                    if Self::apply(ledger, m).is_some_and(|s| s >= n) {
                        break;
                    }
                }
                Err(RecvTimeoutError::Timeout) => break,
                Err(RecvTimeoutError::Disconnected) => {
                    return Err("the attribution thread stopped".into())
                }
            }
        }
        self.refresh_degraded();
        Ok(())
    }

    fn losses(&self) -> Result<Losses, CaptureError> {
        let unparsed = *self
            .shared
            .unparsed
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        Ok(Losses {
            capture_drops: self.shared.drops.load(Ordering::Relaxed),
            unparsed_packets: unparsed.total(),
            ..Losses::default()
        })
    }

    fn attribution(&self) -> Option<AttributionStats> {
        let s = *self.stats.lock().unwrap_or_else(|e| e.into_inner());
        let (t, r) = (s.tally, s.resolver);
        let bytes = t.bytes();
        let attributed = t.bytes_resolved + t.bytes_inferred;
        let (namespaces, rings) = {
            let readers = self
                .shared
                .readers
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            let ns: HashSet<_> = readers.iter().map(|r| r.netns).collect();
            (ns.len() as u64, readers.len() as u64)
        };
        Some(AttributionStats {
            flows: t.flows,
            flows_resolved: t.flows_resolved,
            flows_inferred: t.flows_inferred,
            flows_unresolved: t.flows_unresolved,
            bytes,
            bytes_attributed: attributed,
            bytes_inferred: t.bytes_inferred,
            attributed_share: if bytes == 0 {
                1.0
            } else {
                attributed as f64 / bytes as f64
            },
            lookups: r.lookups,
            cache_hits: r.cache_hits,
            dumps: r.dumps,
            on_demand_dumps: r.on_demand_dumps,
            rate_limited: r.rate_limited,
            full_scans: r.full_scans,
            pid_rescans: r.pid_rescans,
            proc_connector: self.proc_connector,
            proc_events: r.proc_events,
            proc_events_lost: r.proc_events_lost,
            namespaces,
            rings,
            unparsed: *self
                .shared
                .unparsed
                .lock()
                .unwrap_or_else(|e| e.into_inner()),
        })
    }
}

impl Drop for AfPacketCapture {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}
