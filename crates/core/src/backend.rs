//! The capture backend seam: what the run loop needs from eBPF or AF_PACKET
//! capture. A backend feeds observations into a [`SocketLedger`]; it never
//! formats output, and views never call it.

use std::time::Duration;

use serde::Serialize;

use crate::ledger::SocketLedger;
use crate::lifecycle::LifeEvent;
use crate::model::DnsPacket;
use crate::report::{AttributionStats, Losses};

pub use caps::Capability;

/// Any failure a backend reports; the engine wraps it with the step that
/// failed ([`std::error::Error::source`] keeps the cause).
pub type CaptureError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// How eBPF counts bytes (`--hooks`): `Auto` takes the first of counters,
/// tracepoint, fentry and kprobe that attaches. One type for the command
/// line and the eBPF backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum HookChoice {
    /// The first that attaches, in the order below.
    #[default]
    Auto,
    /// No program per send or receive call: TCP from the kernel's own
    /// socket counters, UDP from its packets (BTF kernels with the TCP
    /// state tracepoint and socket iterators).
    Counters,
    /// A program on every send and receive call: the first of tracepoint,
    /// fentry and kprobe that attaches.
    Calls,
    /// BTF tracepoints (`tp_btf/sock_send_length`, ...): kernel 6.3+.
    Tracepoint,
    /// fentry/fexit programs on the socket calls: kernels with BTF.
    Fentry,
    /// kprobes/kretprobes: any kernel.
    Kprobe,
}

/// How live sockets' counters are read (`--live-read`): `Auto` takes the
/// first path the kernel allows, in the order below. One type for the
/// command line and the eBPF backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum LiveReadChoice {
    /// The first path that loads.
    #[default]
    Auto,
    /// `iter/bpf_sk_storage_map`: the storage map in one read (5.9+).
    MapIter,
    /// `iter/tcp` and `iter/udp`, one walk per network namespace.
    SocketIter,
    /// A hash keyed by socket cookie, walked with two syscalls an entry.
    Walk,
}

/// The most ports whose traffic is parsed as DNS (`--dns-ports`), for
/// every backend: the eBPF programs have this many slots (`abi.h`
/// `NP_DNS_PORTS_MAX`, checked when the eBPF crate compiles), and
/// AF_PACKET's filter accepts the same.
pub const MAX_DNS_PORTS: usize = 8;

/// One program or hook a backend tried, and how that went.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HookStatus {
    /// Program name, e.g. `np_tp_send`.
    pub program: String,
    /// Where it attaches, e.g. `tp_btf/sock_send_length`.
    pub attach_point: String,
    /// What it feeds: `bytes`, `udp-remote`, `close`, `wire`, `read`.
    pub feeds: &'static str,
    /// It attached and is running.
    pub attached: bool,
    /// Why it did not attach; `None` when it did.
    pub error: Option<String>,
}

/// Which backend captures (`meta.capture_mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum BackendKind {
    /// Counting at the socket layer with eBPF programs.
    Ebpf,
    /// Packets from AF_PACKET rings, owners from sock_diag and `/proc`.
    Afpacket,
}

impl BackendKind {
    /// `ebpf` or `afpacket`, as reports and flags spell it.
    pub fn name(self) -> &'static str {
        match self {
            BackendKind::Ebpf => "ebpf",
            BackendKind::Afpacket => "afpacket",
        }
    }
}

impl std::fmt::Display for BackendKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The rung of byte hooks a capture counts with (`meta.hooks`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum HookRung {
    /// No per-call hooks: the kernel's socket counters and packets.
    Counters,
    /// BTF tracepoints on the socket calls (Linux 6.3+).
    Tracepoint,
    /// fexit programs on the socket calls (kernels with BTF).
    Fentry,
    /// kprobes and kretprobes (any kernel).
    Kprobe,
    /// No byte hooks: AF_PACKET counts packets.
    None,
}

impl HookRung {
    /// `counters`, `tracepoint`, `fentry`, `kprobe` or `none`, as
    /// `--hooks` and reports spell it.
    pub fn name(self) -> &'static str {
        match self {
            HookRung::Counters => "counters",
            HookRung::Tracepoint => "tracepoint",
            HookRung::Fentry => "fentry",
            HookRung::Kprobe => "kprobe",
            HookRung::None => "none",
        }
    }
}

impl std::fmt::Display for HookRung {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// How the backend is capturing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CaptureInfo {
    /// eBPF or AF_PACKET.
    pub mode: BackendKind,
    /// The byte-hook rung in use.
    pub hooks: HookRung,
    /// How live sockets are read (eBPF: `map-iter`, `socket-iter`, `walk`).
    pub live_read: Option<&'static str>,
    /// Every program or hook tried, attached or not.
    pub programs: Vec<HookStatus>,
    /// Features that run degraded, with the reason.
    pub degraded: Vec<String>,
}

/// A capability a backend still uses once started, and what for. After
/// start-up netoproc keeps only the capabilities some backend need names
/// (and it holds) and clears the rest; `--verbose` and `doctor` print the
/// reasons.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CapabilityNeed {
    /// The capability kept.
    pub capability: Capability,
    /// What it is kept for, in words for `--verbose` and `doctor`.
    pub why: &'static str,
}

/// Naming other users' processes from `/proc` (names, command lines,
/// sockets, namespaces) after start.
pub const NAMING_PROCESSES: [CapabilityNeed; 2] = [
    CapabilityNeed {
        capability: Capability::CAP_SYS_PTRACE,
        why: "naming other users' processes from /proc",
    },
    CapabilityNeed {
        capability: Capability::CAP_DAC_READ_SEARCH,
        why: "reading other users' /proc entries",
    },
];

/// Entering other network namespaces (`setns`) to read their sockets.
pub const ENTERING_NAMESPACES: CapabilityNeed = CapabilityNeed {
    capability: Capability::CAP_SYS_ADMIN,
    why: "entering other network namespaces (setns) to read their sockets",
};

/// Reading BPF maps through descriptors already held: kernels before 6.0
/// check `CAP_BPF` on every `bpf()` call while
/// `kernel.unprivileged_bpf_disabled` is set.
pub const READING_BPF_MAPS: CapabilityNeed = CapabilityNeed {
    capability: Capability::CAP_BPF,
    why: "reading BPF maps: kernels before 6.0 check it on every bpf() call \
          while unprivileged BPF is disabled",
};

/// What a backend that does not declare its own needs is assumed to use
/// after start: all of the above.
pub const ASSUMED_NEEDS_AFTER_START: &[CapabilityNeed] = &[
    NAMING_PROCESSES[0],
    NAMING_PROCESSES[1],
    ENTERING_NAMESPACES,
    READING_BPF_MAPS,
];

/// A started capture (eBPF or AF_PACKET) the engine drives: it reads
/// sockets and events into the ledger and reports what it lost.
pub trait CaptureBackend {
    /// What was attached and how: mode, rung, programs, degradations.
    fn info(&self) -> &CaptureInfo;

    /// The capabilities this backend still uses after start-up (every
    /// thread it runs, for as long as it runs); netoproc clears all others.
    /// Opening rings, loading programs and attaching them happen in
    /// start-up and need not be listed. The default is
    /// [`ASSUMED_NEEDS_AFTER_START`].
    fn needs_after_start(&self) -> Vec<CapabilityNeed> {
        ASSUMED_NEEDS_AFTER_START.to_vec()
    }

    /// Waits up to `timeout` for events (socket closes, new processes) and
    /// merges them into `ledger`.
    fn drain_events(
        &mut self,
        ledger: &mut SocketLedger,
        timeout: Duration,
    ) -> Result<(), CaptureError>;

    /// Reads every live socket's record (and per-remote UDP counters) into
    /// `ledger`.
    fn read_sockets(&mut self, ledger: &mut SocketLedger) -> Result<(), CaptureError>;

    /// Everything lost or unattributable so far, as counted by the backend.
    fn losses(&self) -> Result<Losses, CaptureError>;

    /// DNS packets captured since the last call (oldest first). The backend
    /// holds a bounded number between calls and counts what it had to drop
    /// in [`Losses::dns_packets_dropped`].
    fn take_dns(&mut self) -> Vec<DnsPacket> {
        Vec::new()
    }

    /// TCP lifecycle steps and live-socket samples since the last call
    /// (oldest first). The backend holds a bounded number between calls
    /// and counts what it had to drop in [`CaptureBackend::lifecycle_dropped`].
    fn take_lifecycle(&mut self) -> Vec<LifeEvent> {
        Vec::new()
    }

    /// Lifecycle steps dropped so far: the kernel's ring was full (also in
    /// [`Losses::ringbuf_events`]) or the backlog between two takes was.
    fn lifecycle_dropped(&self) -> u64 {
        0
    }

    /// How owners were found, for backends that infer them from packets
    /// (AF_PACKET); `None` where the kernel names them (eBPF).
    fn attribution(&self) -> Option<AttributionStats> {
        None
    }
}
