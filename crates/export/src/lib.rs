//! netoproc-export: writes one capture snapshot — the run's [`Meta`], the
//! core [`Report`] and the DNS observatory's [`DnsReport`] — to any
//! [`std::io::Write`] as a human table
//! ([`Format::Pretty`]), tab-separated rows ([`Format::Tsv`]) or one JSON
//! object ([`Format::Json`]). It owns every byte netoproc prints as a
//! result; it never captures, aggregates or decides when to print.
//!
//! Errors are values: an [`ExportError`] keeps the underlying
//! [`io::Error`] as its source, so the binary can find a closed pipe
//! (`| head`) in the chain and exit quietly.

#![warn(missing_docs)]

use std::collections::HashMap;
use std::fmt;
use std::io::{self, BufWriter, Write};
use std::net::IpAddr;
use std::str::FromStr;

use netoproc_core::group::GroupBy;
use netoproc_core::report::Report;
use netoproc_dns::DnsReport;

mod cell;
mod dns;
mod json;
mod lifecycle;
mod meta;
mod pretty;
mod table;
mod tsv;
mod units;

pub use lifecycle::{write_step, write_summary, LifecycleSection};
pub use meta::Meta;
pub use units::human_bytes;

/// An output format, named on the command line as `pretty`, `tsv` or `json`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    /// Aligned columns with human units, for a terminal.
    #[default]
    Pretty,
    /// Tab-separated raw integers under one header line; `#` lines are comments.
    Tsv,
    /// One JSON object: `meta`, `processes`, `connections`, `total`, and
    /// `dns` when DNS was captured.
    Json,
}

impl Format {
    /// Every format, in the order the CLI should list them.
    pub const ALL: [Format; 3] = [Format::Pretty, Format::Tsv, Format::Json];

    /// The name used on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Format::Pretty => "pretty",
            Format::Tsv => "tsv",
            Format::Json => "json",
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Format {
    type Err = UnknownFormat;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Format::ALL
            .into_iter()
            .find(|f| f.name().eq_ignore_ascii_case(s))
            .ok_or_else(|| UnknownFormat(s.to_string()))
    }
}

/// What the text formats (pretty, TSV) show; JSON always holds everything.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum View {
    /// Per-process traffic (and connections when asked for).
    #[default]
    Processes,
    /// DNS: every query, then resolvers, then processes' DNS use.
    Dns,
}

impl View {
    /// Every view, in the order they are listed and printed.
    pub const ALL: [View; 2] = [View::Processes, View::Dns];

    /// The view's name as `--view` takes it (and as it parses back).
    pub fn name(self) -> &'static str {
        match self {
            View::Processes => "processes",
            View::Dns => "dns",
        }
    }
}

impl FromStr for View {
    type Err = UnknownView;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        View::ALL
            .into_iter()
            .find(|v| v.name().eq_ignore_ascii_case(s))
            .ok_or_else(|| UnknownView(s.to_string()))
    }
}

/// A view name that is not `processes` or `dns`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown view `{0}`: use one of processes, dns")]
pub struct UnknownView(pub String);

/// A format name that is not `pretty`, `tsv` or `json`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown output format `{0}`: use one of pretty, tsv, json")]
pub struct UnknownFormat(pub String);

/// Why a snapshot could not be written.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// The writer failed (closed pipe, full disk, ...).
    #[error("cannot write the output")]
    Io(#[from] io::Error),
    /// The JSON encoder failed for a reason other than the writer.
    #[error("cannot encode the snapshot as JSON")]
    Json(#[source] serde_json::Error),
}

impl ExportError {
    /// The I/O error kind, when the writer is what failed.
    pub fn io_kind(&self) -> Option<io::ErrorKind> {
        match self {
            ExportError::Io(e) => Some(e.kind()),
            ExportError::Json(_) => None,
        }
    }
}

impl From<serde_json::Error> for ExportError {
    fn from(e: serde_json::Error) -> Self {
        // serde_json wraps writer failures; unwrap them so their kind stays visible.
        if e.is_io() {
            ExportError::Io(io::Error::from(e))
        } else {
            ExportError::Json(e)
        }
    }
}

/// One capture window, ready to print.
#[derive(Debug, Clone, Copy)]
pub struct Snapshot<'a> {
    /// How the window was captured.
    pub meta: &'a Meta,
    /// What the window counted: processes, connections, DNS.
    pub report: &'a Report,
    /// Print the per-connection table too.
    pub connections: bool,
    /// The DNS observatory's report; `None` when DNS capture was off.
    pub dns: Option<&'a DnsReport>,
    /// Names for remote addresses (from DNS answers), shown as
    /// `remote_host` on connection rows.
    pub remote_hosts: Option<&'a HashMap<IpAddr, String>>,
    /// What the text formats show.
    pub view: View,
    /// Process rows summed by container, pod, service, user or cgroup
    /// (`Process`: one row per process, no grouping).
    pub group_by: GroupBy,
}

impl Snapshot<'_> {
    /// The name known for a connection's remote address.
    pub(crate) fn remote_host(&self, remote: Option<std::net::SocketAddr>) -> Option<&str> {
        let hosts = self.remote_hosts?;
        hosts.get(&remote?.ip()).map(String::as_str)
    }
}

/// Writes `snap` to `out` in `fmt`. Output is buffered here and flushed
/// before returning, so an unbuffered `out` costs no extra system calls.
pub fn write_snapshot(
    out: &mut dyn Write,
    fmt: Format,
    snap: &Snapshot,
) -> Result<(), ExportError> {
    write_snapshot_with_lifecycle(out, fmt, snap, None)
}

/// [`write_snapshot`] with the TCP lifecycle section: JSON gains a
/// `lifecycle` object, the pretty process view a "TCP health" table.
pub fn write_snapshot_with_lifecycle(
    out: &mut dyn Write,
    fmt: Format,
    snap: &Snapshot,
    life: Option<&LifecycleSection>,
) -> Result<(), ExportError> {
    let mut out = BufWriter::new(out);
    match (fmt, snap.view) {
        (Format::Pretty, View::Processes) => {
            pretty::write(&mut out, snap)?;
            if let Some(l) = life {
                lifecycle::write_pretty(&mut out, l)?;
            }
        }
        (Format::Pretty, View::Dns) => dns::write_pretty(&mut out, snap)?,
        (Format::Tsv, View::Processes) => tsv::write(&mut out, snap)?,
        (Format::Tsv, View::Dns) => dns::write_tsv(&mut out, snap)?,
        (Format::Json, _) => json::write(&mut out, snap, life)?,
    }
    out.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_names_round_trip() {
        for f in Format::ALL {
            assert_eq!(f.name().parse::<Format>(), Ok(f));
        }
        assert_eq!("JSON".parse::<Format>(), Ok(Format::Json));
        let err = "csv".parse::<Format>().unwrap_err();
        assert!(err.to_string().contains("pretty, tsv, json"));
        for v in View::ALL {
            assert_eq!(v.name().parse::<View>(), Ok(v));
        }
        assert!("flows".parse::<View>().is_err());
    }

    #[test]
    fn writer_errors_keep_their_kind() {
        struct Closed;
        impl Write for Closed {
            fn write(&mut self, _: &[u8]) -> io::Result<usize> {
                Err(io::ErrorKind::BrokenPipe.into())
            }
            fn flush(&mut self) -> io::Result<()> {
                Err(io::ErrorKind::BrokenPipe.into())
            }
        }
        let meta = Meta::default();
        let report = Report::default();
        let dns = DnsReport::default();
        for view in View::ALL {
            let snap = Snapshot {
                meta: &meta,
                report: &report,
                connections: true,
                dns: Some(&dns),
                remote_hosts: None,
                view,
                group_by: GroupBy::Container,
            };
            for f in Format::ALL {
                let err = write_snapshot(&mut Closed, f, &snap).unwrap_err();
                assert_eq!(
                    err.io_kind(),
                    Some(io::ErrorKind::BrokenPipe),
                    "{f}: {err:?}"
                );
            }
        }
    }
}
