//! `fuzz-stable`: runs netoproc's fuzz targets on stable Rust for as many
//! executions or as long as asked, and prints what each run did — the
//! numbers BENCHMARKS.md records. A panic stops the run; its input is
//! written to `crates/fuzz/crashes/<target>-<n>.bin` to be fixed, then kept
//! under `crates/fuzz/corpus/<target>/` so every later run replays it.
//!
//!     cargo run --profile fuzz -p netoproc-fuzz-stable -- all --executions 10000000

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use netoproc_fuzz_stable::campaign::{run, Limit};
use netoproc_fuzz_stable::targets::{by_name, TARGETS};

#[derive(Parser)]
#[command(about = "Fuzz netoproc's parsers on stable Rust")]
struct Args {
    /// A target (dns_message, parse_frame, proc_files, sock_diag,
    /// bpf_records) or `all`.
    target: String,
    /// Stop each target after this many executions.
    #[arg(long, default_value_t = 10_000_000)]
    executions: u64,
    /// Stop each target after this many seconds instead.
    #[arg(long)]
    seconds: Option<u64>,
    /// The mutator's seed; a run with the same seed tries the same inputs.
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let targets: Vec<_> = if args.target == "all" {
        TARGETS.iter().collect()
    } else if let Some(t) = by_name(&args.target) {
        vec![t]
    } else {
        let names: Vec<&str> = TARGETS.iter().map(|t| t.name).collect();
        eprintln!(
            "fuzz-stable: no target `{}`: use one of {}, all",
            args.target,
            names.join(", ")
        );
        return ExitCode::from(2);
    };
    let limit = match args.seconds {
        Some(s) => Limit::Time(Duration::from_secs(s)),
        None => Limit::Executions(args.executions),
    };
    let mut failed = false;
    for t in targets {
        let seeds = (t.seeds)();
        let o = run(t, &seeds, args.seed, limit);
        let secs = o.elapsed.as_secs_f64();
        println!(
            "{}: {} executions in {:.1} s ({:.0}/s), {} seeds, seed {}",
            t.name,
            o.executions,
            secs,
            o.executions as f64 / secs.max(1e-9),
            seeds.len(),
            args.seed
        );
        if let Some(c) = o.crash {
            failed = true;
            let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("crashes");
            let path = dir.join(format!("{}-{}.bin", t.name, o.executions));
            let saved =
                std::fs::create_dir_all(&dir).and_then(|()| std::fs::write(&path, &c.input));
            match saved {
                Ok(()) => println!("  PANIC: {}\n  input: {}", c.message, path.display()),
                Err(e) => println!(
                    "  PANIC: {}\n  input not saved ({e}): {:02x?}",
                    c.message, c.input
                ),
            }
        }
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
