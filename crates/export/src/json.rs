//! The JSON format: exactly one compact object per snapshot, ended by a
//! newline — `{"meta":{..},"processes":[..],"connections":[..],"total":{..}}`,
//! plus `"dns":{"queries":[..],"resolvers":[..],"processes":[..],"stats":{..}}`
//! when DNS was captured. `connections` is always present (empty unless
//! asked for); a connection has `remote_host` when a DNS answer named its
//! remote address. Addresses are strings as Rust prints them
//! (`10.0.0.1:80`, `[fd00::1]:80`) or `null` when unknown. Counters are raw
//! integers. A process row has `identity` (`cgroup`, `netns`, `user`,
//! `ppid`, `container_pid`, `workload` tagged by `kind`) when it was read;
//! with `--group-by`, `group_by` and `groups` (each the exact sum of its
//! processes) follow.
//! With TCP lifecycle tracking, `lifecycle` holds every connection's
//! outcome and health and the per-process rollups.

use std::io::Write;
use std::net::SocketAddr;

use netoproc_core::group::{group, GroupBy, GroupRow};
use netoproc_core::model::{Counters, Family, Protocol};
use netoproc_core::report::{ConnectionRow, ProcessRow};
use netoproc_dns::DnsReport;
use serde::{Serialize, Serializer};

use crate::{ExportError, LifecycleSection, Meta, Snapshot};

#[derive(Serialize)]
struct Document<'a> {
    meta: &'a Meta,
    processes: &'a [ProcessRow],
    connections: Vec<Connection<'a>>,
    total: &'a Counters,
    #[serde(skip_serializing_if = "Option::is_none")]
    dns: Option<&'a DnsReport>,
    /// With `--group-by` other than `process`: what rows were grouped by,
    /// and the groups.
    #[serde(skip_serializing_if = "Option::is_none")]
    group_by: Option<GroupBy>,
    #[serde(skip_serializing_if = "Option::is_none")]
    groups: Option<Vec<GroupRow>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    lifecycle: Option<&'a LifecycleSection<'a>>,
}

/// A [`ConnectionRow`] with its addresses as strings, in the documented
/// key order.
#[derive(Serialize)]
struct Connection<'a> {
    protocol: Protocol,
    family: Family,
    #[serde(serialize_with = "addr_or_null")]
    local: Option<SocketAddr>,
    #[serde(serialize_with = "addr_or_null")]
    remote: Option<SocketAddr>,
    #[serde(skip_serializing_if = "Option::is_none")]
    remote_host: Option<&'a str>,
    state: &'a str,
    pid: u32,
    process: &'a str,
    cookie: u64,
    #[serde(flatten)]
    counters: &'a Counters,
}

impl<'a> Connection<'a> {
    fn new(c: &'a ConnectionRow, remote_host: Option<&'a str>) -> Self {
        Connection {
            protocol: c.protocol,
            family: c.family,
            local: c.local,
            remote: c.remote,
            remote_host,
            state: c.state,
            pid: c.pid,
            process: &c.process,
            cookie: c.cookie,
            counters: &c.counters,
        }
    }
}

fn addr_or_null<S: Serializer>(a: &Option<SocketAddr>, s: S) -> Result<S::Ok, S::Error> {
    match a {
        Some(a) => s.collect_str(a),
        None => s.serialize_none(),
    }
}

pub(crate) fn write(
    out: &mut dyn Write,
    snap: &Snapshot,
    lifecycle: Option<&LifecycleSection>,
) -> Result<(), ExportError> {
    let connections = if snap.connections {
        snap.report
            .connections
            .iter()
            .map(|c| Connection::new(c, snap.remote_host(c.remote)))
            .collect()
    } else {
        Vec::new()
    };
    let doc = Document {
        meta: snap.meta,
        processes: &snap.report.processes,
        connections,
        total: &snap.report.total,
        dns: snap.dns,
        group_by: (snap.group_by != GroupBy::Process).then_some(snap.group_by),
        groups: (snap.group_by != GroupBy::Process)
            .then(|| group(&snap.report.processes, snap.group_by)),
        lifecycle,
    };
    serde_json::to_writer(&mut *out, &doc)?;
    out.write_all(b"\n")?;
    Ok(())
}
