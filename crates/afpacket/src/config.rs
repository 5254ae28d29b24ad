//! Ring options and their translation into the kernel's `tpacket_req3`.
//! Pure: validation happens here so a bad option is reported before any
//! socket exists.

use std::time::Duration;

use crate::RingError;

const MIB: u64 = 1 << 20;
const PAGE_SIZE: u32 = 4096;
/// Headers (at most 118 bytes: Ethernet, IPv6, TCP with options) plus a
/// 1232-byte DNS message, the EDNS size recommended since DNS Flag Day
/// 2020, with room to spare.
pub const DNS_SNAP_LEN: u32 = 1536;
/// DNS ports one filter checks, at most: the same for every backend.
pub use netoproc_core::backend::MAX_DNS_PORTS;

/// How to open a [`Ring`](crate::Ring). `Default` suits a busy host: a
/// 16 MiB ring of 1 MiB blocks retired after 50 ms, 128-byte snaps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RingConfig {
    /// Capture on this interface only; `None` captures on every interface
    /// of the namespace.
    pub interface: Option<String>,
    /// Total ring memory in MiB; rounded down to whole blocks.
    pub ring_mib: u32,
    /// Bytes per block: a power of two, at least one page.
    pub block_size: u32,
    /// Nominal frame size. TPACKET_V3 packs variable-length frames into a
    /// block, so this only sets the kernel's `tp_frame_nr` bookkeeping; the
    /// snap length is what bounds each frame.
    pub frame_size: u32,
    /// A partly filled block is handed to userspace after this long, so a
    /// quiet interface still delivers within this delay. Whole milliseconds.
    pub block_timeout: Duration,
    /// Bytes kept of each packet from its link header on (a classic BPF
    /// `ret #snap_len`); headers only, payload is never stored.
    pub snap_len: u32,
    /// TCP and UDP packets from or to these ports keep `dns_snap_len`
    /// bytes, so their DNS messages can be read (see `filter`).
    pub dns_ports: Vec<u16>,
    /// Bytes kept of packets to or from `dns_ports`, link header included.
    pub dns_snap_len: u32,
    /// Joins this `PACKET_FANOUT` group (hash by flow, defragmenting), so
    /// several rings with the same id share the traffic.
    pub fanout: Option<u16>,
}

impl Default for RingConfig {
    fn default() -> Self {
        RingConfig {
            interface: None,
            ring_mib: 16,
            block_size: 1 << 20,
            frame_size: 2048,
            block_timeout: Duration::from_millis(50),
            snap_len: 128,
            dns_ports: Vec::new(),
            dns_snap_len: DNS_SNAP_LEN,
            fanout: None,
        }
    }
}

/// The validated ring geometry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Geometry {
    pub block_size: u32,
    pub block_nr: u32,
    pub frame_size: u32,
    pub frame_nr: u32,
    pub timeout_ms: u32,
}

impl Geometry {
    pub fn ring_bytes(&self) -> usize {
        self.block_size as usize * self.block_nr as usize
    }

    pub fn to_req3(self) -> libc::tpacket_req3 {
        libc::tpacket_req3 {
            tp_block_size: self.block_size,
            tp_block_nr: self.block_nr,
            tp_frame_size: self.frame_size,
            tp_frame_nr: self.frame_nr,
            tp_retire_blk_tov: self.timeout_ms,
            tp_sizeof_priv: 0,
            tp_feature_req_word: 0,
        }
    }
}

impl RingConfig {
    pub(crate) fn geometry(&self) -> Result<Geometry, RingError> {
        let bad = |msg: String| Err(RingError::Config(msg));
        let bs = self.block_size;
        if bs < PAGE_SIZE || !bs.is_power_of_two() {
            return bad(format!(
                "block size {bs} must be a power of two ≥ {PAGE_SIZE}"
            ));
        }
        let min_frame = libc::TPACKET3_HDRLEN as u32;
        let fs = self.frame_size;
        if fs < min_frame || !fs.is_multiple_of(libc::TPACKET_ALIGNMENT as u32) || fs > bs {
            return bad(format!(
                "frame size {fs} must be a multiple of {} between {min_frame} and the block size",
                libc::TPACKET_ALIGNMENT
            ));
        }
        let block_nr = u64::from(self.ring_mib) * MIB / u64::from(bs);
        let Ok(block_nr @ 1..) = u32::try_from(block_nr) else {
            return bad(format!(
                "ring of {} MiB holds no whole {bs}-byte block",
                self.ring_mib
            ));
        };
        let Some(frame_nr) = (bs / fs).checked_mul(block_nr) else {
            return bad(format!("{block_nr} blocks of {bs} bytes is too large"));
        };
        if self.snap_len == 0 {
            return bad("snap length must be at least 1".into());
        }
        if self.dns_ports.len() > MAX_DNS_PORTS {
            return bad(format!("at most {MAX_DNS_PORTS} DNS ports"));
        }
        if !self.dns_ports.is_empty() && self.dns_snap_len < self.snap_len {
            return bad("the DNS snap length must not be below the snap length".into());
        }
        let timeout_ms = u32::try_from(self.block_timeout.as_millis())
            .ok()
            .filter(|ms| *ms > 0)
            .ok_or_else(|| RingError::Config("block timeout must be 1 ms or more".into()))?;
        Ok(Geometry {
            block_size: bs,
            block_nr,
            frame_size: fs,
            frame_nr,
            timeout_ms,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_geometry() {
        let g = RingConfig::default().geometry().unwrap();
        assert_eq!((g.block_size, g.block_nr), (1 << 20, 16));
        assert_eq!(g.frame_nr, 16 * 512);
        assert_eq!(g.timeout_ms, 50);
        assert_eq!(g.ring_bytes(), 16 << 20);
    }

    #[test]
    fn rejects_bad_options() {
        let bad = |c: RingConfig| matches!(c.geometry(), Err(RingError::Config(_)));
        let d = RingConfig::default;
        assert!(bad(RingConfig {
            block_size: 3 << 12,
            ..d()
        }));
        assert!(bad(RingConfig {
            block_size: 1024,
            ..d()
        }));
        assert!(bad(RingConfig {
            frame_size: 100,
            ..d()
        }));
        assert!(bad(RingConfig {
            frame_size: 2050,
            ..d()
        }));
        assert!(bad(RingConfig { ring_mib: 0, ..d() }));
        assert!(bad(RingConfig {
            ring_mib: 1,
            block_size: 4 << 20,
            ..d()
        }));
        assert!(bad(RingConfig { snap_len: 0, ..d() }));
        assert!(bad(RingConfig {
            dns_ports: vec![53],
            dns_snap_len: 64,
            ..d()
        }));
        assert!(bad(RingConfig {
            dns_ports: (1..=MAX_DNS_PORTS as u16 + 1).collect(),
            ..d()
        }));
        assert!(bad(RingConfig {
            block_timeout: Duration::ZERO,
            ..d()
        }));
    }
}
