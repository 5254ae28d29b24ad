//! `netoproc serve`: the always-on agent's command line. Reads the config
//! file, lets flags win over it (capture keys are validated by the same
//! clap parsers as the flags), opens the capture backend and hands
//! everything to `netoproc-agent`. SIGTERM/SIGINT stop it cleanly (a
//! second one exits at once); SIGHUP reloads the file's `[metrics]` and the web config file (TLS, basic auth).

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use clap::parser::ValueSource;
use clap::{CommandFactory, Parser};
use netoproc_agent::agent::{serve, AgentError, HistoryOptions, ServeOptions};
use netoproc_agent::config::{
    resolve_listen, FileConfig, MetricsSection, MetricsSettings, DEFAULT_LISTEN,
};
use netoproc_agent::metrics::TCP_SERIES_PER_IDENTITY;
use netoproc_agent::web::WebSettings;
use netoproc_core::clock::SystemClock;
use netoproc_dns::ObservatoryConfig;
use netoproc_engine::{Engine, SessionConfig};
use netoproc_history::writer::{WriterConfig, DEFAULT_BUFFER_MINUTES};
use netoproc_history::Target;

use crate::cli::Cli;
use crate::failure::Failure;

/// Query records the agent keeps for /api/v1/snapshot (its counters count
/// every query regardless).
const AGENT_QUERY_RECORDS: usize = 1000;

#[derive(Debug, Clone, clap::Args)]
pub struct ServeArgs {
    /// Address and port to serve /metrics, /healthz, /readyz and
    /// /api/v1/snapshot on. Loopback only by default; 0.0.0.0:9767 or
    /// [::]:9767 to be scraped from other hosts.
    #[arg(long, value_name = "ADDR", help = format!("Address:port to serve on [default: {DEFAULT_LISTEN}]"))]
    pub listen: Option<String>,

    /// TOML configuration file (see deploy/netoproc.toml); flags win over
    /// it. SIGHUP re-reads its [metrics] section.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Web configuration file in the Prometheus exporters' format
    /// (tls_server_config, basic_auth_users; see deploy/web.yml): HTTPS
    /// only with TLS, and basic auth on every path but /healthz. SIGHUP
    /// re-reads it.
    #[arg(long, value_name = "FILE")]
    pub web_config_file: Option<PathBuf>,

    /// Most series /metrics may hold [default: 10000]; identities past it
    /// are summed as the identity `other`.
    #[arg(long, value_name = "N")]
    pub max_series: Option<usize>,

    /// Seconds an identity may stay idle before its series are dropped
    /// [default: 600].
    #[arg(long, value_name = "SECS")]
    pub identity_ttl: Option<u64>,

    /// Seconds an identity keeps its series before a busier one may take
    /// its place [default: 60].
    #[arg(long, value_name = "SECS")]
    pub min_residency: Option<u64>,

    /// `netoproc_process_info` series (pid, command line) per identity
    /// [default: 2].
    #[arg(long, value_name = "N")]
    pub info_per_identity: Option<usize>,

    /// Opt-in remote label: up to N (identity, remote address) pairs get
    /// `netoproc_remote_payload_bytes_total` series of their own, the
    /// busiest first, the rest summed as the pair `other` [default: 0, off].
    /// Each pair takes 4 series from --max-series.
    #[arg(long, value_name = "N")]
    pub remote_series: Option<usize>,

    /// TCP connection lifecycle series per identity (netoproc_tcp_*:
    /// connections closed by role and outcome, segments, handshake and
    /// response histograms) and their retired counters; false gives their
    /// series back to identities.
    #[arg(long, value_name = "BOOL", help = format!(
        "TCP connection series per identity (netoproc_tcp_*): {TCP_SERIES_PER_IDENTITY} series per identity from --max-series; false leaves room for more identities [default: true]"
    ))]
    pub tcp_connections: Option<bool>,

    /// The traffic ledger: a SQLite file, a postgres://user:password@host/db
    /// URL (many agents may share one; the password is never printed), or
    /// `off` [default: <state dir>/history.sqlite].
    #[arg(long, value_name = "PATH|URL|off")]
    pub history: Option<PathBuf>,

    /// Where the default ledger file lives [default: /var/lib/netoproc].
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,

    /// History older than this is deleted [default: 30d].
    #[arg(long, value_name = "DURATION")]
    pub retain: Option<String>,

    /// The SQLite ledger is kept under this many MiB: the oldest hours are
    /// deleted (and counted) first [default: 1024].
    #[arg(long, value_name = "MIB")]
    pub history_max_mib: Option<u64>,

    /// The host name history rows carry [default: the hostname].
    #[arg(long, value_name = "NAME")]
    pub host_name: Option<String>,

    /// Tests only: seconds in a ledger "minute" (10 to 60). Changes only
    /// how often rows are cut, never what is read or written where.
    #[arg(long, value_name = "SECS", hide = true, default_value_t = 60, value_parser = clap::value_parser!(i64).range(10..=60))]
    pub history_minute_secs: i64,
}

pub fn run(cli: &Cli, args: &ServeArgs, elevated: Option<&str>) -> Result<(), Failure> {
    if cli.duration.is_some() {
        return Err(Failure::Usage(
            "--duration makes a snapshot; `serve` runs until stopped".into(),
        ));
    }
    let file = match &args.config {
        Some(p) => FileConfig::load(p)
            .map_err(|e| Failure::Usage(format!("config {}", netoproc_core::error::Chain(&e))))?,
        None => FileConfig::default(),
    };
    let cli = with_file_capture_keys(&file, args.config.as_deref())?;
    let flags = metrics_flags(args);
    let metrics = MetricsSettings::resolve(&flags, &file.metrics)
        .map_err(|e| Failure::Usage(format!("serve: {e}")))?;
    let listen = resolve_listen(args.listen.as_deref(), file.listen.as_deref())
        .map_err(|e| Failure::Usage(format!("serve: {e}")))?;
    // The flag's path, else the file's (relative to the file's folder).
    let web_config_file = args.web_config_file.clone().or_else(|| {
        let p = file.web_config_file.as_ref()?;
        let dir = args.config.as_deref()?.parent().unwrap_or(Path::new("."));
        Some(dir.join(p))
    });
    // Read and checked (certificates and keys too) before capture starts.
    let web = match &web_config_file {
        Some(p) => WebSettings::load(p).map_err(|e| Failure::Usage(format!("serve: {e}")))?,
        None => WebSettings::default(),
    };
    let history = history_options(args, &file)?;
    let scheme = if web.tls.is_some() { "https" } else { "http" };
    let web_line = web.describe();

    let stop = Arc::new(AtomicBool::new(false));
    let reload = Arc::new(AtomicBool::new(false));
    let register = || -> std::io::Result<()> {
        use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
        for sig in [SIGINT, SIGTERM] {
            signal_hook::flag::register_conditional_shutdown(sig, 130, Arc::clone(&stop))?;
            signal_hook::flag::register(sig, Arc::clone(&stop))?;
        }
        signal_hook::flag::register(SIGHUP, Arc::clone(&reload)).map(drop)
    };
    register().map_err(|e| {
        Failure::Runtime(anyhow::Error::new(e).context("installing the signal handlers"))
    })?;

    let mut capture = crate::backend::open(&cli, elevated)?;
    // Set up: from here on only what the backend still uses (the listening
    // socket is opened next, on a port that needs no privilege).
    let dropped = crate::capabilities::drop_after_start(&capture.needs_after_start())
        .map_err(|e| Failure::Runtime(anyhow::Error::new(e).context("dropping capabilities")))?;
    if cli.verbose {
        for line in dropped.lines() {
            eprintln!("netoproc: {line}");
        }
    }
    let session = SessionConfig {
        proc_root: cli.proc_root.clone(),
        sys_root: cli.sys_root.clone(),
        dns: (!cli.dns_ports.0.is_empty()).then(|| ObservatoryConfig {
            max_queries: AGENT_QUERY_RECORDS,
            ..ObservatoryConfig::default()
        }),
        read_interval: std::time::Duration::from_millis(cli.read_interval_ms),
        max_closed: None,
    };
    let info = capture.info().clone();
    let mut engine = Engine::new(capture.as_mut(), session);
    let opts = ServeOptions {
        listen,
        metrics,
        config_path: args.config.clone(),
        metrics_flags: flags,
        web,
        web_config_file,
        history: history.clone(),
    };
    let history_line = match &history {
        Some(h) => format!(
            "history {} as host {}",
            h.writer.target.describe(),
            netoproc_history::target::printable(&h.writer.host)
        ),
        None => "history off".to_string(),
    };
    let result = serve(&mut engine, &SystemClock, &stop, &reload, &opts, |addr| {
        eprintln!(
            "netoproc: serving {scheme}://{addr}/metrics ({web_line}; capture mode {}, hooks {}; budget {} series; {history_line})",
            info.mode, info.hooks, metrics.max_series
        );
    });
    match result {
        Ok(()) => Ok(()),
        Err(e @ AgentError::Listen { .. }) => Err(Failure::Runtime(anyhow::Error::new(e))),
        Err(AgentError::Engine(e)) => Err(e.into()),
        Err(e @ AgentError::History { .. }) => Err(Failure::Runtime(anyhow::Error::new(e))),
    }
}

/// The `[metrics]` keys the flags set (`None` where not given).
fn metrics_flags(args: &ServeArgs) -> MetricsSection {
    MetricsSection {
        max_series: args.max_series,
        identity_ttl_s: args.identity_ttl,
        min_residency_s: args.min_residency,
        info_per_identity: args.info_per_identity,
        remote_series: args.remote_series,
        tcp_connections: args.tcp_connections,
    }
}

/// The ledger's settings from the flags over the file's `[history]`.
fn history_options(args: &ServeArgs, file: &FileConfig) -> Result<Option<HistoryOptions>, Failure> {
    let h = &file.history;
    let state_dir = crate::history::state_dir(args.state_dir.as_deref(), h);
    let target = crate::history::target(args.history.as_deref(), h.store.as_deref(), &state_dir)?;
    if target == Target::Off {
        return Ok(None);
    }
    let retention = crate::history::retention(args.retain.as_deref(), args.history_max_mib, h)?;
    let host = args
        .host_name
        .clone()
        .or_else(|| h.host_name.clone())
        .unwrap_or_else(crate::history::hostname);
    if host.is_empty() || host.len() > 253 || host.chars().any(char::is_control) {
        return Err(Failure::Usage(
            "--host-name: 1 to 253 printable characters".into(),
        ));
    }
    Ok(Some(HistoryOptions {
        writer: WriterConfig {
            target,
            host,
            retention,
            buffer_minutes: DEFAULT_BUFFER_MINUTES,
            retry: std::time::Duration::from_secs(5),
            upkeep_every: std::time::Duration::from_secs(60),
        },
        bucket_s: args.history_minute_secs,
    }))
}

/// The config file's capture keys as flags, for the flags not given on the
/// command line; each is checked by clap's own parser for that flag.
fn with_file_capture_keys(
    file: &FileConfig,
    path: Option<&std::path::Path>,
) -> Result<Cli, Failure> {
    let c = &file.capture;
    let keys: [(&str, &str, &str, Option<String>); 8] = [
        (
            "capture.mode",
            "capture_mode",
            "--capture-mode",
            c.mode.clone(),
        ),
        ("capture.hooks", "hooks", "--hooks", c.hooks.clone()),
        (
            "capture.interface",
            "interface",
            "--interface",
            c.interface.clone(),
        ),
        (
            "capture.rings",
            "rings",
            "--rings",
            c.rings.map(|v| v.to_string()),
        ),
        (
            "capture.ring_mib",
            "ring_mib",
            "--ring-mib",
            c.ring_mib.map(|v| v.to_string()),
        ),
        (
            "capture.ringbuf_kib",
            "ringbuf_kib",
            "--ringbuf-kib",
            c.ringbuf_kib.map(|v| v.to_string()),
        ),
        (
            "capture.dns_ports",
            "dns_ports",
            "--dns-ports",
            c.dns_ports.as_ref().map(|p| {
                if p.is_empty() {
                    "none".to_string()
                } else {
                    p.iter().map(u16::to_string).collect::<Vec<_>>().join(",")
                }
            }),
        ),
        (
            "read_interval_ms",
            "read_interval_ms",
            "--read-interval-ms",
            file.read_interval_ms.map(|v| v.to_string()),
        ),
    ];
    let argv: Vec<OsString> = std::env::args_os().collect();
    let given = Cli::command()
        .try_get_matches_from(&argv)
        .map_err(|e| Failure::Usage(e.to_string()))?;
    let from_cli = |id: &str| given.value_source(id) == Some(ValueSource::CommandLine);
    let file_name = path.map_or_else(String::new, |p| p.display().to_string());
    let mut extra: Vec<OsString> = Vec::new();
    for (key, id, flag, value) in keys {
        let Some(value) = value else { continue };
        if from_cli(id) {
            continue;
        }
        let pair = [OsString::from(flag), OsString::from(&value)];
        if let Err(e) = Cli::try_parse_from(std::iter::once(argv[0].clone()).chain(pair.clone())) {
            let why = e.to_string();
            let why = why
                .lines()
                .next()
                .unwrap_or("")
                .trim_start_matches("error: ");
            return Err(Failure::Usage(format!("config {file_name}: {key}: {why}")));
        }
        extra.extend(pair);
    }
    if extra.is_empty() {
        return Cli::try_parse_from(&argv).map_err(|e| Failure::Usage(e.to_string()));
    }
    let merged = std::iter::once(argv[0].clone())
        .chain(extra)
        .chain(argv[1..].iter().cloned());
    Cli::try_parse_from(merged).map_err(|e| Failure::Usage(e.to_string()))
}

#[cfg(test)]
#[path = "serve_tests.rs"]
mod tests;
