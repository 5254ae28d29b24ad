//! The agent loop: the engine's timed read loop with, after each read,
//! everything a scrape needs computed once and published — identities'
//! deltas through the series budget, `_info` rows, resolvers, coverage,
//! capture health, the snapshot's parts — then closed sockets retired so
//! memory stays bounded. With history on, each read's deltas also go to
//! the open ledger minute ([`crate::history_feed`]), written by a thread
//! of its own. SIGHUP (the `reload` flag) re-reads `[metrics]`
//! from the config file; the stop flag (SIGTERM, SIGINT) ends the loop and
//! the HTTP server.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use netoproc_core::clock::Clock;
use netoproc_engine::{Engine, EngineError};
use netoproc_export::Meta;
use netoproc_procfs::sysnet::{InterfaceCounters, SysClassNet};

use netoproc_history::writer::{Writer, WriterConfig};

use crate::budget::Budget;
use crate::config::{FileConfig, MetricsSection, MetricsSettings};
use crate::history_feed::HistoryFeed;
use crate::http::{HistoryAccess, HttpServer, Shared, WebState};
use crate::identity::Identity;
use crate::metrics::{MAX_CMDLINE, MAX_INTERFACES, MAX_RESOLVERS};
use crate::published::{
    LifecycleLosses, ProcessInfoRow, Published, RemoteSeries, ResolverSeries, SnapshotParts,
};
use crate::tally::DnsCounts;
use crate::tracker::DeltaTracker;
use crate::web::WebSettings;

/// What `serve` was asked for, resolved from flags and the file.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// Address and port the HTTP server binds.
    pub listen: SocketAddr,
    /// The series budget and what each identity exports, checked.
    pub metrics: MetricsSettings,
    /// Re-read on SIGHUP.
    pub config_path: Option<PathBuf>,
    /// The `[metrics]` values given as flags (they win on reload too).
    pub metrics_flags: MetricsSection,
    /// TLS and basic auth, loaded from `web_config_file`.
    pub web: WebSettings,
    /// The web config file, re-read on SIGHUP.
    pub web_config_file: Option<PathBuf>,
    /// Where and how history is kept; `None`: `--history off`.
    pub history: Option<HistoryOptions>,
}

/// The history ledger the agent writes.
#[derive(Debug, Clone)]
pub struct HistoryOptions {
    /// The store and its bounds, for the writer thread.
    pub writer: WriterConfig,
    /// Seconds of one ledger minute: 60, shorter only in tests (a hidden,
    /// bounded flag).
    pub bucket_s: i64,
}

/// Why the agent stopped.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    /// The listen address could not be bound.
    #[error("listening on {addr} (choose another with --listen)")]
    Listen {
        /// The address asked for.
        addr: SocketAddr,
        /// Why binding failed (in use, not permitted, ...).
        #[source]
        source: std::io::Error,
    },
    /// The capture failed.
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// The history writer thread could not be started.
    #[error("starting the history writer")]
    History {
        /// Why the thread could not be spawned.
        #[source]
        source: std::io::Error,
    },
}

/// Serves until `stop` is set. `on_listening` is told the bound address
/// once the server is up (before the first read).
pub fn serve(
    engine: &mut Engine,
    clock: &dyn Clock,
    stop: &AtomicBool,
    reload: &AtomicBool,
    opts: &ServeOptions,
    on_listening: impl FnOnce(SocketAddr),
) -> Result<(), AgentError> {
    let interval = engine.config().read_interval;
    let mut shared = Shared::new(Duration::from_secs(30) + 5 * interval);
    // The writer thread opens the store itself: a store that is down
    // degrades history, never the agent.
    let history = match &opts.history {
        Some(h) => {
            let writer = Writer::start(h.writer.clone(), Box::new(unix_now))
                .map_err(|source| AgentError::History { source })?;
            shared.set_history(HistoryAccess {
                target: h.writer.target.clone(),
                host: h.writer.host.clone(),
                status: writer.status(),
            });
            Some(HistoryFeed::new(writer, h.bucket_s))
        }
        None => None,
    };
    let shared = Arc::new(shared);
    let web = Arc::new(WebState::new(opts.web.clone()));
    let server = HttpServer::start(opts.listen, shared.clone(), web.clone()).map_err(|source| {
        AgentError::Listen {
            addr: opts.listen,
            source,
        }
    })?;
    on_listening(server.addr());
    // Each closed TCP connection, once, for the per-identity counters.
    engine.count_closed();
    let mut state = AgentState {
        budget: Budget::new(opts.metrics.budget()),
        remotes: opts.metrics.remote_budget().map(Budget::new),
        metrics: opts.metrics,
        tracker: DeltaTracker::with_remotes(opts.metrics.remote_series > 0 || history.is_some()),
        history,
        sys: SysClassNet::new(&engine.config().sys_root),
        resolver_slots: Vec::new(),
        started_at: clock.wall(),
        t0: clock.now(),
    };
    let result = engine.run(clock, None, stop, |e| {
        if reload.swap(false, Ordering::Relaxed) {
            state.reload(opts, clock);
            reload_web(opts, &web);
        }
        let p = state.read(e, clock)?;
        shared.publish(p);
        Ok::<(), AgentError>(())
    });
    server.stop();
    if let Some(h) = state.history.take() {
        // The open minute and anything queued are written before exit.
        h.stop();
    }
    result.map(drop)
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// SIGHUP: re-reads the web config file, if there is one; a bad one keeps
/// the running settings.
fn reload_web(opts: &ServeOptions, web: &WebState) {
    let Some(path) = &opts.web_config_file else {
        return;
    };
    match WebSettings::load(path) {
        Ok(new) => {
            let what = new.describe();
            match web.replace(new) {
                Ok(()) => eprintln!("netoproc: SIGHUP: reloaded {} ({what})", path.display()),
                Err(why) => eprintln!(
                    "netoproc: SIGHUP: keeping the running web config: {}: {why}",
                    path.display()
                ),
            }
        }
        Err(e) => eprintln!("netoproc: SIGHUP: keeping the running web config: {e}"),
    }
}

struct AgentState {
    budget: Budget,
    /// The budget of (identity, remote) pairs, when remote series are on.
    remotes: Option<Budget>,
    metrics: MetricsSettings,
    tracker: DeltaTracker,
    sys: SysClassNet,
    /// Resolvers with series of their own, in order of first sight.
    resolver_slots: Vec<SocketAddr>,
    started_at: SystemTime,
    t0: std::time::Instant,
    /// The ledger's open minute; `None` with `--history off`.
    history: Option<HistoryFeed>,
}

impl AgentState {
    fn reload(&mut self, opts: &ServeOptions, clock: &dyn Clock) {
        let Some(path) = &opts.config_path else {
            if opts.web_config_file.is_none() {
                eprintln!("netoproc: SIGHUP: no --config file to reload");
            }
            return;
        };
        let loaded = FileConfig::load(path)
            .and_then(|file| MetricsSettings::resolve(&opts.metrics_flags, &file.metrics));
        match loaded {
            Ok(m) => {
                self.metrics = m;
                self.budget.reconfigure(m.budget(), clock.now());
                match (&mut self.remotes, m.remote_budget()) {
                    (Some(b), Some(cfg)) => b.reconfigure(cfg, clock.now()),
                    (slot, cfg) => *slot = cfg.map(Budget::new),
                }
                self.tracker
                    .set_remotes(m.remote_series > 0 || self.history.is_some());
                eprintln!(
                    "netoproc: SIGHUP: reloaded [metrics] from {} (max_series {}, identity_ttl_s {}, tcp_connections {}); other keys apply at the next start",
                    path.display(),
                    m.max_series,
                    m.ttl.as_secs(),
                    m.tcp_connections
                );
            }
            Err(e) => eprintln!(
                "netoproc: SIGHUP: keeping the running config: {}",
                netoproc_core::error::Chain(&e)
            ),
        }
    }

    fn read(&mut self, e: &mut Engine, clock: &dyn Clock) -> Result<Published, EngineError> {
        let now = clock.now();
        e.name_processes();
        let mut report = e.ledger().report();
        e.look_up_containers(&report);
        e.identify(&mut report);
        let dns = e.dns_report(&report);
        let closed = e.take_closed();
        let deltas = self.tracker.read(
            now,
            e.ledger(),
            &report,
            dns.as_ref().map(|(d, _)| d),
            e.containers(),
            &closed,
        );
        if let Some(h) = self.history.as_mut() {
            let latencies: Vec<(SocketAddr, netoproc_dns::LatencyHistogram)> = e
                .dns()
                .map(|obs| {
                    obs.resolver_latencies()
                        .map(|(a, h)| (a, h.clone()))
                        .collect()
                })
                .unwrap_or_default();
            let wall = clock
                .wall()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs() as i64);
            h.add(
                wall,
                &deltas.by_identity,
                &deltas.by_remote,
                dns.as_ref().map(|(d, _)| d),
                &latencies,
            );
        }
        self.budget.apply(now, deltas.by_identity);
        let remotes = self.remotes.as_mut().map(|b| {
            b.apply(now, deltas.by_remote);
            let mut pairs: Vec<(Identity, crate::tally::Tally)> =
                b.exported().map(|(id, x)| (id.clone(), x.tally)).collect();
            pairs.sort_by(|a, b| a.0.cmp(&b.0));
            pairs.push((Identity::other(), *b.other()));
            RemoteSeries {
                pairs,
                retired: *b.retired(),
                budget: b.stats(),
                max_pairs: b.config().max_identities,
            }
        });

        let mut identities: Vec<(Identity, crate::tally::Tally)> = self
            .budget
            .exported()
            .map(|(id, x)| (id.clone(), x.tally))
            .collect();
        identities.sort_by(|a, b| a.0.cmp(&b.0));
        identities.push((Identity::other(), *self.budget.other()));

        let mut info = Vec::new();
        for (id, _) in &identities {
            let Some(pids) = deltas.live_pids.get(id) else {
                continue;
            };
            for &pid in pids.iter().take(self.metrics.info_per_identity) {
                let cmdline = e
                    .ledger()
                    .process(pid)
                    .map(|p| p.cmdline.chars().take(MAX_CMDLINE).collect())
                    .unwrap_or_default();
                info.push(ProcessInfoRow {
                    identity: id.clone(),
                    pid,
                    cmdline,
                });
            }
        }

        let resolvers = dns.as_ref().map(|(d, _)| self.resolvers(e, d));
        let losses = e.losses()?;
        let capture = e.info().clone();
        let meta = Meta {
            version: env!("CARGO_PKG_VERSION").to_string(),
            capture_mode: capture.mode.to_string(),
            hooks: capture.hooks.to_string(),
            live_read: capture.live_read.map(str::to_string),
            kernel: e
                .procfs()
                .kernel_release()
                .unwrap_or_else(|_| "unknown".into()),
            duration_s: now.saturating_duration_since(self.t0).as_secs_f64(),
            started_at: self.started_at,
            interrupted: false,
            lost: losses,
            connections_folded: e.folded(),
            processes_folded: e.ledger().processes_folded(),
            degraded: capture.degraded.clone(),
            programs: capture.programs.clone(),
            attribution: e.attribution(),
            namespaces: e.namespaces_seen(),
        };
        let (dns_report, remote_hosts) = match dns {
            Some((d, h)) => (Some(d), Some(h)),
            None => (None, None),
        };
        let published = Published {
            identities,
            retired: *self.budget.retired(),
            remotes,
            info,
            budget: self.budget.stats(),
            budget_config: self.budget.config(),
            max_series: self.metrics.max_series,
            losses,
            lifecycle: LifecycleLosses {
                steps_dropped: e.lifecycle_dropped(),
                rows_dropped: e.lifecycle_rows_dropped(),
                owners_folded: e.closed_owners_folded(),
            },
            tcp_connections: self.metrics.tcp_connections,
            interfaces: bounded_interfaces(self.sys.read().unwrap_or_default()),
            resolvers,
            capture,
            own: e.own_usage(now),
            reads: e.reads(),
            read_at: clock.wall(),
            history: self.history.as_ref().map(HistoryFeed::view),
            snapshot: SnapshotParts {
                meta,
                report,
                dns: dns_report,
                remote_hosts,
            },
        };
        // Closed sockets were counted; from now on only their process
        // totals are kept, and processes idle for the TTL not even those.
        e.retire_closed();
        let gone = self.tracker.forget_idle(now, self.metrics.ttl);
        if !gone.is_empty() {
            e.forget_processes(&gone);
        }
        Ok(published)
    }

    /// The first [`MAX_RESOLVERS`] resolvers seen keep series of their own
    /// for the agent's life; later ones are summed as `other`. Both are
    /// sums of cumulative counts over a set that only grows, so no series
    /// goes down.
    fn resolvers(
        &mut self,
        e: &Engine,
        d: &netoproc_dns::DnsReport,
    ) -> Vec<(String, ResolverSeries)> {
        let mut addrs: Vec<SocketAddr> = d.resolvers.iter().map(|r| r.resolver).collect();
        addrs.sort();
        for a in addrs {
            if self.resolver_slots.len() < MAX_RESOLVERS && !self.resolver_slots.contains(&a) {
                self.resolver_slots.push(a);
            }
        }
        let mut own: Vec<(String, ResolverSeries)> = self
            .resolver_slots
            .iter()
            .map(|a| (a.to_string(), ResolverSeries::default()))
            .collect();
        let mut other = ResolverSeries::default();
        let slot = |a: &SocketAddr| self.resolver_slots.iter().position(|s| s == a);
        for r in &d.resolvers {
            let counts = DnsCounts::from_row(r.answered, &r.failures);
            match slot(&r.resolver) {
                Some(i) => own[i].1.dns.add(&counts),
                None => other.dns.add(&counts),
            }
        }
        if let Some(obs) = e.dns() {
            for (a, h) in obs.resolver_latencies() {
                let target = match slot(&a) {
                    Some(i) => &mut own[i].1.latency,
                    None => &mut other.latency,
                };
                for (t, s) in target.buckets.iter_mut().zip(&h.buckets) {
                    *t += s;
                }
                target.above += h.above;
                target.sum_ns = target.sum_ns.saturating_add(h.sum_ns);
                target.count += h.count;
            }
        }
        own.push(("other".into(), other));
        own
    }
}

/// The first [`MAX_INTERFACES`] interfaces by name, the rest summed as
/// `other`.
fn bounded_interfaces(mut all: Vec<InterfaceCounters>) -> Vec<InterfaceCounters> {
    if all.len() <= MAX_INTERFACES {
        return all;
    }
    let rest = all.split_off(MAX_INTERFACES);
    let mut other = InterfaceCounters {
        name: "other".into(),
        ..InterfaceCounters::default()
    };
    for i in rest {
        other.rx_bytes += i.rx_bytes;
        other.tx_bytes += i.tx_bytes;
        other.rx_packets += i.rx_packets;
        other.tx_packets += i.tx_packets;
    }
    all.push(other);
    all
}
