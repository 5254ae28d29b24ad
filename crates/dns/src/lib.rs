//! netoproc-dns: the DNS observatory. DNS packets the capture backend saw
//! at sockets ([`netoproc_core::DnsPacket`]: the payload, the socket's
//! cookie, tuple, direction and kernel time) go in; out come which process
//! asked which name of which resolver, what came back and how fast
//! ([`DnsReport`]), and names for remote addresses ([`Observatory::name_of`]).
//!
//! Pure: no I/O, no clock reads (the kernel's timestamps and an injected
//! `now` in the same clock), no output formatting. Payloads are parsed and
//! dropped; every collection is capped, and whatever could not be parsed or
//! had to be dropped is counted in [`DnsStats`], never a panic.

#![warn(missing_docs)]

mod encrypted;
mod message;
mod names;
mod observatory;
mod owner;
mod pending;
mod report;
mod summary;
mod tcp;

pub use encrypted::{classify as classify_encrypted, EncryptedDns};
pub use message::{
    parse, Answer, AnswerData, DnsMessage, Edns, ParseError, Question, Rcode, RrType, MAX_ANSWERS,
};
pub use names::{NameCache, GRACE_NS};
pub use observatory::{
    Observatory, ObservatoryConfig, MAX_NAMES_REMEMBERED, MAX_PROCESSES, MAX_RESOLVERS,
    OVERFLOW_RESOLVER,
};
pub use owner::{OwnerLookup, PacketPidsOnly, ProcessRef};
pub use report::{
    DnsProcessRow, DnsReport, DnsStats, Failures, QueryRow, QueryStatus, ResolverRow,
};
pub use summary::{LatencyHistogram, LATENCY_BOUNDS_S};
pub use tcp::{StreamKey, TcpFrames, TcpLosses, MAX_FRAME_KEPT};
