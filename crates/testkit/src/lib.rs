//! netoproc-testkit: what the test crates share, so there is one copy of
//! each (dev-dependency only; never part of a binary). [`root_or_skip`] and
//! [`can_run`] decide whether a privileged test runs: yes as root (with its
//! tools), else it skips with a note, or fails under `CI=true`, where every
//! test must run. [`netns`] makes network namespaces that are deleted on
//! drop, also when the test panics.

#![warn(missing_docs)]

pub mod netns;

use std::io::Write;
use std::process::{Command, Stdio};

fn under_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// True when root. Otherwise fails under `CI=true`, or prints that `test`
/// is skipped because it `needs` (a few words: "eBPF and network
/// namespaces") and returns false.
pub fn root_or_skip(test: &str, needs: &str) -> bool {
    can_run_as(test, needs, &[])
}

/// [`root_or_skip`] and also every `(command, version flag)` of `tools`
/// answers (`("tmux", "-V")`).
pub fn can_run(test: &str, tools: &[(&str, &str)]) -> bool {
    can_run_as(test, "root", tools)
}

/// Runs `promtool check metrics` on `body` (a `/metrics` page) and asserts
/// that it has nothing to say; `Err` when promtool cannot be run (it comes
/// with the `prometheus` package), for the caller to skip or fail.
pub fn promtool_check_metrics(body: &str) -> std::io::Result<()> {
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    child
        .stdin
        .take()
        .expect("piped stdin")
        .write_all(body.as_bytes())
        .expect("write to promtool");
    let out = child.wait_with_output().expect("promtool's output");
    assert!(
        out.status.success() && out.stdout.is_empty() && out.stderr.is_empty(),
        "promtool check metrics: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(())
}

fn can_run_as(test: &str, needs: &str, tools: &[(&str, &str)]) -> bool {
    let missing = tools
        .iter()
        .find(|(cmd, arg)| Command::new(cmd).arg(arg).output().is_err());
    let why = match (is_root(), missing) {
        (false, _) => format!("needs {needs}, and is not root"),
        (true, Some((cmd, _))) => format!("{cmd} is missing"),
        (true, None) => return true,
    };
    assert!(
        !under_ci(),
        "{test}: {why}; CI=true requires this test to run (run the suite as root)"
    );
    eprintln!("skipping {test}: {why}");
    false
}
