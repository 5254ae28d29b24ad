//! The eBPF capture backend: loads the committed object, picks how live
//! sockets are read ([`crate::live_read`]), climbs the hook ladder, attaches
//! the cgroup and lifecycle programs around the chosen rung, and feeds the
//! ledger from three sources — the live-read path (open sockets), the ring
//! buffer (closed sockets, new processes) and the per-remote UDP map (an
//! iterator too, else a syscall walk). Degraded features are listed, never
//! hidden.

use std::collections::BTreeSet;
use std::fs::File;
use std::os::fd::{AsFd, AsRawFd};
use std::path::PathBuf;
use std::time::Duration;

use aya::maps::{HashMap, Map, MapData, PerCpuArray, RingBuf};
use aya::programs::Iter;
use aya::{Btf, Ebpf, EbpfLoader};
use netoproc_core::backend::{
    CapabilityNeed, CaptureBackend, CaptureError, CaptureInfo, HookStatus, ENTERING_NAMESPACES,
    MAX_DNS_PORTS, NAMING_PROCESSES, READING_BPF_MAPS,
};
use netoproc_core::ledger::SocketLedger;
use netoproc_core::lifecycle::{LifeEvent, Step};
use netoproc_core::report::Losses;
use netoproc_core::DnsPacket;

use crate::abi::{self, np_peer_counters, np_peer_key, np_sock_stats};
use crate::cgroup::{cgroup2_mount, mount_private_cgroup2};
use crate::error::AttachError;
use crate::kretprobe::{self, TracefsKretprobe};
use crate::ladder::{
    attach_point, error_chain, os_error, rungs, status, Attacher, HookChoice, Rung, COMMON,
    COUNTERS_NEED,
};
use crate::live_read::{self, LiveRead, LiveReader};
use crate::map_dump::{IterLink, MapDump};
use crate::names;
use crate::records::{
    decode_event, decode_life_samples, decode_peer_dump, decode_socket_dump, peer_record,
    socket_record, Event,
};
use netoproc_core::backend::LiveReadChoice;

/// The compiled programs (see `scripts/regen-bpf.sh`).
pub(crate) static OBJECT: &[u8] = aya::include_bytes_aligned!("generated/netoproc.bpf.o");

/// How the eBPF backend captures.
#[derive(Debug, Clone)]
pub struct EbpfOptions {
    /// The byte-hook rung asked for (`--hooks`); `Auto` climbs the ladder.
    pub hooks: HookChoice,
    /// Ring buffer size in bytes: a power of two, at least one page.
    pub ringbuf_bytes: u32,
    /// Where to find the cgroup2 mount (normally `/proc/self/mountinfo`).
    pub mountinfo: PathBuf,
    /// Ports whose packets are DNS (at most 8); empty switches DNS capture
    /// off.
    pub dns_ports: Vec<u16>,
    /// How live sockets are read (`--live-read`); `Auto`: the first path
    /// the kernel allows.
    pub live_read: LiveReadChoice,
    /// Send every TCP lifecycle step (connect, established, accepted) as it
    /// happens, for a stream; otherwise only closes (and live samples).
    pub lifecycle_steps: bool,
}

impl Default for EbpfOptions {
    fn default() -> Self {
        EbpfOptions {
            hooks: HookChoice::Auto,
            ringbuf_bytes: 8 << 20,
            mountinfo: PathBuf::from("/proc/self/mountinfo"),
            dns_ports: vec![53],
            live_read: LiveReadChoice::Auto,
            lifecycle_steps: true,
        }
    }
}

/// Why the eBPF backend could not start.
#[derive(Debug, thiserror::Error)]
pub enum EbpfStartError {
    /// Not permitted to load BPF programs (exit code 4); the kernel's words in the text.
    #[error("not permitted to load BPF programs ({0}); run as root or grant CAP_BPF, CAP_PERFMON and CAP_NET_ADMIN")]
    Privileges(String),
    /// The kernel lacks what eBPF capture needs (BTF, a hook, a map type); the text says what.
    #[error("eBPF capture is unavailable here: {0}")]
    Unavailable(String),
}

/// The eBPF capture backend: the loaded object, the rung of byte hooks
/// that attached, the live-socket reader and the ring buffer of events.
/// Detaches everything on drop.
pub struct EbpfCapture {
    ebpf: Ebpf,
    info: CaptureInfo,
    rung: Rung,
    events: RingBuf<MapData>,
    live: LiveReader,
    /// Namespaces the socket iterators could not enter, already reported.
    unreachable_reported: BTreeSet<u64>,
    /// `np_peers` in one read; `None`: walked with two syscalls an entry.
    peers: Option<MapDump>,
    _cgroup: Option<File>,
    /// kprobe rung: the return probes made through tracefs (attached while
    /// held; their missed returns are read from `kprobe_profile`).
    kretprobes: Vec<TracefsKretprobe>,
    /// DNS packets decoded but not yet taken.
    dns: Vec<DnsPacket>,
    dns_dropped: u64,
    /// TCP lifecycle steps and live samples decoded but not yet taken.
    life: Vec<LifeEvent>,
    life_dropped: u64,
    /// Ring-buffer records skipped because they did not decode.
    undecodable: u64,
    /// This process's `fdinfo` directory (programs' skipped runs).
    fdinfo: PathBuf,
    /// `np_peers` entries this process deleted (of closed sockets).
    peers_deleted: u64,
    /// The LRU's evictions, as last derived (never decreases).
    peers_evicted: u64,
}

/// Sockets the walk path's hash holds (entries are allocated as used, so
/// the size costs nothing until sockets fill it); past it, sockets are not
/// tracked and `socket_map_full` counts each refused update.
const WALK_MAX_SOCKETS: u32 = 1 << 20;

/// Ring-buffer records taken per `drain_events` call at most: a flood then
/// cannot keep one call (and the UI, or `--duration`) from returning; the
/// rest waits in the ring for the next call.
const DRAIN_MAX: usize = 65_536;

/// DNS packets held between two `take_dns` calls before new ones are
/// dropped (and counted).
const DNS_BACKLOG: usize = 65_536;

/// Lifecycle steps and samples held between two `take_lifecycle` calls
/// before new ones are dropped (and counted).
const LIFE_BACKLOG: usize = 65_536;

impl EbpfCapture {
    /// Loads the committed object, attaches the first rung that works (or
    /// the one asked for) and picks the live-socket reader. `auto` tries
    /// the counter path first (it reads live sockets with the socket
    /// iterators, so not where another `--live-read` path is forced) and
    /// says in `degraded` why it fell back to per-call hooks.
    pub fn start(opts: &EbpfOptions) -> Result<Self, EbpfStartError> {
        let iterators_allowed = matches!(
            opts.live_read,
            LiveReadChoice::Auto | LiveReadChoice::SocketIter
        );
        match opts.hooks {
            HookChoice::Counters if !iterators_allowed => Err(EbpfStartError::Unavailable(
                "the counter path reads live sockets with the socket iterators;                  --live-read cannot choose another path with --hooks counters"
                    .into(),
            )),
            HookChoice::Counters => Self::start_with(opts, true),
            HookChoice::Auto if iterators_allowed => match Self::start_with(opts, true) {
                Ok(c) => Ok(c),
                Err(why) => {
                    let mut c = Self::start_with(opts, false)?;
                    c.info.degraded.insert(
                        0,
                        format!(
                            "counters: the counter path is unavailable ({why}); every send \
                             and receive call runs a program instead"
                        ),
                    );
                    Ok(c)
                }
            },
            _ => Self::start_with(opts, false),
        }
    }

    /// [`EbpfCapture::start`] on the counter path (`counters`) or a rung
    /// of per-call hooks.
    fn start_with(opts: &EbpfOptions, counters: bool) -> Result<Self, EbpfStartError> {
        let (ebpf, btf) = load_object(opts, false, counters)?;
        let chosen = if counters {
            let iterators = EbpfOptions {
                live_read: LiveReadChoice::SocketIter,
                ..opts.clone()
            };
            live_read::choose(ebpf, &btf, &iterators)?
        } else {
            live_read::choose(ebpf, &btf, opts)?
        };
        let mut ebpf = chosen.ebpf;
        let live = chosen.reader;
        let mut degraded = chosen.degraded;
        let mut programs: Vec<HookStatus> = chosen.programs;
        let cgroup = open_cgroup2(opts, &mut degraded);

        let mut attacher = Attacher::new(&mut ebpf, &btf, cgroup.as_ref());
        let mut failures = Vec::new();
        let mut chosen = None;
        let ladder = rungs(opts.hooks)
            .iter()
            .filter(|&&r| (r == Rung::Counters) == counters);
        for &rung in ladder {
            match attacher.try_rung(rung) {
                Ok(statuses) => {
                    programs.extend(statuses);
                    chosen = Some(rung);
                    break;
                }
                Err(why) => failures.push(format!("{rung}: {}", error_chain(&why))),
            }
        }
        let Some(rung) = chosen else {
            let eperm = failures
                .iter()
                .all(|f| f.contains("Operation not permitted"));
            let msg = format!(
                "no byte-counting hook could attach ({})",
                failures.join("; ")
            );
            // Root refused is the kernel's policy (lockdown), not privileges.
            return Err(if eperm && !is_privileged() {
                EbpfStartError::Privileges(msg)
            } else if eperm {
                EbpfStartError::Unavailable(format!("{msg}; {}", refused_as_root()))
            } else {
                EbpfStartError::Unavailable(msg)
            });
        };
        for f in &failures {
            degraded.push(format!("rung skipped, {f}"));
        }
        for h in COMMON {
            let r = attacher.attach(h);
            if let Err(e) = &r {
                degraded.push(format!(
                    "{}: {} not attached: {}",
                    h.feeds,
                    h.program,
                    error_chain(e)
                ));
            }
            if counters && COUNTERS_NEED.contains(&h.program) {
                if let Err(e) = &r {
                    return Err(EbpfStartError::Unavailable(format!(
                        "the counter path needs {} ({}): {}",
                        h.program,
                        attach_point(h),
                        error_chain(e)
                    )));
                }
            }
            programs.push(status(h, &r));
        }
        degraded.append(&mut attacher.notes);
        let kretprobes = std::mem::take(&mut attacher.kretprobes);
        if counters {
            let seeded =
                crate::older_sockets::seed(&mut ebpf, &netoproc_procfs::ProcRoot::new("/proc"));
            if !seeded.problems.is_empty() || seeded.over_bound > 0 {
                degraded.push(format!(
                    "owner: {} sockets older than netoproc could not be named ({}); \
                     they are named by the process closing them, counted as \
                     no_owner_bytes until then",
                    seeded.over_bound,
                    seeded.problems.join("; ")
                ));
            }
        }

        let peers = attach_iter(&mut ebpf, &btf, &PEERS_DUMP).map(MapDump::new);
        programs.push(PEERS_DUMP.status(peers.as_ref().err()));
        if let Err(e) = &peers {
            degraded.push(format!(
                "read: {} not attached ({}); per-remote UDP counters are walked with two syscalls an entry",
                PEERS_DUMP.program,
                error_chain(e)
            ));
        }
        let peers = peers.ok();

        // The kernel BTF is no longer needed: free it (and give the memory
        // back) before mapping the ring buffer, so the two never add up.
        drop(btf);
        release_freed_memory();
        let events = ebpf
            .take_map(names::EVENTS)
            .ok_or_else(|| {
                EbpfStartError::Unavailable("ring buffer map missing from the object".into())
            })
            .and_then(|m| {
                RingBuf::try_from(m).map_err(|e| EbpfStartError::Unavailable(error_chain(&e)))
            })?;

        Ok(EbpfCapture {
            ebpf,
            info: CaptureInfo {
                mode: netoproc_core::backend::BackendKind::Ebpf,
                hooks: rung.hook_rung(),
                live_read: Some(live.path().name()),
                programs,
                degraded,
            },
            rung,
            events,
            live,
            unreachable_reported: BTreeSet::new(),
            peers,
            _cgroup: cgroup,
            kretprobes,
            dns: Vec::new(),
            dns_dropped: 0,
            life: Vec::new(),
            life_dropped: 0,
            fdinfo: crate::misses::fdinfo_dir(&opts.mountinfo),
            undecodable: 0,
            peers_deleted: 0,
            peers_evicted: 0,
        })
    }

    /// Returns of the byte-counting kretprobes the kernel did not report.
    /// The BPF side finds each one at the thread's next call (`stale`);
    /// `kprobe_profile` has them all at once, also a thread's last call, but
    /// only for the probes made through tracefs, and before Linux 5.17 not
    /// those that found no free instance. Both count the same misses, so the
    /// larger is the better.
    fn missed_returns(&self, stale: u64) -> u64 {
        kretprobe::missed_returns(&self.kretprobes).max(stale)
    }

    /// One loss counter of the BPF side, summed over CPUs.
    fn stat(&self, idx: u32) -> Result<u64, CaptureError> {
        let map = self.ebpf.map(names::STATS).ok_or("np_stats map missing")?;
        let stats: PerCpuArray<&MapData, u64> = PerCpuArray::try_from(map)?;
        Ok(stats.get(&idx, 0)?.iter().sum())
    }

    fn read_peers(&mut self, ledger: &mut SocketLedger) -> Result<(), CaptureError> {
        // Made before the walk: entries made during it only lower the
        // estimate below (never a false eviction).
        let made = self.stat(abi::NP_STAT_PEER_INSERTS)?;
        let map = self
            .ebpf
            .map_mut(names::PEERS)
            .ok_or("np_peers map missing")?;
        let mut peers: HashMap<&mut MapData, np_peer_key, np_peer_counters> =
            HashMap::try_from(map)?;
        let mut finished = Vec::new();
        let mut alive = 0u64;
        let mut observe = |k: np_peer_key, v: &np_peer_counters| {
            alive += 1;
            if let Some(p) = peer_record(&k, v) {
                let closed = ledger.socket(p.cookie).is_some_and(|s| s.closed);
                ledger.observe_peer(p);
                if closed {
                    finished.push(k);
                }
            }
        };
        match self.peers.as_mut() {
            Some(dump) => {
                for e in decode_peer_dump(dump.read_all()?) {
                    observe(e.key, &e.counters);
                }
            }
            None => {
                for (k, v) in peers.iter().flatten() {
                    observe(k, &v);
                }
            }
        }
        // Made = deleted + evicted + alive.
        let evicted = made.saturating_sub(self.peers_deleted + alive);
        self.peers_evicted = self.peers_evicted.max(evicted);
        // A released socket sends no more: its final per-remote counts are
        // in the ledger now, so free the entries.
        for k in finished {
            if peers.remove(&k).is_ok() {
                self.peers_deleted += 1;
            }
        }
        Ok(())
    }
}

// The programs have a slot for every port the command line accepts.
const _: () = assert!(abi::NP_DNS_PORTS_MAX as usize == MAX_DNS_PORTS);

/// Loads the committed object (maps created, nothing attached) and returns
/// it with the kernel BTF the programs are loaded against.
/// `walk` loads it for the walk path (records in a hash keyed by cookie).
pub(crate) fn load_object(
    opts: &EbpfOptions,
    walk: bool,
    counters: bool,
) -> Result<(Ebpf, Btf), EbpfStartError> {
    // EbpfLoader::new() parses the kernel BTF itself (~15 MiB in memory);
    // drop that copy before parsing the one we keep, so two never coexist.
    let mut loader = EbpfLoader::new();
    loader.btf(None);
    let btf = Btf::from_sys_fs().map_err(|e| {
        EbpfStartError::Unavailable(format!(
            "kernel BTF is missing at /sys/kernel/btf/vmlinux ({}); a kernel built with \
             CONFIG_DEBUG_INFO_BTF=y is needed",
            error_chain(&e)
        ))
    })?;
    let mut ports = [0u16; MAX_DNS_PORTS];
    if opts.dns_ports.len() > ports.len() {
        return Err(EbpfStartError::Unavailable(format!(
            "at most {} DNS ports can be watched, {} given",
            ports.len(),
            opts.dns_ports.len()
        )));
    }
    ports[..opts.dns_ports.len()].copy_from_slice(&opts.dns_ports);
    let walk_mode = u8::from(walk);
    let counter_mode = u8::from(counters && !walk);
    let life_steps = u8::from(opts.lifecycle_steps);
    let loaded = loader
        .btf(Some(&btf))
        .override_global(names::GLOBAL_DNS_PORTS, &ports, true)
        .override_global(names::GLOBAL_WALK_MODE, &walk_mode, true)
        .override_global(names::GLOBAL_LIFE_STEPS, &life_steps, true)
        .override_global(names::GLOBAL_COUNTER_MODE, &counter_mode, true)
        .map_max_entries(names::EVENTS, opts.ringbuf_bytes)
        .map_max_entries(names::SOCK_WALK, WALK_MAX_SOCKETS)
        .load(OBJECT);
    drop(loader);
    let ebpf = loaded.map_err(|e| match os_error(&e) {
        Some(libc::EPERM) | Some(libc::EACCES) if !is_privileged() => {
            EbpfStartError::Privileges(error_chain(&e))
        }
        Some(libc::EPERM) | Some(libc::EACCES) => EbpfStartError::Unavailable(format!(
            "loading the BPF object failed: {}; {}",
            error_chain(&e),
            refused_as_root()
        )),
        _ => EbpfStartError::Unavailable(format!(
            "loading the BPF object failed: {}",
            error_chain(&e)
        )),
    })?;
    Ok((ebpf, btf))
}

/// Opens the cgroup v2 root the cgroup programs attach to (mounting a
/// private one where none is visible); says in `degraded` what is missing
/// without it.
pub(crate) fn open_cgroup2(opts: &EbpfOptions, degraded: &mut Vec<String>) -> Option<File> {
    let mountinfo = std::fs::read_to_string(&opts.mountinfo).ok();
    match mountinfo.as_deref().and_then(cgroup2_mount) {
        Some(path) => match File::open(&path) {
            Ok(f) => Some(f),
            Err(e) => {
                degraded.push(format!(
                    "cgroup programs: cannot open {}: {e}",
                    path.display()
                ));
                None
            }
        },
        None => match mount_private_cgroup2() {
            Ok(f) => Some(f),
            Err(e) => {
                degraded.push(format!(
                    "cgroup programs: no cgroup v2 hierarchy is visible and mounting a private \
                     one failed ({e}; needs CAP_SYS_ADMIN); wire bytes, UDP remotes, early owners \
                     and UDP close events are missing (mount -t cgroup2 none /sys/fs/cgroup)"
                ));
                None
            }
        },
    }
}

/// Whether this kernel refuses every bpf() command without CAP_BPF while
/// unprivileged BPF is disabled (before 6.0; since then only creating maps
/// and loading programs are refused, and descriptors held keep working).
/// Unknown versions count as old.
fn bpf_syscall_checks_capability() -> bool {
    let disabled = std::fs::read_to_string("/proc/sys/kernel/unprivileged_bpf_disabled")
        .map(|s| s.trim() != "0")
        .unwrap_or(true);
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let mut parts = release.trim().split(['.', '-']);
    let major: u32 = parts.next().and_then(|p| p.parse().ok()).unwrap_or(0);
    disabled && major < 6
}

/// Hands freed heap pages back to the system (glibc keeps them otherwise).
fn release_freed_memory() {
    #[cfg(target_env = "gnu")]
    // SAFETY: malloc_trim only releases free heap pages; no pointers change.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Whether we hold what loading BPF needs (CAP_SYS_ADMIN, or CAP_BPF with
/// CAP_PERFMON), so a refusal is the kernel's policy rather than missing
/// privileges. Root with those capabilities dropped counts as unprivileged.
pub(crate) fn is_privileged() -> bool {
    const CAP_SYS_ADMIN: u32 = 21;
    const CAP_PERFMON: u32 = 38;
    const CAP_BPF: u32 = 39;
    let caps = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("CapEff:"))
                .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        })
        .unwrap_or(0);
    let has = |c: u32| caps & (1 << c) != 0;
    has(CAP_SYS_ADMIN) || (has(CAP_BPF) && has(CAP_PERFMON))
}

/// Why root can be refused: kernel lockdown forbids fentry/fexit and some
/// helpers even to root; say which mode is active when securityfs shows it.
fn refused_as_root() -> String {
    let text = std::fs::read_to_string("/sys/kernel/security/lockdown").unwrap_or_default();
    let mode = text
        .split_whitespace()
        .find(|w| w.starts_with('['))
        .map(|w| w.trim_matches(|c| c == '[' || c == ']').to_string());
    let why = match mode.as_deref() {
        Some("none") => "a security module (SELinux, AppArmor, ...) refused it".to_string(),
        Some(m) => format!("kernel lockdown is `{m}`"),
        None => "kernel lockdown or a security module refused it".to_string(),
    };
    format!(
        "the kernel refused even root: {why}; try another rung (--hooks tracepoint on Linux 6.3+, or --hooks kprobe)"
    )
}

/// An iterator program and the map it dumps (`None`: a socket iterator).
pub(crate) struct DumpSpec {
    pub program: &'static str,
    /// The iterator target the program is loaded for.
    pub target: &'static str,
    pub map: Option<&'static str>,
}

impl DumpSpec {
    /// How attaching it went, for the report's program list.
    pub(crate) fn status(&self, error: Option<&AttachError>) -> HookStatus {
        HookStatus {
            program: self.program.into(),
            attach_point: format!("iter/{}", self.target),
            feeds: "read",
            attached: error.is_none(),
            error: error.map(|e| error_chain(e)),
        }
    }
}

pub(crate) const SOCKETS_DUMP: DumpSpec = DumpSpec {
    program: "np_dump_socks",
    target: "bpf_sk_storage_map",
    map: Some(names::SOCKS),
};

pub(crate) const PEERS_DUMP: DumpSpec = DumpSpec {
    program: "np_dump_peers",
    target: "bpf_map_elem",
    map: Some(names::PEERS),
};

/// Loads an iterator program and links it (to its map, if it has one).
pub(crate) fn attach_iter(
    ebpf: &mut Ebpf,
    btf: &Btf,
    spec: &DumpSpec,
) -> Result<IterLink, AttachError> {
    let prog: &mut Iter = ebpf
        .program_mut(spec.program)
        .ok_or(AttachError::MissingProgram(spec.program))?
        .try_into()?;
    prog.load(spec.target, btf)?;
    let prog_fd = prog
        .fd()?
        .as_fd()
        .try_clone_to_owned()
        .map_err(AttachError::sys("duplicating the program's descriptor"))?;
    let map_fd = match spec.map.map(|name| (name, ebpf.map(name))) {
        None => None,
        Some((_, Some(Map::SkStorage(data) | Map::HashMap(data)))) => Some(
            data.fd()
                .as_fd()
                .try_clone_to_owned()
                .map_err(AttachError::sys("duplicating the map's descriptor"))?,
        ),
        Some((name, _)) => return Err(AttachError::MissingMap(name)),
    };
    IterLink::attach(prog_fd.as_fd(), map_fd.as_ref().map(|m| m.as_fd()))
        .map_err(AttachError::sys("BPF_LINK_CREATE"))
}

/// Every record of a hash of socket records, two syscalls an entry.
fn walk_records(ebpf: &Ebpf, map: &str, ledger: &mut SocketLedger) -> Result<(), CaptureError> {
    let map = ebpf.map(map).ok_or_else(|| format!("{map} map missing"))?;
    let socks: HashMap<&MapData, u64, np_sock_stats> = HashMap::try_from(map)?;
    for (key, s) in socks.iter().flatten() {
        ledger.observe_socket(socket_record(&s, key));
    }
    Ok(())
}

/// Live TCP sockets' lifecycle samples from a socket dump, past the
/// backlog bound only the newest read's (a sample replaces the last one).
fn keep_samples(life: &mut Vec<LifeEvent>, bytes: &[u8]) {
    life.retain(|e| e.step != Step::Sample);
    life.extend(decode_life_samples(bytes));
}

impl CaptureBackend for EbpfCapture {
    fn info(&self) -> &CaptureInfo {
        &self.info
    }

    /// Once attached, maps and the ring buffer are read through descriptors
    /// already held. What remains: naming processes from /proc, entering
    /// other namespaces on the socket-iterator path, and, on kernels before
    /// 6.0, every bpf() call while unprivileged BPF is disabled.
    fn needs_after_start(&self) -> Vec<CapabilityNeed> {
        let mut needs = NAMING_PROCESSES.to_vec();
        if self.live.path() == LiveRead::SocketIter {
            needs.push(ENTERING_NAMESPACES);
        }
        if bpf_syscall_checks_capability() {
            needs.push(READING_BPF_MAPS);
        }
        needs
    }

    fn drain_events(
        &mut self,
        ledger: &mut SocketLedger,
        timeout: Duration,
    ) -> Result<(), CaptureError> {
        let mut pfd = libc::pollfd {
            fd: self.events.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        let ms = timeout.as_millis().min(i32::MAX as u128) as i32;
        // SAFETY: one valid pollfd for the duration of the call.
        let n = unsafe { libc::poll(&mut pfd, 1, ms) };
        if n < 0 {
            let e = std::io::Error::last_os_error();
            if e.kind() != std::io::ErrorKind::Interrupted {
                return Err(e.into());
            }
        }
        let mut taken = 0;
        while taken < DRAIN_MAX {
            let Some(item) = self.events.next() else {
                break;
            };
            taken += 1;
            match decode_event(&item) {
                Ok(Event::SocketClosed(rec)) => ledger.observe_socket(rec),
                Ok(Event::Process(p)) => ledger.observe_process(p),
                Ok(Event::Life(ev)) => {
                    // The closed step is also the socket's close record.
                    if ev.step == Step::Closed {
                        ledger.observe_socket(ev.record.clone());
                    }
                    if self.life.len() < LIFE_BACKLOG {
                        self.life.push(*ev);
                    } else {
                        self.life_dropped += 1;
                    }
                }
                Ok(Event::Dns(p)) => {
                    if self.dns.len() < DNS_BACKLOG {
                        self.dns.push(p);
                    } else {
                        self.dns_dropped += 1;
                    }
                }
                // One bad record costs that record, never the capture.
                Err(_) => self.undecodable += 1,
            }
        }
        Ok(())
    }

    fn read_sockets(&mut self, ledger: &mut SocketLedger) -> Result<(), CaptureError> {
        match &mut self.live {
            LiveReader::MapIter(it) => {
                let bytes = it.read_all()?;
                for rec in decode_socket_dump(bytes) {
                    ledger.observe_socket(rec);
                }
                keep_samples(&mut self.life, bytes);
            }
            LiveReader::SocketIter(it) => {
                let named: BTreeSet<u32> = ledger
                    .sockets()
                    .filter(|s| !s.closed)
                    .filter_map(|s| s.owner.as_ref().map(|o| o.netns))
                    .collect();
                let bytes = it.read_all(&named)?;
                for rec in decode_socket_dump(bytes) {
                    ledger.observe_socket(rec);
                }
                keep_samples(&mut self.life, bytes);
                let new: Vec<String> = it
                    .unreachable
                    .iter()
                    .filter(|(id, _)| self.unreachable_reported.insert(**id))
                    .map(|(id, why)| format!("net:[{id}] ({why})"))
                    .collect();
                if !new.is_empty() {
                    self.info.degraded.push(format!(
                        "read: open sockets of network namespace {} are not read live (entering it failed); their counters arrive when they close",
                        new.join(", ")
                    ));
                }
            }
            LiveReader::Walk => walk_records(&self.ebpf, names::SOCK_WALK, ledger)?,
        }
        if self.rung == Rung::Kprobe {
            walk_records(&self.ebpf, names::SOCK_HASH, ledger)?;
        }
        self.read_peers(ledger)
    }

    fn take_dns(&mut self) -> Vec<DnsPacket> {
        std::mem::take(&mut self.dns)
    }

    fn take_lifecycle(&mut self) -> Vec<LifeEvent> {
        std::mem::take(&mut self.life)
    }

    fn lifecycle_dropped(&self) -> u64 {
        // A skipped run of the state hook may have been a step; on the
        // counter path a skipped socket destroy was a closed step.
        let state_misses: u64 = crate::misses::program_misses(&self.ebpf, &self.fdinfo)
            .iter()
            .filter(|(name, _)| {
                name == crate::ladder::TCP_STATE || name == crate::ladder::TCP_DESTROY
            })
            .map(|(_, n)| n)
            .sum();
        self.life_dropped + state_misses
    }

    fn losses(&self) -> Result<Losses, CaptureError> {
        let map = self.ebpf.map(names::STATS).ok_or("np_stats map missing")?;
        let stats: PerCpuArray<&MapData, u64> = PerCpuArray::try_from(map)?;
        let get = |i: u32| -> Result<u64, CaptureError> { Ok(stats.get(&i, 0)?.iter().sum()) };
        Ok(Losses {
            ringbuf_events: get(abi::NP_STAT_RINGBUF_LOST)?,
            socket_storage_failures: get(abi::NP_STAT_SK_STORAGE_FAIL)?,
            socket_map_full: get(abi::NP_STAT_SOCK_HASH_FULL)?,
            peer_map_full: get(abi::NP_STAT_PEER_MAP_FULL)?,
            peer_map_evicted: self.peers_evicted,
            ring_records_undecodable: self.undecodable,
            kretprobe_misses: get(abi::NP_STAT_INFLIGHT_MISS)?
                + self.missed_returns(get(abi::NP_STAT_KRETPROBE_STALE)?),
            program_misses: crate::misses::program_misses(&self.ebpf, &self.fdinfo)
                .iter()
                .map(|(_, n)| n)
                .sum(),
            capture_drops: 0,
            unparsed_packets: get(abi::NP_STAT_UDP_UNPARSED)?,
            unattributed_tx_packets: get(abi::NP_STAT_WIRE_NO_SOCK_TX)?,
            unattributed_rx_packets: get(abi::NP_STAT_WIRE_NO_SOCK_RX)?,
            unattributed_tx_wire_bytes: get(abi::NP_STAT_WIRE_NO_SOCK_TX_BYTES)?,
            unattributed_rx_wire_bytes: get(abi::NP_STAT_WIRE_NO_SOCK_RX_BYTES)?,
            no_owner_bytes: 0,
            no_owner_wire_bytes: 0,
            dns_truncated: get(abi::NP_STAT_DNS_TRUNCATED)?,
            dns_packets_dropped: self.dns_dropped,
        })
    }
}
