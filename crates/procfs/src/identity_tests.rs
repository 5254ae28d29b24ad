use std::os::unix::fs::MetadataExt;

use super::*;

fn reader() -> IdentityReader {
    let base = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/identity");
    // The fixtures belong to whoever checked them out.
    let me = fs::metadata(base.join("host/etc/passwd")).unwrap().uid();
    IdentityReader::new(
        ProcRoot::new(base.join("proc")),
        HostState::under(&base.join("host")),
    )
    .trusting_owner(me)
}

#[test]
fn reads_each_runtimes_process_with_its_names() {
    let mut r = reader();
    let web = r.read(3001, 0).expect("3001");
    assert_eq!(web.cgroup, "/system.slice/docker-4c01db0b339c2f8104fba08f6d3682da2bd8e369316bf60b7d9b3263896cf746.scope");
    assert_eq!(web.netns, Some(402653203001));
    assert_eq!(web.user.as_deref(), Some("root"));
    assert_eq!(web.ppid, Some(77));
    assert_eq!(web.container_pid, Some(1));
    assert_eq!(web.workload.label(), "docker:web");

    let api = r.read(3002, 0).expect("3002");
    assert_eq!(api.workload.label(), "podman:api");
    assert_eq!(
        (api.user.as_deref(), api.container_pid),
        (Some("alice"), Some(7))
    );

    let pod = r.read(3003, 0).expect("3003");
    assert_eq!(pod.workload.label(), "k8s:shop/web-0");
    assert_eq!(pod.workload.pod_label().as_deref(), Some("shop/web-0"));
    assert_eq!(pod.user, None, "uid 65532 is not in passwd");

    let svc = r.read(3004, 0).expect("3004");
    assert_eq!(svc.workload.service(), Some("nginx.service"));
    assert_eq!(
        (svc.user.as_deref(), svc.container_pid),
        (Some("www-data"), None)
    );
}

#[test]
fn a_symlinked_state_file_is_not_followed() {
    let mut r = reader();
    let w = r.read(3005, 0).expect("3005").workload;
    assert_eq!(
        w,
        Workload::Docker {
            id: "a3f95f2c8d5e0650a9bcc94f15dc3e72eec2df9d268ef50038b68ea8ddf8fff4".into(),
            name: None
        }
    );
}

#[test]
fn state_files_of_another_owner_are_not_trusted() {
    let base = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/identity");
    let me = fs::metadata(base.join("host/etc/passwd")).unwrap().uid();
    let mut r = IdentityReader::new(
        ProcRoot::new(base.join("proc")),
        HostState::under(&base.join("host")),
    )
    .trusting_owner(me.wrapping_add(1));
    let web = r.read(3001, 0).expect("3001");
    assert_eq!(web.workload.label(), "docker:4c01db0b339c");
    assert_eq!(web.user, None);
}

#[test]
fn a_reused_pid_is_another_process() {
    let mut r = reader();
    let start = ProcRoot::new(Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/identity/proc"))
        .start_time_ns(3001)
        .unwrap();
    assert!(r.read(3001, start).is_some());
    assert!(r.read(3001, start + 1_000_000_000).is_none());
    assert!(r.read(9999, 0).is_none());
}

#[test]
fn hostile_state_files() {
    let users = parse_passwd(
        b"root:x:0:0::/:/bin/sh\nbad\x1bname:x:5:5::/:\n\n::::\nx:y\nlong:x:99999999999:0::/:\n",
    );
    assert_eq!(users.get(&0).map(String::as_str), Some("root"));
    assert_eq!(users.len(), 1);
    assert_eq!(docker_name(br#"{"Name":"/web"}"#).as_deref(), Some("web"));
    assert_eq!(docker_name(br#"{"Name":"/w\u001beb"}"#), None);
    assert_eq!(docker_name(br#"{"Name":"/../../x"}"#), None);
    assert_eq!(docker_name(b"not json"), None);
    let storage = parse_storage(br#"[{"id":"../x","names":["evil"]},{"id":"cf21d19260ac10d98e766808a21bb370bad1b400a2f0e828744d57cdf884916e","names":["a b","ok"]}]"#);
    assert_eq!(storage.len(), 1);
    assert_eq!(storage.values().next().map(String::as_str), Some("ok"));
    assert_eq!(parse_storage(b"{}").len(), 0);
    assert_eq!(
        pod_of_bundle(br#"{"annotations":{"io.kubernetes.pod.namespace":"kube-system","io.kubernetes.pod.name":"dns-1"}}"#),
        Some(("kube-system".into(), "dns-1".into()))
    );
    assert_eq!(pod_of_bundle(br#"{"annotations":{"io.kubernetes.pod.namespace":"a\nb","io.kubernetes.pod.name":"x"}}"#), None);
    assert_eq!(netns_inode("net:[4026531840]"), Some(4026531840));
    assert_eq!(netns_inode("mnt:[1]"), None);
}

#[test]
fn reads_this_process() {
    let mut r = IdentityReader::new(ProcRoot::new("/proc"), HostState::system());
    let me = std::process::id();
    let start = ProcRoot::new("/proc").start_time_ns(me).unwrap();
    let id = r.read(me, start).expect("this process");
    assert!(id.netns.is_some());
    assert!(id.cgroup.starts_with('/') || id.cgroup.is_empty());
}
