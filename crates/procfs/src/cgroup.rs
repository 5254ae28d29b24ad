//! Which container or systemd service a process runs in, told by its cgroup
//! path in `/proc/PID/cgroup`: a short label such as `docker:3f9a1c0b7e22`,
//! `k8s:…`, `podman:…` or `nginx.service`, or nothing. Only the path's shape
//! is read — no container runtime is asked, so names (`docker ps` names, pod
//! names) are not known here, only the 12-hex short ids those tools print.
//!
//! The shapes, as the runtimes document or produce them (cgroup v2 line
//! `0::/path`; on cgroup v1 the `name=systemd` line carries the same path):
//!
//! - Docker (docs.docker.com/engine/containers/runmetrics, "Find the cgroup
//!   for a given container"): `system.slice/docker-<64 hex>.scope` with the
//!   systemd cgroup driver, `docker/<64 hex>` with the cgroupfs driver.
//! - containerd's CRI plugin with the systemd driver: the runc cgroups path
//!   `<pod slice>:cri-containerd:<id>`, which systemd turns into
//!   `kubepods.slice/…/kubepods-<qos>-pod<uid>.slice/cri-containerd-<id>.scope`;
//!   CRI-O the same with `crio-<id>.scope`; with the cgroupfs driver the
//!   kubelet uses `kubepods/<qos>/pod<uid>/<id>`.
//! - Podman: `libpod-<id>.scope` (under `machine.slice`, or the user's
//!   `user@UID.service/user.slice` when rootless), with crun a `container`
//!   cgroup below it; `libpod-conmon-<id>.scope` is the monitor, not the
//!   container.
//! - systemd services: the process's own cgroup is `<unit>.service`.

use std::fs;

use crate::ProcRoot;

impl ProcRoot {
    /// The container or service label of `pid` (see [`container_label`]);
    /// `None` when the process runs in neither or its cgroup file cannot be
    /// read (it exited).
    pub fn container(&self, pid: u32) -> Option<String> {
        let text = fs::read_to_string(self.path().join(pid.to_string()).join("cgroup")).ok()?;
        container_label(&text)
    }
}

/// The label for the contents of a `/proc/PID/cgroup` file.
pub fn container_label(cgroup_file: &str) -> Option<String> {
    label_of_path(cgroup_path(cgroup_file)?)
}

/// The cgroup v2 path (`0::/…`), or on a cgroup v1 host the systemd one.
fn cgroup_path(file: &str) -> Option<&str> {
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

fn label_of_path(path: &str) -> Option<String> {
    let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
    // The innermost container wins (a container may nest cgroups below its
    // own, e.g. crun's `container`, or systemd services inside it).
    for (i, part) in parts.iter().enumerate().rev() {
        let parent = i.checked_sub(1).map(|p| parts[p]);
        if let Some(label) = container_of(part, parent, &parts[..i]) {
            return Some(label);
        }
    }
    let last = parts.last()?;
    (last.len() > ".service".len() && last.ends_with(".service")).then(|| last.to_string())
}

/// `part` names a container: its label.
fn container_of(part: &str, parent: Option<&str>, ancestors: &[&str]) -> Option<String> {
    let scoped = |prefix: &str| {
        let id = part.strip_prefix(prefix)?;
        let id = id.strip_suffix(".scope").unwrap_or(id);
        is_container_id(id).then_some(id)
    };
    let short = |kind: &str, id: &str| Some(format!("{kind}:{}", &id[..12]));
    if let Some(id) = scoped("docker-") {
        return short("docker", id);
    }
    if let Some(id) = scoped("cri-containerd-").or_else(|| scoped("crio-")) {
        return short("k8s", id);
    }
    if let Some(id) = scoped("libpod-") {
        return short("podman", id);
    }
    if is_container_id(part) {
        if parent == Some("docker") {
            return short("docker", part);
        }
        if ancestors.first().is_some_and(|a| a.starts_with("kubepods")) {
            return short("k8s", part);
        }
    }
    None
}

/// A full container id: 64 lowercase hex digits.
fn is_container_id(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture() -> ProcRoot {
        ProcRoot::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/testdata/containers/proc"
        ))
    }

    #[test]
    fn labels_from_real_cgroup_files() {
        let cases: &[(u32, Option<&str>)] = &[
            (2101, Some("docker:4c01db0b339c")),
            (2102, Some("docker:a3f95f2c8d5e")),
            (2103, Some("k8s:d7dfb4a21fe1")),
            (2104, Some("k8s:89e8f450417b")),
            (2105, Some("k8s:5b8e6f1c2a94")),
            (2106, Some("podman:cf21d19260ac")),
            (2107, Some("podman:93e4d1f949c1")),
            (2108, None),
            (2109, Some("systemd-resolved.service")),
            (2110, None),
            (2111, Some("docker:1f5e2c3a7b9d")),
            (2112, None),
        ];
        let root = fixture();
        for &(pid, want) in cases {
            assert_eq!(root.container(pid).as_deref(), want, "pid {pid}");
        }
        assert_eq!(root.container(1), None, "no such process");
    }

    #[test]
    fn odd_input_is_no_container() {
        for text in [
            "",
            "0::",
            "0::/",
            "garbage",
            "0::/system.slice/.service",
            "0::/docker/4c01db0b",
            "0::/system.slice/docker-XYZ.scope",
            "0::/system.slice/docker-\u{e9}\u{e9}.scope",
            "::::::",
        ] {
            assert_eq!(container_label(text), None, "{text:?}");
        }
    }
}
