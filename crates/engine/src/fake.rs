//! A scripted capture backend and a clock that moves only when the backend
//! waits, so the whole engine loop runs without root, without sleeping and
//! deterministically (bandwhich's `OsInputOutput` idea). Each socket of the
//! script sends and receives a fixed number of bytes per read and may close
//! at a given read, its close arriving as an event; nothing here reads the
//! OS. [`FakeBackend::with_lifecycle`] makes it an eBPF capture that also
//! follows its TCP sockets' lifecycle (connect and established at open, a
//! live sample at every read, a successful close) and plays failed
//! connects. Behind the `fake` feature, for this crate's and the
//! front-ends' tests.

use std::cell::Cell;
use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;
use std::time::{Duration, Instant, SystemTime};

use netoproc_core::backend::{CaptureBackend, CaptureError, CaptureInfo};
use netoproc_core::clock::Clock;
use netoproc_core::ledger::SocketLedger;
use netoproc_core::lifecycle::{
    ConnectionLife, LifeEvent, Outcome, ResponseHistogram, Role, Step, TcpHealth,
};
use netoproc_core::report::Losses;
use netoproc_core::{
    Counters, Family, Owner, ProcessInfo, Protocol, SocketCookie, SocketRecord, Tuple,
};

/// A clock shared by a test and its [`FakeBackend`]: waiting for events
/// advances it by the whole timeout.
#[derive(Debug, Clone)]
pub struct StepClock {
    mono: Rc<Cell<Instant>>,
    start_wall: SystemTime,
    start: Instant,
}

impl StepClock {
    /// A clock at the real present, whose wall time starts at a fixed
    /// instant (1 800 000 000 s after the Unix epoch) so output is stable.
    pub fn new() -> Self {
        let now = Instant::now();
        StepClock {
            mono: Rc::new(Cell::new(now)),
            start_wall: SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000),
            start: now,
        }
    }

    /// Moves the clock, and every copy of it, forward by `d`.
    pub fn advance(&self, d: Duration) {
        self.mono.set(self.mono.get() + d);
    }
}

impl Default for StepClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for StepClock {
    fn now(&self) -> Instant {
        self.mono.get()
    }
    fn wall(&self) -> SystemTime {
        self.start_wall + self.mono.get().duration_since(self.start)
    }
}

/// One scripted socket.
#[derive(Debug, Clone)]
pub struct FakeSocket {
    /// Socket cookie; also picks the local port (40000 + cookie % 20000).
    pub cookie: u64,
    /// Process id of the owner (uid 1000, one cgroup and netns for all).
    pub pid: u32,
    /// Command name of the owner.
    pub comm: String,
    /// TCP or UDP.
    pub protocol: Protocol,
    /// Peer address; the local side is always 10.0.0.1.
    pub remote: std::net::SocketAddr,
    /// Payload bytes sent per read.
    pub tx_per_read: u64,
    /// Payload bytes received per read.
    pub rx_per_read: u64,
    /// The socket appears at this read (1-based) …
    pub opens_at: u64,
    /// … and its close event follows this read; `None` stays open.
    pub closes_after: Option<u64>,
}

impl FakeSocket {
    /// Wire bytes per payload byte are not modelled: each packet carries
    /// 100 payload bytes and 40 bytes of headers.
    fn counters(&self, reads: u64) -> Counters {
        let tx = self.tx_per_read * reads;
        let rx = self.rx_per_read * reads;
        let pk = |b: u64| b.div_ceil(100);
        Counters {
            tx_bytes: tx,
            rx_bytes: rx,
            tx_packets: pk(tx),
            rx_packets: pk(rx),
            tx_wire_bytes: tx + 40 * pk(tx),
            rx_wire_bytes: rx + 40 * pk(rx),
            tx_calls: pk(tx),
            rx_calls: pk(rx),
        }
    }

    fn record(&self, reads: u64, closed: bool) -> SocketRecord {
        SocketRecord {
            cookie: SocketCookie(self.cookie),
            owner: Some(Owner {
                pid: self.pid,
                uid: 1000,
                comm: self.comm.clone(),
                cgroup_id: 1,
                netns: 1,
                start_time_ns: 0,
            }),
            tuple: Some(Tuple {
                protocol: self.protocol,
                family: Family::Ipv4,
                local: std::net::SocketAddr::from((
                    [10, 0, 0, 1],
                    40000 + (self.cookie % 20000) as u16,
                )),
                remote: Some(self.remote),
            }),
            counters: self.counters(reads),
            closed,
            owner_is_closer: closed,
        }
    }

    /// Reads this socket has been counted for, after `reads` reads.
    fn active_reads(&self, reads: u64) -> u64 {
        let last = self.closes_after.unwrap_or(u64::MAX).min(reads);
        (last + 1).saturating_sub(self.opens_at)
    }

    /// What this socket moved in total after `reads` reads.
    pub fn total_after(&self, reads: u64) -> Counters {
        self.counters(self.active_reads(reads))
    }
}

impl FakeSocket {
    /// Its scripted TCP health after `active` reads: a handshake of
    /// 3 to 21 ms by cookie, an RTT just above it, a retransmission every
    /// few reads, and two response times per read (twice the handshake).
    fn life(&self, active: u64, outcome: Outcome, now_ns: u64) -> ConnectionLife {
        let handshake_us = (self.cookie % 7 + 1) * 3_000;
        let opened_ns = (self.opens_at * 1_000_000_000).saturating_sub(handshake_us * 1000);
        let mut response = ResponseHistogram::default();
        for _ in 0..2 * active {
            response.record_us(2 * handshake_us + 500 * (self.cookie % 4));
        }
        let segs = self.counters(active).tx_packets as u32;
        ConnectionLife {
            role: Role::Client,
            outcome,
            connect_ns: opened_ns,
            established_ns: Some(opened_ns + handshake_us * 1000),
            closed_ns: (outcome != Outcome::Open).then_some(now_ns),
            handshake_ns: Some(handshake_us * 1000),
            health: Some(TcpHealth {
                srtt_us: (handshake_us + 400) as u32,
                rttvar_us: 250,
                min_rtt_us: handshake_us as u32,
                cwnd: 10 + active as u32,
                total_retrans: (active / 2) as u32,
                segs_out: segs,
            }),
            retrans_events: (active / 2) as u32,
            error: 0,
            closer: None,
            response,
        }
    }
}

/// A connect that fails (no traffic, no socket read), for
/// [`FakeBackend::with_lifecycle`].
#[derive(Debug, Clone)]
pub struct FakeFailure {
    /// Socket cookie, unlike any scripted socket's.
    pub cookie: u64,
    /// Process id of the owner.
    pub pid: u32,
    /// Command name of the owner.
    pub comm: String,
    /// The peer it tried.
    pub remote: std::net::SocketAddr,
    /// Its close arrives with the events after this read.
    pub after_read: u64,
    /// How it ended: a failure reason.
    pub outcome: Outcome,
}

/// A backend that plays [`FakeSocket`]s. Indexed by open and close read,
/// so a script of tens of thousands of sockets costs only the open ones
/// per read.
#[derive(Debug)]
pub struct FakeBackend {
    info: CaptureInfo,
    clock: StepClock,
    /// The script, in the order given.
    pub sockets: Vec<FakeSocket>,
    /// Reads done so far.
    pub reads: u64,
    /// Socket indexes by the read they open at / close after.
    opening: BTreeMap<u64, Vec<usize>>,
    closing: BTreeMap<u64, Vec<usize>>,
    open: BTreeSet<usize>,
    /// Losses reported as they are.
    pub losses: Losses,
    /// Whether lifecycle steps are played ([`FakeBackend::with_lifecycle`]).
    lifecycle: bool,
    /// Failed connects still to play.
    failures: Vec<FakeFailure>,
    /// Steps since the last take.
    steps: Vec<LifeEvent>,
}

impl FakeBackend {
    /// A backend playing `sockets` against `clock`, reporting AF_PACKET
    /// mode with no hooks, no programs and nothing lost.
    pub fn new(clock: StepClock, sockets: Vec<FakeSocket>) -> Self {
        let mut opening: BTreeMap<u64, Vec<usize>> = BTreeMap::new();
        let mut closing: BTreeMap<u64, Vec<usize>> = BTreeMap::new();
        for (i, s) in sockets.iter().enumerate() {
            opening.entry(s.opens_at).or_default().push(i);
            if let Some(c) = s.closes_after {
                closing.entry(c.max(s.opens_at)).or_default().push(i);
            }
        }
        FakeBackend {
            info: CaptureInfo {
                live_read: None,
                mode: netoproc_core::backend::BackendKind::Afpacket,
                hooks: netoproc_core::backend::HookRung::None,
                programs: Vec::new(),
                degraded: Vec::new(),
            },
            clock,
            sockets,
            reads: 0,
            opening,
            closing,
            open: BTreeSet::new(),
            losses: Losses::default(),
            lifecycle: false,
            failures: Vec::new(),
            steps: Vec::new(),
        }
    }

    /// The same script as an eBPF capture that follows TCP connections:
    /// each TCP socket connects and is established when it opens, is
    /// sampled at every read and closes as a success; each of `failures`
    /// closes with its outcome after its read.
    pub fn with_lifecycle(mut self, failures: Vec<FakeFailure>) -> Self {
        use netoproc_core::backend::{BackendKind, HookRung, HookStatus};
        let hook = |program: &str, attach_point: &str| HookStatus {
            program: program.into(),
            attach_point: attach_point.into(),
            feeds: "lifecycle",
            attached: true,
            error: None,
        };
        self.info.mode = BackendKind::Ebpf;
        self.info.hooks = HookRung::Tracepoint;
        self.info.live_read = Some("socket-iter");
        self.info.programs = vec![
            hook("np_tcp_state", "tp_btf/inet_sock_set_state"),
            hook("np_tcp_retrans", "tp_btf/tcp_retransmit_skb"),
        ];
        self.lifecycle = true;
        self.failures = failures;
        self
    }

    fn step(&mut self, i: usize, step: Step, outcome: Outcome) {
        let s = &self.sockets[i];
        if !self.lifecycle || s.protocol != Protocol::Tcp {
            return;
        }
        let now_ns = self.reads * 1_000_000_000;
        let active = s.active_reads(self.reads);
        self.steps.push(LifeEvent {
            step,
            ktime_ns: now_ns,
            cookie: SocketCookie(s.cookie),
            record: s.record(active, outcome != Outcome::Open),
            life: s.life(active, outcome, now_ns),
        });
    }

    fn play_failures(&mut self) {
        let now_ns = self.reads * 1_000_000_000;
        let (due, later): (Vec<_>, Vec<_>) = std::mem::take(&mut self.failures)
            .into_iter()
            .partition(|f| f.after_read <= self.reads);
        self.failures = later;
        for f in due {
            self.steps.push(LifeEvent {
                step: Step::Closed,
                ktime_ns: now_ns,
                cookie: SocketCookie(f.cookie),
                record: SocketRecord {
                    cookie: SocketCookie(f.cookie),
                    owner: Some(Owner {
                        pid: f.pid,
                        uid: 1000,
                        comm: f.comm.clone(),
                        cgroup_id: 1,
                        netns: 1,
                        start_time_ns: 0,
                    }),
                    tuple: Some(Tuple {
                        protocol: Protocol::Tcp,
                        family: Family::Ipv4,
                        local: std::net::SocketAddr::from((
                            [10, 0, 0, 1],
                            40000 + (f.cookie % 20000) as u16,
                        )),
                        remote: Some(f.remote),
                    }),
                    counters: Counters::default(),
                    closed: true,
                    owner_is_closer: false,
                },
                life: ConnectionLife::client(
                    f.outcome,
                    now_ns.saturating_sub(500_000_000),
                    Some(now_ns),
                ),
            });
        }
    }

    /// The read after which the last scripted socket has closed.
    pub fn last_close(&self) -> u64 {
        self.closing.keys().next_back().copied().unwrap_or(0)
    }

    /// A process record as the kernel side would give it.
    pub fn process(pid: u32, comm: &str) -> ProcessInfo {
        ProcessInfo {
            pid,
            ppid: 1,
            uid: 1000,
            comm: comm.into(),
            cmdline: format!("/usr/bin/{comm} --fake"),
            start_time_ns: 0,
        }
    }
}

impl CaptureBackend for FakeBackend {
    fn info(&self) -> &CaptureInfo {
        &self.info
    }

    fn drain_events(
        &mut self,
        ledger: &mut SocketLedger,
        timeout: Duration,
    ) -> Result<(), CaptureError> {
        while let Some(entry) = self.closing.first_entry() {
            if *entry.key() > self.reads {
                break;
            }
            for i in entry.remove() {
                self.open.remove(&i);
                let s = &self.sockets[i];
                ledger.observe_socket(s.record(s.active_reads(self.reads), true));
                self.step(i, Step::Closed, Outcome::Success);
            }
        }
        if self.lifecycle {
            self.play_failures();
        }
        self.clock.advance(timeout);
        Ok(())
    }

    fn read_sockets(&mut self, ledger: &mut SocketLedger) -> Result<(), CaptureError> {
        self.reads += 1;
        let new = self.opening.remove(&self.reads).unwrap_or_default();
        for &i in &new {
            self.step(i, Step::Connect, Outcome::Open);
            self.step(i, Step::Established, Outcome::Open);
        }
        self.open.extend(new);
        for &i in &self.open {
            let s = &self.sockets[i];
            ledger.observe_socket(s.record(s.active_reads(self.reads), false));
        }
        if self.lifecycle {
            let open: Vec<usize> = self.open.iter().copied().collect();
            for i in open {
                self.step(i, Step::Sample, Outcome::Open);
            }
        }
        Ok(())
    }

    fn take_lifecycle(&mut self) -> Vec<LifeEvent> {
        std::mem::take(&mut self.steps)
    }

    fn losses(&self) -> Result<Losses, CaptureError> {
        Ok(self.losses)
    }
}
