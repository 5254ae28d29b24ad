//! The byte ledger of one generator process: what its calls returned, in
//! total and (for unconnected UDP) per remote, and the one JSON line it
//! prints at the end. Servers also print a `ready` line once they listen,
//! so the test starts clients only when the servers can answer.

use std::collections::BTreeMap;
use std::io::Write;
use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

/// Bytes moved towards and from one remote address.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Directional {
    pub tx: u64,
    pub rx: u64,
}

/// One child process's own totals (see `procs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChildTotals {
    pub pid: u32,
    pub tx_bytes: u64,
    pub rx_bytes: u64,
}

/// The JSON line a generator prints last on stdout.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GenReport {
    pub pid: u32,
    pub role: String,
    pub tx_bytes: u64,
    pub rx_bytes: u64,
    /// Per-remote split, only for roles that use one unconnected socket.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remotes: Option<BTreeMap<String, Directional>>,
    /// Totals of the short-lived children a parent spawned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub children: Option<Vec<ChildTotals>>,
    /// Datagrams (or connections) that got no answer in time; 0 normally.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub unanswered: u64,
    /// Link-layer counters (only the `packet-count` role).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wire: Option<WireCount>,
    /// How long each successful connect() took, in µs, in order (only the
    /// `tcp-dial` role).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connect_us: Option<Vec<u64>>,
    /// How each connection ended, by kind (only the `tcp-dial` role).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcomes: Option<BTreeMap<String, u64>>,
    /// Every lookup and its own timing (only the `dns-lookups` role).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dns: Option<crate::dns::DnsLog>,
}

/// IP-layer bytes a packet socket saw on one interface.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WireCount {
    pub tx_wire_bytes: u64,
    pub rx_wire_bytes: u64,
    pub tx_frames: u64,
    pub rx_frames: u64,
    /// Frames the kernel dropped before the counter read them.
    pub drops: u64,
}

fn is_zero(v: &u64) -> bool {
    *v == 0
}

/// Running totals of one generator.
#[derive(Debug, Default)]
pub struct Tally {
    pub tx: u64,
    pub rx: u64,
    per_remote: Option<BTreeMap<String, Directional>>,
    pub unanswered: u64,
}

impl Tally {
    pub fn new() -> Self {
        Self::default()
    }

    /// A tally that also splits bytes by remote address.
    pub fn per_remote() -> Self {
        Tally {
            per_remote: Some(BTreeMap::new()),
            ..Self::default()
        }
    }

    pub fn sent(&mut self, n: usize) {
        self.tx += n as u64;
    }

    pub fn received(&mut self, n: usize) {
        self.rx += n as u64;
    }

    pub fn sent_to(&mut self, to: SocketAddr, n: usize) {
        self.sent(n);
        if let Some(m) = &mut self.per_remote {
            m.entry(to.to_string()).or_default().tx += n as u64;
        }
    }

    pub fn received_from(&mut self, from: SocketAddr, n: usize) {
        self.received(n);
        if let Some(m) = &mut self.per_remote {
            m.entry(from.to_string()).or_default().rx += n as u64;
        }
    }

    pub fn into_report(self, role: &str) -> GenReport {
        GenReport {
            pid: std::process::id(),
            role: role.to_string(),
            tx_bytes: self.tx,
            rx_bytes: self.rx,
            remotes: self.per_remote,
            unanswered: self.unanswered,
            ..GenReport::default()
        }
    }
}

/// Tells the test that this server listens (first stdout line).
pub fn announce_ready() {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "ready");
    let _ = out.flush();
}

/// Prints the final JSON line.
pub fn print_report(r: &GenReport) {
    let line = serde_json::to_string(r).expect("a report always serializes");
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}
