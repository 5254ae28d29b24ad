//! cgroup v2 ids back to paths. The kernel names a socket owner's cgroup
//! by its id (`bpf_get_current_cgroup_id`), which on cgroup v2 is the inode
//! number of the group's directory in the cgroup2 filesystem; walking that
//! filesystem maps ids to paths. So a process that exited before `/proc`
//! was read still has a cgroup path, and with it its container or service,
//! as long as its group exists.
//!
//! Bounded: at most [`MAX_GROUPS`] directories, [`MAX_DEPTH`] levels deep,
//! and a fresh walk at most once per [`CgroupIds::refresh`] call the caller
//! makes (a miss does not walk again until then). Symlinks are not
//! followed (cgroupfs has none; a bind mount of something else would
//! have).

use std::collections::HashMap;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// Directories indexed per walk.
pub const MAX_GROUPS: usize = 65_536;
/// Levels below the mount walked.
pub const MAX_DEPTH: usize = 32;

/// The cgroup2 mount and its index of ids.
#[derive(Debug, Default)]
pub struct CgroupIds {
    /// The mount point, and the hierarchy path it shows (`/` unless
    /// mounted from inside a cgroup namespace).
    mount: Option<(PathBuf, String)>,
    paths: HashMap<u64, String>,
    /// Whether a walk is allowed at the next miss.
    may_walk: bool,
}

impl CgroupIds {
    /// The cgroup2 mount named in `mountinfo` (the text of
    /// `/proc/self/mountinfo`); `None` inside: no cgroup2 mount.
    pub fn from_mountinfo(mountinfo: &str) -> Self {
        CgroupIds {
            mount: cgroup2_mount(mountinfo),
            paths: HashMap::new(),
            may_walk: true,
        }
    }

    /// Allows one more walk at the next miss.
    pub fn refresh(&mut self) {
        self.may_walk = true;
    }

    /// The path of cgroup `id`, as `/proc/PID/cgroup` shows it.
    pub fn path(&mut self, id: u64) -> Option<String> {
        if id == 0 {
            return None;
        }
        if let Some(p) = self.paths.get(&id) {
            return Some(p.clone());
        }
        if !self.may_walk {
            return None;
        }
        self.may_walk = false;
        let (dir, shown) = self.mount.clone()?;
        self.paths.clear();
        let base = shown.trim_end_matches('/').to_string();
        walk(&dir, &base, 0, &mut self.paths);
        self.paths.get(&id).cloned()
    }
}

fn walk(dir: &Path, shown: &str, depth: usize, out: &mut HashMap<u64, String>) {
    if out.len() >= MAX_GROUPS {
        return;
    }
    let Ok(meta) = fs::symlink_metadata(dir) else {
        return;
    };
    if !meta.is_dir() {
        return;
    }
    out.insert(
        meta.ino(),
        if shown.is_empty() {
            "/".into()
        } else {
            shown.to_string()
        },
    );
    if depth >= MAX_DEPTH {
        return;
    }
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        if e.file_type().is_ok_and(|t| t.is_dir()) {
            let name = e.file_name();
            let name = name.to_string_lossy();
            walk(&e.path(), &format!("{shown}/{name}"), depth + 1, out);
        }
    }
}

pub use netoproc_core::mountinfo::cgroup2_mount;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_cgroup2_mount_on_unified_and_hybrid_hosts() {
        let unified = "29 23 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot\n";
        assert_eq!(
            cgroup2_mount(unified),
            Some((PathBuf::from("/sys/fs/cgroup"), "/".into()))
        );
        let hybrid = "30 25 0:27 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu\n\
                      38 25 0:35 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n";
        assert_eq!(
            cgroup2_mount(hybrid),
            Some((PathBuf::from("/sys/fs/cgroup/unified"), "/".into()))
        );
        let odd = "38 25 0:35 /a\\040b /mnt/c\\134g rw - cgroup2 cgroup2 rw\n";
        assert_eq!(
            cgroup2_mount(odd),
            Some((PathBuf::from("/mnt/c\\g"), "/a b".into()))
        );
        assert_eq!(cgroup2_mount("garbage\n - \n"), None);
    }

    #[test]
    fn ids_are_directory_inodes_and_misses_walk_once_per_refresh() {
        let tmp = std::env::temp_dir().join(format!("np-cgids-{}", std::process::id()));
        let leaf = tmp.join("system.slice/nginx.service");
        fs::create_dir_all(&leaf).unwrap();
        let mountinfo = format!("1 1 0:1 / {} rw - cgroup2 cgroup2 rw\n", tmp.display());
        let mut ids = CgroupIds::from_mountinfo(&mountinfo);
        let ino = fs::metadata(&leaf).unwrap().ino();
        assert_eq!(
            ids.path(ino).as_deref(),
            Some("/system.slice/nginx.service")
        );
        let later = tmp.join("machine.slice");
        fs::create_dir_all(&later).unwrap();
        let ino2 = fs::metadata(&later).unwrap().ino();
        // The index predates it; no walk until refreshed.
        assert_eq!(ids.path(ino2), None);
        ids.refresh();
        assert_eq!(ids.path(ino2).as_deref(), Some("/machine.slice"));
        assert_eq!(ids.path(0), None);
        fs::remove_dir_all(&tmp).unwrap();
    }
}
