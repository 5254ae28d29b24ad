//! Test scaffolding: throwaway network namespaces and the root check (from
//! `netoproc-testkit`), and draining a ring into parsed records.

#![allow(dead_code)]

use std::time::{Duration, Instant};

use netoproc_afpacket::{Direction, Ring};
use netoproc_wire::{parse_frame, PacketSummary, WireError};

// Each test binary uses only some of them.
#[allow(unused_imports)]
pub use netoproc_testkit::netns::{ip, Netns};

/// True when running as root. Otherwise prints why the test is skipped,
/// or fails when `CI=true` (CI must run these tests).
pub fn have_root(test: &str) -> bool {
    netoproc_testkit::root_or_skip(test, "root (CAP_NET_RAW, CAP_SYS_ADMIN)")
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
