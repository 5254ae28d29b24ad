//! netoproc-engine: the one monitor loop every front-end drives. An
//! [`Engine`] owns what a capture session accumulates — the socket ledger
//! a [`CaptureBackend`](netoproc_core::backend::CaptureBackend) feeds, the
//! DNS observatory, process names and container labels read from `/proc`,
//! the closed sockets folded so memory stays bounded — and offers the steps
//! a front-end takes: drain events, read sockets, name processes, take
//! losses, finish DNS. [`Engine::run`] is the timed read loop the snapshot
//! and `serve` share; the live view interleaves the same steps with keys.
//! It never formats output and never chooses a backend: the binary opens
//! one, and tests hand in a fake.

#![warn(missing_docs)]

mod closed;
mod config;
mod engine;
#[cfg(any(test, feature = "fake"))]
pub mod fake;
pub mod ktime;
mod own;

pub use closed::{ClosedByOwner, MAX_CLOSED_OWNERS};
pub use config::SessionConfig;
pub use engine::{Engine, EngineError, WindowEnd, POLL_SLICE};
pub use own::{OwnMeter, OwnUsage};
