//! `netoproc doctor`: every check that decides whether and how netoproc can
//! capture here — kernel, BTF, lockdown, capabilities, filesystems, each BPF
//! hook attached for real and detached again, AF_PACKET and the proc
//! connector its attribution uses — which mode `auto` would choose and why
//! (eBPF, else AF_PACKET), and for each failing check the command or
//! setting that fixes it. Exit 0 when some capture mode works, 3 otherwise.
//! The eBPF verdict is not inferred from the hook table: doctor starts the
//! eBPF capture with the same code a capture runs and reports what it did
//! (rung, live-read path, degraded features) or why it refused.

mod checks;

use std::io::{self, Write};
use std::path::PathBuf;

use serde::Serialize;

use crate::failure::Failure;
use checks::{Check, Verdict};

#[derive(Debug, Clone, clap::Args)]
pub struct DoctorArgs {
    /// Output format: `pretty` (default) or `json`.
    #[arg(long, value_name = "FORMAT", value_enum, default_value_t = DoctorFormat::Pretty)]
    pub format: DoctorFormat,

    /// Root of the sys filesystem (for tests).
    #[arg(long, value_name = "DIR", default_value = "/sys", hide = true)]
    pub sys_root: PathBuf,
}

/// How the doctor's report is printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DoctorFormat {
    Pretty,
    Json,
}

/// The capture mode `auto` would choose here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AutoMode {
    Ebpf,
    Afpacket,
    /// Neither works: `doctor` exits 3.
    None,
}

impl std::fmt::Display for AutoMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            AutoMode::Ebpf => "ebpf",
            AutoMode::Afpacket => "afpacket",
            AutoMode::None => "none",
        })
    }
}

/// What `auto` would do.
#[derive(Debug, Clone, Serialize)]
pub struct AutoChoice {
    pub mode: AutoMode,
    pub hooks: Option<&'static str>,
    /// eBPF: how live sockets would be read.
    pub live_read: Option<&'static str>,
    pub reason: String,
    /// eBPF: what the capture would run degraded, with the reason.
    pub degraded: Vec<String>,
}

/// What starting the eBPF capture here did.
struct EbpfVerdict {
    hooks: &'static str,
    live_read: Option<&'static str>,
    degraded: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct DoctorReport {
    pub checks: Vec<Check>,
    #[cfg(feature = "ebpf")]
    pub hooks: Option<netoproc_ebpf::probe::HookProbe>,
    /// Why the hooks could not be probed at all (object did not load).
    pub hooks_error: Option<String>,
    pub auto: AutoChoice,
}

pub fn run(
    args: &DoctorArgs,
    proc_root: &std::path::Path,
    elevated: Option<&str>,
) -> Result<(), Failure> {
    let mut report = diagnose(args, proc_root);
    report.checks.extend(privilege_checks(proc_root, elevated));
    // Everything is probed: nothing privileged is left to do.
    crate::capabilities::drop_after_start(&[])
        .map_err(|e| Failure::Runtime(anyhow::Error::new(e).context("dropping capabilities")))?;
    let stdout = io::stdout();
    let mut out = stdout.lock();
    let written = if args.format == DoctorFormat::Json {
        serde_json::to_writer(&mut out, &report)
            .map_err(io::Error::from)
            .and_then(|()| writeln!(out))
    } else {
        write_pretty(&mut out, &report)
    };
    written.and_then(|()| out.flush()).map_err(|e| {
        Failure::Runtime(anyhow::Error::new(e).context("writing the doctor report"))
    })?;
    if report.auto.mode == AutoMode::None {
        return Err(Failure::Unavailable(format!(
            "no capture mode works here: {}",
            report.auto.reason
        )));
    }
    Ok(())
}

/// Whether netoproc is elevated, what it holds, and what each capture mode
/// would keep after start and why.
fn privilege_checks(proc_root: &std::path::Path, elevated: Option<&str>) -> Vec<Check> {
    use netoproc_core::backend::ASSUMED_NEEDS_AFTER_START;
    let permitted = checks::permitted_caps(proc_root);
    let names = |mask: u64| -> String {
        let mut held: Vec<_> = caps::all()
            .into_iter()
            .filter(|c| mask & c.bitmask() != 0)
            .collect();
        held.sort_by_key(caps::Capability::index);
        let held: Vec<String> = held.iter().map(ToString::to_string).collect();
        if held.is_empty() {
            "none".into()
        } else {
            held.join(", ")
        }
    };
    let kept = |needs| {
        let kept = crate::capabilities::retained(permitted, needs);
        if kept.is_empty() {
            "none".to_string()
        } else {
            let each: Vec<String> = kept
                .iter()
                .map(|k| format!("{} ({})", k.capability, k.why))
                .collect();
            each.join("; ")
        }
    };
    vec![
        Check {
            name: "privilege",
            verdict: Verdict::Info,
            found: match elevated {
                Some(why) => format!(
                    "more than the caller's ({why}): path flags, NETOPROC_* and RUST_BACKTRACE \
                     are refused and sizes are bounded"
                ),
                None => "the caller's own".into(),
            },
            fix: None,
        },
        Check {
            name: "capabilities held",
            verdict: Verdict::Info,
            found: names(permitted),
            fix: None,
        },
        Check {
            name: "kept after start (ebpf)",
            verdict: Verdict::Info,
            found: kept(ASSUMED_NEEDS_AFTER_START),
            fix: None,
        },
        Check {
            name: "kept after start (afpacket)",
            verdict: Verdict::Info,
            found: kept(netoproc_afpacket::capture::NEEDS_AFTER_START),
            fix: None,
        },
    ]
}

fn diagnose(args: &DoctorArgs, proc_root: &std::path::Path) -> DoctorReport {
    let sys = args.sys_root.as_path();
    let mountinfo = std::fs::read_to_string(proc_root.join("self/mountinfo")).unwrap_or_default();
    let caps = checks::effective_caps(proc_root);
    let (kernel, _version) = checks::kernel(proc_root);
    let mut list = vec![
        kernel,
        checks::btf(sys),
        checks::lockdown(sys),
        checks::sysctl(
            proc_root,
            "perf_event_paranoid",
            "sys/kernel/perf_event_paranoid",
        ),
        checks::sysctl(
            proc_root,
            "unprivileged_bpf_disabled",
            "sys/kernel/unprivileged_bpf_disabled",
        ),
        checks::capabilities(
            caps,
            "capabilities (ebpf)",
            &[checks::CAP_BPF, checks::CAP_PERFMON, checks::CAP_NET_ADMIN],
            Some(&[checks::CAP_SYS_ADMIN]),
        ),
        checks::capabilities(
            caps,
            "capabilities (afpacket)",
            &[
                checks::CAP_NET_RAW,
                checks::CAP_NET_ADMIN,
                checks::CAP_SYS_PTRACE,
                checks::CAP_DAC_READ_SEARCH,
            ],
            None,
        ),
        checks::filesystem(
            &mountinfo,
            "cgroup2",
            "cgroup2",
            "wire bytes, UDP remotes and close events need it",
            "mount -t cgroup2 none /sys/fs/cgroup",
        ),
        checks::filesystem(
            &mountinfo,
            "tracefs",
            "tracefs",
            "not needed by netoproc; useful for debugging",
            "mount -t tracefs nodev /sys/kernel/tracing",
        ),
        checks::filesystem(
            &mountinfo,
            "bpffs",
            "bpf",
            "not needed by netoproc; bpftool pins need it",
            "mount -t bpf bpf /sys/fs/bpf",
        ),
        checks::kprobes(sys),
        proc_connector(),
        afpacket_socket(),
    ];
    let afpacket_ok = list.last().is_some_and(|c| c.verdict == Verdict::Ok);
    let (hooks, hooks_error, ebpf_start) = probe_ebpf(proc_root);
    #[cfg(not(feature = "ebpf"))]
    let _ = hooks;
    if let Some(e) = &hooks_error {
        list.push(Check {
            name: "ebpf",
            verdict: Verdict::Fail,
            found: e.clone(),
            fix: Some("see the checks above (BTF, capabilities, lockdown)".into()),
        });
    }
    let auto = match ebpf_start {
        Ok(v) => AutoChoice {
            mode: AutoMode::Ebpf,
            hooks: Some(v.hooks),
            live_read: v.live_read,
            reason: format!(
                "the eBPF capture started: the {} rung attached, live sockets read with {}",
                v.hooks,
                v.live_read.unwrap_or("none")
            ),
            degraded: v.degraded,
        },
        Err(why) if afpacket_ok => AutoChoice {
            mode: AutoMode::Afpacket,
            hooks: None,
            live_read: None,
            reason: format!("eBPF is unavailable ({why}); packet capture works"),
            degraded: Vec::new(),
        },
        Err(why) => AutoChoice {
            mode: AutoMode::None,
            hooks: None,
            live_read: None,
            reason: format!("neither eBPF ({why}) nor AF_PACKET is available"),
            degraded: Vec::new(),
        },
    };
    DoctorReport {
        checks: list,
        #[cfg(feature = "ebpf")]
        hooks,
        hooks_error,
        auto,
    }
}

#[cfg(feature = "ebpf")]
type Probe = Option<netoproc_ebpf::probe::HookProbe>;
#[cfg(not(feature = "ebpf"))]
type Probe = Option<()>;

/// The hook table, why it could not be made, and what starting the eBPF
/// capture did.
type EbpfProbe = (Probe, Option<String>, Result<EbpfVerdict, String>);

#[cfg(feature = "ebpf")]
fn probe_ebpf(proc_root: &std::path::Path) -> EbpfProbe {
    use netoproc_core::backend::CaptureBackend;

    let opts = netoproc_ebpf::EbpfOptions {
        mountinfo: proc_root.join("self/mountinfo"),
        ..Default::default()
    };
    let (table, table_error) = match netoproc_ebpf::probe::probe_hooks(&opts) {
        Ok(p) => (Some(p), None),
        Err(e) => (None, Some(e.to_string())),
    };
    // The same start a capture runs; dropped at once (everything detaches).
    let start = netoproc_ebpf::EbpfCapture::start(&opts)
        .map(|c| {
            let info = c.info();
            EbpfVerdict {
                hooks: info.hooks.name(),
                live_read: info.live_read,
                degraded: info.degraded.clone(),
            }
        })
        .map_err(|e| e.to_string());
    (table, table_error, start)
}

#[cfg(not(feature = "ebpf"))]
fn probe_ebpf(_: &std::path::Path) -> EbpfProbe {
    let why = "this netoproc was built without the `ebpf` feature".to_string();
    (None, Some(why.clone()), Err(why))
}

/// Whether the proc connector delivers process events: AF_PACKET
/// attribution uses them to learn new processes' sockets at once.
fn proc_connector() -> Check {
    match netoproc_procfs::ProcEvents::start() {
        Ok(_) => Check {
            name: "proc_connector",
            verdict: Verdict::Ok,
            found: "process events (fork, exec, exit) are delivered".into(),
            fix: None,
        },
        Err(e) => Check {
            name: "proc_connector",
            verdict: Verdict::Warn,
            found: netoproc_core::error::Chain(&e).to_string(),
            fix: Some(
                "AF_PACKET attribution then rescans /proc instead; grant cap_net_admin and run \
                 in the host's network namespace"
                    .into(),
            ),
        },
    }
}

fn afpacket_socket() -> Check {
    // SAFETY: plain socket(2) call; the descriptor is closed right away.
    let fd = unsafe {
        libc::socket(
            libc::AF_PACKET,
            libc::SOCK_RAW,
            (libc::ETH_P_ALL as u16).to_be() as i32,
        )
    };
    if fd >= 0 {
        // SAFETY: fd was just returned by socket(2) and is owned here.
        unsafe { libc::close(fd) };
        Check {
            name: "af_packet",
            verdict: Verdict::Ok,
            found: "raw packet sockets can be opened".into(),
            fix: None,
        }
    } else {
        let e = io::Error::last_os_error();
        Check {
            name: "af_packet",
            verdict: Verdict::Fail,
            found: format!("socket(AF_PACKET) failed: {e}"),
            fix: Some("needs cap_net_raw (run as root or setcap cap_net_raw+ep)".into()),
        }
    }
}

fn mark(v: Verdict) -> &'static str {
    match v {
        Verdict::Ok => "ok  ",
        Verdict::Warn => "warn",
        Verdict::Fail => "FAIL",
        Verdict::Info => "info",
    }
}

fn write_pretty(out: &mut dyn Write, r: &DoctorReport) -> io::Result<()> {
    writeln!(out, "netoproc {} doctor", env!("CARGO_PKG_VERSION"))?;
    writeln!(out)?;
    for c in &r.checks {
        writeln!(out, "[{}] {:<28} {}", mark(c.verdict), c.name, c.found)?;
        if let Some(fix) = &c.fix {
            writeln!(out, "       {:<28} fix: {fix}", "")?;
        }
    }
    #[cfg(feature = "ebpf")]
    if let Some(h) = &r.hooks {
        writeln!(out, "\nBPF hooks (each attached for real, then detached):")?;
        for rung in &h.rungs {
            let verdict = if rung.usable { "usable" } else { "unusable" };
            writeln!(out, "  rung {:<11} {verdict}", rung.rung)?;
            for s in &rung.hooks {
                write_hook(out, s)?;
            }
        }
        writeln!(out, "  around every rung:")?;
        for s in &h.common {
            write_hook(out, s)?;
        }
        writeln!(
            out,
            "  reading live sockets and UDP remotes (any one path suffices):"
        )?;
        for s in &h.readers {
            write_hook(out, s)?;
        }
        for note in h.cgroup.iter().chain(&h.notes) {
            writeln!(out, "  note: {note}")?;
        }
    }
    writeln!(out)?;
    match r.auto.hooks {
        Some(h) => writeln!(
            out,
            "auto would use: {} with {h} hooks ({})",
            r.auto.mode, r.auto.reason
        )?,
        None => writeln!(out, "auto would use: {} ({})", r.auto.mode, r.auto.reason)?,
    }
    for d in &r.auto.degraded {
        writeln!(out, "  degraded: {d}")?;
    }
    Ok(())
}

#[cfg(feature = "ebpf")]
fn write_hook(out: &mut dyn Write, s: &netoproc_core::backend::HookStatus) -> io::Result<()> {
    let mark = if s.attached { "ok  " } else { "no  " };
    match &s.error {
        Some(e) => writeln!(out, "    {mark}  {:<34} {}: {e}", s.attach_point, s.feeds),
        None => writeln!(out, "    {mark}  {:<34} {}", s.attach_point, s.feeds),
    }
}
