//! The agent's history writer: a thread of its own, so a slow disk or an
//! unreachable database never stalls capture. Closed minutes wait in a
//! bounded queue ([`WriterConfig::buffer_minutes`]); a failed write keeps
//! its minute at the front and is retried (the store reopened) every
//! [`WriterConfig::retry`]; when the queue is full the oldest minute is
//! dropped and counted. Upkeep (fold, retention, size cap) runs once a
//! minute. [`Status`] is what /metrics and /readyz show.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::db::Db;
use crate::error::chain;
use crate::ledger::{upkeep, write_minute, Retention};
use crate::model::Minute;
use crate::store::open_writer;
use crate::target::Target;

/// Minutes held while the store is unreachable, unless told otherwise:
/// an hour.
pub const DEFAULT_BUFFER_MINUTES: usize = 60;

/// How the writer runs.
#[derive(Debug, Clone)]
pub struct WriterConfig {
    /// The store written to.
    pub target: Target,
    /// The host name every row carries.
    pub host: String,
    /// Folding, retention and size cap for upkeep.
    pub retention: Retention,
    /// Closed minutes the queue holds at most (0 counts as 1); past it
    /// the oldest is dropped and counted.
    pub buffer_minutes: usize,
    /// Wait after a failed open, write or upkeep before trying again.
    pub retry: Duration,
    /// How often upkeep runs.
    pub upkeep_every: Duration,
}

/// What the writer did; read by /metrics and /readyz.
#[derive(Debug, Default)]
pub struct Status {
    /// The last open, write or upkeep succeeded.
    pub up: AtomicBool,
    /// Minutes written to the store.
    pub minutes_written: AtomicU64,
    /// Minutes lost: pushed out of a full queue, or still queued when the
    /// agent stopped with the store unreachable.
    pub minutes_dropped: AtomicU64,
    /// Failed opens, writes and upkeep rounds.
    pub write_errors: AtomicU64,
    /// Minutes waiting in the queue now (a gauge).
    pub minutes_queued: AtomicU64,
    /// Minute rows folded into hours (nothing lost).
    pub rows_folded: AtomicU64,
    /// Rows deleted for being older than the retention.
    pub rows_deleted_age: AtomicU64,
    /// Rows deleted while the store was over its size cap.
    pub rows_deleted_size: AtomicU64,
    last_error: Mutex<Option<String>>,
}

impl Status {
    /// Why the store is down, when it is.
    pub fn last_error(&self) -> Option<String> {
        lock(&self.last_error).clone()
    }

    fn failed(&self, why: String) {
        self.up.store(false, Ordering::Relaxed);
        self.write_errors.fetch_add(1, Ordering::Relaxed);
        let mut last = lock(&self.last_error);
        if last.as_deref() != Some(&why) {
            eprintln!("netoproc: history degraded: {why}");
        }
        *last = Some(why);
    }

    fn succeeded(&self) {
        if !self.up.swap(true, Ordering::Relaxed) {
            let mut last = lock(&self.last_error);
            if last.take().is_some() {
                eprintln!("netoproc: history writes again");
            }
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

struct Queue {
    minutes: VecDeque<Minute>,
    stop: bool,
}

/// The running writer.
pub struct Writer {
    queue: Arc<(Mutex<Queue>, Condvar)>,
    status: Arc<Status>,
    cap: usize,
    thread: Option<JoinHandle<()>>,
    /// Disconnected when the thread ends.
    ended: std::sync::mpsc::Receiver<()>,
}

/// How long stopping waits for the last writes (a hung database must not
/// hang the agent's exit).
pub const STOP_WITHIN: Duration = Duration::from_secs(10);

impl Writer {
    /// Starts the thread; it opens the store itself (a store that cannot
    /// be opened is retried, never fatal). `now` gives Unix seconds.
    pub fn start(cfg: WriterConfig, now: Box<dyn Fn() -> i64 + Send>) -> std::io::Result<Writer> {
        let queue = Arc::new((
            Mutex::new(Queue {
                minutes: VecDeque::new(),
                stop: false,
            }),
            Condvar::new(),
        ));
        let status = Arc::new(Status::default());
        let cap = cfg.buffer_minutes.max(1);
        let (q, s) = (queue.clone(), status.clone());
        let (alive, ended) = std::sync::mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("netoproc-history".into())
            .spawn(move || {
                let _alive = alive;
                run(cfg, now, &q, &s)
            })?;
        Ok(Writer {
            queue,
            status,
            cap,
            thread: Some(thread),
            ended,
        })
    }

    /// The writer's counters, shared with its thread.
    pub fn status(&self) -> Arc<Status> {
        self.status.clone()
    }

    /// Queues a closed minute; a full queue drops its oldest.
    pub fn push(&self, m: Minute) {
        let (lk, cv) = &*self.queue;
        let mut q = lock(lk);
        while q.minutes.len() >= self.cap {
            q.minutes.pop_front();
            self.status.minutes_dropped.fetch_add(1, Ordering::Relaxed);
        }
        q.minutes.push_back(m);
        self.status
            .minutes_queued
            .store(q.minutes.len() as u64, Ordering::Relaxed);
        cv.notify_one();
    }

    /// Writes what is queued (one attempt each when the store is down;
    /// what cannot be written is counted as dropped) and ends the thread,
    /// waiting at most [`STOP_WITHIN`].
    pub fn stop(mut self) {
        self.finish();
    }

    fn finish(&mut self) {
        {
            let (lk, cv) = &*self.queue;
            lock(lk).stop = true;
            cv.notify_one();
        }
        let Some(t) = self.thread.take() else { return };
        match self.ended.recv_timeout(STOP_WITHIN) {
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                let n = lock(&self.queue.0).minutes.len();
                eprintln!(
                    "netoproc: history: the store did not answer within {STOP_WITHIN:?}; up to {} minutes not written",
                    n + 1
                );
            }
            _ => {
                let _ = t.join();
            }
        }
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        self.finish();
    }
}

fn run(
    cfg: WriterConfig,
    now: Box<dyn Fn() -> i64 + Send>,
    queue: &(Mutex<Queue>, Condvar),
    status: &Status,
) {
    let (lk, cv) = queue;
    let mut db: Option<Box<dyn Db>> = None;
    let mut next_upkeep = Instant::now();
    let mut retry_at: Option<Instant> = None;
    loop {
        let (front, stopping) = {
            let mut q = lock(lk);
            loop {
                let waiting = retry_at.is_some_and(|t| Instant::now() < t);
                if q.stop || (!q.minutes.is_empty() && !waiting) {
                    break;
                }
                let until_upkeep = next_upkeep.saturating_duration_since(Instant::now());
                if until_upkeep.is_zero() && !waiting {
                    break;
                }
                let wait = match retry_at {
                    Some(t) if waiting => t.saturating_duration_since(Instant::now()),
                    _ => until_upkeep,
                };
                q = cv
                    .wait_timeout(q, wait.max(Duration::from_millis(10)))
                    .unwrap_or_else(|e| e.into_inner())
                    .0;
            }
            (q.minutes.front().cloned(), q.stop)
        };
        retry_at = None;
        if db.is_none() {
            match open_writer(&cfg.target) {
                Ok(d) => db = Some(d),
                Err(e) => {
                    status.failed(chain(&e));
                    if stopping {
                        drop_rest(lk, status);
                        return;
                    }
                    retry_at = Some(Instant::now() + cfg.retry);
                    continue;
                }
            }
        }
        let Some(d) = db.as_mut() else { continue };
        if let Some(m) = front {
            match write_minute(d.as_mut(), &cfg.host, &m) {
                Ok(()) => {
                    status.succeeded();
                    status.minutes_written.fetch_add(1, Ordering::Relaxed);
                    let mut q = lock(lk);
                    // The front is still this minute: only the writer pops
                    // it, the agent only pops when the queue is full.
                    if q.minutes.front() == Some(&m) {
                        q.minutes.pop_front();
                    }
                    status
                        .minutes_queued
                        .store(q.minutes.len() as u64, Ordering::Relaxed);
                }
                Err(e) => {
                    status.failed(chain(&e));
                    db = None;
                    if stopping {
                        drop_rest(lk, status);
                        return;
                    }
                    retry_at = Some(Instant::now() + cfg.retry);
                }
            }
            continue;
        }
        if stopping {
            return;
        }
        if Instant::now() >= next_upkeep {
            next_upkeep = Instant::now() + cfg.upkeep_every;
            match upkeep(d.as_mut(), &cfg.host, now(), &cfg.retention) {
                Ok(u) => {
                    status.succeeded();
                    status
                        .rows_folded
                        .fetch_add(u.minutes_folded, Ordering::Relaxed);
                    status
                        .rows_deleted_age
                        .fetch_add(u.deleted_by_age, Ordering::Relaxed);
                    status
                        .rows_deleted_size
                        .fetch_add(u.deleted_by_size, Ordering::Relaxed);
                }
                Err(e) => {
                    status.failed(chain(&e));
                    db = None;
                    retry_at = Some(Instant::now() + cfg.retry);
                }
            }
        }
    }
}

fn drop_rest(lk: &Mutex<Queue>, status: &Status) {
    let mut q = lock(lk);
    let n = q.minutes.len() as u64;
    q.minutes.clear();
    status.minutes_dropped.fetch_add(n, Ordering::Relaxed);
    status.minutes_queued.store(0, Ordering::Relaxed);
    if n > 0 {
        eprintln!("netoproc: history: {n} minutes not written (the store is down) are lost");
    }
}
