//! Which container or systemd service a process runs in, told by its cgroup
//! path in `/proc/PID/cgroup`: a short label such as `docker:3f9a1c0b7e22`,
//! `k8s:…`, `podman:…` or `nginx.service`, or nothing. Only the path's shape
//! is read — no container runtime is asked, so names (`docker ps` names, pod
//! names) are not known here, only the 12-hex short ids those tools print.
//!
//! The shapes are parsed by `netoproc_core::workload`, which lists them.

use std::fs;

use netoproc_core::workload::{self, Workload};

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

/// The label for the contents of a `/proc/PID/cgroup` file: the
/// container's (`docker:<12 hex>`, `k8s:…`, `podman:…`, `lxc:name`) or the
/// service's unit name; `None` for a login session or a host process.
pub fn container_label(cgroup_file: &str) -> Option<String> {
    let w = workload::parse(workload::cgroup_path(cgroup_file)?);
    match w {
        Workload::Host | Workload::UserSession { .. } => None,
        w => Some(w.label()),
    }
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
