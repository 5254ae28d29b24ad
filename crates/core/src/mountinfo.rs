//! `/proc/PID/mountinfo`, parsed (no I/O): each line's root, mount point
//! and filesystem type, with the kernel's octal escapes (`\040` for a
//! space, `\011`, `\012`, `\134`) undone. Both the eBPF backend (where to
//! attach cgroup programs) and `/proc` readers (where cgroup ids map back
//! to paths) look for the cgroup v2 mount here: `/sys/fs/cgroup` on a
//! unified host, `/sys/fs/cgroup/unified` on a hybrid one.

use std::path::PathBuf;

/// One mount of a mountinfo text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    /// The directory of the filesystem that is mounted (`/` for a whole
    /// hierarchy; a subdirectory for a bind or a namespaced cgroup mount).
    pub root: String,
    /// Where it is mounted.
    pub mount_point: PathBuf,
    /// The filesystem type (`cgroup2`, `tracefs`, `ext4`, ...).
    pub fstype: String,
}

/// Every well-formed line of `text`; malformed lines are skipped.
pub fn mounts(text: &str) -> impl Iterator<Item = Mount> + '_ {
    text.lines().filter_map(|line| {
        // Fields: id parent major:minor root mount-point options... - fstype source super-options
        let (pre, post) = line.split_once(" - ")?;
        let fstype = post.split_whitespace().next()?;
        let mut pre = pre.split_whitespace();
        let root = pre.nth(3)?;
        let mount_point = pre.next()?;
        Some(Mount {
            root: unescape_octal(root),
            mount_point: PathBuf::from(unescape_octal(mount_point)),
            fstype: fstype.to_string(),
        })
    })
}

/// The first cgroup2 mount of `text`: its mount point and root.
pub fn cgroup2_mount(text: &str) -> Option<(PathBuf, String)> {
    mounts(text)
        .find(|m| m.fstype == "cgroup2")
        .map(|m| (m.mount_point, m.root))
}

/// mountinfo writes space, tab, newline and backslash as `\ooo`.
pub fn unescape_octal(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            out.push((b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0'));
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}
