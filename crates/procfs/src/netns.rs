//! Network namespaces: which ones exist that matter to netoproc (those some
//! process lives in, read from `<proc>/*/ns/net`, and those with a name
//! under `/run/netns`), each named by its nsfs inode and given one path that
//! `setns` accepts. Both roots are injected, so tests run on fixtures. This
//! module reads namespaces and enters one on the calling thread for others
//! (`enter`, used only from short-lived threads); it never creates or
//! deletes them.

use std::collections::BTreeMap;
use std::fmt;
use std::fs;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::ProcRoot;

/// A network namespace, named by its nsfs inode (`net:[4026531840]`); the
/// number eBPF reads as `net->ns.inum`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NetnsId(pub u64);

impl fmt::Display for NetnsId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "net:[{}]", self.0)
    }
}

/// One network namespace and how to reach it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Netns {
    /// The namespace's inode number.
    pub id: NetnsId,
    /// A path `setns` accepts: `/run/netns/NAME` when named (it outlives
    /// any process), else `<proc>/PID/ns/net` of its lowest pid.
    pub path: PathBuf,
    /// The name under `/run/netns`, if any.
    pub name: Option<String>,
    /// Processes (thread-group ids) living in it, ascending.
    pub pids: Vec<u32>,
}

/// The default directory of named namespaces (`ip netns add`).
pub const RUN_NETNS: &str = "/run/netns";

impl ProcRoot {
    /// The network namespace of the process reading (`<proc>/self/ns/net`).
    pub fn current_netns(&self) -> io::Result<NetnsId> {
        netns_of_link(&self.path().join("self/ns/net"))
    }

    /// The network namespace of a process; `None` once it exited or when
    /// its namespace cannot be read (another user's process, non-root).
    pub fn netns_of_pid(&self, pid: u32) -> Option<NetnsId> {
        netns_of_link(&self.path().join(pid.to_string()).join("ns/net")).ok()
    }

    /// Every network namespace a process lives in or that has a name under
    /// `run_netns`, ordered by id.
    pub fn list_netns(&self, run_netns: &Path) -> Vec<Netns> {
        let mut by_id: BTreeMap<NetnsId, Netns> = BTreeMap::new();
        for pid in self.pids() {
            let link = self.path().join(pid.to_string()).join("ns/net");
            let Ok(id) = netns_of_link(&link) else {
                continue;
            };
            by_id
                .entry(id)
                .or_insert_with(|| Netns {
                    id,
                    path: link,
                    name: None,
                    pids: Vec::new(),
                })
                .pids
                .push(pid);
        }
        let mut named: Vec<(String, PathBuf)> = fs::read_dir(run_netns)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| (e.file_name().to_string_lossy().into_owned(), e.path()))
            .filter(|(name, _)| !name.starts_with('.'))
            .collect();
        named.sort();
        for (name, path) in named {
            let Ok(id) = netns_of_file(&path) else {
                continue;
            };
            let ns = by_id.entry(id).or_insert_with(|| Netns {
                id,
                path: path.clone(),
                name: None,
                pids: Vec::new(),
            });
            if ns.name.is_none() {
                ns.name = Some(name);
                ns.path = path;
            }
        }
        by_id.into_values().collect()
    }

    /// The numeric entries of the proc root (thread-group ids), ascending.
    pub fn pids(&self) -> Vec<u32> {
        let mut pids: Vec<u32> = fs::read_dir(self.path())
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| e.file_name().to_str()?.parse().ok())
            .collect();
        pids.sort_unstable();
        pids
    }
}

/// The namespace a `/proc/PID/ns/net` link names: its target reads
/// `net:[INODE]`. Falls back to the inode of what it points at.
pub fn netns_of_link(link: &Path) -> io::Result<NetnsId> {
    match fs::read_link(link) {
        Ok(target) => parse_ns_link(&target.to_string_lossy())
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "not a net:[N] link")),
        Err(_) => netns_of_file(link),
    }
}

/// The namespace an nsfs file names (a `/run/netns/NAME` bind mount or an
/// open `/proc/PID/ns/net`): its inode.
pub fn netns_of_file(path: &Path) -> io::Result<NetnsId> {
    Ok(NetnsId(fs::metadata(path)?.ino()))
}

/// `net:[4026531840]` → 4026531840.
pub fn parse_ns_link(target: &str) -> Option<NetnsId> {
    let inner = target.strip_prefix("net:[")?.strip_suffix(']')?;
    inner.parse().ok().map(NetnsId)
}

/// Moves the calling thread into the network namespace at `path`. Only for
/// threads that exist to do this (the change cannot be undone safely).
pub(crate) fn enter(path: &Path) -> io::Result<()> {
    let file = fs::File::open(path)?;
    rustix::thread::move_into_link_name_space(
        std::os::fd::AsFd::as_fd(&file),
        Some(rustix::thread::LinkNameSpaceType::Network),
    )
    .map_err(io::Error::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture() -> ProcRoot {
        ProcRoot::new(concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/fdscan/proc"))
    }

    #[test]
    fn parses_ns_links() {
        assert_eq!(parse_ns_link("net:[4026531840]"), Some(NetnsId(4026531840)));
        assert_eq!(parse_ns_link("mnt:[4026531840]"), None);
        assert_eq!(parse_ns_link("net:[x]"), None);
        assert_eq!(parse_ns_link("net:[12"), None);
    }

    #[test]
    fn groups_processes_by_namespace() {
        let run = Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/testdata/fdscan/no-run-netns"
        ));
        let all = fixture().list_netns(run);
        let ids: Vec<u64> = all.iter().map(|n| n.id.0).collect();
        assert_eq!(ids, vec![4026531833, 4026532177]);
        assert_eq!(all[0].pids, vec![100, 200]);
        assert!(all[0].path.ends_with("100/ns/net"));
        assert_eq!(all[1].pids, vec![300]);
        assert_eq!(all[1].name, None);
        assert_eq!(fixture().netns_of_pid(300), Some(NetnsId(4026532177)));
        assert_eq!(fixture().netns_of_pid(999), None);
    }

    #[test]
    fn named_namespaces_are_listed_with_their_path() {
        let dir = std::env::temp_dir().join(format!("netoproc-netns-test-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join("blue"), b"").unwrap();
        let all = fixture().list_netns(&dir);
        let blue = all
            .iter()
            .find(|n| n.name.as_deref() == Some("blue"))
            .unwrap();
        assert_eq!(blue.path, dir.join("blue"));
        assert!(blue.pids.is_empty());
        fs::remove_dir_all(&dir).unwrap();
    }
}
