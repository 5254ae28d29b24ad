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
//! The caller's thread only merges records into the ledger (`backend`: the
//! core's `CaptureBackend`); `read_sockets` first syncs with every reader so
//! a read includes everything captured until it began. Payload is never
//! kept: rings snap packets to their headers, except those from or to a
//! DNS port, whose messages go with their flow to the attribution thread,
//! wait there for the flow's record (`dns_hold`), and reach the caller's
//! observatory through `take_dns`. TCP connections are followed from
//! their headers on the readers (`tcp_life`); their lifecycle steps wait
//! for the flow's record likewise (`life_hold`) and reach the caller
//! through `take_lifecycle`.

mod attribute;
mod backend;
mod dns_hold;
mod flow;
mod life_hold;
mod namespaces;
mod owners;
mod reader;
mod seq;
mod sightings;
mod sockets;
mod tcp_life;
mod worker;

pub use attribute::{AttributionConfig, Attributor, Batch};
pub use flow::{classify, FlowAggregator, FlowDelta, FlowKey, TCP_FIN, TCP_RST, TCP_SYN};
pub use owners::{Lookup, Owners, ProcOwners, ProcessMeta};

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use netoproc_core::backend::{Capability, CapabilityNeed, CaptureInfo};
use netoproc_core::error::Chain;
use netoproc_core::ledger::SocketLedger;
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
    /// Memory of each ring in netoproc's own namespace, in MiB.
    pub ring_mib: u32,
    /// Memory of each ring in every other namespace, in MiB.
    pub other_ring_mib: u32,
    /// A partly filled block reaches userspace after this long: short, so
    /// a new flow is looked up while its socket still exists.
    pub block_timeout: Duration,
    /// The `/proc` owners are named from.
    pub proc_root: PathBuf,
    /// Where named network namespaces are (`/run/netns`).
    pub run_netns: PathBuf,
    /// Where cgroup v2 is mounted, for owners' cgroup ids.
    pub cgroup_root: PathBuf,
    /// Capture in every network namespace, not only netoproc's own.
    pub all_namespaces: bool,
    /// At most this many network namespaces get rings (netoproc's own
    /// included); the others are listed as not captured. Each costs
    /// `rings` × `ring_mib` of kernel memory and `rings` threads, and an
    /// unprivileged user can create namespaces (`unshare -rn`).
    pub max_namespaces: usize,
    /// Ports whose TCP and UDP messages are read as DNS; empty: none.
    pub dns_ports: Vec<u16>,
    /// Flows (and records) attribution remembers at once, and each reader;
    /// a new flow past it counts in an overflow row (see
    /// `attribute/overflow.rs`).
    pub max_flows: usize,
}

impl Default for AfPacketOptions {
    fn default() -> Self {
        AfPacketOptions {
            interface: None,
            rings: 1,
            ring_mib: 8,
            other_ring_mib: 2,
            block_timeout: Duration::from_millis(2),
            proc_root: PathBuf::from("/proc"),
            run_netns: PathBuf::from(netoproc_procfs::netns::RUN_NETNS),
            // The cgroup2 mount: /sys/fs/cgroup on a unified host,
            // /sys/fs/cgroup/unified on a hybrid one.
            cgroup_root: std::fs::read_to_string("/proc/self/mountinfo")
                .ok()
                .and_then(|m| netoproc_procfs::cgroup_ids::cgroup2_mount(&m))
                .map_or_else(|| PathBuf::from("/sys/fs/cgroup"), |(dir, _)| dir),
            all_namespaces: true,
            max_namespaces: DEFAULT_MAX_NAMESPACES,
            dns_ports: vec![53],
            max_flows: attribute::MAX_FLOWS,
        }
    }
}

/// Why the AF_PACKET backend could not start.
#[derive(Debug, thiserror::Error)]
pub enum AfPacketStartError {
    /// Not allowed to open capture sockets (exit code 4); the text says what to grant.
    #[error("{0}")]
    Privileges(String),
    /// `--interface` names no interface anywhere netoproc looked.
    #[error(
        "no network interface named {0:?} in any network namespace; `ip link` lists them \
         (`ip -n NAME link` inside a named namespace)"
    )]
    UnknownInterface(String),
    /// The options make no valid capture (a usage error).
    #[error("{0}")]
    Invalid(String),
    /// The kernel or the host lacks what AF_PACKET capture needs; the text says why.
    #[error("AF_PACKET capture is unavailable here: {0}")]
    Unavailable(String),
}

/// Namespaces with rings unless asked otherwise.
pub const DEFAULT_MAX_NAMESPACES: usize = 64;

/// What the backend does after start, and the capability each needs: the
/// namespace watcher opens rings in namespaces that appear later (entering
/// them, then a packet socket), and attribution reads every process's
/// `/proc/PID/fd` and `/proc/PID/ns/net`. The proc connector and the first
/// rings are set up in start-up, so `CAP_NET_ADMIN`, `CAP_BPF` and
/// `CAP_PERFMON` are not needed afterwards.
pub const NEEDS_AFTER_START: &[CapabilityNeed] = &[
    CapabilityNeed {
        capability: Capability::CAP_NET_RAW,
        why: "opening rings in network namespaces that appear later",
    },
    CapabilityNeed {
        capability: Capability::CAP_SYS_ADMIN,
        why: "entering network namespaces that appear later (setns)",
    },
    CapabilityNeed {
        capability: Capability::CAP_SYS_PTRACE,
        why: "reading other users' /proc/PID/fd and /proc/PID/ns/net to name owners",
    },
    CapabilityNeed {
        capability: Capability::CAP_DAC_READ_SEARCH,
        why: "listing other users' /proc/PID/fd directories",
    },
];

const BLOCK_SIZE: u32 = 256 << 10;
/// DNS packets held for the caller between two `take_dns` calls.
const MAX_DNS_UNTAKEN: usize = 262_144;
/// Lifecycle steps held for the caller between two `take_lifecycle` calls.
const MAX_LIFE_UNTAKEN: usize = 262_144;
/// The kernel retires blocks on its timer tick (10 ms at HZ=100).
const COARSEST_TICK: Duration = Duration::from_millis(10);

/// Messages (each a batch: one reader's flush, one DNS hold) queued from the
/// readers and the namespace watcher to the attribution thread, at most.
const TO_WORKER_CAPACITY: usize = 4_096;
/// Messages queued from the attribution thread to the capture loop, at most.
const TO_MAIN_CAPACITY: usize = 4_096;

/// The AF_PACKET capture backend: rings and reader threads per namespace,
/// an attribution thread that names owners from sock_diag and `/proc`, a
/// namespace watcher. Stops its threads on drop.
pub struct AfPacketCapture {
    info: CaptureInfo,
    start_degraded: Vec<String>,
    shared: Arc<Shared>,
    to_worker: SyncSender<ToWorker>,
    from_worker: Receiver<ToMain>,
    stats: Arc<Mutex<WorkerStats>>,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
    sync_epoch: u64,
    /// DNS packets for the next `take_dns`, and those dropped because the
    /// caller did not take them.
    dns: Vec<netoproc_core::DnsPacket>,
    dns_dropped: u64,
    /// Lifecycle steps for the next `take_lifecycle`, and those dropped
    /// because the caller did not take them.
    life: Vec<netoproc_core::lifecycle::LifeEvent>,
    life_dropped: u64,
    /// Reads that gave up waiting for the attribution thread.
    syncs_late: u64,
    proc_connector: bool,
}

impl AfPacketCapture {
    /// Checks `opts`, opens the rings and starts the threads.
    pub fn start(opts: &AfPacketOptions) -> Result<AfPacketCapture, AfPacketStartError> {
        if !(1..=16).contains(&opts.rings) {
            return Err(AfPacketStartError::Invalid(format!(
                "--rings must be between 1 and 16, got {}",
                opts.rings
            )));
        }
        if opts.max_flows == 0 {
            return Err(AfPacketStartError::Invalid(
                "attribution must remember at least one flow".into(),
            ));
        }
        if opts.max_namespaces == 0 {
            return Err(AfPacketStartError::Invalid(
                "at least one network namespace must get rings".into(),
            ));
        }
        let config = RingConfig {
            interface: opts.interface.clone(),
            ring_mib: opts.ring_mib,
            block_size: BLOCK_SIZE,
            block_timeout: opts.block_timeout,
            fanout: (opts.rings > 1).then(|| (std::process::id() & 0xffff) as u16),
            dns_ports: opts.dns_ports.clone(),
            ..RingConfig::default()
        };
        config
            .geometry()
            .map_err(|e| AfPacketStartError::Invalid(e.to_string()))?;
        let plan = RingPlan {
            config,
            rings: opts.rings,
            max_namespaces: opts.max_namespaces,
            max_flows: opts.max_flows,
            other_ring_mib: opts.other_ring_mib,
            settle: 2 * opts.block_timeout.max(COARSEST_TICK),
        };
        let proc = ProcRoot::new(&opts.proc_root);
        let unavailable =
            |e: std::io::Error| AfPacketStartError::Unavailable(Chain(&e).to_string());
        let mut degraded = Vec::new();

        // Bounded both ways: a reader that outruns attribution blocks, its
        // ring fills, and the kernel drops and counts (capture_drops); the
        // queues never grow past their capacity.
        let (to_worker, worker_rx) = mpsc::sync_channel(TO_WORKER_CAPACITY);
        let (main_tx, from_worker) = mpsc::sync_channel(TO_MAIN_CAPACITY);
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
                return Err(AfPacketStartError::Privileges(
                    RingError::Permission.to_string(),
                ))
            }
            Err(RingError::UnknownInterface { .. }) if opts.interface.is_some() => {}
            Err(e) => return Err(AfPacketStartError::Unavailable(Chain(&e).to_string())),
        }
        if opts.all_namespaces {
            for (id, e) in ns.sync_all() {
                ns.note(id, &e);
            }
        }
        if let Some(name) = &opts.interface {
            if ns.counts().0 == 0 {
                return Err(AfPacketStartError::UnknownInterface(name.clone()));
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
                degraded.push(format!("attribution: {}", Chain(&e)));
                false
            }
        };
        if let Err(e) = resolver.refresh(Instant::now()) {
            degraded.push(format!(
                "attribution: listing sockets failed ({}); traffic shows without owners",
                Chain(&e)
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
            ns.sightings(opts.cgroup_root.clone()),
        );
        let attributor = Attributor::new(
            owners,
            AttributionConfig {
                max_flows: opts.max_flows,
                max_records: opts.max_flows,
                ..AttributionConfig::default()
            },
        );
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
                live_read: None,
                mode: netoproc_core::backend::BackendKind::Afpacket,
                hooks: netoproc_core::backend::HookRung::None,
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
            dns: Vec::new(),
            dns_dropped: 0,
            life: Vec::new(),
            life_dropped: 0,
            syncs_late: 0,
            proc_connector,
        })
    }

    fn apply(&mut self, ledger: &mut SocketLedger, msg: ToMain) -> Option<u64> {
        match msg {
            ToMain::Dns(packets) => {
                let room = MAX_DNS_UNTAKEN.saturating_sub(self.dns.len());
                self.dns_dropped += packets.len().saturating_sub(room) as u64;
                self.dns.extend(packets.into_iter().take(room));
                None
            }
            ToMain::Life(events) => {
                let room = MAX_LIFE_UNTAKEN.saturating_sub(self.life.len());
                self.life_dropped += events.len().saturating_sub(room) as u64;
                self.life.extend(events.into_iter().take(room));
                None
            }
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
        if self.syncs_late > 0 {
            d.push(format!(
                "attribution fell behind ({} read(s) did not wait for it): more new flows per \
                 second than it names; their traffic shows in later reads",
                self.syncs_late
            ));
        }
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

impl Drop for AfPacketCapture {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // The attribution thread may be waiting for room in its queue to
        // us: close that queue, so its send fails and it sees `stop`.
        let (_, closed) = mpsc::sync_channel(0);
        drop(std::mem::replace(&mut self.from_worker, closed));
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}
