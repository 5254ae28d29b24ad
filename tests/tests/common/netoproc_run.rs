//! One netoproc capture: started with `-v --format json --connections`
//! plus the [`Mode`]'s arguments (eBPF: `--hooks $NETOPROC_HOOKS` when set),
//! optionally through a wrapper command (`capsh`, `setpriv`), its stderr
//! forwarded to the test's stderr and kept, ready once it prints `first
//! complete read`, stopped with SIGINT, and its single JSON object parsed
//! into [`NpReport`]. Killed on Drop if a test panics while it runs.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde::Deserialize;

use super::mode::Mode;

/// A bound on a hang, not a timing target: in a TCG VM on a loaded machine, loading and
/// verifying the BPF object has taken over 30 s.
const READY_WITHIN: Duration = Duration::from_secs(120);
const EXIT_WITHIN: Duration = Duration::from_secs(60);

/// The parts of netoproc's JSON output the tests compare.
#[derive(Debug, Deserialize)]
pub struct NpReport {
    pub meta: Meta,
    pub processes: Vec<Row>,
    pub connections: Vec<Row>,
    /// What netoproc printed on stderr (not part of its JSON).
    #[serde(skip)]
    pub stderr: Vec<String>,
    /// The DNS observatory's section, when DNS was captured (read by `dns.rs`).
    #[serde(default)]
    #[allow(dead_code)]
    pub dns: Option<serde_json::Value>,
    /// With `--group-by`: the groups (read by `identity.rs`).
    #[serde(default)]
    #[allow(dead_code)]
    pub groups: Vec<Group>,
    /// TCP lifecycle and health (read by `lifecycle.rs`).
    #[serde(default)]
    #[allow(dead_code)]
    pub lifecycle: Option<serde_json::Value>,
}

/// One `--group-by` group.
#[derive(Debug, Deserialize)]
#[allow(dead_code)]
pub struct Group {
    pub key: String,
    pub name: String,
    pub processes: u64,
    pub tx_bytes: u64,
    pub rx_bytes: u64,
}

#[derive(Debug, Deserialize)]
pub struct Meta {
    pub hooks: String,
    /// eBPF: how live sockets were read.
    #[serde(default)]
    pub live_read: Option<String>,
    pub capture_mode: String,
    pub interrupted: bool,
    pub lost: BTreeMap<String, u64>,
    /// Closed sockets folded into process rows (`--max-connections`).
    #[serde(default)]
    pub connections_folded: u64,
    /// Processes summed into the `(other processes)` row (ledger bound).
    #[serde(default)]
    pub processes_folded: u64,
    pub degraded: Vec<serde_json::Value>,
    /// AF_PACKET only: how owners were found.
    #[serde(default)]
    pub attribution: Option<serde_json::Value>,
    /// The network namespaces of the processes identified.
    #[serde(default)]
    #[allow(dead_code)]
    pub namespaces: Vec<u64>,
}

/// A process or connection row (connection-only fields are optional).
#[derive(Debug, Deserialize)]
pub struct Row {
    pub pid: u32,
    /// Process rows: when the process started (tells reused pids apart).
    #[serde(default)]
    pub start_time_ns: Option<u64>,
    /// Connection rows: the local address.
    #[serde(default)]
    pub local: Option<String>,
    #[serde(default)]
    pub remote: Option<String>,
    /// The name a DNS answer gave the remote address (read by `dns.rs`).
    #[serde(default)]
    #[allow(dead_code)]
    pub remote_host: Option<String>,
    pub tx_bytes: u64,
    pub rx_bytes: u64,
    pub tx_wire_bytes: u64,
    pub rx_wire_bytes: u64,
    /// Process rows: cgroup, namespace, workload (read by `identity.rs`).
    #[serde(default)]
    #[allow(dead_code)]
    pub identity: Option<serde_json::Value>,
}

pub struct NetoprocRun {
    child: Child,
    stdout: Option<JoinHandle<String>>,
    stderr: Arc<Mutex<Vec<String>>>,
}

impl NetoprocRun {
    /// Starts netoproc and waits until it counts.
    pub fn start() -> NetoprocRun {
        NetoprocRun::start_in(&Mode::ebpf())
    }

    /// Starts netoproc in `mode` (through its wrapper command, if any).
    pub fn start_in(mode: &Mode) -> NetoprocRun {
        let bin = mode.bin.clone().unwrap_or_else(super::netoproc_bin);
        let mut cmd = match mode.wrapper.split_first() {
            Some((first, rest)) => {
                let mut c = Command::new(first);
                c.args(rest).arg(&bin);
                c
            }
            None => Command::new(&bin),
        };
        cmd.args(["-v", "--format", "json", "--connections"]);
        cmd.args(&mode.args);
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
        let mut out = child.stdout.take().expect("stdout is piped");
        let stdout = std::thread::spawn(move || {
            let mut s = String::new();
            let _ = out.read_to_string(&mut s);
            s
        });
        let err = child.stderr.take().expect("stderr is piped");
        let (ready_tx, ready_rx) = mpsc::channel();
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let lines = Arc::clone(&stderr);
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                eprintln!("[netoproc] {line}");
                lines.lock().unwrap().push(line.clone());
                if line.contains("first complete read") {
                    let _ = ready_tx.send(());
                }
            }
        });
        let mut run = NetoprocRun {
            child,
            stdout: Some(stdout),
            stderr,
        };
        match ready_rx.recv_timeout(READY_WITHIN) {
            Ok(()) => run,
            Err(_) => {
                // Give a failed start a moment to be reaped, for its status.
                std::thread::sleep(Duration::from_millis(200));
                let status = match run.child.try_wait() {
                    Ok(Some(s)) => format!("it exited with {s}"),
                    _ => format!("it is still running after {READY_WITHIN:?}"),
                };
                panic!(
                    "netoproc did not print `first complete read` ({status}); see its stderr above"
                )
            }
        }
    }

    /// netoproc's pid.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// netoproc's peak resident set so far (`VmHWM` of /proc/PID/status),
    /// in KiB.
    pub fn peak_rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid()))
            .expect("netoproc's /proc/PID/status");
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .expect("VmHWM in /proc/PID/status")
    }

    /// Sends SIGINT, waits for the exit and parses the report.
    pub fn stop(mut self) -> NpReport {
        let pid = self.child.id() as libc::pid_t;
        // SAFETY: signalling our own child, which has not been reaped yet.
        let r = unsafe { libc::kill(pid, libc::SIGINT) };
        assert_eq!(r, 0, "kill(SIGINT) failed");
        let deadline = Instant::now() + EXIT_WITHIN;
        let status = loop {
            match self.child.try_wait().expect("wait for netoproc") {
                Some(s) => break s,
                None if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
                None => panic!("netoproc did not exit within {EXIT_WITHIN:?} of SIGINT"),
            }
        };
        let out = self.stdout.take().expect("once").join().expect("reader");
        assert!(
            status.success(),
            "netoproc exited with {status}; stdout: {out}"
        );
        let mut report: NpReport = serde_json::from_str(&out)
            .unwrap_or_else(|e| panic!("netoproc printed no valid JSON ({e}): {out}"));
        report.stderr = self.stderr.lock().unwrap().clone();
        report
    }
}

impl Drop for NetoprocRun {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
