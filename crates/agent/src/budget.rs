//! The series budget: which identities get series of their own, and how
//! counters stay monotonic and sums exact while identities come, go and
//! change rank.
//!
//! Each read, the traffic every identity moved since the last read (its
//! delta) is routed:
//!
//! - an **exported** identity adds it to its own counters;
//! - any other identity adds it to the overflow identity **`other`**, at the
//!   time it was moved (so `rate()` of `other` is the real rate of the
//!   identities it stands for), and is remembered as a *candidate*.
//!
//! Identities are exported while there is room (at most
//! [`BudgetConfig::max_identities`]). When the budget is full, a candidate
//! moving more than [`EVICT_FACTOR`] times the traffic of the weakest
//! exported identity (by a decaying average of per-read volume) takes its
//! place, provided that one has held its place for
//! [`BudgetConfig::min_residency`]. An exported identity that moved nothing
//! for [`BudgetConfig::ttl`] is dropped.
//!
//! **Monotonicity.** Nothing ever subtracts from a series: an identity's
//! counters, `other`'s and the retired counters only add. A dropped or
//! evicted identity's series simply ends (Prometheus marks it stale); its
//! counters are added to the *retired* counters (`netoproc_retired_*`), so
//! at every scrape `sum(identities) + other + retired` equals everything
//! attributed since start — exactly — without `other` jumping by a dropped
//! identity's lifetime total. A newly exported identity starts at zero (its
//! earlier traffic already is in `other`). An evicted identity is barred
//! from coming back for one TTL, so its series never reappears with a
//! lower value while Prometheus still holds the old one in a `rate()`
//! window; after that, a comeback is a fresh series, as after a restart.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::identity::Identity;
use crate::tally::Tally;

/// How much more a candidate must move than the weakest exported identity
/// to take its place (hysteresis against flapping).
pub const EVICT_FACTOR: f64 = 2.0;
/// Evictions per read at most, so a storm of new identities costs bounded
/// work and churn.
const MAX_EVICTIONS_PER_READ: usize = 16;
/// Weight of the past in the per-read volume average (halves each read).
const DECAY: f64 = 0.5;

/// How many identities get series, and how long they keep them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BudgetConfig {
    /// Identities with series of their own (`other` not included).
    pub max_identities: usize,
    /// An exported identity idle this long is dropped; an evicted one is
    /// barred this long.
    pub ttl: Duration,
    /// An exported identity is not evicted before it held its place this
    /// long.
    pub min_residency: Duration,
}

/// An identity with series of its own.
#[derive(Debug, Clone)]
pub struct Exported {
    /// What it moved since it was exported (not before: that is in
    /// `other`).
    pub tally: Tally,
    /// When it got its series.
    pub since: Instant,
    last_active: Instant,
    recent: f64,
}

#[derive(Debug, Clone)]
struct Candidate {
    recent: f64,
    last_active: Instant,
    barred_until: Option<Instant>,
}

/// Why an exported identity lost its series.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DropReason {
    /// Idle for the TTL.
    Expired,
    /// Replaced by a busier identity.
    Evicted,
}

/// What the budget did so far, for its self-metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BudgetStats {
    /// Identities whose traffic went to `other` (counted each time one
    /// becomes a candidate: first seen while the budget was full, or again
    /// after being forgotten).
    pub folded: u64,
    /// Exported identities dropped after idling for the TTL.
    pub expired: u64,
    /// Exported identities replaced by busier ones (or cut by a smaller
    /// budget on reload).
    pub evicted: u64,
    /// Candidates forgotten early to bound memory (their traffic stays in
    /// `other`).
    pub candidates_forgotten: u64,
}

/// The series budget; see the module docs.
#[derive(Debug)]
pub struct Budget {
    cfg: BudgetConfig,
    exported: HashMap<Identity, Exported>,
    other: Tally,
    retired: Tally,
    candidates: HashMap<Identity, Candidate>,
    stats: BudgetStats,
}

impl Budget {
    /// Nothing exported or counted yet.
    pub fn new(cfg: BudgetConfig) -> Self {
        Budget {
            cfg,
            exported: HashMap::new(),
            other: Tally::default(),
            retired: Tally::default(),
            candidates: HashMap::new(),
            stats: BudgetStats::default(),
        }
    }

    /// The config in force.
    pub fn config(&self) -> BudgetConfig {
        self.cfg
    }

    /// Takes a new config (SIGHUP). A smaller budget evicts the weakest at
    /// once; counters are kept.
    pub fn reconfigure(&mut self, cfg: BudgetConfig, now: Instant) {
        self.cfg = cfg;
        while self.exported.len() > cfg.max_identities {
            let Some(weakest) = self.weakest(now, true) else {
                break;
            };
            self.drop_identity(&weakest, DropReason::Evicted, now);
        }
    }

    /// The identities with series now, in no order.
    pub fn exported(&self) -> impl Iterator<Item = (&Identity, &Exported)> {
        self.exported.iter()
    }

    /// Whether `id` has series now.
    pub fn is_exported(&self, id: &Identity) -> bool {
        self.exported.contains_key(id)
    }

    /// The overflow identity's counters: traffic of identities without
    /// series, at the time it moved.
    pub fn other(&self) -> &Tally {
        &self.other
    }

    /// Counters of every identity whose series ended.
    pub fn retired(&self) -> &Tally {
        &self.retired
    }

    /// What the budget did so far.
    pub fn stats(&self) -> BudgetStats {
        self.stats
    }

    /// Everything counted since start: exported + `other` + retired.
    pub fn total(&self) -> Tally {
        let mut t = self.other;
        t.add(&self.retired);
        for e in self.exported.values() {
            t.add(&e.tally);
        }
        t
    }

    /// Routes one read's deltas (see the module doc).
    pub fn apply(&mut self, now: Instant, deltas: HashMap<Identity, Tally>) {
        self.expire(now);
        for e in self.exported.values_mut() {
            e.recent *= DECAY;
        }
        for c in self.candidates.values_mut() {
            c.recent *= DECAY;
        }
        for (id, delta) in deltas {
            if delta.is_zero() {
                continue;
            }
            if !self.exported.contains_key(&id)
                && self.exported.len() < self.cfg.max_identities
                && !self.is_barred(&id, now)
            {
                self.candidates.remove(&id);
                self.exported.insert(
                    id.clone(),
                    Exported {
                        tally: Tally::default(),
                        since: now,
                        last_active: now,
                        recent: 0.0,
                    },
                );
            }
            match self.exported.get_mut(&id) {
                Some(e) => {
                    e.tally.add(&delta);
                    e.recent += delta.volume() as f64;
                    e.last_active = now;
                }
                None => {
                    self.other.add(&delta);
                    let stats = &mut self.stats;
                    let c = self.candidates.entry(id).or_insert_with(|| {
                        stats.folded += 1;
                        Candidate {
                            recent: 0.0,
                            last_active: now,
                            barred_until: None,
                        }
                    });
                    c.recent += delta.volume() as f64;
                    c.last_active = now;
                }
            }
        }
        self.promote(now);
        self.bound_candidates();
    }

    fn is_barred(&self, id: &Identity, now: Instant) -> bool {
        self.candidates
            .get(id)
            .and_then(|c| c.barred_until)
            .is_some_and(|t| now < t)
    }

    fn expire(&mut self, now: Instant) {
        let ttl = self.cfg.ttl;
        let idle: Vec<Identity> = self
            .exported
            .iter()
            .filter(|(_, e)| now.saturating_duration_since(e.last_active) >= ttl)
            .map(|(id, _)| id.clone())
            .collect();
        for id in idle {
            self.drop_identity(&id, DropReason::Expired, now);
        }
        self.candidates.retain(|_, c| {
            now.saturating_duration_since(c.last_active) < ttl
                || c.barred_until.is_some_and(|t| now < t)
        });
    }

    fn drop_identity(&mut self, id: &Identity, why: DropReason, now: Instant) {
        let Some(e) = self.exported.remove(id) else {
            return;
        };
        self.retired.add(&e.tally);
        match why {
            DropReason::Expired => self.stats.expired += 1,
            DropReason::Evicted => {
                self.stats.evicted += 1;
                self.candidates.insert(
                    id.clone(),
                    Candidate {
                        recent: e.recent,
                        last_active: now,
                        barred_until: Some(now + self.cfg.ttl),
                    },
                );
            }
        }
    }

    /// The exported identity moving the least (ties: the latest exported),
    /// among those past their residency unless `any`.
    fn weakest(&self, now: Instant, any: bool) -> Option<Identity> {
        self.exported
            .iter()
            .filter(|(_, e)| {
                any || now.saturating_duration_since(e.since) >= self.cfg.min_residency
            })
            .min_by(|a, b| {
                a.1.recent
                    .total_cmp(&b.1.recent)
                    .then(b.1.since.cmp(&a.1.since))
                    .then(a.0.cmp(b.0))
            })
            .map(|(id, _)| id.clone())
    }

    /// Candidates that outweigh the weakest exported identities take their
    /// places; with room left, the busiest candidates are exported.
    fn promote(&mut self, now: Instant) {
        let mut ranked: Vec<(Identity, f64)> = self
            .candidates
            .iter()
            .filter(|(_, c)| c.barred_until.is_none_or(|t| now >= t) && c.recent > 0.0)
            .map(|(id, c)| (id.clone(), c.recent))
            .collect();
        ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        let mut evictions = 0;
        for (id, recent) in ranked {
            if self.exported.len() >= self.cfg.max_identities {
                if evictions == MAX_EVICTIONS_PER_READ {
                    break;
                }
                let Some(weakest) = self.weakest(now, false) else {
                    break;
                };
                if recent <= EVICT_FACTOR * self.exported[&weakest].recent {
                    break;
                }
                self.drop_identity(&weakest, DropReason::Evicted, now);
                evictions += 1;
            }
            if self.exported.len() >= self.cfg.max_identities {
                break;
            }
            self.candidates.remove(&id);
            self.exported.insert(
                id,
                Exported {
                    tally: Tally::default(),
                    since: now,
                    last_active: now,
                    recent,
                },
            );
        }
    }

    /// Keeps at most four candidates per exported place (plus 1024): the
    /// quietest go first. Their traffic is in `other` already.
    fn bound_candidates(&mut self) {
        let cap = self.cfg.max_identities.saturating_mul(4) + 1024;
        if self.candidates.len() <= cap {
            return;
        }
        let mut by_recent: Vec<(f64, Identity)> = self
            .candidates
            .iter()
            .filter(|(_, c)| c.barred_until.is_none())
            .map(|(id, c)| (c.recent, id.clone()))
            .collect();
        by_recent.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        let excess = self.candidates.len() - cap;
        for (_, id) in by_recent.into_iter().take(excess) {
            self.candidates.remove(&id);
            self.stats.candidates_forgotten += 1;
        }
    }
}

#[cfg(test)]
#[path = "budget_tests.rs"]
mod tests;
