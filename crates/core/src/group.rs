//! Traffic by who it was for: process rows summed per container, pod,
//! systemd service, user or cgroup ([`GroupBy`], [`group`]), and the rows
//! a `--container`/`--service`/`--pid`/`--user` selection keeps
//! ([`Selection`]). A group's counters are exactly the sum of its member
//! rows; every row lands in exactly one group (processes outside any
//! container in `(host)`, rows never identified in `(unknown)`), so the
//! groups add up to the rows they were made from.
//!
//! Groups are keyed on what stays when things restart: a service on its
//! unit name (not its cgroup id), a container on its id, a pod on its UID,
//! a user on the uid.

use std::collections::HashMap;

use serde::Serialize;

use crate::model::Counters;
use crate::report::{ProcessRow, Report};
use crate::workload::{ProcessIdentity, Workload};

/// What process rows are summed by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum GroupBy {
    /// No grouping: one row per process.
    #[default]
    Process,
    /// By container id (LXC by name); processes outside one in `(host)`.
    Container,
    /// By Kubernetes pod UID; processes outside a pod in `(host)`.
    Pod,
    /// By systemd unit name (login sessions and containers as themselves);
    /// the rest in `(host)`.
    Service,
    /// By uid; rows whose uid could not be read in `(unknown)`.
    User,
    /// By cgroup v2 path.
    Cgroup,
}

impl GroupBy {
    /// Every grouping, in the order [`GroupBy::next`] cycles through.
    pub const ALL: [GroupBy; 6] = [
        GroupBy::Process,
        GroupBy::Container,
        GroupBy::Pod,
        GroupBy::Service,
        GroupBy::User,
        GroupBy::Cgroup,
    ];

    /// The lowercase name, as `--group-by` and the API take it.
    pub fn name(self) -> &'static str {
        match self {
            GroupBy::Process => "process",
            GroupBy::Container => "container",
            GroupBy::Pod => "pod",
            GroupBy::Service => "service",
            GroupBy::User => "user",
            GroupBy::Cgroup => "cgroup",
        }
    }

    /// The next grouping, for a key that cycles through them.
    pub fn next(self) -> GroupBy {
        let i = GroupBy::ALL.iter().position(|&g| g == self).unwrap_or(0);
        GroupBy::ALL[(i + 1) % GroupBy::ALL.len()]
    }

    /// The grouping named `s` (any case); `None` for an unknown name.
    pub fn parse(s: &str) -> Option<GroupBy> {
        GroupBy::ALL
            .into_iter()
            .find(|g| g.name().eq_ignore_ascii_case(s))
    }
}

/// The group of rows never identified (they exited before `/proc` was
/// read, or sum several processes).
pub const UNKNOWN_GROUP: &str = "(unknown)";
/// The group of identified processes outside any container, pod, service.
pub const HOST_GROUP: &str = "(host)";

/// One group's traffic.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GroupRow {
    /// What identifies the group: a container id, pod UID, unit name, uid,
    /// cgroup path, or [`UNKNOWN_GROUP`] / [`HOST_GROUP`]. Unescaped.
    pub key: String,
    /// How people call it: the container's or pod's name when known, the
    /// user's name; else the key.
    pub name: String,
    /// Process rows summed.
    pub processes: u64,
    /// Sockets of those rows, summed.
    pub sockets: u64,
    /// Counters of those rows, summed.
    #[serde(flatten)]
    pub counters: Counters,
}

/// The group of one row: `(key, name)`.
pub fn group_of(row: &ProcessRow, by: GroupBy) -> (String, String) {
    let member = Member {
        pid: row.pid,
        start_time_ns: row.start_time_ns.unwrap_or(0),
        process: &row.process,
        uid: row.uid,
        identity: row.identity.as_deref(),
    };
    group_key(&member, by)
}

/// What grouping needs of a process, from whichever view holds it.
#[derive(Debug, Clone, Copy)]
pub struct Member<'a> {
    /// Process id.
    pub pid: u32,
    /// Start time, ns since boot (0: not known); with `pid`, the key of a
    /// per-process group.
    pub start_time_ns: u64,
    /// Task name, the name of a per-process group.
    pub process: &'a str,
    /// `None` when it could not be read.
    pub uid: Option<u32>,
    /// `None` when never read from `/proc`: the row lands in `(unknown)`.
    pub identity: Option<&'a ProcessIdentity>,
}

/// The group of one process: `(key, name)`.
pub fn group_key(m: &Member, by: GroupBy) -> (String, String) {
    let unknown = || (UNKNOWN_GROUP.to_string(), UNKNOWN_GROUP.to_string());
    let host = || (HOST_GROUP.to_string(), HOST_GROUP.to_string());
    if by == GroupBy::Process {
        let key = format!("{}@{}", m.pid, m.start_time_ns);
        return (key, m.process.to_string());
    }
    if by == GroupBy::User {
        return match (m.uid, m.identity.and_then(|i| i.user.clone())) {
            (Some(uid), name) => (uid.to_string(), name.unwrap_or_else(|| uid.to_string())),
            (None, _) => unknown(),
        };
    }
    let Some(id) = m.identity else {
        return unknown();
    };
    let w = &id.workload;
    match by {
        GroupBy::Container => match w.container_id() {
            Some(cid) => (cid.to_string(), w.label()),
            None => match w {
                Workload::Lxc { name } => (format!("lxc:{name}"), w.label()),
                _ => host(),
            },
        },
        GroupBy::Pod => match (w, w.pod_label()) {
            (Workload::Kubernetes { pod_uid, .. }, Some(label)) => (pod_uid.clone(), label),
            _ => host(),
        },
        GroupBy::Service => match w {
            Workload::SystemdService { unit } => (unit.clone(), unit.clone()),
            Workload::UserSession { .. } => (w.label(), w.label()),
            _ if w.is_container() => (w.label(), w.label()),
            _ => host(),
        },
        GroupBy::Cgroup if id.cgroup.is_empty() => unknown(),
        GroupBy::Cgroup => (id.cgroup.clone(), id.cgroup.clone()),
        GroupBy::Process | GroupBy::User => unreachable!("handled above"),
    }
}

/// The rows summed per group, largest first (then by key).
pub fn group(rows: &[ProcessRow], by: GroupBy) -> Vec<GroupRow> {
    let mut groups: HashMap<String, GroupRow> = HashMap::new();
    for row in rows {
        let (key, name) = group_of(row, by);
        let g = groups.entry(key.clone()).or_insert_with(|| GroupRow {
            key,
            name,
            processes: 0,
            sockets: 0,
            counters: Counters::default(),
        });
        g.processes += 1;
        g.sockets += row.sockets;
        g.counters.add(&row.counters);
    }
    let mut out: Vec<GroupRow> = groups.into_values().collect();
    let volume = |c: &Counters| c.tx_bytes + c.rx_bytes;
    out.sort_by(|a, b| {
        volume(&b.counters)
            .cmp(&volume(&a.counters))
            .then_with(|| a.key.cmp(&b.key))
    });
    out
}

/// Which processes to show: each list given keeps the rows matching one of
/// its entries; rows must pass every list given. Empty: everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selection {
    /// Container ids (a prefix of at least 4 hex digits) or names.
    pub containers: Vec<String>,
    /// Unit names, with or without `.service`.
    pub services: Vec<String>,
    /// Process ids.
    pub pids: Vec<u32>,
    /// User names or uids.
    pub users: Vec<String>,
}

impl Selection {
    /// No list given: every row is kept.
    pub fn is_empty(&self) -> bool {
        self.containers.is_empty()
            && self.services.is_empty()
            && self.pids.is_empty()
            && self.users.is_empty()
    }

    /// Whether `row` is selected.
    pub fn keeps(&self, row: &ProcessRow) -> bool {
        let w = row.identity.as_ref().map(|i| &i.workload);
        let container = |want: &String| {
            let Some(w) = w else { return false };
            let by_id =
                want.len() >= 4 && w.container_id().is_some_and(|id| id.starts_with(&**want));
            by_id || w.container_name() == Some(want.as_str()) || w.label() == *want
        };
        let service = |want: &String| {
            w.and_then(Workload::service).is_some_and(|unit| {
                unit == want || unit.strip_suffix(".service") == Some(want.as_str())
            })
        };
        let user = |want: &String| {
            row.uid.is_some_and(|u| u.to_string() == *want)
                || row
                    .identity
                    .as_ref()
                    .and_then(|i| i.user.as_deref())
                    .is_some_and(|n| n == want)
        };
        (self.containers.is_empty() || self.containers.iter().any(container))
            && (self.services.is_empty() || self.services.iter().any(service))
            && (self.pids.is_empty() || self.pids.contains(&row.pid))
            && (self.users.is_empty() || self.users.iter().any(user))
    }

    /// `report` with only the selected processes, their connections (by
    /// pid) and their total.
    pub fn apply(&self, report: &mut Report) {
        if self.is_empty() {
            return;
        }
        report.processes.retain(|r| self.keeps(r));
        let pids: std::collections::HashSet<u32> = report.processes.iter().map(|r| r.pid).collect();
        report.connections.retain(|c| pids.contains(&c.pid));
        let mut total = Counters::default();
        for r in &report.processes {
            total.add(&r.counters);
        }
        report.total = total;
    }
}

#[cfg(test)]
#[path = "group_tests.rs"]
mod tests;
