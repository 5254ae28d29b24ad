//! One TCP connection's lifecycle and health from its packet headers, as
//! one local socket sees them (a [`FlowKey`](super::flow::FlowKey): both
//! directions of one end). Never payload: flags, sequence and
//! acknowledgment numbers, lengths and capture times only.
//!
//! - Role: who sent the SYN. A client's connection starts at its SYN
//!   (`connect`) and is established when its ACK answers the SYN-ACK
//!   (handshake: SYN to SYN-ACK as seen on this host, the network round
//!   trip); a server's is `accepted` when the peer's ACK answers its
//!   SYN-ACK (handshake: the SYN-ACK's round trip). A server-side SYN that
//!   never completes is no connection (the kernel made no socket for it).
//! - Outcome: an RST answering the SYN is `refused`; an RST received after
//!   the handshake is `reset`; an RST sent after it is the owner's abort,
//!   `success` as the kernel sees it; an RST sent instead of the ACK of a
//!   SYN-ACK means the socket was already closed (`aborted_by_exit`); FINs
//!   both ways are `success` and the first FIN names the closer; a SYN
//!   left unanswered past the retransmission schedule (twice the last gap,
//!   which the kernel doubles every time) is `timeout`. A connection
//!   killed mid-connect while its SYN goes unanswered looks the same on
//!   the wire as one that timed out: it shows as `timeout`.
//! - Health: retransmitted segments (sent segments that take sequence
//!   space and end at or before the highest end sent), segments sent
//!   (TSO/GSO super-packets counted by the SYNs' MSS), and a smoothed RTT
//!   from the handshake and then from data to the ACK that covers it
//!   (one timed segment at a time, none across a retransmission: Karn).
//!   RTT variance, minimum RTT and cwnd are the kernel's, not on the wire.
//! - Response time, as the eBPF hooks define it but from packets: client,
//!   last new payload sent to the first new payload received; server,
//!   last new payload received to the first sent.
//!
//! Pure: segments and times in, [`LifeStep`]s out; bounded per connection.

use netoproc_core::lifecycle::{
    Closer, ConnectionLife, Outcome, ResponseHistogram, Role, Step, TcpHealth,
};

use super::flow::{TCP_FIN, TCP_RST, TCP_SYN};

/// The TCP ACK flag bit.
pub const TCP_ACK: u8 = 0x10;

/// The kernel's first retransmission timeout of a SYN (`TCP_TIMEOUT_INIT`).
const INITIAL_RTO_NS: u64 = 1_000_000_000;
/// Retransmission timers run late on a busy host: this much, or a quarter
/// of the gap, whichever is more, before an unanswered SYN counts as
/// abandoned.
const TIMER_SLACK_NS: u64 = 500_000_000;
/// An established connection with no packet for this long is forgotten
/// (its close step, if it ever comes, is lost and counted).
pub const OPEN_IDLE_NS: u64 = 300 * 1_000_000_000;

/// One TCP segment as the capture saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Segment {
    /// Sent by the local socket (else received).
    pub outgoing: bool,
    /// The flags byte.
    pub flags: u8,
    /// Sequence number.
    pub seq: u32,
    /// Acknowledgment number (meaningful with [`TCP_ACK`]).
    pub ack: u32,
    /// Payload bytes.
    pub len: u32,
    /// A SYN's MSS option, 0 if none.
    pub mss: u16,
    /// Capture time, CLOCK_MONOTONIC ns.
    pub ktime_ns: u64,
}

impl Segment {
    fn has(&self, f: u8) -> bool {
        self.flags & f != 0
    }

    /// A SYN without ACK: someone opens a connection.
    pub fn is_open(&self) -> bool {
        self.has(TCP_SYN) && !self.has(TCP_ACK)
    }

    /// Sequence numbers this segment takes: payload, SYN and FIN.
    fn seq_len(&self) -> u32 {
        self.len + u32::from(self.has(TCP_SYN)) + u32::from(self.has(TCP_FIN))
    }
}

/// A lifecycle step of the connection, with its state then.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LifeStep {
    /// Which step.
    pub step: Step,
    /// When (capture time, monotonic ns).
    pub ktime_ns: u64,
    /// The connection's lifecycle so far.
    pub life: ConnectionLife,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Client: SYN sent; server: SYN received (SYN-ACK maybe sent).
    Connecting,
    Open,
    Closed,
}

/// `a` comes after `b` in sequence space.
fn after(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) > 0
}

/// One connection, from its first SYN.
#[derive(Debug, Clone)]
pub struct TcpLife {
    role: Role,
    phase: Phase,
    outcome: Outcome,
    connect_ns: u64,
    established_ns: Option<u64>,
    closed_ns: Option<u64>,
    handshake_ns: Option<u64>,
    closer: Option<Closer>,
    /// Our SYN (client) or SYN-ACK (server): first and last sent, how many
    /// times, and the gap before the last.
    open_first_ns: u64,
    open_last_ns: u64,
    open_gap_ns: u64,
    open_sent: u32,
    /// Client: when the SYN-ACK arrived (established once we ACK it).
    synack_ns: Option<u64>,
    /// One past the highest sequence number sent / received.
    tx_high: Option<u32>,
    rx_high: Option<u32>,
    fin_out: bool,
    fin_in: bool,
    /// The smallest MSS either SYN announced; 0 unknown.
    mss: u32,
    srtt_us: u32,
    total_retrans: u32,
    segs_out: u32,
    /// The data segment being timed: its end and when it was sent.
    timed: Option<(u32, u64)>,
    /// Direction of the last new payload (1 sent, 2 received) and when.
    last_dir: u8,
    last_io_ns: u64,
    response: ResponseHistogram,
    last_ns: u64,
    /// Changed since the last step or sample.
    dirty: bool,
}

const SENT: u8 = 1;
const RECEIVED: u8 = 2;

impl TcpLife {
    /// A connection opened by `seg` (a SYN without ACK), and its first step
    /// (a client's `connect`); `None` for any other segment.
    pub fn open(seg: &Segment) -> Option<(TcpLife, Option<LifeStep>)> {
        if !seg.is_open() {
            return None;
        }
        let role = if seg.outgoing {
            Role::Client
        } else {
            Role::Server
        };
        let t = seg.ktime_ns;
        let mut life = TcpLife {
            role,
            phase: Phase::Connecting,
            outcome: Outcome::Open,
            connect_ns: t,
            established_ns: None,
            closed_ns: None,
            handshake_ns: None,
            closer: None,
            open_first_ns: 0,
            open_last_ns: 0,
            open_gap_ns: 0,
            open_sent: 0,
            synack_ns: None,
            tx_high: None,
            rx_high: None,
            fin_out: false,
            fin_in: false,
            mss: 0,
            srtt_us: 0,
            total_retrans: 0,
            segs_out: 0,
            timed: None,
            last_dir: 0,
            last_io_ns: 0,
            response: ResponseHistogram::default(),
            last_ns: t,
            dirty: false,
        };
        life.note_mss(seg);
        if seg.outgoing {
            life.sent_open(seg);
            let step = life.step(Step::Connect, t);
            return Some((life, Some(step)));
        }
        life.rx_high = Some(seg.seq.wrapping_add(1));
        Some((life, None))
    }

    /// Closed: nothing more will change.
    pub fn is_closed(&self) -> bool {
        self.phase == Phase::Closed
    }

    /// Past its handshake and not closed.
    pub fn is_open(&self) -> bool {
        self.phase == Phase::Open
    }

    /// The lifecycle so far.
    pub fn life(&self) -> ConnectionLife {
        ConnectionLife {
            role: self.role,
            outcome: self.outcome,
            connect_ns: self.connect_ns,
            established_ns: self.established_ns,
            closed_ns: self.closed_ns,
            handshake_ns: self.handshake_ns,
            health: Some(TcpHealth {
                srtt_us: self.srtt_us,
                rttvar_us: 0,
                min_rtt_us: 0,
                cwnd: 0,
                total_retrans: self.total_retrans,
                segs_out: self.segs_out,
            }),
            retrans_events: 0,
            error: 0,
            closer: self.closer,
            response: self.response.clone(),
        }
    }

    fn step(&mut self, step: Step, ktime_ns: u64) -> LifeStep {
        self.dirty = false;
        LifeStep {
            step,
            ktime_ns,
            life: self.life(),
        }
    }

    fn note_mss(&mut self, seg: &Segment) {
        let m = u32::from(seg.mss);
        if m > 0 && (self.mss == 0 || m < self.mss) {
            self.mss = m;
        }
    }

    /// Segments a packet of `len` payload bytes is on the wire.
    fn segments(&self, len: u32) -> u32 {
        if self.mss == 0 || len == 0 {
            1
        } else {
            len.div_ceil(self.mss)
        }
    }

    /// Our SYN or SYN-ACK went out (again).
    fn sent_open(&mut self, seg: &Segment) {
        let t = seg.ktime_ns;
        if self.open_sent == 0 {
            self.open_first_ns = t;
        } else {
            self.open_gap_ns = t.saturating_sub(self.open_last_ns);
            self.total_retrans += 1;
        }
        self.open_last_ns = t;
        self.open_sent += 1;
        self.segs_out += 1;
        self.tx_high = Some(seg.seq.wrapping_add(1));
    }

    fn rtt_sample(&mut self, ns: u64) {
        let us = u32::try_from(ns / 1000).unwrap_or(u32::MAX).max(1);
        self.srtt_us = if self.srtt_us == 0 {
            us
        } else {
            // The kernel's gain: srtt += (sample - srtt) / 8.
            let s = i64::from(self.srtt_us);
            (s + (i64::from(us) - s) / 8).clamp(1, i64::from(u32::MAX)) as u32
        };
    }

    fn close(&mut self, outcome: Outcome, at: u64) -> Option<LifeStep> {
        self.phase = Phase::Closed;
        self.outcome = outcome;
        self.closed_ns = Some(at);
        self.timed = None;
        Some(self.step(Step::Closed, at))
    }

    /// Adds one segment of this connection; returns the step it makes, if
    /// any. Segments of a closed connection change nothing.
    pub fn segment(&mut self, seg: &Segment) -> Option<LifeStep> {
        if self.phase == Phase::Closed {
            return None;
        }
        self.last_ns = self.last_ns.max(seg.ktime_ns);
        self.dirty = true;
        if seg.has(TCP_SYN) {
            self.note_mss(seg);
        }
        match self.phase {
            Phase::Connecting => self.connecting(seg),
            Phase::Open => self.open_segment(seg),
            Phase::Closed => None,
        }
    }

    fn connecting(&mut self, seg: &Segment) -> Option<LifeStep> {
        let t = seg.ktime_ns;
        let rst = seg.has(TCP_RST);
        match (self.role, seg.outgoing) {
            (Role::Client, true) if seg.is_open() => {
                self.sent_open(seg);
                None
            }
            (Role::Client, false) if rst && self.synack_ns.is_none() => {
                self.close(Outcome::Refused, t)
            }
            (Role::Client, false) if seg.has(TCP_SYN) && seg.has(TCP_ACK) => {
                if self.synack_ns.is_none() {
                    self.synack_ns = Some(t);
                    self.rx_high = Some(seg.seq.wrapping_add(1));
                }
                None
            }
            // The SYN-ACK answered with an RST: the socket was gone.
            (Role::Client, true) if rst && self.synack_ns.is_some() => {
                self.close(Outcome::AbortedByExit, t)
            }
            (Role::Client, true) if seg.has(TCP_ACK) => {
                let synack = self.synack_ns?;
                self.segs_out += 1;
                self.phase = Phase::Open;
                self.established_ns = Some(synack);
                self.handshake_ns = Some(synack.saturating_sub(self.connect_ns));
                if self.open_sent == 1 {
                    self.rtt_sample(synack.saturating_sub(self.open_first_ns));
                }
                let step = self.step(Step::Established, synack);
                // The ACK may carry data already.
                self.payload(seg);
                Some(step)
            }
            (Role::Server, true) if seg.has(TCP_SYN) && seg.has(TCP_ACK) => {
                self.sent_open(seg);
                None
            }
            (Role::Server, _) if rst => {
                // Never accepted: no connection to report.
                self.phase = Phase::Closed;
                self.outcome = Outcome::Other;
                None
            }
            (Role::Server, false)
                if seg.has(TCP_ACK) && !seg.has(TCP_SYN) && self.open_sent > 0 =>
            {
                self.phase = Phase::Open;
                self.established_ns = Some(t);
                self.handshake_ns = Some(t.saturating_sub(self.open_last_ns));
                if self.open_sent == 1 {
                    self.rtt_sample(t.saturating_sub(self.open_first_ns));
                }
                let step = self.step(Step::Accepted, t);
                self.payload(seg);
                Some(step)
            }
            _ => None,
        }
    }

    fn open_segment(&mut self, seg: &Segment) -> Option<LifeStep> {
        let t = seg.ktime_ns;
        if seg.has(TCP_RST) {
            return if seg.outgoing {
                // Our own abort (SO_LINGER 0, unread data): no error for
                // the owner.
                self.close(Outcome::Success, t)
            } else {
                self.close(Outcome::Reset, t)
            };
        }
        if seg.outgoing {
            self.segs_out += self.segments(seg.len);
        }
        self.payload(seg);
        if seg.has(TCP_FIN) {
            if seg.outgoing {
                self.fin_out = true;
                self.closer.get_or_insert(Closer::Local);
            } else {
                self.fin_in = true;
                self.closer.get_or_insert(Closer::Remote);
            }
            if self.fin_out && self.fin_in {
                return self.close(Outcome::Success, t);
            }
        }
        None
    }

    /// Sequence space, retransmissions, RTT and response time of a segment
    /// in an open connection.
    fn payload(&mut self, seg: &Segment) {
        let t = seg.ktime_ns;
        let takes = seg.seq_len();
        let start = seg.seq.wrapping_add(u32::from(seg.has(TCP_SYN)));
        let end = seg.seq.wrapping_add(takes);
        let mut fresh_payload = false;
        if seg.outgoing {
            if takes > 0 {
                match self.tx_high {
                    Some(high) if !after(end, high) => {
                        // Karn: nothing sent before a retransmission is timed.
                        self.total_retrans += self.segments(seg.len);
                        self.timed = None;
                    }
                    _ => {
                        self.tx_high = Some(end);
                        fresh_payload = seg.len > 0;
                        if fresh_payload && self.timed.is_none() {
                            self.timed = Some((start.wrapping_add(seg.len), t));
                        }
                    }
                }
            }
        } else {
            if seg.has(TCP_ACK) {
                if let Some((timed_end, sent)) = self.timed {
                    if !after(timed_end, seg.ack) {
                        self.timed = None;
                        self.rtt_sample(t.saturating_sub(sent));
                    }
                }
            }
            if takes > 0 {
                match self.rx_high {
                    Some(high) if !after(end, high) => {}
                    _ => {
                        self.rx_high = Some(end);
                        fresh_payload = seg.len > 0;
                    }
                }
            }
        }
        if fresh_payload {
            self.io(if seg.outgoing { SENT } else { RECEIVED }, t);
        }
    }

    /// New payload moved: a response time when the direction turned the
    /// way the role waits for.
    fn io(&mut self, dir: u8, t: u64) {
        let ask = match self.role {
            Role::Client => SENT,
            Role::Server => RECEIVED,
        };
        if self.last_dir == ask && dir != ask && self.last_io_ns > 0 && t > self.last_io_ns {
            self.response.record_us((t - self.last_io_ns) / 1000);
        }
        self.last_dir = dir;
        self.last_io_ns = t;
    }

    /// What time `now` (monotonic ns) means for a quiet connection: the
    /// `timeout` of a client whose SYN went unanswered past the kernel's
    /// retransmission schedule.
    pub fn tick(&mut self, now: u64) -> Option<LifeStep> {
        if self.phase != Phase::Connecting || self.role != Role::Client || self.synack_ns.is_some()
        {
            return None;
        }
        let gap = if self.open_sent > 1 {
            self.open_gap_ns.max(1)
        } else {
            INITIAL_RTO_NS
        };
        // The next retransmission (or the kernel's giving up) is due one
        // doubled gap after the last SYN.
        let due = self.open_last_ns.saturating_add(2 * gap);
        if now > due.saturating_add(TIMER_SLACK_NS.max(gap / 4)) {
            return self.close(Outcome::Timeout, due);
        }
        None
    }

    /// Whether this connection must be remembered although its flow has
    /// been quiet: an unanswered client (until [`TcpLife::tick`] decides)
    /// or an open connection (until [`OPEN_IDLE_NS`]).
    pub fn keeps_flow(&self, now: u64) -> bool {
        match self.phase {
            Phase::Connecting => self.role == Role::Client && self.synack_ns.is_none(),
            Phase::Open => now.saturating_sub(self.last_ns) < OPEN_IDLE_NS,
            Phase::Closed => false,
        }
    }

    /// Its state as a [`Step::Sample`] when it changed since the last step
    /// or sample and is open.
    pub fn sample(&mut self, now: u64) -> Option<LifeStep> {
        (self.phase == Phase::Open && self.dirty).then(|| self.step(Step::Sample, now))
    }
}

#[cfg(test)]
#[path = "tcp_life_tests.rs"]
mod tests;
