//! Which process a pid means. A pid is reused once its process has exited
//! (after `pid_max` more forks: 32768 by default on small hosts), so a
//! process is its pid *and* its start time ([`ProcessKey`]). This module
//! keeps what is known of each such process and the latest start time seen
//! per pid; the ledger asks it which process a socket's owner pid is.
//!
//! A socket's owner names its process by pid and start time (eBPF reads
//! the task's `start_boottime`, AF_PACKET `/proc/PID/stat`; both at the
//! clock-tick resolution of `/proc`, see [`start_time_at_tick`]). An owner
//! without a start time (0: its process was gone before it was read)
//! belongs to the latest process of its pid known when the pid's reuse is
//! noticed: the ledger pins the sockets it already holds to the earlier
//! process then ([`Learned::Reused`]).
//!
//! Bounded: at most [`MAX_PROCESS_INFOS`] records are kept; past that, the
//! ledger drops the records no row refers to any more.

use std::collections::HashMap;

use crate::model::{ProcessInfo, UNKNOWN_UID};

/// Command lines are kept up to this many bytes (cut at a character
/// boundary, `…` appended): `/proc/PID/cmdline` can be megabytes long and
/// any local user chooses it.
pub const MAX_CMDLINE: usize = 4096;

/// Process records held; past this, records of processes no row refers to
/// are dropped (a row then shows the kernel's task name and no cmdline).
pub const MAX_PROCESS_INFOS: usize = 65_536;

/// A kernel start time in ns since boot, cut to the clock-tick resolution
/// `/proc/PID/stat` gives (`ticks_per_second`, `CLK_TCK`): what
/// [`ProcessInfo::start_time_ns`] holds whichever source named it. 0 stays
/// 0 (not known).
pub fn start_time_at_tick(boottime_ns: u64, ticks_per_second: u64) -> u64 {
    let tick = 1_000_000_000 / ticks_per_second.clamp(1, 1_000_000_000);
    boottime_ns / tick * tick
}

/// A process: its pid and its start time (ns since boot; 0 when not known,
/// for example when its record was lost and the process is gone).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct ProcessKey {
    /// Process id (thread group id).
    pub pid: u32,
    /// Start time in ns since boot, at clock-tick resolution
    /// ([`start_time_at_tick`]); 0 when not known.
    pub start_time_ns: u64,
}

/// What a new process record changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Learned {
    /// Nothing the ledger must act on.
    Nothing,
    /// The first start time known for `pid`: what was filed under an
    /// unknown start (0) is this process.
    FirstStart {
        /// The pid whose start became known.
        pid: u32,
        /// Its start time, ns since boot.
        start_time_ns: u64,
    },
    /// `pid` now names a newer process; what the ledger holds of it belongs
    /// to the one that started at `previous`.
    Reused {
        /// The reused pid.
        pid: u32,
        /// Start time (ns since boot) of the earlier process of `pid`.
        previous: u64,
    },
}

/// The process records known, by [`ProcessKey`], and the latest start
/// time per pid; at most [`MAX_PROCESS_INFOS`] records.
#[derive(Debug, Default)]
pub struct Identities {
    /// The latest start time known per pid (0: none known).
    current: HashMap<u32, u64>,
    infos: HashMap<ProcessKey, ProcessInfo>,
}

impl Identities {
    /// Files one process record (its cmdline cut to [`MAX_CMDLINE`]).
    pub fn observe(&mut self, mut p: ProcessInfo) -> Learned {
        cut_cmdline(&mut p.cmdline);
        let (pid, start) = (p.pid, p.start_time_ns);
        let cur = self.current.get(&pid).copied();
        let learned = match cur {
            None | Some(0) if start != 0 => {
                // A record without a start time was of this process.
                self.infos.remove(&ProcessKey {
                    pid,
                    start_time_ns: 0,
                });
                self.current.insert(pid, start);
                Learned::FirstStart {
                    pid,
                    start_time_ns: start,
                }
            }
            None => {
                self.current.insert(pid, 0);
                Learned::Nothing
            }
            Some(c) if start == 0 || start == c => {
                // Same process (or one that cannot be told apart): refresh.
                p.start_time_ns = c;
                Learned::Nothing
            }
            Some(c) if start > c => {
                self.current.insert(pid, start);
                Learned::Reused { pid, previous: c }
            }
            // A late record of an earlier process of this pid.
            Some(_) => Learned::Nothing,
        };
        let key = ProcessKey {
            pid,
            start_time_ns: p.start_time_ns,
        };
        self.infos.insert(key, p);
        learned
    }

    /// The process `pid` means now.
    pub fn current(&self, pid: u32) -> ProcessKey {
        ProcessKey {
            pid,
            start_time_ns: self.current.get(&pid).copied().unwrap_or(0),
        }
    }

    /// Whether any record of `pid` is known.
    pub fn knows(&self, pid: u32) -> bool {
        self.current.contains_key(&pid)
    }

    /// The record of exactly this process; `None` when never filed or
    /// dropped past the bound.
    pub fn info(&self, key: ProcessKey) -> Option<&ProcessInfo> {
        self.infos.get(&key)
    }

    /// The latest record of `pid`.
    pub fn latest(&self, pid: u32) -> Option<&ProcessInfo> {
        self.info(self.current(pid))
    }

    /// Process records held.
    pub fn len(&self) -> usize {
        self.infos.len()
    }

    /// No process record held.
    pub fn is_empty(&self) -> bool {
        self.infos.is_empty()
    }

    /// Drops every record `keep` refuses (and the pids left without one).
    pub fn retain(&mut self, keep: impl Fn(&ProcessKey) -> bool) {
        self.infos.retain(|k, _| keep(k));
        let infos = &self.infos;
        self.current.retain(|&pid, &mut start| {
            infos.contains_key(&ProcessKey {
                pid,
                start_time_ns: start,
            })
        });
    }
}

/// The uid a row shows: the record's, else the socket owner's; `None` when
/// neither knows it (never 0, which would claim root).
pub fn known_uid(info: Option<&ProcessInfo>, owner_uid: u32) -> Option<u32> {
    info.map(|i| i.uid)
        .filter(|&u| u != UNKNOWN_UID)
        .or(Some(owner_uid).filter(|&u| u != UNKNOWN_UID))
}

fn cut_cmdline(s: &mut String) {
    if s.len() <= MAX_CMDLINE {
        return;
    }
    let mut end = MAX_CMDLINE;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s.truncate(end);
    s.push('…');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(pid: u32, start: u64, comm: &str) -> ProcessInfo {
        ProcessInfo {
            pid,
            comm: comm.into(),
            start_time_ns: start,
            ..ProcessInfo::default()
        }
    }

    #[test]
    fn a_later_start_is_a_new_process_and_an_earlier_one_stays_apart() {
        let mut ids = Identities::default();
        assert_eq!(
            ids.observe(info(7, 100, "old")),
            Learned::FirstStart {
                pid: 7,
                start_time_ns: 100
            }
        );
        assert_eq!(ids.observe(info(7, 0, "old")), Learned::Nothing);
        assert_eq!(
            ids.observe(info(7, 200, "new")),
            Learned::Reused {
                pid: 7,
                previous: 100
            }
        );
        assert_eq!(ids.current(7).start_time_ns, 200);
        assert_eq!(ids.latest(7).map(|i| i.comm.as_str()), Some("new"));
        let old = ProcessKey {
            pid: 7,
            start_time_ns: 100,
        };
        assert_eq!(ids.info(old).map(|i| i.comm.as_str()), Some("old"));
        // A late record of the old one does not make it current again.
        assert_eq!(ids.observe(info(7, 100, "old")), Learned::Nothing);
        assert_eq!(ids.current(7).start_time_ns, 200);
    }

    #[test]
    fn unknown_uid_is_none_not_root() {
        let mut i = info(1, 1, "x");
        i.uid = UNKNOWN_UID;
        assert_eq!(known_uid(Some(&i), UNKNOWN_UID), None);
        assert_eq!(known_uid(Some(&i), 1000), Some(1000));
        assert_eq!(known_uid(None, 0), Some(0));
    }

    #[test]
    fn long_cmdlines_are_cut() {
        let mut ids = Identities::default();
        let mut p = info(3, 5, "big");
        p.cmdline = "é".repeat(MAX_CMDLINE);
        ids.observe(p);
        let kept = &ids.latest(3).unwrap().cmdline;
        assert!(kept.len() <= MAX_CMDLINE + '…'.len_utf8());
        assert!(kept.ends_with('…'));
    }
}
