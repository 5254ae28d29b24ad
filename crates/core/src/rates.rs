//! Rates from cumulative counters: for each key (a pid, a connection, an
//! interface) the bytes per second moved over the last 1 s, 10 s and 60 s,
//! and, where asked, a short history of per-tick rates for sparklines. The
//! caller feeds the cumulative rx/tx counters it read at an instant it got
//! from its clock; nothing here reads time or does I/O.
//!
//! A window's rate is measured between the latest sample and the newest
//! sample at least that old, so with a 5 s read interval the "1 s" rate spans
//! 5 s. Until a key has history that old, the rate spans all it has. A key
//! first seen after the tracker's first tick is taken to have been at zero at
//! the previous tick, so a short-lived socket's bytes show up as a rate
//! instead of vanishing. Counters that go backwards (a reused key) count as
//! zero traffic, never as a negative rate.
//!
//! Memory per key is bounded: samples are kept about a second apart for
//! the last 10 s and about 5 s apart before that, some 25 in all, so
//! tens of thousands of connections cost a few MB.

use std::collections::hash_map::RandomState;
use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasher, Hash};
use std::time::{Duration, Instant};

/// The windows rates are computed over.
pub const WINDOWS: [Duration; 3] = [
    Duration::from_secs(1),
    Duration::from_secs(10),
    Duration::from_secs(60),
];

/// Samples closer together than this are merged (the older one is
/// replaced), so a short interval does not grow the history.
const RESOLUTION: u64 = 1_000_000;
/// Samples older than this (µs) are thinned to [`OLD_RESOLUTION`].
const RECENT: u64 = 10_000_000;
const OLD_RESOLUTION: u64 = 5_000_000;
const LONGEST: u64 = 60_000_000;

/// Receive and transmit bytes per second.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Rate {
    /// Bytes received per second.
    pub rx: f64,
    /// Bytes sent per second.
    pub tx: f64,
}

impl Rate {
    /// Both directions together, bytes per second.
    pub fn total(&self) -> f64 {
        self.rx + self.tx
    }
}

/// One key's rate over each of [`WINDOWS`].
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Rates {
    /// Over the last second.
    pub last_1s: Rate,
    /// Over the last 10 seconds.
    pub last_10s: Rate,
    /// Over the last 60 seconds.
    pub last_60s: Rate,
}

impl Rates {
    /// The rate over window `i` of [`WINDOWS`] (0, 1 or 2; larger means 60 s).
    pub fn window(&self, i: usize) -> Rate {
        match i {
            0 => self.last_1s,
            1 => self.last_10s,
            _ => self.last_60s,
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Sample {
    /// Microseconds since the tracker's first update.
    at: u64,
    rx: u64,
    tx: u64,
}

#[derive(Debug, Default)]
struct Series {
    samples: VecDeque<Sample>,
    /// Per-tick rates (rx, tx) in bytes per second, oldest first.
    history: VecDeque<(u64, u64)>,
    rates: Rates,
    seen_tick: u64,
}

/// Rates of many keys, updated once per tick. `S` hashes the keys; a
/// caller with tens of thousands of keys may pass a faster hasher.
#[derive(Debug)]
pub struct RateTracker<K, S = RandomState> {
    series: HashMap<K, Series, S>,
    history_len: usize,
    tick: u64,
    epoch: Option<Instant>,
    last_tick_at: Option<u64>,
}

impl<K: Hash + Eq + Clone> RateTracker<K> {
    /// A tracker that keeps the last `history_len` per-tick rates of every
    /// key (0 for none).
    pub fn new(history_len: usize) -> Self {
        RateTracker::with_hasher(history_len)
    }
}

impl<K: Hash + Eq + Clone, S: BuildHasher + Default> RateTracker<K, S> {
    /// [`RateTracker::new`] with the hasher `S`.
    pub fn with_hasher(history_len: usize) -> Self {
        RateTracker {
            series: HashMap::default(),
            history_len,
            tick: 0,
            epoch: None,
            last_tick_at: None,
        }
    }

    /// Feeds one tick: every key's cumulative (rx, tx) byte counters as read
    /// at `now`. Keys missing from `counters` are forgotten.
    pub fn update<I>(&mut self, now: Instant, counters: I)
    where
        I: IntoIterator<Item = (K, u64, u64)>,
    {
        self.tick += 1;
        let tick = self.tick;
        let epoch = *self.epoch.get_or_insert(now);
        let now = now.saturating_duration_since(epoch).as_micros() as u64;
        let prev = self.last_tick_at.filter(|p| *p < now);
        for (key, rx, tx) in counters {
            let series = self.series.entry(key).or_default();
            if series.samples.is_empty() {
                if let Some(at) = prev {
                    series.samples.push_back(Sample { at, rx: 0, tx: 0 });
                }
            }
            series.push(Sample { at: now, rx, tx }, self.history_len);
            series.seen_tick = tick;
        }
        self.series.retain(|_, s| s.seen_tick == tick);
        self.last_tick_at = Some(now);
    }

    /// The rates of `key` as of the last update (zero for unknown keys).
    pub fn rates(&self, key: &K) -> Rates {
        self.series.get(key).map(|s| s.rates).unwrap_or_default()
    }

    /// The per-tick (rx, tx) rates of `key`, oldest first, at most the
    /// history length given to [`RateTracker::new`].
    pub fn history(&self, key: &K) -> impl ExactSizeIterator<Item = (u64, u64)> + '_ {
        self.series
            .get(key)
            .map(|s| s.history.iter())
            .unwrap_or_default()
            .copied()
    }

    /// Whether `key` was fed in the last update.
    pub fn contains(&self, key: &K) -> bool {
        self.series.contains_key(key)
    }

    /// Keys currently tracked.
    pub fn len(&self) -> usize {
        self.series.len()
    }

    /// No key tracked.
    pub fn is_empty(&self) -> bool {
        self.series.is_empty()
    }
}

impl Series {
    fn push(&mut self, s: Sample, history_len: usize) {
        if let Some(last) = self.samples.back() {
            if history_len > 0 {
                let r = rate_between(last, &s);
                self.history
                    .push_back((r.rx.round() as u64, r.tx.round() as u64));
                while self.history.len() > history_len {
                    self.history.pop_front();
                }
            }
        }
        // Keep samples at least RESOLUTION apart, except the latest.
        let n = self.samples.len();
        if n >= 2 && self.samples[n - 1].at - self.samples[n - 2].at < RESOLUTION {
            self.samples[n - 1] = s;
        } else {
            self.samples.push_back(s);
        }
        // The newest sample older than RECENT: thinned if too close to the
        // one before it (each tick, at most one sample crosses the line).
        let old = self
            .samples
            .partition_point(|x| s.at.saturating_sub(x.at) > RECENT);
        if old >= 2 && self.samples[old - 1].at - self.samples[old - 2].at < OLD_RESOLUTION {
            self.samples.remove(old - 1);
        }
        // Drop samples no window needs: keep the newest one at least the
        // longest window old.
        while self.samples.len() >= 2 && s.at - self.samples[1].at >= LONGEST {
            self.samples.pop_front();
        }
        let w = |d: Duration| self.rate_over(d.as_micros() as u64);
        self.rates = Rates {
            last_1s: w(WINDOWS[0]),
            last_10s: w(WINDOWS[1]),
            last_60s: w(WINDOWS[2]),
        };
    }

    fn rate_over(&self, window: u64) -> Rate {
        let Some(latest) = self.samples.back() else {
            return Rate::default();
        };
        // Samples are in time order: the newest at least `window` old.
        let older = self
            .samples
            .partition_point(|x| latest.at.saturating_sub(x.at) >= window);
        let base = match older {
            0 => self.samples.front(),
            i => self.samples.get(i - 1),
        };
        base.map_or_else(Rate::default, |b| rate_between(b, latest))
    }
}

fn rate_between(a: &Sample, b: &Sample) -> Rate {
    let secs = b.at.saturating_sub(a.at) as f64 / 1e6;
    if secs <= 0.0 {
        return Rate::default();
    }
    Rate {
        rx: b.rx.saturating_sub(a.rx) as f64 / secs,
        tx: b.tx.saturating_sub(a.tx) as f64 / secs,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[test]
    fn constant_traffic_gives_the_same_rate_in_every_window() {
        let t0 = Instant::now();
        let mut r = RateTracker::new(0);
        for i in 0..=70u64 {
            r.update(t0 + secs(i), [(1u32, 1000 * i, 10 * i)]);
        }
        let rates = r.rates(&1);
        for w in 0..3 {
            assert_eq!(
                rates.window(w),
                Rate {
                    rx: 1000.0,
                    tx: 10.0
                }
            );
        }
    }

    #[test]
    fn windows_see_a_burst_differently() {
        let t0 = Instant::now();
        let mut r = RateTracker::new(0);
        // Quiet for 60 s, then 10 000 bytes in the last second.
        for i in 0..=60u64 {
            r.update(t0 + secs(i), [("k", 0, 0)]);
        }
        r.update(t0 + secs(61), [("k", 10_000, 0)]);
        let rates = r.rates(&"k");
        assert_eq!(rates.last_1s.rx, 10_000.0);
        assert_eq!(rates.last_10s.rx, 1_000.0);
        // Beyond 10 s samples are ~5 s apart: the 60 s window spans 60-65 s.
        let r60 = rates.last_60s.rx;
        assert!((10_000.0 / 65.0..=10_000.0 / 60.0).contains(&r60), "{r60}");
    }

    #[test]
    fn a_key_seen_late_starts_from_zero_at_the_previous_tick() {
        let t0 = Instant::now();
        let mut r = RateTracker::new(4);
        r.update(t0, [(1u32, 0, 0)]);
        r.update(t0 + secs(2), [(1, 0, 0), (2, 500, 100)]);
        assert_eq!(
            r.rates(&2).last_1s,
            Rate {
                rx: 250.0,
                tx: 50.0
            }
        );
        assert_eq!(r.history(&2).collect::<Vec<_>>(), vec![(250, 50)]);
        // The very first tick has no earlier instant: no rate yet.
        let mut fresh = RateTracker::new(0);
        fresh.update(t0, [(1u32, 500, 0)]);
        assert_eq!(fresh.rates(&1), Rates::default());
    }

    #[test]
    fn short_intervals_span_at_least_the_window() {
        let t0 = Instant::now();
        let mut r = RateTracker::new(0);
        // A sample every 250 ms, 100 bytes each.
        for i in 0..=40u64 {
            r.update(t0 + Duration::from_millis(250 * i), [(0u8, 100 * i, 0)]);
        }
        let one = r.rates(&0).last_1s.rx;
        assert!((one - 400.0).abs() < 1e-6, "{one}");
        // Samples are merged to about one a second, not one per tick.
        assert!(r.series[&0].samples.len() <= 12);
    }

    #[test]
    fn a_long_run_keeps_few_samples_and_exact_windows() {
        let t0 = Instant::now();
        let mut r = RateTracker::new(0);
        for i in 0..=600u64 {
            r.update(t0 + secs(i), [(0u8, 100 * i, 0)]);
            assert!(r.series[&0].samples.len() <= 25, "at {i}");
        }
        let rates = r.rates(&0);
        assert_eq!(rates.last_1s.rx, 100.0);
        assert_eq!(rates.last_10s.rx, 100.0);
        assert_eq!(rates.last_60s.rx, 100.0);
    }

    #[test]
    fn history_is_bounded_and_keys_not_fed_are_forgotten() {
        let t0 = Instant::now();
        let mut r = RateTracker::new(3);
        for i in 0..10u64 {
            r.update(t0 + secs(i), [(7u32, i * i, 0)]);
        }
        let h: Vec<u64> = r.history(&7).map(|(rx, _)| rx).collect();
        assert_eq!(h, vec![13, 15, 17]);
        r.update(t0 + secs(10), [(8u32, 0, 0)]);
        assert_eq!(r.len(), 1);
        assert_eq!(r.history(&7).len(), 0);
        assert_eq!(r.rates(&7), Rates::default());
    }

    #[test]
    fn counters_going_backwards_are_not_negative_rates() {
        let t0 = Instant::now();
        let mut r = RateTracker::new(2);
        r.update(t0, [(1u32, 5000, 5000)]);
        r.update(t0 + secs(1), [(1, 10, 10)]);
        assert_eq!(r.rates(&1).last_1s, Rate::default());
        // Time not moving (the same instant twice) is no rate either.
        r.update(t0 + secs(1), [(1, 20, 20)]);
        assert_eq!(r.rates(&1).last_1s, Rate::default());
    }
}
