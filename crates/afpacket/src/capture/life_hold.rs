//! TCP lifecycle steps waiting for their flow's record, on the attribution
//! thread. A reader hands a step on with its flow; it leaves here as a
//! [`LifeEvent`] once the flow is bound to a record of its own with a
//! known owner (so it carries the cookie, owner and counters the ledger
//! shows for the flow) — or, while the owner is still looked up, after
//! [`OWNER_WAIT`] or at a sync, with the record alone. A flow whose record
//! is shared (an aggregate, an overflow row) or forgotten has no
//! lifecycle: its steps are dropped and counted. Steps leave in the order
//! they came; at most [`MAX_HELD`] wait, any beyond are dropped and
//! counted. Time is a parameter; pure.

use std::collections::VecDeque;
use std::time::Instant;

use netoproc_core::lifecycle::LifeEvent;

use super::attribute::LifeRecord;
use super::dns_hold::OWNER_WAIT;
use super::flow::FlowKey;
use super::tcp_life::LifeStep;

/// Steps held at most.
pub const MAX_HELD: usize = 65_536;

/// Steps waiting for their flows' records.
#[derive(Debug, Default)]
pub struct LifeHold {
    held: VecDeque<(FlowKey, LifeStep, Instant)>,
    /// Steps dropped: too many waited, or their flow had no record of its own.
    pub dropped: u64,
}

impl LifeHold {
    /// Holds `steps` (oldest first), seen at `now`.
    pub fn add(&mut self, steps: Vec<(FlowKey, LifeStep)>, now: Instant) {
        for (key, step) in steps {
            if self.held.len() >= MAX_HELD {
                self.dropped += 1;
                continue;
            }
            self.held.push_back((key, step, now));
        }
    }

    /// Steps held now.
    pub fn len(&self) -> usize {
        self.held.len()
    }

    /// The steps that can leave now, in the order they came; `all`
    /// releases every step whose flow has a record (a sync); `only`
    /// releases just that flow's steps, also without an owner (the flow
    /// starts over).
    pub fn release(
        &mut self,
        record: impl Fn(&FlowKey) -> LifeRecord,
        now: Instant,
        all: bool,
        only: Option<&FlowKey>,
    ) -> Vec<LifeEvent> {
        let mut out = Vec::new();
        let mut kept = VecDeque::with_capacity(self.held.len());
        for (key, step, since) in self.held.drain(..) {
            if only.is_some_and(|k| *k != key) {
                kept.push_back((key, step, since));
                continue;
            }
            let forced = all || only.is_some();
            let waited = now.saturating_duration_since(since) >= OWNER_WAIT;
            let rec = match record(&key) {
                LifeRecord::Ready(r) => r,
                LifeRecord::Waiting(Some(r)) if forced || waited => r,
                LifeRecord::Waiting(None) if waited => {
                    self.dropped += 1;
                    continue;
                }
                LifeRecord::Waiting(_) => {
                    kept.push_back((key, step, since));
                    continue;
                }
                LifeRecord::Unusable => {
                    self.dropped += 1;
                    continue;
                }
            };
            out.push(LifeEvent {
                step: step.step,
                ktime_ns: step.ktime_ns,
                cookie: rec.cookie,
                record: rec,
                life: step.life,
            });
        }
        self.held = kept;
        out
    }
}

#[cfg(test)]
#[path = "life_hold_tests.rs"]
mod tests;
