//! What the observatory reports, ready to serialize: one row per query,
//! one per resolver, one per process, and the counts of what could not be
//! used. Built by [`crate::Observatory::report`]; formatted by
//! `netoproc-export` (the JSON `dns` section and `--view dns`).

use std::net::SocketAddr;

use netoproc_core::Protocol;
use serde::{Serialize, Serializer};

/// How a query ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum QueryStatus {
    /// A response came within the timeout.
    Answered,
    /// No response within the timeout (5 s).
    Timeout,
    /// Sent less than the timeout ago, no response yet.
    Pending,
}

impl QueryStatus {
    /// The lowercase name, as serialized.
    pub fn as_str(self) -> &'static str {
        match self {
            QueryStatus::Answered => "answered",
            QueryStatus::Timeout => "timeout",
            QueryStatus::Pending => "pending",
        }
    }
}

/// One query a process sent, and its response.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QueryRow {
    /// 0 when the owner could not be named.
    pub pid: u32,
    /// The owner's task name; empty when not known.
    pub process: String,
    /// Lower case, without the final dot.
    pub name: String,
    /// `A`, `AAAA`, `HTTPS`, ... or `TYPE<n>`.
    #[serde(rename = "type")]
    pub qtype: String,
    /// `NOERROR`, `NXDOMAIN`, ...; `null` without a response.
    pub rcode: Option<String>,
    /// Answered, timed out, or still pending.
    pub status: QueryStatus,
    /// Addresses alone, other records as `TYPE data` (`CNAME www.np.test`).
    pub answers: Vec<String>,
    /// Query to response, in the kernel's clock, µs precision.
    /// `None` without a response.
    pub latency_ms: Option<f64>,
    /// The address and port the query was sent to.
    #[serde(serialize_with = "as_text")]
    pub resolver: SocketAddr,
    /// UDP or TCP.
    pub transport: Protocol,
    /// DNS transaction id.
    pub id: u16,
    /// The response had the TC flag (the client should retry over TCP).
    pub truncated: bool,
    /// Times the same query (id, socket, resolver) was sent again.
    pub retries: u32,
    /// When the query left, in ns of the kernel's monotonic clock.
    pub sent_ns: u64,
}

/// Responses by kind of failure.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Failures {
    /// Answered NXDOMAIN: the name does not exist.
    pub nxdomain: u64,
    /// Answered SERVFAIL.
    pub servfail: u64,
    /// Answered REFUSED.
    pub refused: u64,
    /// No response within the timeout.
    pub timeout: u64,
    /// Any other non-zero rcode (FORMERR, NOTIMP, ...).
    pub other: u64,
}

impl Failures {
    /// Failures of the resolver, not of the name: all but NXDOMAIN.
    pub fn resolver_failures(&self) -> u64 {
        self.servfail + self.refused + self.timeout + self.other
    }
}

/// One resolver (the address queries were sent to). The row whose
/// resolver is `0.0.0.0:0` sums the resolvers past [`crate::MAX_RESOLVERS`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ResolverRow {
    /// The resolver's address and port (`0.0.0.0:0`: the overflow row).
    #[serde(serialize_with = "as_text")]
    pub resolver: SocketAddr,
    /// Queries answered or timed out.
    pub queries: u64,
    /// Of `queries`: those with a response.
    pub answered: u64,
    /// Queries still awaiting a response (not in `queries`).
    pub pending: u64,
    /// Failed queries, by kind.
    pub failures: Failures,
    /// Share of `queries` the resolver failed (SERVFAIL, REFUSED, timeout,
    /// other errors; NXDOMAIN is an answer).
    pub failure_rate: f64,
    /// Latency percentiles of answered queries (±1%).
    /// Median latency in ms; `None` when nothing was answered.
    pub p50_ms: Option<f64>,
    /// 99th-percentile latency in ms; `None` when nothing was answered.
    pub p99_ms: Option<f64>,
}

/// DNS as one process used it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DnsProcessRow {
    /// Process id; 0 for the row summing processes past
    /// [`crate::MAX_PROCESSES`] (or queries whose owner was not named).
    pub pid: u32,
    /// Task name; empty when not known.
    pub process: String,
    /// Queries answered or timed out.
    pub queries: u64,
    /// Of `queries`: those with a response.
    pub answered: u64,
    /// Queries still awaiting a response (not in `queries`).
    pub pending: u64,
    /// Distinct names asked (counted up to a cap per process).
    pub names: u64,
    /// Failed queries, by kind.
    pub failures: Failures,
    /// Connections to encrypted DNS: DoT/DoQ (port 853) and DoH.
    pub dot_connections: u64,
    /// Connections to DoH (port 443 to a known DoH address or name).
    pub doh_connections: u64,
}

/// What the observatory could not use, and what it dropped to stay bounded.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct DnsStats {
    /// Packets handed in.
    pub packets: u64,
    /// Messages decoded (a TCP packet may hold several, or part of one).
    pub messages: u64,
    /// Messages that did not decode; skipped.
    pub malformed: u64,
    /// Messages the kernel copied only in part; their start was used.
    pub cut: u64,
    /// Times a TCP stream lost its framing, and streams dropped mid-message.
    pub tcp_desyncs: u64,
    /// DNS-over-TCP segments skipped as retransmissions (not a loss).
    pub tcp_retransmits: u64,
    /// TCP streams dropped, least recently used first, to stay within the
    /// stream bound.
    pub tcp_streams_evicted: u64,
    /// Responses received that answer no pending query of their socket
    /// (transaction id, addresses and question): unsolicited, duplicate or
    /// forged, or whose query was sent before the capture began or lost.
    /// They name no address.
    pub unmatched_responses: u64,
    /// Responses after the timeout (their query counts as timed out).
    pub late_responses: u64,
    /// Messages at a server's socket: queries received, responses sent.
    /// A response sent names no address.
    pub served_messages: u64,
    /// Query records and pending queries dropped to stay within bounds
    /// (summaries still count them).
    pub queries_evicted: u64,
    /// Pending queries dropped, oldest first, to stay within bounds; a
    /// response to one counts as unmatched.
    pub pending_evicted: u64,
    /// Addresses the name cache holds now, and those dropped (oldest
    /// first) to stay within its bound before they expired.
    pub names_cached: u64,
    /// Addresses dropped from the name cache before they expired.
    pub names_evicted: u64,
    /// Ended queries summed into the overflow resolver row (`0.0.0.0:0`,
    /// "other resolvers") because [`crate::MAX_RESOLVERS`] resolvers
    /// already had rows of their own.
    pub resolvers_overflowed: u64,
    /// Ended queries summed into the overflow process row (pid 0) because
    /// [`crate::MAX_PROCESSES`] processes already had rows of their own.
    pub processes_overflowed: u64,
    /// Distinct names not remembered for a process's `names` count: the
    /// process already had its cap, or all processes together had
    /// [`crate::MAX_NAMES_REMEMBERED`].
    pub names_not_counted: u64,
}

/// The observatory's report.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct DnsReport {
    /// Oldest first; pending queries included.
    pub queries: Vec<QueryRow>,
    /// Most queries first.
    pub resolvers: Vec<ResolverRow>,
    /// Most queries first.
    pub processes: Vec<DnsProcessRow>,
    /// What could not be used, and what was dropped.
    pub stats: DnsStats,
}

fn as_text<S: Serializer>(a: &SocketAddr, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(a)
}
