//! The ring itself: opens and configures the packet socket (snap filter,
//! TPACKET_V3, RX ring, bind, fanout), walks retired blocks in order and
//! returns them to the kernel, and accumulates the kernel's drop counters.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use crate::block::{self, Packet, BLOCK_STATUS_OFFSET};
use crate::config::{Geometry, RingConfig};
use crate::sys::{self, Mapping};
use crate::RingError;

/// Kernel counters for one ring, accumulated since it opened (the kernel
/// resets them on every read).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RingStats {
    /// Packets that passed the filter, dropped ones included.
    pub packets: u64,
    /// Packets lost because the ring was full.
    pub drops: u64,
    /// Times the ring filled up and froze until userspace freed a block.
    pub freeze_q_cnt: u64,
}

/// An AF_PACKET TPACKET_V3 receive ring. Read it with [`Ring::poll`] from
/// one thread; open several with the same [`RingConfig::fanout`] id to
/// spread the traffic over threads.
pub struct Ring {
    // Field order is drop order: unmap before closing the socket.
    mapping: Mapping,
    fd: OwnedFd,
    geometry: Geometry,
    next_block: usize,
    ifindex: Option<u32>,
    totals: RingStats,
}

impl Ring {
    /// Opens a ring in the calling thread's network namespace.
    pub fn open(config: &RingConfig) -> Result<Ring, RingError> {
        let geometry = config.geometry()?;
        let ifindex = match &config.interface {
            None => None,
            Some(name) => Some(
                sys::if_index(name)
                    .ok_or_else(|| RingError::UnknownInterface { name: name.clone() })?,
            ),
        };
        let fd = sys::packet_socket().map_err(RingError::sys("socket(AF_PACKET)"))?;
        let filter = crate::filter::build(config.snap_len, &config.dns_ports, config.dns_snap_len);
        let prog = libc::sock_fprog {
            len: filter.len() as u16,
            filter: filter.as_ptr().cast_mut(),
        };
        sys::setsockopt(fd.as_fd(), libc::SOL_SOCKET, libc::SO_ATTACH_FILTER, &prog)
            .map_err(RingError::sys("SO_ATTACH_FILTER"))?;
        let version = libc::tpacket_versions::TPACKET_V3 as i32;
        sys::setsockopt(fd.as_fd(), libc::SOL_PACKET, libc::PACKET_VERSION, &version).map_err(
            RingError::sys("PACKET_VERSION (TPACKET_V3 needs Linux 3.2+)"),
        )?;
        sys::setsockopt(
            fd.as_fd(),
            libc::SOL_PACKET,
            libc::PACKET_RX_RING,
            &geometry.to_req3(),
        )
        .map_err(RingError::sys("PACKET_RX_RING (try a smaller ring)"))?;
        let mapping = Mapping::ring(fd.as_fd(), geometry.ring_bytes())
            .map_err(RingError::sys("mmap of the ring (try a smaller ring)"))?;
        sys::bind_all(fd.as_fd(), ifindex.unwrap_or(0)).map_err(RingError::sys("bind"))?;
        if let Some(id) = config.fanout {
            let mode = libc::PACKET_FANOUT_HASH | libc::PACKET_FANOUT_FLAG_DEFRAG;
            let arg = u32::from(id) | (mode << 16);
            sys::setsockopt(fd.as_fd(), libc::SOL_PACKET, libc::PACKET_FANOUT, &arg).map_err(
                RingError::sys("PACKET_FANOUT (every ring of a group needs the same interface)"),
            )?;
        }
        Ok(Ring {
            mapping,
            fd,
            geometry,
            next_block: 0,
            ifindex,
            totals: RingStats::default(),
        })
    }

    /// The interface the ring is bound to, `None` for all.
    pub fn ifindex(&self) -> Option<u32> {
        self.ifindex
    }

    /// Delivers every packet of the blocks the kernel has retired, waiting
    /// up to `timeout` when none is ready. Returns how many packets were
    /// delivered (0 after a quiet `timeout`). A partly filled block is
    /// retired after the configured block timeout.
    pub fn poll(
        &mut self,
        timeout: Duration,
        mut f: impl FnMut(&Packet<'_>),
    ) -> Result<usize, RingError> {
        if !self.block_ready(self.next_block) {
            sys::poll_readable(self.fd.as_fd(), timeout).map_err(RingError::sys("poll"))?;
        }
        let mut delivered = 0;
        // At most one lap, so a flood cannot keep the caller here forever.
        for _ in 0..self.geometry.block_nr {
            if !self.block_ready(self.next_block) {
                break;
            }
            delivered += block::for_each_packet(self.block(self.next_block), &mut f);
            self.block_status(self.next_block)
                .store(libc::TP_STATUS_KERNEL, Ordering::Release);
            self.next_block = (self.next_block + 1) % self.geometry.block_nr as usize;
        }
        Ok(delivered)
    }

    /// The kernel's counters, accumulated since the ring opened.
    pub fn stats(&mut self) -> Result<RingStats, RingError> {
        let s = sys::packet_stats(self.fd.as_fd()).map_err(RingError::sys("PACKET_STATISTICS"))?;
        self.totals.packets += u64::from(s.tp_packets);
        self.totals.drops += u64::from(s.tp_drops);
        self.totals.freeze_q_cnt += u64::from(s.tp_freeze_q_cnt);
        Ok(self.totals)
    }

    fn block_ready(&self, i: usize) -> bool {
        self.block_status(i).load(Ordering::Acquire) & libc::TP_STATUS_USER != 0
    }

    fn block_status(&self, i: usize) -> &AtomicU32 {
        let at = i * self.geometry.block_size as usize + BLOCK_STATUS_OFFSET;
        assert!(at + 4 <= self.mapping.len());
        // SAFETY: in bounds (checked above) and 4-aligned (blocks are
        // page-aligned, the field's offset is 8). The kernel and this ring
        // are the only writers of this word, and both hand it over with
        // release/acquire semantics (the kernel uses smp_wmb/smp_rmb).
        unsafe { AtomicU32::from_ptr(self.mapping.as_ptr().add(at).cast()) }
    }

    fn block(&self, i: usize) -> &[u8] {
        let size = self.geometry.block_size as usize;
        assert!((i + 1) * size <= self.mapping.len());
        // SAFETY: in bounds (checked above). The kernel does not write to a
        // block whose status has TP_STATUS_USER until `poll` hands it back,
        // which happens only after this borrow ends.
        unsafe { std::slice::from_raw_parts(self.mapping.as_ptr().add(i * size), size) }
    }
}

impl AsFd for Ring {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}
