//! netoproc-core: the model every other crate speaks — sockets identified by
//! their cookie, the process that owns them, the counters they moved — and the
//! [`ledger::SocketLedger`] that merges what a capture backend observes into
//! per-process and per-connection [`report::Report`]s, and the
//! [`rates::RateTracker`] that turns successive reports into rates over 1 s,
//! 10 s and 60 s. Pure: no I/O, no clock reads (instants are passed in), no
//! formatting but [`escape`], the one rule every view shares for showing
//! text that comes from outside; backends and views live in their own crates.

#![warn(missing_docs)]

pub mod backend;
pub mod clock;
pub mod error;
pub mod escape;
pub mod group;
pub mod identity;
pub mod ledger;
pub mod lifecycle;
pub mod model;
pub mod mountinfo;
pub mod rates;
pub mod report;
pub mod workload;

pub use model::{
    Counters, DnsPacket, Family, Owner, PeerRecord, ProcessInfo, Protocol, SocketCookie,
    SocketRecord, Tuple,
};
