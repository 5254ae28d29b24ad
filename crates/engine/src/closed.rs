//! Closed TCP connections summed per owner between two takes, for a
//! front-end that counts them (`serve`): each connection is counted once,
//! from its closed step, whatever the connection book later folds or
//! drops. Bounded: past [`MAX_CLOSED_OWNERS`] owners in one take, further
//! owners' connections are summed under no owner, and counted in
//! `owners_folded`.

use std::collections::HashMap;

use netoproc_core::identity::ProcessKey;
use netoproc_core::lifecycle::{ClosedCounts, LifeEvent};
use netoproc_core::model::UNKNOWN_UID;

/// Owners with sums of their own between two takes, at most.
pub const MAX_CLOSED_OWNERS: usize = 65_536;

/// One owner's connections closed since the last take.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClosedByOwner {
    /// The process (pid and start time, 0 when not known); `None`: no
    /// owner known (or past [`MAX_CLOSED_OWNERS`]).
    pub owner: Option<ProcessKey>,
    /// Its name (`comm`) as the closed step had it; empty without owner.
    pub comm: String,
    /// Its uid as the closed step had it ([`UNKNOWN_UID`] when not known).
    pub uid: u32,
    /// What its connections' closes added up to.
    pub counts: ClosedCounts,
}

#[derive(Debug, Default)]
pub(crate) struct ClosedSums {
    by_owner: HashMap<Option<ProcessKey>, ClosedByOwner>,
    pub(crate) owners_folded: u64,
}

impl ClosedSums {
    /// Counts `ev` if it is a closed step.
    pub(crate) fn count(&mut self, ev: &LifeEvent) {
        if ev.step != netoproc_core::lifecycle::Step::Closed {
            return;
        }
        let o = ev.record.owner.as_ref();
        let mut key = o.map(|o| ProcessKey {
            pid: o.pid,
            start_time_ns: o.start_time_ns,
        });
        if key.is_some()
            && self.by_owner.len() >= MAX_CLOSED_OWNERS
            && !self.by_owner.contains_key(&key)
        {
            self.owners_folded += 1;
            key = None;
        }
        let entry = self.by_owner.entry(key).or_insert_with(|| ClosedByOwner {
            owner: key,
            comm: key.and(o).map(|o| o.comm.clone()).unwrap_or_default(),
            uid: key.and(o).map_or(UNKNOWN_UID, |o| o.uid),
            counts: ClosedCounts::default(),
        });
        entry.counts.count(&ev.life);
    }

    /// The sums since the last take, by owner (no owner first).
    pub(crate) fn take(&mut self) -> Vec<ClosedByOwner> {
        let mut out: Vec<ClosedByOwner> = self.by_owner.drain().map(|(_, v)| v).collect();
        out.sort_by_key(|c| c.owner);
        out
    }
}
