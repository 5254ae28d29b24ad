//! The attribution thread: owns the [`Attributor`] (and through it the
//! socket resolver), takes new flows and deltas from the readers and
//! namespace changes from the watcher, retries and refreshes on its own
//! clock, and sends the changed records to the capture's caller every
//! [`EMIT_EVERY`] — or at once when a sync asks for a complete read. It
//! publishes its statistics for `meta`. Owners are looked up here, off the
//! readers' path, so a slow `/proc` never stalls packet capture. It runs
//! at normal priority: a lower one (nice 5 or 10, `SCHED_IDLE`) left flows
//! unattributed on a saturated 2-core machine, their sockets gone before
//! the thread got to them, and `SCHED_IDLE` cannot be left again without
//! `CAP_SYS_NICE`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use netoproc_procfs::ResolverStats;

use super::attribute::{Attributor, Batch};
use super::dns_hold::DnsHold;
use super::life_hold::LifeHold;
use super::owners::ProcOwners;
use super::reader::ToWorker;
use super::sockets::Tally;

const EMIT_EVERY: Duration = Duration::from_millis(20);
const STATS_EVERY: Duration = Duration::from_millis(100);
/// Longest wait for a message: retries of waiting flows need this clock.
const IDLE_WAIT: Duration = Duration::from_millis(3);
/// Messages handled before the clock-driven work runs again.
const BURST: usize = 4096;

/// What the attribution thread sends the capture's caller.
#[derive(Debug)]
pub enum ToMain {
    Batch(Batch),
    /// DNS packets with their records' cookies (after those records).
    Dns(Vec<netoproc_core::DnsPacket>),
    /// TCP lifecycle steps with their records (after those records).
    Life(Vec<netoproc_core::lifecycle::LifeEvent>),
    /// Everything captured before sync request `n` is in earlier batches.
    Synced(u64),
}

/// The attribution thread's counters, for `meta`.
#[derive(Debug, Clone, Copy, Default)]
pub struct WorkerStats {
    pub tally: Tally,
    pub resolver: ResolverStats,
    /// DNS packets dropped while waiting for their flows' records.
    pub dns_dropped: u64,
    /// TCP lifecycle steps dropped while waiting, or without a record of
    /// their own.
    pub life_dropped: u64,
}

pub fn spawn(
    mut attributor: Attributor<ProcOwners>,
    rx: Receiver<ToWorker>,
    tx: SyncSender<ToMain>,
    stats: Arc<Mutex<WorkerStats>>,
    stop: Arc<AtomicBool>,
) -> std::io::Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name("netoproc-owners".into())
        .spawn(move || {
            let mut hold = DnsHold::default();
            let mut life = LifeHold::default();
            let mut last_emit = Instant::now();
            let mut last_stats = Instant::now();
            while !stop.load(Ordering::Relaxed) {
                let mut handled = 0;
                let mut next = match rx.recv_timeout(IDLE_WAIT) {
                    Ok(m) => Some(m),
                    Err(RecvTimeoutError::Timeout) => None,
                    Err(RecvTimeoutError::Disconnected) => break,
                };
                while let Some(msg) = next.take() {
                    let now = Instant::now();
                    match msg {
                        ToWorker::NewFlow(key, seen) => attributor.new_flow_queued(
                            key,
                            now.saturating_duration_since(seen),
                            now,
                        ),
                        ToWorker::Deltas(d) => attributor.deltas(&d, now),
                        ToWorker::Dns(d) => hold.add(d, now),
                        ToWorker::Life(steps) => life.add(steps, now),
                        ToWorker::Reborn(key) => {
                            // The old connection's steps leave with the old
                            // record, then the flow is bound anew.
                            let done =
                                life.release(|k| attributor.life_record(k), now, false, Some(&key));
                            if !done.is_empty() && tx.send(ToMain::Life(done)).is_err() {
                                return;
                            }
                            attributor.forget_flow(&key);
                        }
                        ToWorker::Watch(id, Some(path)) => {
                            attributor.owners.resolver.watch_netns(id, path)
                        }
                        ToWorker::Watch(_, None) => {}
                        ToWorker::WatchHeld(id, file) => {
                            attributor.owners.resolver.watch_netns_held(id, file)
                        }
                        ToWorker::Unwatch(id) => attributor.owners.resolver.unwatch_netns(id),
                        ToWorker::Sync(n) => {
                            attributor.settle(now);
                            if !emit(&tx, &mut attributor, &mut hold, &mut life, now, true) {
                                return;
                            }
                            publish(&stats, &attributor, &hold, &life);
                            if tx.send(ToMain::Synced(n)).is_err() {
                                return;
                            }
                            last_emit = now;
                        }
                    }
                    handled += 1;
                    if handled < BURST {
                        next = rx.try_recv().ok();
                    }
                }
                let now = Instant::now();
                attributor.tick(now);
                if now.duration_since(last_emit) >= EMIT_EVERY {
                    if !emit(&tx, &mut attributor, &mut hold, &mut life, now, false) {
                        return;
                    }
                    last_emit = now;
                }
                if now.duration_since(last_stats) >= STATS_EVERY {
                    publish(&stats, &attributor, &hold, &life);
                    last_stats = now;
                }
            }
            publish(&stats, &attributor, &hold, &life);
        })
}

/// Sends the changed records, then the lifecycle steps and DNS packets
/// that can leave (after the records they name); `false` when the caller
/// is gone.
fn emit(
    tx: &SyncSender<ToMain>,
    a: &mut Attributor<ProcOwners>,
    hold: &mut DnsHold,
    life: &mut LifeHold,
    now: Instant,
    sync: bool,
) -> bool {
    let batch = a.take_batch();
    if !batch.is_empty() && tx.send(ToMain::Batch(batch)).is_err() {
        return false;
    }
    if life.len() > 0 {
        let steps = life.release(|k| a.life_record(k), now, sync, None);
        if !steps.is_empty() && tx.send(ToMain::Life(steps)).is_err() {
            return false;
        }
    }
    if hold.len() == 0 {
        return true;
    }
    let dns = hold.release(|k| a.binding(k), now, sync);
    dns.is_empty() || tx.send(ToMain::Dns(dns)).is_ok()
}

fn publish(
    stats: &Mutex<WorkerStats>,
    a: &Attributor<ProcOwners>,
    hold: &DnsHold,
    life: &LifeHold,
) {
    let mut s = stats.lock().unwrap_or_else(|e| e.into_inner());
    s.tally = a.tally;
    s.resolver = a.owners.stats();
    s.dns_dropped = hold.dropped;
    s.life_dropped = life.dropped;
}
