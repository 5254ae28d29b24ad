//! `serve`'s command line: the `[metrics]` flags land on the keys of the
//! same names and win over the file's.

use clap::{CommandFactory, Parser};
use netoproc_agent::config::{FileConfig, MetricsSettings};

use super::*;
use crate::cli::{Cli, Command};

fn serve_args(argv: &[&str]) -> Result<ServeArgs, clap::Error> {
    let cli = Cli::try_parse_from(["netoproc", "serve"].iter().chain(argv))?;
    match cli.command {
        Some(Command::Serve(args)) => Ok(args),
        other => panic!("not serve: {other:?}"),
    }
}

#[test]
fn tcp_connections_flag_sets_the_key_and_wins_over_the_file() {
    assert_eq!(
        metrics_flags(&serve_args(&[]).unwrap()).tcp_connections,
        None
    );
    let off = metrics_flags(&serve_args(&["--tcp-connections", "false"]).unwrap());
    assert_eq!(off.tcp_connections, Some(false));
    let on = metrics_flags(&serve_args(&["--tcp-connections=true"]).unwrap());
    assert_eq!(on.tcp_connections, Some(true));
    assert!(serve_args(&["--tcp-connections", "no"]).is_err());
    assert!(
        serve_args(&["--tcp-connections"]).is_err(),
        "the value is required"
    );

    let file = FileConfig::parse("[metrics]\ntcp_connections = false\n").unwrap();
    let s = MetricsSettings::resolve(&on, &file.metrics).unwrap();
    assert!(s.tcp_connections, "the flag wins");
    let none = metrics_flags(&serve_args(&[]).unwrap());
    let s = MetricsSettings::resolve(&none, &file.metrics).unwrap();
    assert!(!s.tcp_connections, "the file's value without the flag");
    let s = MetricsSettings::resolve(&none, &FileConfig::default().metrics).unwrap();
    assert!(s.tcp_connections, "on by default");
}

#[test]
fn metrics_flags_map_onto_their_keys() {
    let args = serve_args(&[
        "--max-series",
        "5000",
        "--identity-ttl",
        "30",
        "--min-residency",
        "5",
        "--info-per-identity",
        "1",
        "--remote-series",
        "100",
        "--tcp-connections",
        "false",
    ])
    .unwrap();
    let m = metrics_flags(&args);
    assert_eq!(
        (
            m.max_series,
            m.identity_ttl_s,
            m.min_residency_s,
            m.info_per_identity,
            m.remote_series,
            m.tcp_connections
        ),
        (
            Some(5000),
            Some(30),
            Some(5),
            Some(1),
            Some(100),
            Some(false)
        )
    );
}

#[test]
fn tcp_connections_help_says_what_it_costs() {
    let mut cmd = Cli::command();
    let serve = cmd.find_subcommand_mut("serve").expect("serve");
    let help = serve.render_help().to_string();
    let line = help
        .lines()
        .skip_while(|l| !l.contains("--tcp-connections <BOOL>"))
        .take(4)
        .flat_map(str::split_whitespace)
        .collect::<Vec<_>>()
        .join(" ");
    assert!(line.contains("38 series per identity"), "{line}");
    assert!(line.contains("[default: true]"), "{line}");
}
