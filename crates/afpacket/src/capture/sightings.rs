//! Processes seen starting in network namespaces other than the host's, from
//! proc connector events: which namespace, what they were (comm, cmdline,
//! uid, cgroup, read at once) and when they exited. A process that lives a
//! few milliseconds — a DNS lookup tool, a health check — is often gone
//! before its first packet reaches attribution; this remembers it, so "the
//! namespace's only process" can still be named, with its identity. Fed by
//! the namespace watcher, read by the attribution thread. Bounded: exited
//! processes are forgotten after [`KEEP_EXITED`].

use std::collections::HashMap;
use std::time::{Duration, Instant};

use netoproc_procfs::NetnsId;

use super::owners::ProcessMeta;

/// How long an exited process is remembered.
pub const KEEP_EXITED: Duration = Duration::from_secs(30);

#[derive(Debug, Clone)]
struct Sighting {
    netns: NetnsId,
    exited: Option<Instant>,
    meta: Option<ProcessMeta>,
}

#[derive(Debug, Default)]
pub struct Sightings {
    by_pid: HashMap<u32, Sighting>,
}

impl Sightings {
    /// A process forked or exec'd into `netns` (a later event for the same
    /// pid replaces the earlier one: exec changes what it is).
    pub fn started(&mut self, pid: u32, netns: NetnsId, meta: Option<ProcessMeta>) {
        self.by_pid.insert(
            pid,
            Sighting {
                netns,
                exited: None,
                meta,
            },
        );
    }

    pub fn exited(&mut self, pid: u32, now: Instant) {
        if let Some(s) = self.by_pid.get_mut(&pid) {
            s.exited = Some(now);
        }
    }

    /// Processes of `netns` that were alive at some point since `since`.
    pub fn alive_since(&self, netns: NetnsId, since: Instant) -> Vec<u32> {
        let mut pids: Vec<u32> = self
            .by_pid
            .iter()
            .filter(|(_, s)| s.netns == netns && s.exited.is_none_or(|t| t >= since))
            .map(|(pid, _)| *pid)
            .collect();
        pids.sort_unstable();
        pids
    }

    /// What the process was when it started.
    pub fn meta(&self, pid: u32) -> Option<&ProcessMeta> {
        self.by_pid.get(&pid)?.meta.as_ref()
    }

    /// Forgets processes that exited long ago.
    pub fn expire(&mut self, now: Instant) {
        self.by_pid.retain(|_, s| {
            s.exited
                .is_none_or(|t| now.saturating_duration_since(t) < KEEP_EXITED)
        });
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.by_pid.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exited_processes_count_for_flows_of_their_lifetime() {
        let t0 = Instant::now();
        let (a, b) = (NetnsId(1), NetnsId(2));
        let mut s = Sightings::default();
        s.started(10, a, None);
        s.started(11, b, None);
        s.started(12, a, None);
        s.exited(12, t0 + Duration::from_millis(5));
        assert_eq!(s.alive_since(a, t0), vec![10, 12]);
        assert_eq!(s.alive_since(a, t0 + Duration::from_millis(6)), vec![10]);
        assert_eq!(s.alive_since(b, t0), vec![11]);
        s.expire(t0 + KEEP_EXITED);
        assert_eq!(s.len(), 3);
        s.expire(t0 + KEEP_EXITED + Duration::from_millis(6));
        assert_eq!(s.len(), 2);
    }
}
