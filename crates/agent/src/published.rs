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
    pub identity: Identity,
    pub pid: u32,
    /// Cut to [`crate::metrics::MAX_CMDLINE`] characters.
    pub cmdline: String,
}

/// One resolver's DNS figures (or `other`'s, summed).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResolverSeries {
    pub dns: DnsCounts,
    pub latency: LatencyHistogram,
}

/// The snapshot JSON's parts, serialized on request.
#[derive(Debug)]
pub struct SnapshotParts {
    pub meta: Meta,
    pub report: Report,
    pub dns: Option<DnsReport>,
    pub remote_hosts: Option<HashMap<IpAddr, String>>,
}

/// The opt-in remote series: (identity, remote) pairs of their own, then
/// the pair `other`; retired pairs' counters; what their budget did.
#[derive(Debug, Clone)]
pub struct RemoteSeries {
    pub pairs: Vec<(Identity, Tally)>,
    pub retired: Tally,
    pub budget: BudgetStats,
    pub max_pairs: usize,
}

#[derive(Debug)]
pub struct Published {
    /// Exported identities, then `other`.
    pub identities: Vec<(Identity, Tally)>,
    pub retired: Tally,
    /// `None` unless `remote_series` is set.
    pub remotes: Option<RemoteSeries>,
    pub info: Vec<ProcessInfoRow>,
    pub budget: BudgetStats,
    pub budget_config: BudgetConfig,
    pub max_series: usize,
    pub losses: Losses,
    /// At most [`crate::metrics::MAX_INTERFACES`]; the rest summed as `other`.
    pub interfaces: Vec<InterfaceCounters>,
    /// By resolver address (or `other`); `None` when DNS capture is off.
    pub resolvers: Option<Vec<(String, ResolverSeries)>>,
    pub capture: CaptureInfo,
    pub own: Option<OwnUsage>,
    pub reads: u64,
    pub read_at: SystemTime,
    /// The history writer's state; `None` with `--history off`.
    pub history: Option<crate::history_feed::HistoryView>,
    pub snapshot: SnapshotParts,
}
