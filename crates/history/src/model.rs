//! What one closed minute holds, as the agent hands it to the ledger: the
//! traffic of each identity by protocol (both directions: payload bytes,
//! wire bytes, packets), each identity's busiest remotes with the rest in
//! an overflow row, and DNS counts per identity and per resolver.

use serde::Serialize;

/// Remotes an identity keeps rows for, per minute and per hour; the rest
/// are summed in the row [`OTHER_REMOTE`], so sums stay exact.
pub const MAX_REMOTES_PER_IDENTITY: usize = 50;

/// The remote of the overflow row (not an address, so no remote takes it).
pub const OTHER_REMOTE: &str = "other";

/// Whose traffic a row counts: the agent's identity, as text.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct IdentityKey {
    /// The kernel's task name (`comm`); empty when no owner was named.
    pub process: String,
    /// The systemd unit (`nginx.service`) the process runs in, or empty.
    pub service: String,
    /// The container (`docker:web`, `k8s:default/web-0`, …), or empty.
    pub container: String,
    /// The Kubernetes pod, where known (empty otherwise).
    pub pod: String,
    /// The uid as a decimal number; empty when unknown.
    pub user: String,
}

/// Six counters: both directions of payload bytes, wire bytes, packets.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Traffic {
    /// Transport payload bytes sent (no headers).
    pub payload_bytes_sent: u64,
    /// Transport payload bytes received (no headers).
    pub payload_bytes_received: u64,
    /// Bytes sent on the wire, headers included.
    pub wire_bytes_sent: u64,
    /// Bytes received on the wire, headers included.
    pub wire_bytes_received: u64,
    /// Packets sent.
    pub packets_sent: u64,
    /// Packets received.
    pub packets_received: u64,
}

impl Traffic {
    /// Adds `o`, counter by counter.
    pub fn add(&mut self, o: &Traffic) {
        self.payload_bytes_sent += o.payload_bytes_sent;
        self.payload_bytes_received += o.payload_bytes_received;
        self.wire_bytes_sent += o.wire_bytes_sent;
        self.wire_bytes_received += o.wire_bytes_received;
        self.packets_sent += o.packets_sent;
        self.packets_received += o.packets_received;
    }

    /// True when every counter is 0 (such rows are not written).
    pub fn is_zero(&self) -> bool {
        *self == Traffic::default()
    }

    /// Payload and wire bytes both ways: how rows are ranked.
    pub fn volume(&self) -> u64 {
        self.payload_bytes_sent
            .saturating_add(self.payload_bytes_received)
            .saturating_add(self.wire_bytes_sent)
            .saturating_add(self.wire_bytes_received)
    }

    pub(crate) fn as_array(&self) -> [u64; 6] {
        [
            self.payload_bytes_sent,
            self.payload_bytes_received,
            self.wire_bytes_sent,
            self.wire_bytes_received,
            self.packets_sent,
            self.packets_received,
        ]
    }

    pub(crate) fn from_array(a: [u64; 6]) -> Self {
        Traffic {
            payload_bytes_sent: a[0],
            payload_bytes_received: a[1],
            wire_bytes_sent: a[2],
            wire_bytes_received: a[3],
            packets_sent: a[4],
            packets_received: a[5],
        }
    }
}

/// Answer latencies in fixed buckets (upper bounds in seconds, the last
/// bucket open), so minutes fold into hours exactly.
pub const LATENCY_BOUNDS_S: [f64; 13] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

/// Counts per [`LATENCY_BOUNDS_S`] bucket, then the open one.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Latency {
    /// Answers per bucket: `buckets[i]` took at most
    /// `LATENCY_BOUNDS_S[i]` seconds (and more than the bound before);
    /// the last counts slower answers.
    pub buckets: [u64; LATENCY_BOUNDS_S.len() + 1],
}

impl Latency {
    /// Adds `o`, bucket by bucket.
    pub fn add(&mut self, o: &Latency) {
        for (a, b) in self.buckets.iter_mut().zip(&o.buckets) {
            *a += b;
        }
    }

    /// Answers counted, all buckets.
    pub fn count(&self) -> u64 {
        self.buckets.iter().sum()
    }

    /// The upper bound (ms) of the bucket holding the `q` quantile; the
    /// open bucket reports the last bound. `None` without answers.
    pub fn quantile_ms(&self, q: f64) -> Option<f64> {
        let n = self.count();
        if n == 0 {
            return None;
        }
        let rank = ((q * n as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (i, c) in self.buckets.iter().enumerate() {
            seen += c;
            if seen >= rank {
                let b = LATENCY_BOUNDS_S[i.min(LATENCY_BOUNDS_S.len() - 1)];
                return Some(b * 1000.0);
            }
        }
        Some(LATENCY_BOUNDS_S[LATENCY_BOUNDS_S.len() - 1] * 1000.0)
    }

    /// As stored: the counts, comma-separated.
    pub(crate) fn encode(&self) -> String {
        let v: Vec<String> = self.buckets.iter().map(u64::to_string).collect();
        v.join(",")
    }

    /// A stored value; anything malformed reads as no answers.
    pub(crate) fn decode(s: &str) -> Latency {
        let mut l = Latency::default();
        for (slot, part) in l.buckets.iter_mut().zip(s.split(',')) {
            *slot = part.trim().parse().unwrap_or(0);
        }
        l
    }
}

/// DNS of one identity (resolver empty) or of one resolver (identity
/// empty): the agent counts queries per process and latency per resolver.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Dns {
    /// Queries answered or timed out.
    pub queries: u64,
    /// SERVFAIL, REFUSED, other error rcodes and timeouts.
    pub failures: u64,
    /// Answer latencies (the agent counts them per resolver).
    pub latency: Latency,
}

impl Dns {
    /// Adds `o`: counts and latency buckets.
    pub fn add(&mut self, o: &Dns) {
        self.queries += o.queries;
        self.failures += o.failures;
        self.latency.add(&o.latency);
    }

    /// True when nothing was counted (such rows are not written).
    pub fn is_zero(&self) -> bool {
        *self == Dns::default()
    }
}

/// Transport protocols, as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Proto {
    /// TCP.
    Tcp,
    /// UDP.
    Udp,
}

impl Proto {
    /// As stored: `tcp` or `udp`.
    pub fn as_str(self) -> &'static str {
        match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
        }
    }
}

/// One closed minute (or, in tests, a shorter bucket) of one host.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Minute {
    /// Unix seconds of the bucket's start.
    pub start: i64,
    /// Traffic per identity and protocol.
    pub traffic: Vec<(IdentityKey, Proto, Traffic)>,
    /// At most [`MAX_REMOTES_PER_IDENTITY`] rows and one [`OTHER_REMOTE`]
    /// row per identity (the ledger enforces it).
    pub remotes: Vec<(IdentityKey, String, Traffic)>,
    /// Identity rows have an empty resolver, resolver rows an empty
    /// identity.
    pub dns: Vec<(IdentityKey, String, Dns)>,
}

impl Minute {
    /// True with no rows at all (nothing to write).
    pub fn is_empty(&self) -> bool {
        self.traffic.is_empty() && self.remotes.is_empty() && self.dns.is_empty()
    }

    /// Everything this minute's traffic rows add up to.
    pub fn total(&self) -> Traffic {
        let mut t = Traffic::default();
        for (_, _, x) in &self.traffic {
            t.add(x);
        }
        t
    }
}

/// Bounds each identity's remotes to [`MAX_REMOTES_PER_IDENTITY`] rows by
/// volume, the rest (and any row already named [`OTHER_REMOTE`]) summed
/// in one overflow row. Sums are unchanged.
pub fn bound_remotes(
    rows: Vec<(IdentityKey, String, Traffic)>,
    max: usize,
) -> Vec<(IdentityKey, String, Traffic)> {
    use std::collections::BTreeMap;
    let mut by_id: BTreeMap<IdentityKey, Vec<(String, Traffic)>> = BTreeMap::new();
    for (id, r, t) in rows {
        by_id.entry(id).or_default().push((r, t));
    }
    let mut out = Vec::new();
    for (id, mut list) in by_id {
        let mut merged: BTreeMap<String, Traffic> = BTreeMap::new();
        for (r, t) in list.drain(..) {
            merged.entry(r).or_default().add(&t);
        }
        let mut other = merged.remove(OTHER_REMOTE).unwrap_or_default();
        let mut ranked: Vec<(String, Traffic)> = merged.into_iter().collect();
        ranked.sort_by(|a, b| b.1.volume().cmp(&a.1.volume()).then(a.0.cmp(&b.0)));
        for (r, t) in ranked.drain(max.min(ranked.len())..) {
            let _ = r;
            other.add(&t);
        }
        for (r, t) in ranked {
            out.push((id.clone(), r, t));
        }
        if !other.is_zero() {
            out.push((id, OTHER_REMOTE.to_string(), other));
        }
    }
    out
}
