//! One thread per ring: polls its ring, parses every frame into its flow
//! ([`FlowAggregator`]), hands a flow's first packet to the attribution
//! thread at once (while its socket most likely still exists) and the
//! summed deltas every [`FLUSH_EVERY`]. It also answers sync requests (a
//! read that must include everything captured until now: it waits until
//! the kernel has retired the block in progress, flushes, then acks) and
//! publishes the kernel's drop counts. It looks at no payload but DNS
//! messages (packets from or to a DNS port), which it hands on with their
//! flow, stamped in CLOCK_MONOTONIC (the ring stamps CLOCK_REALTIME).
//! TCP lifecycle steps (from headers, see `tcp_life`) go with each flush;
//! a sync adds a sample of every open connection that changed.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::SyncSender;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use netoproc_core::report::UnparsedPackets;
use netoproc_procfs::NetnsId;

use netoproc_core::DnsPacket;

use super::flow::{FlowAggregator, FlowDelta, FlowKey};
use super::tcp_life::LifeStep;
use crate::{sys, Ring};

/// Deltas are handed over at least this often.
pub const FLUSH_EVERY: Duration = Duration::from_millis(20);
/// Longest wait in poll, so stop and sync requests are seen.
const POLL: Duration = Duration::from_millis(20);
const STATS_EVERY: Duration = Duration::from_millis(500);
/// Flows unseen for two of these are forgotten (bounded memory under
/// floods of one-packet flows; a forgotten flow is announced again).
const EXPIRE_EVERY: Duration = Duration::from_secs(2);
/// Unanswered SYNs are checked for a timeout this often.
const LIFE_TICK_EVERY: Duration = Duration::from_millis(250);

/// What the readers and the namespace watcher tell the attribution thread.
#[derive(Debug)]
pub enum ToWorker {
    /// A flow's first packet, and when the reader saw it.
    NewFlow(FlowKey, Instant),
    Deltas(Vec<(FlowKey, FlowDelta)>),
    /// DNS packets (oldest first) and their flows; sent after the deltas
    /// and new flows they belong to.
    Dns(Vec<(FlowKey, DnsPacket)>),
    /// TCP lifecycle steps (oldest first) and their flows; sent after the
    /// deltas and new flows they belong to.
    Life(Vec<(FlowKey, LifeStep)>),
    /// A SYN opened this flow again after its connection closed: what came
    /// before belongs to the old connection, what follows to a new one.
    Reborn(FlowKey),
    /// Rings now capture in this namespace (`path` reaches it; `None` for
    /// netoproc's own).
    Watch(NetnsId, Option<std::path::PathBuf>),
    /// A namespace to watch, with an open nsfs file of it (which outlives
    /// the process whose `ns/net` it was opened through).
    WatchHeld(NetnsId, std::fs::File),
    Unwatch(NetnsId),
    /// Every reader has flushed up to this sync request.
    Sync(u64),
}

/// One reader's state, shared with the rest of the backend.
#[derive(Debug)]
pub struct ReaderState {
    pub netns: NetnsId,
    pub stop: AtomicBool,
    /// The last sync request this reader has flushed for.
    pub acked: AtomicU64,
    pub done: AtomicBool,
    pub error: Mutex<Option<String>>,
}

impl ReaderState {
    pub fn new(netns: NetnsId) -> ReaderState {
        ReaderState {
            netns,
            stop: AtomicBool::new(false),
            acked: AtomicU64::new(0),
            done: AtomicBool::new(false),
            error: Mutex::new(None),
        }
    }
}

/// Counters and requests every reader shares.
#[derive(Debug, Default)]
pub struct Shared {
    pub sync_request: AtomicU64,
    /// Kernel ring drops, summed over every ring ever opened.
    pub drops: AtomicU64,
    pub packets: AtomicU64,
    /// DNS packets kept with less than their whole payload.
    pub dns_truncated: AtomicU64,
    /// DNS packets not kept (too many between two flushes).
    pub dns_dropped: AtomicU64,
    /// Packets of flows a reader did not remember (past its bound).
    pub packets_unsequenced: AtomicU64,
    /// TCP lifecycle steps the readers lost (see `FlowAggregator::take_life_lost`).
    pub life_lost: AtomicU64,
    pub unparsed: Mutex<UnparsedPackets>,
    pub readers: Mutex<Vec<Arc<ReaderState>>>,
    /// Namespaces that could not be captured, by why.
    pub uncaptured: Mutex<BTreeMap<String, BTreeSet<NetnsId>>>,
}

impl Shared {
    pub fn note_uncaptured(&self, netns: NetnsId, why: String) {
        let mut u = self.uncaptured.lock().unwrap_or_else(|e| e.into_inner());
        u.entry(why).or_default().insert(netns);
    }

    /// One line per reason some namespaces are not captured.
    pub fn uncaptured_lines(&self) -> Vec<String> {
        let u = self.uncaptured.lock().unwrap_or_else(|e| e.into_inner());
        u.iter()
            .map(|(why, ids)| {
                format!(
                    "{} other network namespace(s) not captured: {why}",
                    ids.len()
                )
            })
            .collect()
    }
}

/// Starts the reader of `ring`. `settle` is how long a sync waits for the
/// kernel to retire the block in progress (two block timeouts, rounded up
/// to the kernel's timer tick).
pub fn spawn(
    ring: Ring,
    state: Arc<ReaderState>,
    shared: Arc<Shared>,
    tx: SyncSender<ToWorker>,
    settle: Duration,
    dns_ports: Vec<u16>,
    max_flows: usize,
) -> std::io::Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name("netoproc-ring".into())
        .spawn(move || {
            let mut r = Reader {
                agg: FlowAggregator::new(state.netns)
                    .with_dns_ports(dns_ports)
                    .with_max_seen(max_flows),
                ring,
                state,
                shared,
                tx,
                settle,
                last_drops: 0,
                counted_packets: 0,
            };
            r.run();
        })
}

struct Reader {
    agg: FlowAggregator,
    ring: Ring,
    state: Arc<ReaderState>,
    shared: Arc<Shared>,
    tx: SyncSender<ToWorker>,
    settle: Duration,
    last_drops: u64,
    counted_packets: u64,
}

impl Reader {
    fn run(&mut self) {
        let start = Instant::now();
        let (mut last_flush, mut last_stats, mut last_expire) = (start, start, start);
        let mut last_tick = start;
        let mut sync: Option<(u64, Instant)> = None;
        while !self.state.stop.load(Ordering::Relaxed) {
            let timeout = match sync {
                Some((_, at)) => at.saturating_duration_since(Instant::now()).min(POLL),
                None => POLL,
            };
            let (agg, tx) = (&mut self.agg, &self.tx);
            let mut worker_gone = false;
            // Realtime stamps to monotonic: the clocks' offset, read once a
            // poll (it moves only when the realtime clock is set).
            let offset = sys::clock_ns(libc::CLOCK_REALTIME)
                .wrapping_sub(sys::clock_ns(libc::CLOCK_MONOTONIC));
            let polled = self.ring.poll(timeout, |p| {
                let ktime = p.realtime_ns.wrapping_sub(offset);
                if let Some(key) = agg.packet_at(p.link, p.data, p.orig_len, p.direction, ktime) {
                    if let Some(reborn) = agg.take_reborn() {
                        // The old connection's deltas and steps first.
                        let deltas = agg.take();
                        let life = agg.take_life();
                        worker_gone |=
                            !deltas.is_empty() && tx.send(ToWorker::Deltas(deltas)).is_err();
                        worker_gone |= !life.is_empty() && tx.send(ToWorker::Life(life)).is_err();
                        worker_gone |= tx.send(ToWorker::Reborn(reborn)).is_err();
                    }
                    let msg = ToWorker::NewFlow(key, Instant::now());
                    worker_gone |= tx.send(msg).is_err();
                }
            });
            if let Err(e) = polled {
                *self.state.error.lock().unwrap_or_else(|e| e.into_inner()) =
                    Some(netoproc_core::error::Chain(&e).to_string());
                break;
            }
            if worker_gone {
                break;
            }
            let now = Instant::now();
            let requested = self.shared.sync_request.load(Ordering::Acquire);
            let pending = sync.map_or(self.state.acked.load(Ordering::Relaxed), |(e, _)| e);
            if requested > pending {
                sync = Some((requested, now + self.settle));
            }
            let sync_due = sync.is_some_and(|(_, at)| now >= at);
            if sync_due || now.duration_since(last_tick) >= LIFE_TICK_EVERY {
                self.agg.tick(sys::clock_ns(libc::CLOCK_MONOTONIC));
                last_tick = now;
            }
            if sync_due {
                self.agg.sample_open(sys::clock_ns(libc::CLOCK_MONOTONIC));
            }
            if sync_due || now.duration_since(last_flush) >= FLUSH_EVERY {
                if !self.flush() {
                    break;
                }
                last_flush = now;
            }
            if sync_due || now.duration_since(last_stats) >= STATS_EVERY {
                self.publish_stats();
                last_stats = now;
            }
            if let Some((epoch, _)) = sync.filter(|_| sync_due) {
                self.state.acked.store(epoch, Ordering::Release);
                sync = None;
            }
            if now.duration_since(last_expire) >= EXPIRE_EVERY {
                self.agg.expire(sys::clock_ns(libc::CLOCK_MONOTONIC));
                last_expire = now;
            }
        }
        self.flush();
        self.publish_stats();
        self.state.done.store(true, Ordering::Release);
        self.state.acked.store(u64::MAX, Ordering::Release);
    }

    /// Hands the deltas over; `false` when the attribution thread is gone.
    fn flush(&mut self) -> bool {
        let u = self.agg.take_unparsed();
        if u.total() > 0 {
            let mut shared = self
                .shared
                .unparsed
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            shared.not_ip += u.not_ip;
            shared.not_tcp_udp += u.not_tcp_udp;
            shared.fragments += u.fragments;
            shared.truncated += u.truncated;
            shared.malformed += u.malformed;
            shared.unknown_link += u.unknown_link;
        }
        let packets = self.agg.packets();
        self.shared
            .packets
            .fetch_add(packets - self.counted_packets, Ordering::Relaxed);
        self.counted_packets = packets;
        let d = self.agg.take_dns_counts();
        self.shared
            .dns_truncated
            .fetch_add(d.truncated, Ordering::Relaxed);
        self.shared
            .dns_dropped
            .fetch_add(d.dropped, Ordering::Relaxed);
        self.shared
            .packets_unsequenced
            .fetch_add(self.agg.take_unsequenced(), Ordering::Relaxed);
        self.shared
            .life_lost
            .fetch_add(self.agg.take_life_lost(), Ordering::Relaxed);
        let deltas = self.agg.take();
        if !deltas.is_empty() && self.tx.send(ToWorker::Deltas(deltas)).is_err() {
            return false;
        }
        let life = self.agg.take_life();
        if !life.is_empty() && self.tx.send(ToWorker::Life(life)).is_err() {
            return false;
        }
        let dns = self.agg.take_dns();
        dns.is_empty() || self.tx.send(ToWorker::Dns(dns)).is_ok()
    }

    fn publish_stats(&mut self) {
        if let Ok(s) = self.ring.stats() {
            let new = s.drops.saturating_sub(self.last_drops);
            self.shared.drops.fetch_add(new, Ordering::Relaxed);
            self.last_drops = s.drops;
        }
    }
}
