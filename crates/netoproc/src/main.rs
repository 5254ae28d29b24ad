//! netoproc: the binary. Parses the command line, starts the capture backend
//! the flags ask for, runs the live view or snapshot mode and turns every
//! failure into a message on stderr and a documented exit code.
//! Capabilities live in the library crates; this file only wires them
//! together.

mod backend;
mod capabilities;
mod cli;
mod doctor;
mod failure;
mod history;
mod live;
mod privilege;
mod serve;
mod session;
mod snapshot;
mod stream;
mod watch;

#[cfg(test)]
mod fake_script;

use std::io::IsTerminal;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use clap::{CommandFactory, FromArgMatches};
use netoproc_core::clock::SystemClock;

use crate::cli::Cli;
use crate::failure::Failure;

fn main() {
    snapshot::PROCESS_START.get_or_init(std::time::Instant::now);
    let command = Cli::command();
    let parsed = command
        .clone()
        .try_get_matches()
        .and_then(|m| Cli::from_arg_matches(&m).map(|cli| (m, cli)));
    let (matches, cli) = match parsed {
        Ok(p) => p,
        Err(e) => {
            // --help and --version print to stdout and exit 0; a closed
            // pipe there is not an error either.
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            std::process::exit(code);
        }
    };
    // Before anything is opened: what the caller may not choose when
    // netoproc holds more privilege than they do.
    let elevated = privilege::elevation();
    privilege::quiet_panics(elevated);
    let checked = privilege::check_input(&command, &matches, elevated);
    if let Err(f) = checked.and_then(|()| run(&cli, elevated)) {
        if f.is_closed_pipe() {
            std::process::exit(0);
        }
        eprintln!("netoproc: {f}");
        std::process::exit(f.exit_code());
    }
}

fn run(cli: &Cli, elevated: Option<&str>) -> Result<(), Failure> {
    if let Some(cli::Command::Doctor(args)) = &cli.command {
        return doctor::run(args, &cli.proc_root, elevated);
    }
    if let Some(cli::Command::History(args)) = &cli.command {
        return history::run(args, elevated);
    }
    if let Some(cli::Command::Serve(args)) = &cli.command {
        return serve::run(cli, args, elevated);
    }
    // Without --duration: the live view on a terminal, else capture until
    // Ctrl-C and print.
    let streaming = matches!(
        cli.command,
        Some(cli::Command::Stream | cli::Command::Watch(_))
    );
    let live = !streaming && cli.duration.is_none() && std::io::stdout().is_terminal();
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        // A second Ctrl-C exits at once; the first ends the capture window.
        // Not in the live view: exiting there would skip restoring the
        // terminal, and the loop notices the first signal within 100 ms.
        let hard = if live {
            Ok(())
        } else {
            signal_hook::flag::register_conditional_shutdown(sig, 130, Arc::clone(&stop)).map(drop)
        };
        hard.and_then(|()| signal_hook::flag::register(sig, Arc::clone(&stop)).map(drop))
            .map_err(|e| {
                Failure::Runtime(anyhow::Error::new(e).context("installing the signal handler"))
            })?;
    }
    let mut capture = backend::open(cli, elevated)?;
    // Set up: from here on only what the backend still uses.
    let dropped = capabilities::drop_after_start(&capture.needs_after_start())
        .map_err(|e| Failure::Runtime(anyhow::Error::new(e).context("dropping capabilities")))?;
    if cli.verbose {
        if let Some(why) = elevated {
            eprintln!("netoproc: runs with more privilege than its caller ({why})");
        }
        for line in dropped.lines() {
            eprintln!("netoproc: {line}");
        }
        let info = capture.info();
        eprintln!(
            "netoproc: capture mode {}, byte hooks: {}",
            info.mode, info.hooks
        );
        for d in &info.degraded {
            // A reason may name an interface or a namespace.
            let d = netoproc_core::escape::for_terminal(d);
            eprintln!("netoproc: degraded: {d}");
        }
    }
    if let Some(cli::Command::Watch(args)) = &cli.command {
        let session = session::session_config(cli, session::FrontEnd::Snapshot);
        return watch::run(
            args,
            cli.verbose,
            session,
            capture.as_mut(),
            &SystemClock,
            &stop,
        );
    }
    let stream = matches!(cli.command, Some(cli::Command::Stream));
    if live && !stream {
        let session = session::session_config(cli, session::FrontEnd::Live);
        let view = live::LiveChoices {
            group_by: cli.group_by,
            selection: cli.selection(),
        };
        live::run(view, session, capture.as_mut(), &SystemClock, &stop)
    } else {
        let session = session::session_config(cli, session::FrontEnd::Snapshot);
        let run_to = if stream {
            stream::run_to
        } else {
            snapshot::run_to
        };
        run_to(
            cli,
            session,
            capture.as_mut(),
            &SystemClock,
            &stop,
            &mut std::io::stdout().lock(),
        )
    }
}
