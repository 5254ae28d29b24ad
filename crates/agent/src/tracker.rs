//! From the ledger's cumulative view to what each identity moved since the
//! last read. Socket counters are cumulative per cookie, so each socket's
//! delta is its counters minus what was last seen of it, put under its
//! owner and protocol. The ledger's per-process totals are the reference:
//! what a process's row grew by beyond its sockets' deltas (a socket the
//! kernel reported again after it was retired, or one without a tuple) is
//! put under that process's main protocol, so identity sums equal the
//! ledger's totals exactly. DNS counts are cumulative per pid in the
//! observatory and are differenced the same way.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use netoproc_core::ledger::SocketLedger;
use netoproc_core::report::Report;
use netoproc_core::{Counters, SocketCookie};
use netoproc_dns::DnsReport;

use crate::identity::Identity;
use crate::tally::{proto_index, DnsCounts, Tally};

#[derive(Debug, Default)]
struct PidState {
    /// What this pid's deltas added up to so far.
    counted: Counters,
    /// Payload bytes per protocol, to tell its main one.
    per_proto: [u64; 2],
    dns: DnsCounts,
}

/// Remembers what was last seen, per socket and per pid.
#[derive(Debug, Default)]
pub struct DeltaTracker {
    sockets: HashMap<SocketCookie, Counters>,
    pids: HashMap<u32, PidState>,
}

/// One read's deltas by identity, and which pids were networking.
#[derive(Debug, Default)]
pub struct ReadDeltas {
    pub by_identity: HashMap<Identity, Tally>,
    /// Pids with an open socket, by identity (for the `_info` series).
    pub live_pids: HashMap<Identity, Vec<u32>>,
}

impl DeltaTracker {
    /// Deltas since the previous call. `containers` are the cgroup labels
    /// by pid; `report` is the ledger's report of this read.
    pub fn read(
        &mut self,
        ledger: &SocketLedger,
        report: &Report,
        dns: Option<&DnsReport>,
        containers: &HashMap<u32, Arc<str>>,
    ) -> ReadDeltas {
        let mut by_pid: HashMap<u32, Tally> = HashMap::new();
        let mut live: HashSet<u32> = HashSet::new();
        for s in ledger.sockets() {
            let Some(owner) = &s.owner else { continue };
            if !s.closed {
                live.insert(owner.pid);
            }
            let before = self
                .sockets
                .insert(s.cookie, s.counters)
                .unwrap_or_default();
            let delta = s.counters.saturating_sub(&before);
            let Some(t) = &s.tuple else { continue };
            if delta.is_zero() {
                continue;
            }
            let i = proto_index(t.protocol);
            let st = self.pids.entry(owner.pid).or_default();
            st.counted.add(&delta);
            st.per_proto[i] += delta.tx_bytes + delta.rx_bytes;
            by_pid.entry(owner.pid).or_default().traffic[i].add(&delta);
        }
        // Closed sockets are retired after this read: forget them.
        for s in ledger.sockets().filter(|s| s.closed) {
            self.sockets.remove(&s.cookie);
        }

        let mut identity_of: HashMap<u32, Identity> = HashMap::new();
        for row in &report.processes {
            let st = self.pids.entry(row.pid).or_default();
            let rest = row.counters.saturating_sub(&st.counted);
            if !rest.is_zero() {
                st.counted.add(&rest);
                let main = usize::from(st.per_proto[1] > st.per_proto[0]);
                by_pid.entry(row.pid).or_default().traffic[main].add(&rest);
            }
            let comm = ledger
                .process(row.pid)
                .map_or(row.process.as_str(), |p| p.comm.as_str());
            let label = containers.get(&row.pid).map(|l| &**l);
            identity_of.insert(row.pid, Identity::of(comm, label, row.uid));
        }

        if let Some(dns) = dns {
            for row in &dns.processes {
                let now = DnsCounts::from_row(row.answered, &row.failures);
                let st = self.pids.entry(row.pid).or_default();
                let delta = now.saturating_sub(&st.dns);
                st.dns = now;
                if !delta.is_zero() {
                    by_pid.entry(row.pid).or_default().dns.add(&delta);
                }
                identity_of.entry(row.pid).or_insert_with(|| {
                    match (row.pid, ledger.process(row.pid)) {
                        (0, _) => Identity::unnamed(),
                        (pid, Some(p)) => {
                            Identity::of(&p.comm, containers.get(&pid).map(|l| &**l), p.uid)
                        }
                        // Named by the packet only: the uid is not known.
                        (_, None) => Identity {
                            user: "".into(),
                            ..Identity::of(&row.process, None, 0)
                        },
                    }
                });
            }
        }

        let mut out = ReadDeltas::default();
        for (pid, tally) in by_pid {
            let id = identity_of
                .get(&pid)
                .cloned()
                .unwrap_or_else(Identity::unnamed);
            out.by_identity.entry(id).or_default().add(&tally);
        }
        for pid in live {
            if let Some(id) = identity_of.get(&pid) {
                out.live_pids.entry(id.clone()).or_default().push(pid);
            }
        }
        for pids in out.live_pids.values_mut() {
            pids.sort_unstable();
        }
        out
    }
}
