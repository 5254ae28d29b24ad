//! The system facts `netoproc doctor` reports, each read from an injected
//! `/proc` and `/sys` root so they are tested on fixtures: kernel version,
//! BTF, lockdown, BPF sysctls, capabilities, mounted filesystems, kprobe
//! support. Each check says what it found and, when it fails, what fixes it.

use std::fs;
use std::path::Path;

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Ok,
    Warn,
    Fail,
    Info,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    pub name: &'static str,
    pub verdict: Verdict,
    pub found: String,
    /// What to do about it; `None` when nothing needs doing.
    pub fix: Option<String>,
}

fn check(
    name: &'static str,
    verdict: Verdict,
    found: impl Into<String>,
    fix: Option<String>,
) -> Check {
    Check {
        name,
        verdict,
        found: found.into(),
        fix,
    }
}

/// Capability bits netoproc cares about (linux/capability.h).
pub const CAP_DAC_READ_SEARCH: u32 = 2;
pub const CAP_NET_ADMIN: u32 = 12;
pub const CAP_NET_RAW: u32 = 13;
pub const CAP_SYS_PTRACE: u32 = 19;
pub const CAP_SYS_ADMIN: u32 = 21;
pub const CAP_PERFMON: u32 = 38;
pub const CAP_BPF: u32 = 39;

pub fn cap_name(cap: u32) -> &'static str {
    match cap {
        CAP_DAC_READ_SEARCH => "cap_dac_read_search",
        CAP_NET_ADMIN => "cap_net_admin",
        CAP_NET_RAW => "cap_net_raw",
        CAP_SYS_PTRACE => "cap_sys_ptrace",
        CAP_SYS_ADMIN => "cap_sys_admin",
        CAP_PERFMON => "cap_perfmon",
        CAP_BPF => "cap_bpf",
        _ => "cap_?",
    }
}

/// `major.minor` of a release string like `6.1.0-26-amd64`.
pub fn kernel_version(release: &str) -> Option<(u32, u32)> {
    let mut it = release.split(|c: char| !c.is_ascii_digit());
    Some((it.next()?.parse().ok()?, it.next()?.parse().ok()?))
}

pub fn kernel(proc_root: &Path) -> (Check, Option<(u32, u32)>) {
    let release = fs::read_to_string(proc_root.join("sys/kernel/osrelease")).unwrap_or_default();
    let release = release.trim();
    let v = kernel_version(release);
    let c = match v {
        Some(v) if v >= (6, 3) => check(
            "kernel",
            Verdict::Ok,
            format!("{release} (sock tracepoints: 6.3+)"),
            None,
        ),
        Some(v) if v >= (5, 8) => check(
            "kernel",
            Verdict::Ok,
            format!("{release} (no sock tracepoints before 6.3: fentry or kprobe rung)"),
            None,
        ),
        Some(_) => check(
            "kernel",
            Verdict::Fail,
            format!("{release}: eBPF capture needs Linux 5.8+"),
            Some("upgrade the kernel, or use --capture-mode=afpacket".into()),
        ),
        None => check(
            "kernel",
            Verdict::Warn,
            format!("cannot read the kernel release ({release:?})"),
            None,
        ),
    };
    (c, v)
}

pub fn btf(sys_root: &Path) -> Check {
    let p = sys_root.join("kernel/btf/vmlinux");
    if p.exists() {
        check("btf", Verdict::Ok, p.display().to_string(), None)
    } else {
        check(
            "btf",
            Verdict::Fail,
            format!("{} is missing", p.display()),
            Some("eBPF capture needs a kernel built with CONFIG_DEBUG_INFO_BTF=y; use --capture-mode=afpacket".into()),
        )
    }
}

/// The active lockdown mode: `none`, `integrity`, `confidentiality`, or
/// `None` when securityfs does not show it.
pub fn lockdown_mode(sys_root: &Path) -> Option<String> {
    let text = fs::read_to_string(sys_root.join("kernel/security/lockdown")).ok()?;
    text.split_whitespace()
        .find(|w| w.starts_with('['))
        .map(|w| w.trim_matches(|c| c == '[' || c == ']').to_string())
}

pub fn lockdown(sys_root: &Path) -> Check {
    match lockdown_mode(sys_root).as_deref() {
        Some("none") => check("lockdown", Verdict::Ok, "none", None),
        Some(mode) => check(
            "lockdown",
            Verdict::Warn,
            format!("{mode}: fentry/fexit and kprobe-style helpers may be refused even to root"),
            Some(
                "netoproc falls back to other rungs; to allow fentry boot with lockdown=none"
                    .into(),
            ),
        ),
        None => check(
            "lockdown",
            Verdict::Info,
            "unknown (securityfs not mounted)",
            Some("mount -t securityfs securityfs /sys/kernel/security".into()),
        ),
    }
}

pub fn sysctl(proc_root: &Path, name: &'static str, rel: &str) -> Check {
    match fs::read_to_string(proc_root.join(rel)) {
        Ok(v) => check(name, Verdict::Info, v.trim().to_string(), None),
        Err(_) => check(name, Verdict::Info, "unavailable", None),
    }
}

/// Effective capability set from `/proc/self/status`.
pub fn effective_caps(proc_root: &Path) -> u64 {
    caps_line(proc_root, "CapEff:")
}

/// Permitted capability set from `/proc/self/status`.
pub fn permitted_caps(proc_root: &Path) -> u64 {
    caps_line(proc_root, "CapPrm:")
}

fn caps_line(proc_root: &Path, prefix: &str) -> u64 {
    fs::read_to_string(proc_root.join("self/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix(prefix))
                .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        })
        .unwrap_or(0)
}

pub fn has_cap(caps: u64, cap: u32) -> bool {
    caps & (1u64 << cap) != 0
}

/// Which of `needed` the effective set lacks.
pub fn missing_caps(caps: u64, needed: &[u32]) -> Vec<&'static str> {
    needed
        .iter()
        .filter(|&&c| !has_cap(caps, c))
        .map(|&c| cap_name(c))
        .collect()
}

pub fn capabilities(caps: u64, mode: &'static str, needed: &[u32], alt: Option<&[u32]>) -> Check {
    let missing = missing_caps(caps, needed);
    let alt_ok = alt.is_some_and(|a| missing_caps(caps, a).is_empty());
    if missing.is_empty() || alt_ok {
        check(mode, Verdict::Ok, "held", None)
    } else {
        let all: Vec<&str> = needed.iter().map(|&c| cap_name(c)).collect();
        check(
            mode,
            Verdict::Fail,
            format!("missing {}", missing.join(", ")),
            Some(format!(
                "run as root, or: sudo setcap {}+ep $(command -v netoproc) (see scripts/install-linux.sh)",
                all.join(",")
            )),
        )
    }
}

/// Whether a filesystem of `fstype` is mounted, from mountinfo text.
pub fn mounted(mountinfo: &str, fstype: &str) -> Option<String> {
    mountinfo.lines().find_map(|l| {
        let (pre, post) = l.split_once(" - ")?;
        (post.split_whitespace().next()? == fstype)
            .then(|| pre.split_whitespace().nth(4).unwrap_or("").to_string())
    })
}

pub fn filesystem(
    mountinfo: &str,
    name: &'static str,
    fstype: &str,
    needed_for: &str,
    fix: &str,
) -> Check {
    match mounted(mountinfo, fstype) {
        Some(at) => check(name, Verdict::Ok, format!("mounted at {at}"), None),
        None => check(
            name,
            Verdict::Warn,
            format!("not mounted ({needed_for})"),
            Some(fix.to_string()),
        ),
    }
}

pub fn kprobes(sys_root: &Path) -> Check {
    if sys_root.join("bus/event_source/devices/kprobe").exists() {
        check("kprobes", Verdict::Ok, "available", None)
    } else {
        check(
            "kprobes",
            Verdict::Info,
            "not available (CONFIG_KPROBES is not set): the kprobe rung cannot run here",
            None,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions() {
        assert_eq!(kernel_version("6.1.0-26-amd64"), Some((6, 1)));
        assert_eq!(kernel_version("6.18.44-fc-v669"), Some((6, 18)));
        assert_eq!(kernel_version("5.14.0-362.el9.x86_64"), Some((5, 14)));
        assert_eq!(kernel_version("garbage"), None);
    }

    #[test]
    fn capability_sets() {
        let root = u64::MAX >> 23; // CapEff of root on a 6.x kernel: 0x1ffffffffff
        assert!(missing_caps(root, &[CAP_BPF, CAP_PERFMON, CAP_NET_ADMIN]).is_empty());
        let only_raw = 1u64 << CAP_NET_RAW;
        assert_eq!(
            missing_caps(only_raw, &[CAP_BPF, CAP_NET_RAW]),
            vec!["cap_bpf"]
        );
        let c = capabilities(
            only_raw,
            "ebpf",
            &[CAP_BPF, CAP_PERFMON],
            Some(&[CAP_SYS_ADMIN]),
        );
        assert_eq!(c.verdict, Verdict::Fail);
        assert!(c.fix.unwrap().contains("setcap cap_bpf,cap_perfmon+ep"));
        let admin = 1u64 << CAP_SYS_ADMIN;
        assert_eq!(
            capabilities(admin, "ebpf", &[CAP_BPF], Some(&[CAP_SYS_ADMIN])).verdict,
            Verdict::Ok
        );
    }

    #[test]
    fn mounts() {
        let mi = "41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n\
                  22 20 0:20 / /sys/fs/bpf rw - bpf bpf rw\n";
        assert_eq!(mounted(mi, "bpf"), Some("/sys/fs/bpf".into()));
        assert_eq!(mounted(mi, "tracefs"), None);
        assert_eq!(
            filesystem(mi, "tracefs", "tracefs", "x", "mount").verdict,
            Verdict::Warn
        );
    }

    #[test]
    fn lockdown_parsing() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("kernel/security")).unwrap();
        std::fs::write(
            dir.path().join("kernel/security/lockdown"),
            "none [integrity] confidentiality\n",
        )
        .unwrap();
        assert_eq!(lockdown_mode(dir.path()).as_deref(), Some("integrity"));
        assert_eq!(lockdown(dir.path()).verdict, Verdict::Warn);
        assert_eq!(lockdown(Path::new("/nonexistent")).verdict, Verdict::Info);
    }
}
