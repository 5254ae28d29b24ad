//! From one tick's facts to a [`ViewModel`]: the ledger's report, the
//! kernel's interface counters and the run's metadata go in, rows with
//! rates, sparkline history and presence come out. [`LiveModel`] keeps what
//! must survive between ticks — the rate trackers, the interface baseline,
//! and the rows that just disappeared (kept greyed for [`FADE`] so the
//! table does not jump; connections disappear when the ledger retires
//! their closed socket). Time comes in with each tick; no clock is read,
//! and containers come as labels the caller read (from `/proc`, cached).
//! TCP lifecycle rows are joined to connection rows by socket cookie, and
//! only the rollups of processes in the report are kept, so the lifecycle
//! adds no row the report does not have.

use netoproc_core::workload::Workload;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use netoproc_core::lifecycle::LifecycleReport;
use netoproc_core::rates::RateTracker;
use netoproc_core::report::{Losses, Report};
use netoproc_core::Protocol;

use crate::dns::{dns_view, DnsTick};
use crate::model::{
    Attribution, ConnectionView, Header, InterfaceView, LifecycleView, OwnUsage, Presence,
    ProcessView, TcpView, ViewModel,
};
use crate::sysnet::InterfaceCounters;

/// How long a row that disappeared stays on screen, greyed.
pub const FADE: Duration = Duration::from_secs(3);

/// Keys here are pids and already-mixed row keys: a fast hasher is enough.
type Fast = foldhash::fast::RandomState;

/// A process's name and container label, shared by its rows.
type Owner = (Arc<str>, Arc<str>);

/// Per-tick rates kept per process for the sparkline.
pub const HISTORY_LEN: usize = 60;

/// Container or service labels by pid (see `netoproc_procfs::container_label`);
/// pids without one are absent.
pub type Containers = HashMap<u32, Arc<str>>;

/// What one tick observed.
#[derive(Debug)]
pub struct Tick<'a> {
    /// From the run's clock.
    pub now: Instant,
    /// Since capture started.
    pub uptime: Duration,
    /// The ledger's report at this tick.
    pub report: &'a Report,
    /// Everything lost or unattributable so far.
    pub losses: Losses,
    /// The interface counters, or why they could not be read.
    pub interfaces: Result<&'a [InterfaceCounters], String>,
    /// netoproc's own use; `None` when it could not be read.
    pub own: Option<OwnUsage>,
    /// Container or service labels of the report's pids.
    pub containers: &'a Containers,
    /// `None` when DNS capture is off.
    pub dns: Option<DnsTick<'a>>,
    /// TCP connections' lifecycle and the per-process rollups now; `None`
    /// when the capture does not follow them ([`RunInfo::lifecycle_off`]).
    pub lifecycle: Option<&'a LifecycleReport>,
    /// Lifecycle steps lost so far (the backend's ring or backlog was full).
    pub lifecycle_steps_lost: u64,
}

/// Facts about the run that do not change per tick.
#[derive(Debug, Clone, Default)]
pub struct RunInfo {
    /// `ebpf` or `afpacket`.
    pub capture_mode: String,
    /// The byte-hook rung in use, e.g. `tracepoint`.
    pub hooks: String,
    /// Features running degraded, with the reason.
    pub degraded: Vec<String>,
    /// Time between ticks.
    pub interval: Duration,
    /// Why this capture does not follow TCP connections' lifecycle, in
    /// one line; `None` when it does.
    pub lifecycle_off: Option<String>,
    /// Lifecycle fields this capture cannot fill, each with why.
    pub lifecycle_missing: Vec<String>,
}

/// Turns ticks into [`ViewModel`]s, keeping rates, sparkline history,
/// the interface baseline and fading rows between them.
#[derive(Debug)]
pub struct LiveModel {
    run: RunInfo,
    process_rates: RateTracker<u32, Fast>,
    connection_rates: RateTracker<u64, Fast>,
    interface_rates: RateTracker<String>,
    total_rates: RateTracker<()>,
    /// When each process stopped being active (no socket, no traffic).
    idle_since: HashMap<u32, Instant, Fast>,
    /// Last tick's closed connection rows: the ones that disappear next
    /// (retired by the ledger), to be shown fading.
    last_closed: Vec<ConnectionView>,
    /// Rows gone since, with the instant they went.
    fading: HashMap<u64, (ConnectionView, Instant), Fast>,
    interface_baseline: HashMap<String, InterfaceCounters>,
    /// The label of processes in no known container, shared.
    no_container: Arc<str>,
}

impl LiveModel {
    /// Nothing seen yet; the first tick's interface counters become the
    /// baseline.
    pub fn new(run: RunInfo) -> Self {
        LiveModel {
            run,
            process_rates: RateTracker::with_hasher(HISTORY_LEN),
            connection_rates: RateTracker::with_hasher(0),
            interface_rates: RateTracker::new(0),
            total_rates: RateTracker::new(0),
            idle_since: HashMap::default(),
            last_closed: Vec::new(),
            fading: HashMap::default(),
            interface_baseline: HashMap::new(),
            no_container: Arc::from(""),
        }
    }

    /// Folds in one tick and returns what to show.
    pub fn update(&mut self, tick: &Tick<'_>) -> ViewModel {
        let r = tick.report;
        let now = tick.now;
        self.total_rates
            .update(now, [((), r.total.rx_bytes, r.total.tx_bytes)]);

        let mut owners: HashMap<u32, Owner, Fast> =
            HashMap::with_capacity_and_hasher(r.processes.len(), Fast::default());
        for p in &r.processes {
            // The identity's label names containers by name when the
            // runtime's state told it; else the cgroup label read by pid.
            let label = p
                .identity
                .as_ref()
                .filter(|i| !matches!(i.workload, Workload::Host | Workload::UserSession { .. }))
                .map(|i| Arc::from(i.workload.label()));
            let container = tick.containers.get(&p.pid);
            let container =
                label.unwrap_or_else(|| container.unwrap_or(&self.no_container).clone());
            owners.insert(p.pid, (Arc::from(p.process.as_str()), container));
        }

        let tcp = tcp_by_cookie(tick.lifecycle);
        let connections = self.connections(tick, &owners, &tcp);
        let mut conns_of: HashMap<u32, u32, Fast> = HashMap::default();
        for c in connections.iter().filter(|c| c.presence == Presence::Live) {
            *conns_of.entry(c.pid).or_default() += 1;
        }

        self.process_rates.update(
            now,
            r.processes
                .iter()
                .map(|p| (p.pid, p.counters.rx_bytes, p.counters.tx_bytes)),
        );
        let mut active_processes = 0;
        let processes: Vec<ProcessView> = r
            .processes
            .iter()
            .map(|p| {
                let rates = self.process_rates.rates(&p.pid);
                let connections = conns_of.get(&p.pid).copied().unwrap_or(0);
                let presence = if connections > 0 || rates.last_60s.total() > 0.0 {
                    self.idle_since.remove(&p.pid);
                    active_processes += 1;
                    Presence::Live
                } else {
                    let since = *self.idle_since.entry(p.pid).or_insert(now);
                    fade(now, since)
                };
                ProcessView {
                    pid: p.pid,
                    name: owners[&p.pid].0.clone(),
                    container: owners[&p.pid].1.clone(),
                    cmdline: p.cmdline.clone(),
                    uid: p.uid,
                    identity: p.identity.clone(),
                    members: 1,
                    rates,
                    rx_bytes: p.counters.rx_bytes,
                    tx_bytes: p.counters.tx_bytes,
                    connections,
                    history: self
                        .process_rates
                        .history(&p.pid)
                        .map(|(rx, tx)| rx + tx)
                        .collect(),
                    presence,
                }
            })
            .collect();

        let (interfaces, interfaces_error) = match &tick.interfaces {
            Ok(ifs) => (self.interfaces(now, ifs), None),
            Err(e) => (Vec::new(), Some(e.clone())),
        };
        let attribution = Attribution {
            interface_rx_bytes: interfaces.iter().map(|i| i.since_start.rx_bytes).sum(),
            interface_tx_bytes: interfaces.iter().map(|i| i.since_start.tx_bytes).sum(),
            process_rx_wire_bytes: r.total.rx_wire_bytes,
            process_tx_wire_bytes: r.total.tx_wire_bytes,
        };
        let header = Header {
            capture_mode: self.run.capture_mode.clone(),
            hooks: self.run.hooks.clone(),
            degraded: self.run.degraded.clone(),
            uptime: tick.uptime,
            interval: self.run.interval,
            total: r.total,
            total_rates: self.total_rates.rates(&()),
            active_processes,
            connections: connections
                .iter()
                .filter(|c| c.presence == Presence::Live)
                .count(),
            losses: tick.losses,
            own: tick.own,
        };
        ViewModel {
            header,
            processes,
            connections,
            interfaces,
            interfaces_error,
            attribution,
            dns: tick.dns.as_ref().map(|d| dns_view(d, tick.uptime)),
            lifecycle: self.lifecycle(tick),
            ..ViewModel::default()
        }
    }

    /// Whether lifecycle is followed, and the rollups of the report's
    /// processes.
    fn lifecycle(&self, tick: &Tick<'_>) -> LifecycleView {
        let off = match (&self.run.lifecycle_off, tick.lifecycle) {
            (Some(why), _) => Some(why.clone()),
            (None, None) => Some("no lifecycle report was read".into()),
            (None, Some(_)) => None,
        };
        let mut view = LifecycleView {
            off,
            missing: self.run.lifecycle_missing.clone(),
            steps_lost: tick.lifecycle_steps_lost,
            ..LifecycleView::default()
        };
        if let Some(l) = tick.lifecycle.filter(|_| view.off.is_none()) {
            let shown: std::collections::HashSet<u32, Fast> =
                tick.report.processes.iter().map(|p| p.pid).collect();
            view.processes = l
                .processes
                .iter()
                .filter(|p| shown.contains(&p.pid))
                .map(|p| (p.pid, p.clone()))
                .collect();
            view.rows_dropped = l.rows_dropped;
        }
        view
    }

    fn connections(
        &mut self,
        tick: &Tick<'_>,
        owners: &HashMap<u32, Owner, Fast>,
        tcp: &HashMap<u64, TcpView, Fast>,
    ) -> Vec<ConnectionView> {
        let r = tick.report;
        // Keys and counters in one compact pass over the (large) report
        // rows, which the tracker then reads instead of the rows again.
        let keyed: Vec<(u64, u64, u64)> = r
            .connections
            .iter()
            .map(|c| {
                let key = connection_key(c.cookie, c.remote);
                (key, c.counters.rx_bytes, c.counters.tx_bytes)
            })
            .collect();
        self.connection_rates
            .update(tick.now, keyed.iter().copied());
        // Names from DNS answers, shared by the rows to the same address.
        let mut hosts: HashMap<IpAddr, Arc<str>, Fast> = HashMap::default();
        if let Some(d) = &tick.dns {
            hosts.reserve(d.remote_hosts.len());
            hosts.extend(
                d.remote_hosts
                    .iter()
                    .map(|(ip, name)| (*ip, Arc::from(name.as_str()))),
            );
        }
        let mut rows: Vec<ConnectionView> =
            Vec::with_capacity(keyed.len() + self.fading.len() + 16);
        rows.extend(r.connections.iter().zip(&keyed).map(|(c, &(key, _, _))| {
            let (process, container) = match owners.get(&c.pid) {
                Some((name, container)) => (name.clone(), container.clone()),
                None => (Arc::from(c.process.as_str()), self.no_container.clone()),
            };
            ConnectionView {
                key,
                protocol: c.protocol,
                local: c.local,
                remote: c.remote,
                remote_host: c
                    .remote
                    .filter(|_| !hosts.is_empty())
                    .and_then(|r| hosts.get(&r.ip()).cloned()),
                state: c.state,
                pid: c.pid,
                process,
                container,
                rates: self.connection_rates.rates(&key),
                rx_bytes: c.counters.rx_bytes,
                tx_bytes: c.counters.tx_bytes,
                presence: Presence::Live,
                tcp: if c.protocol == Protocol::Tcp {
                    tcp.get(&c.cookie).copied()
                } else {
                    None
                },
            }
        }));

        // Only closed sockets are retired, so only closed rows can vanish
        // (an unconnected UDP remainder row that drops to zero just goes).
        let closed_now: Vec<ConnectionView> = rows
            .iter()
            .filter(|c| c.state == "closed")
            .cloned()
            .collect();
        let current = &self.connection_rates;
        for row in std::mem::replace(&mut self.last_closed, closed_now) {
            if !current.contains(&row.key) {
                self.fading.insert(row.key, (row, tick.now));
            }
        }
        self.fading
            .retain(|k, (_, since)| !current.contains(k) && tick.now - *since < FADE);
        for (row, _) in self.fading.values() {
            rows.push(ConnectionView {
                state: "closed",
                rates: Default::default(),
                presence: Presence::Fading,
                ..row.clone()
            });
        }
        rows
    }

    fn interfaces(&mut self, now: Instant, ifs: &[InterfaceCounters]) -> Vec<InterfaceView> {
        self.interface_rates.update(
            now,
            ifs.iter().map(|i| (i.name.clone(), i.rx_bytes, i.tx_bytes)),
        );
        ifs.iter()
            .map(|i| {
                let base = self
                    .interface_baseline
                    .entry(i.name.clone())
                    .or_insert_with(|| i.clone());
                InterfaceView {
                    since_start: i.since(base),
                    rates: self.interface_rates.rates(&i.name),
                }
            })
            .collect()
    }
}

/// Each TCP connection's health by socket cookie (the key the ledger's
/// connection rows carry too).
fn tcp_by_cookie(report: Option<&LifecycleReport>) -> HashMap<u64, TcpView, Fast> {
    let Some(l) = report else {
        return HashMap::default();
    };
    l.connections
        .iter()
        .map(|c| {
            (
                c.cookie,
                TcpView {
                    role: c.role,
                    outcome: c.outcome,
                    handshake_ms: c.handshake_ms,
                    rtt_ms: c.rtt_ms,
                    retransmits: c.retransmits,
                    response_p50_ms: c.response_ms.p50,
                },
            )
        })
        .collect()
}

fn fade(now: Instant, since: Instant) -> Presence {
    if now.saturating_duration_since(since) < FADE {
        Presence::Fading
    } else {
        Presence::Idle
    }
}

/// A row's identity: its socket cookie and (for unconnected UDP) remote.
pub fn connection_key(cookie: u64, remote: Option<SocketAddr>) -> u64 {
    let mix = |h: u64, v: u64| (h ^ v).wrapping_mul(0x9e37_79b9_7f4a_7c15).rotate_left(29);
    let mut h = mix(0x243f_6a88_85a3_08d3, cookie);
    if let Some(a) = remote {
        let ip = match a.ip() {
            IpAddr::V4(v4) => u128::from(u32::from(v4)),
            IpAddr::V6(v6) => u128::from(v6),
        };
        h = mix(h, ip as u64);
        h = mix(h, (ip >> 64) as u64);
        h = mix(h, u64::from(a.port()) | 1 << 32);
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;
    use netoproc_core::report::{ConnectionRow, ProcessRow};
    use netoproc_core::{Counters, Family, Protocol};

    fn report(tx: u64, open: bool) -> Report {
        let counters = Counters {
            tx_bytes: tx,
            ..Counters::default()
        };
        Report {
            processes: vec![ProcessRow {
                pid: 7,
                process: "curl".into(),
                cmdline: String::new(),
                uid: Some(0),
                start_time_ns: None,
                cgroup_id: 0,
                sockets: 1,
                counters,
                identity: None,
            }],
            connections: open
                .then(|| ConnectionRow {
                    protocol: Protocol::Tcp,
                    family: Family::Ipv4,
                    local: None,
                    remote: None,
                    state: "closed",
                    pid: 7,
                    process: "curl".into(),
                    cookie: 1,
                    counters,
                })
                .into_iter()
                .collect(),
            total: counters,
        }
    }

    #[test]
    fn rows_fade_then_go() {
        let t0 = Instant::now();
        let mut m = LiveModel::new(RunInfo::default());
        let mut at = |secs: u64, r: &Report| {
            m.update(&Tick {
                now: t0 + Duration::from_secs(secs),
                uptime: Duration::from_secs(secs),
                report: r,
                losses: Losses::default(),
                interfaces: Ok(&[]),
                own: None,
                containers: &Containers::new(),
                dns: None,
                lifecycle: None,
                lifecycle_steps_lost: 0,
            })
        };
        at(0, &report(0, true));
        let vm = at(1, &report(100, true));
        assert_eq!(vm.processes[0].presence, Presence::Live);
        assert_eq!(vm.processes[0].rates.last_1s.tx, 100.0);
        // The closed socket was retired: its row fades for FADE, then goes.
        let vm = at(2, &report(100, false));
        assert_eq!(vm.connections.len(), 1);
        assert_eq!(vm.connections[0].presence, Presence::Fading);
        assert_eq!(at(4, &report(100, false)).connections.len(), 1);
        assert!(at(5, &report(100, false)).connections.is_empty());
        // The process stays live while it moved bytes in the last minute,
        // fades when it has not, and is idle (totals only) after that.
        assert_eq!(
            at(60, &report(100, false)).processes[0].presence,
            Presence::Live
        );
        assert_eq!(
            at(62, &report(100, false)).processes[0].presence,
            Presence::Fading
        );
        assert_eq!(
            at(66, &report(100, false)).processes[0].presence,
            Presence::Idle
        );
        assert_eq!(
            at(67, &report(200, false)).processes[0].presence,
            Presence::Live
        );
    }

    #[test]
    fn connection_keys_tell_remotes_apart() {
        let a: SocketAddr = "10.0.0.1:53".parse().unwrap();
        let b: SocketAddr = "10.0.0.1:54".parse().unwrap();
        let k = |r| connection_key(9, r);
        assert_ne!(k(Some(a)), k(Some(b)));
        assert_ne!(k(Some(a)), k(None));
        assert_ne!(connection_key(9, None), connection_key(10, None));
        assert_eq!(k(Some(a)), k(Some(a)));
    }
}
