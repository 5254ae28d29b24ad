//! Counter path: who owns the listening sockets that are older than
//! netoproc. The BPF side records a listener's owner when `listen()` runs
//! (`np_listeners`, by namespace and port) and gives it to every connection
//! accepted there; a listener made before netoproc started was never seen
//! listening. So at start, once, this fills the map from the kernel's socket
//! table (sock_diag, in every namespace some process lives in or that has a
//! name) and the processes' descriptor tables (`/proc/PID/fd`): the owner of
//! a listener shared by several processes (a pre-forking server) is the one
//! with the lowest pid, the parent as a rule. Entries the kernel made
//! meanwhile are kept (`BPF_NOEXIST`): they are newer.

use std::collections::BTreeMap;
use std::path::Path;

use aya::maps::{HashMap as BpfHashMap, MapData};
use aya::Ebpf;
use netoproc_core::model::Family;
use netoproc_procfs::netns::RUN_NETNS;
use netoproc_procfs::{sock_diag, FdIndex, InetSocket, ProcRoot, TcpState};

use crate::abi::{np_listen_key, np_owner};
use crate::names;

/// `BPF_NOEXIST`: insert only.
const NOEXIST: u64 = 1;

/// What seeding found.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Seeded {
    /// Listeners given an owner.
    pub named: usize,
    /// Listeners no readable process holds (owned by another user's
    /// process this netoproc cannot read, or closed meanwhile).
    pub unowned: usize,
    /// Why a namespace or the map could not be read or written.
    pub problems: Vec<String>,
}

/// The listeners of every namespace, each with the lowest pid holding it.
fn listeners(proc: &ProcRoot, problems: &mut Vec<String>) -> Vec<(u64, InetSocket, Option<u32>)> {
    let (fds, _) = FdIndex::scan(proc);
    let mut found = Vec::new();
    for ns in proc.list_netns(Path::new(RUN_NETNS)) {
        let sockets = match sock_diag::dump_sockets_in(&ns.path) {
            Ok(s) => s,
            Err(e) => {
                problems.push(format!("{}: {}", ns.id, crate::ladder::error_chain(&e)));
                continue;
            }
        };
        for s in sockets
            .into_iter()
            .filter(|s| s.state == TcpState::Listen && s.inode != 0)
        {
            let owner = fds.owners(s.inode).iter().copied().min();
            found.push((ns.id.0, s, owner));
        }
    }
    found
}

/// The owner record of process `pid` in namespace `netns`, as the BPF side
/// fills it (its cgroup id stays 0: the process is alive, so its cgroup is
/// read from `/proc` like any other's).
fn owner_of(proc: &ProcRoot, pid: u32, netns: u64) -> Option<np_owner> {
    let info = proc.process_info(pid)?;
    let mut o = np_owner {
        tgid: pid,
        uid: info.uid,
        netns: u32::try_from(netns).ok()?,
        start_boottime_ns: info.start_time_ns,
        ..np_owner::default()
    };
    for (dst, &b) in o.comm.iter_mut().zip(info.comm.as_bytes().iter().take(15)) {
        *dst = b as std::os::raw::c_char;
    }
    Some(o)
}

/// Fills `np_listeners` for listeners older than netoproc.
pub(crate) fn seed(ebpf: &mut Ebpf, proc: &ProcRoot) -> Seeded {
    let mut seeded = Seeded::default();
    let found = listeners(proc, &mut seeded.problems);
    let Some(map) = ebpf.map_mut(names::LISTENERS) else {
        seeded.problems.push("map np_listeners missing".into());
        return seeded;
    };
    let mut map: BpfHashMap<&mut MapData, np_listen_key, np_owner> =
        match BpfHashMap::try_from(map) {
            Ok(m) => m,
            Err(e) => {
                seeded.problems.push(crate::ladder::error_chain(&e));
                return seeded;
            }
        };
    let mut owners: BTreeMap<(u32, u64), Option<np_owner>> = BTreeMap::new();
    for (netns, s, pid) in found {
        let owner = pid.and_then(|pid| {
            *owners
                .entry((pid, netns))
                .or_insert_with(|| owner_of(proc, pid, netns))
        });
        let (Some(owner), Ok(ns)) = (owner, u32::try_from(netns)) else {
            seeded.unowned += 1;
            continue;
        };
        let key = np_listen_key {
            netns: ns,
            port: s.local.port(),
            family: match s.family {
                Family::Ipv4 => libc::AF_INET as u16,
                Family::Ipv6 => libc::AF_INET6 as u16,
            },
        };
        match map.insert(key, owner, NOEXIST) {
            Ok(()) => seeded.named += 1,
            // Already there: the kernel saw this listener (or its twin on
            // the same port) listen since start.
            Err(e) if crate::ladder::os_error(&e) == Some(libc::EEXIST) => seeded.named += 1,
            Err(e) => {
                seeded.unowned += 1;
                if seeded.problems.is_empty() {
                    seeded.problems.push(format!(
                        "np_listeners: {}",
                        crate::ladder::error_chain(&e)
                    ));
                }
            }
        }
    }
    seeded
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The procfs crate's fixture process (`sleep`, pid 4242, uid 0).
    fn fixture() -> ProcRoot {
        ProcRoot::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../procfs/testdata/proc"
        ))
    }

    #[test]
    fn owner_record_is_what_the_kernel_would_have_filled() {
        let o = owner_of(&fixture(), 4242, 4026531840).expect("the fixture process");
        assert_eq!((o.tgid, o.uid, o.netns, o.cgroup_id), (4242, 0, 4026531840, 0));
        let comm: Vec<u8> = o.comm.iter().take_while(|&&c| c != 0).map(|&c| c as u8).collect();
        assert_eq!(comm, b"sleep");
        // Decoded as the kernel's start_boottime is, the same process.
        let start = fixture().start_time_ns(4242).unwrap();
        assert_eq!(o.start_boottime_ns, start);
        assert_eq!(
            netoproc_core::identity::start_time_at_tick(o.start_boottime_ns, 100),
            start
        );
        // A namespace id past 32 bits cannot be the kernel's ns.inum.
        assert!(owner_of(&fixture(), 4242, 1 << 33).is_none());
        assert!(owner_of(&fixture(), 1, 4026531840).is_none());
    }
}
