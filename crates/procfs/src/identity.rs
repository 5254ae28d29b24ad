//! A process's [`ProcessIdentity`] read from `/proc/PID` (cgroup, network
//! namespace, parent, uid, in-container pid) and from the host's state
//! files: the user's name from `/etc/passwd`, a Docker container's name
//! from `<docker root>/containers/<id>/config.v2.json`, a Podman
//! container's from c/storage's `containers.json`, a Kubernetes pod's name
//! and namespace from the annotations in containerd's or CRI-O's bundle
//! `config.json`.
//!
//! Those files are only trusted as far as their place: each is opened
//! without following a final symlink, must be a regular file owned by root,
//! readable by netoproc's *real* user (so a capability-elevated netoproc
//! shows no name its caller could not read) and at most a few MiB, and is
//! read only that far; the ids that name
//! them are checked hex first (no `..`, no `/`), and every name taken from
//! them must look like a name ([`is_unit_name`]), else it is not used.
//! Where they live is a [`HostState`]: the system's paths in the binary,
//! fixture paths in tests.
//!
//! A read names the pid's *current* process: when its start time differs
//! from the one asked for, the pid was reused and nothing is returned, so
//! an old row never takes a new process's identity.

use std::collections::HashMap;
use std::fs;
use std::io::Read;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use netoproc_core::workload::{
    self, bounded_path, is_container_id, is_unit_name, KubeRuntime, ProcessIdentity, Workload,
};

use crate::cgroup_ids::CgroupIds;
use crate::{status_field, ProcRoot};

/// `/etc/passwd` is read up to this size.
const MAX_PASSWD: u64 = 4 << 20;
/// A container's config file is read up to this size.
const MAX_CONFIG: u64 = 4 << 20;
/// c/storage's `containers.json` (every container) up to this size.
const MAX_CONTAINERS_JSON: u64 = 16 << 20;
/// Names remembered per runtime (container ids are unbounded input).
const MAX_NAMES: usize = 4096;

/// Where the host's state files are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostState {
    /// The user database uids are named from (`/etc/passwd`).
    pub passwd: PathBuf,
    /// Docker's data root (`/var/lib/docker`).
    pub docker: PathBuf,
    /// c/storage's `containers.json` of rootful Podman and CRI-O.
    pub storage_containers: PathBuf,
    /// containerd's task bundles of the `k8s.io` namespace.
    pub containerd_k8s: PathBuf,
    /// CRI-O's per-container state (`<id>/userdata/config.json`).
    pub crio: PathBuf,
}

impl HostState {
    /// The paths every runtime uses by default.
    pub fn system() -> Self {
        HostState {
            passwd: "/etc/passwd".into(),
            docker: "/var/lib/docker".into(),
            storage_containers: "/var/lib/containers/storage/overlay-containers/containers.json"
                .into(),
            containerd_k8s: "/run/containerd/io.containerd.runtime.v2.task/k8s.io".into(),
            crio: "/run/containers/storage/overlay-containers".into(),
        }
    }

    /// Everything under `root` at the system's relative places: for tests.
    pub fn under(root: &Path) -> Self {
        let s = HostState::system();
        let re = |p: PathBuf| root.join(p.strip_prefix("/").unwrap_or(&p));
        HostState {
            passwd: re(s.passwd),
            docker: re(s.docker),
            storage_containers: re(s.storage_containers),
            containerd_k8s: re(s.containerd_k8s),
            crio: re(s.crio),
        }
    }
}

/// Reads identities, remembering the state files' contents.
#[derive(Debug)]
pub struct IdentityReader {
    proc: ProcRoot,
    host: HostState,
    /// Root must own the state files; tests relax it to their own uid.
    owner_uid: u32,
    users: Cached<HashMap<u32, String>>,
    storage: Cached<HashMap<String, String>>,
    docker_names: HashMap<String, Option<String>>,
    pods: HashMap<String, Option<(String, String)>>,
    cgroup_ids: CgroupIds,
}

#[derive(Debug, Default)]
struct Cached<T> {
    stamp: Option<(SystemTime, u64)>,
    value: T,
}

impl IdentityReader {
    /// A reader of processes under `proc`, naming them from `host`'s
    /// state files, which must be owned by root.
    pub fn new(proc: ProcRoot, host: HostState) -> Self {
        IdentityReader {
            host,
            owner_uid: 0,
            users: Cached::default(),
            storage: Cached::default(),
            docker_names: HashMap::new(),
            pods: HashMap::new(),
            cgroup_ids: CgroupIds::from_mountinfo(
                &fs::read_to_string(proc.path().join("self/mountinfo")).unwrap_or_default(),
            ),
            proc,
        }
    }

    /// Allows the cgroup id index one more walk (call once per read).
    pub fn refresh_cgroups(&mut self) {
        self.cgroup_ids.refresh();
    }

    /// What is known of a process that can no longer be read from `/proc`
    /// (it exited): its cgroup path from the kernel's cgroup id while the
    /// group exists, the workload that path names, the user of `uid`.
    pub fn read_gone(
        &mut self,
        cgroup_id: u64,
        netns: Option<u64>,
        uid: Option<u32>,
        ppid: Option<u32>,
    ) -> Option<ProcessIdentity> {
        let path = self.cgroup_ids.path(cgroup_id)?;
        let mut workload = workload::parse(&path);
        self.name(&mut workload);
        Some(ProcessIdentity {
            cgroup: bounded_path(&path),
            netns,
            user: uid.and_then(|u| self.user_name(u)),
            ppid,
            container_pid: None,
            workload,
        })
    }

    /// Accepts state files owned by `uid` rather than root (fixtures).
    pub fn trusting_owner(mut self, uid: u32) -> Self {
        self.owner_uid = uid;
        self
    }

    /// The identity of the process `pid` names now, if it started at
    /// `start_time_ns` (0: any); `None` when it is gone or is another.
    pub fn read(&mut self, pid: u32, start_time_ns: u64) -> Option<ProcessIdentity> {
        let dir = self.proc.path().join(pid.to_string());
        let status = fs::read_to_string(dir.join("status")).ok()?;
        let cgroup_file = read_bounded(&dir.join("cgroup"), 64 << 10, None).unwrap_or_default();
        let netns = fs::read_link(dir.join("ns/net"))
            .ok()
            .and_then(|l| netns_inode(&l.to_string_lossy()));
        if start_time_ns != 0 && self.proc.start_time_ns(pid) != Some(start_time_ns) {
            return None;
        }
        let cgroup_file = String::from_utf8_lossy(&cgroup_file);
        let path = workload::cgroup_path(&cgroup_file).unwrap_or("");
        let mut workload = workload::parse(path);
        self.name(&mut workload);
        let first = |name: &str| status_field(&status, name)?.split_whitespace().next();
        let uid = first("Uid").and_then(|u| u.parse::<u32>().ok());
        let nspid = status_field(&status, "NSpid")
            .and_then(|v| v.split_whitespace().last()?.parse::<u32>().ok())
            .filter(|&p| p != pid);
        Some(ProcessIdentity {
            cgroup: bounded_path(path),
            netns,
            user: uid.and_then(|u| self.user_name(u)),
            ppid: first("PPid").and_then(|p| p.parse().ok()),
            container_pid: nspid,
            workload,
        })
    }

    /// The name of `uid` in the host's passwd file.
    pub fn user_name(&mut self, uid: u32) -> Option<String> {
        let path = self.host.passwd.clone();
        // /etc/passwd is world-readable and root's; read it as any other.
        refresh(
            &mut self.users,
            &path,
            MAX_PASSWD,
            self.owner_uid,
            parse_passwd,
        );
        self.users.value.get(&uid).cloned()
    }

    /// Fills in the names the cgroup path does not hold.
    fn name(&mut self, w: &mut Workload) {
        match w {
            Workload::Docker { id, name } => {
                let file = self
                    .host
                    .docker
                    .join("containers")
                    .join(&*id)
                    .join("config.v2.json");
                let owner = self.owner_uid;
                *name = remember(&mut self.docker_names, id, || {
                    let bytes = read_bounded(&file, MAX_CONFIG, Some(owner))?;
                    docker_name(&bytes)
                });
            }
            Workload::Podman { id, name } => {
                let path = self.host.storage_containers.clone();
                refresh(
                    &mut self.storage,
                    &path,
                    MAX_CONTAINERS_JSON,
                    self.owner_uid,
                    parse_storage,
                );
                *name = self.storage.value.get(&*id).cloned();
            }
            Workload::Kubernetes {
                container_id,
                runtime,
                pod_name,
                namespace,
                ..
            } => {
                let file = match runtime {
                    Some(KubeRuntime::Crio) => self
                        .host
                        .crio
                        .join(&*container_id)
                        .join("userdata/config.json"),
                    _ => self
                        .host
                        .containerd_k8s
                        .join(&*container_id)
                        .join("config.json"),
                };
                let owner = self.owner_uid;
                if let Some((ns, pod)) = remember(&mut self.pods, container_id, || {
                    pod_of_bundle(&read_bounded(&file, MAX_CONFIG, Some(owner))?)
                }) {
                    *namespace = Some(ns);
                    *pod_name = Some(pod);
                }
            }
            _ => {}
        }
    }
}

/// `value` for `key`, computed once (at most [`MAX_NAMES`] kept).
fn remember<T: Clone>(
    map: &mut HashMap<String, Option<T>>,
    key: &str,
    f: impl FnOnce() -> Option<T>,
) -> Option<T> {
    if let Some(v) = map.get(key) {
        return v.clone();
    }
    let v = f();
    if map.len() >= MAX_NAMES {
        map.clear();
    }
    map.insert(key.to_string(), v.clone());
    v
}

/// Re-reads `path` into `c` when its modification time or size changed.
fn refresh<T: Default>(
    c: &mut Cached<T>,
    path: &Path,
    max: u64,
    owner: u32,
    parse: fn(&[u8]) -> T,
) {
    let stamp = fs::metadata(path)
        .ok()
        .and_then(|m| Some((m.modified().ok()?, m.len())));
    if stamp == c.stamp && stamp.is_some() {
        return;
    }
    c.stamp = stamp;
    c.value = read_bounded(path, max, Some(owner))
        .map(|b| parse(&b))
        .unwrap_or_default();
}

/// At most `max` bytes of the regular file `path`, not through a final
/// symlink, and (with `owner`) only when that uid owns it and the *real*
/// user may read it (`access(2)` checks the real ids): netoproc started
/// with file capabilities shows no container name its caller could not
/// read for themselves.
fn read_bounded(path: &Path, max: u64, owner: Option<u32>) -> Option<Vec<u8>> {
    if owner.is_some() && rustix::fs::access(path, rustix::fs::Access::READ_OK).is_err() {
        return None;
    }
    let f = fs::OpenOptions::new()
        .read(true)
        .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
        .open(path)
        .ok()?;
    let m = f.metadata().ok()?;
    if !m.is_file() || owner.is_some_and(|o| m.uid() != o) || m.len() > max {
        return None;
    }
    let mut out = Vec::new();
    f.take(max).read_to_end(&mut out).ok()?;
    Some(out)
}

/// The inode of a `net:[4026531840]` link.
fn netns_inode(link: &str) -> Option<u64> {
    link.strip_prefix("net:[")?.strip_suffix(']')?.parse().ok()
}

/// uid → name from a passwd file; names that are not names are skipped.
pub fn parse_passwd(bytes: &[u8]) -> HashMap<u32, String> {
    let mut out = HashMap::new();
    for line in String::from_utf8_lossy(bytes).lines() {
        let mut f = line.split(':');
        let (Some(name), Some(_), Some(uid)) = (f.next(), f.next(), f.next()) else {
            continue;
        };
        if let (true, Ok(uid)) = (is_unit_name(name), uid.parse::<u32>()) {
            out.entry(uid).or_insert_with(|| name.to_string());
        }
    }
    out
}

/// The `Name` of a Docker `config.v2.json`, without its leading `/`.
pub fn docker_name(bytes: &[u8]) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Config {
        #[serde(rename = "Name")]
        name: String,
    }
    let c: Config = serde_json::from_slice(bytes).ok()?;
    let name = c.name.strip_prefix('/').unwrap_or(&c.name);
    is_unit_name(name).then(|| name.to_string())
}

/// Container id → first name, from c/storage's `containers.json`.
pub fn parse_storage(bytes: &[u8]) -> HashMap<String, String> {
    #[derive(serde::Deserialize)]
    struct Entry {
        id: String,
        #[serde(default)]
        names: Vec<String>,
    }
    let entries: Vec<Entry> = serde_json::from_slice(bytes).unwrap_or_default();
    entries
        .into_iter()
        .filter(|e| is_container_id(&e.id))
        .filter_map(|e| {
            let name = e.names.into_iter().find(|n| is_unit_name(n))?;
            Some((e.id, name))
        })
        .take(MAX_NAMES)
        .collect()
}

/// `(namespace, pod name)` from an OCI bundle's annotations, as containerd
/// (`io.kubernetes.cri.sandbox-*`) or CRI-O (`io.kubernetes.pod.*`) write
/// them.
pub fn pod_of_bundle(bytes: &[u8]) -> Option<(String, String)> {
    #[derive(serde::Deserialize)]
    struct Bundle {
        #[serde(default)]
        annotations: HashMap<String, String>,
    }
    let b: Bundle = serde_json::from_slice(bytes).ok()?;
    let get = |keys: [&str; 2]| {
        keys.iter()
            .find_map(|k| b.annotations.get(*k))
            .filter(|v| is_unit_name(v))
            .cloned()
    };
    let ns = get([
        "io.kubernetes.cri.sandbox-namespace",
        "io.kubernetes.pod.namespace",
    ])?;
    let pod = get(["io.kubernetes.cri.sandbox-name", "io.kubernetes.pod.name"])?;
    Some((ns, pod))
}

#[cfg(test)]
#[path = "identity_tests.rs"]
mod tests;
