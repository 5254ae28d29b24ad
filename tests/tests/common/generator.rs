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
        let mut all = vec![
            "netns".to_string(),
            "exec".to_string(),
            netns.to_string(),
            bin.display().to_string(),
        ];
        all.extend(args.iter().cloned());
        Generator::spawn_command(label, std::path::Path::new("ip"), &all)
    }

    /// `np-trafficgen ARGS` in namespace `netns`, joining cgroup `cg`
    /// before it starts (so every byte it moves is the group's).
    pub fn spawn_in_cgroup(
        label: &str,
        netns: &str,
        cg: &super::cgroups::Cgroup,
        args: &[String],
    ) -> Generator {
        Generator::spawn_bin_in_cgroup(label, netns, &super::trafficgen(), cg, args)
    }

    /// [`Generator::spawn_in_cgroup`] with a copy of `np-trafficgen` at
    /// `bin` (its file name becomes the process name).
    pub fn spawn_bin_in_cgroup(
        label: &str,
        netns: &str,
        bin: &std::path::Path,
        cg: &super::cgroups::Cgroup,
        args: &[String],
    ) -> Generator {
        let mut inner = vec![
            "netns".to_string(),
            "exec".to_string(),
            netns.to_string(),
            bin.display().to_string(),
        ];
        inner.extend(args.iter().cloned());
        let (sh, sh_args) = cg.wrap(std::path::Path::new("ip"), &inner);
        Generator::spawn_command(label, &sh, &sh_args)
    }

    fn spawn_command(label: &str, program: &std::path::Path, args: &[String]) -> Generator {
        let mut child = Command::new(program)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("{label}: cannot start {}: {e}", program.display()));
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

/// `tcp-server --listen SRV --reply REPLY --hold-ms HOLD_MS`.
pub fn tcp_server_args(srv: &str, reply: u64, hold_ms: u64) -> Vec<String> {
    let (reply, hold) = (reply.to_string(), hold_ms.to_string());
    [
        "tcp-server",
        "--listen",
        srv,
        "--reply",
        &reply,
        "--hold-ms",
        &hold,
    ]
    .map(String::from)
    .to_vec()
}

/// `tcp-client --connect SRV --send SEND --hold-ms HOLD_MS`.
pub fn tcp_client_args(srv: &str, send: u64, hold_ms: u64) -> Vec<String> {
    let (send, hold) = (send.to_string(), hold_ms.to_string());
    [
        "tcp-client",
        "--connect",
        srv,
        "--send",
        &send,
        "--hold-ms",
        &hold,
    ]
    .map(String::from)
    .to_vec()
}

/// One TCP transfer between two copies of `np-trafficgen` at `bin` in
/// namespace `ns`: the client sends `send` bytes to 127.0.0.1:`port`, the
/// server replies `reply`; both hold their sockets a second after. The
/// payload bytes (sent, received) of the two together, by their own count.
pub fn tcp_transfer(
    ns: &str,
    bin: &std::path::Path,
    port: u16,
    send: u64,
    reply: u64,
) -> (u64, u64) {
    tcp_transfer_held(ns, bin, port, send, reply, 1000)
}

/// [`tcp_transfer`], both holding their sockets `hold_ms` after.
pub fn tcp_transfer_held(
    ns: &str,
    bin: &std::path::Path,
    port: u16,
    send: u64,
    reply: u64,
    hold_ms: u64,
) -> (u64, u64) {
    let srv = format!("127.0.0.1:{port}");
    let mut server =
        Generator::spawn_bin("server", ns, bin, &tcp_server_args(&srv, reply, hold_ms));
    server.wait_ready();
    let client = Generator::spawn_bin("client", ns, bin, &tcp_client_args(&srv, send, hold_ms));
    let c = client.finish();
    let s = server.finish();
    (c.tx_bytes + s.tx_bytes, c.rx_bytes + s.rx_bytes)
}
