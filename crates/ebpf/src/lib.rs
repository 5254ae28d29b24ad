//! netoproc-ebpf: per-socket byte accounting in the kernel. The C programs in
//! `bpf/` read each socket's payload from the kernel's own counters (the
//! counter path) or count every send and receive at the socket, attributed
//! in the caller's context; this crate loads their committed CO-RE object with aya,
//! picks the hook rung the kernel supports ([`ladder`]), and turns what the
//! kernel hands over into core records ([`records`]). It never formats output.

#![warn(missing_docs)]

pub mod abi;
pub mod capture;
pub mod cgroup;
pub mod error;
pub mod kretprobe;
pub mod ladder;
pub mod live_read;
pub mod map_dump;
mod misses;
pub mod names;
pub mod older_sockets;
pub mod probe;
pub mod records;
pub mod socket_iter;

pub use capture::{EbpfCapture, EbpfOptions, EbpfStartError};
pub use error::{AttachError, RungError, TracefsError, UnknownChoice};
pub use ladder::HookChoice;
pub use live_read::LiveRead;
