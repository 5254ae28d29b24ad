use super::*;

fn of(fixture: &str) -> Workload {
    let path = format!("{}/testdata/cgroup/{fixture}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).expect(&path);
    parse(cgroup_path(&text).expect(fixture))
}

fn docker(id: &str) -> Workload {
    Workload::Docker {
        id: id.into(),
        name: None,
    }
}

fn kube(pod: &str, id: &str, runtime: Option<KubeRuntime>) -> Workload {
    Workload::Kubernetes {
        pod_uid: pod.into(),
        container_id: id.into(),
        runtime,
        pod_name: None,
        namespace: None,
    }
}

#[test]
fn every_runtime_from_real_paths() {
    let d1 = "4c01db0b339c2f8104fba08f6d3682da2bd8e369316bf60b7d9b3263896cf746";
    let cases = [
        ("docker-systemd.txt", docker(d1)),
        ("docker-with-systemd-inside.txt", docker(d1)),
        (
            "docker-cgroupfs.txt",
            docker("a3f95f2c8d5e0650a9bcc94f15dc3e72eec2df9d268ef50038b68ea8ddf8fff4"),
        ),
        (
            "docker-v1.txt",
            docker("1f5e2c3a7b9d3c65ea8b98e170f851a069648189b6502b5b5f7fcb32d16e871f"),
        ),
        (
            "k8s-containerd-besteffort.txt",
            kube(
                "1e597579-417e-482f-bf65-5fe170c3aebd",
                "d7dfb4a21fe1cf9eab5c8acf590e1503bbf16480df2f73bb47a41331fe204258",
                Some(KubeRuntime::Containerd),
            ),
        ),
        (
            "k8s-containerd-guaranteed.txt",
            kube(
                "5a2f7c1e-8b3d-4e6f-9a0b-1c2d3e4f5a6b",
                "0b6e3f2a9c8d7e1f4a5b6c7d8e9f0a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6e7f",
                Some(KubeRuntime::Containerd),
            ),
        ),
        (
            "k8s-crio-burstable.txt",
            kube(
                "ae7a96fb-2bdc-46b0-96e2-78e4af94847b",
                "89e8f450417bef046efee8f29b9b12888fdeb127715ab116da253c4ef242b054",
                Some(KubeRuntime::Crio),
            ),
        ),
        (
            "k8s-dockershim.txt",
            kube(
                "3c9d2e1f-0a4b-4c5d-8e6f-7a8b9c0d1e2f",
                "6f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0",
                Some(KubeRuntime::Docker),
            ),
        ),
        (
            "k8s-cgroupfs.txt",
            kube(
                "7c3f0e2a-59d1-4b8e-9a61-2f04c8e1d9b3",
                "5b8e6f1c2a94594c774d5a70c6ace0c47b85454c2101f133b117d792f215e335",
                None,
            ),
        ),
        ("k8s-crio-conmon.txt", Workload::Host),
        (
            "podman-crun.txt",
            Workload::Podman {
                id: "cf21d19260ac10d98e766808a21bb370bad1b400a2f0e828744d57cdf884916e".into(),
                name: None,
            },
        ),
        (
            "podman-rootless.txt",
            Workload::Podman {
                id: "93e4d1f949c13530534cfff6c4e0ad8a49bb70952d726cd441fbac8284134322".into(),
                name: None,
            },
        ),
        ("podman-conmon.txt", Workload::Host),
        (
            "podman-cgroupfs-hybrid.txt",
            Workload::Podman {
                id: "4b3593dd898a7ed2ccbbdc93337ea843c01cd36a7177ae355d62c15b36255f5e".into(),
                name: None,
            },
        ),
        (
            "lxc-payload.txt",
            Workload::Lxc {
                name: "web01".into(),
            },
        ),
        (
            "lxc-v1.txt",
            Workload::Lxc {
                name: "db-2".into(),
            },
        ),
        (
            "service.txt",
            Workload::SystemdService {
                unit: "systemd-resolved.service".into(),
            },
        ),
        (
            "containerd-daemon.txt",
            Workload::SystemdService {
                unit: "containerd.service".into(),
            },
        ),
        (
            "user-service.txt",
            Workload::SystemdService {
                unit: "pipewire.service".into(),
            },
        ),
        (
            "session.txt",
            Workload::UserSession {
                uid: 1000,
                session: "3".into(),
            },
        ),
        (
            "session-v1.txt",
            Workload::UserSession {
                uid: 1000,
                session: "2".into(),
            },
        ),
        ("init.txt", Workload::Host),
    ];
    for (fixture, want) in cases {
        assert_eq!(of(fixture), want, "{fixture}");
    }
}

#[test]
fn labels_and_keys() {
    let k = Workload::Kubernetes {
        pod_uid: "1e597579-417e-482f-bf65-5fe170c3aebd".into(),
        container_id: "d7dfb4a21fe1cf9eab5c8acf590e1503bbf16480df2f73bb47a41331fe204258".into(),
        runtime: Some(KubeRuntime::Containerd),
        pod_name: None,
        namespace: None,
    };
    assert_eq!(k.label(), "k8s:d7dfb4a21fe1");
    assert_eq!(
        k.pod_label().as_deref(),
        Some("pod:1e597579-417e-482f-bf65-5fe170c3aebd")
    );
    let mut named = k.clone();
    if let Workload::Kubernetes {
        pod_name,
        namespace,
        ..
    } = &mut named
    {
        *pod_name = Some("web-0".into());
        *namespace = Some("shop".into());
    }
    assert_eq!(named.label(), "k8s:shop/web-0");
    assert_eq!(named.pod_label().as_deref(), Some("shop/web-0"));
    let d = Workload::Docker {
        id: "4c01db0b339c2f8104fba08f6d3682da2bd8e369316bf60b7d9b3263896cf746".into(),
        name: Some("web".into()),
    };
    assert_eq!(d.label(), "docker:web");
    assert!(d.is_container() && d.service().is_none());
    assert_eq!(Workload::Host.label(), "");
    let json = serde_json::to_value(&named).unwrap();
    assert_eq!(json["kind"], "kubernetes");
    assert_eq!(json["runtime"], "containerd");
    // The JSON kind is the one `kind()` gives, for every variant.
    for w in [
        d,
        Workload::SystemdService {
            unit: "a.service".into(),
        },
        Workload::UserSession {
            uid: 1,
            session: "2".into(),
        },
        Workload::Lxc { name: "c".into() },
        Workload::Host,
    ] {
        assert_eq!(serde_json::to_value(&w).unwrap()["kind"], w.kind());
    }
}

#[test]
fn hostile_paths_name_nothing_they_should_not() {
    let long = format!("0::/system.slice/{}.service", "a".repeat(5000));
    let id = "4c01db0b339c2f8104fba08f6d3682da2bd8e369316bf60b7d9b3263896cf746";
    for text in [
        "",
        "0::",
        "0::/",
        "garbage",
        "::::::",
        "0::/system.slice/.service",
        "0::/system.slice/...service",
        "0::/system.slice/a b.service",
        "0::/system.slice/x\u{1b}]52;c;.service",
        "0::/docker/4c01db0b",
        "0::/system.slice/docker-XYZ.scope",
        "0::/system.slice/docker-\u{e9}\u{e9}.scope",
        &format!("0::/system.slice/docker-{}.scope", id.to_uppercase()),
        &format!("0::/system.slice/docker-{id}0.scope"),
        "0::/lxc.payload.",
        "0::/lxc.payload...",
        "0::/lxc/..",
        "0::/user.slice/user-x.slice/session-3.scope",
        "0::/kubepods.slice/kubepods-podnot-a-uuid.slice/cri-containerd-4c01db0b339c2f8104fba08f6d3682da2bd8e369316bf60b7d9b3263896cf746.scope",
        &long,
    ] {
        let w = cgroup_path(text).map(parse).unwrap_or(Workload::Host);
        assert_eq!(w, Workload::Host, "{text:?}");
    }
    // A newline cannot smuggle a second path in: only the v2 line counts.
    let two = format!("0::/init.scope\n0::/system.slice/docker-{id}.scope");
    assert_eq!(cgroup_path(&two), Some("/init.scope"));
    // Long paths are cut, at a character boundary.
    let p = bounded_path(&"é".repeat(MAX_CGROUP_PATH));
    assert!(p.len() <= MAX_CGROUP_PATH + '…'.len_utf8() && p.ends_with('…'));
    assert_eq!(bounded_path("/a"), "/a");
}
