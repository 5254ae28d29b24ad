//! End-to-end: the real binary's live view in a tmux pane. A generator
//! process in a network namespace the test creates moves a known number of
//! bytes over loopback inside it while the view runs; the test reads the
//! screen with `capture-pane`, filters to the generator's pid, checks its
//! totals, sorts with a mouse click, opens its TCP health pane, switches
//! views, quits with `q` and checks the shell's terminal is back to normal
//! (not raw, not on the alternate screen, no mouse reporting). A second test ends the view with
//! SIGTERM.
//!
//! Needs root (eBPF, `ip netns`), tmux and python3: skips without them,
//! except under `CI=true` where it fails.

mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use common::Netns;

const BIN: &str = env!("CARGO_BIN_EXE_netoproc");
/// What the generator sends (and so also receives, over loopback).
const MIB: usize = 1 << 20;
const SENT: usize = 5 * MIB;

fn can_run() -> bool {
    common::can_run(
        "live_tmux",
        &[("tmux", "-V"), ("ip", "-V"), ("python3", "--version")],
    )
}

/// A detached tmux session running an interactive shell.
struct Pane {
    name: String,
}

impl Pane {
    fn start(tag: &str) -> Pane {
        let name = format!("np-e2e-{tag}-{}", std::process::id());
        let ok = Command::new("tmux")
            .args(["new-session", "-d", "-s", &name, "-x", "160", "-y", "40"])
            .args(["env", "PS1=$ ", "bash", "--norc", "--noprofile"])
            .status()
            .unwrap()
            .success();
        assert!(ok, "tmux new-session failed");
        Pane { name }
    }

    fn keys(&self, keys: &[&str]) {
        let ok = Command::new("tmux")
            .args(["send-keys", "-t", &self.name])
            .args(keys)
            .status()
            .unwrap()
            .success();
        assert!(ok, "tmux send-keys failed");
    }

    fn screen(&self) -> String {
        let out = Command::new("tmux")
            .args(["capture-pane", "-p", "-t", &self.name])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Waits until the screen satisfies `f`, or fails showing the screen.
    fn wait_for(&self, what: &str, f: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let s = self.screen();
            if f(&s) {
                return s;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}; screen:\n{s}"
            );
            thread::sleep(Duration::from_millis(200));
        }
    }

    fn pane_pid(&self) -> u32 {
        let out = Command::new("tmux")
            .args(["display-message", "-p", "-t", &self.name, "#{pane_pid}"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
    }
}

impl Drop for Pane {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["kill-session", "-t", &self.name])
            .status();
    }
}

/// Runs netoproc in the pane's shell, echoing its exit status afterwards.
fn start_netoproc(pane: &Pane) -> String {
    pane.keys(&["clear; echo BEFORE-NETOPROC", "Enter"]);
    pane.wait_for("the shell", |s| s.contains("BEFORE-NETOPROC"));
    pane.keys(&[&format!("{BIN} --interval 0.5; echo NP_EXIT=$?"), "Enter"]);
    pane.wait_for("the live view", |s| {
        s.contains("1 Processes") && s.contains(" RX ")
    })
}

/// After netoproc ended: the shell is back, cooked and on the main screen.
fn assert_terminal_restored(pane: &Pane) {
    // The command line says `NP_EXIT=$?`; the output has a digit there.
    let exited = |s: &str| {
        s.split("NP_EXIT=")
            .skip(1)
            .any(|rest| rest.starts_with(|c: char| c.is_ascii_digit()))
    };
    let s = pane.wait_for("netoproc to exit", exited);
    assert!(s.contains("NP_EXIT=0"), "netoproc failed:\n{s}");
    assert!(
        s.contains("BEFORE-NETOPROC"),
        "still on the alternate screen:\n{s}"
    );
    assert_eq!(pane_flag(pane, "alternate_on"), "0", "alternate screen");
    // Prints `icanon` in cooked mode, `-icanon` in raw mode.
    pane.keys(&["stty -a | grep -o -- '-*icanon'", "Enter"]);
    let s = pane.wait_for("stty", |s| {
        s.lines()
            .any(|l| l.trim().ends_with("icanon") && !l.contains("grep"))
    });
    assert!(
        s.lines().any(|l| l.trim() == "icanon"),
        "terminal left in raw mode:\n{s}"
    );
}

/// The generator: one TCP connection over the namespace's loopback, both
/// ends in this one process, `SENT` bytes in 1 MiB writes 100 ms apart.
/// Prints its pid first and the byte counts when done, then holds its
/// sockets open until its stdin closes.
const GENERATOR: &str = r#"
import os, socket, sys, threading, time
n = int(sys.argv[1])
srv = socket.socket()
srv.bind(("127.0.0.1", 0))
srv.listen(1)
got, held = [0], []
def serve():
    c, _ = srv.accept()
    held.append(c)
    while got[0] < n:
        b = c.recv(65536)
        if not b:
            break
        got[0] += len(b)
t = threading.Thread(target=serve)
t.start()
cl = socket.create_connection(srv.getsockname())
print("PID", os.getpid(), flush=True)
time.sleep(0.5)
chunk = b"\x07" * (1 << 20)
for _ in range(n >> 20):
    cl.sendall(chunk)
    time.sleep(0.1)
t.join()
print("SENT", n, "RECEIVED", got[0], flush=True)
sys.stdin.read()
"#;

/// The generator running in a namespace; stopped (stdin closed, then
/// killed if need be) on drop.
struct Generator {
    child: Child,
    out: BufReader<ChildStdout>,
    pid: u32,
}

impl Generator {
    fn start(ns: &Netns, bytes: usize) -> Generator {
        let mut child = Command::new("ip")
            .args(["netns", "exec", &ns.name, "python3", "-c", GENERATOR])
            .arg(bytes.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("ip netns exec python3");
        let out = BufReader::new(child.stdout.take().unwrap());
        let mut g = Generator { child, out, pid: 0 };
        let line = g.line();
        g.pid = line
            .strip_prefix("PID ")
            .and_then(|p| p.trim().parse().ok())
            .unwrap_or_else(|| panic!("generator said {line:?}"));
        g
    }

    fn line(&mut self) -> String {
        let mut line = String::new();
        self.out.read_line(&mut line).expect("generator output");
        line
    }

    /// Waits for the generator to have moved everything: (sent, received).
    fn finish(&mut self) -> (usize, usize) {
        let line = self.line();
        let f: Vec<&str> = line.split_whitespace().collect();
        match f[..] {
            ["SENT", sent, "RECEIVED", got] => (sent.parse().unwrap(), got.parse().unwrap()),
            _ => panic!("generator said {line:?}"),
        }
    }
}

impl Drop for Generator {
    fn drop(&mut self) {
        common::stop(&mut self.child);
    }
}

/// A left click at cell (`x`, `y`), typed into the pane as the SGR mouse
/// report a terminal sends (press, then release).
fn click(pane: &Pane, x: u16, y: u16) {
    let (x, y) = (x + 1, y + 1);
    pane.keys(&["-l", &format!("\x1b[<0;{x};{y}M\x1b[<0;{x};{y}m")]);
}

/// A tmux format variable of the pane, e.g. `mouse_any_flag`.
fn pane_flag(pane: &Pane, name: &str) -> String {
    let out = Command::new("tmux")
        .args(["display-message", "-p", "-t", &pane.name])
        .arg(format!("#{{{name}}}"))
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
fn live_view_shows_a_generator_in_a_namespace_and_restores_the_terminal() {
    if !can_run() {
        return;
    }
    let pane = Pane::start("keys");
    start_netoproc(&pane);
    assert_eq!(
        pane_flag(&pane, "mouse_any_flag"),
        "1",
        "mouse reporting on"
    );
    let ns = Netns::new("gen");
    let mut generator = Generator::start(&ns, SENT);
    assert_eq!(
        generator.finish(),
        (SENT, SENT),
        "the generator's own count"
    );

    // Filter to the generator's pid, totals instead of rates.
    let pid = generator.pid.to_string();
    pane.keys(&["/"]);
    pane.keys(&[&pid]);
    pane.keys(&["Enter", "t"]);
    let total = format!("{:.1} MiB", SENT as f64 / MIB as f64);
    let s = pane.wait_for("the generator's totals", |s| {
        s.lines().any(|l| {
            l.trim_start().starts_with(&format!("{pid} ")) && l.matches(total.as_str()).count() >= 2
        })
    });
    assert!(s.contains(&format!("filter \"{pid}\"")), "{s}");

    // A click on the PID header sorts by pid (largest first), a second
    // one reverses. The header row is the fifth line.
    click(&pane, 3, 4);
    pane.wait_for("sorted by pid", |s| s.contains("PID▼"));
    click(&pane, 3, 4);
    pane.wait_for("sorted by pid, reversed", |s| s.contains("PID▲"));

    // Drill into its connections: the loopback pair shows both ends.
    pane.keys(&["Enter"]);
    pane.wait_for("the connections of the generator", |s| {
        s.contains(&format!("pid {pid}")) && s.matches("127.0.0.1:").count() >= 2
    });
    // Its TCP health: the health columns, and in the pane (`d`) the pair
    // as one connection it opened and one it accepted, both open.
    pane.keys(&["d"]);
    let s = pane.wait_for("the generator's TCP health", |s| {
        s.contains(&format!("TCP health · pid {pid}"))
            && s.contains("1 opened · 1 accepted · 2 open")
    });
    assert!(s.contains("HSHAKE") && s.contains("RTT"), "{s}");
    pane.keys(&["d"]);
    // The other views draw.
    pane.keys(&["3"]);
    pane.keys(&["Escape"]);
    pane.wait_for("the interfaces view", |s| {
        s.contains("INTERFACE") && s.contains("lo")
    });
    pane.keys(&["4"]);
    pane.wait_for("the DNS view", |s| {
        s.contains("NAME") && s.contains("RESOLVER")
    });
    pane.keys(&["?"]);
    pane.wait_for("the help", |s| s.contains("netoproc keys"));
    pane.keys(&["Escape", "q"]);
    assert_terminal_restored(&pane);
    assert_eq!(
        pane_flag(&pane, "mouse_any_flag"),
        "0",
        "mouse reporting off"
    );
    drop(generator);
    drop(ns);
}

#[test]
fn sigterm_ends_the_live_view_cleanly() {
    if !can_run() {
        return;
    }
    let pane = Pane::start("sigterm");
    start_netoproc(&pane);
    let shell = pane.pane_pid();
    let pid = child_running(shell, Path::new(BIN)).expect("netoproc's pid");
    // SAFETY: plain kill(2) on a pid we just found as our child's child.
    assert_eq!(unsafe { libc::kill(pid as i32, libc::SIGTERM) }, 0);
    assert_terminal_restored(&pane);
}

/// The pid of the child of `parent` running `exe`.
fn child_running(parent: u32, exe: &Path) -> Option<u32> {
    let exe = exe.canonicalize().ok()?;
    std::fs::read_dir("/proc").ok()?.flatten().find_map(|e| {
        let pid: u32 = e.file_name().to_str()?.parse().ok()?;
        let stat = std::fs::read_to_string(e.path().join("stat")).ok()?;
        let ppid: u32 = stat[stat.rfind(')')? + 2..]
            .split_whitespace()
            .nth(1)?
            .parse()
            .ok()?;
        let running = std::fs::read_link(e.path().join("exe")).ok()?;
        (ppid == parent && running == exe).then_some(pid)
    })
}
