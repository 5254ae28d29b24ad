//! Who a process works for beyond its pid: the container, Kubernetes pod,
//! systemd service or login session its cgroup path says it runs in (a
//! [`Workload`]), and everything else known of it ([`ProcessIdentity`]:
//! cgroup, network namespace, user name, parent, in-container pid). Pure:
//! the text of `/proc/PID/cgroup` in, a typed owner out; names the path
//! does not hold (a Docker container's name, a pod's name) are filled in by
//! `netoproc-procfs` from the runtimes' state files.
//!
//! The path shapes, as the runtimes produce them (cgroup v2 line `0::/path`;
//! on a cgroup v1 host the `name=systemd` line carries the same path):
//!
//! - Docker: `system.slice/docker-<64 hex>.scope` (systemd cgroup driver),
//!   `docker/<64 hex>` (cgroupfs driver).
//! - Kubernetes with the systemd driver:
//!   `kubepods.slice/kubepods-<qos>.slice/kubepods-<qos>-pod<uid, `-` as `_`>.slice/<runtime>-<id>.scope`
//!   where the runtime prefix is `cri-containerd`, `crio` or `docker`
//!   (Guaranteed pods sit directly under `kubepods.slice`); with the cgroupfs
//!   driver `kubepods/<qos>/pod<uid>/<id>`. `crio-conmon-<id>.scope` is
//!   CRI-O's monitor, not the container.
//! - Podman: `libpod-<id>.scope` (under `machine.slice`, or the user's
//!   `user@UID.service/user.slice` when rootless), with crun a `container`
//!   cgroup below it; `libpod-conmon-<id>.scope` is the monitor. With the
//!   cgroupfs manager (cgroup v1 and hybrid hosts): `libpod_parent/libpod-<id>`.
//! - LXC: `lxc.payload.<name>` (LXC 4 and later) or `lxc/<name>`.
//! - systemd: a service's processes are in `<unit>.service`; a login
//!   session's in `user.slice/user-<uid>.slice/session-<id>.scope`.
//!
//! The innermost match wins: a container may run systemd services of its
//! own, and a rootless container sits inside the user's `user@.service`.
//! Kubernetes' pause container owns a pod's network namespace but never a
//! socket of the pod's processes, so traffic whose socket owner is known
//! is counted for the container process that moved it; grouping by pod
//! (the pod UID) puts the pause container and every container of the pod
//! together either way.
//!
//! Everything here is attacker input (any local user can make cgroups in a
//! delegated subtree, name them freely, and write units): paths are cut to
//! [`MAX_CGROUP_PATH`] bytes, ids must be hex of the right length, unit and
//! container names must be short and printable, and views escape every
//! string they print (`crate::escape`).

use serde::Serialize;

/// Cgroup paths are kept up to this many bytes (cut at a character
/// boundary, `…` appended); the kernel allows far longer ones.
pub const MAX_CGROUP_PATH: usize = 1024;

/// A name taken from a cgroup path or a runtime's state (unit, container,
/// pod or namespace name) longer than this is not used.
pub const MAX_NAME: usize = 253;

/// The container runtime of a Kubernetes container.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum KubeRuntime {
    /// containerd (`cri-containerd-<id>.scope`).
    Containerd,
    /// CRI-O (`crio-<id>.scope`).
    Crio,
    /// Docker (`docker-<id>.scope` under `kubepods`).
    Docker,
}

impl KubeRuntime {
    /// The lowercase name, as serialized: `containerd`, `crio`, `docker`.
    pub fn as_str(self) -> &'static str {
        match self {
            KubeRuntime::Containerd => "containerd",
            KubeRuntime::Crio => "crio",
            KubeRuntime::Docker => "docker",
        }
    }
}

/// What a process's cgroup says it runs for.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Workload {
    /// A Docker container: its 64-hex id, and its name (without the leading
    /// `/`) when the engine's state could be read.
    Docker {
        /// The container id, 64 lowercase hex digits.
        id: String,
        /// The container's name; `None` when the state was not readable.
        name: Option<String>,
    },
    /// A container of a Kubernetes pod.
    Kubernetes {
        /// The pod's UID, with dashes (`1e597579-417e-…`).
        pod_uid: String,
        /// The container id, 64 lowercase hex digits.
        container_id: String,
        /// The runtime the scope name says; `None` with the cgroupfs
        /// driver, whose paths do not say.
        runtime: Option<KubeRuntime>,
        /// The pod's name, when a runtime's state named it.
        pod_name: Option<String>,
        /// The pod's Kubernetes namespace, when a runtime's state named it.
        namespace: Option<String>,
    },
    /// A Podman container (rootful or rootless).
    Podman {
        /// The container id, 64 lowercase hex digits.
        id: String,
        /// The container's name; `None` when the state was not readable.
        name: Option<String>,
    },
    /// An LXC container.
    Lxc {
        /// The container's name from the path.
        name: String,
    },
    /// A systemd service (`nginx.service`): keyed by its unit name, which
    /// stays when a restart gives the service a new cgroup.
    #[serde(rename = "service")]
    SystemdService {
        /// The unit name, `.service` included.
        unit: String,
    },
    /// A login session of user `uid` (`session-<session>.scope`).
    #[serde(rename = "session")]
    UserSession {
        /// The user's uid, from `user-<uid>.slice`.
        uid: u32,
        /// The session id, from `session-<session>.scope`.
        session: String,
    },
    /// None of the above: a plain host process (or an unknown layout).
    Host,
}

impl Workload {
    /// The container id, for the runtimes that have one.
    pub fn container_id(&self) -> Option<&str> {
        match self {
            Workload::Docker { id, .. } | Workload::Podman { id, .. } => Some(id),
            Workload::Kubernetes { container_id, .. } => Some(container_id),
            _ => None,
        }
    }

    /// The container's name, when known (LXC containers have only names).
    pub fn container_name(&self) -> Option<&str> {
        match self {
            Workload::Docker { name, .. } | Workload::Podman { name, .. } => name.as_deref(),
            Workload::Lxc { name } => Some(name),
            _ => None,
        }
    }

    /// `docker`, `kubernetes`, `podman`, `lxc`, `service`, `session` or
    /// `host`.
    pub fn kind(&self) -> &'static str {
        match self {
            Workload::Docker { .. } => "docker",
            Workload::Kubernetes { .. } => "kubernetes",
            Workload::Podman { .. } => "podman",
            Workload::Lxc { .. } => "lxc",
            Workload::SystemdService { .. } => "service",
            Workload::UserSession { .. } => "session",
            Workload::Host => "host",
        }
    }

    /// Whether this is a container of any runtime.
    pub fn is_container(&self) -> bool {
        matches!(
            self,
            Workload::Docker { .. }
                | Workload::Kubernetes { .. }
                | Workload::Podman { .. }
                | Workload::Lxc { .. }
        )
    }

    /// A short label for a column: `docker:web` (name known) or
    /// `docker:4c01db0b339c` (the 12-hex short id the tools print),
    /// `k8s:default/web-0` or `k8s:d7dfb4a21fe1`, `podman:…`, `lxc:name`,
    /// the unit name, `session-3`; empty for a host process. Unescaped.
    pub fn label(&self) -> String {
        let short = |id: &str| id.get(..12).unwrap_or(id).to_string();
        match self {
            Workload::Docker { id, name } => {
                format!("docker:{}", name.clone().unwrap_or_else(|| short(id)))
            }
            Workload::Podman { id, name } => {
                format!("podman:{}", name.clone().unwrap_or_else(|| short(id)))
            }
            Workload::Kubernetes {
                container_id,
                pod_name,
                namespace,
                ..
            } => match (namespace, pod_name) {
                (Some(ns), Some(pod)) => format!("k8s:{ns}/{pod}"),
                (None, Some(pod)) => format!("k8s:{pod}"),
                _ => format!("k8s:{}", short(container_id)),
            },
            Workload::Lxc { name } => format!("lxc:{name}"),
            Workload::SystemdService { unit } => unit.clone(),
            Workload::UserSession { session, .. } => format!("session-{session}"),
            Workload::Host => String::new(),
        }
    }

    /// The pod's label for grouping: `namespace/name` when known, else
    /// `pod:<uid>`; `None` outside Kubernetes.
    pub fn pod_label(&self) -> Option<String> {
        match self {
            Workload::Kubernetes {
                pod_uid,
                pod_name,
                namespace,
                ..
            } => Some(match (namespace, pod_name) {
                (Some(ns), Some(pod)) => format!("{ns}/{pod}"),
                (None, Some(pod)) => pod.clone(),
                _ => format!("pod:{pod_uid}"),
            }),
            _ => None,
        }
    }

    /// The systemd unit, for a service.
    pub fn service(&self) -> Option<&str> {
        match self {
            Workload::SystemdService { unit } => Some(unit),
            _ => None,
        }
    }
}

/// Everything known of a process beyond its kernel record (pid, comm,
/// cmdline, uid), read from `/proc` while it ran.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProcessIdentity {
    /// Its cgroup v2 path (`/system.slice/nginx.service`), cut to
    /// [`MAX_CGROUP_PATH`]; empty when unreadable.
    pub cgroup: String,
    /// Its network namespace (the inode of `/proc/PID/ns/net`).
    pub netns: Option<u64>,
    /// The user name of its uid, from the host's `/etc/passwd`.
    pub user: Option<String>,
    /// Its parent's pid; `None` when unreadable.
    pub ppid: Option<u32>,
    /// Its pid in its own pid namespace (the last `NSpid` of
    /// `/proc/PID/status`), when that differs from the host's.
    pub container_pid: Option<u32>,
    /// What it runs for.
    pub workload: Workload,
}

/// The path of a `/proc/PID/cgroup` file's contents: the cgroup v2 line
/// (`0::/…`), or on a cgroup v1 host the systemd one.
pub fn cgroup_path(file: &str) -> Option<&str> {
    let lines = || {
        file.lines().filter_map(|l| {
            let mut f = l.splitn(3, ':');
            Some((f.next()?, f.next()?, f.next()?))
        })
    };
    let v2 = lines().find(|(id, ctl, _)| *id == "0" && ctl.is_empty());
    match v2 {
        Some((_, _, path)) if path != "/" => Some(path),
        _ => lines()
            .find(|(_, ctl, _)| *ctl == "name=systemd")
            .map(|(_, _, p)| p)
            .or(v2.map(|(_, _, p)| p)),
    }
}

/// `path` cut to [`MAX_CGROUP_PATH`] bytes.
pub fn bounded_path(path: &str) -> String {
    if path.len() <= MAX_CGROUP_PATH {
        return path.to_string();
    }
    let mut end = MAX_CGROUP_PATH;
    while !path.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &path[..end])
}

/// The workload a cgroup path names (names not in the path left `None`).
pub fn parse(path: &str) -> Workload {
    let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
    for i in (0..parts.len()).rev() {
        if let Some(w) = container_at(&parts, i) {
            return w;
        }
    }
    for i in (0..parts.len()).rev() {
        let part = parts[i];
        if let Some(unit) = part.strip_suffix(".service") {
            if is_unit_name(unit) && !unit.starts_with("user@") {
                return Workload::SystemdService {
                    unit: part.to_string(),
                };
            }
        }
        if let Some(session) = part
            .strip_prefix("session-")
            .and_then(|s| s.strip_suffix(".scope"))
        {
            let uid = parts[..i].iter().rev().find_map(|p| {
                p.strip_prefix("user-")?
                    .strip_suffix(".slice")?
                    .parse::<u32>()
                    .ok()
            });
            if let Some(uid) = uid.filter(|_| is_unit_name(session)) {
                return Workload::UserSession {
                    uid,
                    session: session.to_string(),
                };
            }
        }
    }
    Workload::Host
}

/// The container `parts[i]` names, if any.
fn container_at(parts: &[&str], i: usize) -> Option<Workload> {
    let part = parts[i];
    let scoped = |prefix: &str| {
        let id = part.strip_prefix(prefix)?.strip_suffix(".scope")?;
        is_container_id(id).then(|| id.to_string())
    };
    let in_kubepods = parts.first().is_some_and(|p| p.starts_with("kubepods"));
    let pod = || pod_uid(&parts[..i]);
    let kube = |id: String, runtime| {
        Some(Workload::Kubernetes {
            pod_uid: pod()?,
            container_id: id,
            runtime,
            pod_name: None,
            namespace: None,
        })
    };
    if let Some(id) = scoped("cri-containerd-") {
        return kube(id, Some(KubeRuntime::Containerd));
    }
    if let Some(id) = scoped("crio-") {
        return kube(id, Some(KubeRuntime::Crio));
    }
    if let Some(id) = scoped("docker-") {
        if in_kubepods {
            return kube(id, Some(KubeRuntime::Docker));
        }
        return Some(Workload::Docker { id, name: None });
    }
    if let Some(id) = scoped("libpod-") {
        return Some(Workload::Podman { id, name: None });
    }
    // Podman with the cgroupfs manager: `libpod_parent/libpod-<id>`.
    if let Some(id) = part
        .strip_prefix("libpod-")
        .filter(|id| is_container_id(id))
    {
        return Some(Workload::Podman {
            id: id.to_string(),
            name: None,
        });
    }
    if is_container_id(part) {
        if i > 0 && parts[i - 1] == "docker" {
            return Some(Workload::Docker {
                id: part.to_string(),
                name: None,
            });
        }
        if in_kubepods {
            return kube(part.to_string(), None);
        }
    }
    if let Some(name) = part.strip_prefix("lxc.payload.") {
        return is_unit_name(name).then(|| Workload::Lxc {
            name: name.to_string(),
        });
    }
    if i > 0 && parts[i - 1] == "lxc" && is_unit_name(part) {
        return Some(Workload::Lxc {
            name: part.to_string(),
        });
    }
    None
}

/// The pod UID of the innermost `pod<uid>` component of `parts`
/// (`kubepods-<qos>-pod<uid with _>.slice` or `pod<uid>`), with dashes.
fn pod_uid(parts: &[&str]) -> Option<String> {
    parts.iter().rev().find_map(|p| {
        let p = p.strip_suffix(".slice").unwrap_or(p);
        let at = p.rfind("pod")?;
        let uid = p[at + 3..].replace('_', "-");
        is_uuid(&uid).then_some(uid)
    })
}

/// A UUID as Kubernetes writes pod UIDs: 8-4-4-4-12 lowercase hex.
fn is_uuid(s: &str) -> bool {
    let groups: Vec<&str> = s.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, n)| g.len() == n && is_lower_hex(g))
}

fn is_lower_hex(s: &str) -> bool {
    s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// A full container id: 64 lowercase hex digits.
pub fn is_container_id(s: &str) -> bool {
    s.len() == 64 && is_lower_hex(s)
}

/// A name as systemd and the runtimes write them: 1 to [`MAX_NAME`] bytes
/// of ASCII letters, digits and `:_.-@\`, not `.` or `..`.
pub fn is_unit_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= MAX_NAME
        && s != "."
        && s != ".."
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:@\\".contains(&b))
}

#[cfg(test)]
#[path = "workload_tests.rs"]
mod tests;
