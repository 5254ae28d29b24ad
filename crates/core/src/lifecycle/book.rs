//! The [`ConnectionBook`]: every TCP connection's latest lifecycle, keyed by
//! socket cookie, and per-process rollups. Bounded: past `max_closed`
//! closed rows the oldest are folded into their process's rollup (counted
//! in `rows_folded`); past `max_open` open rows new connections are not
//! kept as rows (counted in `dropped`) but still counted when they close.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::SocketAddr;

use hdrhistogram::Histogram;
use serde::Serialize;

use super::{Closer, ConnectionLife, LifeEvent, Outcome, ResponseHistogram, Role, Step};
use crate::model::SocketCookie;

/// Median and 99th percentile of some times, in ms, and how many.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Quantiles {
    /// How many times were measured.
    pub count: u64,
    /// Their exact mean, ms.
    pub mean: Option<f64>,
    /// Median, ms.
    pub p50: Option<f64>,
    /// 99th percentile, ms.
    pub p99: Option<f64>,
}

fn quantiles_ms(h: &Histogram<u64>) -> Quantiles {
    if h.is_empty() {
        return Quantiles::default();
    }
    Quantiles {
        count: h.len(),
        mean: Some(h.mean() / 1000.0),
        p50: Some(h.value_at_quantile(0.5) as f64 / 1000.0),
        p99: Some(h.value_at_quantile(0.99) as f64 / 1000.0),
    }
}

#[derive(Debug, Clone)]
struct Row {
    pid: Option<u32>,
    comm: String,
    local: Option<SocketAddr>,
    remote: Option<SocketAddr>,
    tx_bytes: u64,
    rx_bytes: u64,
    life: ConnectionLife,
}

/// Per-process sums, of closed connections folded so far or on demand.
#[derive(Debug, Clone)]
struct Rollup {
    comm: String,
    opened: u64,
    accepted: u64,
    outcomes: BTreeMap<Outcome, u64>,
    handshake_us: Histogram<u64>,
    rtt_us: Histogram<u64>,
    retransmits: u64,
    segments_out: u64,
    response: ResponseHistogram,
}

fn histogram() -> Histogram<u64> {
    // 1 µs .. 1 h at 2 significant digits (quantiles within 1 %; the mean
    // is exact); values beyond are clamped. 26 KB of counts where 3 digits
    // take 180 KB: every report copies the rollups, twice per process.
    Histogram::new_with_bounds(1, 3_600_000_000, 2).expect("valid bounds")
}

impl Rollup {
    fn new(comm: &str) -> Self {
        Rollup {
            comm: comm.to_string(),
            opened: 0,
            accepted: 0,
            outcomes: BTreeMap::new(),
            handshake_us: histogram(),
            rtt_us: histogram(),
            retransmits: 0,
            segments_out: 0,
            response: ResponseHistogram::default(),
        }
    }

    fn add(&mut self, r: &Row) {
        let l = &r.life;
        match l.role {
            Role::Client => self.opened += 1,
            Role::Server => self.accepted += 1,
        }
        if self.comm.is_empty() {
            self.comm.clone_from(&r.comm);
        }
        *self.outcomes.entry(l.outcome).or_default() += 1;
        if let Some(h) = l.handshake_ns.filter(|&h| h > 0) {
            self.handshake_us.saturating_record((h / 1000).max(1));
        }
        if let Some(h) = l.health {
            if h.srtt_us > 0 && l.established_ns.is_some() {
                self.rtt_us.saturating_record(u64::from(h.srtt_us));
            }
            self.retransmits += u64::from(h.total_retrans);
            self.segments_out += u64::from(h.segs_out);
        }
        self.response.merge(&l.response);
    }
}

/// One connection in a report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ConnectionRow {
    /// The socket's cookie.
    pub cookie: u64,
    /// Its owner's pid, when known.
    pub pid: Option<u32>,
    /// Its owner's name (`comm`).
    pub comm: String,
    /// Client or server.
    pub role: Role,
    /// How it ended, or `open`.
    pub outcome: Outcome,
    /// This host's address and port.
    pub local: Option<SocketAddr>,
    /// The peer's address and port.
    pub remote: Option<SocketAddr>,
    /// SYN to established (client) or the SYN-ACK's round trip (server), ms.
    pub handshake_ms: Option<f64>,
    /// Established (or connect) to close, ms; `None` while open.
    pub duration_ms: Option<f64>,
    /// Smoothed RTT, ms.
    pub rtt_ms: Option<f64>,
    /// RTT variance, ms.
    pub rttvar_ms: Option<f64>,
    /// Lowest RTT seen, ms.
    pub min_rtt_ms: Option<f64>,
    /// Congestion window, segments.
    pub cwnd: Option<u32>,
    /// Segments retransmitted (the kernel's per-socket count).
    pub retransmits: Option<u32>,
    /// `tcp_retransmit_skb` events seen for it.
    pub retransmit_events: u32,
    /// Who sent the first FIN.
    pub closer: Option<Closer>,
    /// The socket error at close (errno), 0 if none.
    pub error: u32,
    /// Payload bytes sent.
    pub tx_bytes: u64,
    /// Payload bytes received.
    pub rx_bytes: u64,
    /// Response times of this connection.
    pub response_ms: Quantiles,
}

/// One process's rollup in a report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProcessHealth {
    /// The process.
    pub pid: u32,
    /// Its name (`comm`).
    pub comm: String,
    /// Connections it opened (connect).
    pub connections_opened: u64,
    /// Connections it accepted.
    pub connections_accepted: u64,
    /// Connections closed as `success`.
    pub successes: u64,
    /// Connections still open.
    pub open: u64,
    /// Every failure reason, zeros included.
    pub failures: BTreeMap<&'static str, u64>,
    /// Handshake times of its connections.
    pub handshake_ms: Quantiles,
    /// Smoothed RTTs of its connections (each connection's last).
    pub rtt_ms: Quantiles,
    /// Segments its connections retransmitted.
    pub retransmits: u64,
    /// Segments its connections sent.
    pub segments_out: u64,
    /// Retransmitted / sent segments; `None` before any segment was sent.
    pub retransmit_ratio: Option<f64>,
    /// Response times over all its connections.
    pub response_ms: Quantiles,
    #[serde(skip)]
    /// The same as a histogram, for views that draw it.
    pub response: ResponseHistogram,
}

/// Connections and per-process rollups at one moment.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct LifecycleReport {
    /// Connection rows, open and (bounded) closed.
    pub connections: Vec<ConnectionRow>,
    /// Per-process rollups, folded rows included.
    pub processes: Vec<ProcessHealth>,
    /// Closed rows folded into their process's rollup (beyond `max_closed`).
    pub rows_folded: u64,
    /// Connections not kept as rows (more than `max_open` open at once).
    pub rows_dropped: u64,
    /// Lifecycle steps of sockets with no owner known (counted nowhere else).
    pub unowned_closed: u64,
}

/// Every TCP connection's lifecycle, bounded: open ones up to `max_open`, closed ones up to `max_closed` (older ones folded into their process's rollup, counted).
pub struct ConnectionBook {
    rows: HashMap<SocketCookie, Row>,
    closed: VecDeque<SocketCookie>,
    folded: HashMap<u32, Rollup>,
    max_open: usize,
    max_closed: usize,
    rows_folded: u64,
    rows_dropped: u64,
    unowned_closed: u64,
}

impl ConnectionBook {
    /// An empty book with these bounds.
    pub fn new(max_open: usize, max_closed: usize) -> Self {
        ConnectionBook {
            rows: HashMap::new(),
            closed: VecDeque::new(),
            folded: HashMap::new(),
            max_open,
            max_closed,
            rows_folded: 0,
            rows_dropped: 0,
            unowned_closed: 0,
        }
    }

    /// Merges one step (or live sample) of a connection.
    pub fn observe(&mut self, ev: &LifeEvent) {
        let owner = ev.record.owner.as_ref();
        let tuple = ev.record.tuple.as_ref();
        let open_rows = self.rows.len() - self.closed.len();
        let known = self.rows.contains_key(&ev.cookie);
        let Some(row) = (match self.rows.get_mut(&ev.cookie) {
            Some(r) => Some(r),
            None if ev.step == Step::Sample
                && ev.life.closed_ns.is_none()
                && open_rows >= self.max_open =>
            {
                None
            }
            None if open_rows >= self.max_open && ev.step != Step::Closed => {
                self.rows_dropped += 1;
                None
            }
            None => Some(self.rows.entry(ev.cookie).or_insert_with(|| Row {
                pid: None,
                comm: String::new(),
                local: None,
                remote: None,
                tx_bytes: 0,
                rx_bytes: 0,
                // Replaced below; a new row has no history to keep.
                life: ConnectionLife {
                    response: ResponseHistogram::default(),
                    ..ev.life
                },
            })),
        }) else {
            return;
        };
        if row.life.closed_ns.is_some() && ev.step == Step::Sample {
            return; // a live read that raced the close
        }
        if let Some(o) = owner {
            if row.pid.is_none() || ev.step == Step::Accepted {
                row.pid = Some(o.pid);
                row.comm.clone_from(&o.comm);
            }
        }
        if let Some(t) = tuple {
            if t.local.port() != 0 || row.local.is_none() {
                row.local = Some(t.local);
            }
            if t.remote.is_some() {
                row.remote = t.remote;
            }
        }
        row.tx_bytes = row.tx_bytes.max(ev.record.counters.tx_bytes);
        row.rx_bytes = row.rx_bytes.max(ev.record.counters.rx_bytes);
        let was_closed = known && row.life.closed_ns.is_some();
        let mut life = ev.life.clone();
        life.retrans_events = life.retrans_events.max(row.life.retrans_events);
        if life.health.is_none() {
            life.health = row.life.health;
        }
        row.life = life;
        if row.life.closed_ns.is_some() && !was_closed {
            self.closed.push_back(ev.cookie);
            self.fold_excess();
        }
    }

    fn fold_excess(&mut self) {
        while self.closed.len() > self.max_closed {
            let Some(c) = self.closed.pop_front() else {
                break;
            };
            if let Some(row) = self.rows.remove(&c) {
                self.rows_folded += 1;
                match row.pid {
                    Some(pid) => self
                        .folded
                        .entry(pid)
                        .or_insert_with(|| Rollup::new(&row.comm))
                        .add(&row),
                    None => self.unowned_closed += 1,
                }
            }
        }
    }

    /// Connections not kept as rows so far (more than `max_open` open at
    /// once); they are still counted when they close.
    pub fn rows_dropped(&self) -> u64 {
        self.rows_dropped
    }

    /// Connections held as rows now.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// Whether no connection is held as a row.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Rows and per-process rollups as of now.
    pub fn report(&self) -> LifecycleReport {
        let mut sums = self.folded.clone();
        let mut unowned = self.unowned_closed;
        let mut connections = Vec::with_capacity(self.rows.len());
        for (cookie, r) in &self.rows {
            match r.pid {
                Some(pid) => sums
                    .entry(pid)
                    .or_insert_with(|| Rollup::new(&r.comm))
                    .add(r),
                None if r.life.closed_ns.is_some() => unowned += 1,
                None => {}
            }
            connections.push(row_report(cookie.0, r));
        }
        connections.sort_by_key(|c| (c.pid, c.cookie));
        let mut processes: Vec<ProcessHealth> = sums
            .into_iter()
            .map(|(pid, s)| process_report(pid, &s))
            .collect();
        processes.sort_by_key(|p| p.pid);
        LifecycleReport {
            connections,
            processes,
            rows_folded: self.rows_folded,
            rows_dropped: self.rows_dropped,
            unowned_closed: unowned,
        }
    }
}

/// One step's connection as a report row (for streams of steps).
pub fn event_row(ev: &LifeEvent) -> ConnectionRow {
    let owner = ev.record.owner.as_ref();
    let tuple = ev.record.tuple.as_ref();
    let row = Row {
        pid: owner.map(|o| o.pid),
        comm: owner.map(|o| o.comm.clone()).unwrap_or_default(),
        local: tuple.map(|t| t.local),
        remote: tuple.and_then(|t| t.remote),
        tx_bytes: ev.record.counters.tx_bytes,
        rx_bytes: ev.record.counters.rx_bytes,
        life: ev.life.clone(),
    };
    row_report(ev.cookie.0, &row)
}

fn ms(us: u32) -> f64 {
    f64::from(us) / 1000.0
}

fn row_report(cookie: u64, r: &Row) -> ConnectionRow {
    let l = &r.life;
    let h = l.health;
    ConnectionRow {
        cookie,
        pid: r.pid,
        comm: r.comm.clone(),
        role: l.role,
        outcome: l.outcome,
        local: r.local,
        remote: r.remote,
        handshake_ms: l.handshake_ns.map(|n| n as f64 / 1e6),
        duration_ms: l.duration_ns().map(|n| n as f64 / 1e6),
        rtt_ms: h.filter(|h| h.srtt_us > 0).map(|h| ms(h.srtt_us)),
        rttvar_ms: h
            .filter(|h| h.srtt_us > 0 && h.rttvar_us > 0)
            .map(|h| ms(h.rttvar_us)),
        min_rtt_ms: h
            .filter(|h| h.min_rtt_us != u32::MAX && h.min_rtt_us > 0)
            .map(|h| ms(h.min_rtt_us)),
        cwnd: h.map(|h| h.cwnd).filter(|&c| c > 0),
        retransmits: h.map(|h| h.total_retrans),
        retransmit_events: l.retrans_events,
        closer: l.closer,
        error: l.error,
        tx_bytes: r.tx_bytes,
        rx_bytes: r.rx_bytes,
        response_ms: l.response.quantiles_ms(),
    }
}

fn process_report(pid: u32, s: &Rollup) -> ProcessHealth {
    let failures = Outcome::FAILURES
        .iter()
        .map(|o| (o.as_str(), s.outcomes.get(o).copied().unwrap_or(0)))
        .collect();
    ProcessHealth {
        pid,
        comm: s.comm.clone(),
        connections_opened: s.opened,
        connections_accepted: s.accepted,
        successes: s.outcomes.get(&Outcome::Success).copied().unwrap_or(0),
        open: s.outcomes.get(&Outcome::Open).copied().unwrap_or(0),
        failures,
        handshake_ms: quantiles_ms(&s.handshake_us),
        rtt_ms: quantiles_ms(&s.rtt_us),
        retransmits: s.retransmits,
        segments_out: s.segments_out,
        retransmit_ratio: (s.segments_out > 0)
            .then(|| s.retransmits as f64 / s.segments_out as f64),
        response_ms: s.response.quantiles_ms(),
        response: s.response.clone(),
    }
}

#[cfg(test)]
#[path = "book_tests.rs"]
mod tests;
