//! The capture backend seam: what the run loop needs from eBPF or AF_PACKET
//! capture. A backend feeds observations into a [`SocketLedger`]; it never
//! formats output, and views never call it.

use std::time::Duration;

use serde::Serialize;

use crate::ledger::SocketLedger;
use crate::model::DnsPacket;
use crate::report::{AttributionStats, Losses};

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

pub trait CaptureBackend {
    fn info(&self) -> &CaptureInfo;

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

    /// How owners were found, for backends that infer them from packets
    /// (AF_PACKET); `None` where the kernel names them (eBPF).
    fn attribution(&self) -> Option<AttributionStats> {
        None
    }
}
