//! Who traffic is counted for in metrics: an [`Identity`] is a process name
//! with its systemd service, container and Kubernetes pod (the workload its
//! cgroup path names, `netoproc_core::workload`) and its user id — never a
//! pid, so a restarted service
//! or a fork of a worker keeps its series. The overflow identity `other`
//! stands for every identity the series budget does not hold; a real
//! identity's `user` is always a number, so no real process can be taken
//! for it. With remote series on (`remote_series`), the same type names an
//! identity and one remote address (`remote`; empty everywhere else).

use std::fmt;
use std::sync::Arc;

use netoproc_core::workload::Workload;

/// One metric identity; its fields are label values.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Identity {
    /// The kernel's task name (`comm`); empty when no owner was named.
    pub process: Arc<str>,
    /// The systemd unit (`nginx.service`) the process runs in, or empty.
    pub service: Arc<str>,
    /// The container (`docker:web` or `docker:3f9a1c0b7e22` when its name
    /// is not known, `k8s:default/web-0`, `podman:…`, `lxc:…`), or empty.
    pub container: Arc<str>,
    /// The Kubernetes pod (`namespace/name`, or `pod:<uid>` when only the
    /// cgroup path names it), or empty.
    pub pod: Arc<str>,
    /// The uid as a decimal number; `other` for the overflow identity.
    pub user: Arc<str>,
    /// Remote series only: the remote IP address (no port: ports are
    /// ephemeral), empty for traffic without one (unconnected UDP, bytes
    /// not seen per socket); `other` for the overflow pair.
    pub remote: Arc<str>,
}

const OTHER: &str = "other";

impl Identity {
    /// The identity of a process named `comm` owned by `uid`, with the
    /// cgroup label `netoproc_procfs` derived for it (a `.service` label is
    /// a service, any other label a container).
    pub fn of(comm: &str, cgroup_label: Option<&str>, uid: Option<u32>) -> Self {
        let (service, container) = match cgroup_label {
            Some(l) if l.ends_with(".service") => (l, ""),
            Some(l) => ("", l),
            None => ("", ""),
        };
        Identity {
            process: comm.into(),
            service: service.into(),
            container: container.into(),
            pod: "".into(),
            // Unknown uid: empty, never 0 (which would claim root).
            user: uid.map(|u| u.to_string()).unwrap_or_default().into(),
            remote: "".into(),
        }
    }

    /// The identity of a process named `comm` owned by `uid` that runs for
    /// `workload`: a systemd unit is its service; a container of any
    /// runtime its container (labelled as every output labels it); a
    /// Kubernetes container also names its pod.
    pub fn of_workload(comm: &str, workload: &Workload, uid: Option<u32>) -> Self {
        let service = match workload {
            Workload::SystemdService { unit } => unit.as_str(),
            _ => "",
        };
        let container = if workload.is_container() {
            workload.label()
        } else {
            String::new()
        };
        Identity {
            process: comm.into(),
            service: service.into(),
            container: container.into(),
            pod: workload.pod_label().unwrap_or_default().into(),
            user: uid.map(|u| u.to_string()).unwrap_or_default().into(),
            remote: "".into(),
        }
    }

    /// This identity's traffic with `remote` (an address, or empty).
    pub fn with_remote(&self, remote: &str) -> Self {
        Identity {
            remote: remote.into(),
            ..self.clone()
        }
    }

    /// Traffic whose owner netoproc could not name (DNS queries of a socket
    /// whose process exited unseen).
    pub fn unnamed() -> Self {
        Identity {
            process: "".into(),
            service: "".into(),
            container: "".into(),
            pod: "".into(),
            user: "".into(),
            remote: "".into(),
        }
    }

    /// The overflow identity.
    pub fn other() -> Self {
        Identity {
            process: OTHER.into(),
            service: OTHER.into(),
            container: OTHER.into(),
            pod: OTHER.into(),
            user: OTHER.into(),
            remote: OTHER.into(),
        }
    }

    /// Whether this is the overflow identity.
    pub fn is_other(&self) -> bool {
        &*self.user == OTHER
    }
}

impl fmt::Display for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} (service {:?}, container {:?}, pod {:?}, uid {})",
            self.process, self.service, self.container, self.pod, self.user
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_split_into_service_and_container_and_never_collide_with_other() {
        let s = Identity::of("nginx", Some("nginx.service"), Some(33));
        assert_eq!(
            (&*s.service, &*s.container, &*s.user),
            ("nginx.service", "", "33")
        );
        let c = Identity::of("curl", Some("docker:3f9a1c0b7e22"), Some(0));
        assert_eq!((&*c.service, &*c.container), ("", "docker:3f9a1c0b7e22"));
        let named_other = Identity::of("other", None, Some(0));
        assert!(!named_other.is_other());
        assert_ne!(named_other, Identity::other());
        assert!(Identity::other().is_other());
    }

    #[test]
    fn workloads_fill_service_container_and_pod() {
        let svc = Workload::SystemdService {
            unit: "nginx.service".into(),
        };
        let s = Identity::of_workload("nginx", &svc, Some(33));
        assert_eq!(
            (&*s.service, &*s.container, &*s.pod),
            ("nginx.service", "", "")
        );
        let pod = Workload::Kubernetes {
            pod_uid: "1e597579-417e-4b7f-9f0c-3c2b1b1a7e11".into(),
            container_id: "ab".repeat(32),
            runtime: None,
            pod_name: Some("web-0".into()),
            namespace: Some("shop".into()),
        };
        let k = Identity::of_workload("app", &pod, Some(0));
        assert_eq!(
            (&*k.service, &*k.container, &*k.pod),
            ("", "k8s:shop/web-0", "shop/web-0")
        );
        let d = Identity::of_workload(
            "curl",
            &Workload::Docker {
                id: "3f9a1c0b7e22".repeat(5) + "abcd",
                name: None,
            },
            None,
        );
        assert_eq!(
            (&*d.container, &*d.pod, &*d.user),
            ("docker:3f9a1c0b7e22", "", "")
        );
        let h = Identity::of_workload("sh", &Workload::Host, Some(1000));
        assert_eq!(h, Identity::of("sh", None, Some(1000)));
    }
}
