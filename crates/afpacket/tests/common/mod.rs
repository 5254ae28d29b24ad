//! Test scaffolding: throwaway network namespaces (deleted on drop, panics
//! included), running code inside one, the root check, and draining a ring
//! into parsed records.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use netoproc_afpacket::{Direction, Ring};
use netoproc_wire::{parse_frame, PacketSummary, WireError};

/// True when running as root. Otherwise prints why the test is skipped,
/// or fails when `CI=true` (CI must run these tests).
pub fn have_root(test: &str) -> bool {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        return true;
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "{test} needs root, and CI=true forbids skipping it"
    );
    eprintln!("skipping {test}: needs root (CAP_NET_RAW, CAP_SYS_ADMIN)");
    false
}

pub fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().expect("run ip(8)");
    assert!(
        out.status.success(),
        "ip {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A named network namespace with `lo` up, deleted on drop.
pub struct Netns {
    pub name: String,
}

impl Netns {
    pub fn new(tag: &str) -> Netns {
        let name = format!("npafp-{tag}-{}", std::process::id());
        let _ = Command::new("ip").args(["netns", "del", &name]).output();
        ip(&["netns", "add", &name]);
        let ns = Netns { name };
        ip(&["-n", &ns.name, "link", "set", "lo", "up"]);
        ns
    }

    pub fn path(&self) -> PathBuf {
        Path::new("/run/netns").join(&self.name)
    }

    /// Runs `f` on a thread inside this namespace.
    pub fn run<T: Send>(&self, f: impl FnOnce() -> T + Send) -> T {
        let path = self.path();
        std::thread::scope(|s| {
            s.spawn(|| {
                let ns = std::fs::File::open(&path).expect("open netns");
                use std::os::fd::AsRawFd;
                // SAFETY: valid namespace fd; affects only this thread.
                let rc = unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) };
                assert_eq!(rc, 0, "setns: {}", std::io::Error::last_os_error());
                f()
            })
            .join()
            .expect("thread in netns panicked")
        })
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .output();
    }
}

/// One captured packet, parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Seen {
    pub direction: Direction,
    pub ifindex: u32,
    pub orig_len: u32,
    pub captured: usize,
    pub summary: Result<PacketSummary, WireError>,
}

/// Polls `ring` until it stays quiet for `quiet` (longer than the block
/// timeout), parsing every packet.
pub fn drain(ring: &mut Ring, quiet: Duration) -> Vec<Seen> {
    let mut seen = Vec::new();
    let mut last = Instant::now();
    while last.elapsed() < quiet {
        let n = ring
            .poll(Duration::from_millis(20), |p| {
                let link = p.link.expect("parsed link type");
                seen.push(Seen {
                    direction: p.direction,
                    ifindex: p.ifindex,
                    orig_len: p.orig_len,
                    captured: p.data.len(),
                    summary: parse_frame(link, p.data, p.orig_len),
                });
            })
            .expect("poll");
        if n > 0 {
            last = Instant::now();
        }
    }
    seen
}
