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

pub type CaptureError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// One program or hook a backend tried, and how that went.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HookStatus {
    /// Program name, e.g. `np_tp_send`.
    pub program: String,
    /// Where it attaches, e.g. `tp_btf/sock_send_length`.
    pub attach_point: String,
    /// What it feeds: `bytes`, `udp-remote`, `close`, `wire`, `read`.
    pub feeds: &'static str,
    pub attached: bool,
    /// Why it did not attach; `None` when it did.
    pub error: Option<String>,
}

/// How the backend is capturing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CaptureInfo {
    /// `ebpf` or `afpacket`.
    pub mode: &'static str,
    /// The byte-hook rung in use: `tracepoint`, `fentry` or `kprobe`.
    pub hooks: &'static str,
    /// How live sockets are read (eBPF: `map-iter`, `socket-iter`, `walk`).
    pub live_read: Option<&'static str>,
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
    pub capability: Capability,
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

pub trait CaptureBackend {
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
