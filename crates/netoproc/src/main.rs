//! netoproc: the binary. Parses the command line, starts the capture backend
//! the flags ask for, runs the live view or snapshot mode and turns every
//! failure into a message on stderr and a documented exit code.
//! Capabilities live in the library crates; this file only wires them
//! together.

mod backend;
mod cli;
mod doctor;
mod failure;
mod live;
mod serve;
mod session;
mod snapshot;

use std::io::IsTerminal;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use clap::Parser;
use netoproc_core::clock::SystemClock;

use crate::cli::Cli;
use crate::failure::Failure;

fn main() {
    snapshot::PROCESS_START.get_or_init(std::time::Instant::now);
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            // --help and --version print to stdout and exit 0; a closed
            // pipe there is not an error either.
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            std::process::exit(code);
        }
    };
    if let Err(f) = run(&cli) {
        eprintln!("netoproc: {f}");
        std::process::exit(f.exit_code());
    }
}

fn run(cli: &Cli) -> Result<(), Failure> {
    if let Some(cli::Command::Doctor(args)) = &cli.command {
        return doctor::run(args, &cli.proc_root);
    }
    if let Some(cli::Command::Serve(args)) = &cli.command {
        return serve::run(cli, args);
    }
    // Without --duration: the live view on a terminal, else capture until
    // Ctrl-C and print.
    let live = cli.duration.is_none() && std::io::stdout().is_terminal();
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
            .map_err(|e| Failure::Runtime(anyhow::anyhow!("installing the signal handler: {e}")))?;
    }
    let mut capture = backend::open(cli)?;
    if cli.verbose {
        let info = capture.info();
        eprintln!(
            "netoproc: capture mode {}, byte hooks: {}",
            info.mode, info.hooks
        );
        for d in &info.degraded {
            eprintln!("netoproc: degraded: {d}");
        }
    }
    if live {
        let session = session::session_config(cli, session::FrontEnd::Live);
        live::run(session, capture.as_mut(), &SystemClock, &stop)
    } else {
        let session = session::session_config(cli, session::FrontEnd::Snapshot);
        snapshot::run(cli, session, capture.as_mut(), &SystemClock, &stop)
    }
}
