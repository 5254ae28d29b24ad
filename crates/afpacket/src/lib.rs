//! AF_PACKET capture: a TPACKET_V3 memory-mapped receive ring that hands
//! each packet's headers (link type, direction, interface, original length,
//! the first `snap_len` bytes) to a callback. It owns the socket, the ring
//! memory, the snap-length filter, fanout groups, network-namespace entry
//! and the kernel's drop counters. It does not parse packets beyond the
//! ring's own metadata (that is `netoproc-wire`) nor attribute them to
//! processes (that is `netoproc-procfs`): [`capture`] builds the capture
//! backend from all three.
//!
//! Truncation uses a classic BPF filter (`filter`): in TPACKET_V3 frames
//! are variable-length and the frame size does not bound them, so the
//! filter is what keeps payload out of the ring. Only packets from or to a
//! DNS port keep more than their headers.

#![warn(missing_docs)]

mod block;
pub mod capture;
mod config;
mod filter;
mod netns;
mod ring;
mod sys;

use std::io;
use std::path::PathBuf;

pub use block::{Direction, Packet};
pub use config::RingConfig;
pub use netoproc_wire::LinkType;
pub use ring::{Ring, RingStats};

/// Why a ring could not be opened or read.
#[derive(Debug, thiserror::Error)]
pub enum RingError {
    /// The ring geometry or options make no valid ring.
    #[error("invalid ring options: {0}")]
    Config(String),
    /// `--interface` names no interface of this namespace.
    #[error("no network interface named {name:?}; `ip link` lists them")]
    UnknownInterface {
        /// The name given.
        name: String,
    },
    /// EPERM/EACCES opening or setting up the socket.
    #[error(
        "opening an AF_PACKET socket needs CAP_NET_RAW: run as root or grant the \
         binary cap_net_raw (setcap cap_net_raw+ep)"
    )]
    Permission,
    /// `setns` into another namespace failed.
    #[error("cannot enter network namespace {path}")]
    Netns {
        /// The namespace file given to `setns`.
        path: PathBuf,
        /// Why opening it or `setns` failed.
        #[source]
        error: io::Error,
    },
    /// The namespace bound is reached.
    #[error(
        "{max} network namespaces already have rings (the most allowed; \
         --max-netns raises it)"
    )]
    TooManyNamespaces {
        /// The bound (`--max-netns`).
        max: usize,
    },
    /// A system call failed; `op` names it.
    #[error("{op} failed")]
    Sys {
        /// The call, e.g. `socket(AF_PACKET)`.
        op: &'static str,
        /// The errno it returned.
        #[source]
        error: io::Error,
    },
}

impl RingError {
    fn sys(op: &'static str) -> impl FnOnce(io::Error) -> RingError {
        move |error| match error.raw_os_error() {
            Some(libc::EPERM) | Some(libc::EACCES) => RingError::Permission,
            _ => RingError::Sys { op, error },
        }
    }
}
