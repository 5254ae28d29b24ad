//! TCP connection lifecycle and health: the steps a connection goes through
//! (connect, established, accepted, closed), how it ended ([`Outcome`]), the
//! kernel's view of its health ([`TcpHealth`]) and its response times, as a
//! backend observes them ([`LifeEvent`]), and the [`ConnectionBook`] that
//! keeps them per connection (bounded) and rolls them up per process; the
//! [`ClosedCounts`] of closed connections for metrics. Pure:
//! no I/O; times are the kernel's monotonic nanoseconds from the events.

use serde::Serialize;

use crate::model::{SocketCookie, SocketRecord};

mod book;
mod closed;
mod histogram;

pub use book::{
    event_row, ConnectionBook, ConnectionRow, LifecycleReport, ProcessHealth, Quantiles,
};
pub use closed::{ClosedCounts, TimeHistogram, CLOSED_OUTCOMES, ROLES, TIME_BOUNDS_S};
pub use histogram::{BucketCount, ResponseHistogram, RT_BUCKETS};

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
    /// The role's name in output (`client`, `server`).
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
    /// Not closed yet.
    Open,
    /// Established, then closed without error, however short it was.
    Success,
    /// The peer answered the SYN with a reset (`ECONNREFUSED`).
    Refused,
    /// Established, then reset by the peer (`ECONNRESET`, `EPIPE`).
    Reset,
    /// No answer: SYN or data retransmissions ran out (`ETIMEDOUT`).
    Timeout,
    /// An ICMP error said the peer cannot be reached (`EHOSTUNREACH`, `ENETUNREACH`).
    Unreachable,
    /// Its owner closed it (or exited) while it was still connecting.
    AbortedByExit,
    /// Any other socket error at close (its errno is kept in `error`).
    Other,
}

impl Outcome {
    /// Every failure reason, in output order.
    pub const FAILURES: [Outcome; 6] = [
        Outcome::Refused,
        Outcome::Reset,
        Outcome::Timeout,
        Outcome::Unreachable,
        Outcome::AbortedByExit,
        Outcome::Other,
    ];

    /// The outcome's name in output (`success`, `refused`, ...).
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

    /// Whether this outcome is one of [`Outcome::FAILURES`].
    pub fn is_failure(self) -> bool {
        !matches!(self, Outcome::Open | Outcome::Success)
    }
}

/// Which side sent the first FIN.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Closer {
    /// This host's socket sent the first FIN.
    Local,
    /// The peer sent the first FIN.
    Remote,
}

/// One lifecycle step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    /// The socket sent its SYN (client).
    Connect,
    /// The handshake completed.
    Established,
    /// A listener's child socket came to life (server).
    Accepted,
    /// The socket reached `TCP_CLOSE`: the final record.
    Closed,
    /// Not a step: a live socket's state, read with the other live sockets.
    Sample,
}

impl Step {
    /// The step's name in output (`connect`, `closed`, ...).
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
/// A field a backend cannot observe is 0 (AF_PACKET: `rttvar_us`,
/// `min_rtt_us`, `cwnd`), and reports show it as absent.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct TcpHealth {
    /// Smoothed RTT, µs.
    pub srtt_us: u32,
    /// RTT variance (mean deviation), µs.
    pub rttvar_us: u32,
    /// Lowest RTT seen on the connection, µs.
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
    /// Client or server.
    pub role: Role,
    /// How it ended, or `Open`.
    pub outcome: Outcome,
    /// Kernel monotonic ns: connect (client) or the child socket's birth
    /// (server).
    pub connect_ns: u64,
    /// Kernel monotonic ns of the handshake's end, if it completed.
    pub established_ns: Option<u64>,
    /// Kernel monotonic ns of the close, once closed.
    pub closed_ns: Option<u64>,
    /// Client: SYN sent to established; server: the SYN-ACK's round trip.
    pub handshake_ns: Option<u64>,
    /// The kernel's health fields, when read (at close or a live read).
    pub health: Option<TcpHealth>,
    /// `tcp:tcp_retransmit_skb` events seen for this socket.
    pub retrans_events: u32,
    /// The socket error at close (errno), 0 if none.
    pub error: u32,
    /// Who sent the first FIN, if anyone did.
    pub closer: Option<Closer>,
    /// Response times (send burst end to first byte back, or the server's mirror).
    pub response: ResponseHistogram,
}

impl ConnectionLife {
    /// A client connection from `connect_ns` with `outcome`, closed at
    /// `closed_ns` if it closed, and nothing else known (no handshake,
    /// health, error, closer or response times): what a fake backend or a
    /// test starts from.
    pub fn client(outcome: Outcome, connect_ns: u64, closed_ns: Option<u64>) -> ConnectionLife {
        ConnectionLife {
            role: Role::Client,
            outcome,
            connect_ns,
            established_ns: None,
            closed_ns,
            handshake_ns: None,
            health: None,
            retrans_events: 0,
            error: 0,
            closer: None,
            response: ResponseHistogram::default(),
        }
    }

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
    /// Which step this is.
    pub step: Step,
    /// When the kernel saw it, monotonic ns.
    pub ktime_ns: u64,
    /// The socket's cookie (unique while the kernel runs).
    pub cookie: SocketCookie,
    /// Owner, addresses and byte counters at that moment.
    pub record: SocketRecord,
    /// The connection's lifecycle so far.
    pub life: ConnectionLife,
}
