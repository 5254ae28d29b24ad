//! `--view dns` in the text formats: every query (who asked which name of
//! which resolver, what came back, how fast), then one row per resolver
//! (queries, failures, latency percentiles), then one per process (queries,
//! distinct names, failures by kind, encrypted-DNS connections).
//!
//! TSV: the usual `#` comment lines, then the three tables, each under its
//! header line and separated by a blank line. A value that does not exist
//! (the rcode or latency of a query without response, the percentiles of a
//! resolver that never answered) is `*`; a query's answers are joined by
//! `,` (TXT answers may themselves hold commas). Pretty: the same tables in
//! human units, then what could not be used.

use std::io::{self, Write};

use netoproc_core::escape::{for_terminal, reversible};
use netoproc_dns::{DnsReport, DnsStats, Failures, QueryRow, QueryStatus};

use crate::pretty::{write_footer, write_title, MAX_WIDTH};
use crate::table::{Align, Table};
use crate::tsv::write_comments;
use crate::Snapshot;

const FAILURE_COLUMNS: &str = "nxdomain\tservfail\trefused\ttimeout\tother";

pub(crate) fn write_tsv(out: &mut dyn Write, snap: &Snapshot) -> io::Result<()> {
    write_comments(out, snap)?;
    let empty = DnsReport::default();
    let dns = snap.dns.unwrap_or(&empty);
    writeln!(
        out,
        "pid\tprocess\tname\ttype\trcode\tstatus\tlatency_ms\tresolver\ttransport\tid\tanswers"
    )?;
    for q in &dns.queries {
        writeln!(
            out,
            "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}",
            q.pid,
            reversible(&q.process),
            reversible(&q.name),
            reversible(&q.qtype),
            q.rcode.as_deref().unwrap_or("*"),
            q.status.as_str(),
            opt(q.latency_ms),
            q.resolver,
            q.transport.as_str(),
            q.id,
            reversible(&q.answers.join(",")),
        )?;
    }
    writeln!(out)?;
    writeln!(
        out,
        "resolver\tqueries\tanswered\tpending\t{FAILURE_COLUMNS}\tfailure_rate\tp50_ms\tp99_ms"
    )?;
    for r in &dns.resolvers {
        writeln!(
            out,
            "{}\t{}\t{}\t{}\t{}\t{:.4}\t{}\t{}",
            r.resolver,
            r.queries,
            r.answered,
            r.pending,
            Fields(&r.failures),
            r.failure_rate,
            opt(r.p50_ms),
            opt(r.p99_ms),
        )?;
    }
    writeln!(out)?;
    writeln!(
        out,
        "pid\tprocess\tqueries\tanswered\tpending\tnames\t{FAILURE_COLUMNS}\tdot_connections\tdoh_connections"
    )?;
    for p in &dns.processes {
        writeln!(
            out,
            "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}",
            p.pid,
            reversible(&p.process),
            p.queries,
            p.answered,
            p.pending,
            p.names,
            Fields(&p.failures),
            p.dot_connections,
            p.doh_connections,
        )?;
    }
    Ok(())
}

fn opt(v: Option<f64>) -> String {
    v.map_or_else(|| "*".to_string(), |v| format!("{v:.3}"))
}

/// The five failure counts, tab-separated, in [`FAILURE_COLUMNS`] order.
struct Fields<'a>(&'a Failures);

impl std::fmt::Display for Fields<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let x = self.0;
        write!(
            f,
            "{}\t{}\t{}\t{}\t{}",
            x.nxdomain, x.servfail, x.refused, x.timeout, x.other
        )
    }
}

pub(crate) fn write_pretty(out: &mut dyn Write, snap: &Snapshot) -> io::Result<()> {
    write_title(out, snap.meta)?;
    writeln!(out)?;
    let Some(dns) = snap
        .dns
        .filter(|d| !d.queries.is_empty() || !d.processes.is_empty())
    else {
        writeln!(out, "no DNS query seen in {:.1} s", snap.meta.duration_s)?;
        if let Some(d) = snap.dns {
            write_dns_stats(out, &d.stats)?;
        }
        writeln!(out)?;
        return write_footer(out, snap.meta);
    };
    query_table(&dns.queries).write(out, MAX_WIDTH)?;
    writeln!(out)?;
    resolver_table(dns).write(out, MAX_WIDTH)?;
    writeln!(out)?;
    process_table(dns).write(out, MAX_WIDTH)?;
    writeln!(out)?;
    write_dns_stats(out, &dns.stats)?;
    write_footer(out, snap.meta)
}

fn query_table(queries: &[QueryRow]) -> Table {
    use Align::{Left, Right};
    let mut t = Table::new(&[
        ("PID", Right),
        ("PROCESS", Left),
        ("NAME", Left),
        ("TYPE", Left),
        ("RCODE", Left),
        ("LATENCY", Right),
        ("RESOLVER", Left),
        ("PROTO", Left),
        ("ANSWERS", Left),
    ]);
    for q in queries {
        let rcode = match q.status {
            QueryStatus::Answered => q.rcode.clone().unwrap_or_default(),
            other => other.as_str().to_string(),
        };
        t.push(vec![
            q.pid.to_string(),
            for_terminal(&q.process).into_owned(),
            for_terminal(&q.name).into_owned(),
            for_terminal(&q.qtype).into_owned(),
            rcode,
            q.latency_ms.map_or_else(|| "-".into(), ms),
            q.resolver.to_string(),
            q.transport.as_str().to_string(),
            for_terminal(&q.answers.join(", ")).into_owned(),
        ]);
    }
    t
}

fn resolver_table(dns: &DnsReport) -> Table {
    use Align::{Left, Right};
    let mut t = Table::new(&[
        ("RESOLVER", Left),
        ("QUERIES", Right),
        ("PENDING", Right),
        ("FAILED", Right),
        ("P50", Right),
        ("P99", Right),
        ("NXDOMAIN", Right),
        ("SERVFAIL", Right),
        ("REFUSED", Right),
        ("TIMEOUT", Right),
    ]);
    for r in &dns.resolvers {
        let f = &r.failures;
        t.push(vec![
            r.resolver.to_string(),
            r.queries.to_string(),
            r.pending.to_string(),
            format!("{:.1}%", r.failure_rate * 100.0),
            r.p50_ms.map_or_else(|| "-".into(), ms),
            r.p99_ms.map_or_else(|| "-".into(), ms),
            f.nxdomain.to_string(),
            f.servfail.to_string(),
            f.refused.to_string(),
            f.timeout.to_string(),
        ]);
    }
    t
}

fn process_table(dns: &DnsReport) -> Table {
    use Align::{Left, Right};
    let mut t = Table::new(&[
        ("PID", Right),
        ("PROCESS", Left),
        ("QUERIES", Right),
        ("NAMES", Right),
        ("NXDOMAIN", Right),
        ("SERVFAIL", Right),
        ("REFUSED", Right),
        ("TIMEOUT", Right),
        ("ENCRYPTED", Left),
    ]);
    for p in &dns.processes {
        let f = &p.failures;
        let encrypted = match (p.dot_connections, p.doh_connections) {
            (0, 0) => "-".to_string(),
            (dot, 0) => format!("DoT ×{dot}"),
            (0, doh) => format!("DoH ×{doh}"),
            (dot, doh) => format!("DoT ×{dot}, DoH ×{doh}"),
        };
        t.push(vec![
            p.pid.to_string(),
            for_terminal(&p.process).into_owned(),
            (p.queries + p.pending).to_string(),
            p.names.to_string(),
            f.nxdomain.to_string(),
            f.servfail.to_string(),
            f.refused.to_string(),
            f.timeout.to_string(),
            encrypted,
        ]);
    }
    t
}

fn ms(v: f64) -> String {
    if v < 10.0 {
        format!("{v:.2} ms")
    } else {
        format!("{v:.0} ms")
    }
}

fn write_dns_stats(out: &mut dyn Write, s: &DnsStats) -> io::Result<()> {
    let fields = [
        ("malformed", s.malformed),
        ("cut", s.cut),
        ("tcp_desyncs", s.tcp_desyncs),
        ("tcp_retransmits", s.tcp_retransmits),
        ("tcp_streams_evicted", s.tcp_streams_evicted),
        ("unmatched_responses", s.unmatched_responses),
        ("late_responses", s.late_responses),
        ("queries_evicted", s.queries_evicted),
        ("pending_evicted", s.pending_evicted),
        ("names_evicted", s.names_evicted),
        ("names_not_counted", s.names_not_counted),
        ("resolvers_overflowed", s.resolvers_overflowed),
        ("processes_overflowed", s.processes_overflowed),
    ];
    let shown: Vec<String> = fields
        .iter()
        .filter(|(_, v)| *v != 0)
        .map(|(n, v)| format!("{n}={v}"))
        .collect();
    write!(out, "dns: {} packets, {} messages", s.packets, s.messages)?;
    if !shown.is_empty() {
        write!(out, "; {}", shown.join(", "))?;
    }
    writeln!(out)
}
