//! How the resolver brings its state up to date: which namespaces to watch,
//! re-dumping their sockets, and keeping the fd index just fresh enough. The
//! fd index is updated per process from proc events (fork/exec rescan,
//! exit drops); socket inodes no process is known to hold are looked for
//! first in recently started processes and those the caller marked
//! ([`SocketResolver::mark_hot`]) ("hot"), then by a full `/proc` scan
//! at most once per `min_full_scan_interval`. Without events, full scans
//! alone keep it fresh. Inodes a full scan could not place (kernel sockets,
//! processes outside this `/proc`) trigger no further full scans.

use std::collections::HashSet;
use std::path::Path;
use std::time::Instant;

use netoproc_core::model::Protocol;

use super::{protocol_slot, Namespace, RefreshReport, SocketResolver};
use crate::netns::NetnsId;
use crate::socket_source::SocketSource;
use crate::socket_table::SocketTable;

impl<S: SocketSource> SocketResolver<S> {
    /// Marks a process as likely to open sockets soon (for example, it owned
    /// a recent flow): while the mark is fresh (`hot_window`), a socket
    /// inode no process is known to hold is looked for in its descriptors
    /// first, before any full scan. Long-lived processes that open many
    /// short connections are placed this way within one dump.
    pub fn mark_hot(&mut self, pid: u32, now: Instant) {
        self.hot.insert(pid, now);
    }

    /// Re-dumps one protocol's sockets of one watched namespace now, at
    /// most once per `min_on_demand_interval` for that namespace and
    /// protocol (so a busy namespace does not starve a quiet one): for
    /// sockets the caller waits to see (new flows, a socket in its
    /// listener's accept queue). Returns whether it dumped.
    pub fn dump_now(&mut self, netns: NetnsId, protocol: Protocol, now: Instant) -> bool {
        let interval = self.config.min_on_demand_interval;
        let slot = protocol_slot(protocol);
        let Some(ns) = self.namespaces.get(&netns) else {
            return false;
        };
        if ns.last_dump_now[slot].is_some_and(|t| now.saturating_duration_since(t) < interval) {
            self.stats.rate_limited += 1;
            return false;
        }
        if let Some(ns) = self.namespaces.get_mut(&netns) {
            ns.last_dump_now[slot] = Some(now);
        }
        let before = self.stats.dumps;
        self.reload(&[netns], &[protocol], now);
        self.stats.on_demand_dumps += self.stats.dumps - before;
        self.stats.dumps > before
    }

    /// Brings the fd index up to date now — proc events, hot processes, a
    /// full scan when one is due — without re-dumping any namespace: for a
    /// socket the latest dump lists but no known process holds yet.
    pub fn rescan_owners(&mut self, now: Instant) {
        self.update_fd_index(now);
    }

    /// Watches every namespace a process lives in or that is named in
    /// `run_netns`; forgets unpinned ones that disappeared.
    pub(super) fn discover_namespaces(&mut self, run_netns: &Path) {
        let listed = self.proc.list_netns(run_netns);
        let seen: HashSet<NetnsId> = listed.iter().map(|n| n.id).collect();
        for n in listed {
            if n.id == self.current {
                continue;
            }
            let ns = self
                .namespaces
                .entry(n.id)
                .or_insert_with(|| Namespace::new(None, false));
            // A watched namespace keeps the path it was given while that
            // path still reaches it: a process's `ns/net` link dies with the
            // process (the first one seen in a new namespace is often a
            // short-lived `ip -n …`), and then the listed path takes over.
            // A held file reaches it whatever its path looks like here.
            let reachable = ns.held.is_some() || ns.path.as_deref().is_some_and(Path::exists);
            if !ns.pinned || !reachable {
                ns.path = Some(n.path);
            }
        }
        let gone: Vec<NetnsId> = self
            .namespaces
            .iter()
            .filter(|(id, ns)| **id != self.current && !ns.pinned && !seen.contains(id))
            .map(|(id, _)| *id)
            .collect();
        for id in gone {
            self.namespaces.remove(&id);
            self.source.forget(id);
        }
    }

    /// Dumps the sockets of `protocols` in the given namespaces (the other
    /// protocols' sockets stay as last dumped), then updates the fd index.
    pub(super) fn reload(
        &mut self,
        ids: &[NetnsId],
        protocols: &[Protocol],
        now: Instant,
    ) -> RefreshReport {
        let mut report = RefreshReport::default();
        for &id in ids {
            let Some(ns) = self.namespaces.get(&id) else {
                continue;
            };
            let path = if id == self.current {
                None
            } else {
                ns.path.clone()
            };
            match self.source.dump(id, path.as_deref(), protocols) {
                Ok(mut sockets) => {
                    self.stats.dumps += 1;
                    let generation = self.next_generation;
                    self.next_generation += 1;
                    if let Some(ns) = self.namespaces.get_mut(&id) {
                        let kept = ns
                            .table
                            .sockets()
                            .iter()
                            .filter(|s| !protocols.contains(&s.protocol));
                        sockets.extend(kept);
                        ns.table = SocketTable::new(sockets);
                        ns.generation = generation;
                    }
                    report.namespaces += 1;
                }
                Err(e) => {
                    self.stats.dump_errors += 1;
                    report.errors.push((id, e));
                }
            }
        }
        report.sockets = self.namespaces.values().map(|n| n.table.len()).sum();
        let (full_scan, pids) = self.update_fd_index(now);
        report.full_scan = full_scan;
        report.pids_rescanned = pids;
        report
    }

    /// Returns (did a full scan, pids rescanned one by one).
    pub(super) fn update_fd_index(&mut self, now: Instant) -> (bool, usize) {
        if let Some(events) = &self.events {
            let drained: Vec<_> = events.drain().collect();
            self.note_proc_events(drained, now);
        }
        self.fd_epoch += 1;
        let stale = self
            .last_full_scan
            .is_none_or(|t| now.saturating_duration_since(t) >= self.config.max_full_scan_age);
        if self.need_full_scan || stale {
            self.full_scan(now);
            return (true, 0);
        }
        let mut rescanned = 0;
        if !self.dirty.is_empty() {
            let dirty = std::mem::take(&mut self.dirty);
            rescanned += dirty.len();
            self.fds.update_pids(&self.proc, dirty);
        }
        if self.has_unplaced() {
            let hot: Vec<u32> = self
                .hot
                .iter()
                .filter(|(_, t)| now.saturating_duration_since(**t) < self.config.hot_window)
                .map(|(pid, _)| *pid)
                .collect();
            rescanned += hot.len();
            self.fds.update_pids(&self.proc, hot);
        }
        self.stats.pid_rescans += rescanned as u64;
        let may_scan = self
            .last_full_scan
            .is_none_or(|t| now.saturating_duration_since(t) >= self.config.min_full_scan_interval);
        if may_scan && self.has_unplaced() {
            self.full_scan(now);
            return (true, rescanned);
        }
        (false, rescanned)
    }

    fn full_scan(&mut self, now: Instant) {
        self.fds.rescan_all(&self.proc);
        self.stats.full_scans += 1;
        self.last_full_scan = Some(now);
        self.need_full_scan = false;
        self.dirty.clear();
        self.unowned = self.unplaced_inodes(false).collect();
    }

    /// Some socket's inode is held by no known process (and was not already
    /// looked for by a full scan).
    fn has_unplaced(&self) -> bool {
        self.unplaced_inodes(true).next().is_some()
    }

    fn unplaced_inodes(&self, skip_unowned: bool) -> impl Iterator<Item = u64> + '_ {
        self.namespaces
            .values()
            .flat_map(|ns| ns.table.sockets())
            .map(|s| s.inode)
            .filter(move |&i| {
                i != 0
                    && self.fds.owners(i).is_empty()
                    && !(skip_unowned && self.unowned.contains(&i))
            })
    }
}
