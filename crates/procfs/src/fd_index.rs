//! Which processes hold a socket: an index from socket inode to owning pids,
//! built by reading the `<proc>/PID/fd/*` links (`socket:[12345]`) under the
//! injected proc root. It is rebuilt whole ([`FdIndex::rescan_all`]) or
//! just for the pids that changed ([`FdIndex::update_pids`], fed by proc
//! connector events): rescanned pids replace their old entries, exited ones
//! are dropped. It reads descriptor tables only, per thread group (threads
//! with their own descriptor table, which need `clone` without
//! `CLONE_FILES`, are not seen), and never touches sockets.

use std::collections::HashMap;
use std::fs;
use std::path::PathBuf;

use crate::ProcRoot;

/// Socket inode → pids, and pid → socket inodes.
#[derive(Debug, Default, Clone)]
pub struct FdIndex {
    owners: HashMap<u64, Vec<u32>>,
    sockets: HashMap<u32, Vec<u64>>,
}

/// What one scan read.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ScanStats {
    /// Processes whose descriptor table was read.
    pub processes: usize,
    /// Descriptors seen.
    pub fds: usize,
    /// Descriptors that were sockets.
    pub sockets: usize,
    /// Processes dropped: exited, or their table could not be read.
    pub dropped: usize,
}

impl ScanStats {
    fn add(&mut self, o: ScanStats) {
        self.processes += o.processes;
        self.fds += o.fds;
        self.sockets += o.sockets;
        self.dropped += o.dropped;
    }
}

impl FdIndex {
    /// An empty index: no process scanned yet.
    pub fn new() -> FdIndex {
        FdIndex::default()
    }

    /// A full index of every process under `proc`.
    pub fn scan(proc: &ProcRoot) -> (FdIndex, ScanStats) {
        let mut index = FdIndex::new();
        let stats = index.rescan_all(proc);
        (index, stats)
    }

    /// Replaces the whole index with a fresh scan.
    pub fn rescan_all(&mut self, proc: &ProcRoot) -> ScanStats {
        self.owners.clear();
        self.sockets.clear();
        let mut stats = ScanStats::default();
        for pid in proc.pids() {
            stats.add(self.scan_pid(proc, pid));
        }
        stats
    }

    /// Rescans just these pids: each replaces its entries, or is dropped
    /// when it has exited.
    pub fn update_pids(
        &mut self,
        proc: &ProcRoot,
        pids: impl IntoIterator<Item = u32>,
    ) -> ScanStats {
        let mut stats = ScanStats::default();
        for pid in pids {
            stats.add(self.scan_pid(proc, pid));
        }
        stats
    }

    /// Forgets a process (it exited).
    pub fn remove_pid(&mut self, pid: u32) -> bool {
        let Some(inodes) = self.sockets.remove(&pid) else {
            return false;
        };
        for inode in inodes {
            if let Some(pids) = self.owners.get_mut(&inode) {
                pids.retain(|&p| p != pid);
                if pids.is_empty() {
                    self.owners.remove(&inode);
                }
            }
        }
        true
    }

    /// Every socket inode some scanned process holds.
    pub fn inodes(&self) -> impl Iterator<Item = u64> + '_ {
        self.owners.keys().copied()
    }

    /// The processes holding the socket with this inode, ascending; empty
    /// when none is known.
    pub fn owners(&self, inode: u64) -> &[u32] {
        self.owners.get(&inode).map_or(&[], Vec::as_slice)
    }

    /// The socket inodes a process holds.
    pub fn sockets_of(&self, pid: u32) -> &[u64] {
        self.sockets.get(&pid).map_or(&[], Vec::as_slice)
    }

    /// Processes with at least one socket.
    pub fn process_count(&self) -> usize {
        self.sockets.len()
    }

    /// Distinct socket inodes known.
    pub fn socket_count(&self) -> usize {
        self.owners.len()
    }

    fn scan_pid(&mut self, proc: &ProcRoot, pid: u32) -> ScanStats {
        let had = self.remove_pid(pid);
        let mut stats = ScanStats::default();
        let mut dir: PathBuf = proc.path().join(pid.to_string());
        dir.push("fd");
        let Ok(entries) = fs::read_dir(&dir) else {
            stats.dropped = usize::from(had);
            return stats;
        };
        stats.processes = 1;
        let mut inodes = Vec::new();
        for entry in entries.flatten() {
            stats.fds += 1;
            // An fd closed between readdir and readlink is simply skipped.
            let Ok(target) = fs::read_link(entry.path()) else {
                continue;
            };
            if let Some(inode) = target.to_str().and_then(parse_socket_link) {
                inodes.push(inode);
            }
        }
        inodes.sort_unstable();
        inodes.dedup(); // dup()ed descriptors name one socket
        stats.sockets = inodes.len();
        for &inode in &inodes {
            let pids = self.owners.entry(inode).or_default();
            if let Err(at) = pids.binary_search(&pid) {
                pids.insert(at, pid);
            }
        }
        if !inodes.is_empty() {
            self.sockets.insert(pid, inodes);
        }
        stats
    }
}

/// `socket:[12345]` → 12345.
pub fn parse_socket_link(target: &str) -> Option<u64> {
    target
        .strip_prefix("socket:[")?
        .strip_suffix(']')?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture() -> ProcRoot {
        ProcRoot::new(concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/fdscan/proc"))
    }

    #[test]
    fn parses_socket_links_only() {
        assert_eq!(parse_socket_link("socket:[12345]"), Some(12345));
        assert_eq!(parse_socket_link("pipe:[12345]"), None);
        assert_eq!(parse_socket_link("/dev/null"), None);
        assert_eq!(parse_socket_link("socket:[]"), None);
        assert_eq!(parse_socket_link("socket:[1"), None);
    }

    #[test]
    fn full_scan_of_fixture() {
        let (index, stats) = FdIndex::scan(&fixture());
        assert_eq!(stats.processes, 3);
        assert_eq!(index.process_count(), 3);
        assert!(stats.fds > stats.sockets);
        // The fixture's expectations are listed in testdata/fdscan/README.
        for (inode, pids) in crate::fd_index::tests::expected() {
            assert_eq!(index.owners(inode), pids.as_slice(), "inode {inode}");
        }
        assert_eq!(index.owners(1), &[] as &[u32]);
    }

    #[test]
    fn incremental_update_drops_exited_and_rescans() {
        let (mut index, _) = FdIndex::scan(&fixture());
        let before = index.clone();
        // 999 never existed, 300 is rescanned unchanged.
        let stats = index.update_pids(&fixture(), [300, 999]);
        assert_eq!(stats.processes, 1);
        assert_eq!(stats.dropped, 0);
        for (inode, pids) in expected() {
            assert_eq!(index.owners(inode), pids.as_slice());
        }
        // A pid that is in the index but gone from /proc is dropped.
        index.sockets.insert(4242, vec![77]);
        index.owners.insert(77, vec![4242]);
        let stats = index.update_pids(&fixture(), [4242]);
        assert_eq!(stats.dropped, 1);
        assert!(index.owners(77).is_empty());
        assert_eq!(index.socket_count(), before.socket_count());
        assert!(index.remove_pid(300));
        assert!(!index.remove_pid(300));
        assert!(index.sockets_of(300).is_empty());
    }

    /// Inode → owners in `testdata/fdscan/proc`.
    pub(crate) fn expected() -> Vec<(u64, Vec<u32>)> {
        FIXTURE_SOCKETS
            .iter()
            .map(|(i, p)| (*i, p.to_vec()))
            .collect()
    }

    const FIXTURE_SOCKETS: &[(u64, &[u32])] = &[
        (140124, &[100, 200]),
        (140125, &[100, 200]),
        (141074, &[200]),
        (141069, &[300]),
    ];
}
