//! What one read publishes for scrapes: the budget's series, coverage,
//! DNS, capture health and the parts of the snapshot JSON. Built by the
//! agent loop after each read and swapped in whole, so a scrape always
//! sees one consistent read and never waits for the capture.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::SystemTime;

use netoproc_core::backend::CaptureInfo;
use netoproc_core::report::{Losses, Report};
use netoproc_dns::{DnsReport, LatencyHistogram};
use netoproc_engine::OwnUsage;
use netoproc_export::Meta;
use netoproc_procfs::sysnet::InterfaceCounters;

use crate::budget::{BudgetConfig, BudgetStats};
use crate::identity::Identity;
use crate::tally::{DnsCounts, Tally};

/// One `_info` series: a live process of an exported identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessInfoRow {
    /// The exported identity the process counts for.
    pub identity: Identity,
    /// Its process id.
    pub pid: u32,
    /// Cut to [`crate::metrics::MAX_CMDLINE`] characters.
    pub cmdline: String,
}

/// One resolver's DNS figures (or `other`'s, summed).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResolverSeries {
    /// Queries by outcome.
    pub dns: DnsCounts,
    /// Answered queries' latencies.
    pub latency: LatencyHistogram,
}

/// The snapshot JSON's parts, serialized on request.
#[derive(Debug)]
pub struct SnapshotParts {
    /// How the capture runs (the JSON `meta` object).
    pub meta: Meta,
    /// Processes and connections at the read.
    pub report: Report,
    /// The observatory's report; `None` when DNS capture is off.
    pub dns: Option<DnsReport>,
    /// Names DNS answers gave remote addresses; `None` when DNS capture
    /// is off.
    pub remote_hosts: Option<HashMap<IpAddr, String>>,
}

/// The opt-in remote series: (identity, remote) pairs of their own, then
/// the pair `other`; retired pairs' counters; what their budget did.
#[derive(Debug, Clone)]
pub struct RemoteSeries {
    /// Exported pairs, then the pair `other`.
    pub pairs: Vec<(Identity, Tally)>,
    /// Counters of every pair whose series ended.
    pub retired: Tally,
    /// What the pairs' budget did.
    pub budget: BudgetStats,
    /// Pairs with series of their own at most (`remote_series`).
    pub max_pairs: usize,
}

/// What the connection lifecycle lost or folded so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LifecycleLosses {
    /// Lifecycle steps lost before the engine saw them
    /// (`Engine::lifecycle_dropped`): their connections are not counted.
    pub steps_dropped: u64,
    /// Connections the connection book kept no row of (too many open at
    /// once); still counted at close.
    pub rows_dropped: u64,
    /// Owners whose closed connections were counted under no name (too
    /// many owners between two reads).
    pub owners_folded: u64,
}

/// Everything one read publishes; swapped in whole (see the module docs).
#[derive(Debug)]
pub struct Published {
    /// Exported identities, then `other`.
    pub identities: Vec<(Identity, Tally)>,
    /// Counters of every identity whose series ended.
    pub retired: Tally,
    /// `None` unless `remote_series` is set.
    pub remotes: Option<RemoteSeries>,
    /// The `_info` series: live processes of exported identities.
    pub info: Vec<ProcessInfoRow>,
    /// What the identity budget did.
    pub budget: BudgetStats,
    /// The identity budget in force.
    pub budget_config: BudgetConfig,
    /// The `max_series` setting in force.
    pub max_series: usize,
    /// Everything lost or unattributable so far.
    pub losses: Losses,
    /// What the connection lifecycle lost or folded so far.
    pub lifecycle: LifecycleLosses,
    /// Whether the TCP lifecycle families are written (`tcp_connections`);
    /// their loss counters are written either way.
    pub tcp_connections: bool,
    /// At most [`crate::metrics::MAX_INTERFACES`]; the rest summed as `other`.
    pub interfaces: Vec<InterfaceCounters>,
    /// By resolver address (or `other`); `None` when DNS capture is off.
    pub resolvers: Option<Vec<(String, ResolverSeries)>>,
    /// What the backend attached: mode, rung, programs, degradations.
    pub capture: CaptureInfo,
    /// The agent's own CPU and memory; `None` when unreadable.
    pub own: Option<OwnUsage>,
    /// Complete reads so far, this one included.
    pub reads: u64,
    /// When this read was made, by the run's wall clock.
    pub read_at: SystemTime,
    /// The history writer's state; `None` with `--history off`.
    pub history: Option<crate::history_feed::HistoryView>,
    /// What `/api/v1/snapshot` serializes.
    pub snapshot: SnapshotParts,
}

impl Published {
    /// The exported identities whose `nonzero` part moved, and `other`
    /// always (so sums over identities have a series to start from).
    pub(crate) fn identities_with<'a>(
        &'a self,
        nonzero: impl Fn(&Tally) -> bool + 'a,
    ) -> impl Iterator<Item = &'a (Identity, Tally)> + 'a {
        self.identities
            .iter()
            .filter(move |(id, t)| nonzero(t) || id.is_other())
    }
}
