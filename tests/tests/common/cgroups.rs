//! cgroup v2 groups the tests make with a container runtime's path layout
//! (`system.slice/docker-<id>.scope`, `kubepods.slice/…/cri-containerd-<id>.scope`,
//! `machine.slice/libpod-<id>.scope`, `system.slice/<name>.service`) and
//! always remove: [`Cgroup`] creates the directories it needs under the
//! cgroup2 mount (found in `/proc/self/mountinfo`: `/sys/fs/cgroup` on a
//! unified host, `/sys/fs/cgroup/unified` on a hybrid one) and on Drop moves
//! any process left to the root group and removes, innermost first, only
//! the directories it created. [`Cgroup::wrap`] starts a command already in
//! the group: the shell writes its own pid to `cgroup.procs` before it
//! execs, so no byte is sent from outside it, and the write happens before
//! `ip netns exec` remounts `/sys`.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

/// The mount point of the cgroup2 hierarchy, and the hierarchy path it
/// shows (`/` unless this runs inside a cgroup namespace's subtree).
pub fn cgroup2_mount() -> (PathBuf, String) {
    let info = fs::read_to_string("/proc/self/mountinfo").expect("/proc/self/mountinfo");
    for line in info.lines() {
        let (pre, post) = line.split_once(" - ").unwrap_or((line, ""));
        if post.split_whitespace().next() != Some("cgroup2") {
            continue;
        }
        let f: Vec<&str> = pre.split_whitespace().collect();
        if f.len() >= 5 {
            return (PathBuf::from(f[4]), f[3].to_string());
        }
    }
    panic!("no cgroup2 hierarchy is mounted (mount -t cgroup2 none /sys/fs/cgroup)");
}

static SEQ: AtomicU64 = AtomicU64::new(0);

/// Directories any [`Cgroup`] of this process made and not yet removed:
/// groups share parents (`system.slice`), which go with the last of them.
static MADE: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

/// 64 lowercase hex digits unique to this test process and call: a
/// container id no real container has.
pub fn fake_id(salt: &str) -> String {
    let seq = SEQ.fetch_add(1, Ordering::Relaxed);
    let seed = format!("{salt}-{}-{seq}", std::process::id());
    // FNV-1a over the seed, stretched to 256 bits.
    let mut out = String::new();
    for round in 0u64..4 {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ round;
        for b in seed.bytes() {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x100_0000_01b3);
        }
        out.push_str(&format!("{h:016x}"));
    }
    out
}

/// A pod UID (8-4-4-4-12 hex) from [`fake_id`].
pub fn fake_uuid(salt: &str) -> String {
    let h = fake_id(salt);
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

#[derive(Debug)]
pub struct Cgroup {
    /// The group's directory.
    pub dir: PathBuf,
    /// Its path as `/proc/PID/cgroup` shows it.
    pub path: String,
    root: PathBuf,
    /// Directories this made, outermost first.
    created: Vec<PathBuf>,
}

impl Cgroup {
    /// Makes `rel` (e.g. `system.slice/docker-<id>.scope`) under the
    /// cgroup2 mount.
    pub fn new(rel: &str) -> Cgroup {
        let (root, shown) = cgroup2_mount();
        let mut created = Vec::new();
        let mut dir = root.clone();
        for part in rel.split('/') {
            dir.push(part);
            match fs::create_dir(&dir) {
                Ok(()) => created.push(dir.clone()),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(e) => panic!("cannot create cgroup {}: {e}", dir.display()),
            }
        }
        // Parents made here are shared with later groups (and removed with
        // the last); the group's own directory is its own.
        let parents = created.iter().filter(|d| **d != dir).cloned();
        MADE.lock().unwrap().extend(parents);
        let path = format!("{}/{rel}", shown.trim_end_matches('/'));
        Cgroup {
            dir,
            path,
            root,
            created,
        }
    }

    /// `program args…` as a command that first joins this group.
    pub fn wrap(&self, program: &Path, args: &[String]) -> (PathBuf, Vec<String>) {
        let procs = self.dir.join("cgroup.procs");
        let mut a = vec![
            "-c".to_string(),
            r#"p=$1; shift; echo $$ > "$p" && exec "$@""#.to_string(),
            "sh".to_string(),
            procs.display().to_string(),
            program.display().to_string(),
        ];
        a.extend(args.iter().cloned());
        (PathBuf::from("/bin/sh"), a)
    }
}

impl Drop for Cgroup {
    fn drop(&mut self) {
        // Anything still inside (a generator killed a moment ago may not be
        // reaped yet) goes to the root group, so the directory can go.
        let root_procs = self.root.join("cgroup.procs");
        for _ in 0..50 {
            let left = fs::read_to_string(self.dir.join("cgroup.procs")).unwrap_or_default();
            if left.trim().is_empty() {
                break;
            }
            for pid in left.lines() {
                let _ = fs::write(&root_procs, pid);
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        // Its own group, then every made parent left empty (innermost
        // first); a parent a sibling still uses goes with that sibling.
        let mut made = MADE.lock().unwrap();
        if self.created.contains(&self.dir) {
            if let Err(e) = fs::remove_dir(&self.dir) {
                eprintln!(
                    "warning: could not remove cgroup {}: {e}",
                    self.dir.display()
                );
            }
        }
        let mut parents: Vec<PathBuf> = made.clone();
        parents.sort_by_key(|d| std::cmp::Reverse(d.components().count()));
        for dir in parents {
            if fs::remove_dir(&dir).is_ok() {
                made.retain(|d| d != &dir);
            }
        }
        self.created.clear();
    }
}
