//! What is counted per identity: traffic per protocol (payload bytes, wire
//! bytes, packets, each per direction), DNS queries by outcome and closed
//! TCP connections (by role and outcome, segments, handshake and response
//! times). A [`Tally`] is a set of monotonic counters; tallies only ever
//! add.

use netoproc_core::lifecycle::ClosedCounts;
use netoproc_core::{Counters, Protocol};
use netoproc_dns::Failures;

/// DNS queries by how they ended.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DnsCounts {
    /// Answered NOERROR (empty answers included).
    pub noerror: u64,
    /// Answered NXDOMAIN.
    pub nxdomain: u64,
    /// Answered SERVFAIL.
    pub servfail: u64,
    /// Answered REFUSED.
    pub refused: u64,
    /// Any other error rcode.
    pub other: u64,
    /// No response within the timeout.
    pub timeout: u64,
}

impl DnsCounts {
    /// From a DNS process row's totals (`answered` includes every rcode).
    pub fn from_row(answered: u64, f: &Failures) -> Self {
        let errors = f.nxdomain + f.servfail + f.refused + f.other;
        DnsCounts {
            noerror: answered.saturating_sub(errors),
            nxdomain: f.nxdomain,
            servfail: f.servfail,
            refused: f.refused,
            other: f.other,
            timeout: f.timeout,
        }
    }

    /// Field-wise sum.
    pub fn add(&mut self, o: &DnsCounts) {
        self.noerror += o.noerror;
        self.nxdomain += o.nxdomain;
        self.servfail += o.servfail;
        self.refused += o.refused;
        self.other += o.other;
        self.timeout += o.timeout;
    }

    /// Field-wise difference, saturating at zero.
    pub fn saturating_sub(&self, o: &DnsCounts) -> DnsCounts {
        DnsCounts {
            noerror: self.noerror.saturating_sub(o.noerror),
            nxdomain: self.nxdomain.saturating_sub(o.nxdomain),
            servfail: self.servfail.saturating_sub(o.servfail),
            refused: self.refused.saturating_sub(o.refused),
            other: self.other.saturating_sub(o.other),
            timeout: self.timeout.saturating_sub(o.timeout),
        }
    }

    /// Answered queries by rcode label (timeouts apart).
    pub fn by_rcode(&self) -> [(&'static str, u64); 5] {
        [
            ("NOERROR", self.noerror),
            ("NXDOMAIN", self.nxdomain),
            ("SERVFAIL", self.servfail),
            ("REFUSED", self.refused),
            ("other", self.other),
        ]
    }

    /// No query counted.
    pub fn is_zero(&self) -> bool {
        *self == DnsCounts::default()
    }
}

/// Counters of one identity (or of `other`, or of what was retired).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    /// Indexed by [`proto_index`].
    pub traffic: [Counters; 2],
    /// DNS queries by outcome.
    pub dns: DnsCounts,
    /// TCP connections closed.
    pub tcp: ClosedCounts,
}

/// The slot of a protocol in [`Tally::traffic`].
pub fn proto_index(p: Protocol) -> usize {
    match p {
        Protocol::Tcp => 0,
        Protocol::Udp => 1,
    }
}

impl Tally {
    /// Adds `o` to every counter.
    pub fn add(&mut self, o: &Tally) {
        for (a, b) in self.traffic.iter_mut().zip(&o.traffic) {
            a.add(b);
        }
        self.dns.add(&o.dns);
        self.tcp.add(&o.tcp);
    }

    /// Nothing counted.
    pub fn is_zero(&self) -> bool {
        self.traffic.iter().all(Counters::is_zero) && self.dns.is_zero() && self.tcp.is_zero()
    }

    /// Payload and wire bytes both ways, over both protocols: how much an
    /// identity weighs when the budget ranks identities (closed connections
    /// weigh nothing: they keep an identity active, not ranked).
    pub fn volume(&self) -> u64 {
        self.traffic
            .iter()
            .map(|c| c.tx_bytes + c.rx_bytes + c.tx_wire_bytes + c.rx_wire_bytes)
            .sum()
    }
}
