//! The metric families, encoded through `prometheus-client` from a
//! [`Published`] read. Naming follows Prometheus practice: one `netoproc_`
//! prefix, base units (bytes, seconds), `_total` only on counters, no
//! `process_*` names (the standard process collector owns them). Per
//! identity: payload bytes, wire bytes and packets by `direction`
//! (`sent`/`received`) and `protocol` (`tcp`/`udp`), DNS queries by rcode
//! and timeouts; pid and command line only in `netoproc_process_info`.
//! TCP connections closed per identity by role and outcome, their
//! segments, handshake and response times (see `tcp.rs`), unless
//! `tcp_connections = false`.
//! Remote addresses only when asked for (`remote_series`): payload bytes
//! per (identity, remote address) in a family of their own, under a budget
//! of their own carved out of `max_series`.
//! How many series that makes is bounded by [`series_per_identity`] and
//! [`fixed_series`] (see `budget.rs` for how identities are chosen).

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric, MetricEncoder};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::{Registry, Unit};
use std::sync::Arc;

use netoproc_core::Counters;
use netoproc_dns::LATENCY_BOUNDS_S;

use crate::identity::Identity;
use crate::published::Published;
use crate::tally::Tally;
pub use crate::tcp::{LIFECYCLE_LOSS_SERIES, TCP_FIXED_SERIES, TCP_SERIES_PER_IDENTITY};

/// Interfaces with series of their own; the rest are summed as `other`.
pub const MAX_INTERFACES: usize = 64;
/// Resolvers with series of their own (the first seen); the rest `other`.
pub const MAX_RESOLVERS: usize = 8;
/// Command lines in `_info` series are cut to this many characters.
pub const MAX_CMDLINE: usize = 256;
/// Series that do not depend on identities, at most: retired counters,
/// coverage, interfaces, resolvers, capture health, budget, build and the
/// lifecycle's loss counters; with `tcp_connections` on, also the TCP
/// retired counters ([`TCP_FIXED_SERIES`]) and `other`'s TCP series
/// ([`TCP_SERIES_PER_IDENTITY`]).
pub fn fixed_series(tcp_connections: bool) -> usize {
    let base = 12
        + 8
        + 4 * (MAX_INTERFACES + 1)
        + (MAX_RESOLVERS + 1) * (6 + LATENCY_BOUNDS_S.len() + 3)
        + 64
        + 16
        + 16
        + LIFECYCLE_LOSS_SERIES;
    if tcp_connections {
        base + TCP_FIXED_SERIES + TCP_SERIES_PER_IDENTITY
    } else {
        base
    }
}

/// Series one exported identity can have: 3 traffic families × 2
/// directions × 2 protocols, 6 DNS, its `_info` series and, with
/// `tcp_connections` on, the TCP lifecycle's ([`TCP_SERIES_PER_IDENTITY`]).
pub fn series_per_identity(info_per_identity: usize, tcp_connections: bool) -> usize {
    let tcp = if tcp_connections {
        TCP_SERIES_PER_IDENTITY
    } else {
        0
    };
    12 + 6 + tcp + info_per_identity
}

const IDENTITY_LABELS: [&str; 5] = ["process", "service", "container", "pod", "user"];
const DIRECTIONS: [&str; 2] = ["sent", "received"];
const PROTOCOLS: [&str; 2] = ["tcp", "udp"];

/// A registry whose one collector encodes `p`.
pub fn registry(p: Arc<Published>) -> Registry {
    let mut r = Registry::default();
    r.register_collector(Box::new(PublishedCollector(p)));
    r
}

#[derive(Debug)]
struct PublishedCollector(Arc<Published>);

pub(crate) type Labels = Vec<(&'static str, String)>;

/// A label value as both text formats need it: backslash, double quote
/// and line feed escaped. `prometheus-client` writes label values as they
/// are, and process names and command lines are whatever a process chose.
pub(crate) fn escape(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

pub(crate) fn identity_labels(id: &Identity) -> Labels {
    let v = [&id.process, &id.service, &id.container, &id.pod, &id.user];
    IDENTITY_LABELS
        .iter()
        .zip(v)
        .map(|(k, v)| (*k, escape(v)))
        .collect()
}

/// `l` with `extra` labels, their values escaped.
pub(crate) fn with(mut l: Labels, extra: &[(&'static str, &str)]) -> Labels {
    l.extend(extra.iter().map(|(k, v)| (*k, escape(v))));
    l
}

/// One family of series with const values.
fn family<V: Copy>(
    enc: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    unit: Option<&Unit>,
    ty: MetricType,
    series: impl IntoIterator<Item = (Labels, V)>,
    write: impl Fn(V, prometheus_client::encoding::MetricEncoder) -> std::fmt::Result,
) -> std::fmt::Result {
    let mut m = enc.encode_descriptor(name, help, unit, ty)?;
    let mut series: Vec<(Labels, V)> = series.into_iter().collect();
    // A family of one unlabelled series is written without `{}`.
    if series.len() == 1 && series[0].0.is_empty() {
        let (_, v) = series.remove(0);
        return write(v, m);
    }
    for (labels, v) in series {
        write(v, m.encode_family(&labels)?)?;
    }
    Ok(())
}

/// A counter family; `N` is `u64` for counts, `f64` for seconds.
pub(crate) fn counter<N: Copy>(
    enc: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    unit: Option<&Unit>,
    series: impl IntoIterator<Item = (Labels, N)>,
) -> std::fmt::Result
where
    ConstCounter<N>: EncodeMetric,
{
    family(
        enc,
        name,
        help,
        unit,
        MetricType::Counter,
        series,
        |v, e| ConstCounter::new(v).encode(e),
    )
}

pub(crate) fn gauge(
    enc: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    unit: Option<&Unit>,
    series: impl IntoIterator<Item = (Labels, f64)>,
) -> std::fmt::Result {
    family(enc, name, help, unit, MetricType::Gauge, series, |v, e| {
        ConstGauge::new(v).encode(e)
    })
}

/// A traffic family's series for one identity (or the retired counters):
/// both directions of each protocol that moved anything.
fn traffic_series(
    base: &Labels,
    t: &Tally,
    pick: fn(&Counters) -> (u64, u64),
    all: bool,
) -> Vec<(Labels, u64)> {
    let mut out = Vec::new();
    for (i, proto) in PROTOCOLS.iter().enumerate() {
        let c = &t.traffic[i];
        if !all && c.is_zero() {
            continue;
        }
        let (sent, received) = pick(c);
        for (dir, v) in DIRECTIONS.iter().zip([sent, received]) {
            out.push((
                with(base.clone(), &[("direction", dir), ("protocol", proto)]),
                v,
            ));
        }
    }
    out
}

fn payload(c: &Counters) -> (u64, u64) {
    (c.tx_bytes, c.rx_bytes)
}
fn wire(c: &Counters) -> (u64, u64) {
    (c.tx_wire_bytes, c.rx_wire_bytes)
}
fn packets(c: &Counters) -> (u64, u64) {
    (c.tx_packets, c.rx_packets)
}

impl Collector for PublishedCollector {
    fn encode(&self, mut enc: DescriptorEncoder) -> std::fmt::Result {
        let p = &*self.0;
        let traffic = [
            ("netoproc_payload", "Payload (L4) bytes moved by send and receive calls, per identity; the identity `other` holds every identity the series budget does not.", Some(&Unit::Bytes), payload as fn(&Counters) -> (u64, u64)),
            ("netoproc_wire", "IP-layer bytes (headers included), per identity.", Some(&Unit::Bytes), wire),
            ("netoproc_packets", "IP-layer packets, per identity.", None, packets),
        ];
        for (name, help, unit, pick) in traffic {
            let series = p
                .identities
                .iter()
                .flat_map(|(id, t)| traffic_series(&identity_labels(id), t, pick, id.is_other()));
            counter(&mut enc, name, help, unit, series)?;
        }
        let retired = [
            ("netoproc_retired_payload", "Payload bytes of identities whose series ended (idle past the TTL, or evicted by a busier identity): with the per-identity series they sum to everything attributed since start.", Some(&Unit::Bytes), payload as fn(&Counters) -> (u64, u64)),
            ("netoproc_retired_wire", "Wire bytes of identities whose series ended.", Some(&Unit::Bytes), wire),
            ("netoproc_retired_packets", "Packets of identities whose series ended.", None, packets),
        ];
        for (name, help, unit, pick) in retired {
            let series = traffic_series(&Vec::new(), &p.retired, pick, true);
            counter(&mut enc, name, help, unit, series)?;
        }
        {
            let mut m = enc.encode_descriptor(
                "netoproc_process",
                "A live process (with an open socket) of an exported identity: its pid and command line.",
                None,
                MetricType::Info,
            )?;
            for row in &p.info {
                let labels = with(
                    identity_labels(&row.identity),
                    &[("pid", &row.pid.to_string()), ("cmdline", &row.cmdline)],
                );
                m.encode_info(&labels)?;
            }
        }
        remote_series(&mut enc, p)?;
        dns_identity(&mut enc, p)?;
        crate::tcp::encode(&mut enc, p)?;
        dns_resolvers(&mut enc, p)?;
        coverage(&mut enc, p)?;
        crate::health::encode(&mut enc, p)
    }
}

/// The opt-in per-remote payload series and their budget's figures.
fn remote_series(enc: &mut DescriptorEncoder, p: &Published) -> std::fmt::Result {
    let Some(r) = &p.remotes else {
        return Ok(());
    };
    let series = r.pairs.iter().flat_map(|(id, t)| {
        let labels = with(identity_labels(id), &[("remote", &id.remote)]);
        traffic_series(&labels, t, payload, id.is_other())
    });
    counter(
        enc,
        "netoproc_remote_payload",
        "Payload bytes per identity and remote address (opt-in: remote_series); `remote` is empty for traffic without one (unconnected UDP sockets, bytes not seen per socket); the pair `other` holds every pair the remote budget does not.",
        Some(&Unit::Bytes),
        series,
    )?;
    counter(
        enc,
        "netoproc_remote_retired_payload",
        "Payload bytes of (identity, remote) pairs whose series ended: with the per-pair series they sum to netoproc_payload_bytes_total's.",
        Some(&Unit::Bytes),
        traffic_series(&Vec::new(), &r.retired, payload, true),
    )?;
    gauge(
        enc,
        "netoproc_remote_budget_pairs",
        "(identity, remote) pairs with series of their own now, and the most the remote budget allows.",
        None,
        [
            (
                with(Vec::new(), &[("state", "exported")]),
                r.pairs.iter().filter(|(i, _)| !i.is_other()).count() as f64,
            ),
            (with(Vec::new(), &[("state", "max")]), r.max_pairs as f64),
        ],
    )?;
    counter(
        enc,
        "netoproc_remote_budget_folded_pairs",
        "(identity, remote) pairs whose traffic the remote budget folded into the pair `other`.",
        None,
        [(Vec::new(), r.budget.folded)],
    )?;
    counter(
        enc,
        "netoproc_remote_budget_dropped_pairs",
        "(identity, remote) pairs whose series ended, by reason (`expired`, `evicted`).",
        None,
        [
            (with(Vec::new(), &[("reason", "expired")]), r.budget.expired),
            (with(Vec::new(), &[("reason", "evicted")]), r.budget.evicted),
        ],
    )
}

fn dns_identity(enc: &mut DescriptorEncoder, p: &Published) -> std::fmt::Result {
    let with_dns = || p.identities_with(|t| !t.dns.is_zero());
    counter(
        enc,
        "netoproc_dns_queries",
        "DNS queries answered, per identity and response code (`other`: any other error code).",
        None,
        with_dns().flat_map(|(id, t)| {
            let base = identity_labels(id);
            t.dns
                .by_rcode()
                .map(|(rcode, v)| (with(base.clone(), &[("rcode", rcode)]), v))
        }),
    )?;
    counter(
        enc,
        "netoproc_dns_timeouts",
        "DNS queries without a response within 5 s, per identity.",
        None,
        with_dns().map(|(id, t)| (identity_labels(id), t.dns.timeout)),
    )
}

fn dns_resolvers(enc: &mut DescriptorEncoder, p: &Published) -> std::fmt::Result {
    let Some(resolvers) = &p.resolvers else {
        return Ok(());
    };
    let label = |r: &str| with(Vec::new(), &[("resolver", r)]);
    counter(
        enc,
        "netoproc_dns_resolver_queries",
        "DNS queries answered, per resolver and response code; resolvers past the first 8 are summed as `other`.",
        None,
        resolvers.iter().flat_map(|(r, s)| {
            s.dns
                .by_rcode()
                .map(|(rcode, v)| (with(label(r), &[("rcode", rcode)]), v))
        }),
    )?;
    counter(
        enc,
        "netoproc_dns_resolver_timeouts",
        "DNS queries without a response within 5 s, per resolver.",
        None,
        resolvers.iter().map(|(r, s)| (label(r), s.dns.timeout)),
    )?;
    let mut m = enc.encode_descriptor(
        "netoproc_dns_resolver_latency",
        "Time from a DNS query to its response, per resolver (answered queries).",
        Some(&Unit::Seconds),
        MetricType::Histogram,
    )?;
    for (r, s) in resolvers {
        let h = &s.latency;
        seconds_histogram(
            &mut m,
            &label(r),
            &LATENCY_BOUNDS_S,
            &h.buckets,
            h.above,
            h.sum_ns,
            h.count,
        )?;
    }
    Ok(())
}

/// One histogram series in seconds: `buckets` counted against `bounds`
/// (upper bounds, s), `above` beyond the last, the exact sum (ns) and count.
pub(crate) fn seconds_histogram(
    m: &mut MetricEncoder<'_>,
    labels: &Labels,
    bounds: &[f64],
    buckets: &[u64],
    above: u64,
    sum_ns: u64,
    count: u64,
) -> std::fmt::Result {
    let mut all: Vec<(f64, u64)> = bounds
        .iter()
        .copied()
        .zip(buckets.iter().copied())
        .collect();
    all.push((f64::MAX, above));
    m.encode_family(labels)?
        .encode_histogram::<Labels>(sum_ns as f64 / 1e9, count, &all, None)
}

fn coverage(enc: &mut DescriptorEncoder, p: &Published) -> std::fmt::Result {
    let l = &p.losses;
    let lab = |pairs: &[(&'static str, &str)]| with(Vec::new(), pairs);
    counter(
        enc,
        "netoproc_unattributed_payload",
        "Payload bytes netoproc could not attribute to a process, by reason (`no_owner`: a socket never seen in a send or receive call).",
        Some(&Unit::Bytes),
        [(lab(&[("reason", "no_owner")]), l.no_owner_bytes)],
    )?;
    counter(
        enc,
        "netoproc_unattributed_wire",
        "IP-layer bytes netoproc could not attribute, by reason (`no_socket`: packets without a full socket, e.g. handshake replies and TIME_WAIT ACKs; `no_owner`: see the payload family) and direction (`unknown` where not known). Compare with netoproc_interface_bytes_total.",
        Some(&Unit::Bytes),
        [
            (lab(&[("reason", "no_socket"), ("direction", "sent")]), l.unattributed_tx_wire_bytes),
            (lab(&[("reason", "no_socket"), ("direction", "received")]), l.unattributed_rx_wire_bytes),
            (lab(&[("reason", "no_owner"), ("direction", "unknown")]), l.no_owner_wire_bytes),
        ],
    )?;
    counter(
        enc,
        "netoproc_unattributed_packets",
        "IP packets netoproc could not attribute, by reason and direction.",
        None,
        [
            (
                lab(&[("reason", "no_socket"), ("direction", "sent")]),
                l.unattributed_tx_packets,
            ),
            (
                lab(&[("reason", "no_socket"), ("direction", "received")]),
                l.unattributed_rx_packets,
            ),
        ],
    )?;
    let ifaces = || p.interfaces.iter();
    counter(
        enc,
        "netoproc_interface",
        "The kernel's own byte counters per network interface (since boot, not only since netoproc started), for coverage; interfaces past the first 64 are summed as `other`.",
        Some(&Unit::Bytes),
        ifaces().flat_map(|i| {
            [
                (lab(&[("interface", &i.name), ("direction", "sent")]), i.tx_bytes),
                (lab(&[("interface", &i.name), ("direction", "received")]), i.rx_bytes),
            ]
        }),
    )?;
    counter(
        enc,
        "netoproc_interface_packets",
        "The kernel's own packet counters per network interface.",
        None,
        ifaces().flat_map(|i| {
            [
                (
                    lab(&[("interface", &i.name), ("direction", "sent")]),
                    i.tx_packets,
                ),
                (
                    lab(&[("interface", &i.name), ("direction", "received")]),
                    i.rx_packets,
                ),
            ]
        }),
    )
}

#[cfg(test)]
#[path = "metrics_tests.rs"]
mod tests;
