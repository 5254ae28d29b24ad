//! Closed TCP connections counted for metrics: [`ClosedCounts`] sums, for
//! one owner (or one metric identity), how many connections closed by role
//! and outcome, the segments they sent and retransmitted, and their
//! handshake and response times in fixed buckets ([`TIME_BOUNDS_S`]) for
//! exposition as Prometheus histograms. Each connection is counted once,
//! from its closed step; counts only ever add. Pure: no I/O.

use super::{ConnectionLife, Outcome, ResponseHistogram, Role};

/// Upper bounds (seconds, `le`) of the handshake and response-time
/// buckets: 0.5 ms to 1 s, then `+Inf`.
pub const TIME_BOUNDS_S: [f64; 8] = [0.0005, 0.001, 0.0025, 0.01, 0.025, 0.1, 0.25, 1.0];

/// The roles, in [`ClosedCounts::connections`] order.
pub const ROLES: [Role; 2] = [Role::Client, Role::Server];

/// How a closed connection can have ended, in [`ClosedCounts::connections`]
/// order: success, then every failure reason.
pub const CLOSED_OUTCOMES: [Outcome; 7] = {
    let mut all = [Outcome::Success; 7];
    let mut i = 0;
    while i < Outcome::FAILURES.len() {
        all[i + 1] = Outcome::FAILURES[i];
        i += 1;
    }
    all
};

/// Times counted into the [`TIME_BOUNDS_S`] buckets.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TimeHistogram {
    /// Times at or below `TIME_BOUNDS_S[i]` and above the bound before
    /// (not cumulative).
    pub buckets: [u64; TIME_BOUNDS_S.len()],
    /// Times above the last bound.
    pub above: u64,
    /// Every time counted, summed, in ns (saturating).
    pub sum_ns: u64,
    /// Times counted.
    pub count: u64,
}

fn bucket_of_s(s: f64) -> Option<usize> {
    TIME_BOUNDS_S.iter().position(|&b| s <= b)
}

impl TimeHistogram {
    /// Counts one time of `ns` nanoseconds (exactly: `le` is `≤`).
    pub fn record_ns(&mut self, ns: u64) {
        self.put(bucket_of_s(ns as f64 / 1e9), 1);
        self.sum_ns = self.sum_ns.saturating_add(ns);
    }

    fn put(&mut self, slot: Option<usize>, n: u64) {
        match slot {
            Some(i) => self.buckets[i] += n,
            None => self.above += n,
        }
        self.count += n;
    }

    /// Adds a connection's response times, bucket-accurate: each of its
    /// buckets (1/8 of a power of two of µs wide) is counted under the
    /// first bound at or above the bucket's midpoint, so a time within
    /// 6.25 % of a bound may be counted on the bound's other side. The sum
    /// is the exact sum of the times (scaled to the bucketed count when the
    /// kernel's per-bucket counters saturated).
    pub fn add_response(&mut self, h: &ResponseHistogram) {
        for b in h.non_empty() {
            let mid_s = (b.lo_us + b.hi_us) as f64 / 2.0 / 1e6;
            self.put(bucket_of_s(mid_s), b.count);
        }
        let samples = h.samples();
        let sum_us = if h.taken > samples && h.taken > 0 {
            (h.sum_us as u128 * u128::from(samples) / u128::from(h.taken)) as u64
        } else {
            h.sum_us
        };
        self.sum_ns = self.sum_ns.saturating_add(sum_us.saturating_mul(1000));
    }

    /// Adds another histogram's counts.
    pub fn add(&mut self, o: &TimeHistogram) {
        for (a, b) in self.buckets.iter_mut().zip(&o.buckets) {
            *a += b;
        }
        self.above += o.above;
        self.sum_ns = self.sum_ns.saturating_add(o.sum_ns);
        self.count += o.count;
    }
}

/// Closed connections of one owner or identity; see the module docs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ClosedCounts {
    /// Connections closed, by role (as [`ROLES`]) and outcome (as
    /// [`CLOSED_OUTCOMES`]).
    pub connections: [[u64; CLOSED_OUTCOMES.len()]; ROLES.len()],
    /// Segments they retransmitted (the kernel's per-socket count at close).
    pub retransmits: u64,
    /// Segments they sent, retransmissions included.
    pub segments_out: u64,
    /// Handshake times of those that completed one.
    pub handshake: TimeHistogram,
    /// Their response times.
    pub response: TimeHistogram,
}

impl ClosedCounts {
    /// Counts one connection from its closed step's lifecycle; a life
    /// still `Open` is not a closed connection and counts nothing.
    pub fn count(&mut self, life: &ConnectionLife) {
        let Some(o) = CLOSED_OUTCOMES.iter().position(|&o| o == life.outcome) else {
            return;
        };
        let r = ROLES.iter().position(|&r| r == life.role).unwrap_or(0);
        self.connections[r][o] += 1;
        if let Some(h) = life.health {
            self.retransmits += u64::from(h.total_retrans);
            self.segments_out += u64::from(h.segs_out);
        }
        if let Some(ns) = life.handshake_ns.filter(|&ns| ns > 0) {
            self.handshake.record_ns(ns);
        }
        self.response.add_response(&life.response);
    }

    /// Adds another owner's counts.
    pub fn add(&mut self, o: &ClosedCounts) {
        for (a, b) in self.connections.iter_mut().zip(&o.connections) {
            for (x, y) in a.iter_mut().zip(b) {
                *x += y;
            }
        }
        self.retransmits += o.retransmits;
        self.segments_out += o.segments_out;
        self.handshake.add(&o.handshake);
        self.response.add(&o.response);
    }

    /// Connections closed with this role and outcome.
    pub fn closed(&self, role: Role, outcome: Outcome) -> u64 {
        let r = ROLES.iter().position(|&x| x == role);
        let o = CLOSED_OUTCOMES.iter().position(|&x| x == outcome);
        match (r, o) {
            (Some(r), Some(o)) => self.connections[r][o],
            _ => 0,
        }
    }

    /// Connections closed, all roles and outcomes.
    pub fn total(&self) -> u64 {
        self.connections.iter().flatten().sum()
    }

    /// Nothing counted.
    pub fn is_zero(&self) -> bool {
        *self == ClosedCounts::default()
    }
}

#[cfg(test)]
#[path = "closed_tests.rs"]
mod tests;
