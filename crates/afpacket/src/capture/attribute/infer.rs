//! Owners of flows whose socket is gone or ownerless, and of records still
//! waiting for one: the process that recently owned a flow from the same
//! local address to the same remote (unless two did), else the only
//! process the namespace had around the flow's time. Records bound without
//! an owner are looked up again until `pending_max`, then inferred; those
//! still moving without one are retried at each refresh.

use std::time::Instant;

use netoproc_core::model::{Protocol, SocketCookie};
use netoproc_procfs::NetnsId;

use super::{Attributor, Recent, CANDIDATE_SLACK, MAX_RECENT};
use crate::capture::flow::FlowKey;
use crate::capture::owners::Owners;
use crate::capture::sockets::How;

impl<O: Owners> Attributor<O> {
    pub(super) fn note_recent(&mut self, key: &FlowKey, pid: u32, now: Instant) {
        let k = (key.netns, key.protocol, key.local.ip(), key.remote);
        let window = self.config.recent_window;
        if self.recent.len() >= MAX_RECENT && !self.recent.contains_key(&k) {
            return;
        }
        let e = self.recent.entry(k).or_insert(Recent {
            pid,
            at: now,
            ambiguous: false,
        });
        let fresh = now.saturating_duration_since(e.at) < window;
        if e.pid != pid {
            e.ambiguous = fresh;
            e.pid = pid;
        }
        e.at = now;
    }

    /// Who probably owned a flow whose socket is gone or ownerless; the
    /// flow was first seen at `first_seen`.
    pub(super) fn infer(
        &mut self,
        key: &FlowKey,
        first_seen: Instant,
        now: Instant,
    ) -> Option<u32> {
        let k = (key.netns, key.protocol, key.local.ip(), key.remote);
        if let Some(r) = self.recent.get(&k) {
            let fresh = now.saturating_duration_since(r.at) < self.config.recent_window;
            if fresh && !r.ambiguous && self.owners.is_alive(r.pid) {
                return Some(r.pid);
            }
        }
        // Its packets were queued a little before the flow was first seen.
        let since = first_seen
            .checked_sub(CANDIDATE_SLACK)
            .unwrap_or(first_seen);
        match self.owners.candidates(key.netns, since, now).as_slice() {
            [only] => Some(*only),
            _ => None,
        }
    }

    /// Records bound while waiting for an owner: retried, then inferred.
    /// After a refresh, also records still moving without one (the
    /// namespace may be newly watched, or a scan may have found the
    /// process).
    pub(super) fn retry_owners(&mut self, now: Instant, refreshed: bool) {
        let mut scopes: Vec<(NetnsId, Protocol)> = Vec::new();
        for s in self.owner_waits.iter().filter_map(|c| self.sockets.get(c)) {
            if !scopes.contains(&(s.netns, s.tuple.protocol)) {
                scopes.push((s.netns, s.tuple.protocol));
            }
        }
        for (ns, protocol) in scopes {
            self.owners.redump(ns, protocol, now);
        }
        let mut waiting: Vec<(SocketCookie, FlowKey, bool)> = Vec::new();
        let mut check = |c: &SocketCookie, s: &super::Sock| {
            let due = match s.how {
                How::Waiting(until) if now >= until => Some(true),
                // Worth another look once its namespace was dumped again.
                How::Waiting(_) => (self.owners.dumped_at(s.netns, s.tuple.protocol)
                    > s.tried_dump)
                    .then_some(false),
                // A closed socket will not be found again.
                How::Unresolved if !s.closed => s
                    .active_since(now, self.config.refresh_every)
                    .then_some(false),
                _ => None,
            };
            if let (Some(expired), Some(k)) = (due, s.keys.iter().next()) {
                waiting.push((*c, *k, expired));
            }
        };
        if refreshed {
            self.sockets.iter().for_each(|(c, s)| check(c, s));
        } else {
            self.owner_waits
                .iter()
                .filter_map(|c| Some((c, self.sockets.get(c)?)))
                .for_each(|(c, s)| check(c, s));
        }
        for (cookie, key, expired) in waiting {
            let first_seen = self.flows.get(&key).map_or(now, |f| f.first_seen);
            let lookup = self.owners.resolve(&key, now);
            if let Some(s) = self.sockets.get_mut(&cookie) {
                s.tried_dump = lookup.dumped_at;
            }
            let (how, pid) = match lookup.found.filter(|r| !r.pids.is_empty()) {
                Some(r) => (How::Resolved, Some(r.pids[0])),
                None if expired => {
                    let pid = self.infer(&key, first_seen, now);
                    (How::inferred_if(pid), pid)
                }
                None => continue,
            };
            self.set_owner(cookie, &key, how, pid);
        }
    }

    fn set_owner(&mut self, cookie: SocketCookie, key: &FlowKey, how: How, pid: Option<u32>) {
        let owner = pid.and_then(|p| self.owner(p, key));
        if let Some(s) = self.sockets.get_mut(&cookie) {
            self.tally.remove(s.how, s.flow_count, s.payload());
            s.how = how;
            s.owner = owner;
            self.tally.add(s.how, s.flow_count, s.payload());
            self.dirty.insert(cookie);
        }
        self.owner_waits.remove(&cookie);
    }
}
