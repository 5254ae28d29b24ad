//! The observatory: DNS packets seen at sockets in, queries out — each
//! attributed to its process, matched to its response by transaction id
//! and tuple (socket, transport, client and resolver addresses), timed in
//! the kernel's clock, and summed per process and per resolver.
//!
//! A query is a message the socket sent without the QR bit; its response
//! arrives at the same socket and repeats its question. Messages the other
//! way round (a query received, a response sent) are a server's, and only
//! counted. Only a response that answers a pending query teaches the name
//! cache (`remote_host`): an unsolicited, duplicate or forged one (wrong
//! id, socket, addresses or question) is counted in
//! `unmatched_responses` and names nothing, so a packet sent to a client
//! port cannot label another process's connections. No
//! response within the timeout (5 s) is a timeout; time is only ever the
//! kernel's monotonic clock (`ktime_ns` of the packets, and the `now` given
//! to [`Observatory::sweep`], which must be CLOCK_MONOTONIC too).
//!
//! Payloads are parsed and dropped; only the parsed fields are kept, and
//! every collection is capped, with what was dropped counted.

use std::collections::{HashMap, HashSet, VecDeque};
use std::net::{IpAddr, SocketAddr};

use netoproc_core::model::canonical_ip;
use netoproc_core::report::ConnectionRow;
use netoproc_core::{DnsPacket, Protocol, SocketCookie};

use crate::encrypted::{classify, EncryptedDns};
use crate::message::{parse, DnsMessage, Rcode, RrType};
use crate::names::NameCache;
use crate::owner::{OwnerLookup, ProcessRef};
use crate::pending::{MatchKey, PendingQueries, Query};
use crate::report::DnsStats;
use crate::summary::{LatencyHistogram, ProcessStats, ResolverStats};
use crate::tcp::{StreamKey, TcpFrames};

mod rows;

/// Bounds and the timeout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ObservatoryConfig {
    /// No response within this long is a timeout.
    pub timeout_ns: u64,
    /// Ended queries kept as records (the oldest are dropped first).
    pub max_queries: usize,
    /// Queries awaiting a response.
    pub max_pending: usize,
    /// TCP (socket, direction) streams reassembled at once; the least
    /// recently used is dropped past it.
    pub max_tcp_streams: usize,
    /// Addresses in the name cache.
    pub max_names: usize,
}

impl Default for ObservatoryConfig {
    fn default() -> Self {
        ObservatoryConfig {
            timeout_ns: 5_000_000_000,
            max_queries: 50_000,
            max_pending: 65_536,
            max_tcp_streams: 4_096,
            max_names: 65_536,
        }
    }
}

/// Processes with totals of their own; beyond, they are summed under pid 0
/// (counted in [`DnsStats::processes_overflowed`]).
pub const MAX_PROCESSES: usize = 65_536;
/// Resolver addresses with totals of their own (each holds a ~13 KiB
/// latency histogram); beyond, they are summed under [`OVERFLOW_RESOLVER`]
/// (counted in [`DnsStats::resolvers_overflowed`]). Any local process can
/// send a datagram to port 53 of any address, so this is attacker-sized.
pub const MAX_RESOLVERS: usize = 1_024;
/// The row that sums the resolvers past [`MAX_RESOLVERS`].
pub const OVERFLOW_RESOLVER: SocketAddr =
    SocketAddr::new(IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED), 0);
/// Distinct names remembered for the per-process `names` counts, all
/// processes together (each process also stops at its own 4096); beyond,
/// they are counted in [`DnsStats::names_not_counted`].
pub const MAX_NAMES_REMEMBERED: usize = 262_144;
/// TCP streams idle this long are forgotten.
const TCP_IDLE_NS: u64 = 60_000_000_000;

#[derive(Debug)]
enum Outcome {
    Answered {
        rcode: Rcode,
        latency_ns: u64,
        answers: Vec<String>,
        truncated: bool,
    },
    Timeout,
}

#[derive(Debug)]
struct Ended {
    query: Query,
    owner: Option<ProcessRef>,
    outcome: Outcome,
}

/// The DNS observatory: pairs queries with responses, attributes them to
/// processes, names addresses, and sums per process and resolver, every
/// collection bounded by its [`ObservatoryConfig`].
#[derive(Debug)]
pub struct Observatory {
    cfg: ObservatoryConfig,
    tcp: TcpFrames,
    names: NameCache,
    pending: PendingQueries,
    /// Cookies of pending queries whose owner is not known yet.
    unowned: HashSet<SocketCookie>,
    owners: HashMap<SocketCookie, ProcessRef>,
    ended: VecDeque<Ended>,
    processes: HashMap<u32, ProcessStats>,
    resolvers: HashMap<SocketAddr, ResolverStats>,
    stats: DnsStats,
    /// Names held in all processes' distinct-name sets.
    names_remembered: usize,
    latest_ns: u64,
}

impl Observatory {
    /// An observatory with nothing seen yet, bounded by `cfg`.
    pub fn new(cfg: ObservatoryConfig) -> Self {
        Observatory {
            cfg,
            tcp: TcpFrames::new(cfg.max_tcp_streams),
            names: NameCache::new(cfg.max_names),
            pending: PendingQueries::new(cfg.max_pending),
            unowned: HashSet::new(),
            owners: HashMap::new(),
            ended: VecDeque::new(),
            processes: HashMap::new(),
            resolvers: HashMap::new(),
            stats: DnsStats::default(),
            names_remembered: 0,
            latest_ns: 0,
        }
    }

    /// Takes in packets (oldest first), then ends the queries the latest
    /// packet shows have timed out.
    pub fn ingest(
        &mut self,
        packets: impl IntoIterator<Item = DnsPacket>,
        owners: &dyn OwnerLookup,
    ) {
        for p in packets {
            self.packet(&p, owners);
        }
        let found: Vec<(SocketCookie, ProcessRef)> = self
            .unowned
            .iter()
            .filter_map(|c| Some((*c, owners.owner(*c, None)?)))
            .collect();
        for (c, o) in found {
            self.unowned.remove(&c);
            self.remember_owner(c, o);
        }
        self.sweep(self.latest_ns, owners);
    }

    /// Each resolver's answered-query latencies, in fixed buckets.
    pub fn resolver_latencies(&self) -> impl Iterator<Item = (SocketAddr, &LatencyHistogram)> {
        self.resolvers.iter().map(|(a, r)| (*a, &r.latency))
    }

    /// Ends every query sent more than the timeout before `now_ns`
    /// (CLOCK_MONOTONIC, the clock of `DnsPacket::ktime_ns`).
    pub fn sweep(&mut self, now_ns: u64, owners: &dyn OwnerLookup) {
        while let Some(q) = self.pending.pop_expired(now_ns, self.cfg.timeout_ns) {
            self.end(q, None, Outcome::Timeout, owners);
        }
        self.tcp.forget_idle(now_ns.saturating_sub(TCP_IDLE_NS));
    }

    /// Flags processes' connections to encrypted DNS (DoT, DoH).
    pub fn observe_connections(&mut self, rows: &[ConnectionRow], now_ns: u64) {
        for c in rows {
            let Some(remote) = c.remote.filter(|_| c.pid != 0) else {
                continue;
            };
            let host = self.names.name_of(remote.ip(), now_ns);
            if let Some(kind) = classify(remote, host) {
                let p = self.process_entry(c.pid, &c.process);
                p.encrypted(kind == EncryptedDns::Doh, c.cookie);
            }
        }
    }

    /// The name `ip` was last given as an answer for, while current.
    pub fn name_of(&self, ip: IpAddr, now_ns: u64) -> Option<&str> {
        self.names.name_of(ip, now_ns)
    }

    /// Names for the remote addresses of `rows` the cache knows.
    pub fn remote_hosts(&self, rows: &[ConnectionRow], now_ns: u64) -> HashMap<IpAddr, String> {
        rows.iter()
            .filter_map(|c| c.remote)
            .filter_map(|r| Some((r.ip(), self.name_of(r.ip(), now_ns)?.to_string())))
            .collect()
    }

    fn packet(&mut self, p: &DnsPacket, owners: &dyn OwnerLookup) {
        self.stats.packets += 1;
        self.latest_ns = self.latest_ns.max(p.ktime_ns);
        if p.pid.is_some() && !self.owners.contains_key(&p.cookie) {
            if let Some(o) = owners.owner(p.cookie, p.pid) {
                self.remember_owner(p.cookie, o);
            }
        }
        let hole = (p.payload_len as usize).saturating_sub(p.payload.len());
        match p.protocol {
            Protocol::Udp => self.message(p, &p.payload, hole > 0, owners),
            Protocol::Tcp => {
                let key = StreamKey {
                    cookie: p.cookie,
                    outgoing: p.outgoing,
                };
                let mut frames = Vec::new();
                self.tcp.feed(
                    key,
                    p.ktime_ns,
                    p.tcp_seq,
                    &p.payload,
                    hole,
                    &mut |m, cut| frames.push((m.to_vec(), cut)),
                );
                for (m, cut) in frames {
                    self.message(p, &m, cut, owners);
                }
            }
        }
    }

    fn message(&mut self, p: &DnsPacket, bytes: &[u8], cut: bool, owners: &dyn OwnerLookup) {
        let msg = match parse(bytes, cut) {
            Ok(m) => m,
            Err(_) => {
                self.stats.malformed += 1;
                return;
            }
        };
        self.stats.messages += 1;
        self.stats.cut += u64::from(cut);
        if msg.is_response == p.outgoing {
            self.stats.served_messages += 1;
            return;
        }
        let (client, resolver) = if p.outgoing {
            (p.src, p.dst)
        } else {
            (p.dst, p.src)
        };
        let key = MatchKey {
            cookie: p.cookie,
            transport: p.protocol,
            client: SocketAddr::new(canonical_ip(client.ip()), client.port()),
            resolver: SocketAddr::new(canonical_ip(resolver.ip()), resolver.port()),
            id: msg.id,
        };
        if msg.is_response {
            self.response(key, p, &msg, owners);
        } else {
            self.query(key, p, &msg);
        }
    }

    fn query(&mut self, key: MatchKey, p: &DnsPacket, msg: &DnsMessage) {
        let (name, qtype) = match &msg.question {
            Some(q) => (q.name.clone(), q.qtype),
            None => (String::new(), RrType(0)),
        };
        let unknown = p.pid.is_none() && !self.owners.contains_key(&p.cookie);
        if unknown && self.unowned.len() < self.cfg.max_pending {
            self.unowned.insert(p.cookie);
        }
        self.pending.insert(Query {
            key,
            pid: p.pid,
            name,
            qtype,
            sent_ns: p.ktime_ns,
            retries: 0,
        });
    }

    fn response(
        &mut self,
        key: MatchKey,
        p: &DnsPacket,
        msg: &DnsMessage,
        owners: &dyn OwnerLookup,
    ) {
        let question = msg.question.as_ref().map(|q| (q.name.as_str(), q.qtype));
        let Some(mut q) = self.pending.take_answered(&key, question) else {
            self.stats.unmatched_responses += 1;
            return;
        };
        self.names.learn(msg, p.ktime_ns);
        q.pid = q.pid.or(p.pid);
        let latency_ns = p.ktime_ns.saturating_sub(q.sent_ns);
        let outcome = if latency_ns > self.cfg.timeout_ns {
            self.stats.late_responses += 1;
            Outcome::Timeout
        } else {
            Outcome::Answered {
                rcode: msg.rcode,
                latency_ns,
                answers: msg.answers.iter().map(|a| a.data.to_string()).collect(),
                truncated: msg.truncated,
            }
        };
        self.end(q, p.pid, outcome, owners);
    }

    fn end(&mut self, q: Query, pid: Option<u32>, outcome: Outcome, owners: &dyn OwnerLookup) {
        let owner = self.owner_of(q.key.cookie, q.pid.or(pid), owners);
        self.unowned.remove(&q.key.cookie);
        let summary = match &outcome {
            Outcome::Answered {
                rcode, latency_ns, ..
            } => Some((*rcode, *latency_ns)),
            Outcome::Timeout => None,
        };
        let (pid, comm) = owner.as_ref().map_or((0, ""), |o| (o.pid, o.comm.as_str()));
        let room = self.names_remembered < MAX_NAMES_REMEMBERED;
        let p = self.process_entry(pid, comm);
        match p.ended(&q.name, summary.map(|(r, _)| r), room) {
            Some(true) => self.names_remembered += 1,
            Some(false) => self.stats.names_not_counted += 1,
            None => {}
        }
        let resolver = self.resolver_key(q.key.resolver);
        self.resolvers.entry(resolver).or_default().ended(summary);
        self.ended.push_back(Ended {
            query: q,
            owner,
            outcome,
        });
        while self.ended.len() > self.cfg.max_queries {
            self.ended.pop_front();
            self.stats.queries_evicted += 1;
        }
    }

    fn owner_of(
        &mut self,
        cookie: SocketCookie,
        pid: Option<u32>,
        owners: &dyn OwnerLookup,
    ) -> Option<ProcessRef> {
        if let Some(o) = self.owners.get(&cookie) {
            if pid.is_none() || pid == Some(o.pid) {
                return Some(o.clone());
            }
        }
        let o = owners.owner(cookie, pid)?;
        self.remember_owner(cookie, o.clone());
        Some(o)
    }

    fn remember_owner(&mut self, cookie: SocketCookie, o: ProcessRef) {
        if self.owners.len() >= self.cfg.max_pending.max(1) && !self.owners.contains_key(&cookie) {
            if let Some(k) = self.owners.keys().next().copied() {
                self.owners.remove(&k);
            }
        }
        self.owners.insert(cookie, o);
    }

    /// `resolver`, or [`OVERFLOW_RESOLVER`] once [`MAX_RESOLVERS`] others
    /// have rows (then counted).
    fn resolver_key(&mut self, resolver: SocketAddr) -> SocketAddr {
        if self.resolvers.contains_key(&resolver) || self.resolvers.len() < MAX_RESOLVERS {
            return resolver;
        }
        self.stats.resolvers_overflowed += 1;
        OVERFLOW_RESOLVER
    }

    fn process_entry(&mut self, pid: u32, comm: &str) -> &mut ProcessStats {
        let pid = if self.processes.len() >= MAX_PROCESSES && !self.processes.contains_key(&pid) {
            self.stats.processes_overflowed += 1;
            0
        } else {
            pid
        };
        let p = self.processes.entry(pid).or_default();
        if p.comm.is_empty() && pid != 0 {
            p.comm = comm.to_string();
        }
        p
    }
}
