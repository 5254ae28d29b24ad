//! End-to-end: the real binary's live view in a tmux pane. A loopback
//! connection inside this test moves a known number of bytes while the
//! view runs; the test reads the screen with `capture-pane`, filters to its
//! own pid, checks the totals, switches views, quits with `q` and checks
//! the shell's terminal is back to normal (not raw, not on the alternate
//! screen). A second test ends the view with SIGTERM.
//!
//! Needs root (eBPF) and tmux: skips without them, except under `CI=true`
//! where it fails.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_netoproc");
/// What the generator sends (and so also receives, over loopback).
const MIB: usize = 1 << 20;
const SENT: usize = 5 * MIB;

fn can_run() -> bool {
    let ci = std::env::var("CI").is_ok_and(|v| v == "true");
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    let tmux = Command::new("tmux").arg("-V").output().is_ok();
    if root && tmux {
        return true;
    }
    let why = if root { "tmux is missing" } else { "not root" };
    assert!(
        !ci,
        "live_tmux: {why}, and CI=true requires this test to run"
    );
    eprintln!("live_tmux: skipped ({why})");
    false
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

/// Sends and receives `SENT` bytes over one loopback connection.
fn loopback_traffic() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        let mut buf = vec![0u8; 64 * 1024];
        let mut got = 0;
        while got < SENT {
            let n = s.read(&mut buf).unwrap();
            assert!(n > 0, "early end of stream");
            got += n;
        }
        got
    });
    let mut c = TcpStream::connect(addr).unwrap();
    let chunk = vec![7u8; MIB];
    for _ in 0..SENT / MIB {
        c.write_all(&chunk).unwrap();
        thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(server.join().unwrap(), SENT);
}

#[test]
fn live_view_shows_this_process_and_restores_the_terminal() {
    if !can_run() {
        return;
    }
    let pane = Pane::start("keys");
    start_netoproc(&pane);
    loopback_traffic();

    // Filter to this test's pid, totals instead of rates.
    let pid = std::process::id().to_string();
    pane.keys(&["/"]);
    pane.keys(&[&pid]);
    pane.keys(&["Enter", "t"]);
    let total = format!("{:.1} MiB", SENT as f64 / MIB as f64);
    let s = pane.wait_for("this process's totals", |s| {
        s.lines().any(|l| {
            l.trim_start().starts_with(&format!("{pid} ")) && l.matches(total.as_str()).count() >= 2
        })
    });
    assert!(s.contains(&format!("filter \"{pid}\"")), "{s}");

    // Drill into its connections: the loopback pair shows both ends.
    pane.keys(&["Enter"]);
    pane.wait_for("the connections of this process", |s| {
        s.contains(&format!("pid {pid}")) && s.matches("127.0.0.1:").count() >= 2
    });
    // The other views draw.
    pane.keys(&["3"]);
    pane.keys(&["Escape"]);
    pane.wait_for("the interfaces view", |s| {
        s.contains("INTERFACE") && s.contains("lo")
    });
    pane.keys(&["4"]);
    pane.wait_for("the DNS view", |s| {
        s.contains("DNS capture is not available yet")
    });
    pane.keys(&["?"]);
    pane.wait_for("the help", |s| s.contains("netoproc keys"));
    pane.keys(&["Escape", "q"]);
    assert_terminal_restored(&pane);
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
