//! DNS packets waiting for their flow's owner, on the attribution thread.
//! A reader hands a DNS packet on with its flow; the packet leaves here
//! once the flow is bound to a record (so it carries that record's cookie,
//! the same the ledger shows for the flow's bytes) with a known owner —
//! or, when the owner is still being looked up, after [`OWNER_WAIT`] or at
//! a sync, with the cookie alone (the observatory names the owner from the
//! ledger when the record gets one). Packets leave in the order they came
//! whenever they can, oldest first; at most [`MAX_HELD`] wait, and any
//! beyond are dropped and counted. Time is a parameter; pure.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use netoproc_core::{DnsPacket, SocketCookie};

use super::flow::FlowKey;

/// Longest a packet waits for its owner once its flow has a record. A
/// little over the attribution's own wait for an owner (200 ms).
pub const OWNER_WAIT: Duration = Duration::from_millis(250);
/// Packets held at most.
pub const MAX_HELD: usize = 65_536;

/// Where a flow stands, as the attribution rules see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Binding {
    /// Bound to record `cookie`, owned by `pid` (`None`: nobody could be
    /// named).
    Bound {
        cookie: SocketCookie,
        pid: Option<u32>,
    },
    /// Bound to record `cookie` (if any yet) whose owner is still looked up.
    Waiting(Option<SocketCookie>),
    /// Not known (forgotten already).
    Unknown,
}

#[derive(Debug, Default)]
pub struct DnsHold {
    held: VecDeque<(FlowKey, DnsPacket, Instant)>,
    /// Packets dropped because too many waited.
    pub dropped: u64,
}

impl DnsHold {
    pub fn add(&mut self, packets: Vec<(FlowKey, DnsPacket)>, now: Instant) {
        for (key, p) in packets {
            if self.held.len() >= MAX_HELD {
                self.dropped += 1;
                continue;
            }
            self.held.push_back((key, p, now));
        }
    }

    pub fn len(&self) -> usize {
        self.held.len()
    }

    /// The packets that can leave now, in the order they came; `all`
    /// releases every packet whose flow has a record (a sync).
    pub fn release(
        &mut self,
        binding: impl Fn(&FlowKey) -> Binding,
        now: Instant,
        all: bool,
    ) -> Vec<DnsPacket> {
        let mut out = Vec::new();
        let mut kept = VecDeque::with_capacity(self.held.len());
        for (key, mut p, since) in self.held.drain(..) {
            let waited = now.saturating_duration_since(since) >= OWNER_WAIT;
            let (cookie, pid) = match binding(&key) {
                Binding::Bound { cookie, pid } => (Some(cookie), pid),
                Binding::Waiting(cookie) if all || waited => (cookie, None),
                Binding::Unknown => (None, None),
                Binding::Waiting(_) => {
                    kept.push_back((key, p, since));
                    continue;
                }
            };
            match cookie {
                Some(c) => {
                    p.cookie = c;
                    p.pid = pid;
                    out.push(p);
                }
                // No record yet: only a sync forces one, so wait for it.
                None if !waited && !all => kept.push_back((key, p, since)),
                None => out.push(p),
            }
        }
        self.held = kept;
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use netoproc_core::Protocol;
    use netoproc_procfs::NetnsId;

    fn key(port: u16) -> FlowKey {
        FlowKey {
            netns: NetnsId(1),
            protocol: Protocol::Udp,
            local: format!("10.0.0.1:{port}").parse().unwrap(),
            remote: "10.0.0.2:53".parse().unwrap(),
        }
    }

    fn packet(ktime_ns: u64) -> DnsPacket {
        DnsPacket {
            cookie: SocketCookie(0),
            pid: None,
            outgoing: true,
            protocol: Protocol::Udp,
            src: "10.0.0.1:1".parse().unwrap(),
            dst: "10.0.0.2:53".parse().unwrap(),
            ktime_ns,
            payload_len: 3,
            payload: b"abc".to_vec(),
            tcp_seq: None,
        }
    }

    #[test]
    fn packets_leave_with_their_records_cookie_and_owner() {
        let t0 = Instant::now();
        let mut h = DnsHold::default();
        h.add(vec![(key(1), packet(1)), (key(2), packet(2))], t0);
        let bind = |k: &FlowKey| match k.local.port() {
            1 => Binding::Bound {
                cookie: SocketCookie(7),
                pid: Some(42),
            },
            _ => Binding::Waiting(Some(SocketCookie(8))),
        };
        let out = h.release(bind, t0, false);
        assert_eq!(out.len(), 1);
        assert_eq!((out[0].cookie, out[0].pid), (SocketCookie(7), Some(42)));
        assert_eq!(h.len(), 1);
        // The owner never came: it leaves with its cookie after the wait.
        let out = h.release(bind, t0 + OWNER_WAIT, false);
        assert_eq!((out[0].cookie, out[0].pid), (SocketCookie(8), None));
        assert_eq!(h.len(), 0);
    }

    #[test]
    fn a_sync_releases_every_packet_with_a_record() {
        let t0 = Instant::now();
        let mut h = DnsHold::default();
        h.add(vec![(key(1), packet(1)), (key(2), packet(2))], t0);
        let bind = |k: &FlowKey| match k.local.port() {
            1 => Binding::Waiting(None),
            _ => Binding::Waiting(Some(SocketCookie(8))),
        };
        let out = h.release(bind, t0, true);
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].ktime_ns, 1, "in the order they came");
        assert_eq!(out[1].cookie, SocketCookie(8));
    }

    #[test]
    fn too_many_are_dropped_and_counted() {
        let t0 = Instant::now();
        let mut h = DnsHold::default();
        let n = MAX_HELD + 5;
        h.add((0..n).map(|i| (key(1), packet(i as u64))).collect(), t0);
        assert_eq!((h.len(), h.dropped), (MAX_HELD, 5));
    }
}
