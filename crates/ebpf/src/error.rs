//! Why one program could not be loaded or attached, typed: the ladder and
//! the live-read paths decide on these, and turn them into text (with
//! [`crate::ladder::error_chain`], which keeps a verifier log's reason) only
//! where they are reported, in a hook's status or in `meta.degraded`.

use std::io;
use std::path::PathBuf;

/// Why one BPF program did not load or attach.
#[derive(Debug, thiserror::Error)]
pub enum AttachError {
    /// The committed object has no program of this name.
    #[error("program {0} missing from the BPF object")]
    MissingProgram(&'static str),
    /// The map an iterator walks is missing from the object, or of another type.
    #[error("map {0} missing or of an unexpected type")]
    MissingMap(&'static str),
    /// A cgroup program, and no cgroup v2 hierarchy could be opened.
    #[error("no cgroup v2 hierarchy is mounted")]
    NoCgroup,
    /// aya (or the kernel, through it: the verifier, a missing symbol)
    /// refused to load or attach the program.
    #[error(transparent)]
    Program(#[from] aya::programs::ProgramError),
    /// A system call of our own failed; `op` names it.
    #[error("{op}")]
    Sys {
        /// The call, in words.
        op: &'static str,
        /// The errno it returned.
        #[source]
        source: io::Error,
    },
}

impl AttachError {
    pub(crate) fn sys(op: &'static str) -> impl FnOnce(io::Error) -> AttachError {
        move |source| AttachError::Sys { op, source }
    }
}

/// A required hook of a rung failed, so the rung is not used.
#[derive(Debug, thiserror::Error)]
#[error("{program} on {attach_point}")]
pub struct RungError {
    /// The program that failed.
    pub program: &'static str,
    /// Where it was to attach (`tp_btf/tcp_sendmsg`, ...).
    pub attach_point: String,
    /// Why.
    #[source]
    pub source: AttachError,
}

/// Why a return probe could not be made through tracefs (the kernel's
/// default pool is used then, and a note says so).
#[derive(Debug, thiserror::Error)]
pub enum TracefsError {
    /// Opening or appending to `kprobe_events` failed; `command` is the line.
    #[error("{}: {command:?}", path.display())]
    Events {
        /// The `kprobe_events` file.
        path: PathBuf,
        /// The line written (a probe definition or its removal).
        command: String,
        /// Why opening or writing failed.
        #[source]
        source: io::Error,
    },
    /// The new event's `id` file could not be read.
    #[error("reading {}", path.display())]
    Id {
        /// The event's `id` file.
        path: PathBuf,
        /// Why reading it failed.
        #[source]
        source: io::Error,
    },
    /// The `id` file did not hold a number.
    #[error("{}: not an event id", path.display())]
    BadId {
        /// The event's `id` file.
        path: PathBuf,
        /// What the number did not parse as.
        #[source]
        source: std::num::ParseIntError,
    },
    /// `perf_event_open` or an `ioctl` on the event failed; `op` names it.
    #[error("{op}")]
    Perf {
        /// The call, e.g. `perf_event_open`.
        op: &'static str,
        /// The errno it returned.
        #[source]
        source: io::Error,
    },
}

impl TracefsError {
    pub(crate) fn perf(op: &'static str) -> impl FnOnce(io::Error) -> TracefsError {
        move |source| TracefsError::Perf { op, source }
    }
}

/// A name that is not one of a choice's values (`--hooks`, `--live-read`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {what} {given:?} (expected {expected})")]
pub struct UnknownChoice {
    /// What was being chosen ("hook rung", "live-read path").
    pub what: &'static str,
    /// What was given.
    pub given: String,
    /// The names allowed, for the message.
    pub expected: &'static str,
}
