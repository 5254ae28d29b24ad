//! Counter path: who owns the sockets that are older than netoproc. No
//! program runs per send or receive, so nothing in the kernel would name
//! them before they close. Once, at start, this reads the processes'
//! descriptor tables (`/proc/PID/fd`) and fills two maps:
//!
//! - `np_inode_owners`, socket inode → owner: the socket iterators name a
//!   record without an owner from it (an open connection, a UDP socket);
//! - `np_listeners`, (namespace, port) → owner of each listening socket,
//!   from the kernel's socket table (sock_diag, in every namespace some
//!   process lives in or that has a name): connections accepted there later
//!   take it, as they take the owner of listeners the kernel saw `listen()`.
//!
//! A socket several processes hold (a pre-forking server, an inherited
//! descriptor) goes to the lowest pid, the parent as a rule. Entries the
//! kernel made meanwhile are kept (`BPF_NOEXIST`): they are newer. Each
//! map's bound is counted in `Seeded`.

use std::collections::BTreeMap;
use std::path::Path;

use aya::maps::{HashMap as BpfHashMap, MapData};
use aya::Ebpf;
use netoproc_core::model::{Family, Protocol};
use netoproc_procfs::netns::RUN_NETNS;
use netoproc_procfs::{sock_diag, FdIndex, InetSocket, ProcRoot, TcpState};

use crate::abi::{np_listen_key, np_owner};
use crate::names;

/// `BPF_NOEXIST`: insert only.
const NOEXIST: u64 = 1;

/// What seeding found.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Seeded {
    /// Sockets (listeners among them) given an owner.
    pub named: usize,
    /// Sockets no readable process holds (another user's process netoproc
    /// cannot read, a socket closed meanwhile, one held by no file).
    pub unowned: usize,
    /// Sockets past a map's bound: named at close instead.
    pub over_bound: usize,
    /// Why a namespace or a map could not be read or written.
    pub problems: Vec<String>,
}

/// One socket of some namespace and its owner.
struct Older {
    socket: InetSocket,
    owner: np_owner,
}

/// Every TCP and UDP socket of every namespace that a process holds, with
/// the owner record of the lowest pid holding it.
fn older_sockets(proc: &ProcRoot, seeded: &mut Seeded) -> Vec<Older> {
    let (fds, _) = FdIndex::scan(proc);
    let mut owners: BTreeMap<(u32, u64), Option<np_owner>> = BTreeMap::new();
    let mut found = Vec::new();
    for ns in proc.list_netns(Path::new(RUN_NETNS)) {
        let sockets = match sock_diag::dump_sockets_in(&ns.path) {
            Ok(s) => s,
            Err(e) => {
                seeded
                    .problems
                    .push(format!("{}: {}", ns.id, crate::ladder::error_chain(&e)));
                continue;
            }
        };
        for socket in sockets.into_iter().filter(|s| s.inode != 0) {
            let owner = fds.owners(socket.inode).iter().copied().min().and_then(|pid| {
                *owners
                    .entry((pid, ns.id.0))
                    .or_insert_with(|| owner_of(proc, pid, ns.id.0))
            });
            match owner {
                Some(owner) => found.push(Older { socket, owner }),
                None => seeded.unowned += 1,
            }
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

/// A map of the object as a hash of `K` → `V`.
fn hash_map<'a, K: aya::Pod, V: aya::Pod>(
    ebpf: &'a mut Ebpf,
    name: &str,
) -> Result<BpfHashMap<&'a mut MapData, K, V>, String> {
    let map = ebpf
        .map_mut(name)
        .ok_or_else(|| format!("map {name} missing"))?;
    BpfHashMap::try_from(map).map_err(|e| format!("{name}: {}", crate::ladder::error_chain(&e)))
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

/// Fills `np_inode_owners` and `np_listeners` for sockets older than
/// netoproc.
pub(crate) fn seed(ebpf: &mut Ebpf, proc: &ProcRoot) -> Seeded {
    let mut seeded = Seeded::default();
    let found = older_sockets(proc, &mut seeded);
    let mut by_inode: BpfHashMap<&mut MapData, u64, np_owner> =
        match hash_map(ebpf, names::INODE_OWNERS) {
            Ok(m) => m,
            Err(e) => {
                seeded.problems.push(e);
                return seeded;
            }
        };
    for o in &found {
        if insert(&mut by_inode, o.socket.inode, o.owner, &mut seeded, names::INODE_OWNERS) {
            seeded.named += 1;
        }
    }
    let mut listeners: BpfHashMap<&mut MapData, np_listen_key, np_owner> =
        match hash_map(ebpf, names::LISTENERS) {
            Ok(m) => m,
            Err(e) => {
                seeded.problems.push(e);
                return seeded;
            }
        };
    let listening = found
        .iter()
        .filter(|o| o.socket.protocol == Protocol::Tcp && o.socket.state == TcpState::Listen);
    for o in listening {
        let key = np_listen_key {
            netns: o.owner.netns,
            port: o.socket.local.port(),
            family: match o.socket.family {
                Family::Ipv4 => libc::AF_INET as u16,
                Family::Ipv6 => libc::AF_INET6 as u16,
            },
        };
        insert(&mut listeners, key, o.owner, &mut seeded, names::LISTENERS);
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
