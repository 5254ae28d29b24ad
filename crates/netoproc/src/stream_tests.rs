//! The stream front-end end to end without root: the scripted backend
//! through the real engine loop on a stepping clock. Each line is one JSON
//! object; the lines add up exactly to what the script moved (the same
//! totals a snapshot of the window reports); `--group-by` sums processes
//! per group; a closed pipe ends the stream with an error `main` takes for
//! a quiet exit.

use std::io::{self, Write};
use std::sync::atomic::AtomicBool;

use clap::Parser;
use netoproc_engine::fake::StepClock;

use super::run_to;
use crate::cli::Cli;
use crate::fake_script::{backend, Roots};
use crate::session::{session_config, FrontEnd};

fn cli(roots: &Roots, args: &[&str]) -> Cli {
    let proc = roots.proc.path().display().to_string();
    let sys = roots.sys.display().to_string();
    let mut argv = vec!["netoproc", "--proc-root", &proc, "--sys-root", &sys];
    argv.extend_from_slice(args);
    argv.push("stream");
    Cli::try_parse_from(argv).expect("the test's command line parses")
}

/// `netoproc <args> stream` on the script into `out`; the backend after.
fn stream_into(
    args: &[&str],
    out: &mut dyn Write,
) -> (
    Result<(), crate::failure::Failure>,
    netoproc_engine::fake::FakeBackend,
) {
    let roots = Roots::new();
    let cli = cli(&roots, args);
    let clock = StepClock::new();
    let mut backend = backend(&clock);
    let session = session_config(&cli, FrontEnd::Snapshot);
    let stop = AtomicBool::new(false);
    let r = run_to(&cli, session, &mut backend, &clock, &stop, out);
    (r, backend)
}

fn lines(args: &[&str]) -> (Vec<serde_json::Value>, netoproc_engine::fake::FakeBackend) {
    let mut out = Vec::new();
    let (r, backend) = stream_into(args, &mut out);
    r.expect("the stream is written");
    let text = String::from_utf8(out).expect("UTF-8");
    let lines = text
        .lines()
        .map(|l| {
            serde_json::from_str(l).unwrap_or_else(|e| panic!("not one JSON object: {l}: {e}"))
        })
        .collect();
    (lines, backend)
}

#[test]
fn lines_add_up_to_what_the_script_moved() {
    let (lines, backend) = lines(&["-d", "4", "-i", "1"]);
    assert!(lines.len() >= 4, "{} lines", lines.len());
    let mut per_pid: std::collections::HashMap<u64, (u64, u64)> = Default::default();
    for l in &lines {
        assert_eq!(l["group_by"], "process");
        assert!(l["time"].as_str().is_some_and(|t| t.ends_with('Z')), "{l}");
        let mut tx = 0;
        for p in l["processes"].as_array().expect("processes") {
            let e = per_pid.entry(p["pid"].as_u64().unwrap()).or_default();
            e.0 += p["tx_bytes"].as_u64().unwrap();
            e.1 += p["rx_bytes"].as_u64().unwrap();
            tx += p["tx_bytes"].as_u64().unwrap();
        }
        assert_eq!(l["total"]["tx_bytes"].as_u64(), Some(tx), "{l}");
    }
    for pid in [4242u32, 1717, 611] {
        let (tx, rx) = backend
            .sockets
            .iter()
            .filter(|s| s.pid == pid)
            .map(|s| s.total_after(backend.reads))
            .fold((0, 0), |(t, r), c| (t + c.tx_bytes, r + c.rx_bytes));
        assert_eq!(per_pid.get(&u64::from(pid)), Some(&(tx, rx)), "pid {pid}");
    }
}

#[test]
fn group_by_sums_processes_per_group() {
    let (lines, _) = lines(&["-d", "3", "--group-by", "user"]);
    assert!(!lines.is_empty());
    for l in &lines {
        assert_eq!(l["group_by"], "user");
        assert!(l.get("processes").is_none(), "{l}");
        let groups = l["groups"].as_array().expect("groups");
        let tx: u64 = groups.iter().map(|g| g["tx_bytes"].as_u64().unwrap()).sum();
        assert_eq!(l["total"]["tx_bytes"].as_u64(), Some(tx), "{l}");
    }
}

#[test]
fn filters_apply_to_every_line() {
    let (lines, _) = lines(&["-d", "3", "--pid", "1717"]);
    for l in &lines {
        for p in l["processes"].as_array().unwrap() {
            assert_eq!(p["pid"], 1717, "{l}");
        }
    }
    assert!(lines
        .iter()
        .any(|l| !l["processes"].as_array().unwrap().is_empty()));
}

/// A reader that goes away after the first line (`| head -1`).
struct ClosesAfterOneLine(usize);

impl Write for ClosesAfterOneLine {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.0 >= 1 {
            return Err(io::Error::from(io::ErrorKind::BrokenPipe));
        }
        self.0 += buf.iter().filter(|&&b| b == b'\n').count();
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[test]
fn a_closed_pipe_ends_the_stream_quietly() {
    let mut out = ClosesAfterOneLine(0);
    let (r, backend) = stream_into(&["-d", "30", "-i", "1"], &mut out);
    let err = r.expect_err("the second line cannot be written");
    assert!(err.is_closed_pipe(), "{err}");
    assert!(backend.reads < 10, "it went on for {} reads", backend.reads);
}
