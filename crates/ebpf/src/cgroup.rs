//! Finding the cgroup v2 hierarchy to attach the cgroup programs to. Its
//! mount point differs between hosts (`/sys/fs/cgroup` on pure v2 systems,
//! `/sys/fs/cgroup/unified` on hybrid ones), so it is read from mountinfo,
//! never assumed.

use std::path::PathBuf;

/// The mount point of the first cgroup2 filesystem mounted at the root of
/// its hierarchy, from the text of `/proc/self/mountinfo`.
pub fn cgroup2_mount(mountinfo: &str) -> Option<PathBuf> {
    mountinfo.lines().find_map(|line| {
        // Fields: id parent major:minor root mount-point options... - fstype source super-options
        let (pre, post) = line.split_once(" - ")?;
        let fstype = post.split_whitespace().next()?;
        let mut pre = pre.split_whitespace();
        let root = pre.nth(3)?;
        let mount_point = pre.next()?;
        (fstype == "cgroup2" && root == "/").then(|| PathBuf::from(unescape(mount_point)))
    })
}

/// mountinfo escapes space, tab, newline and backslash as octal `\NNN`.
fn unescape(s: &str) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hybrid_host_uses_unified() {
        let text = include_str!("../testdata/mountinfo-hybrid.txt");
        assert_eq!(
            cgroup2_mount(text),
            Some(PathBuf::from("/sys/fs/cgroup/unified"))
        );
    }

    #[test]
    fn pure_v2_and_missing() {
        let v2 = "30 23 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate\n";
        assert_eq!(cgroup2_mount(v2), Some(PathBuf::from("/sys/fs/cgroup")));
        let none = "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n";
        assert_eq!(cgroup2_mount(none), None);
        // A cgroup2 bind mount of a sub-cgroup (container view) is not the root.
        let sub = "40 23 0:26 /docker/abc /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n";
        assert_eq!(cgroup2_mount(sub), None);
        assert_eq!(cgroup2_mount("garbage\n\n - \n"), None);
    }

    #[test]
    fn escaped_mount_point() {
        let s = "30 23 0:26 / /mnt/my\\040cg rw - cgroup2 cgroup2 rw\n";
        assert_eq!(cgroup2_mount(s), Some(PathBuf::from("/mnt/my cg")));
    }
}
