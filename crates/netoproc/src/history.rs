//! `netoproc history`: what the agent's ledger holds for a time range —
//! top talkers grouped by identity, process, service, container, user or
//! remote, with their exact total — as a table, TSV or JSON. Reads the
//! SQLite file while the agent writes it (WAL), or a shared PostgreSQL
//! (`--host` picks the agent). Also where `serve`'s history flags are
//! turned into the writer's settings.

use std::io::Write;
use std::path::{Path, PathBuf};

use netoproc_agent::config::HistorySection;
use netoproc_history::ledger::{Retention, DEFAULT_MAX_MIB, DEFAULT_RETAIN_S};
use netoproc_history::query::{self, Answer, Filters, GroupBy, Query, DEFAULT_LIMIT};
use netoproc_history::store::open_reader;
use netoproc_history::target::{printable, Target, DEFAULT_FILE, DEFAULT_STATE_DIR};
use netoproc_history::time::{format_utc, parse_retain, parse_time};

use crate::failure::Failure;

#[derive(Debug, Clone, clap::Args)]
pub struct HistoryArgs {
    /// Start of the range: a duration back from now (1h, 30m, 7d) or a
    /// UTC time (2026-12-01T03:00).
    #[arg(long, value_name = "WHEN", default_value = "1h")]
    pub since: String,

    /// End of the range, as --since [default: now].
    #[arg(long, value_name = "WHEN")]
    pub until: Option<String>,

    /// What rows are: identity, process, service, container, user or
    /// remote (remote addresses: each identity's busiest 50, the rest as
    /// `other`).
    #[arg(long, value_name = "KEY", default_value = "process")]
    pub group_by: String,

    /// The agent whose rows to read (its --host-name) [default: this
    /// host's name].
    #[arg(long, value_name = "NAME")]
    pub host: Option<String>,

    /// Top N rows; the rest are summed in a row `other` (1 to 1000).
    #[arg(long, value_name = "N", default_value_t = DEFAULT_LIMIT)]
    pub limit: usize,

    /// Output format: pretty, tsv or json.
    #[arg(long, value_name = "FORMAT", default_value = "pretty")]
    pub format: String,

    /// The ledger: a SQLite file or a postgres:// URL [default:
    /// /var/lib/netoproc/history.sqlite].
    #[arg(long, value_name = "PATH|URL")]
    pub history: Option<PathBuf>,

    /// Only this process name (exact).
    #[arg(long, value_name = "NAME")]
    pub process: Option<String>,

    /// Only this systemd unit (exact).
    #[arg(long, value_name = "UNIT")]
    pub service: Option<String>,

    /// Only this container (exact).
    #[arg(long, value_name = "ID")]
    pub container: Option<String>,

    /// Only this uid.
    #[arg(long, value_name = "UID")]
    pub user: Option<String>,
}

/// This machine's name, for `--host-name` and `--host`.
pub fn hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its length; gethostname writes at
    // most that many bytes.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return "localhost".into();
    }
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    let name = String::from_utf8_lossy(&buf[..end]).into_owned();
    if name.is_empty() {
        "localhost".into()
    } else {
        printable(&name)
    }
}

/// The store from `--history` (else the file's `history.store`, else
/// `<state dir>/history.sqlite`).
pub fn target(
    flag: Option<&Path>,
    file: Option<&str>,
    state_dir: &Path,
) -> Result<Target, Failure> {
    let given = flag
        .map(|p| p.to_string_lossy().into_owned())
        .or_else(|| file.map(str::to_string));
    match given {
        Some(s) => Target::parse(&s).map_err(|e| Failure::Usage(e.to_string())),
        None => Ok(Target::Sqlite(state_dir.join(DEFAULT_FILE))),
    }
}

/// The state directory from the flag, the file or the default.
pub fn state_dir(flag: Option<&Path>, file: &HistorySection) -> PathBuf {
    flag.map(Path::to_path_buf)
        .or_else(|| file.state_dir.clone())
        .unwrap_or_else(|| PathBuf::from(DEFAULT_STATE_DIR))
}

/// `--retain` and `--history-max-mib` (flags over the file's keys).
pub fn retention(
    retain: Option<&str>,
    max_mib: Option<u64>,
    file: &HistorySection,
) -> Result<Retention, Failure> {
    let retain_s = match retain.or(file.retain.as_deref()) {
        Some(s) => parse_retain(s)
            .map_err(|e| Failure::Usage(format!("history retain (--retain): {e}")))?
            .as_secs() as i64,
        None => DEFAULT_RETAIN_S,
    };
    let mib = max_mib.or(file.max_mib).unwrap_or(DEFAULT_MAX_MIB);
    if !(16..=1 << 20).contains(&mib) {
        return Err(Failure::Usage(format!(
            "history max_mib (--history-max-mib): must be between 16 and 1048576, got {mib}"
        )));
    }
    Ok(Retention {
        retain_s,
        max_bytes: Some(mib << 20),
        ..Retention::default()
    })
}

pub fn run(args: &HistoryArgs, elevated: Option<&str>) -> Result<(), Failure> {
    if let Some(why) = elevated {
        return Err(Failure::Privileges(format!(
            "netoproc history reads the ledger with its caller's rights only; run it without file capabilities or set-user-ID ({why})"
        )));
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let usage = |e: netoproc_history::HistoryError| Failure::Usage(e.to_string());
    let since = parse_time(&args.since, now, "--since").map_err(usage)?;
    let until = match &args.until {
        Some(u) => parse_time(u, now, "--until").map_err(usage)?,
        None => now,
    };
    if since >= until {
        return Err(Failure::Usage(format!(
            "--since ({}) must be before --until ({})",
            format_utc(since),
            format_utc(until)
        )));
    }
    let group_by = GroupBy::parse(&args.group_by).map_err(usage)?;
    if !(1..=query::MAX_LIMIT).contains(&args.limit) {
        return Err(Failure::Usage(format!(
            "--limit: must be between 1 and {}, got {}",
            query::MAX_LIMIT,
            args.limit
        )));
    }
    let format = match args.format.as_str() {
        f @ ("pretty" | "tsv" | "json") => f,
        other => {
            return Err(Failure::Usage(format!(
                "--format: `{}` is not one of pretty, tsv, json",
                printable(other)
            )))
        }
    };
    let target = target(args.history.as_deref(), None, Path::new(DEFAULT_STATE_DIR))?;
    if target == Target::Off {
        return Err(Failure::Usage("--history off: nothing to read".into()));
    }
    let q = Query {
        host: args.host.clone().unwrap_or_else(hostname),
        since,
        until,
        group_by,
        limit: args.limit,
        filters: Filters {
            process: args.process.clone(),
            service: args.service.clone(),
            container: args.container.clone(),
            user: args.user.clone(),
        },
    };
    let runtime = |e: netoproc_history::HistoryError| {
        Failure::Runtime(anyhow::anyhow!(netoproc_history::error::chain(&e)))
    };
    let mut db = open_reader(&target).map_err(runtime)?;
    let a = query::run(db.as_mut(), &q).map_err(runtime)?;
    if a.rows.is_empty() && args.host.is_none() {
        let hosts = query::hosts(db.as_mut()).unwrap_or_default();
        if !hosts.is_empty() && !hosts.contains(&q.host) {
            eprintln!(
                "netoproc: no rows for host {}; the store holds {} (use --host)",
                printable(&q.host),
                hosts
                    .iter()
                    .map(|h| printable(h))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
    }
    let mut out = std::io::stdout().lock();
    let written = match format {
        "json" => serde_json::to_writer_pretty(&mut out, &a)
            // Keeps an I/O error's kind (a closed pipe stays one).
            .map_err(std::io::Error::from)
            .and_then(|()| writeln!(out)),
        "tsv" => write_tsv(&mut out, &a),
        _ => write_pretty(&mut out, &a),
    };
    // A closed pipe (`| head`) is recognised in `main`, through the chain.
    written.map_err(|e| Failure::Runtime(anyhow::Error::new(e).context("writing the answer")))
}

fn cell(s: &str) -> String {
    // Names are whatever a process chose: no control characters, no tabs.
    printable(s).replace('\t', " ")
}

fn write_tsv(out: &mut impl Write, a: &Answer) -> std::io::Result<()> {
    writeln!(
        out,
        "{}\tpayload_bytes_sent\tpayload_bytes_received\twire_bytes_sent\twire_bytes_received\tpackets_sent\tpackets_received",
        a.group_by.as_str()
    )?;
    let rows = a.rows.iter().map(|r| (r.label.as_str(), &r.traffic));
    for (label, t) in rows.chain(std::iter::once(("total", &a.total))) {
        writeln!(
            out,
            "{}\t{}\t{}\t{}\t{}\t{}\t{}",
            cell(label),
            t.payload_bytes_sent,
            t.payload_bytes_received,
            t.wire_bytes_sent,
            t.wire_bytes_received,
            t.packets_sent,
            t.packets_received
        )?;
    }
    Ok(())
}

fn human(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

fn write_pretty(out: &mut impl Write, a: &Answer) -> std::io::Result<()> {
    writeln!(
        out,
        "host {}: {} to {} (by the {})",
        cell(&a.host),
        format_utc(a.since),
        format_utc(a.until),
        match a.resolution_seconds {
            60 => "minute",
            3600 => "hour",
            _ => "day",
        }
    )?;
    let labels: Vec<String> = a.rows.iter().map(|r| cell(&r.label)).collect();
    let w = labels
        .iter()
        .map(|l| l.chars().count())
        .chain([a.group_by.as_str().len(), 5])
        .max()
        .unwrap_or(5)
        .min(60);
    writeln!(
        out,
        "{:<w$}  {:>12}  {:>12}  {:>12}  {:>12}",
        a.group_by.as_str().to_uppercase(),
        "SENT",
        "RECEIVED",
        "WIRE SENT",
        "WIRE RECV"
    )?;
    let rows = labels
        .iter()
        .map(String::as_str)
        .zip(a.rows.iter().map(|r| &r.traffic));
    for (label, t) in rows.chain(std::iter::once(("total", &a.total))) {
        let label: String = label.chars().take(w).collect();
        writeln!(
            out,
            "{label:<w$}  {:>12}  {:>12}  {:>12}  {:>12}",
            human(t.payload_bytes_sent),
            human(t.payload_bytes_received),
            human(t.wire_bytes_sent),
            human(t.wire_bytes_received)
        )?;
    }
    Ok(())
}
