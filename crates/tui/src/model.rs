//! What one frame shows: the header facts and the rows of every view, built
//! once per tick by [`crate::aggregate::LiveModel`], and their arrangement
//! (filtered and sorted for the current [`App`]) computed by
//! [`ViewModel::arrange`] only when the rows or the app's choices change —
//! never per frame. Rendering reads this; it never computes rates or
//! sorts.

use std::cmp::Ordering;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use netoproc_core::rates::{Rate, Rates};
use netoproc_core::report::Losses;
use netoproc_core::{Counters, Protocol};

use crate::app::{App, Screen, Sort, SortColumn};
use crate::dns::{query_matches, DnsView};
use crate::sysnet::InterfaceCounters;
use netoproc_core::group::{group_key, GroupBy, Member};
use netoproc_core::lifecycle::{Outcome, ProcessHealth, Role};
use netoproc_core::workload::ProcessIdentity;
#[cfg(test)]
use netoproc_core::workload::Workload;

/// Whether a row is current, just disappeared (shown greyed for a few
/// seconds), or long gone (processes only: listed in totals mode).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Presence {
    /// Open connection, or a process with one or with traffic in the
    /// last minute.
    Live,
    /// Gone for less than [`crate::aggregate::FADE`]: shown greyed.
    Fading,
    /// A process inactive for longer: hidden unless totals mode is on.
    Idle,
}

/// netoproc's own resource use.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct OwnUsage {
    /// Share of one core over the last tick, in percent.
    pub cpu_percent: f64,
    /// Resident memory, in KiB.
    pub rss_kib: u64,
}

/// The facts of the header lines: capture, uptime, totals, losses.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Header {
    /// `ebpf` or `afpacket`.
    pub capture_mode: String,
    /// Byte hooks in use, e.g. `tracepoint`.
    pub hooks: String,
    /// Features running degraded.
    pub degraded: Vec<String>,
    /// Since capture started, by the run's clock.
    pub uptime: Duration,
    /// Time between ticks.
    pub interval: Duration,
    /// All processes since start (payload bytes).
    pub total: Counters,
    /// Payload bytes per second of all processes together.
    pub total_rates: Rates,
    /// Processes with an open socket or traffic in the last minute.
    pub active_processes: usize,
    /// Connection rows live now (fading ones not counted).
    pub connections: usize,
    /// Everything lost or unattributable so far.
    pub losses: Losses,
    /// netoproc's own use; `None` when it could not be read.
    pub own: Option<OwnUsage>,
}

/// One row of the processes view: a process, or a group of them.
#[derive(Debug, Clone, PartialEq)]
pub struct ProcessView {
    /// Process id; 0 for the `(other processes)` row and group rows.
    pub pid: u32,
    /// Task name; a group row: the group's name.
    pub name: Arc<str>,
    /// Arguments joined by spaces (cut to 4096 bytes); empty when
    /// unreadable.
    pub cmdline: String,
    /// The container or systemd service it runs in (`docker:3f9a1c0b7e22`,
    /// `nginx.service`), empty when none is known. A group row: its key.
    pub container: Arc<str>,
    /// `None` when not known (and for group rows).
    pub uid: Option<u32>,
    /// Its cgroup, namespace, user and workload, when read.
    pub identity: Option<Arc<ProcessIdentity>>,
    /// 1 for a process; the processes summed for a group row.
    pub members: u32,
    /// Payload bytes per second over the last 1, 10 and 60 s.
    pub rates: Rates,
    /// Payload bytes received since start.
    pub rx_bytes: u64,
    /// Payload bytes sent since start.
    pub tx_bytes: u64,
    /// Connection rows the process has now.
    pub connections: u32,
    /// rx + tx bytes per second of each of the last ticks, oldest first.
    pub history: Vec<u64>,
    /// Live, fading or idle.
    pub presence: Presence,
}

/// One row of the connections view.
#[derive(Debug, Clone, PartialEq)]
pub struct ConnectionView {
    /// Stable identity of the row across ticks (socket and remote).
    pub key: u64,
    /// TCP or UDP.
    pub protocol: Protocol,
    /// `None` when only packets were seen before any send/receive call.
    pub local: Option<SocketAddr>,
    /// `None` for unconnected UDP traffic whose remote is not known.
    pub remote: Option<SocketAddr>,
    /// The name a DNS answer gave the remote address, when one did.
    pub remote_host: Option<Arc<str>>,
    /// `open` or `closed`.
    pub state: &'static str,
    /// The owner's pid; 0 when no process could be named.
    pub pid: u32,
    /// The owner's task name.
    pub process: Arc<str>,
    /// The owner's container or service, empty when none is known.
    pub container: Arc<str>,
    /// Payload bytes per second over the last 1, 10 and 60 s.
    pub rates: Rates,
    /// Payload bytes received since start.
    pub rx_bytes: u64,
    /// Payload bytes sent since start.
    pub tx_bytes: u64,
    /// Live, or fading after its closed socket was retired.
    pub presence: Presence,
    /// Its TCP health, from its lifecycle: `None` for UDP, when the capture
    /// does not follow TCP connections, or while the connection is not
    /// (or no longer) in the lifecycle report.
    pub tcp: Option<TcpView>,
}

impl ConnectionView {
    /// What the STATE column shows: how a TCP connection ended when its
    /// lifecycle says (`success`, `refused`, `reset`, `timeout`, `unreach`,
    /// `aborted` for aborted by exit, `other`), else `open` or `closed`.
    pub fn state_label(&self) -> &'static str {
        match self.tcp.map(|t| t.outcome) {
            None | Some(Outcome::Open) => self.state,
            Some(Outcome::Unreachable) => "unreach",
            Some(Outcome::AbortedByExit) => "aborted",
            Some(o) => o.as_str(),
        }
    }
}

/// One TCP connection's health as the connections view shows it (from
/// `netoproc_core::lifecycle::ConnectionRow`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TcpView {
    /// Client or server.
    pub role: Role,
    /// How it ended, or `Open`.
    pub outcome: Outcome,
    /// SYN to established (client) or the SYN-ACK's round trip (server), ms.
    pub handshake_ms: Option<f64>,
    /// Smoothed RTT, ms.
    pub rtt_ms: Option<f64>,
    /// Segments retransmitted (the kernel's per-socket count).
    pub retransmits: Option<u32>,
    /// Median response time, ms.
    pub response_p50_ms: Option<f64>,
}

/// TCP lifecycle and health of the run: whether the capture follows TCP
/// connections (and why not), and the per-process rollups of the processes
/// in the report.
#[derive(Debug, Clone, PartialEq)]
pub struct LifecycleView {
    /// Why the capture does not follow TCP connections, in one line;
    /// `None` when it does.
    pub off: Option<String>,
    /// Fields this capture cannot fill, each with why (e.g. response time
    /// on the kprobe rung).
    pub missing: Vec<String>,
    /// Rollups by pid, of the processes in the report only (bounded as
    /// they are).
    pub processes: HashMap<u32, ProcessHealth>,
    /// Connections the lifecycle book did not keep as rows (too many open
    /// at once): counted in their process's rollup when they close, but
    /// shown without health.
    pub rows_dropped: u64,
    /// Lifecycle steps lost before they were counted (ring or backlog full).
    pub steps_lost: u64,
}

impl Default for LifecycleView {
    /// Nothing read yet: off, saying so.
    fn default() -> Self {
        LifecycleView {
            off: Some("no lifecycle report was read".into()),
            missing: Vec::new(),
            processes: HashMap::new(),
            rows_dropped: 0,
            steps_lost: 0,
        }
    }
}

impl LifecycleView {
    /// Whether the capture follows TCP connections (health columns and
    /// rollups are shown).
    pub fn on(&self) -> bool {
        self.off.is_none()
    }
}

/// One row of the interfaces view.
#[derive(Debug, Clone, PartialEq)]
pub struct InterfaceView {
    /// Counters moved since netoproc started.
    pub since_start: InterfaceCounters,
    /// Link-layer bytes per second, as the kernel counts them.
    pub rates: Rates,
}

/// Interface traffic against what was attributed to processes, since start.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Attribution {
    /// Bytes every interface received, summed (link layer, kernel counters).
    pub interface_rx_bytes: u64,
    /// Bytes every interface sent, summed.
    pub interface_tx_bytes: u64,
    /// IP-layer bytes of process sockets, received.
    pub process_rx_wire_bytes: u64,
    /// IP-layer bytes of process sockets, sent.
    pub process_tx_wire_bytes: u64,
}

/// Everything one frame shows, and its current arrangement.
#[derive(Debug, Clone, Default)]
pub struct ViewModel {
    /// The header lines.
    pub header: Header,
    /// Every process row, in the report's order (see [`ViewModel::order`]).
    pub processes: Vec<ProcessView>,
    /// Every connection row, fading ones included.
    pub connections: Vec<ConnectionView>,
    /// One row per interface.
    pub interfaces: Vec<InterfaceView>,
    /// Why the interface counters could not be read, if they could not.
    pub interfaces_error: Option<String>,
    /// Interface bytes against bytes attributed to processes.
    pub attribution: Attribution,
    /// `None` when DNS capture is off.
    pub dns: Option<DnsView>,
    /// TCP lifecycle rollups per process, or why there are none.
    pub lifecycle: LifecycleView,
    /// The processes view's group rows while it groups (`o`), built when
    /// arranged: each the exact sum of its members.
    pub groups: Vec<ProcessView>,
    pub(crate) arranged: Arranged,
}

/// The current view's rows, filtered and sorted.
#[derive(Debug, Clone, Default)]
pub(crate) struct Arranged {
    for_key: Option<ArrangeKey>,
    order: Vec<u32>,
    keys: Vec<u64>,
}

/// Everything in [`App`] that changes which rows show, in which order.
#[derive(Debug, Clone, PartialEq, Eq)]
struct ArrangeKey {
    view: Screen,
    sort: Sort,
    filter: String,
    drill_pid: Option<u32>,
    totals: bool,
    window: usize,
    group_by: GroupBy,
}

impl ViewModel {
    /// The processes view's rows: group rows while grouping, else the
    /// processes. [`ViewModel::order`] indexes into these.
    pub fn process_rows(&self) -> &[ProcessView] {
        if self.grouped() {
            &self.groups
        } else {
            &self.processes
        }
    }

    /// Whether the processes view shows group rows.
    pub fn grouped(&self) -> bool {
        self.arranged
            .for_key
            .as_ref()
            .is_some_and(|k| k.group_by != GroupBy::Process)
    }

    /// Filters and sorts the current view's rows for `app`; does nothing
    /// when neither the rows nor the relevant choices changed.
    pub fn arrange(&mut self, app: &App) {
        let key = ArrangeKey {
            view: app.view,
            sort: app.sort(),
            filter: app.filter.to_lowercase(),
            drill_pid: app.drill_pid,
            totals: app.totals,
            window: app.window,
            group_by: app.group_by,
        };
        if self.arranged.for_key.as_ref() == Some(&key) {
            return;
        }
        let order = match key.view {
            Screen::Processes => self.arrange_processes(&key),
            Screen::Connections => self.arrange_connections(&key),
            Screen::Interfaces => self.arrange_interfaces(&key),
            Screen::Dns => self.arrange_queries(&key),
        };
        let grouped = key.group_by != GroupBy::Process;
        let keys = order
            .iter()
            .map(|&i| self.row_key(key.view, grouped, i))
            .collect();
        self.arranged = Arranged {
            for_key: Some(key),
            order,
            keys,
        };
    }

    /// Indices of the current view's rows in screen order (into
    /// `processes`, `connections`, `interfaces` or the DNS queries).
    pub fn order(&self) -> &[u32] {
        &self.arranged.order
    }

    /// Keys of the arranged rows, for [`App::on_key`] and [`App::follow`].
    pub fn row_keys(&self) -> &[u64] {
        &self.arranged.keys
    }

    /// A model whose arranged rows have these keys (and nothing else).
    #[cfg(test)]
    pub(crate) fn with_row_keys(keys: &[u64]) -> ViewModel {
        let mut vm = ViewModel::default();
        vm.arranged.keys = keys.to_vec();
        vm
    }

    fn row_key(&self, view: Screen, grouped: bool, i: u32) -> u64 {
        let i = i as usize;
        match view {
            Screen::Processes if grouped => name_key(&self.groups[i].container),
            Screen::Processes => u64::from(self.processes[i].pid),
            Screen::Connections => self.connections[i].key,
            Screen::Interfaces => name_key(&self.interfaces[i].since_start.name),
            Screen::Dns => self.dns.as_ref().map_or(0, |d| d.queries[i].key),
        }
    }

    /// The DNS queries matching the filter, newest first as they come.
    fn arrange_queries(&self, k: &ArrangeKey) -> Vec<u32> {
        let Some(dns) = &self.dns else {
            return Vec::new();
        };
        (0..dns.queries.len() as u32)
            .filter(|&i| k.filter.is_empty() || query_matches(&dns.queries[i as usize], &k.filter))
            .collect()
    }

    fn arrange_processes(&mut self, k: &ArrangeKey) -> Vec<u32> {
        let with_matching_connection: std::collections::HashSet<u32> = if k.filter.is_empty() {
            Default::default()
        } else {
            self.connections
                .iter()
                .filter(|c| addresses_match(c, &k.filter))
                .map(|c| c.pid)
                .collect()
        };
        let mut order: Vec<u32> = (0..self.processes.len() as u32)
            .filter(|&i| {
                let p = &self.processes[i as usize];
                (k.totals || p.presence != Presence::Idle)
                    && (k.filter.is_empty()
                        || with_matching_connection.contains(&p.pid)
                        || process_matches(p, &k.filter))
            })
            .collect();
        let rows = if k.group_by == GroupBy::Process {
            self.groups.clear();
            &self.processes
        } else {
            self.groups = group_rows(&self.processes, &order, k.group_by);
            order = (0..self.groups.len() as u32).collect();
            &self.groups
        };
        let v = |p: &ProcessView| Volume::new(p.rates, p.rx_bytes, p.tx_bytes, k);
        order.sort_by(|&a, &b| {
            let (a, b) = (&rows[a as usize], &rows[b as usize]);
            let o = match k.sort.column {
                SortColumn::Pid => a.pid.cmp(&b.pid),
                SortColumn::Process => a.name.cmp(&b.name),
                SortColumn::Container => (a.container.is_empty(), &a.container)
                    .cmp(&(b.container.is_empty(), &b.container)),
                SortColumn::Connections => a.connections.cmp(&b.connections),
                c => v(a).by(c, &v(b)),
            };
            directed(o, k.sort.descending).then(a.pid.cmp(&b.pid))
        });
        order
    }

    fn arrange_connections(&self, k: &ArrangeKey) -> Vec<u32> {
        let mut order: Vec<u32> = (0..self.connections.len() as u32)
            .filter(|&i| {
                let c = &self.connections[i as usize];
                (k.drill_pid.is_none() || k.drill_pid == Some(c.pid))
                    && (k.filter.is_empty() || connection_matches(c, &k.filter))
            })
            .collect();
        if matches!(
            k.sort.column,
            SortColumn::Rx | SortColumn::Tx | SortColumn::Traffic
        ) {
            // The common case, by volume: each row's figure is computed
            // once, as an integer that sorts like it (a non-negative
            // float's bits do; flipped for largest first), and the sort
            // moves small (figure, key, index) triples instead of reaching
            // into 10,000 rows for every comparison.
            let flip = if k.sort.descending { u64::MAX } else { 0 };
            let mut keyed: Vec<(u64, u64, u32)> = order
                .iter()
                .map(|&i| {
                    let c = &self.connections[i as usize];
                    let v = Volume::new(c.rates, c.rx_bytes, c.tx_bytes, k);
                    (order_bits(v.figure(k.sort.column)) ^ flip, c.key, i)
                })
                .collect();
            keyed.sort_unstable();
            return keyed.into_iter().map(|(_, _, i)| i).collect();
        }
        let health = |c: &ConnectionView| -> Option<f64> {
            let t = c.tcp?;
            match k.sort.column {
                SortColumn::Handshake => t.handshake_ms,
                SortColumn::Rtt => t.rtt_ms,
                SortColumn::Retransmits => t.retransmits.map(f64::from),
                SortColumn::Response => t.response_p50_ms,
                _ => None,
            }
        };
        order.sort_by(|&a, &b| {
            let (a, b) = (&self.connections[a as usize], &self.connections[b as usize]);
            let o = match k.sort.column {
                SortColumn::Protocol => a.protocol.cmp(&b.protocol),
                SortColumn::Local => a.local.cmp(&b.local),
                SortColumn::Remote => a.remote.cmp(&b.remote),
                SortColumn::State => a.state_label().cmp(b.state_label()),
                SortColumn::Owner => a.process.cmp(&b.process).then(a.pid.cmp(&b.pid)),
                SortColumn::Handshake
                | SortColumn::Rtt
                | SortColumn::Retransmits
                | SortColumn::Response => {
                    // Rows without the figure go last either way.
                    return match (health(a), health(b)) {
                        (Some(x), Some(y)) => directed(x.total_cmp(&y), k.sort.descending),
                        (Some(_), None) => Ordering::Less,
                        (None, Some(_)) => Ordering::Greater,
                        (None, None) => Ordering::Equal,
                    }
                    .then(a.key.cmp(&b.key));
                }
                _ => Ordering::Equal,
            };
            directed(o, k.sort.descending).then(a.key.cmp(&b.key))
        });
        order
    }

    fn arrange_interfaces(&self, k: &ArrangeKey) -> Vec<u32> {
        let mut order: Vec<u32> = (0..self.interfaces.len() as u32)
            .filter(|&i| {
                k.filter.is_empty()
                    || self.interfaces[i as usize]
                        .since_start
                        .name
                        .to_lowercase()
                        .contains(&k.filter)
            })
            .collect();
        order.sort_by(|&a, &b| {
            let (a, b) = (&self.interfaces[a as usize], &self.interfaces[b as usize]);
            let (sa, sb) = (&a.since_start, &b.since_start);
            let va = Volume::new(a.rates, sa.rx_bytes, sa.tx_bytes, k);
            let vb = Volume::new(b.rates, sb.rx_bytes, sb.tx_bytes, k);
            let o = match k.sort.column {
                SortColumn::Errors => sa.errors().cmp(&sb.errors()),
                SortColumn::Drops => sa.drops().cmp(&sb.drops()),
                SortColumn::Interface => sa.name.cmp(&sb.name),
                c => va.by(c, &vb),
            };
            directed(o, k.sort.descending).then(sa.name.cmp(&sb.name))
        });
        order
    }
}

/// The rx/tx figure a row shows: a rate over the chosen window, or totals.
struct Volume {
    rx: f64,
    tx: f64,
}

impl Volume {
    fn new(rates: Rates, rx_bytes: u64, tx_bytes: u64, k: &ArrangeKey) -> Self {
        if k.totals {
            Volume {
                rx: rx_bytes as f64,
                tx: tx_bytes as f64,
            }
        } else {
            let Rate { rx, tx } = rates.window(k.window);
            Volume { rx, tx }
        }
    }

    /// The figure sorted by for column `c` (RX, TX, else their sum).
    fn figure(&self, c: SortColumn) -> f64 {
        match c {
            SortColumn::Rx => self.rx,
            SortColumn::Tx => self.tx,
            _ => self.rx + self.tx,
        }
    }

    fn by(&self, c: SortColumn, o: &Volume) -> Ordering {
        self.figure(c).total_cmp(&o.figure(c))
    }
}

/// An integer that orders like `v` for the rates and totals shown (never
/// negative; NaN and -0.0 count as zero).
fn order_bits(v: f64) -> u64 {
    (v.max(0.0) + 0.0).to_bits()
}

fn directed(o: Ordering, descending: bool) -> Ordering {
    if descending {
        o.reverse()
    } else {
        o
    }
}

fn process_matches(p: &ProcessView, f: &str) -> bool {
    contains_lower(&p.name, f)
        || contains_lower(&p.cmdline, f)
        || p.pid.to_string().contains(f)
        || contains_lower(&p.container, f)
}

fn connection_matches(c: &ConnectionView, f: &str) -> bool {
    contains_lower(&c.process, f)
        || c.pid.to_string().contains(f)
        || c.protocol.as_str().contains(f)
        || c.state.contains(f)
        || c.state_label().contains(f)
        || contains_lower(&c.container, f)
        || addresses_match(c, f)
}

fn addresses_match(c: &ConnectionView, f: &str) -> bool {
    [c.local, c.remote]
        .iter()
        .flatten()
        .any(|a| a.to_string().to_lowercase().contains(f))
        || c.remote_host
            .as_deref()
            .is_some_and(|h| contains_lower(h, f))
}

fn contains_lower(s: &str, f: &str) -> bool {
    if s.is_ascii() {
        // No allocation on the common path.
        s.as_bytes()
            .windows(f.len().max(1))
            .any(|w| w.eq_ignore_ascii_case(f.as_bytes()))
            || f.is_empty()
    } else {
        s.to_lowercase().contains(f)
    }
}

/// A stable key for a name (FNV-1a).
pub(crate) fn name_key(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// The processes at `members` summed per group: counters, rates, history
/// and connections added, so a group is exactly the sum of its rows.
fn group_rows(processes: &[ProcessView], members: &[u32], by: GroupBy) -> Vec<ProcessView> {
    let mut groups: Vec<ProcessView> = Vec::new();
    let mut at: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    for &i in members {
        let p = &processes[i as usize];
        let m = Member {
            pid: p.pid,
            start_time_ns: 0,
            process: &p.name,
            uid: p.uid,
            identity: p.identity.as_deref(),
        };
        let (key, name) = group_key(&m, by);
        let g = *at.entry(key.clone()).or_insert_with(|| {
            groups.push(ProcessView {
                pid: 0,
                name: Arc::from(name.as_str()),
                cmdline: String::new(),
                container: Arc::from(key.as_str()),
                uid: None,
                identity: None,
                members: 0,
                rates: Rates::default(),
                rx_bytes: 0,
                tx_bytes: 0,
                connections: 0,
                history: Vec::new(),
                presence: Presence::Idle,
            });
            groups.len() - 1
        });
        let g = &mut groups[g];
        g.members += 1;
        g.rx_bytes += p.rx_bytes;
        g.tx_bytes += p.tx_bytes;
        g.connections += p.connections;
        for (sum, r) in [
            (&mut g.rates.last_1s, p.rates.last_1s),
            (&mut g.rates.last_10s, p.rates.last_10s),
            (&mut g.rates.last_60s, p.rates.last_60s),
        ] {
            sum.rx += r.rx;
            sum.tx += r.tx;
        }
        // Histories end at the same tick: add them aligned at the end.
        if g.history.len() < p.history.len() {
            let pad = p.history.len() - g.history.len();
            g.history.splice(0..0, std::iter::repeat_n(0, pad));
        }
        let off = g.history.len() - p.history.len();
        for (s, v) in g.history[off..].iter_mut().zip(&p.history) {
            *s += v;
        }
        g.presence = match (g.presence, p.presence) {
            (Presence::Live, _) | (_, Presence::Live) => Presence::Live,
            (Presence::Fading, _) | (_, Presence::Fading) => Presence::Fading,
            _ => Presence::Idle,
        };
    }
    for g in &mut groups {
        g.cmdline = format!("{} processes", g.members);
    }
    groups
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_bits_order_like_the_figures() {
        let rising = [0.0, 1e-300, 0.5, 1.0, 1e6, 3.5e9, f64::INFINITY];
        assert!(rising
            .windows(2)
            .all(|w| order_bits(w[0]) < order_bits(w[1])));
        assert_eq!(order_bits(-0.0), order_bits(0.0));
        assert_eq!(order_bits(f64::NAN), order_bits(0.0));
    }

    fn process(pid: u32, tx: u64, workload: Option<crate::model::Workload>) -> ProcessView {
        ProcessView {
            pid,
            name: Arc::from(format!("p{pid}").as_str()),
            cmdline: String::new(),
            container: Arc::from(""),
            uid: Some(0),
            identity: workload.map(|workload| {
                Arc::new(ProcessIdentity {
                    cgroup: format!("/cg{pid}"),
                    netns: Some(1),
                    user: Some("root".into()),
                    ppid: Some(1),
                    container_pid: Some(1),
                    workload,
                })
            }),
            members: 1,
            rates: Rates {
                last_1s: Rate {
                    rx: 1.0,
                    tx: tx as f64,
                },
                ..Rates::default()
            },
            rx_bytes: 1,
            tx_bytes: tx,
            connections: 1,
            history: vec![tx; (pid % 3) as usize + 1],
            presence: Presence::Live,
        }
    }

    #[test]
    fn the_group_key_sums_rows_exactly_and_cycles() {
        use crate::model::Workload;
        let web = || {
            Some(Workload::Docker {
                id: "a".repeat(64),
                name: Some("web".into()),
            })
        };
        let mut vm = ViewModel {
            processes: vec![
                process(1, 100, web()),
                process(2, 20, web()),
                process(3, 5, Some(Workload::Host)),
                process(4, 7, None),
            ],
            ..ViewModel::default()
        };
        let mut app = App::new();
        app.totals = true;
        vm.arrange(&app);
        assert!(!vm.grouped());
        assert_eq!(vm.process_rows().len(), 4);
        app.on_key(
            crossterm::event::KeyEvent::from(crossterm::event::KeyCode::Char('o')),
            vm.row_keys(),
        );
        assert_eq!(app.group_by, GroupBy::Container);
        vm.arrange(&app);
        assert!(vm.grouped());
        let rows = vm.process_rows();
        let names: Vec<&str> = vm
            .order()
            .iter()
            .map(|&i| &*rows[i as usize].name)
            .collect();
        assert_eq!(names, ["docker:web", "(unknown)", "(host)"]);
        let web = &rows[vm.order()[0] as usize];
        assert_eq!((web.members, web.tx_bytes, web.connections), (2, 120, 2));
        assert_eq!(web.rates.last_1s.tx, 120.0);
        // Histories of 2 and 3 samples, added aligned at the latest.
        assert_eq!(web.history, [20, 120, 120]);
        let total: u64 = rows.iter().map(|g| g.tx_bytes).sum();
        assert_eq!(total, 132);
        assert_eq!(vm.row_keys().len(), 3);
        assert_ne!(vm.row_keys()[0], vm.row_keys()[1]);
    }

    #[test]
    fn ascii_matching_ignores_case() {
        assert!(contains_lower("Firefox", "fire"));
        assert!(contains_lower("firefox", "fox"));
        assert!(!contains_lower("fire", "firefox"));
        assert!(contains_lower("Ünïcode", "ünï"));
    }
}
