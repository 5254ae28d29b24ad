//! The agent's configuration file (TOML, `--config`): every setting a flag
//! sets, under the same names. Flags win over the file; unknown keys are
//! errors that name the line. Parsing and checking only — the binary
//! applies the `[capture]` keys to the capture flags, the agent the rest.
//!
//! ```toml
//! listen = "127.0.0.1:9767"
//! read_interval_ms = 1000
//! web_config_file = "/etc/netoproc/web.yml"   # TLS, basic auth
//!
//! [capture]
//! mode = "auto"            # auto | ebpf | afpacket
//! hooks = "auto"           # auto | counters | calls | tracepoint | fentry | kprobe
//! interface = "eth0"
//! rings = 1
//! ring_mib = 8
//! dns_ports = [53]
//!
//! [metrics]
//! max_series = 10000
//! identity_ttl_s = 600
//! min_residency_s = 60
//! info_per_identity = 2
//! remote_series = 0        # opt-in: (identity, remote address) pairs
//! tcp_connections = true   # per-identity TCP families: 38 series each
//!
//! [history]
//! store = "/var/lib/netoproc/history.sqlite"   # or postgres://…, or "off"
//! state_dir = "/var/lib/netoproc"
//! retain = "30d"
//! max_mib = 1024
//! host_name = "web1"       # default: the hostname
//! ```

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::budget::BudgetConfig;
use crate::metrics::{fixed_series, series_per_identity};

/// Where `serve` listens unless told otherwise: loopback only. 9767 lies in
/// the range Prometheus exporters use and is not a port of a common one.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:9767";
/// `max_series` unless set: series on `/metrics`, all families together.
pub const DEFAULT_MAX_SERIES: usize = 10_000;
/// `identity_ttl_s` unless set.
pub const DEFAULT_TTL: Duration = Duration::from_secs(600);
/// `min_residency_s` unless set.
pub const DEFAULT_MIN_RESIDENCY: Duration = Duration::from_secs(60);
/// `info_per_identity` unless set.
pub const DEFAULT_INFO_PER_IDENTITY: usize = 2;
/// `tcp_connections` unless set: the TCP lifecycle families are written.
pub const DEFAULT_TCP_CONNECTIONS: bool = true;

/// What went wrong with the configuration.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("reading {}", path.display())]
    Read {
        /// The file given.
        path: PathBuf,
        /// Why reading it failed.
        #[source]
        source: std::io::Error,
    },
    /// Not TOML, a wrong type or an unknown key; the message names the
    /// line and column.
    #[error("{}: {message}", path.display())]
    Parse {
        /// The file given.
        path: PathBuf,
        /// The parser's complaint, with `line N: ` in front when known.
        message: String,
    },
    /// A value out of range, named by its key.
    #[error("{key}: {message}")]
    Invalid {
        /// The key (or flag name without `--`) whose value is wrong.
        key: &'static str,
        /// What is wrong, with the allowed range and the value given.
        message: String,
    },
}

/// The file's contents; every key optional.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// Address and port to serve on (`--listen`); default [`DEFAULT_LISTEN`].
    pub listen: Option<String>,
    /// Milliseconds between reads of the capture (`--read-interval-ms`).
    pub read_interval_ms: Option<u64>,
    /// TLS and basic auth ([`crate::web`]); relative to the TOML file.
    pub web_config_file: Option<PathBuf>,
    /// `[capture]`.
    #[serde(default)]
    pub capture: CaptureSection,
    /// `[metrics]`.
    #[serde(default)]
    pub metrics: MetricsSection,
    /// `[history]`.
    #[serde(default)]
    pub history: HistorySection,
}

/// `[history]`: the ledger (the `serve` flags of the same names win).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HistorySection {
    /// A SQLite file, a `postgres://` URL or `off`.
    pub store: Option<String>,
    /// Where the default ledger file lives (`/var/lib/netoproc`).
    pub state_dir: Option<PathBuf>,
    /// `30d`, `12h`, …
    pub retain: Option<String>,
    /// The SQLite ledger is kept under this many MiB, oldest hours deleted
    /// first (default 1024).
    pub max_mib: Option<u64>,
    /// The host name history rows carry (default: the hostname).
    pub host_name: Option<String>,
}

/// `[capture]`: the global capture flags' values.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaptureSection {
    /// `auto`, `ebpf` or `afpacket`.
    pub mode: Option<String>,
    /// The byte-hook rung: `auto`, `tracepoint`, `fentry` or `kprobe`.
    pub hooks: Option<String>,
    /// AF_PACKET: capture on this interface only.
    pub interface: Option<String>,
    /// AF_PACKET: rings per namespace.
    pub rings: Option<u16>,
    /// AF_PACKET: memory of each ring, in MiB.
    pub ring_mib: Option<u32>,
    /// Ports whose traffic is parsed as DNS.
    pub dns_ports: Option<Vec<u16>>,
    /// eBPF: the event ring buffer's size, in KiB.
    pub ringbuf_kib: Option<u32>,
}

/// `[metrics]`: the series budget.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsSection {
    /// Series on `/metrics` at most, all families together.
    pub max_series: Option<usize>,
    /// Seconds an exported identity may be idle before it is dropped.
    pub identity_ttl_s: Option<u64>,
    /// Seconds an exported identity holds its place before a busier one
    /// may evict it.
    pub min_residency_s: Option<u64>,
    /// `_info` series per identity (0 to 16).
    pub info_per_identity: Option<usize>,
    /// (identity, remote address) pairs with series of their own; 0 or
    /// absent: none.
    pub remote_series: Option<usize>,
    /// The per-identity TCP lifecycle families (`netoproc_tcp_*`, with
    /// `other`'s and the retired counters); `false` gives their series
    /// back to identities.
    pub tcp_connections: Option<bool>,
}

impl FileConfig {
    /// Reads and parses the file at `path`.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(&text).map_err(|message| ConfigError::Parse {
            path: path.to_path_buf(),
            message,
        })
    }

    /// Parses TOML text; the error names the line.
    pub fn parse(text: &str) -> Result<Self, String> {
        toml::from_str(text).map_err(|e| {
            let line = e.span().map(|s| {
                1 + text.as_bytes()[..s.start.min(text.len())]
                    .iter()
                    .filter(|&&b| b == b'\n')
                    .count()
            });
            let msg = e.message().trim_end().to_string();
            match line {
                Some(l) => format!("line {l}: {msg}"),
                None => msg,
            }
        })
    }
}

/// The metric settings, checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MetricsSettings {
    /// Series on `/metrics` at most, room for 5 identities to 10 000 000.
    pub max_series: usize,
    /// An exported identity idle this long is dropped (1 s to 7 days).
    pub ttl: Duration,
    /// An exported identity is not evicted before this (1 s to 7 days).
    pub min_residency: Duration,
    /// `_info` series per identity (0 to 16).
    pub info_per_identity: usize,
    /// (identity, remote address) pairs with payload series of their own;
    /// 0: no remote series (the default: a remote label is opt-in).
    pub remote_series: usize,
    /// Whether the TCP lifecycle families are written; each identity costs
    /// [`crate::metrics::TCP_SERIES_PER_IDENTITY`] series more when they
    /// are.
    pub tcp_connections: bool,
}

impl MetricsSettings {
    /// Flag values (`Some` where given) over the file's, over defaults.
    pub fn resolve(flags: &MetricsSection, file: &MetricsSection) -> Result<Self, ConfigError> {
        let max_series = flags
            .max_series
            .or(file.max_series)
            .unwrap_or(DEFAULT_MAX_SERIES);
        let ttl = flags.identity_ttl_s.or(file.identity_ttl_s);
        let residency = flags.min_residency_s.or(file.min_residency_s);
        let info = flags
            .info_per_identity
            .or(file.info_per_identity)
            .unwrap_or(DEFAULT_INFO_PER_IDENTITY);
        if info > 16 {
            return Err(ConfigError::Invalid {
                key: "info_per_identity",
                message: format!("at most 16 `_info` series per identity, got {info}"),
            });
        }
        let remotes = flags.remote_series.or(file.remote_series).unwrap_or(0);
        let tcp = flags
            .tcp_connections
            .or(file.tcp_connections)
            .unwrap_or(DEFAULT_TCP_CONNECTIONS);
        let least = fixed_series(tcp) + 5 * series_per_identity(info, tcp) + remote_cost(remotes);
        if !(least..=10_000_000).contains(&max_series) {
            let mut with = String::new();
            if !tcp {
                with.push_str(" without TCP connection series");
            }
            if remotes > 0 {
                with.push_str(&format!(" and the {remotes} remote series pairs"));
            }
            return Err(ConfigError::Invalid {
                key: "max_series",
                message: format!(
                    "must be between {least} (room for 5 identities{with}) and 10000000, got {max_series}"
                ),
            });
        }
        if remote_cost(remotes) > max_series / 2 {
            return Err(ConfigError::Invalid {
                key: "remote_series",
                message: format!(
                    "{remotes} pairs take {} series, over half of max_series ({max_series})",
                    remote_cost(remotes)
                ),
            });
        }
        let secs = |key, v: Option<u64>, default: Duration| match v {
            None => Ok(default),
            Some(s) if (1..=7 * 86400).contains(&s) => Ok(Duration::from_secs(s)),
            Some(s) => Err(ConfigError::Invalid {
                key,
                message: format!("must be between 1 and 604800 seconds, got {s}"),
            }),
        };
        Ok(MetricsSettings {
            max_series,
            ttl: secs("identity_ttl_s", ttl, DEFAULT_TTL)?,
            min_residency: secs("min_residency_s", residency, DEFAULT_MIN_RESIDENCY)?,
            info_per_identity: info,
            remote_series: remotes,
            tcp_connections: tcp,
        })
    }

    /// The identity budget these settings leave room for: `max_series`
    /// less the fixed and remote series, divided by each identity's.
    pub fn budget(&self) -> BudgetConfig {
        BudgetConfig {
            max_identities: (self.max_series
                - fixed_series(self.tcp_connections)
                - remote_cost(self.remote_series))
                / series_per_identity(self.info_per_identity, self.tcp_connections),
            ttl: self.ttl,
            min_residency: self.min_residency,
        }
    }

    /// The budget of (identity, remote) pairs; `None` when remote series
    /// are off. Same TTL and residency as identities.
    pub fn remote_budget(&self) -> Option<BudgetConfig> {
        (self.remote_series > 0).then_some(BudgetConfig {
            max_identities: self.remote_series,
            ..self.budget()
        })
    }
}

/// Series `pairs` remote pairs can take: each, `other` and the retired
/// counters 2 directions × 2 protocols, and 5 budget series.
fn remote_cost(pairs: usize) -> usize {
    if pairs == 0 {
        0
    } else {
        4 * (pairs + 2) + 5
    }
}

/// The listen address: the flag's, else the file's, else [`DEFAULT_LISTEN`].
pub fn resolve_listen(flag: Option<&str>, file: Option<&str>) -> Result<SocketAddr, ConfigError> {
    let s = flag.or(file).unwrap_or(DEFAULT_LISTEN);
    s.parse().map_err(|_| ConfigError::Invalid {
        key: "listen",
        message: format!("`{s}` is not an address:port (e.g. {DEFAULT_LISTEN} or [::]:9767)"),
    })
}

#[cfg(test)]
#[path = "config_tests.rs"]
mod tests;
