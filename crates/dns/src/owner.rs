//! Who owns a socket: the seam between the observatory and the socket
//! ledger. A DNS packet carries its socket's cookie, and its owner's pid
//! when the kernel already knew it; the first query of a fresh socket
//! leaves before that, so the owner is looked up by cookie, then and later.

use netoproc_core::ledger::SocketLedger;
use netoproc_core::SocketCookie;

/// A process as shown next to its queries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessRef {
    /// Process id of the socket's owner.
    pub pid: u32,
    /// Kernel task name; empty when not known yet.
    pub comm: String,
}

/// Names the process that owns a socket: the socket ledger, or
/// [`PacketPidsOnly`] where none is kept.
pub trait OwnerLookup {
    /// The owner of socket `cookie`; `pid` is what the kernel attached to
    /// the packet, if anything.
    fn owner(&self, cookie: SocketCookie, pid: Option<u32>) -> Option<ProcessRef>;
}

impl OwnerLookup for SocketLedger {
    fn owner(&self, cookie: SocketCookie, pid: Option<u32>) -> Option<ProcessRef> {
        if let Some(o) = self.socket(cookie).and_then(|s| s.owner.as_ref()) {
            if pid.is_none() || pid == Some(o.pid) {
                return Some(ProcessRef {
                    pid: o.pid,
                    comm: o.comm.clone(),
                });
            }
        }
        let pid = pid?;
        let comm = self
            .process(pid)
            .map(|p| p.comm.clone())
            .unwrap_or_default();
        Some(ProcessRef { pid, comm })
    }
}

/// Knows no socket: owners come only from the pids packets carry.
#[derive(Debug, Default, Clone, Copy)]
pub struct PacketPidsOnly;

impl OwnerLookup for PacketPidsOnly {
    fn owner(&self, _: SocketCookie, pid: Option<u32>) -> Option<ProcessRef> {
        pid.map(|pid| ProcessRef {
            pid,
            comm: String::new(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use netoproc_core::{Owner, ProcessInfo, SocketRecord};

    #[test]
    fn ledger_names_the_owner_by_cookie_or_by_pid() {
        let mut l = SocketLedger::new();
        l.observe_socket(SocketRecord {
            cookie: SocketCookie(5),
            owner: Some(Owner {
                pid: 42,
                comm: "dig".into(),
                ..Owner::default()
            }),
            ..SocketRecord::default()
        });
        l.observe_process(ProcessInfo {
            pid: 7,
            comm: "curl".into(),
            ..ProcessInfo::default()
        });
        let r = |pid, comm: &str| {
            Some(ProcessRef {
                pid,
                comm: comm.into(),
            })
        };
        assert_eq!(l.owner(SocketCookie(5), None), r(42, "dig"));
        assert_eq!(l.owner(SocketCookie(6), Some(7)), r(7, "curl"));
        assert_eq!(l.owner(SocketCookie(6), Some(8)), r(8, ""));
        assert_eq!(l.owner(SocketCookie(6), None), None);
    }
}
