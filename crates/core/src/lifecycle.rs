//! TCP connection lifecycle and health: the steps a connection goes through
//! (connect, established, accepted, closed), how it ended ([`Outcome`]), the
//! kernel's view of its health ([`TcpHealth`]) and its response times, as a
//! backend observes them ([`LifeEvent`]), and the [`ConnectionBook`] that
//! keeps them per connection (bounded) and rolls them up per process. Pure:
//! no I/O; times are the kernel's monotonic nanoseconds from the events.

use serde::Serialize;

use crate::model::{SocketCookie, SocketRecord};

mod book;
mod histogram;

pub use book::{
    event_row, ConnectionBook, ConnectionRow, LifecycleReport, ProcessHealth, Quantiles,
};
pub use histogram::{ResponseHistogram, RT_BUCKETS};

/// Which side of the handshake this socket is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// It sent the SYN (connect).
    Client,
    /// A listener's child: it was accepted.
    Server,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Client => "client",
            Role::Server => "server",
        }
    }
}

/// How a connection ended. Everything but `Open` and `Success` is a
/// failure reason, a closed set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Open,
    /// Established, then closed without error, however short it was.
    Success,
    Refused,
    Reset,
    Timeout,
    Unreachable,
    /// Its owner closed it (or exited) while it was still connecting.
    AbortedByExit,
    Other,
}

impl Outcome {
    pub const FAILURES: [Outcome; 6] = [
        Outcome::Refused,
        Outcome::Reset,
        Outcome::Timeout,
        Outcome::Unreachable,
        Outcome::AbortedByExit,
        Outcome::Other,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Open => "open",
            Outcome::Success => "success",
            Outcome::Refused => "refused",
            Outcome::Reset => "reset",
            Outcome::Timeout => "timeout",
            Outcome::Unreachable => "unreachable",
            Outcome::AbortedByExit => "aborted_by_exit",
            Outcome::Other => "other",
        }
    }

    pub fn is_failure(self) -> bool {
        !matches!(self, Outcome::Open | Outcome::Success)
    }
}

/// Which side sent the first FIN.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Closer {
    Local,
    Remote,
}

/// One lifecycle step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    Connect,
    Established,
    Accepted,
    Closed,
    /// Not a step: a live socket's state, read with the other live sockets.
    Sample,
}

impl Step {
    pub fn as_str(self) -> &'static str {
        match self {
            Step::Connect => "connect",
            Step::Established => "established",
            Step::Accepted => "accepted",
            Step::Closed => "closed",
            Step::Sample => "sample",
        }
    }
}

/// The kernel's view of a TCP connection's health (what `tcp_info` holds).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct TcpHealth {
    /// Smoothed RTT, µs.
    pub srtt_us: u32,
    /// RTT variance (mean deviation), µs.
    pub rttvar_us: u32,
    pub min_rtt_us: u32,
    /// Congestion window, segments.
    pub cwnd: u32,
    /// Segments retransmitted (the kernel's count, as `ss -ti` shows).
    pub total_retrans: u32,
    /// Segments sent, retransmissions included.
    pub segs_out: u32,
}

/// One TCP socket's lifecycle as last observed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionLife {
    pub role: Role,
    pub outcome: Outcome,
    /// Kernel monotonic ns: connect (client) or the child socket's birth
    /// (server).
    pub connect_ns: u64,
    pub established_ns: Option<u64>,
    pub closed_ns: Option<u64>,
    /// Client: SYN sent to established; server: the SYN-ACK's round trip.
    pub handshake_ns: Option<u64>,
    pub health: Option<TcpHealth>,
    /// `tcp:tcp_retransmit_skb` events seen for this socket.
    pub retrans_events: u32,
    /// The socket error at close (errno), 0 if none.
    pub error: u32,
    pub closer: Option<Closer>,
    pub response: ResponseHistogram,
}

impl ConnectionLife {
    /// From established (or connect, if never established) to close.
    pub fn duration_ns(&self) -> Option<u64> {
        let start = self.established_ns.unwrap_or(self.connect_ns);
        self.closed_ns.map(|c| c.saturating_sub(start))
    }
}

/// A lifecycle step of one socket, with the socket's record (owner, tuple,
/// counters) at that moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LifeEvent {
    pub step: Step,
    pub ktime_ns: u64,
    pub cookie: SocketCookie,
    pub record: SocketRecord,
    pub life: ConnectionLife,
}
