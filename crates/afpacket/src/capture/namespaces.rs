//! Which network namespaces are captured: every one some process lives in
//! or that has a name under `/run/netns`, each with `--rings` rings (one
//! `PACKET_FANOUT` group) and a reader thread per ring. New namespaces are
//! noticed three ways — a name appearing under `/run/netns` (checked every
//! [`NAMED_EVERY`]), a process that forks or execs into an unknown one
//! (proc connector, where permitted), and a full enumeration every
//! [`FULL_EVERY`] — and namespaces that disappeared get their rings closed,
//! since an open packet socket would keep a deleted namespace (and its
//! devices) alive. Processes starting outside the host's namespace are
//! recorded in the [`Sightings`] as they start. It opens and closes rings;
//! it never reads them.

use std::collections::{HashMap, HashSet};
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::SyncSender;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use netoproc_procfs::netns::{netns_of_file, netns_of_link};
use netoproc_procfs::{NetnsId, ProcEvent, ProcEvents, ProcRoot};

use super::owners::process_meta;
use super::reader::{self, ReaderState, Shared, ToWorker};
use super::sightings::Sightings;
use crate::{Ring, RingConfig, RingError};

const NAMED_EVERY: Duration = Duration::from_millis(100);
const FULL_EVERY: Duration = Duration::from_secs(2);

/// How rings are opened in each namespace.
#[derive(Debug, Clone)]
pub struct RingPlan {
    pub config: RingConfig,
    pub rings: usize,
    /// Namespaces with rings at most, netoproc's own included.
    pub max_namespaces: usize,
    /// Flows each reader remembers at most.
    pub max_flows: usize,
    /// Memory of each ring in namespaces other than netoproc's own (MiB):
    /// every ring's pages are resident from `mmap`, and a host may have
    /// many namespaces with little traffic.
    pub other_ring_mib: u32,
    /// How long a sync waits for blocks in progress (see `reader`).
    pub settle: Duration,
}

struct Captured {
    readers: Vec<(Arc<ReaderState>, JoinHandle<()>)>,
}

pub struct Namespaces {
    plan: RingPlan,
    proc: ProcRoot,
    run_netns: PathBuf,
    own: NetnsId,
    shared: Arc<Shared>,
    tx: SyncSender<ToWorker>,
    open: HashMap<NetnsId, Captured>,
    /// Namespaces tried without success (no such interface, refused), so
    /// events do not retry them; full enumerations do.
    skipped: HashSet<NetnsId>,
    named: HashSet<OsString>,
    sightings: Arc<Mutex<Sightings>>,
    /// The namespace of pid 1: its processes are too many to be sighted.
    host: Option<NetnsId>,
    cgroup_root: PathBuf,
}

impl Namespaces {
    pub fn new(
        plan: RingPlan,
        proc: ProcRoot,
        run_netns: PathBuf,
        shared: Arc<Shared>,
        tx: SyncSender<ToWorker>,
    ) -> std::io::Result<Namespaces> {
        let own = proc.current_netns()?;
        let host = proc.netns_of_pid(1);
        Ok(Namespaces {
            sightings: Arc::default(),
            host,
            cgroup_root: PathBuf::from("/sys/fs/cgroup"),
            plan,
            proc,
            run_netns,
            own,
            shared,
            tx,
            open: HashMap::new(),
            skipped: HashSet::new(),
            named: HashSet::new(),
        })
    }

    /// Namespaces with rings, and rings open.
    pub fn counts(&self) -> (usize, usize) {
        let rings = self.open.values().map(|c| c.readers.len()).sum();
        (self.open.len(), rings)
    }

    /// Opens rings in netoproc's own namespace; its failure is the
    /// backend's failure.
    pub fn open_own(&mut self) -> Result<(), RingError> {
        let own = self.own;
        self.open_in(own, None)
    }

    /// Enumerates every namespace: opens rings in new ones, closes those
    /// gone. Returns the errors met in namespaces other than our own.
    pub fn sync_all(&mut self) -> Vec<(NetnsId, RingError)> {
        let listed = self.proc.list_netns(&self.run_netns);
        let ids: HashSet<NetnsId> = listed.iter().map(|n| n.id).collect();
        let gone: Vec<NetnsId> = self
            .open
            .keys()
            .copied()
            .filter(|id| *id != self.own && !ids.contains(id))
            .collect();
        for id in gone {
            self.close(id);
        }
        self.skipped.retain(|id| ids.contains(id));
        let mut errors = Vec::new();
        for n in listed {
            if n.id == self.own || self.open.contains_key(&n.id) {
                continue;
            }
            match self.open_in(n.id, Some(&n.path)) {
                Ok(()) => {
                    self.skipped.remove(&n.id);
                }
                Err(e) => {
                    self.skipped.insert(n.id);
                    errors.push((n.id, e));
                }
            }
        }
        errors
    }

    /// New names under `/run/netns`.
    fn check_named(&mut self) {
        let Ok(dir) = std::fs::read_dir(&self.run_netns) else {
            return;
        };
        let mut current = HashSet::new();
        for e in dir.flatten() {
            let (name, path) = (e.file_name(), e.path());
            // Until `ip netns add` has bind-mounted it, the file is not a
            // namespace yet: look again next time.
            if !is_mount_point(&path) {
                continue;
            }
            current.insert(name.clone());
            if self.named.contains(&name) {
                continue;
            }
            if let Ok(id) = netns_of_file(&path) {
                self.try_open(id, &path);
            }
        }
        self.named = current;
    }

    /// The processes seen starting, shared with the attribution thread.
    pub fn sightings(&mut self, cgroup_root: PathBuf) -> Arc<Mutex<Sightings>> {
        self.cgroup_root = cgroup_root;
        Arc::clone(&self.sightings)
    }

    /// A process forked or exec'd: is it in a namespace we do not know?
    /// Outside the host's, remember what it is while it is there to read.
    fn on_process(&mut self, tgid: u32) {
        let link = self.proc.path().join(tgid.to_string()).join("ns/net");
        let Ok(id) = netns_of_link(&link) else {
            return;
        };
        self.try_open(id, &link);
        if Some(id) != self.host {
            let meta = process_meta(&self.proc, &self.cgroup_root, tgid);
            self.lock_sightings().started(tgid, id, meta);
        }
    }

    fn lock_sightings(&self) -> std::sync::MutexGuard<'_, Sightings> {
        self.sightings.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn try_open(&mut self, id: NetnsId, path: &Path) {
        if id == self.own || self.open.contains_key(&id) || self.skipped.contains(&id) {
            return;
        }
        if let Err(e) = self.open_in(id, Some(path)) {
            self.skipped.insert(id);
            self.note(id, &e);
        }
    }

    /// Records why namespace `id` is not captured (a missing interface is
    /// expected with `--interface`, not a problem).
    pub fn note(&self, id: NetnsId, e: &RingError) {
        let why = match e {
            RingError::UnknownInterface { .. } => return,
            RingError::Netns { error, .. } => {
                format!("cannot enter them ({error}; needs CAP_SYS_ADMIN)")
            }
            other => netoproc_core::error::Chain(other).to_string(),
        };
        self.shared.note_uncaptured(id, why);
    }

    fn open_in(&mut self, id: NetnsId, path: Option<&Path>) -> Result<(), RingError> {
        if path.is_some() && self.open.len() >= self.plan.max_namespaces {
            return Err(RingError::TooManyNamespaces {
                max: self.plan.max_namespaces,
            });
        }
        let mut rings = Vec::with_capacity(self.plan.rings);
        let other = RingConfig {
            ring_mib: self.plan.other_ring_mib,
            ..self.plan.config.clone()
        };
        for _ in 0..self.plan.rings {
            rings.push(match path {
                None => Ring::open(&self.plan.config)?,
                Some(p) => Ring::open_in_netns(p, &other)?,
            });
        }
        let mut readers = Vec::new();
        for ring in rings {
            let state = Arc::new(ReaderState::new(id));
            let spawned = reader::spawn(
                ring,
                Arc::clone(&state),
                Arc::clone(&self.shared),
                self.tx.clone(),
                self.plan.settle,
                self.plan.config.dns_ports.clone(),
                self.plan.max_flows,
            )
            .map_err(|error| RingError::Sys {
                op: "spawning a reader thread",
                error,
            })?;
            self.shared
                .readers
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(Arc::clone(&state));
            readers.push((state, spawned));
        }
        self.open.insert(id, Captured { readers });
        // The path is often a short-lived process's `ns/net`: hand the
        // resolver the namespace itself, opened now while it is reachable.
        let msg = match path.map(std::fs::File::open) {
            Some(Ok(file)) => ToWorker::WatchHeld(id, file),
            _ => ToWorker::Watch(id, path.map(Path::to_path_buf)),
        };
        let _ = self.tx.send(msg);
        Ok(())
    }

    fn close(&mut self, id: NetnsId) {
        let Some(c) = self.open.remove(&id) else {
            return;
        };
        for (state, _) in &c.readers {
            state.stop.store(true, Ordering::Relaxed);
        }
        for (state, handle) in c.readers {
            let _ = handle.join();
            self.shared
                .readers
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .retain(|r| !Arc::ptr_eq(r, &state));
        }
        let _ = self.tx.send(ToWorker::Unwatch(id));
    }

    fn close_all(&mut self) {
        let ids: Vec<NetnsId> = self.open.keys().copied().collect();
        for id in ids {
            self.close(id);
        }
    }
}

/// Whether something is mounted on `path` (its device differs from its
/// directory's): a `/run/netns/NAME` not yet bind-mounted is a plain file.
fn is_mount_point(path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    let dev = |p: &Path| std::fs::metadata(p).map(|m| m.dev()).ok();
    match (dev(path), path.parent().and_then(dev)) {
        (Some(a), Some(b)) => a != b,
        _ => false,
    }
}

/// Runs the namespace watcher until `stop` (with `all`, watching for new
/// and gone namespaces; without, only keeping netoproc's own rings);
/// closes every ring on the way out.
pub fn spawn_watcher(
    mut ns: Namespaces,
    events: Option<ProcEvents>,
    stop: Arc<AtomicBool>,
    all: bool,
) -> std::io::Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name("netoproc-netns".into())
        .spawn(move || {
            let mut last_full = Instant::now();
            let mut last_named = Instant::now();
            while !stop.load(Ordering::Relaxed) {
                match &events {
                    Some(ev) => {
                        let first = ev.recv_timeout(NAMED_EVERY);
                        let rest: Vec<ProcEvent> = ev.drain().collect();
                        for e in first.into_iter().chain(rest) {
                            match e.changed_process() {
                                Some((tgid, false)) => ns.on_process(tgid),
                                Some((tgid, true)) => {
                                    ns.lock_sightings().exited(tgid, Instant::now())
                                }
                                None => {}
                            }
                        }
                    }
                    None => std::thread::sleep(NAMED_EVERY),
                }
                let now = Instant::now();
                if !all {
                    continue;
                }
                if now.duration_since(last_named) >= NAMED_EVERY {
                    ns.check_named();
                    last_named = now;
                }
                if now.duration_since(last_full) >= FULL_EVERY {
                    for (id, e) in ns.sync_all() {
                        ns.note(id, &e);
                    }
                    ns.lock_sightings().expire(now);
                    last_full = now;
                }
            }
            ns.close_all();
        })
}
