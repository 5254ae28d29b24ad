//! `/api/v1/interfaces`: the kernel's own counters per network interface
//! at the latest read, with the host's name and the read's time, for the
//! web page's interface table and its attributed share (netoproc's wire
//! bytes over the interfaces' bytes in the same interval).

use std::time::UNIX_EPOCH;

use serde::Serialize;

use crate::published::Published;

/// The document `/api/v1/interfaces` answers with.
#[derive(Debug, Serialize)]
pub struct Interfaces<'a> {
    /// The host's name (its UTS name); empty if unreadable.
    pub host: String,
    /// When the read was made, ms since the Unix epoch.
    pub read_at_ms: u64,
    /// Reads the agent has made.
    pub reads: u64,
    /// One entry per interface, `other` last when there are more than 64.
    pub interfaces: Vec<Interface<'a>>,
}

/// One interface's counters since boot (or `other`, the sum of those past
/// the first 64 by name).
#[derive(Debug, Serialize)]
pub struct Interface<'a> {
    /// The interface's name, or `other`.
    pub name: &'a str,
    /// Bytes sent, link-layer headers included.
    pub tx_bytes: u64,
    /// Bytes received, link-layer headers included.
    pub rx_bytes: u64,
    /// Packets sent.
    pub tx_packets: u64,
    /// Packets received.
    pub rx_packets: u64,
    /// Frames the device failed to send.
    pub tx_errors: u64,
    /// Bad frames received.
    pub rx_errors: u64,
    /// Dropped before they were sent.
    pub tx_dropped: u64,
    /// Received, then dropped by the kernel.
    pub rx_dropped: u64,
}

impl<'a> Interfaces<'a> {
    /// The document for read `p`, with this host's name.
    pub fn of(p: &'a Published) -> Self {
        Interfaces {
            host: host_name(),
            read_at_ms: p
                .read_at
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_millis() as u64)
                .unwrap_or(0),
            reads: p.reads,
            interfaces: p
                .interfaces
                .iter()
                .map(|i| Interface {
                    name: &i.name,
                    tx_bytes: i.tx_bytes,
                    rx_bytes: i.rx_bytes,
                    tx_packets: i.tx_packets,
                    rx_packets: i.rx_packets,
                    tx_errors: i.tx_errors,
                    rx_errors: i.rx_errors,
                    tx_dropped: i.tx_dropped,
                    rx_dropped: i.rx_dropped,
                })
                .collect(),
        }
    }
}

/// The host's name from uname(2): no file to read, so nothing to inject.
pub fn host_name() -> String {
    // SAFETY: utsname is plain bytes, valid when zeroed; uname(2) fills it
    // with NUL-terminated strings or fails and leaves it zeroed.
    let mut uts: libc::utsname = unsafe { std::mem::zeroed() };
    // SAFETY: a valid pointer to a utsname we own.
    if unsafe { libc::uname(&mut uts) } != 0 {
        return String::new();
    }
    let raw: Vec<u8> = uts
        .nodename
        .iter()
        .take_while(|&&c| c != 0)
        .map(|&c| c as u8)
        .collect();
    String::from_utf8_lossy(&raw).into_owned()
}
