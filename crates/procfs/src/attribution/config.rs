//! How the resolver is tuned ([`ResolverConfig`]) and what it counts of
//! its own work ([`ResolverStats`]: lookups, cache hits, dumps, scans), for
//! meta output and `doctor`. Plain data: no behaviour lives here.

use std::path::PathBuf;
use std::time::Duration;

use crate::netns::RUN_NETNS;

/// Tuning of the resolver; the defaults suit a once-a-second refresh.
#[derive(Debug, Clone)]
pub struct ResolverConfig {
    /// Shortest time between two dumps caused by unknown tuples.
    pub min_on_demand_interval: Duration,
    /// Unknown tuples asked for one by one (sock_diag finds the socket in
    /// the kernel's hash tables, no walk) per `min_on_demand_interval`,
    /// before they fall back to rate-limited dumps. Bounds the cost of a
    /// flood of tuples no local socket has (forwarded traffic, scans).
    pub max_exact_lookups_per_interval: u32,
    /// Shortest time between two full `/proc` scans caused by socket inodes
    /// no process is known to hold.
    pub min_full_scan_interval: Duration,
    /// A full scan at least this often, whatever events say (drift guard).
    pub max_full_scan_age: Duration,
    /// Processes that forked or exec'd this recently are rescanned first
    /// when an unknown socket inode appears.
    pub hot_window: Duration,
    /// Cached answers unused this long are dropped.
    pub cache_ttl: Duration,
    /// Watch every network namespace (processes' and those named in this
    /// directory, normally `/run/netns`); `None`: only the caller's.
    pub all_namespaces: Option<PathBuf>,
}

impl Default for ResolverConfig {
    fn default() -> Self {
        ResolverConfig {
            min_on_demand_interval: Duration::from_millis(100),
            max_exact_lookups_per_interval: 1000,
            min_full_scan_interval: Duration::from_secs(1),
            max_full_scan_age: Duration::from_secs(30),
            hot_window: Duration::from_secs(5),
            cache_ttl: Duration::from_secs(60),
            all_namespaces: Some(PathBuf::from(RUN_NETNS)),
        }
    }
}

/// Counters of the resolver's work, for meta output and `doctor`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ResolverStats {
    /// Tuples asked for.
    pub lookups: u64,
    /// Answered from the cache, still valid for the latest dump.
    pub cache_hits: u64,
    /// Lookups that found a socket.
    pub resolved: u64,
    /// Lookups that found none.
    pub unresolved: u64,
    /// Of `resolved`: the socket is held by no known process.
    pub ownerless: u64,
    /// Of `resolved`: answered by an earlier dump's socket, now closed.
    pub from_closed: u64,
    /// sock_diag dumps (one per namespace).
    pub dumps: u64,
    /// Of `dumps`: caused by an unknown tuple.
    pub on_demand_dumps: u64,
    /// Unknown tuples asked for one by one, and how many of them the
    /// kernel knew (the others fall back to a dump).
    pub exact_lookups: u64,
    /// Of `exact_lookups`: those the kernel knew.
    pub exact_found: u64,
    /// Unknown tuples that did not cause a dump (rate limit).
    pub rate_limited: u64,
    /// Dumps that failed (the namespace's previous table is kept).
    pub dump_errors: u64,
    /// Full `/proc/*/fd` scans.
    pub full_scans: u64,
    /// Processes rescanned one by one (proc events, hot processes).
    pub pid_rescans: u64,
    /// Process events received, overruns included.
    pub proc_events: u64,
    /// Proc event overruns (each forces a full scan).
    pub proc_events_lost: u64,
}
