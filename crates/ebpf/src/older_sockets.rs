//! Counter path: who owns the sockets that are older than netoproc. No
//! program runs per send or receive, so nothing in the kernel would name
//! them before they close. Once, at start, this reads the processes'
//! descriptor tables (`/proc/PID/fd`) into `np_inode_owners`, socket inode →
//! owner; the socket iterators name a record without an owner from it (an
//! open connection, a UDP socket), and give a listener's owner to
//! `np_listeners` so the connections it accepts from then on are named too.
//! A socket several processes hold (a pre-forking server, an inherited
//! descriptor) goes to the lowest pid, the parent as a rule; the owner's
//! namespace is that process's. Entries the kernel made meanwhile are kept
//! (`BPF_NOEXIST`). The map's bound is counted in [`Seeded`].

use std::collections::BTreeMap;

use aya::maps::{HashMap as BpfHashMap, MapData};
use aya::Ebpf;
use netoproc_procfs::{FdIndex, ProcRoot};

use crate::abi::np_owner;
use crate::names;

/// `BPF_NOEXIST`: insert only.
const NOEXIST: u64 = 1;

/// What seeding found.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Seeded {
    /// Sockets (listeners among them) given an owner.
    pub named: usize,
    /// Sockets whose holder could not be read (exited meanwhile).
    pub unowned: usize,
    /// Sockets past a map's bound: named at close instead.
    pub over_bound: usize,
    /// Why the map could not be written.
    pub problems: Vec<String>,
}

/// Every socket inode a process holds, with the owner record of the
/// lowest pid holding it.
fn older_sockets(proc: &ProcRoot, seeded: &mut Seeded) -> Vec<(u64, np_owner)> {
    let (fds, _) = FdIndex::scan(proc);
    let mut owners: BTreeMap<u32, Option<np_owner>> = BTreeMap::new();
    let mut found = Vec::new();
    for inode in fds.inodes() {
        let owner = fds.owners(inode).iter().copied().min().and_then(|pid| {
            *owners.entry(pid).or_insert_with(|| {
                let netns = proc.netns_of_pid(pid)?;
                owner_of(proc, pid, netns.0)
            })
        });
        match owner {
            Some(owner) => found.push((inode, owner)),
            None => seeded.unowned += 1,
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

/// Why a map of the object could not be used.
#[derive(Debug, thiserror::Error)]
enum MapAccess {
    /// The object has no map of this name.
    #[error("map {0} missing from the BPF object")]
    Missing(&'static str),
    /// The map is not what the code expects (type, key or value size).
    #[error("map {name}")]
    Mismatch {
        /// The map's name.
        name: &'static str,
        /// aya's reason.
        #[source]
        source: aya::maps::MapError,
    },
}

/// A map of the object as a hash of `K` → `V`.
fn hash_map<'a, K: aya::Pod, V: aya::Pod>(
    ebpf: &'a mut Ebpf,
    name: &'static str,
) -> Result<BpfHashMap<&'a mut MapData, K, V>, MapAccess> {
    let map = ebpf.map_mut(name).ok_or(MapAccess::Missing(name))?;
    BpfHashMap::try_from(map).map_err(|source| MapAccess::Mismatch { name, source })
}

/// Inserts unless the kernel put a newer entry there; a full map is
/// counted, any other failure said once.
fn insert<K: aya::Pod, V: aya::Pod>(
    map: &mut BpfHashMap<&mut MapData, K, V>,
    key: K,
    value: V,
    seeded: &mut Seeded,
    name: &str,
) -> bool {
    match map.insert(key, value, NOEXIST) {
        Ok(()) => true,
        Err(e) => match crate::ladder::os_error(&e) {
            Some(libc::EEXIST) => true,
            Some(libc::E2BIG) | Some(libc::ENOMEM) => {
                seeded.over_bound += 1;
                false
            }
            _ => {
                if seeded.problems.len() < 4 {
                    seeded
                        .problems
                        .push(format!("{name}: {}", crate::ladder::error_chain(&e)));
                }
                false
            }
        },
    }
}

/// Fills `np_inode_owners` for sockets older than netoproc.
pub(crate) fn seed(ebpf: &mut Ebpf, proc: &ProcRoot) -> Seeded {
    let mut seeded = Seeded::default();
    let found = older_sockets(proc, &mut seeded);
    let mut by_inode: BpfHashMap<&mut MapData, u64, np_owner> =
        match hash_map(ebpf, names::INODE_OWNERS) {
            Ok(m) => m,
            Err(e) => {
                seeded.problems.push(crate::ladder::error_chain(&e));
                return seeded;
            }
        };
    for (inode, owner) in found {
        if insert(
            &mut by_inode,
            inode,
            owner,
            &mut seeded,
            names::INODE_OWNERS,
        ) {
            seeded.named += 1;
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
        assert_eq!(
            (o.tgid, o.uid, o.netns, o.cgroup_id),
            (4242, 0, 4026531840, 0)
        );
        let comm: Vec<u8> = o
            .comm
            .iter()
            .take_while(|&&c| c != 0)
            .map(|&c| c as u8)
            .collect();
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
