//! How records end: a kernel socket closes when the latest dump no longer
//! lists it as held; a record of its own after a FIN or RST and a second of
//! silence, or half a minute of silence. Closed records are forgotten after
//! `closed_grace` without packets (with their flows); idle flows of live
//! records are forgotten, the record stays.

use std::time::Instant;

use super::Attributor;
use crate::capture::owners::Owners;

impl<O: Owners> Attributor<O> {
    pub(super) fn close_and_forget(&mut self, now: Instant) {
        let cfg = &self.config;
        let mut gone = Vec::new();
        for (cookie, s) in self.sockets.iter_mut() {
            if !s.closed {
                let close = if s.real {
                    !self.owners.socket_alive(s.netns, *cookie)
                } else {
                    s.idle_for(now) >= cfg.synthetic_idle
                        || (s.saw_fin_or_rst() && s.idle_for(now) >= cfg.fin_idle)
                };
                if close {
                    s.closed = true;
                    self.dirty.insert(*cookie);
                }
            } else if s.idle_for(now) >= cfg.closed_grace && !self.dirty.contains(cookie) {
                gone.push(*cookie);
            }
        }
        for cookie in gone {
            self.owner_waits.remove(&cookie);
            if let Some(s) = self.sockets.remove(&cookie) {
                for k in &s.keys {
                    self.flows.remove(k);
                }
            }
        }
        let sockets = &self.sockets;
        self.aggregates.retain(|_, c| sockets.contains_key(c));
        self.overflows.retain(|_, c| sockets.contains_key(c));
        // Idle flows of live records: forget the flow, keep the record.
        let (idle, aggregated_idle) = (cfg.flow_idle, cfg.aggregated_idle);
        let sockets = &mut self.sockets;
        self.flows.retain(|k, f| {
            let limit = if f.aggregated { aggregated_idle } else { idle };
            let keep = now.saturating_duration_since(f.last_seen) < limit || f.cookie.is_none();
            if !keep {
                if let Some(s) = f.cookie.and_then(|c| sockets.get_mut(&c)) {
                    s.keys.remove(k);
                }
            }
            keep
        });
    }
}
