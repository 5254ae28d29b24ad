//! [`AfPacketCapture`] as the core's [`CaptureBackend`]: records from the
//! attribution thread merged into the caller's ledger; a read that first
//! syncs with every reader (so it includes everything captured until it
//! began); the kernel's drop counts, parse failures and attribution
//! statistics for `meta`; TCP lifecycle steps derived from headers.

use std::collections::HashSet;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{RecvTimeoutError, TryRecvError, TrySendError};
use std::time::{Duration, Instant};

use netoproc_core::backend::{CapabilityNeed, CaptureBackend, CaptureError, CaptureInfo};
use netoproc_core::ledger::SocketLedger;
use netoproc_core::lifecycle::LifeEvent;
use netoproc_core::report::{AttributionStats, Losses};
use netoproc_core::DnsPacket;

use super::reader::ToWorker;
use super::AfPacketCapture;

/// Longest a read waits for the readers and the attribution thread.
const SYNC_WITHIN: Duration = Duration::from_secs(2);

impl CaptureBackend for AfPacketCapture {
    fn info(&self) -> &CaptureInfo {
        &self.info
    }

    fn needs_after_start(&self) -> Vec<CapabilityNeed> {
        super::NEEDS_AFTER_START.to_vec()
    }

    fn drain_events(
        &mut self,
        ledger: &mut SocketLedger,
        timeout: Duration,
    ) -> Result<(), CaptureError> {
        let first = match self.from_worker.recv_timeout(timeout) {
            Ok(m) => m,
            Err(RecvTimeoutError::Timeout) => return Ok(()),
            Err(RecvTimeoutError::Disconnected) => {
                return Err("the attribution thread stopped".into())
            }
        };
        self.apply(ledger, first);
        loop {
            match self.from_worker.try_recv() {
                Ok(m) => {
                    self.apply(ledger, m);
                }
                Err(TryRecvError::Empty) => return Ok(()),
                Err(TryRecvError::Disconnected) => {
                    return Err("the attribution thread stopped".into())
                }
            }
        }
    }

    fn read_sockets(&mut self, ledger: &mut SocketLedger) -> Result<(), CaptureError> {
        self.sync_epoch += 1;
        let n = self.sync_epoch;
        let deadline = Instant::now() + SYNC_WITHIN;
        self.shared.sync_request.store(n, Ordering::Release);
        while !self.readers_acked(n) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
        // The queue to the attribution thread is bounded, and that thread
        // may itself wait for room in the queue to us: make room by taking
        // what it sent while we wait, so the two never wait on each other.
        let mut sync = ToWorker::Sync(n);
        loop {
            match self.to_worker.try_send(sync) {
                Ok(()) => break,
                Err(TrySendError::Full(m)) => {
                    sync = m;
                    if let Ok(m) = self.from_worker.recv_timeout(Duration::from_millis(1)) {
                        self.apply(ledger, m);
                    }
                }
                Err(TrySendError::Disconnected(_)) => {
                    return Err("the attribution thread stopped".into())
                }
            }
        }
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.from_worker.recv_timeout(left) {
                Ok(m) => {
                    if self.apply(ledger, m).is_some_and(|s| s >= n) {
                        break;
                    }
                }
                Err(RecvTimeoutError::Timeout) => {
                    self.syncs_late += 1;
                    break;
                }
                Err(RecvTimeoutError::Disconnected) => {
                    return Err("the attribution thread stopped".into())
                }
            }
        }
        self.refresh_degraded();
        Ok(())
    }

    fn losses(&self) -> Result<Losses, CaptureError> {
        let unparsed = *self
            .shared
            .unparsed
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let stats = *self.stats.lock().unwrap_or_else(|e| e.into_inner());
        Ok(Losses {
            peer_map_full: stats.tally.peers_untracked,
            capture_drops: self.shared.drops.load(Ordering::Relaxed),
            unparsed_packets: unparsed.total(),
            dns_truncated: self.shared.dns_truncated.load(Ordering::Relaxed),
            dns_packets_dropped: self.shared.dns_dropped.load(Ordering::Relaxed)
                + stats.dns_dropped
                + self.dns_dropped,
            ..Losses::default()
        })
    }

    fn take_dns(&mut self) -> Vec<DnsPacket> {
        let mut packets = std::mem::take(&mut self.dns);
        // Flows wait for their owners for different times: oldest first.
        packets.sort_by_key(|p| p.ktime_ns);
        packets
    }

    fn take_lifecycle(&mut self) -> Vec<LifeEvent> {
        let mut events = std::mem::take(&mut self.life);
        // Flows wait for their records for different times: oldest first.
        events.sort_by_key(|e| e.ktime_ns);
        events
    }

    fn lifecycle_dropped(&self) -> u64 {
        let worker = self
            .stats
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .life_dropped;
        self.shared.life_lost.load(Ordering::Relaxed) + worker + self.life_dropped
    }

    fn attribution(&self) -> Option<AttributionStats> {
        let s = *self.stats.lock().unwrap_or_else(|e| e.into_inner());
        let (t, r) = (s.tally, s.resolver);
        let bytes = t.bytes();
        let attributed = t.bytes_resolved + t.bytes_inferred;
        let (namespaces, rings) = {
            let readers = self
                .shared
                .readers
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            let ns: HashSet<_> = readers.iter().map(|r| r.netns).collect();
            (ns.len() as u64, readers.len() as u64)
        };
        Some(AttributionStats {
            flows: t.flows,
            flows_resolved: t.flows_resolved,
            flows_inferred: t.flows_inferred,
            flows_unresolved: t.flows_unresolved,
            flows_aggregated: t.flows_aggregated,
            flows_folded: t.flows_folded,
            bytes_folded: t.bytes_folded,
            packets_unsequenced: self.shared.packets_unsequenced.load(Ordering::Relaxed),
            bytes,
            bytes_attributed: attributed,
            bytes_inferred: t.bytes_inferred,
            attributed_share: if bytes == 0 {
                1.0
            } else {
                attributed as f64 / bytes as f64
            },
            lookups: r.lookups,
            cache_hits: r.cache_hits,
            dumps: r.dumps,
            on_demand_dumps: r.on_demand_dumps,
            rate_limited: r.rate_limited,
            full_scans: r.full_scans,
            pid_rescans: r.pid_rescans,
            proc_connector: self.proc_connector,
            proc_events: r.proc_events,
            proc_events_lost: r.proc_events_lost,
            namespaces,
            rings,
            unparsed: *self
                .shared
                .unparsed
                .lock()
                .unwrap_or_else(|e| e.into_inner()),
        })
    }
}
