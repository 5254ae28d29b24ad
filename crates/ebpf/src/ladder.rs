//! The hook ladder: which programs count bytes on this kernel. First the
//! counter path (no program per send or receive call: the object is loaded
//! with `np_counter_mode` and needs the TCP state tracepoint, the cgroup
//! programs and the socket iterators); where it cannot run, three rungs of
//! per-call hooks, tried in order (or one forced with `--hooks`):
//! tracepoints (6.3+), fentry/fexit (BTF kernels), kprobes (anything else).
//! The first rung whose required programs all load and attach wins; a rung
//! that fails half-way is unloaded again so two rungs never count the same
//! bytes. Each attempt is recorded as a [`HookStatus`] for `meta` and
//! `doctor`.

use std::fmt;
use std::fs::File;
use std::os::fd::AsFd;

use aya::programs::{
    BtfTracePoint, CgroupAttachMode, CgroupSkb, CgroupSkbAttachType, CgroupSock, CgroupSockAddr,
    FExit, KProbe,
};
use aya::{Btf, Ebpf};
use netoproc_core::backend::HookStatus;

use crate::error::{AttachError, RungError};
use crate::kretprobe::{self, TracefsKretprobe};

pub use netoproc_core::backend::HookChoice;

/// A rung of the ladder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rung {
    /// No per-call hooks: the kernel's TCP socket counters, UDP packets.
    Counters,
    /// BTF tracepoints (`tp_btf/sock_send_length`, ...): Linux 6.3+.
    Tracepoint,
    /// fexit programs on the socket calls: kernels with BTF.
    Fentry,
    /// kprobes and kretprobes: any kernel.
    Kprobe,
}

impl Rung {
    /// Every rung, in the order `auto` tries them.
    pub const ALL: [Rung; 4] = [Rung::Counters, Rung::Tracepoint, Rung::Fentry, Rung::Kprobe];

    /// The rungs of per-call hooks, in the order `calls` tries them.
    pub const CALLS: [Rung; 3] = [Rung::Tracepoint, Rung::Fentry, Rung::Kprobe];

    /// The name `--hooks` and `meta.hooks` use.
    pub fn name(self) -> &'static str {
        match self {
            Rung::Counters => "counters",
            Rung::Tracepoint => "tracepoint",
            Rung::Fentry => "fentry",
            Rung::Kprobe => "kprobe",
        }
    }

    /// The same rung as reports name it.
    pub fn hook_rung(self) -> netoproc_core::backend::HookRung {
        use netoproc_core::backend::HookRung;
        match self {
            Rung::Counters => HookRung::Counters,
            Rung::Tracepoint => HookRung::Tracepoint,
            Rung::Fentry => HookRung::Fentry,
            Rung::Kprobe => HookRung::Kprobe,
        }
    }

    /// The rung's byte hooks (the [`COMMON`] programs come on top).
    pub fn hooks(self) -> &'static [Hook] {
        match self {
            Rung::Counters => COUNTERS_RUNG,
            Rung::Tracepoint => TRACEPOINT_RUNG,
            Rung::Fentry => FENTRY_RUNG,
            Rung::Kprobe => KPROBE_RUNG,
        }
    }
}

impl fmt::Display for Rung {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The rungs to try for `choice`, in order.
pub fn rungs(choice: HookChoice) -> &'static [Rung] {
    match choice {
        HookChoice::Auto => &Rung::ALL,
        HookChoice::Counters => &[Rung::Counters],
        HookChoice::Calls => &Rung::CALLS,
        HookChoice::Tracepoint => &[Rung::Tracepoint],
        HookChoice::Fentry => &[Rung::Fentry],
        HookChoice::Kprobe => &[Rung::Kprobe],
    }
}

/// How a program attaches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HookKind {
    /// A BTF-enabled tracepoint (`tp_btf/`).
    TpBtf,
    /// An fexit program on a kernel function.
    FExit,
    /// kprobe or kretprobe (the ELF section decides which).
    KProbe,
    /// A `cgroup/connect*`, `sendmsg*` or `recvmsg*` program on the cgroup
    /// v2 root.
    CgroupSockAddr,
    /// A `cgroup/sock_release` or `cgroup/sock_create` program on the
    /// cgroup v2 root.
    CgroupSock,
    /// A `cgroup_skb` program on the cgroup v2 root, one direction.
    CgroupSkb(SkbDirection),
}

/// Which way a `cgroup_skb` program sees packets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SkbDirection {
    /// Leaving the host's sockets.
    Egress,
    /// Arriving at the host's sockets.
    Ingress,
}

/// One program of the object and where it goes.
#[derive(Debug, Clone, Copy)]
pub struct Hook {
    /// The program's name in the object, e.g. `np_tp_send`.
    pub program: &'static str,
    /// How it attaches.
    pub kind: HookKind,
    /// Tracepoint or kernel function name; empty for cgroup programs.
    pub target: &'static str,
    /// What it feeds: `bytes`, `udp-remote`, `close`, `wire`, ...
    pub feeds: &'static str,
    /// A rung whose required hook fails is not used.
    pub required: bool,
}

const fn hook(
    program: &'static str,
    kind: HookKind,
    target: &'static str,
    feeds: &'static str,
    required: bool,
) -> Hook {
    Hook {
        program,
        kind,
        target,
        feeds,
        required,
    }
}

use HookKind::*;

/// The counter path's own programs; it also needs [`COUNTERS_NEED`] of the
/// common programs, and the socket iterators.
const COUNTERS_RUNG: &[Hook] = &[
    hook("np_sock_create", CgroupSock, "", "owner", true),
    hook(TCP_DESTROY, TpBtf, "tcp_destroy_sock", "bytes", true),
];

/// The common programs the counter path cannot count without: TCP payload
/// is read at state changes, UDP payload from packets, and sockets are
/// released in `np_sock_release`.
pub const COUNTERS_NEED: &[&str] = &[
    TCP_STATE,
    "np_skb_egress",
    "np_skb_ingress",
    "np_sock_release",
];

const TRACEPOINT_RUNG: &[Hook] = &[
    hook("np_tp_send", TpBtf, "sock_send_length", "bytes", true),
    hook("np_tp_recv", TpBtf, "sock_recv_length", "bytes", true),
    // 6.3 and 6.4 have the tracepoints but still route sendfile via sendpage.
    hook(
        "np_fexit_inet_sendpage",
        FExit,
        "inet_sendpage",
        "bytes",
        false,
    ),
];

const FENTRY_RUNG: &[Hook] = &[
    hook(
        "np_fexit_inet_sendmsg",
        FExit,
        "inet_sendmsg",
        "bytes",
        true,
    ),
    hook(
        "np_fexit_inet6_sendmsg",
        FExit,
        "inet6_sendmsg",
        "bytes",
        true,
    ),
    hook(
        "np_fexit_inet_recvmsg",
        FExit,
        "inet_recvmsg",
        "bytes",
        true,
    ),
    hook(
        "np_fexit_inet6_recvmsg",
        FExit,
        "inet6_recvmsg",
        "bytes",
        true,
    ),
    hook(
        "np_fexit_inet_sendpage",
        FExit,
        "inet_sendpage",
        "bytes",
        false,
    ),
];

const KPROBE_RUNG: &[Hook] = &[
    hook("np_kp_inet_sendmsg", KProbe, "inet_sendmsg", "bytes", true),
    hook("np_krp_inet_sendmsg", KProbe, "inet_sendmsg", "bytes", true),
    hook(
        "np_kp_inet6_sendmsg",
        KProbe,
        "inet6_sendmsg",
        "bytes",
        true,
    ),
    hook(
        "np_krp_inet6_sendmsg",
        KProbe,
        "inet6_sendmsg",
        "bytes",
        true,
    ),
    hook("np_kp_inet_recvmsg", KProbe, "inet_recvmsg", "bytes", true),
    hook("np_krp_inet_recvmsg", KProbe, "inet_recvmsg", "bytes", true),
    hook(
        "np_kp_inet6_recvmsg",
        KProbe,
        "inet6_recvmsg",
        "bytes",
        true,
    ),
    hook(
        "np_krp_inet6_recvmsg",
        KProbe,
        "inet6_recvmsg",
        "bytes",
        true,
    ),
    hook("np_kp_inet_release", KProbe, "inet_release", "close", true),
    hook(
        "np_kp_inet_sendpage",
        KProbe,
        "inet_sendpage",
        "bytes",
        false,
    ),
    hook(
        "np_krp_inet_sendpage",
        KProbe,
        "inet_sendpage",
        "bytes",
        false,
    ),
];

/// The TCP state-change hook: lifecycle steps and the final close.
pub const TCP_STATE: &str = "np_tcp_state";

/// The counter path's socket-destroy hook: a TCP socket's final payload
/// and its one record.
pub const TCP_DESTROY: &str = "np_tcp_destroy";

/// Programs every rung runs beside its byte hooks. None is required: each
/// failure degrades only what it feeds.
pub const COMMON: &[Hook] = &[
    hook("np_connect4", CgroupSockAddr, "", "early-owner", false),
    hook("np_connect6", CgroupSockAddr, "", "early-owner", false),
    hook("np_sendmsg4", CgroupSockAddr, "", "udp-remote", false),
    hook("np_sendmsg6", CgroupSockAddr, "", "udp-remote", false),
    hook("np_recvmsg4", CgroupSockAddr, "", "udp-remote", false),
    hook("np_recvmsg6", CgroupSockAddr, "", "udp-remote", false),
    hook("np_sock_release", CgroupSock, "", "close", false),
    hook(TCP_STATE, TpBtf, "inet_sock_set_state", "close", false),
    hook(
        "np_tcp_retrans",
        TpBtf,
        "tcp_retransmit_skb",
        "lifecycle",
        false,
    ),
    hook(
        "np_skb_egress",
        CgroupSkb(SkbDirection::Egress),
        "",
        "wire",
        false,
    ),
    hook(
        "np_skb_ingress",
        CgroupSkb(SkbDirection::Ingress),
        "",
        "wire",
        false,
    ),
];

/// Everything needed to attach: the object, kernel BTF, the cgroup v2 root,
/// tracefs (for return probes with a big instance pool).
pub struct Attacher<'a> {
    /// The loaded object.
    pub ebpf: &'a mut Ebpf,
    /// The kernel's BTF, for tracepoint and fexit programs.
    pub btf: &'a Btf,
    /// The cgroup v2 root, open; `None`: cgroup programs cannot attach.
    pub cgroup: Option<&'a File>,
    tracefs: Option<kretprobe::Tracefs>,
    /// Return probes made through tracefs; attached while held.
    pub kretprobes: Vec<TracefsKretprobe>,
    /// What attached, but less well than it should (for `degraded`).
    pub notes: Vec<String>,
}

impl<'a> Attacher<'a> {
    /// An attacher for `ebpf`; finds (or privately mounts) tracefs and
    /// removes return probes a previous run left behind.
    pub fn new(ebpf: &'a mut Ebpf, btf: &'a Btf, cgroup: Option<&'a File>) -> Self {
        let tracefs = kretprobe::Tracefs::find();
        if let Some(t) = &tracefs {
            kretprobe::remove_stale(&t.root);
        }
        Attacher {
            ebpf,
            btf,
            cgroup,
            tracefs,
            kretprobes: Vec::new(),
            notes: Vec::new(),
        }
    }

    /// A return probe with [`kretprobe::MAXACTIVE`] instances through
    /// tracefs; where that fails, aya's with the kernel's default pool, and
    /// a note saying returns may be missed (they are counted).
    fn attach_kretprobe(&mut self, h: &Hook) -> Result<(), AttachError> {
        let prog = self
            .ebpf
            .program_mut(h.program)
            .ok_or(AttachError::MissingProgram(h.program))?;
        let p: &mut KProbe = prog.try_into()?;
        p.load()?;
        let tracefs = match &self.tracefs {
            Some(t) => {
                let fd = p.fd()?;
                match TracefsKretprobe::attach(t, h.program, fd.as_fd(), h.target) {
                    Ok(k) => {
                        self.kretprobes.push(k);
                        return Ok(());
                    }
                    Err(e) => format!(
                        "creating it in {}/kprobe_events failed: {}",
                        t.root.display(),
                        error_chain(&e)
                    ),
                }
            }
            None => "tracefs is not mounted and could not be mounted privately".to_string(),
        };
        p.attach(h.target, 0)?;
        self.notes.push(format!(
            "bytes: kretprobe/{} has the kernel's default of max(10, 2 x CPUs) calls in flight ({tracefs}); \
             returns beyond that are missed and counted in kretprobe_misses",
            h.target
        ));
        Ok(())
    }

    /// Loads and attaches one hook.
    pub fn attach(&mut self, h: &Hook) -> Result<(), AttachError> {
        let btf = self.btf;
        let cgroup = || self.cgroup.ok_or(AttachError::NoCgroup);
        let cg = match h.kind {
            CgroupSockAddr | CgroupSock | CgroupSkb(_) => Some(cgroup()?),
            _ => None,
        };
        let prog = self
            .ebpf
            .program_mut(h.program)
            .ok_or(AttachError::MissingProgram(h.program))?;
        match (h.kind, cg) {
            (TpBtf, _) => {
                let p: &mut BtfTracePoint = prog.try_into()?;
                p.load(h.target, btf)?;
                p.attach()?;
            }
            (FExit, _) => {
                let p: &mut FExit = prog.try_into()?;
                p.load(h.target, btf)?;
                p.attach()?;
            }
            (KProbe, _) if h.program.starts_with("np_krp_") => {
                return self.attach_kretprobe(h);
            }
            (KProbe, _) => {
                let p: &mut KProbe = prog.try_into()?;
                p.load()?;
                p.attach(h.target, 0)?;
            }
            (CgroupSockAddr, Some(cg)) => {
                let p: &mut CgroupSockAddr = prog.try_into()?;
                p.load()?;
                p.attach(cg, CgroupAttachMode::Single)?;
            }
            (CgroupSock, Some(cg)) => {
                let p: &mut CgroupSock = prog.try_into()?;
                p.load()?;
                p.attach(cg, CgroupAttachMode::Single)?;
            }
            (CgroupSkb(dir), Some(cg)) => {
                let p: &mut CgroupSkb = prog.try_into()?;
                p.load()?;
                let t = match dir {
                    SkbDirection::Egress => CgroupSkbAttachType::Egress,
                    SkbDirection::Ingress => CgroupSkbAttachType::Ingress,
                };
                p.attach(cg, t, CgroupAttachMode::Single)?;
            }
            (_, None) => unreachable!("cgroup hooks always have a cgroup here"),
        }
        Ok(())
    }

    /// Detaches and unloads one hook (after a rung failed half-way).
    pub fn unload(&mut self, h: &Hook) {
        self.kretprobes.retain(|k| k.program != h.program);
        let Some(prog) = self.ebpf.program_mut(h.program) else {
            return;
        };
        let _ = match h.kind {
            TpBtf => <&mut BtfTracePoint>::try_from(prog).map(|p| p.unload()),
            FExit => <&mut FExit>::try_from(prog).map(|p| p.unload()),
            KProbe => <&mut KProbe>::try_from(prog).map(|p| p.unload()),
            _ => return,
        };
    }

    /// Tries one rung. On success returns the statuses of all its hooks; on
    /// failure unloads what it attached and returns why.
    pub fn try_rung(&mut self, rung: Rung) -> Result<Vec<HookStatus>, RungError> {
        let mut statuses = Vec::new();
        for h in rung.hooks() {
            let result = self.attach(h);
            statuses.push(status(h, &result));
            if let Err(e) = result {
                if h.required {
                    for done in rung.hooks() {
                        self.unload(done);
                    }
                    return Err(RungError {
                        program: h.program,
                        attach_point: attach_point(h),
                        source: e,
                    });
                }
            }
        }
        Ok(statuses)
    }
}

/// Where `h` attaches, as `meta` and `doctor` show it: `tp_btf/...`,
/// `fexit/...`, `kprobe/...`, `kretprobe/...`, `cgroup/...`.
pub fn attach_point(h: &Hook) -> String {
    match h.kind {
        TpBtf => format!("tp_btf/{}", h.target),
        FExit => format!("fexit/{}", h.target),
        KProbe if h.program.starts_with("np_krp_") => format!("kretprobe/{}", h.target),
        KProbe => format!("kprobe/{}", h.target),
        CgroupSockAddr => format!("cgroup/{}", h.program.trim_start_matches("np_")),
        CgroupSock => format!("cgroup/{}", h.program.trim_start_matches("np_")),
        CgroupSkb(SkbDirection::Egress) => "cgroup_skb/egress".into(),
        CgroupSkb(SkbDirection::Ingress) => "cgroup_skb/ingress".into(),
    }
}

/// The reported status of `h` after an attach attempt ended in `result`.
pub fn status(h: &Hook, result: &Result<(), AttachError>) -> HookStatus {
    HookStatus {
        program: h.program.to_string(),
        attach_point: attach_point(h),
        feeds: h.feeds,
        attached: result.is_ok(),
        error: result.as_ref().err().map(|e| error_chain(e)),
    }
}

/// An error and its sources on one line. A verifier log is cut to its
/// first line and its last lines, where the reason is.
pub fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let s = explain(netoproc_core::error::Chain(e).to_string());
    let lines: Vec<&str> = s.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
    if lines.len() <= 3 {
        return lines.join(" ");
    }
    // The verifier ends with statistics; the reason is the line before them.
    let is_stat = |l: &&str| {
        l.starts_with("verification time")
            || l.starts_with("stack depth")
            || l.starts_with("processed ")
            || l.starts_with(": ")
    };
    let reason_end = lines
        .iter()
        .rposition(|l| !is_stat(l))
        .unwrap_or(lines.len() - 1);
    let start = reason_end.saturating_sub(2).max(1);
    let mut tail: Vec<&str> = lines[start..=reason_end].to_vec();
    if let Some(last) = lines.last().filter(|l| l.starts_with(": ")) {
        tail.push(last);
    }
    format!("{} … {}", lines[0], tail.join(" | "))
}

/// Drops an empty verifier log and names what well-known failures mean.
fn explain(mut s: String) -> String {
    let trimmed = s
        .trim_end()
        .trim_end_matches("Verifier output:")
        .trim_end()
        .trim_end_matches('.');
    s.truncate(trimmed.len());
    // Refused before the verifier looked at one instruction: a policy, not
    // the program (lockdown or a BPF LSM refusing the program type).
    if let Some(at) = s.find(". Verifier output:") {
        if s[at..].contains("processed 0 insns") {
            s.truncate(at);
            s.push_str(" before verification (a kernel policy refuses this program type: lockdown or a BPF LSM)");
        }
    }
    if s.contains("unknown BTF type `inet_sendpage`") {
        s.push_str(" (gone since Linux 6.5: sendfile goes through sendmsg there)");
    }
    if s.contains("/sys/bus/event_source/devices/kprobe/type") {
        s.push_str(" (this kernel has no kprobe support: CONFIG_KPROBES is not set)");
    }
    s
}

/// The OS error code behind an error, if any (EPERM tells "no privileges").
pub fn os_error(e: &(dyn std::error::Error + 'static)) -> Option<i32> {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            if let Some(code) = io.raw_os_error() {
                return Some(code);
            }
        }
        cur = err.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Msg(String, Option<Box<Msg>>);
    impl std::fmt::Display for Msg {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(&self.0)
        }
    }
    impl std::error::Error for Msg {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            self.1.as_deref().map(|m| m as _)
        }
    }

    #[test]
    fn verifier_log_keeps_its_reason() {
        let log = "the BPF_PROG_LOAD syscall returned Permission denied (os error 13). Verifier output: 0: R1=ctx()\n\
                   1: (61) r1 = *(u32 *)(r6 +36)\n\
                   21: (61) r1 = *(u32 *)(r6 +8)\n\
                   invalid bpf_context access off=8 size=4\n\
                   verification time 295 usec\n\
                   stack depth 40\n\
                   processed 32 insns (limit 1000000) max_states_per_insn 0";
        let s = error_chain(&Msg(log.into(), None));
        assert!(s.contains("invalid bpf_context access off=8 size=4"), "{s}");
        assert!(
            s.starts_with("the BPF_PROG_LOAD syscall returned Permission denied"),
            "{s}"
        );
        assert!(!s.contains("verification time"), "{s}");
    }

    #[test]
    fn repeated_causes_are_said_once_and_known_failures_explained() {
        let inner = Msg("failed to create map `np_peers`".into(), None);
        let outer = Msg(
            "map error: failed to create map `np_peers`".into(),
            Some(Box::new(inner)),
        );
        assert_eq!(
            error_chain(&outer),
            "map error: failed to create map `np_peers`"
        );
        let kp = Msg(
            "`/sys/bus/event_source/devices/kprobe/type`: No such file or directory".into(),
            None,
        );
        assert!(error_chain(&kp).contains("CONFIG_KPROBES is not set"));
        let empty = Msg(
            "returned Operation not permitted (os error 1). Verifier output:".into(),
            None,
        );
        assert_eq!(
            error_chain(&empty),
            "returned Operation not permitted (os error 1)"
        );
    }

    #[test]
    fn hook_choice_orders_rungs() {
        assert_eq!(rungs(HookChoice::Auto), &Rung::ALL);
        assert_eq!(rungs(HookChoice::Auto)[0], Rung::Counters);
        assert_eq!(rungs(HookChoice::Calls), &Rung::CALLS);
        assert!(!rungs(HookChoice::Calls).contains(&Rung::Counters));
        assert_eq!(rungs(HookChoice::Kprobe), &[Rung::Kprobe]);
        assert_eq!(attach_point(&COUNTERS_RUNG[0]), "cgroup/sock_create");
        for need in COUNTERS_NEED {
            assert!(COMMON.iter().any(|h| h.program == *need), "{need}");
        }
        assert_eq!(attach_point(&KPROBE_RUNG[1]), "kretprobe/inet_sendmsg");
        assert!(TRACEPOINT_RUNG.iter().filter(|h| h.required).count() == 2);
    }
}
