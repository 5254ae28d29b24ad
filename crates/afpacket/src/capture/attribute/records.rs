//! Which record a flow's bytes go to, and the records themselves: a found
//! socket's own (its cookie; for unconnected UDP shared by every remote),
//! or one of the flow's own with a synthetic cookie (bit 62 set, counting
//! up) and the flow's tuple. Binding moves what the flow counted while it
//! waited; owners are named with what `/proc` (or a sighting) says of the
//! process, announced once per process (pid and start time).

use std::net::IpAddr;
use std::time::Instant;

use netoproc_core::model::{Family, Owner, Protocol, SocketCookie, Tuple, UNKNOWN_UID};
use netoproc_procfs::{MatchKind, Resolution};

use super::{Attributor, How, Sock, SYNTHETIC_BIT};
use crate::capture::flow::{FlowDelta, FlowKey};
use crate::capture::owners::Owners;

impl<O: Owners> Attributor<O> {
    /// Attaches the flow to record `cookie` (creating nothing) and moves
    /// what it counted while waiting.
    pub(super) fn bind(
        &mut self,
        key: FlowKey,
        cookie: SocketCookie,
        how: How,
        pid: Option<u32>,
        now: Instant,
    ) {
        let owner = pid.and_then(|p| self.owner(p, &key));
        let Some(flow) = self.flows.get_mut(&key) else {
            return;
        };
        flow.cookie = Some(cookie);
        let waiting = std::mem::take(&mut flow.waiting);
        if let Some(s) = self.sockets.get_mut(&cookie) {
            if s.owner.is_none() {
                self.tally.remove(s.how, s.flow_count, s.payload());
                s.owner = owner;
                s.how = if s.owner.is_some() {
                    how
                } else {
                    how.unowned()
                };
                self.tally.add(s.how, s.flow_count, s.payload());
            }
            s.keys.insert(key);
            s.flow_count += 1;
            self.tally.add(s.how, 1, 0);
            if matches!(s.how, How::Waiting(_)) {
                self.owner_waits.insert(cookie);
            }
        }
        self.dirty.insert(cookie);
        if waiting != FlowDelta::default() {
            self.apply(cookie, &key, &waiting, now);
        }
    }

    /// The record a found socket's flows go to (created if new).
    pub(super) fn record_for(
        &mut self,
        key: &FlowKey,
        r: &Resolution,
        now: Instant,
    ) -> SocketCookie {
        let s = &r.socket;
        let unconnected_udp = key.protocol == Protocol::Udp && r.matched != MatchKind::Exact;
        if r.matched != MatchKind::Exact && !unconnected_udp {
            // A listener: the accepted socket gets a record of its own.
            return self.synthetic(key, now);
        }
        let tuple = Tuple {
            protocol: s.protocol,
            family: s.family,
            local: s.local,
            remote: if unconnected_udp { None } else { s.remote },
        };
        self.sockets
            .entry(s.cookie)
            .or_insert_with(|| Sock::new(key.netns, tuple, true, unconnected_udp, now));
        s.cookie
    }

    pub(super) fn synthetic(&mut self, key: &FlowKey, now: Instant) -> SocketCookie {
        let cookie = SocketCookie(SYNTHETIC_BIT | self.next_synthetic);
        self.next_synthetic += 1;
        let family = match key.local.ip() {
            IpAddr::V4(_) => Family::Ipv4,
            IpAddr::V6(_) => Family::Ipv6,
        };
        let tuple = Tuple {
            protocol: key.protocol,
            family,
            local: key.local,
            remote: Some(key.remote),
        };
        self.sockets
            .insert(cookie, Sock::new(key.netns, tuple, false, false, now));
        cookie
    }

    pub(super) fn apply(
        &mut self,
        cookie: SocketCookie,
        key: &FlowKey,
        d: &FlowDelta,
        now: Instant,
    ) {
        if let Some(s) = self.sockets.get_mut(&cookie) {
            if !s.add(key.remote, d, now) {
                self.tally.peers_untracked += 1;
            }
            self.tally.add(s.how, 0, d.payload());
            self.dirty.insert(cookie);
        }
    }

    pub(super) fn owner(&mut self, pid: u32, key: &FlowKey) -> Option<Owner> {
        let meta = self.owners.process(pid);
        if let Some(m) = &meta {
            // Per process, not per pid: a reused pid is announced again.
            if self.announced.len() >= super::MAX_ANNOUNCED {
                // Forgetting only means a record may be sent twice.
                self.announced.clear();
            }
            if self.announced.insert((pid, m.info.start_time_ns)) {
                self.new_processes.push(m.info.clone());
            }
        }
        Some(Owner {
            pid,
            uid: meta.as_ref().map_or(UNKNOWN_UID, |m| m.info.uid),
            comm: meta
                .as_ref()
                .map(|m| m.info.comm.clone())
                .unwrap_or_default(),
            cgroup_id: meta.as_ref().map_or(0, |m| m.cgroup_id),
            netns: key.netns.0 as u32,
            start_time_ns: meta.as_ref().map_or(0, |m| m.info.start_time_ns),
        })
    }
}
