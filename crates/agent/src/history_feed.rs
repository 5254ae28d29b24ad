//! From the agent's per-read deltas to the history ledger's minutes: each
//! read's traffic per identity and protocol, per identity and remote, and
//! DNS per identity (from the tracker) and per resolver (differenced here
//! from the observatory's cumulative counts and latency histograms) are
//! added to the open minute; when a read falls in the next minute the open
//! one is closed and handed to the writer thread
//! ([`netoproc_history::writer`]). Bounded: at most [`MAX_IDENTITIES`]
//! identities and [`MAX_REMOTE_PAIRS`] (identity, remote) pairs a minute;
//! past them, traffic is added to the identity `other` or the remote
//! `other`, and counted.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use netoproc_core::Counters;
use netoproc_dns::{DnsReport, LatencyHistogram};
use netoproc_history::model::{Dns, IdentityKey, Latency, Minute, Proto, Traffic, OTHER_REMOTE};
use netoproc_history::writer::{Status, Writer};

use crate::identity::Identity;
use crate::tally::{DnsCounts, Tally};

/// Identities with rows of their own in one minute.
pub const MAX_IDENTITIES: usize = 10_000;
/// (identity, remote) pairs in one minute, before the per-identity bound
/// the ledger applies.
pub const MAX_REMOTE_PAIRS: usize = 100_000;
/// Resolvers whose cumulative counts are remembered to difference them.
const MAX_RESOLVERS: usize = 1024;

fn key(id: &Identity) -> IdentityKey {
    IdentityKey {
        process: id.process.to_string(),
        service: id.service.to_string(),
        container: id.container.to_string(),
        pod: id.pod.to_string(),
        user: id.user.to_string(),
    }
}

fn traffic(c: &Counters) -> Traffic {
    Traffic {
        payload_bytes_sent: c.tx_bytes,
        payload_bytes_received: c.rx_bytes,
        wire_bytes_sent: c.tx_wire_bytes,
        wire_bytes_received: c.rx_wire_bytes,
        packets_sent: c.tx_packets,
        packets_received: c.rx_packets,
    }
}

fn dns_of(c: &DnsCounts) -> Dns {
    Dns {
        queries: c.noerror + c.nxdomain + c.servfail + c.refused + c.other + c.timeout,
        failures: c.servfail + c.refused + c.other + c.timeout,
        latency: Latency::default(),
    }
}

fn latency(h: &LatencyHistogram) -> Latency {
    let mut l = Latency::default();
    for (a, b) in l.buckets.iter_mut().zip(&h.buckets) {
        *a = *b;
    }
    if let Some(last) = l.buckets.last_mut() {
        *last = h.above;
    }
    l
}

/// One resolver's cumulative counts as last seen.
#[derive(Debug, Clone, Copy, Default)]
struct ResolverSeen {
    queries: u64,
    failures: u64,
    latency: Latency,
}

#[derive(Debug, Default)]
struct Open {
    start: i64,
    traffic: HashMap<IdentityKey, [Traffic; 2]>,
    remotes: HashMap<(IdentityKey, String), Traffic>,
    dns: HashMap<(IdentityKey, String), Dns>,
}

/// The open minute and the writer it goes to.
pub struct HistoryFeed {
    writer: Writer,
    bucket_s: i64,
    open: Open,
    resolvers: HashMap<SocketAddr, ResolverSeen>,
    /// Identities (and pairs) whose traffic went to `other` this run.
    pub folded: u64,
}

/// What /metrics shows of history.
#[derive(Debug, Clone)]
pub struct HistoryView {
    /// The writer's state: up or not, minutes written and dropped, last
    /// error.
    pub status: Arc<Status>,
    /// Identities (and pairs) whose traffic went to `other` this run.
    pub identities_folded: u64,
}

impl HistoryFeed {
    /// `bucket_s` is 60 but for tests.
    pub fn new(writer: Writer, bucket_s: i64) -> Self {
        HistoryFeed {
            writer,
            bucket_s: bucket_s.clamp(1, 60),
            open: Open::default(),
            resolvers: HashMap::new(),
            folded: 0,
        }
    }

    /// What `/metrics` shows of history now.
    pub fn view(&self) -> HistoryView {
        HistoryView {
            status: self.writer.status(),
            identities_folded: self.folded,
        }
    }

    /// Adds one read, first closing the open minute if `now` (Unix
    /// seconds) is past it.
    pub fn add(
        &mut self,
        now: i64,
        by_identity: &HashMap<Identity, Tally>,
        by_remote: &HashMap<Identity, Tally>,
        dns: Option<&DnsReport>,
        latencies: &[(SocketAddr, LatencyHistogram)],
    ) {
        let bucket = now.div_euclid(self.bucket_s) * self.bucket_s;
        if bucket != self.open.start {
            self.close();
            self.open.start = bucket;
        }
        let other = key(&Identity::other());
        for (id, t) in by_identity {
            // Closed connections are not kept in history: an identity
            // that only closed some takes no place in the minute.
            if t.traffic.iter().all(|c| c.is_zero()) && t.dns.is_zero() {
                continue;
            }
            let mut k = key(id);
            if !self.open.traffic.contains_key(&k) && self.open.traffic.len() >= MAX_IDENTITIES {
                self.folded += 1;
                k = other.clone();
            }
            let slot = self.open.traffic.entry(k.clone()).or_default();
            for (s, c) in slot.iter_mut().zip(&t.traffic) {
                s.add(&traffic(c));
            }
            if !t.dns.is_zero() {
                self.open
                    .dns
                    .entry((k, String::new()))
                    .or_default()
                    .add(&dns_of(&t.dns));
            }
        }
        for (pair, t) in by_remote {
            let mut k = (key(pair), pair.remote.to_string());
            if !self.open.traffic.contains_key(&k.0) {
                k.0 = other.clone();
            }
            if !self.open.remotes.contains_key(&k) && self.open.remotes.len() >= MAX_REMOTE_PAIRS {
                self.folded += 1;
                k.1 = OTHER_REMOTE.to_string();
            }
            let slot = self.open.remotes.entry(k).or_default();
            for c in &t.traffic {
                slot.add(&traffic(c));
            }
        }
        if let Some(d) = dns {
            for r in &d.resolvers {
                let f = &r.failures;
                let now_seen = ResolverSeen {
                    queries: r.queries,
                    failures: f.servfail + f.refused + f.other + f.timeout,
                    latency: latencies
                        .iter()
                        .find(|(a, _)| *a == r.resolver)
                        .map(|(_, h)| latency(h))
                        .unwrap_or_default(),
                };
                if !self.resolvers.contains_key(&r.resolver)
                    && self.resolvers.len() >= MAX_RESOLVERS
                {
                    continue;
                }
                let before = self
                    .resolvers
                    .insert(r.resolver, now_seen)
                    .unwrap_or_default();
                let mut delta = Dns {
                    queries: now_seen.queries.saturating_sub(before.queries),
                    failures: now_seen.failures.saturating_sub(before.failures),
                    latency: Latency::default(),
                };
                for ((d, a), b) in delta
                    .latency
                    .buckets
                    .iter_mut()
                    .zip(&now_seen.latency.buckets)
                    .zip(&before.latency.buckets)
                {
                    *d = a.saturating_sub(*b);
                }
                if !delta.is_zero() {
                    self.open
                        .dns
                        .entry((IdentityKey::default(), r.resolver.to_string()))
                        .or_default()
                        .add(&delta);
                }
            }
        }
    }

    /// Hands the open minute to the writer (nothing when it is empty).
    fn close(&mut self) {
        let open = std::mem::take(&mut self.open);
        let mut m = Minute {
            start: open.start,
            ..Minute::default()
        };
        for (k, t) in open.traffic {
            for (proto, x) in [Proto::Tcp, Proto::Udp].into_iter().zip(t) {
                if !x.is_zero() {
                    m.traffic.push((k.clone(), proto, x));
                }
            }
        }
        for ((k, r), t) in open.remotes {
            if !t.is_zero() {
                m.remotes.push((k, r, t));
            }
        }
        for ((k, r), d) in open.dns {
            m.dns.push((k, r, d));
        }
        if !m.is_empty() {
            self.writer.push(m);
        }
    }

    /// The agent stops: the open minute is written, then the queue.
    pub fn stop(mut self) {
        self.close();
        self.writer.stop();
    }
}

#[cfg(test)]
#[path = "history_feed_tests.rs"]
mod tests;
