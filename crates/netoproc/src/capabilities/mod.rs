//! Dropping capabilities once capture is set up, the way dumpcap does:
//! netoproc keeps only the capabilities the running backend says it still
//! uses (its [`CaptureBackend::needs_after_start`] declaration) and holds,
//! clears every other one from the effective, permitted, inheritable and
//! ambient sets (and the bounding set where `CAP_SETPCAP` allows), and sets
//! no-new-privs, in every thread of the process. It decides and applies; it
//! does not know which backend needs what.
//!
//! [`CaptureBackend::needs_after_start`]: netoproc_core::backend::CaptureBackend::needs_after_start

mod all_threads;

use netoproc_core::backend::{Capability, CapabilityNeed};

/// The capabilities kept: those needed that are also held, one entry per
/// capability (the first reason given wins), in declaration order.
pub fn retained(permitted: u64, needs: &[CapabilityNeed]) -> Vec<CapabilityNeed> {
    let mut kept: Vec<CapabilityNeed> = Vec::new();
    for n in needs {
        let held = permitted & n.capability.bitmask() != 0;
        if held && !kept.iter().any(|k| k.capability == n.capability) {
            kept.push(*n);
        }
    }
    kept
}

/// The capability sets of one thread, from its `/proc/…/status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ThreadCaps {
    pub effective: u64,
    pub permitted: u64,
    pub inheritable: u64,
    pub ambient: u64,
    pub bounding: u64,
    pub no_new_privs: bool,
}

impl ThreadCaps {
    /// Parses the `Cap*:` and `NoNewPrivs:` lines; `None` when one is
    /// missing or malformed.
    pub fn parse(status: &str) -> Option<ThreadCaps> {
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
                .map(str::trim)
        };
        let hex = |name: &str| u64::from_str_radix(field(name)?, 16).ok();
        Some(ThreadCaps {
            effective: hex("CapEff")?,
            permitted: hex("CapPrm")?,
            inheritable: hex("CapInh")?,
            // Kernels before 4.3 have no ambient set.
            ambient: field("CapAmb").map_or(Some(0), |v| u64::from_str_radix(v, 16).ok())?,
            bounding: hex("CapBnd")?,
            no_new_privs: field("NoNewPrivs")? == "1",
        })
    }

    /// Whether this thread holds nothing outside `keep` and can gain
    /// nothing by exec.
    pub fn reduced_to(&self, keep: u64) -> bool {
        self.effective & !keep == 0
            && self.permitted & !keep == 0
            && self.inheritable == 0
            && self.ambient == 0
            && self.no_new_privs
    }
}

/// What [`drop_after_start`] did, for `--verbose`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dropped {
    pub kept: Vec<CapabilityNeed>,
    /// Held before, cleared now.
    pub cleared: Vec<Capability>,
    /// Whether the bounding set was cut to the kept set too.
    pub bounding: bool,
}

impl Dropped {
    /// One line per fact, for stderr.
    pub fn lines(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .kept
            .iter()
            .map(|k| format!("keeps {} after start: {}", k.capability, k.why))
            .collect();
        if self.kept.is_empty() {
            out.push("keeps no capability after start".into());
        }
        if !self.cleared.is_empty() {
            let names: Vec<String> = self.cleared.iter().map(|c| c.to_string()).collect();
            out.push(format!(
                "cleared after start (not needed any more): {}",
                names.join(", ")
            ));
        }
        out.push(format!(
            "no-new-privs set{}",
            if self.bounding {
                "; bounding set cut to the kept capabilities"
            } else {
                ""
            }
        ));
        out
    }
}

/// Why capabilities could not be dropped in every thread.
#[derive(Debug, thiserror::Error)]
pub enum DropError {
    /// This thread's capability sets could not be read.
    #[error("cannot read this thread's capabilities from /proc/thread-self/status")]
    OwnStatus,
    /// The signal handler that reduces other threads could not be installed.
    #[error("installing the capability-drop signal handler")]
    Handler(#[source] std::io::Error),
    /// The threads could not be listed, so none can be checked.
    #[error("listing this process's threads in /proc/self/task")]
    ListThreads(#[source] std::io::Error),
    /// A thread's handler failed to reduce that thread.
    #[error("dropping capabilities failed in a thread")]
    InThread(#[source] std::io::Error),
    /// Some threads still held capabilities after every attempt.
    #[error(
        "{} thread(s) kept capabilities after {rounds} attempts to drop them (threads {threads:?})",
        threads.len()
    )]
    Kept {
        rounds: u32,
        threads: Vec<libc::pid_t>,
    },
}

/// Keeps only what `needs` names (and is held) in every thread; sets
/// no-new-privs. Fails when some thread could not be reduced.
pub fn drop_after_start(needs: &[CapabilityNeed]) -> Result<Dropped, DropError> {
    let own = std::fs::read_to_string("/proc/thread-self/status")
        .ok()
        .as_deref()
        .and_then(ThreadCaps::parse)
        .ok_or(DropError::OwnStatus)?;
    let kept = retained(own.permitted, needs);
    let keep = kept.iter().fold(0, |m, k| m | k.capability.bitmask());
    let bounding = own.effective & Capability::CAP_SETPCAP.bitmask() != 0;
    all_threads::reduce(keep, bounding)?;
    let mut cleared: Vec<Capability> = caps::all()
        .into_iter()
        .filter(|c| own.permitted & c.bitmask() != 0 && keep & c.bitmask() == 0)
        .collect();
    cleared.sort_by_key(Capability::index);
    Ok(Dropped {
        kept,
        cleared,
        bounding,
    })
}

#[cfg(test)]
#[path = "capabilities_tests.rs"]
mod tests;
