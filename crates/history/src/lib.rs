//! netoproc-history: what the agent saw, kept. A ledger of per-minute
//! rollups per identity and protocol (payload bytes, wire bytes and
//! packets, both directions), each identity's busiest remotes (bounded,
//! with an overflow row so sums stay exact) and DNS per identity and per
//! resolver ([`model`]); minutes folded into hours, rows past the
//! retention and over the size cap deleted and counted ([`ledger`]); top
//! talkers, totals and series for a time range ([`query`]). One schema
//! ([`schema`], migrated forward) and one set of statements over a narrow
//! [`db::Db`]: SQLite in a file ([`sqlite`], the default, WAL) or a shared
//! PostgreSQL ([`postgres`]) where many agents write, each row carrying
//! its host. The agent writes through [`writer`], a thread with a bounded
//! queue, so a slow or absent store never stalls capture.

#![warn(missing_docs)]

pub mod db;
pub mod error;
pub mod ledger;
pub mod model;
pub mod postgres;
pub mod query;
pub mod schema;
pub mod sqlite;
pub mod store;
pub mod target;
pub mod time;
pub mod writer;

#[cfg(test)]
mod ledger_tests;

pub use error::HistoryError;
pub use target::Target;
