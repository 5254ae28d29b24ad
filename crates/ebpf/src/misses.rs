//! Runs of our tracing programs the kernel skipped. A tracing program
//! (tp_btf, fentry, kprobe) does not run on a CPU where it is already
//! running — a run preempted in process context, or interrupted by a
//! softirq that hits the same hook — and the kernel counts each skipped run
//! per program as `recursion_misses` (Linux 5.12+), shown in the program
//! fd's `fdinfo`. aya 0.14 keeps `bpf_prog_info` private, so the count is
//! read from `/proc/self/fdinfo/<fd>` (a few lines per program).

use std::os::fd::{AsFd, AsRawFd};
use std::path::{Path, PathBuf};

use aya::Ebpf;

/// Where the fdinfo files of this process's descriptors are:
/// `<proc>/self/fdinfo`, next to the `mountinfo` the backend was given.
pub(crate) fn fdinfo_dir(mountinfo: &Path) -> PathBuf {
    mountinfo
        .parent()
        .unwrap_or_else(|| Path::new("/proc/self"))
        .join("fdinfo")
}

/// The `recursion_misses:` value of one fdinfo text; `None` on kernels
/// that do not report it.
pub(crate) fn parse_recursion_misses(fdinfo: &str) -> Option<u64> {
    fdinfo.lines().find_map(|l| {
        l.strip_prefix("recursion_misses:")
            .and_then(|v| v.trim().parse().ok())
    })
}

/// Skipped runs per loaded program that has any, by program name.
pub(crate) fn program_misses(ebpf: &Ebpf, fdinfo: &Path) -> Vec<(String, u64)> {
    let mut out = Vec::new();
    for (name, prog) in ebpf.programs() {
        let Ok(fd) = prog.fd() else { continue };
        let raw = fd.as_fd().as_raw_fd();
        let Ok(text) = std::fs::read_to_string(fdinfo.join(raw.to_string())) else {
            continue;
        };
        if let Some(n) = parse_recursion_misses(&text).filter(|&n| n > 0) {
            out.push((name.to_string(), n));
        }
    }
    out
}

#[cfg(test)]
#[path = "misses_tests.rs"]
mod tests;
