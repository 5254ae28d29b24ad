//! End-to-end tests of the history ledger with the real binary and real
//! traffic: `netoproc serve --history FILE` writes what a pair of traffic
//! generators moved (in a network namespace the test makes), and `netoproc
//! history` reads it back while the agent runs — exactly the generators'
//! own payload byte counts (eBPF). A restarted agent keeps the history and
//! adds to it; `kill -9` loses at most the open minute (checked against
//! the generators' counts); a full disk degrades history until there is
//! room again, then the buffered minute is written; a corrupt file
//! degrades history (a clear error, /readyz says so, `netoproc_history_up
//! 0`) while /metrics goes on.
//! The agent runs with the hidden test-only `--history-minute-secs 10`
//! (10 to 60 s "minutes") so a run takes seconds, not minutes. Needs
//! root; skips otherwise, except under `CI=true` where it fails. Run as
//! root: `cargo build -p netoproc && cargo test -p netoproc-e2e --test history`.

#[allow(dead_code)]
mod common;

use common::generator::tcp_transfer;
use common::named_generator;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::http::get;
use common::mode::Mode;
use common::netns::Netns;
use common::root_or_skip;
use common::serve_run::ServeRun;

const KIB: u64 = 1024;
/// A 10 s minute closes, and is written, well within this.
const WRITTEN_WITHIN: Duration = Duration::from_secs(45);

/// `netoproc history … --format json`'s answer.
fn history_json(args: &[&str]) -> serde_json::Value {
    let out = Command::new(common::netoproc_bin())
        .arg("history")
        .args(args)
        .args(["--format", "json"])
        .output()
        .expect("run netoproc history");
    assert!(
        out.status.success(),
        "netoproc history {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("history JSON")
}

/// Payload bytes (sent, received) of process `name` in the ledger.
fn ledger_bytes(db: &str, host: &str, name: &str) -> (u64, u64) {
    let v = history_json(&[
        "--history",
        db,
        "--host",
        host,
        "--since",
        "1h",
        "--process",
        name,
    ]);
    let t = &v["total"];
    (
        t["payload_bytes_sent"].as_u64().unwrap(),
        t["payload_bytes_received"].as_u64().unwrap(),
    )
}

/// Waits until the ledger holds `want` for `name`; what it holds last.
fn wait_for(db: &str, host: &str, name: &str, want: (u64, u64)) -> (u64, u64) {
    let deadline = Instant::now() + WRITTEN_WITHIN;
    loop {
        let have = ledger_bytes(db, host, name);
        if have == want || Instant::now() >= deadline {
            return have;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

fn add(a: (u64, u64), b: (u64, u64)) -> (u64, u64) {
    (a.0 + b.0, a.1 + b.1)
}

#[test]
fn history_survives_restart_and_kill_9_loses_at_most_the_open_minute() {
    let test = "history_survives_restart_and_kill_9_loses_at_most_the_open_minute";
    if !root_or_skip(test) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let bin = named_generator(tmp.path(), "hi");
    let name = bin.file_name().unwrap().to_string_lossy().into_owned();
    let db = tmp.path().join("state/history.sqlite");
    let db_s = db.to_str().unwrap().to_string();
    let args = [
        "--history",
        &db_s,
        "--history-minute-secs",
        "10",
        "--host-name",
        "e2e-hist",
    ];
    let ns = Netns::new("hist");
    let mode = Mode::ebpf();

    // 1. Written while the agent runs, read while it writes.
    let agent = ServeRun::start(&mode, &args);
    let first = tcp_transfer(&ns.name, &bin, 5411, 300 * KIB, 4096);
    let have = wait_for(&db_s, "e2e-hist", &name, first);
    assert_eq!(have, first, "ledger vs generators (sent, received)");
    // The HTTP API answers the same.
    let (code, body) = get(
        agent.addr,
        &format!("/api/v1/history?since=1h&group_by=process&process={name}"),
    )
    .unwrap();
    assert_eq!(code, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["host"], "e2e-hist");
    assert_eq!(v["total"]["payload_bytes_sent"].as_u64(), Some(first.0));
    agent.stop();

    // 2. A restarted agent keeps it and adds to it.
    assert_eq!(
        ledger_bytes(&db_s, "e2e-hist", &name),
        first,
        "after restart"
    );
    let agent = ServeRun::start(&mode, &args);
    let second = tcp_transfer(&ns.name, &bin, 5412, 200 * KIB, 4096);
    let both = add(first, second);
    assert_eq!(wait_for(&db_s, "e2e-hist", &name, both), both);

    // 3. kill -9 right after a transfer: what closed minutes held stays,
    // at most the open minute's traffic is lost.
    let third = tcp_transfer(&ns.name, &bin, 5413, 100 * KIB, 4096);
    let before_kill = add(both, third);
    assert_eq!(wait_for(&db_s, "e2e-hist", &name, before_kill), before_kill);
    let last = tcp_transfer(&ns.name, &bin, 5414, 150 * KIB, 4096);
    agent.signal(libc::SIGKILL);
    drop(agent);
    let after = ledger_bytes(&db_s, "e2e-hist", &name);
    let most = add(before_kill, last);
    eprintln!("{test}: before the kill {before_kill:?}, open minute {last:?}, ledger {after:?}");
    assert!(
        after.0 >= before_kill.0 && after.1 >= before_kill.1,
        "kill -9 lost closed minutes: ledger {after:?} < {before_kill:?}"
    );
    assert!(
        after.0 <= most.0 && after.1 <= most.1,
        "ledger {after:?} holds more than the generators moved {most:?}"
    );
    // The next agent opens the file a killed one left (WAL recovered).
    let agent = ServeRun::start(&mode, &args);
    let m = agent.metrics();
    assert!(
        m.contains("netoproc_history_up 1"),
        "history not up after kill -9"
    );
    agent.stop();
    // TSV and pretty read the same file.
    let out = Command::new(common::netoproc_bin())
        .args([
            "history",
            "--history",
            &db_s,
            "--host",
            "e2e-hist",
            "--since",
            "1h",
        ])
        .args(["--format", "tsv", "--group-by", "identity"])
        .output()
        .unwrap();
    let tsv = String::from_utf8_lossy(&out.stdout);
    assert!(tsv.starts_with("identity\tpayload_bytes_sent"), "{tsv}");
    assert!(tsv.contains(&name), "{tsv}");
}

#[test]
fn a_corrupt_history_file_degrades_history_not_the_agent() {
    let test = "a_corrupt_history_file_degrades_history_not_the_agent";
    if !root_or_skip(test) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("history.sqlite");
    std::fs::write(&db, vec![0x42u8; 16384]).unwrap();
    let agent = ServeRun::start(&Mode::ebpf(), &["--history", db.to_str().unwrap()]);
    let deadline = Instant::now() + Duration::from_secs(20);
    let body = loop {
        let (code, body) = get(agent.addr, "/readyz").unwrap();
        assert_eq!(code, 200, "{body}");
        if body.contains("degraded: history") || Instant::now() >= deadline {
            break body;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(
        body.contains("degraded: history") && body.contains("not a database"),
        "{body}"
    );
    let m = agent.metrics();
    assert!(m.contains("netoproc_history_up 0"), "{m}");
    assert!(m.contains("netoproc_reads_total"), "capture goes on");
    let errors = agent.stderr.lock().unwrap().join("\n");
    assert!(
        errors.contains("history degraded") && errors.contains("history.sqlite"),
        "{errors}"
    );
    let (code, body) = get(agent.addr, "/api/v1/history?since=1h").unwrap();
    assert_eq!(code, 503, "{body}");
    assert!(body.contains("history unavailable: "), "{body}");
    agent.stop();
    // The reader says the same, with the usage-independent runtime code.
    let out = Command::new(common::netoproc_bin())
        .args(["history", "--history", db.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a database"));
    // Bad input is a usage error (exit 2).
    for bad in [
        vec!["--since", "yesterday"],
        vec!["--group-by", "pid"],
        vec!["--since", "1h", "--until", "2h"],
        vec!["--history", "mysql://x@y/z"],
        vec!["--format", "xml"],
    ] {
        let out = Command::new(common::netoproc_bin())
            .arg("history")
            .args(&bad)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{bad:?}: {out:?}");
    }
}

/// A tmpfs mounted for the test, unmounted on Drop (also on failure).
struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    fn mount(kib: u32) -> SmallDisk {
        let dir = tempfile::tempdir().unwrap();
        let st = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={kib}k,mode=0700"),
                "tmpfs",
            ])
            .arg(dir.path())
            .status()
            .expect("run mount");
        assert!(st.success(), "mount tmpfs");
        SmallDisk { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Fills what is left with a file; its path.
    fn fill(&self) -> PathBuf {
        let p = self.path().join("filler");
        let mut f = std::fs::File::create(&p).unwrap();
        let chunk = vec![0u8; 4096];
        // Bounded: the disk is small.
        for _ in 0..100_000 {
            if std::io::Write::write_all(&mut f, &chunk).is_err() {
                break;
            }
        }
        let _ = f.sync_all();
        p
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.dir.path()).status();
    }
}

#[test]
fn a_full_disk_degrades_history_and_the_buffered_minutes_follow_once_there_is_room() {
    let test = "a_full_disk_degrades_history_and_the_buffered_minutes_follow_once_there_is_room";
    if !root_or_skip(test) {
        return;
    }
    let disk = SmallDisk::mount(2048);
    let tmp = tempfile::tempdir().unwrap();
    let bin = named_generator(tmp.path(), "hf");
    let name = bin.file_name().unwrap().to_string_lossy().into_owned();
    let db = disk.path().join("history.sqlite");
    let db_s = db.to_str().unwrap().to_string();
    let ns = Netns::new("hfull");
    let agent = ServeRun::start(
        &Mode::ebpf(),
        &[
            "--history",
            &db_s,
            "--history-minute-secs",
            "10",
            "--host-name",
            "e2e-full",
        ],
    );
    // The store is open (schema written) before the disk fills.
    let deadline = Instant::now() + Duration::from_secs(30);
    while !agent.metrics().contains("netoproc_history_up 1") {
        assert!(Instant::now() < deadline, "history never came up");
        std::thread::sleep(Duration::from_millis(200));
    }
    let filler = disk.fill();
    // Traffic while the disk is full: its minute cannot be written.
    let moved = tcp_transfer(&ns.name, &bin, 5431, 400 * KIB, 4096);
    let deadline = Instant::now() + WRITTEN_WITHIN;
    let body = loop {
        let (code, body) = get(agent.addr, "/readyz").unwrap();
        assert_eq!(code, 200, "{body}");
        if body.contains("degraded: history") || Instant::now() >= deadline {
            break body;
        }
        std::thread::sleep(Duration::from_millis(300));
    };
    assert!(body.contains("degraded: history"), "{body}");
    assert!(body.contains("full"), "the reason names it: {body}");
    let m = agent.metrics();
    assert!(m.contains("netoproc_history_up 0"), "{m}");
    assert!(m.contains("netoproc_reads_total"), "capture goes on");
    // Room again: the buffered minute is written, nothing lost.
    std::fs::remove_file(filler).unwrap();
    assert_eq!(wait_for(&db_s, "e2e-full", &name, moved), moved);
    let m = agent.metrics();
    assert!(m.contains("netoproc_history_up 1"), "{m}");
    assert!(
        m.contains("netoproc_history_batches_dropped_total 0"),
        "{m}"
    );
    agent.stop();
}
