//! The DNS view's rows, from the DNS observatory's report
//! ([`netoproc_dns::DnsReport`]): the most recent queries, newest first,
//! each timed on the run's clock (the header's "up"), and the resolvers as
//! reported. The names answers gave for remote addresses come in the same
//! tick and label the connections view. No parsing or matching here; that
//! is the observatory's.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Duration;

use netoproc_dns::{DnsReport, DnsStats, QueryRow, QueryStatus, ResolverRow};

/// Queries the view keeps (newest first); older ones are only counted in
/// the resolver figures.
pub const RECENT_QUERIES: usize = 1_000;

/// What the DNS observatory had at one tick.
#[derive(Debug, Clone, Copy)]
pub struct DnsTick<'a> {
    /// The observatory's report at this tick.
    pub report: &'a DnsReport,
    /// CLOCK_MONOTONIC now, the clock of [`QueryRow::sent_ns`].
    pub now_ns: u64,
    /// Names the answers gave for the connections' remote addresses.
    pub remote_hosts: &'a HashMap<IpAddr, String>,
}

/// The DNS view's data.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DnsView {
    /// Newest first, at most [`RECENT_QUERIES`].
    pub queries: Vec<QueryView>,
    /// Most queries first.
    pub resolvers: Vec<ResolverRow>,
    /// Queries the report held in all (the view keeps the newest).
    pub total_queries: usize,
    /// What the observatory could not use or dropped.
    pub stats: DnsStats,
}

/// One row of the DNS view: a query and when it left.
#[derive(Debug, Clone, PartialEq)]
pub struct QueryView {
    /// Stable identity of the row across ticks.
    pub key: u64,
    /// When the query left, on the run's clock (time since start).
    pub at: Duration,
    /// The query as the observatory reported it.
    pub row: QueryRow,
}

impl QueryView {
    /// The outcome as shown: the rcode, or `pending` / `timeout`.
    pub fn outcome(&self) -> &str {
        match (self.row.status, &self.row.rcode) {
            (QueryStatus::Answered, Some(rcode)) => rcode,
            (s, _) => s.as_str(),
        }
    }

    /// Whether the query failed: a non-NOERROR rcode or no answer in time.
    pub fn failed(&self) -> bool {
        match self.row.status {
            QueryStatus::Answered => self.row.rcode.as_deref() != Some("NOERROR"),
            QueryStatus::Timeout => true,
            QueryStatus::Pending => false,
        }
    }
}

/// The view's rows for `dns`, `uptime` being the run's clock at `dns.now_ns`.
pub fn dns_view(dns: &DnsTick<'_>, uptime: Duration) -> DnsView {
    let r = dns.report;
    let queries = r
        .queries
        .iter()
        .rev()
        .take(RECENT_QUERIES)
        .map(|q| {
            let ago = Duration::from_nanos(dns.now_ns.saturating_sub(q.sent_ns));
            QueryView {
                key: query_key(q),
                at: uptime.saturating_sub(ago),
                row: q.clone(),
            }
        })
        .collect();
    DnsView {
        queries,
        resolvers: r.resolvers.clone(),
        total_queries: r.queries.len(),
        stats: r.stats,
    }
}

/// Whether `q` matches the lower-case filter `f`.
pub(crate) fn query_matches(q: &QueryView, f: &str) -> bool {
    let r = &q.row;
    r.name.contains(f)
        || r.process.to_lowercase().contains(f)
        || r.pid.to_string().contains(f)
        || r.qtype.to_lowercase().contains(f)
        || q.outcome().to_lowercase().contains(f)
        || r.resolver.to_string().contains(f)
        || r.answers.iter().any(|a| a.to_lowercase().contains(f))
}

fn query_key(q: &QueryRow) -> u64 {
    let mix = |h: u64, v: u64| (h ^ v).wrapping_mul(0x9e37_79b9_7f4a_7c15).rotate_left(31);
    let h = mix(0x1357_9bdf_2468_ace0, q.sent_ns);
    mix(mix(h, u64::from(q.id)), u64::from(q.pid))
}
