//! Building the [`DnsReport`] from the observatory's state: a row per
//! query (ended and pending, oldest first), per process and per resolver
//! (most queries first, pending ones added in), owners still unknown
//! looked up once more.

use std::collections::HashMap;
use std::net::SocketAddr;

use netoproc_core::SocketCookie;

use super::{Observatory, Outcome};
use crate::owner::{OwnerLookup, ProcessRef};
use crate::pending::Query;
use crate::report::{
    DnsProcessRow, DnsReport, DnsStats, Failures, QueryRow, QueryStatus, ResolverRow,
};

impl Observatory {
    /// Everything seen so far; owners still unknown are looked up once more.
    pub fn report(&self, owners: &dyn OwnerLookup) -> DnsReport {
        let named = |cookie: SocketCookie, known: Option<&ProcessRef>, pid: Option<u32>| {
            let mut o = known
                .cloned()
                .or_else(|| self.owners.get(&cookie).cloned())
                .or_else(|| owners.owner(cookie, pid));
            if let Some(o) = o.as_mut().filter(|o| o.comm.is_empty()) {
                o.comm = owners
                    .owner(cookie, Some(o.pid))
                    .map(|r| r.comm)
                    .unwrap_or_default();
            }
            o.map_or((0, String::new()), |o| (o.pid, o.comm))
        };
        let mut queries: Vec<QueryRow> = Vec::with_capacity(self.ended.len() + self.pending.len());
        for e in &self.ended {
            let (pid, process) = named(e.query.key.cookie, e.owner.as_ref(), e.query.pid);
            queries.push(row(&e.query, pid, process, Some(&e.outcome)));
        }
        let mut processes: HashMap<u32, DnsProcessRow> = self
            .processes
            .iter()
            .map(|(&pid, p)| {
                let row = DnsProcessRow {
                    pid,
                    process: p.comm.clone(),
                    queries: p.queries,
                    answered: p.answered,
                    pending: 0,
                    names: p.names(),
                    failures: p.failures,
                    dot_connections: p.dot_connections(),
                    doh_connections: p.doh_connections(),
                };
                (pid, row)
            })
            .collect();
        let mut resolvers: HashMap<SocketAddr, ResolverRow> = self
            .resolvers
            .iter()
            .map(|(&resolver, r)| {
                let row = ResolverRow {
                    resolver,
                    queries: r.queries,
                    answered: r.answered,
                    pending: 0,
                    failures: r.failures,
                    failure_rate: r.failure_rate(),
                    p50_ms: r.latency_ms(0.5),
                    p99_ms: r.latency_ms(0.99),
                };
                (resolver, row)
            })
            .collect();
        for q in self.pending.iter() {
            let (pid, process) = named(q.key.cookie, None, q.pid);
            processes
                .entry(pid)
                .or_insert_with(|| empty_process(pid))
                .pending += 1;
            let resolver = if resolvers.contains_key(&q.key.resolver)
                || resolvers.len() < super::MAX_RESOLVERS
            {
                q.key.resolver
            } else {
                super::OVERFLOW_RESOLVER
            };
            resolvers
                .entry(resolver)
                .or_insert_with(|| empty_resolver(resolver))
                .pending += 1;
            queries.push(row(q, pid, process, None));
        }
        queries.sort_by_key(|r| r.sent_ns);
        // A process first seen without its name takes the one its queries show.
        for q in &queries {
            if let Some(p) = processes.get_mut(&q.pid).filter(|p| p.process.is_empty()) {
                p.process.clone_from(&q.process);
            }
        }

        let mut processes: Vec<DnsProcessRow> = processes.into_values().collect();
        processes
            .sort_by(|a, b| (b.queries + b.pending, a.pid).cmp(&(a.queries + a.pending, b.pid)));
        let mut resolvers: Vec<ResolverRow> = resolvers.into_values().collect();
        resolvers.sort_by(|a, b| {
            (b.queries + b.pending, a.resolver).cmp(&(a.queries + a.pending, b.resolver))
        });

        let tcp = self.tcp.losses();
        DnsReport {
            queries,
            resolvers,
            processes,
            stats: DnsStats {
                tcp_desyncs: tcp.desyncs,
                tcp_retransmits: tcp.retransmits,
                tcp_streams_evicted: tcp.evicted,
                names_cached: self.names.len() as u64,
                names_evicted: self.names.evicted(),
                pending_evicted: self.pending.evicted,
                ..self.stats
            },
        }
    }
}

fn row(q: &Query, pid: u32, process: String, outcome: Option<&Outcome>) -> QueryRow {
    let mut r = QueryRow {
        pid,
        process,
        name: q.name.clone(),
        qtype: q.qtype.to_string(),
        rcode: None,
        status: QueryStatus::Pending,
        answers: Vec::new(),
        latency_ms: None,
        resolver: q.key.resolver,
        transport: q.key.transport,
        id: q.key.id,
        truncated: false,
        retries: q.retries,
        sent_ns: q.sent_ns,
    };
    match outcome {
        None => {}
        Some(Outcome::Timeout) => r.status = QueryStatus::Timeout,
        Some(Outcome::Answered {
            rcode,
            latency_ns,
            answers,
            truncated,
        }) => {
            r.status = QueryStatus::Answered;
            r.rcode = Some(rcode.to_string());
            r.answers.clone_from(answers);
            r.latency_ms = Some((latency_ns / 1000) as f64 / 1000.0);
            r.truncated = *truncated;
        }
    }
    r
}

fn empty_process(pid: u32) -> DnsProcessRow {
    DnsProcessRow {
        pid,
        process: String::new(),
        queries: 0,
        answered: 0,
        pending: 0,
        names: 0,
        failures: Failures::default(),
        dot_connections: 0,
        doh_connections: 0,
    }
}

fn empty_resolver(resolver: SocketAddr) -> ResolverRow {
    ResolverRow {
        resolver,
        queries: 0,
        answered: 0,
        pending: 0,
        failures: Failures::default(),
        failure_rate: 0.0,
        p50_ms: None,
        p99_ms: None,
    }
}
