//! End-to-end: TCP connections that end every way (half-closes from either
//! side, data left unread at close, a reset by `SO_LINGER 0`, a connection
//! still open when netoproc reports), on listeners made before netoproc
//! started. The counter path reads payload from the kernel's socket
//! counters, where every FIN and every unread byte has to be accounted for,
//! and names accepted connections by their listener's owner; the per-call
//! path counts the calls. Both must give, per socket, exactly the bytes the
//! application's send calls wrote and its recv calls read
//! (`tests/generators/tcp_edges.py`), on the right pid; bytes read with
//! splice(2) count only on the counter path (no recv call runs). Needs
//! root; fails under `CI=true` without it. Runs on the host's loopback.

// Each test file uses a different part of the shared harness.
#[allow(dead_code)]
mod common;

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use common::mode::Mode;
use common::netoproc_run::NetoprocRun;

/// One socket as the generator saw it.
#[derive(Debug, serde::Deserialize)]
struct Seen {
    pattern: String,
    side: String,
    local: String,
    remote: String,
    sent: u64,
    read: u64,
    /// Read with splice(2): no recv call, so the per-call path does not
    /// count it (a known limit); the counter path does.
    spliced_read: u64,
}

/// The generator, killed if the test fails half-way.
struct Generator {
    child: Child,
    lines: std::io::Lines<BufReader<std::process::ChildStdout>>,
}

impl Drop for Generator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Generator {
    fn start() -> Generator {
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("generators/tcp_edges.py");
        let mut child = Command::new("python3")
            .arg(&script)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", script.display()));
        let lines = BufReader::new(child.stdout.take().expect("piped")).lines();
        Generator { child, lines }
    }

    /// The next line it prints (its sockets time out after 10 s, so this
    /// ends).
    fn line(&mut self) -> String {
        self.lines
            .next()
            .expect("the generator ended early")
            .expect("the generator's output")
    }

    fn say(&mut self, word: &str) {
        let stdin = self.child.stdin.as_mut().expect("piped");
        writeln!(stdin, "{word}").expect("writing to the generator");
    }
}

#[test]
fn every_way_a_connection_ends_counts_exactly_on_an_older_listener() {
    let test = "tcp_edges";
    if !common::root_or_skip(test) {
        return;
    }
    let mut generator = Generator::start();
    assert_eq!(generator.line(), "ready");
    let pid = generator.child.id();
    let mode = Mode::ebpf();
    let run = NetoprocRun::start_in(&mode);
    generator.say("go");
    assert_eq!(generator.line(), "done");
    let seen: Vec<Seen> = serde_json::from_str(&generator.line()).expect("the generator's JSON");
    // The held connection is read open by the next live read (10 per
    // second by default); wait a few of them.
    std::thread::sleep(std::time::Duration::from_millis(500));
    let report = run.stop();
    generator.say("end");
    let _ = generator.child.wait();

    if let Some(h) = mode.hooks.as_deref() {
        assert!(
            common::hooks_match(h, &report.meta.hooks),
            "hooks {}, asked for {h}",
            report.meta.hooks
        );
    }
    let mut problems = Vec::new();
    for s in &seen {
        let row = report.connections.iter().find(|c| {
            c.local.as_deref() == Some(s.local.as_str())
                && c.remote.as_deref() == Some(s.remote.as_str())
        });
        let what = format!("{} {} {} -> {}", s.pattern, s.side, s.local, s.remote);
        match row {
            None => problems.push(format!("{what}: no connection row")),
            Some(r) => {
                let read = if report.meta.hooks == "counters" {
                    s.read
                } else {
                    s.read - s.spliced_read
                };
                if (r.tx_bytes, r.rx_bytes) != (s.sent, read) {
                    problems.push(format!(
                        "{what}: tx/rx {}/{}, the application wrote/read {}/{read}",
                        r.tx_bytes, r.rx_bytes, s.sent
                    ));
                }
                if r.pid != pid {
                    problems.push(format!("{what}: pid {}, expected {pid}", r.pid));
                }
            }
        }
    }
    assert!(
        problems.is_empty(),
        "{test} ({} hooks):\n{}",
        report.meta.hooks,
        problems.join("\n")
    );
}
