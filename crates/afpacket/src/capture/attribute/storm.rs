//! When attribution falls behind — a flood of new flows, such as a DNS
//! storm of one-socket queries or a port scan, faster than sockets can be
//! looked up — a flow whose first packet waited longer than `behind` in the
//! queue gets one lookup against the latest dump; if its socket is not
//! there (gone, most likely) it does not wait and retry: it joins an
//! aggregate record per (namespace, protocol, local, remote) with the
//! ephemeral port (the larger one, from 1024 up) shown as 0, named once by
//! inference. Process totals stay right and the cost per flow is a few map
//! operations; the connection rows of the storm are summarised. Counted in
//! `flows_aggregated`. A flow whose socket is there is bound as usual.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use netoproc_core::model::SocketCookie;

use super::{Attributor, Flow};
use crate::capture::flow::{FlowDelta, FlowKey};
use crate::capture::owners::Owners;
use crate::capture::sockets::How;

impl<O: Owners> Attributor<O> {
    /// A reader saw the flow's first packet `queued` ago.
    pub fn new_flow_queued(&mut self, key: FlowKey, queued: Duration, now: Instant) {
        if queued < self.config.behind {
            return self.new_flow(key, now);
        }
        if self.flows.contains_key(&key) || self.full() {
            return;
        }
        if self.owners.resolve(&key, now).found.is_some() {
            // Still there (a long flow that came late): the usual way; the
            // lookup is answered from the resolver's cache.
            return self.new_flow(key, now);
        }
        let agg = aggregate_key(&key);
        let cookie = match self
            .aggregates
            .get(&agg)
            .copied()
            .filter(|c| self.sockets.get(c).is_some_and(|s| !s.closed))
        {
            Some(c) => c,
            None => {
                let c = self.new_aggregate(&key, &agg, now);
                self.aggregates.insert(agg, c);
                c
            }
        };
        self.flows.insert(
            key,
            Flow {
                cookie: Some(cookie),
                waiting: FlowDelta::default(),
                first_seen: now,
                last_seen: now,
                last_try: now,
                tried_dump: None,
                aggregated: true,
            },
        );
        self.tally.flows += 1;
        self.tally.flows_aggregated += 1;
        if let Some(s) = self.sockets.get_mut(&cookie) {
            s.keys.insert(key);
            s.flow_count += 1;
            self.tally.add(s.how, 1, 0);
        }
    }

    /// Inference names the whole aggregate (its first flow's socket is
    /// gone).
    fn new_aggregate(&mut self, key: &FlowKey, agg: &FlowKey, now: Instant) -> SocketCookie {
        let pid = self.infer(key, now, now);
        let how = How::inferred_if(pid);
        let cookie = self.synthetic(agg, now);
        let owner = pid.and_then(|p| self.owner(p, key));
        if let Some(s) = self.sockets.get_mut(&cookie) {
            s.owner = owner;
            s.how = if s.owner.is_some() {
                how
            } else {
                How::Unresolved
            };
        }
        self.dirty.insert(cookie);
        cookie
    }
}

/// The flow's key with its ephemeral port (the larger port, if ≥ 1024) as 0.
pub(super) fn aggregate_key(k: &FlowKey) -> FlowKey {
    let zero = |a: SocketAddr| SocketAddr::new(a.ip(), 0);
    let (lp, rp) = (k.local.port(), k.remote.port());
    let mut agg = *k;
    if lp >= rp && lp >= 1024 {
        agg.local = zero(k.local);
    } else if rp > lp && rp >= 1024 {
        agg.remote = zero(k.remote);
    }
    agg
}
