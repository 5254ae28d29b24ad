//! End-to-end: a process with a hostile name under the real live view, in
//! a pseudo-terminal (`script`), reading the raw bytes netoproc writes. The
//! process is Python run through a symlink named `ESC [ 2 J`, a
//! right-to-left override and `evil` (so that is its task name, `comm`),
//! with arguments that write the clipboard (OSC 52) and reverse text
//! (U+202E); it moves bytes over loopback in a network namespace the test
//! creates, so it shows in the view. The test filters the view to its pid
//! and checks the terminal was sent its name and command line escaped —
//! `\x1b[2J`, `\x1b]52;…\x07`, `\u{202e}` as visible text — and never an
//! OSC 52 sequence or a raw bidi control.
//!
//! Needs root (eBPF, `ip netns`), `script` (util-linux) and python3: skips
//! without them, except under `CI=true` where it fails.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use common::Netns;

const BIN: &str = env!("CARGO_BIN_EXE_netoproc");
/// The task name: clear the screen, then reverse what follows.
const COMM: &str = "\u{1b}[2J\u{202e}evil";
/// Writes "pwned" to the clipboard of a terminal that allows OSC 52.
const OSC52: &str = "\u{1b}]52;c;cHduZWQ=\u{7}";
/// Shows as `invoiceexe.pdf`.
const BIDI_ARG: &str = "invoice\u{202e}fdp.exe";

/// Moves 64 KiB over loopback every 50 ms until its stdin closes; prints
/// its pid first.
const GENERATOR: &str = r#"
import os, socket, sys, threading
srv = socket.socket()
srv.bind(("127.0.0.1", 0))
srv.listen(1)
cl = socket.create_connection(srv.getsockname())
peer, _ = srv.accept()
done = threading.Event()
threading.Thread(target=lambda: (sys.stdin.read(), done.set()), daemon=True).start()
print("PID", os.getpid(), flush=True)
while not done.wait(0.05):
    cl.sendall(b"\x07" * 65536)
    got = 0
    while got < 65536:
        got += len(peer.recv(65536))
"#;

/// netoproc's live view in a 250×40 pseudo-terminal; everything it writes
/// is collected.
struct LiveView {
    child: Child,
    keys: ChildStdin,
    output: Arc<Mutex<Vec<u8>>>,
}

impl LiveView {
    fn start() -> LiveView {
        let mut child = Command::new("script")
            .args(["-q", "-e", "-c"])
            .arg(format!("stty cols 250 rows 40; exec {BIN} --interval 0.5"))
            .arg("/dev/null")
            .env("TERM", "xterm-256color")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("script");
        let keys = child.stdin.take().unwrap();
        let mut out = child.stdout.take().unwrap();
        let output = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&output);
        thread::spawn(move || {
            let mut buf = [0u8; 65536];
            while let Ok(n @ 1..) = out.read(&mut buf) {
                sink.lock().unwrap().extend_from_slice(&buf[..n]);
            }
        });
        LiveView {
            child,
            keys,
            output,
        }
    }

    fn raw(&self) -> Vec<u8> {
        self.output.lock().unwrap().clone()
    }

    fn type_keys(&mut self, keys: &str) {
        self.keys.write_all(keys.as_bytes()).unwrap();
        self.keys.flush().unwrap();
        thread::sleep(Duration::from_millis(100));
    }

    /// Waits until the output holds `text`, or fails showing the output.
    fn wait_for(&self, what: &str, text: &[u8]) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while !contains(&self.raw(), text) {
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}; output:\n{}",
                String::from_utf8_lossy(&self.raw()).escape_debug()
            );
            thread::sleep(Duration::from_millis(200));
        }
    }
}

impl Drop for LiveView {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// The hostile process, started through a symlink named [`COMM`] to the
/// real Python binary, in `ns`; stopped by closing its stdin.
struct Hostile {
    child: Child,
    pid: u32,
    _dir: tempfile::TempDir,
}

impl Hostile {
    fn start(ns: &Netns) -> Hostile {
        let python = Command::new("python3")
            .args(["-c", "import sys; print(sys.executable)"])
            .output()
            .expect("python3");
        let python = String::from_utf8(python.stdout).unwrap();
        let dir = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(python.trim(), dir.path().join(COMM)).unwrap();
        std::fs::write(dir.path().join("gen.py"), GENERATOR).unwrap();
        let mut child = Command::new("ip")
            .args(["netns", "exec", &ns.name])
            .arg(format!("./{COMM}"))
            .args(["gen.py", OSC52, BIDI_ARG])
            .current_dir(dir.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("ip netns exec");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let pid = line
            .strip_prefix("PID ")
            .and_then(|p| p.trim().parse().ok())
            .unwrap_or_else(|| panic!("the hostile process said {line:?}"));
        let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap();
        assert_eq!(comm.trim_end(), COMM, "the task name is the symlink's");
        Hostile {
            child,
            pid,
            _dir: dir,
        }
    }
}

impl Drop for Hostile {
    fn drop(&mut self) {
        common::stop(&mut self.child);
    }
}

#[test]
fn hostile_names_reach_the_terminal_escaped() {
    let tools = [
        ("script", "--version"),
        ("ip", "-V"),
        ("python3", "--version"),
    ];
    if !common::can_run("live_hostile_names", &tools) {
        return;
    }
    let mut view = LiveView::start();
    view.wait_for("the live view", b"1 Processes");
    let ns = Netns::new("hostile");
    let hostile = Hostile::start(&ns);

    view.type_keys(&format!("/{}\r", hostile.pid));
    view.wait_for("the escaped OSC 52 argument", br"\x1b]52;c;cHduZWQ=\x07");
    view.wait_for("the escaped bidi argument", br"invoice\u{202e}fdp.exe");
    view.wait_for("the escaped task name", br"./\x1b[2J\u{202e}evil gen.py");

    view.type_keys("q");
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(s) = view.child.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < deadline, "netoproc did not quit");
        thread::sleep(Duration::from_millis(100));
    };
    assert!(status.success(), "netoproc exited with {status}");
    let raw = view.raw();
    assert!(
        !contains(&raw, b"\x1b]52"),
        "an OSC 52 sequence reached the terminal"
    );
    for bidi in ['\u{202e}', '\u{2066}', '\u{200f}'] {
        let mut utf8 = [0u8; 4];
        let bytes = bidi.encode_utf8(&mut utf8).as_bytes();
        assert!(
            !contains(&raw, bytes),
            "a raw {bidi:?} reached the terminal"
        );
    }
    drop(hostile);
    drop(ns);
}
