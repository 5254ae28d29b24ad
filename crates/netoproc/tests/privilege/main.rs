//! End-to-end: netoproc as a privilege boundary. Installed by
//! `scripts/install-linux.sh` into a temporary prefix for a throwaway user
//! and group (removed again on drop), it must (1) be installed root:group
//! 0750 with only its mode's capabilities, (2) keep only what the backend
//! still needs once capture runs, in every thread, with no-new-privs, and
//! (3) never let its caller read a root-only file through a flag or an
//! environment variable. Needs root; fails without it under `CI=true`.

mod sandbox;

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::os::unix::fs::{symlink, MetadataExt, PermissionsExt};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use sandbox::{all_threads, root_or_skip, run_ok, Sandbox, BIN};

const DAC_READ_SEARCH: u32 = 2;
const NET_ADMIN: u32 = 12;
const NET_RAW: u32 = 13;
const SYS_PTRACE: u32 = 19;
const SYS_ADMIN: u32 = 21;
const PERFMON: u32 = 38;
const BPF: u32 = 39;

fn mask(caps: &[u32]) -> u64 {
    caps.iter().fold(0, |m, c| m | 1 << c)
}

/// The set `scripts/install-linux.sh --mode all` grants on Linux 5.8+.
const INSTALLED_ALL: &[u32] = &[
    DAC_READ_SEARCH,
    NET_ADMIN,
    NET_RAW,
    SYS_PTRACE,
    PERFMON,
    BPF,
];
/// What each backend declares it needs after start.
const AFPACKET_KEEPS: &[u32] = &[NET_RAW, SYS_ADMIN, SYS_PTRACE, DAC_READ_SEARCH];
/// eBPF on each live-read path: the socket iterators enter other network
/// namespaces (setns); the walk reads a map through a held descriptor. (Linux
/// before 6.0 with unprivileged BPF disabled also keeps CAP_BPF.)
const EBPF_SOCKET_ITER_KEEPS: &[u32] = &[SYS_PTRACE, DAC_READ_SEARCH, SYS_ADMIN];
const EBPF_WALK_KEEPS: &[u32] = &[SYS_PTRACE, DAC_READ_SEARCH];

/// Waits for `child` at most `limit`, killing it after that.
/// Runs `cmd` with stdout and stderr captured; its output once it exits
/// within `limit` (see [`wait_within`]).
fn output_within(cmd: &mut Command, limit: Duration) -> Output {
    let child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    wait_within(child, limit)
}

/// Asserts that `secret` is nowhere in `o`'s stdout or stderr; returns
/// stderr.
fn assert_no_secret(o: &Output, secret: &str, what: &str) -> String {
    let (out, err) = (
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr),
    );
    assert!(
        !out.contains(secret) && !err.contains(secret),
        "{what}: the secret leaked: {out} {err}"
    );
    err.into_owned()
}

fn wait_within(mut child: Child, limit: Duration) -> Output {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if child.try_wait().expect("try_wait").is_some() {
            return child.wait_with_output().expect("output");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let o = child.wait_with_output().expect("output");
    panic!(
        "still running after {limit:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

fn getcap(path: &std::path::Path) -> BTreeSet<String> {
    let o = run_ok(Command::new("getcap").arg(path));
    let text = String::from_utf8_lossy(&o.stdout).into_owned();
    let caps = text
        .split_whitespace()
        .nth(1)
        .unwrap_or_else(|| panic!("no capabilities in getcap output {text:?}"));
    let (list, flags) = caps.split_once('=').expect("caps=flags");
    assert_eq!(flags, "ep", "{text}");
    list.split(',').map(str::to_string).collect()
}

fn names(list: &[&str]) -> BTreeSet<String> {
    list.iter().map(|s| s.to_string()).collect()
}

#[test]
fn install_script_installs_like_dumpcap() {
    if !root_or_skip("install_script_installs_like_dumpcap") {
        return;
    }
    let s = Sandbox::new("i", &[]);
    let meta = std::fs::metadata(s.binary()).expect("installed binary");
    assert_eq!(meta.uid(), 0);
    assert_eq!(meta.gid(), s.gid, "group is not {}", s.name);
    assert_eq!(meta.permissions().mode() & 0o7777, 0o750);
    assert_eq!(
        getcap(&s.binary()),
        names(&[
            "cap_dac_read_search",
            "cap_net_admin",
            "cap_net_raw",
            "cap_sys_ptrace",
            "cap_perfmon",
            "cap_bpf"
        ])
    );
    // A member runs it; anyone else cannot execute it.
    let member = s
        .as_user(&s.binary())
        .arg("--version")
        .output()
        .expect("run");
    assert!(member.status.success(), "{member:?}");
    let outsider = sandbox::user_command(s.uid, "65534", &s.binary())
        .arg("--version")
        .output()
        .expect("setpriv");
    assert!(
        !outsider.status.success(),
        "a non-member ran it: {outsider:?}"
    );
    assert!(
        String::from_utf8_lossy(&outsider.stderr).contains("Permission denied"),
        "{outsider:?}"
    );

    let w = Sandbox::new("w", &["--mode", "afpacket", "--world"]);
    let meta = std::fs::metadata(w.binary()).expect("installed binary");
    assert_eq!(meta.permissions().mode() & 0o7777, 0o755);
    assert_eq!(meta.gid(), w.gid);
    assert_eq!(
        getcap(&w.binary()),
        names(&[
            "cap_dac_read_search",
            "cap_net_admin",
            "cap_net_raw",
            "cap_sys_ptrace"
        ])
    );
    let said = String::from_utf8_lossy(&w.installed.stderr);
    assert!(
        said.contains("warning") && said.contains("every local user"),
        "{said}"
    );
}

/// One capture run: waits until netoproc says it dropped, moves some
/// loopback traffic, reads every thread's sets, then checks the snapshot
/// still names this process (so /proc was still readable). `None` when the
/// mode is unavailable on this kernel (exit 3).
fn capture_and_read_caps(mut cmd: Command, mode: &[&str]) -> Option<Vec<(String, sandbox::Caps)>> {
    let name = mode.join(" ");
    let mut child = cmd
        .arg("--capture-mode")
        .args(mode)
        .args(["-d", "3", "--format", "json", "-v"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn netoproc");
    let pid = child.id();
    let (tx, rx) = mpsc::channel();
    let stderr = child.stderr.take().expect("stderr");
    let lines = std::thread::spawn(move || {
        let mut all = String::new();
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line.clone());
            all.push_str(&line);
            all.push('\n');
        }
        all
    });
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut dropped = false;
    while !dropped && Instant::now() < deadline {
        match rx.recv_timeout(Duration::from_millis(100)) {
            Ok(l) => dropped = l.contains("no-new-privs set"),
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
            Err(mpsc::RecvTimeoutError::Timeout) => {}
        }
    }
    let threads = dropped.then(|| all_threads(pid));
    let talker = dropped.then(loopback_traffic);
    let mut stdout = String::new();
    let mut out = child.stdout.take().expect("stdout");
    let reader = std::thread::spawn(move || {
        let _ = out.read_to_string(&mut stdout);
        stdout
    });
    let status = wait_within(child, Duration::from_secs(20)).status;
    let stdout = reader.join().expect("stdout reader");
    let stderr = lines.join().expect("stderr reader");
    if !dropped && status.code() == Some(3) {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "{name} is unavailable here and CI=true forbids skipping: {stderr}"
        );
        eprintln!("{name} is unavailable here: {stderr}");
        return None;
    }
    assert!(
        dropped,
        "{name}: netoproc never said it dropped: {status:?} {stderr}"
    );
    assert_eq!(status.code(), Some(0), "{name}: {stderr}");
    let snap: serde_json::Value = serde_json::from_str(&stdout).expect("JSON snapshot");
    assert_eq!(snap["meta"]["capture_mode"], mode[0], "{stderr}");
    let talker = talker.expect("traffic ran");
    assert!(
        snap["processes"]
            .as_array()
            .is_some_and(|p| p.iter().any(|r| r["pid"] == talker)),
        "{name}: the loopback traffic of root's pid {talker} was not attributed after the \
         drop: {stdout}"
    );
    threads
}

/// A TCP exchange over loopback between this test and a new root-owned
/// process (bash); returns that process's pid. Naming it needs its
/// `/proc/PID/fd`, which a user's netoproc reads only with the kept
/// capabilities. The talker is the only holder of its socket: its `sleep`
/// children get fd 3 closed (an inherited copy made them owners too, and
/// attribution may name any holder).
fn loopback_traffic() -> u32 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("listen");
    let port = listener.local_addr().expect("addr").port();
    let server = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().expect("accept");
        s.set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        let mut buf = [0u8; 1024];
        while let Ok(n @ 1..) = s.read(&mut buf) {
            let _ = s.write_all(&buf[..n]);
        }
    });
    let script = format!(
        "exec 3<>/dev/tcp/127.0.0.1/{port}; for i in 1 2 3 4 5 6 7 8 9 10; do \
         echo hello-$i >&3; read -r -t 2 line <&3; sleep 0.05 3>&-; done; exec 3>&-"
    );
    let child = Command::new("bash")
        .args(["-c", &script])
        .spawn()
        .expect("bash");
    let pid = child.id();
    let o = wait_within(child, Duration::from_secs(10));
    assert!(o.status.success(), "traffic: {o:?}");
    server.join().expect("server");
    pid
}

fn assert_reduced(
    threads: &[(String, sandbox::Caps)],
    keep: u64,
    bounding: Option<u64>,
    who: &str,
) {
    assert!(!threads.is_empty(), "{who}: no threads read");
    for (tid, c) in threads {
        assert_eq!(c.eff, keep, "{who}: thread {tid} CapEff {:x}", c.eff);
        assert_eq!(c.prm, keep, "{who}: thread {tid} CapPrm {:x}", c.prm);
        assert_eq!(c.inh, 0, "{who}: thread {tid} CapInh");
        assert_eq!(c.amb, 0, "{who}: thread {tid} CapAmb");
        assert!(c.nnp, "{who}: thread {tid} without NoNewPrivs");
        if let Some(b) = bounding {
            assert_eq!(c.bnd, b, "{who}: thread {tid} CapBnd {:x}", c.bnd);
        }
    }
}

#[test]
fn capabilities_are_reduced_after_start() {
    if !root_or_skip("capabilities_are_reduced_after_start") {
        return;
    }
    let s = Sandbox::new("c", &[]);
    let held_by_user = mask(INSTALLED_ALL);
    let old_bpf = kernel_major() < 6
        && std::fs::read_to_string("/proc/sys/kernel/unprivileged_bpf_disabled")
            .is_ok_and(|v| v.trim() != "0");
    let with_bpf = |keeps: &[u32]| {
        let mut k = keeps.to_vec();
        if old_bpf {
            k.push(BPF);
        }
        k
    };
    let runs: [(&[&str], Vec<u32>); 3] = [
        (&["afpacket"], AFPACKET_KEEPS.to_vec()),
        (
            &["ebpf", "--live-read", "socket-iter"],
            with_bpf(EBPF_SOCKET_ITER_KEEPS),
        ),
        (&["ebpf", "--live-read", "walk"], with_bpf(EBPF_WALK_KEEPS)),
    ];
    for (mode, keeps) in runs {
        let keeps = keeps.as_slice();
        let mode_name = mode.join(" ");
        // Root: keeps what the backend needs; CAP_SETPCAP lets it cut the
        // bounding set too.
        if let Some(t) = capture_and_read_caps(Command::new(BIN), mode) {
            assert_reduced(
                &t,
                mask(keeps),
                Some(mask(keeps)),
                &format!("root, {mode_name}"),
            );
        }
        // The group member through file capabilities: what it holds and
        // the backend needs.
        let keep = held_by_user & mask(keeps);
        if let Some(t) = capture_and_read_caps(s.as_user(&s.binary()), mode) {
            assert_reduced(&t, keep, None, &format!("user, {mode_name}"));
        }
    }
}

/// `doctor` run by the group member says it is elevated, what it holds and
/// what each mode would keep, and why.
#[test]
fn doctor_says_what_is_held_and_kept() {
    if !root_or_skip("doctor_says_what_is_held_and_kept") {
        return;
    }
    let s = Sandbox::new("o", &["--mode", "afpacket"]);
    let o = output_within(
        s.as_user(&s.binary()).args(["doctor", "--format", "json"]),
        Duration::from_secs(60),
    );
    let d: serde_json::Value = serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("doctor JSON: {e}: {}", String::from_utf8_lossy(&o.stderr)));
    let found = |name: &str| -> String {
        d["checks"]
            .as_array()
            .and_then(|c| c.iter().find(|c| c["name"] == name))
            .and_then(|c| c["found"].as_str())
            .unwrap_or_else(|| panic!("no {name} check in {d}"))
            .to_string()
    };
    assert!(found("privilege").contains("AT_SECURE"), "{d}");
    assert_eq!(
        found("capabilities held"),
        "CAP_DAC_READ_SEARCH, CAP_NET_ADMIN, CAP_NET_RAW, CAP_SYS_PTRACE"
    );
    let kept = found("kept after start (afpacket)");
    assert!(
        kept.starts_with("CAP_NET_RAW (")
            && kept.contains("CAP_SYS_PTRACE (")
            && kept.contains("CAP_DAC_READ_SEARCH (")
            && !kept.contains("CAP_NET_ADMIN")
            && !kept.contains("CAP_SYS_ADMIN"),
        "{kept}"
    );
}

/// A root-only secret and a world-readable directory of symlinks to it.
struct Bait {
    secret: String,
    _private: tempfile::TempDir,
    public: std::path::PathBuf,
}

fn bait(inside: &std::path::Path) -> Bait {
    let mut raw = [0u8; 16];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut raw))
        .expect("random");
    let secret: String = raw.iter().map(|b| format!("{b:02x}")).collect();
    let private = tempfile::tempdir().expect("private dir");
    std::fs::set_permissions(private.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
    let file = private.path().join("secret");
    std::fs::write(&file, format!("SECRET {secret}\n")).expect("write secret");
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
    let public = inside.join("bait");
    for rel in [
        "proc/self/mountinfo",
        "proc/self/status",
        "proc/self/stat",
        "proc/net/tcp",
        "proc/net/udp",
        "proc/sys/kernel/osrelease",
        "proc/sys/kernel/perf_event_paranoid",
        "sys/kernel/security/lockdown",
        "sys/kernel/btf/vmlinux",
        "sys/kernel/tracing/kprobe_events",
        "file",
    ] {
        let link = public.join(rel);
        std::fs::create_dir_all(link.parent().unwrap()).expect("mkdir");
        symlink(&file, &link).expect("symlink");
    }
    symlink(private.path(), public.join("dir")).expect("symlink dir");
    for d in ["", "proc", "proc/self", "proc/net", "sys"] {
        let _ = std::fs::set_permissions(public.join(d), std::fs::Permissions::from_mode(0o755));
    }
    Bait {
        secret,
        _private: private,
        public,
    }
}

#[test]
fn no_flag_or_variable_discloses_a_root_only_file() {
    if !root_or_skip("no_flag_or_variable_discloses_a_root_only_file") {
        return;
    }
    let s = Sandbox::new("d", &[]);
    let b = bait(s.dir.path());
    let p = |rel: &str| b.public.join(rel).to_string_lossy().into_owned();
    let (proc_, sys, file, dir) = (p("proc"), p("sys"), p("file"), p("dir"));
    let flags: Vec<(Vec<String>, &str)> = vec![
        (
            vec!["--proc-root".into(), proc_.clone(), "-d".into(), "1".into()],
            "--proc-root",
        ),
        (
            vec![format!("--proc-root={dir}"), "-d".into(), "1".into()],
            "--proc-root",
        ),
        (
            vec!["--sys-root".into(), sys.clone(), "-d".into(), "1".into()],
            "--sys-root",
        ),
        (
            vec!["--sys-root".into(), file.clone(), "-d".into(), "1".into()],
            "--sys-root",
        ),
        (
            vec!["doctor".into(), "--sys-root".into(), sys.clone()],
            "doctor --sys-root",
        ),
        (
            vec![
                "--proc-root".into(),
                proc_.clone(),
                "doctor".into(),
                "--format".into(),
                "json".into(),
            ],
            "--proc-root",
        ),
        (
            vec!["doctor".into(), "--sys-root".into(), file.clone()],
            "doctor --sys-root",
        ),
    ];
    let vars: Vec<(&str, String)> = vec![
        ("NETOPROC_PROC_ROOT", proc_.clone()),
        ("NETOPROC_SYS_ROOT", sys.clone()),
        ("RUST_BACKTRACE", "full".into()),
        ("RUST_LIB_BACKTRACE", "1".into()),
    ];
    let check = |o: &Output, what: &str, expect: &str| {
        let err = assert_no_secret(o, &b.secret, what);
        assert_eq!(o.status.code(), Some(4), "{what}: {err}");
        assert!(
            err.contains(expect),
            "{what}: no mention of {expect}: {err}"
        );
        assert!(err.contains("more privilege"), "{what}: unclear: {err}");
    };
    let as_user =
        |args: &[&str]| output_within(s.as_user(&s.binary()).args(args), Duration::from_secs(20));
    for (args, name) in &flags {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        check(&as_user(&args), &format!("{args:?}"), name);
    }
    // Variables: netoproc reads none of its own, and RUST_BACKTRACE is
    // made inert, so a user whose shell sets them still runs it; nothing of
    // the secret may appear either way.
    for (var, value) in &vars {
        let o = output_within(
            s.as_user(&s.binary())
                .args(["--capture-mode", "afpacket", "-d", "1"])
                .env(var, value),
            Duration::from_secs(20),
        );
        let err = assert_no_secret(&o, &b.secret, var);
        assert_eq!(o.status.code(), Some(0), "{var}: {err}");
    }
    for args in [
        &["--ring-mib", "128", "--capture-mode", "afpacket", "-d", "1"][..],
        &["--rings", "8", "--capture-mode", "afpacket", "-d", "1"],
        &[
            "--max-netns",
            "4096",
            "--capture-mode",
            "afpacket",
            "-d",
            "1",
        ],
        &[
            "--ring-mib",
            "64",
            "--rings",
            "4",
            "--capture-mode",
            "afpacket",
            "-d",
            "1",
        ],
        &["--ringbuf-kib", "1048576", "-d", "1"],
    ] {
        check(
            &as_user(args),
            &format!("{args:?}"),
            "too much kernel memory",
        );
    }
    // The C library's own path variables never reach netoproc in such a
    // start: it runs, and nothing leaks.
    for (var, value) in [
        ("LD_PRELOAD", &file),
        ("LD_LIBRARY_PATH", &dir),
        ("TMPDIR", &dir),
        ("LOCPATH", &dir),
    ] {
        let o = s
            .as_user(&s.binary())
            .arg("--version")
            .env(var, value)
            .output()
            .expect("run");
        let all = format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        assert!(!all.contains(&b.secret), "{var}: the secret leaked: {all}");
        assert!(o.status.success(), "{var}: {all}");
    }
}

/// `--max-netns` bounds the namespaces that get rings (an unprivileged
/// user can create namespaces with `unshare -rn`): past it, a namespace is
/// listed as not captured, naming the flag.
#[test]
fn namespaces_with_rings_are_bounded() {
    if !root_or_skip("namespaces_with_rings_are_bounded") {
        return;
    }
    let _ns = netoproc_testkit::netns::Netns::new("max-netns");
    let degraded = |max: &str| -> String {
        let o = output_within(
            Command::new(BIN)
                .args(["--capture-mode", "afpacket", "--max-netns", max])
                .args(["-d", "1", "--format", "json"]),
            Duration::from_secs(20),
        );
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let snap: serde_json::Value = serde_json::from_slice(&o.stdout).expect("JSON");
        snap["meta"]["degraded"].to_string()
    };
    let one = degraded("1");
    assert!(one.contains("--max-netns"), "{one}");
    let many = degraded("64");
    assert!(!many.contains("--max-netns"), "{many}");
}

/// The running kernel's major version (0 if unreadable).
fn kernel_major() -> u32 {
    std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .ok()
        .and_then(|r| r.split('.').next()?.trim().parse().ok())
        .unwrap_or(0)
}
