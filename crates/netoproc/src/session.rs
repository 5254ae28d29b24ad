//! From the parsed command line to the engine's [`SessionConfig`], once:
//! loops read the session config, never `Cli` fields (ripgrep's `HiArgs`).

use std::time::Duration;

use netoproc_dns::ObservatoryConfig;
use netoproc_engine::SessionConfig;
use netoproc_tui::dns::RECENT_QUERIES;

use crate::cli::Cli;

/// Which front-end the session feeds; each keeps closed sockets its own way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrontEnd {
    /// One report at the end: closed connections are rows until
    /// `--max-connections`, then folded.
    Snapshot,
    /// The terminal UI: reads every `--interval`, lists the latest queries,
    /// retires closed sockets after each tick itself.
    Live,
}

pub fn session_config(cli: &Cli, front: FrontEnd) -> SessionConfig {
    let dns_on = !cli.dns_ports.0.is_empty();
    match front {
        FrontEnd::Snapshot => SessionConfig {
            proc_root: cli.proc_root.clone(),
            sys_root: cli.sys_root.clone(),
            dns: dns_on.then(ObservatoryConfig::default),
            read_interval: Duration::from_millis(cli.read_interval_ms),
            max_closed: Some(cli.max_connections),
        },
        FrontEnd::Live => SessionConfig {
            proc_root: cli.proc_root.clone(),
            sys_root: cli.sys_root.clone(),
            // The view lists the latest queries; resolver and process
            // figures count every query regardless.
            dns: dns_on.then(|| ObservatoryConfig {
                max_queries: RECENT_QUERIES,
                ..ObservatoryConfig::default()
            }),
            read_interval: Duration::from_secs_f64(cli.interval),
            max_closed: None,
        },
    }
}
