//! End-to-end: the real binary's answers to bad input — documented exit
//! codes and a message on stderr that says what to do, never a panic.
//! Privilege tests drop root with `setpriv` when run as root, and run as
//! they are otherwise.

use std::io::Read;
use std::process::{Command, Output, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_netoproc");

fn run(args: &[&str]) -> Output {
    Command::new(BIN).args(args).output().expect("run netoproc")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn assert_no_panic(o: &Output) {
    let e = stderr(o);
    assert!(!e.contains("panicked"), "netoproc panicked: {e}");
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

#[test]
fn bad_flags_and_values_exit_2() {
    for args in [
        &["--bogus"][..],
        &["--duration", "0"],
        &["--duration", "soon"],
        &["--format", "xml", "-d", "1"],
        &["--ringbuf-kib", "3", "-d", "1"],
        &["--capture-mode", "pcap", "-d", "1"],
        &["--hooks", "uprobe", "-d", "1"],
        &["--rings", "17", "-d", "1"],
        &["--rings", "0", "-d", "1"],
        &["--max-netns", "0", "-d", "1"],
        &["--ring-mib", "0", "-d", "1"],
    ] {
        let o = run(args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
        assert!(stderr(&o).contains("error:"), "{args:?}: {}", stderr(&o));
        assert_no_panic(&o);
    }
    // Flags of one capture mode with the other, refused before capturing.
    for args in [
        &["--capture-mode", "ebpf", "--interface", "lo", "-d", "1"][..],
        &["--capture-mode", "ebpf", "--max-netns", "4", "-d", "1"],
        &["--capture-mode", "afpacket", "--hooks", "kprobe", "-d", "1"],
    ] {
        let o = run(args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
        assert!(
            stderr(&o).contains("cannot be used"),
            "{args:?}: {}",
            stderr(&o)
        );
        assert_no_panic(&o);
    }
}

#[test]
fn help_and_version_exit_0_and_document_exit_codes() {
    let o = run(&["--help"]);
    assert_eq!(o.status.code(), Some(0));
    let help = String::from_utf8_lossy(&o.stdout);
    for needle in [
        "--duration",
        "--format",
        "--connections",
        "--capture-mode",
        "--hooks",
        "Exit codes",
        "doctor",
    ] {
        assert!(help.contains(needle), "--help lacks {needle}");
    }
    let v = run(&["--version"]);
    assert_eq!(v.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&v.stdout).starts_with("netoproc "));
}

#[test]
fn missing_privileges_exit_4_with_advice() {
    let o = if is_root() {
        Command::new("setpriv")
            .args([
                "--reuid=65534",
                "--regid=65534",
                "--clear-groups",
                "--inh-caps=-all",
                BIN,
                "-d",
                "1",
            ])
            .output()
            .expect("setpriv (util-linux) is needed to drop root")
    } else {
        run(&["-d", "1"])
    };
    assert_eq!(o.status.code(), Some(4), "{}", stderr(&o));
    let e = stderr(&o);
    assert!(
        e.contains("CAP_BPF") && e.contains("root"),
        "no advice in: {e}"
    );
    assert_no_panic(&o);
}

/// Runs netoproc with a stdout pipe whose reader has left before anything
/// is written; how it exited and its stderr.
fn with_reader_gone(args: &[&str]) -> (std::process::ExitStatus, String) {
    let mut child = Command::new(BIN)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn netoproc");
    drop(child.stdout.take());
    let status = child.wait().expect("wait");
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    (status, err)
}

/// `netoproc ... | head -c 10`: the reader goes away early; exit 0, quietly.
#[test]
fn closed_pipe_exits_0() {
    if !netoproc_testkit::root_or_skip("closed_pipe_exits_0", "root") {
        return;
    }
    let (status, err) = with_reader_gone(&["-d", "0.5", "--format", "json"]);
    assert_eq!(status.code(), Some(0), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

/// `netoproc ... > /dev/full`: exit 1 and the cause said once, after what
/// failed ("cannot write the output: No space left on device (os error
/// 28)", not the OS's words twice).
#[test]
fn full_disk_says_its_cause_once() {
    if !netoproc_testkit::root_or_skip("full_disk_says_its_cause_once", "root") {
        return;
    }
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .expect("open /dev/full");
    let o = Command::new(BIN)
        .args(["-d", "0.2", "--format", "json"])
        .stdout(full)
        .output()
        .expect("run netoproc");
    let e = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{e}");
    let enospc = std::io::Error::from_raw_os_error(libc::ENOSPC).to_string();
    assert_eq!(e.matches(&enospc).count(), 1, "{e}");
    assert!(
        e.contains(&format!("cannot write the output: {enospc}")),
        "{e}"
    );
    assert_no_panic(&o);
}

/// `netoproc doctor | head -c 1`: the same quiet exit as a snapshot's
/// (the closed pipe is recognised once, in `main`).
#[test]
fn doctor_closed_pipe_exits_quietly() {
    let (status, err) = with_reader_gone(&["doctor"]);
    assert!(!err.contains("Broken pipe"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    // 0, or 3 where no capture mode works on this host: never 1.
    assert_ne!(status.code(), Some(1), "{err}");
}

/// `doctor` on this host, as root: every check present, kprobe support
/// reported as the kernel really has it, every rung's hooks tried, and the
/// choice of `auto` agreeing with the hooks that attached.
#[test]
fn doctor_reports_this_host_truthfully() {
    if !netoproc_testkit::root_or_skip("doctor_reports_this_host_truthfully", "root") {
        return;
    }
    let o = run(&["doctor", "--format", "json"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let d: serde_json::Value = serde_json::from_slice(&o.stdout).expect("doctor JSON");
    let checks = d["checks"].as_array().expect("checks");
    let check = |name: &str| {
        checks
            .iter()
            .find(|c| c["name"] == name)
            .unwrap_or_else(|| panic!("no {name} check in {checks:?}"))
    };
    for name in [
        "kernel",
        "btf",
        "lockdown",
        "capabilities (ebpf)",
        "cgroup2",
        "kprobes",
        "af_packet",
    ] {
        check(name);
    }
    let has_kprobes = std::path::Path::new("/sys/bus/event_source/devices/kprobe").exists();
    let kprobes = check("kprobes")["found"].as_str().unwrap().to_string();
    assert_eq!(kprobes.contains("not available"), !has_kprobes, "{kprobes}");
    let rungs = d["hooks"]["rungs"].as_array().expect("rungs");
    let names: Vec<&str> = rungs.iter().filter_map(|r| r["rung"].as_str()).collect();
    assert_eq!(names, ["counters", "tracepoint", "fentry", "kprobe"]);
    let kprobe_rung = rungs.iter().find(|r| r["rung"] == "kprobe").unwrap();
    if !has_kprobes {
        assert_eq!(kprobe_rung["usable"], false);
    }
    let first_usable = rungs
        .iter()
        .find(|r| r["usable"] == true)
        .map(|r| r["rung"].clone());
    if let Some(rung) = first_usable {
        assert_eq!(d["auto"]["mode"], "ebpf");
        assert_eq!(d["auto"]["hooks"], rung);
    }
}
