//! Running totals per process and per resolver, updated as each query
//! ends (answered or timed out), so they stay exact however many query
//! records are evicted. Latency percentiles come from an HDR histogram
//! (2 significant digits, 1 µs to 1 h), a fixed ~10 KiB per resolver.

use std::collections::HashSet;

use hdrhistogram::Histogram;

use crate::message::Rcode;
use crate::report::Failures;

/// Distinct names remembered per process (beyond, they are not counted).
const MAX_NAMES_PER_PROCESS: usize = 4096;
/// Encrypted-DNS connections remembered per process and kind.
const MAX_CONNECTIONS_PER_PROCESS: usize = 4096;
const HIST_MAX_US: u64 = 3_600_000_000;

impl Failures {
    /// Counts one ended query: `None` is a timeout.
    pub(crate) fn add(&mut self, rcode: Option<Rcode>) {
        match rcode {
            None => self.timeout += 1,
            Some(Rcode::NOERROR) => {}
            Some(Rcode::NXDOMAIN) => self.nxdomain += 1,
            Some(Rcode::SERVFAIL) => self.servfail += 1,
            Some(Rcode::REFUSED) => self.refused += 1,
            Some(_) => self.other += 1,
        }
    }
}

#[derive(Debug, Default)]
pub(crate) struct ProcessStats {
    pub comm: String,
    pub queries: u64,
    pub answered: u64,
    pub failures: Failures,
    names: HashSet<String>,
    dot: HashSet<u64>,
    doh: HashSet<u64>,
}

impl ProcessStats {
    /// Counts one ended query for `name`. Its name is remembered (for the
    /// distinct-name count) if new and there is `room`, overall and in this
    /// process's own cap: returns `Some(true)` if it was remembered,
    /// `Some(false)` if it was new but not remembered, `None` if known.
    pub fn ended(&mut self, name: &str, rcode: Option<Rcode>, room: bool) -> Option<bool> {
        self.queries += 1;
        if rcode.is_some() {
            self.answered += 1;
        }
        self.failures.add(rcode);
        if self.names.contains(name) {
            return None;
        }
        let remember = room && self.names.len() < MAX_NAMES_PER_PROCESS;
        if remember {
            self.names.insert(name.to_string());
        }
        Some(remember)
    }

    pub fn names(&self) -> u64 {
        self.names.len() as u64
    }

    /// Remembers an encrypted-DNS connection by its socket cookie.
    pub fn encrypted(&mut self, doh: bool, cookie: u64) {
        let set = if doh { &mut self.doh } else { &mut self.dot };
        if set.len() < MAX_CONNECTIONS_PER_PROCESS {
            set.insert(cookie);
        }
    }

    pub fn dot_connections(&self) -> u64 {
        self.dot.len() as u64
    }

    pub fn doh_connections(&self) -> u64 {
        self.doh.len() as u64
    }
}

#[derive(Debug)]
pub(crate) struct ResolverStats {
    pub queries: u64,
    pub answered: u64,
    pub failures: Failures,
    latency_us: Histogram<u32>,
    pub latency: LatencyHistogram,
}

/// Upper bounds (seconds) of [`LatencyHistogram`]'s buckets: 0.5 ms to 5 s,
/// the span between a cache on the host and the observatory's timeout.
pub const LATENCY_BOUNDS_S: [f64; 13] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

/// Answered queries' latencies counted exactly into fixed buckets, for
/// exposition as a Prometheus histogram (the HDR histogram serves the
/// percentiles).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LatencyHistogram {
    /// Answers with latency ≤ `LATENCY_BOUNDS_S[i]` and above the bound
    /// before (not cumulative).
    pub buckets: [u64; LATENCY_BOUNDS_S.len()],
    /// Answers slower than the last bound.
    pub above: u64,
    /// All latencies recorded, summed, in ns (saturating).
    pub sum_ns: u64,
    /// Latencies recorded.
    pub count: u64,
}

impl LatencyHistogram {
    /// Counts one answer that took `ns` nanoseconds.
    pub fn record(&mut self, ns: u64) {
        let s = ns as f64 / 1e9;
        match LATENCY_BOUNDS_S.iter().position(|&b| s <= b) {
            Some(i) => self.buckets[i] += 1,
            None => self.above += 1,
        }
        self.sum_ns = self.sum_ns.saturating_add(ns);
        self.count += 1;
    }
}

impl Default for ResolverStats {
    fn default() -> Self {
        ResolverStats {
            queries: 0,
            answered: 0,
            failures: Failures::default(),
            latency_us: Histogram::new_with_bounds(1, HIST_MAX_US, 2)
                .expect("constant histogram bounds are valid"),
            latency: LatencyHistogram::default(),
        }
    }
}

impl ResolverStats {
    /// Counts one ended query: answered with `rcode` after `latency_ns`, or
    /// timed out (`None`).
    pub fn ended(&mut self, outcome: Option<(Rcode, u64)>) {
        self.queries += 1;
        self.failures.add(outcome.map(|(r, _)| r));
        if let Some((_, ns)) = outcome {
            self.answered += 1;
            self.latency.record(ns);
            self.latency_us
                .saturating_record((ns / 1000).clamp(1, HIST_MAX_US));
        }
    }

    /// Latency at quantile `q` (0..=1) in ms; `None` before any answer.
    pub fn latency_ms(&self, q: f64) -> Option<f64> {
        (self.answered > 0).then(|| self.latency_us.value_at_quantile(q) as f64 / 1000.0)
    }

    pub fn failure_rate(&self) -> f64 {
        if self.queries == 0 {
            0.0
        } else {
            self.failures.resolver_failures() as f64 / self.queries as f64
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolver_percentiles_and_failure_rate() {
        let mut r = ResolverStats::default();
        assert_eq!(r.latency_ms(0.5), None);
        for ms in 1..=100u64 {
            r.ended(Some((Rcode::NOERROR, ms * 1_000_000)));
        }
        r.ended(Some((Rcode::NXDOMAIN, 1_000_000)));
        r.ended(None);
        r.ended(Some((Rcode::SERVFAIL, 1_000_000)));
        // 1..=100 ms, then two more answers at 1 ms.
        assert_eq!(r.latency.count, 102);
        assert_eq!(r.latency.buckets[1], 3);
        assert_eq!(r.latency.buckets[2..8].iter().sum::<u64>(), 99);
        assert_eq!(r.latency.sum_ns, (5050 + 2) * 1_000_000);
        let p50 = r.latency_ms(0.5).unwrap();
        let p99 = r.latency_ms(0.99).unwrap();
        assert!((49.0..=52.0).contains(&p50), "{p50}");
        assert!((98.0..=101.0).contains(&p99), "{p99}");
        assert_eq!(r.queries, 103);
        assert_eq!(r.failures.nxdomain, 1);
        assert!((r.failure_rate() - 2.0 / 103.0).abs() < 1e-9);
    }

    #[test]
    fn process_names_are_distinct() {
        let mut p = ProcessStats::default();
        assert_eq!(p.ended("a.test", Some(Rcode::NOERROR), true), Some(true));
        assert_eq!(p.ended("a.test", Some(Rcode::REFUSED), true), None);
        assert_eq!(p.ended("b.test", None, true), Some(true));
        assert_eq!(p.ended("c.test", None, false), Some(false));
        assert_eq!((p.queries, p.answered, p.names()), (4, 2, 2));
        assert_eq!(p.failures.refused + p.failures.timeout, 3);
    }
}
