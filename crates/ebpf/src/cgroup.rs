//! Finding the cgroup v2 hierarchy to attach the cgroup programs to. Its
//! mount point differs between hosts (`/sys/fs/cgroup` on pure v2 systems,
//! `/sys/fs/cgroup/unified` on hybrid ones), so it is read from mountinfo,
//! never assumed. Where none is visible (a cgroup v1-only host, `ip netns
//! exec`, which mounts a fresh /sys), the v2 root still exists and still
//! covers every process: [`mount_private_cgroup2`] mounts it where only
//! netoproc sees it.

use std::ffi::CString;
use std::fs::File;
use std::io;
use std::path::PathBuf;

/// The mount point of the first cgroup2 filesystem mounted at the root of
/// its hierarchy, from the text of `/proc/self/mountinfo`.
pub fn cgroup2_mount(mountinfo: &str) -> Option<PathBuf> {
    netoproc_core::mountinfo::mounts(mountinfo)
        .find(|m| m.fstype == "cgroup2" && m.root == "/")
        .map(|m| m.mount_point)
}

/// Mounts the cgroup v2 hierarchy in a mount namespace of a thread's own
/// and opens its root: the mount is visible to no other process, changes
/// nothing on the host, and lives as long as the returned directory is open
/// (cgroup programs attach through it). Needs `CAP_SYS_ADMIN`.
pub fn mount_private_cgroup2() -> io::Result<File> {
    mount_private(c"cgroup2", &["/sys/fs/cgroup", "/mnt", "/tmp"])
}

/// Mounts a filesystem of type `fstype` (one without a device: cgroup2,
/// tracefs) on the first existing directory of `at`, in a mount namespace
/// of a thread's own, and opens it; see [`mount_private_cgroup2`]. Files
/// under it are reached through the returned directory (`openat`, or
/// `/proc/self/fd/N/…`), which keeps the mount alive.
pub fn mount_private(fstype: &std::ffi::CStr, at: &[&str]) -> io::Result<File> {
    std::thread::scope(|s| {
        s.spawn(|| -> io::Result<File> {
            // SAFETY: unshare and mount with valid NUL-terminated strings;
            // CLONE_NEWNS applies to this thread alone, which ends here.
            unsafe {
                if libc::unshare(libc::CLONE_NEWNS) != 0 {
                    return Err(io::Error::last_os_error());
                }
                let root = c"/";
                // Nothing mounted from here on may propagate to the host.
                if libc::mount(
                    std::ptr::null(),
                    root.as_ptr(),
                    std::ptr::null(),
                    libc::MS_REC | libc::MS_PRIVATE,
                    std::ptr::null(),
                ) != 0
                {
                    return Err(io::Error::last_os_error());
                }
                // Any existing directory will do: the mount covers it only
                // in this namespace.
                let at = at
                    .iter()
                    .copied()
                    .find(|d| std::path::Path::new(d).is_dir())
                    .ok_or_else(|| io::Error::other("no directory to mount on"))?;
                let at_c = CString::new(at).map_err(io::Error::other)?;
                if libc::mount(
                    fstype.as_ptr(),
                    at_c.as_ptr(),
                    fstype.as_ptr(),
                    libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
                    std::ptr::null(),
                ) != 0
                {
                    return Err(io::Error::last_os_error());
                }
                File::open(at)
            }
        })
        .join()
        .unwrap_or_else(|_| Err(io::Error::other("the mounting thread panicked")))
    })
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
