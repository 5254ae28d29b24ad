//! Who traffic is counted for in metrics: an [`Identity`] is a process name
//! with its systemd service or container (read from its cgroup path by
//! `netoproc-procfs`) and its user id — never a pid, so a restarted service
//! or a fork of a worker keeps its series. The overflow identity `other`
//! stands for every identity the series budget does not hold; a real
//! identity's `user` is always a number, so no real process can be taken
//! for it. With remote series on (`remote_series`), the same type names an
//! identity and one remote address (`remote`; empty everywhere else).

use std::fmt;
use std::sync::Arc;

/// One metric identity; its fields are label values.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Identity {
    /// The kernel's task name (`comm`); empty when no owner was named.
    pub process: Arc<str>,
    /// The systemd unit (`nginx.service`) the process runs in, or empty.
    pub service: Arc<str>,
    /// The container (`docker:3f9a1c0b7e22`, `k8s:…`, `podman:…`), or empty.
    pub container: Arc<str>,
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
            // Unknown uid: empty, never 0 (which would claim root).
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
            user: OTHER.into(),
            remote: OTHER.into(),
        }
    }

    pub fn is_other(&self) -> bool {
        &*self.user == OTHER
    }
}

impl fmt::Display for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} (service {:?}, container {:?}, uid {})",
            self.process, self.service, self.container, self.user
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
}
