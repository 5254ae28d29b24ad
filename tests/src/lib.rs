//! Traffic generators for netoproc's end-to-end tests. Each generator moves
//! bounded TCP or UDP traffic with blocking `std::net` sockets (and
//! `libc::sendfile`) and records exactly what its own send, receive and
//! sendfile calls returned, so a test can compare those totals with what
//! netoproc reports for the generator's pid. Nothing here talks to netoproc
//! or decides pass/fail; it only moves bytes and tells the truth about them.

pub mod afpacket;
pub mod bridge;
pub mod dns;
pub mod flood;
pub mod lifecycle;
pub mod procs;
pub mod tally;
pub mod tcp;
pub mod udp;

use std::time::Duration;

/// Read/write timeout of every socket, and the bound of every wait.
pub const IO_TIMEOUT: Duration = Duration::from_secs(20);

/// Upper bound of a whole generator run (loops stop when it is reached).
pub const RUN_LIMIT: Duration = Duration::from_secs(120);
