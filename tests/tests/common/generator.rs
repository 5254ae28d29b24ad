//! One running `np-trafficgen` process inside a namespace (via
//! `ip netns exec`, which execs in place, so the child's pid is the
//! generator's). Reads its stdout on a thread so every wait is bounded:
//! the `ready` line of servers, then the final JSON report. Killed on Drop
//! if still running.

use std::io::{BufRead, BufReader};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use netoproc_e2e::tally::GenReport;

/// How long a server may take to listen.
const READY_WITHIN: Duration = Duration::from_secs(30);
/// How long any generator may take to finish (they bound themselves at 120 s).
const FINISH_WITHIN: Duration = Duration::from_secs(180);

#[derive(Debug)]
pub struct Generator {
    pub label: String,
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
}

impl Generator {
    /// Starts `np-trafficgen ARGS` in namespace `netns`.
    pub fn spawn(label: &str, netns: &str, args: &[String]) -> Generator {
        Generator::spawn_bin(label, netns, &super::trafficgen(), args)
    }

    /// [`Generator::spawn`] with a copy of `np-trafficgen` at `bin` (its
    /// file name becomes the process name).
    pub fn spawn_bin(
        label: &str,
        netns: &str,
        bin: &std::path::Path,
        args: &[String],
    ) -> Generator {
        let mut child = Command::new("ip")
            .args(["netns", "exec", netns])
            .arg(bin)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("{label}: cannot start np-trafficgen: {e}"));
        let stdout = child.stdout.take().expect("stdout is piped");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Generator {
            label: label.to_string(),
            stdin: child.stdin.take(),
            child,
            lines,
        }
    }

    fn next_line(&mut self, within: Duration, what: &str) -> String {
        match self.lines.recv_timeout(within) {
            Ok(l) => l,
            Err(RecvTimeoutError::Timeout) => {
                panic!("{}: no {what} within {within:?}", self.label)
            }
            Err(RecvTimeoutError::Disconnected) => {
                let status = self.child.wait().ok();
                panic!("{}: exited ({status:?}) before {what}", self.label)
            }
        }
    }

    /// Waits for the server's `ready` line.
    pub fn wait_ready(&mut self) {
        let l = self.next_line(READY_WITHIN, "`ready` line");
        assert_eq!(l, "ready", "{}: unexpected first line", self.label);
    }

    /// The generator's pid (`ip netns exec` execs in place).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Kills the generator (SIGKILL) and reaps it.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Closes the generator's stdin (the packet counter stops on EOF).
    pub fn close_stdin(&mut self) {
        self.stdin.take();
    }

    /// Waits for the final report and a successful exit.
    pub fn finish(mut self) -> GenReport {
        let line = self.next_line(FINISH_WITHIN, "report");
        let report: GenReport = serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("{}: bad report {line:?}: {e}", self.label));
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match self.child.try_wait() {
                Ok(Some(s)) => {
                    assert!(s.success(), "{}: exited with {s}", self.label);
                    break;
                }
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(5))
                }
                other => panic!("{}: did not exit after its report: {other:?}", self.label),
            }
        }
        report
    }
}

impl Drop for Generator {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
