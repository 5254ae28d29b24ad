//! The count bound on what attribution remembers. A random-source flood
//! makes a new flow (and a record of its own) per packet, faster than idle
//! flows are forgotten; so once `max_flows` flows or `max_records` records
//! are held, a new flow is not remembered: its bytes go to one overflow
//! record per (namespace, protocol, address family) with the unspecified
//! address as both ends and no owner. Totals stay exact (the bytes show as
//! unattributed, in `no_owner_bytes`); what is lost is which connection
//! and which process. Counted in `flows_folded` (once per 20 ms flush in
//! which such a flow moved: a one-packet flow once) and `bytes_folded`,
//! and visible as the overflow rows. Flows already held keep being counted as usual,
//! and the bound frees itself as idle flows and closed records are
//! forgotten (`lifecycle`).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Instant;

use netoproc_core::model::SocketCookie;

use super::Attributor;
use crate::capture::flow::{FlowDelta, FlowKey};
use crate::capture::owners::Owners;

impl<O: Owners> Attributor<O> {
    /// Whether a new flow may not be remembered.
    pub(super) fn full(&self) -> bool {
        self.flows.len() >= self.config.max_flows || self.sockets.len() >= self.config.max_records
    }

    /// Counts `d` of a flow that is not remembered in its overflow record.
    pub(super) fn fold(&mut self, key: &FlowKey, d: &FlowDelta, now: Instant) {
        self.tally.flows_folded += 1;
        self.tally.bytes_folded += d.payload();
        let cookie = self.overflow_record(key, now);
        self.apply(cookie, key, d, now);
    }

    fn overflow_record(&mut self, key: &FlowKey, now: Instant) -> SocketCookie {
        let v6 = key.local.is_ipv6();
        let slot = (key.netns, key.protocol, v6);
        if let Some(c) = self
            .overflows
            .get(&slot)
            .copied()
            .filter(|c| self.sockets.get(c).is_some_and(|s| !s.closed))
        {
            return c;
        }
        let any = SocketAddr::new(
            if v6 {
                IpAddr::V6(Ipv6Addr::UNSPECIFIED)
            } else {
                IpAddr::V4(Ipv4Addr::UNSPECIFIED)
            },
            0,
        );
        let k = FlowKey {
            local: any,
            remote: any,
            ..*key
        };
        let c = self.synthetic(&k, now);
        self.overflows.insert(slot, c);
        self.dirty.insert(c);
        c
    }
}
