//! The TCP connection lifecycle families: per identity, connections closed
//! by `role` (`client`, `server`) and `outcome` (`success` or a failure
//! reason), the segments they sent and retransmitted, and their handshake
//! and response times as histograms over [`TIME_BOUNDS_S`]; the retired
//! identities' counters; and what the lifecycle lost. Every connection is
//! counted once, at its close (see `tracker.rs`), so an open connection
//! shows in none of these; a series appears once it is non-zero (`other`'s
//! always). How many series that makes per identity is
//! [`TCP_SERIES_PER_IDENTITY`]. With `tcp_connections = false` only the
//! loss counters are written: no per-identity family, no `other`, no
//! retired counters (the tallies still count, so the families continue
//! where they were if a reload turns them back on).

use prometheus_client::encoding::DescriptorEncoder;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Unit;

use netoproc_core::lifecycle::{
    ClosedCounts, TimeHistogram, CLOSED_OUTCOMES, ROLES, TIME_BOUNDS_S,
};

use crate::metrics::{counter, identity_labels, seconds_histogram, with, Labels};
use crate::published::Published;

/// Series one identity's lifecycle families can have: every role ×
/// outcome, the two segment counters, and two histograms (each bound,
/// `+Inf`, `_sum`, `_count`).
pub const TCP_SERIES_PER_IDENTITY: usize =
    ROLES.len() * CLOSED_OUTCOMES.len() + 2 + 2 * (TIME_BOUNDS_S.len() + 3);

/// Series of the retired counters (every role × outcome, two segment
/// counters): written only with `tcp_connections` on, like the
/// per-identity families.
pub const TCP_FIXED_SERIES: usize = ROLES.len() * CLOSED_OUTCOMES.len() + 2;

/// Series of the lifecycle's loss counters: written whatever
/// `tcp_connections` says.
pub const LIFECYCLE_LOSS_SERIES: usize = 3;

/// Each (role, outcome) of `c`: all of them, or the non-zero ones.
fn by_outcome(base: &Labels, c: &ClosedCounts, all: bool) -> Vec<(Labels, u64)> {
    let mut out = Vec::new();
    for (r, role) in ROLES.iter().enumerate() {
        for (o, outcome) in CLOSED_OUTCOMES.iter().enumerate() {
            let n = c.connections[r][o];
            if all || n > 0 {
                out.push((
                    with(
                        base.clone(),
                        &[("role", role.as_str()), ("outcome", outcome.as_str())],
                    ),
                    n,
                ));
            }
        }
    }
    out
}

fn histogram(
    enc: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    series: impl Iterator<Item = (Labels, TimeHistogram)>,
) -> std::fmt::Result {
    let mut m = enc.encode_descriptor(name, help, Some(&Unit::Seconds), MetricType::Histogram)?;
    for (labels, h) in series {
        seconds_histogram(
            &mut m,
            &labels,
            &TIME_BOUNDS_S,
            &h.buckets,
            h.above,
            h.sum_ns,
            h.count,
        )?;
    }
    Ok(())
}

/// The TCP families if [`Published::tcp_connections`], and the loss
/// counters always.
pub(crate) fn encode(enc: &mut DescriptorEncoder, p: &Published) -> std::fmt::Result {
    if p.tcp_connections {
        connections(enc, p)?;
    }
    losses(enc, p)
}

fn connections(enc: &mut DescriptorEncoder, p: &Published) -> std::fmt::Result {
    // Identities that closed a connection, and `other` always.
    let closing = || p.identities_with(|t| !t.tcp.is_zero());
    counter(
        enc,
        "netoproc_tcp_connections",
        "TCP connections closed, per identity, by role (`client`: it connected; `server`: it accepted) and outcome (`success`, or the failure reason: `refused`, `reset`, `timeout`, `unreachable`, `aborted_by_exit`, `other`); each connection counted once, at its close.",
        None,
        closing().flat_map(|(id, t)| by_outcome(&identity_labels(id), &t.tcp, id.is_other())),
    )?;
    counter(
        enc,
        "netoproc_tcp_retransmitted_segments",
        "Segments retransmitted by the TCP connections closed, per identity (the kernel's per-socket count, as `ss -ti` shows it).",
        None,
        closing().map(|(id, t)| (identity_labels(id), t.tcp.retransmits)),
    )?;
    counter(
        enc,
        "netoproc_tcp_sent_segments",
        "Segments sent by the TCP connections closed, retransmissions included, per identity.",
        None,
        closing().map(|(id, t)| (identity_labels(id), t.tcp.segments_out)),
    )?;
    histogram(
        enc,
        "netoproc_tcp_handshake",
        "Handshake time of the TCP connections closed, per identity (client: SYN sent to established; server: the SYN-ACK's round trip); exact.",
        closing()
            .filter(|(id, t)| t.tcp.handshake.count > 0 || id.is_other())
            .map(|(id, t)| (identity_labels(id), t.tcp.handshake)),
    )?;
    histogram(
        enc,
        "netoproc_tcp_response",
        "Response time of the TCP connections closed, per identity (client: end of a send burst to the first byte back; server: end of a receive burst to the first byte sent), from the kernel's log-linear buckets: a time within 6.25% of a bound may be counted on its other side; the sum is exact.",
        closing()
            .filter(|(id, t)| t.tcp.response.count > 0 || id.is_other())
            .map(|(id, t)| (identity_labels(id), t.tcp.response)),
    )?;
    let r = &p.retired.tcp;
    counter(
        enc,
        "netoproc_retired_tcp_connections",
        "TCP connections closed by identities whose series ended: with the per-identity series they sum to every connection closed since start.",
        None,
        by_outcome(&Vec::new(), r, true),
    )?;
    counter(
        enc,
        "netoproc_retired_tcp_retransmitted_segments",
        "Segments retransmitted by identities whose series ended.",
        None,
        [(Vec::new(), r.retransmits)],
    )?;
    counter(
        enc,
        "netoproc_retired_tcp_sent_segments",
        "Segments sent by identities whose series ended.",
        None,
        [(Vec::new(), r.segments_out)],
    )
}

fn losses(enc: &mut DescriptorEncoder, p: &Published) -> std::fmt::Result {
    let l = &p.lifecycle;
    counter(
        enc,
        "netoproc_lifecycle_steps_dropped",
        "Connection lifecycle steps lost (kernel ring or backlog full): a lost close is a connection netoproc_tcp_connections_total does not count.",
        None,
        [(Vec::new(), l.steps_dropped)],
    )?;
    counter(
        enc,
        "netoproc_lifecycle_rows_dropped",
        "TCP connections the connection book kept no row of (more open at once than it holds); still counted at close.",
        None,
        [(Vec::new(), l.rows_dropped)],
    )?;
    counter(
        enc,
        "netoproc_lifecycle_owners_folded",
        "Processes whose closed connections were counted under no name (more processes closing connections between two reads than are kept apart).",
        None,
        [(Vec::new(), l.owners_folded)],
    )
}
