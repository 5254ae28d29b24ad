use std::sync::Arc;

use super::*;
use crate::workload::{KubeRuntime, ProcessIdentity};

fn row(pid: u32, uid: Option<u32>, tx: u64, w: Option<Workload>) -> ProcessRow {
    ProcessRow {
        pid,
        start_time_ns: Some(u64::from(pid) * 10),
        process: format!("p{pid}"),
        cmdline: String::new(),
        uid,
        cgroup_id: 0,
        sockets: 1,
        counters: Counters {
            tx_bytes: tx,
            rx_bytes: tx / 2,
            ..Default::default()
        },
        identity: w.map(|workload| {
            Arc::new(ProcessIdentity {
                cgroup: format!("/cg/{pid}"),
                netns: Some(4026531840),
                user: uid.map(|u| {
                    if u == 0 {
                        "root".into()
                    } else {
                        format!("u{u}")
                    }
                }),
                ppid: Some(1),
                container_pid: None,
                workload,
            })
        }),
    }
}

fn rows() -> Vec<ProcessRow> {
    let d = |id: char, name: &str| Workload::Docker {
        id: id.to_string().repeat(64),
        name: Some(name.into()),
    };
    let k = |pod: &str, c: char| Workload::Kubernetes {
        pod_uid: pod.into(),
        container_id: c.to_string().repeat(64),
        runtime: Some(KubeRuntime::Containerd),
        pod_name: None,
        namespace: None,
    };
    let svc = Workload::SystemdService {
        unit: "nginx.service".into(),
    };
    vec![
        row(1, Some(0), 100, Some(d('a', "web"))),
        row(2, Some(0), 30, Some(d('a', "web"))),
        row(3, Some(1000), 7, Some(d('b', "db"))),
        row(4, Some(33), 11, Some(svc.clone())),
        // A restarted service: another process, the same unit.
        row(5, Some(33), 13, Some(svc)),
        row(
            6,
            Some(0),
            17,
            Some(k("11111111-2222-3333-4444-555555555555", 'c')),
        ),
        row(
            7,
            Some(0),
            19,
            Some(k("11111111-2222-3333-4444-555555555555", 'd')),
        ),
        row(8, Some(1000), 23, Some(Workload::Host)),
        row(9, None, 29, None),
    ]
}

#[test]
fn every_grouping_sums_exactly_to_its_rows() {
    let rows = rows();
    let mut all = Counters::default();
    for r in &rows {
        all.add(&r.counters);
    }
    for by in GroupBy::ALL {
        let groups = group(&rows, by);
        let mut sum = Counters::default();
        let mut members = 0;
        for g in &groups {
            sum.add(&g.counters);
            members += g.processes;
        }
        assert_eq!(sum, all, "{by:?}");
        assert_eq!(members, rows.len() as u64, "{by:?}");
    }
}

#[test]
fn groups_are_keyed_on_what_survives_restarts() {
    let rows = rows();
    let find = |by, key: &str| {
        group(&rows, by)
            .into_iter()
            .find(|g| g.key == key)
            .unwrap_or_else(|| panic!("{by:?} {key}"))
    };
    let web = find(GroupBy::Container, &"a".repeat(64));
    assert_eq!(
        (web.name.as_str(), web.processes, web.counters.tx_bytes),
        ("docker:web", 2, 130)
    );
    let host = find(GroupBy::Container, HOST_GROUP);
    assert_eq!(host.processes, 3, "the services and the host process");
    let svc = find(GroupBy::Service, "nginx.service");
    assert_eq!((svc.processes, svc.counters.tx_bytes), (2, 24));
    let pod = find(GroupBy::Pod, "11111111-2222-3333-4444-555555555555");
    assert_eq!(pod.name, "pod:11111111-2222-3333-4444-555555555555");
    assert_eq!((pod.processes, pod.counters.tx_bytes), (2, 36));
    let root = find(GroupBy::User, "0");
    assert_eq!((root.name.as_str(), root.processes), ("root", 4));
    assert_eq!(find(GroupBy::User, UNKNOWN_GROUP).processes, 1);
    assert_eq!(find(GroupBy::Cgroup, "/cg/4").processes, 1);
    assert_eq!(find(GroupBy::Cgroup, UNKNOWN_GROUP).processes, 1);
    assert_eq!(group(&rows, GroupBy::Process).len(), rows.len());
    // Largest first.
    assert_eq!(group(&rows, GroupBy::Container)[0].name, "docker:web");
}

#[test]
fn selections_keep_what_they_name() {
    let mut report = Report {
        processes: rows(),
        connections: Vec::new(),
        total: Counters::default(),
    };
    let pids = |s: &Selection| -> Vec<u32> {
        rows()
            .iter()
            .filter(|r| s.keeps(r))
            .map(|r| r.pid)
            .collect()
    };
    let sel = |f: fn(&mut Selection)| {
        let mut s = Selection::default();
        f(&mut s);
        s
    };
    assert_eq!(pids(&Selection::default()).len(), 9);
    assert_eq!(pids(&sel(|s| s.containers = vec!["web".into()])), [1, 2]);
    assert_eq!(pids(&sel(|s| s.containers = vec!["bbbb".into()])), [3]);
    assert_eq!(
        pids(&sel(|s| s.containers = vec!["bb".into()])),
        [] as [u32; 0],
        "too short a prefix"
    );
    assert_eq!(pids(&sel(|s| s.services = vec!["nginx".into()])), [4, 5]);
    assert_eq!(
        pids(&sel(|s| s.services = vec!["nginx.service".into()])),
        [4, 5]
    );
    assert_eq!(pids(&sel(|s| s.pids = vec![8, 9])), [8, 9]);
    assert_eq!(pids(&sel(|s| s.users = vec!["u1000".into()])), [3, 8]);
    assert_eq!(pids(&sel(|s| s.users = vec!["33".into()])), [4, 5]);
    let both = sel(|s| {
        s.users = vec!["0".into()];
        s.containers = vec!["web".into(), "db".into()];
    });
    assert_eq!(pids(&both), [1, 2]);
    both.apply(&mut report);
    assert_eq!(report.processes.len(), 2);
    assert_eq!(report.total.tx_bytes, 130);
}

#[test]
fn group_names_cycle_and_parse() {
    let mut g = GroupBy::Process;
    for _ in 0..GroupBy::ALL.len() {
        assert_eq!(GroupBy::parse(g.name()), Some(g));
        g = g.next();
    }
    assert_eq!(g, GroupBy::Process);
    assert_eq!(GroupBy::parse("POD"), Some(GroupBy::Pod));
    assert_eq!(GroupBy::parse("namespace"), None);
}
