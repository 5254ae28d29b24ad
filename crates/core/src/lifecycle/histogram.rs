//! Response times as the kernel buckets them (`NP_RT_*` in `abi.h`): eight
//! buckets per power of two of microseconds from 64 µs to ~4 s. A coarse
//! log-linear histogram is what fits in socket storage; quantiles read
//! from it are bucket midpoints, within 6.25 % of the true value.

use serde::Serialize;

/// Buckets per histogram (`NP_RT_BUCKETS`).
pub const RT_BUCKETS: usize = 128;
const SUB: usize = 8;
const MIN_SHIFT: u32 = 6;

/// Counts of response times per bucket, summed over connections. Sparse:
/// `(bucket, count)` of the non-empty buckets in bucket order, so a
/// connection without samples costs nothing and most have a few buckets.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResponseHistogram {
    /// `(bucket, count)` of the non-empty buckets, in bucket order.
    pub counts: Vec<(u8, u64)>,
    /// Samples taken and their sum in µs (exact: the mean is not bucketed;
    /// the counts saturate, these do not).
    pub taken: u64,
    /// Sum of the samples taken, µs.
    pub sum_us: u64,
}

/// The bucket `i`'s range in µs, `[lo, hi)`; bucket 0 starts at 0.
pub fn bucket_range_us(i: usize) -> (u64, u64) {
    let octave = (i / SUB) as u32 + MIN_SHIFT;
    let width = 1u64 << (octave - 3);
    let lo = (1u64 << octave) + (i % SUB) as u64 * width;
    (if i == 0 { 0 } else { lo }, lo + width)
}

/// Which bucket a time of `us` µs falls in (the kernel's `np_rt_bucket`).
pub fn bucket_of_us(us: u64) -> usize {
    if us < (1 << MIN_SHIFT) {
        return 0;
    }
    let msb = 63 - us.leading_zeros();
    let sub = ((us >> (msb - 3)) as usize) & (SUB - 1);
    ((msb - MIN_SHIFT) as usize * SUB + sub).min(RT_BUCKETS - 1)
}

impl ResponseHistogram {
    /// From a socket's kernel histogram (`RT_BUCKETS` counters) and its exact count and sum.
    pub fn from_kernel(raw: &[u16], taken: u32, sum_us: u64) -> Self {
        let mut h = ResponseHistogram {
            taken: u64::from(taken),
            sum_us,
            ..ResponseHistogram::default()
        };
        h.counts = raw
            .iter()
            .take(RT_BUCKETS)
            .enumerate()
            .filter(|(_, &r)| r > 0)
            .map(|(i, &r)| (i as u8, u64::from(r)))
            .collect();
        h
    }

    fn add(&mut self, bucket: u8, n: u64) {
        match self.counts.binary_search_by_key(&bucket, |&(b, _)| b) {
            Ok(i) => self.counts[i].1 += n,
            Err(i) => self.counts.insert(i, (bucket, n)),
        }
    }

    /// Adds one time of `us` µs.
    pub fn record_us(&mut self, us: u64) {
        self.add(bucket_of_us(us) as u8, 1);
        self.taken += 1;
        self.sum_us += us;
    }

    /// Adds another histogram's samples to this one.
    pub fn merge(&mut self, o: &ResponseHistogram) {
        self.taken += o.taken;
        self.sum_us += o.sum_us;
        for &(b, n) in &o.counts {
            self.add(b, n);
        }
    }

    /// How many samples the buckets hold.
    pub fn samples(&self) -> u64 {
        self.counts.iter().map(|&(_, n)| n).sum()
    }

    /// The `q` quantile (0..=1) in µs: the midpoint of its bucket.
    pub fn quantile_us(&self, q: f64) -> Option<f64> {
        let total = self.samples();
        if total == 0 {
            return None;
        }
        let rank = ((q * total as f64).ceil() as u64).clamp(1, total);
        let mut seen = 0;
        for &(i, c) in &self.counts {
            seen += c;
            if seen >= rank {
                let (lo, hi) = bucket_range_us(usize::from(i));
                return Some((lo + hi) as f64 / 2.0);
            }
        }
        None
    }

    /// p50 and p99 in ms, with the number of samples.
    pub fn quantiles_ms(&self) -> super::Quantiles {
        super::Quantiles {
            count: self.samples(),
            mean: (self.taken > 0).then(|| self.sum_us as f64 / self.taken as f64 / 1000.0),
            p50: self.quantile_us(0.5).map(|u| u / 1000.0),
            p99: self.quantile_us(0.99).map(|u| u / 1000.0),
        }
    }
}

/// Non-empty buckets as `(lo_us, hi_us, count)`, for views that draw it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BucketCount {
    /// Lower bound, µs (inclusive).
    pub lo_us: u64,
    /// Upper bound, µs (exclusive).
    pub hi_us: u64,
    /// Samples in it.
    pub count: u64,
}

impl ResponseHistogram {
    /// The non-empty buckets with their ranges.
    pub fn non_empty(&self) -> Vec<BucketCount> {
        self.counts
            .iter()
            .map(|&(i, count)| {
                let (lo_us, hi_us) = bucket_range_us(usize::from(i));
                BucketCount {
                    lo_us,
                    hi_us,
                    count,
                }
            })
            .collect()
    }
}
