//! netoproc-agent: `netoproc serve`, the always-on agent. It drives the
//! monitor engine, turns each read into per-identity counters held to a
//! series budget ([`budget`]), and serves them over HTTP ([`http`]) as
//! Prometheus text or OpenMetrics ([`metrics`], [`exposition`]), with
//! health, readiness and the snapshot JSON. Its settings come from flags
//! and a TOML file ([`config`]), reloaded on SIGHUP; TLS and basic auth from a
//! web config file in the exporters' format ([`web`]). What it counted is
//! kept in the history ledger (`netoproc-history`) through
//! [`history_feed`]. It never opens a capture backend itself: the binary
//! hands one in.

#![warn(missing_docs)]

pub mod agent;
pub mod budget;
pub mod config;
pub mod exposition;
mod health;
pub mod history_feed;
mod history_http;
pub mod http;
pub mod identity;
pub mod metrics;
pub mod published;
pub mod status;
pub mod tally;
mod tcp;
mod tls;
pub mod tracker;
pub mod web;
