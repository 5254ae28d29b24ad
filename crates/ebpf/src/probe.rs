//! Trying every hook for real, for `netoproc doctor`: loads the object, then
//! attaches each program of each rung, of the common set and every reading
//! iterator one by one and detaches it again, recording what the kernel
//! said. Nothing stays attached when the probe returns. The table is for
//! the reader; doctor's verdict comes from starting the capture itself
//! ([`crate::EbpfCapture::start`]), so the two can never disagree.

use netoproc_core::backend::HookStatus;
use serde::Serialize;

use crate::capture::{
    attach_iter, load_object, open_cgroup2, EbpfOptions, EbpfStartError, PEERS_DUMP, SOCKETS_DUMP,
};
use crate::ladder::{status, Attacher, Rung, COMMON, COUNTERS_NEED};
use crate::live_read::{TCP_ITER, UDP_ITER};

/// One rung's programs and whether the rung as a whole would work.
#[derive(Debug, Clone, Serialize)]
pub struct RungProbe {
    /// `counters`, `tracepoint`, `fentry` or `kprobe`.
    pub rung: &'static str,
    /// Every required hook attached.
    pub usable: bool,
    /// Each of the rung's programs, attached and detached again.
    pub hooks: Vec<HookStatus>,
}

/// What `doctor` found trying every hook.
#[derive(Debug, Clone, Serialize)]
pub struct HookProbe {
    /// Each rung of the byte-hook ladder, in ladder order.
    pub rungs: Vec<RungProbe>,
    /// Programs every rung runs beside its byte hooks (early owners, UDP
    /// remotes, closes, wire bytes); none is required.
    pub common: Vec<HookStatus>,
    /// The iterators that read live sockets and per-remote UDP counters.
    pub readers: Vec<HookStatus>,
    /// Why cgroup programs cannot run, if they cannot.
    pub cgroup: Vec<String>,
    /// Hooks that attached, but less well than they should (kretprobes
    /// with the kernel's small default pool when tracefs is missing).
    pub notes: Vec<String>,
}

/// Attaches and detaches every hook. Fails only when the object itself
/// cannot be loaded (no BTF, no privileges).
pub fn probe_hooks(opts: &EbpfOptions) -> Result<HookProbe, EbpfStartError> {
    let (mut ebpf, btf) = load_object(opts, false, false)?;
    let mut cgroup_notes = Vec::new();
    let cgroup = open_cgroup2(opts, &mut cgroup_notes);
    let mut attacher = Attacher::new(&mut ebpf, &btf, cgroup.as_ref());
    let mut rungs = Vec::new();
    for rung in Rung::ALL {
        let mut hooks = Vec::new();
        let mut usable = true;
        for h in rung.hooks() {
            let r = attacher.attach(h);
            usable &= r.is_ok() || !h.required;
            hooks.push(status(h, &r));
        }
        for h in rung.hooks() {
            attacher.unload(h);
        }
        rungs.push(RungProbe {
            rung: rung.name(),
            usable,
            hooks,
        });
    }
    let common: Vec<HookStatus> = COMMON
        .iter()
        .map(|h| status(h, &attacher.attach(h)))
        .collect();
    let mut notes = std::mem::take(&mut attacher.notes);
    notes.dedup();
    let readers: Vec<HookStatus> = [SOCKETS_DUMP, TCP_ITER, UDP_ITER, PEERS_DUMP]
        .iter()
        .map(|spec| spec.status(attach_iter(&mut ebpf, &btf, spec).err().as_ref()))
        .collect();
    // The counter path also needs some common programs and the socket
    // iterators.
    let attached = |list: &[HookStatus], program: &str| {
        list.iter().any(|s| s.program == program && s.attached)
    };
    let counters_ok = COUNTERS_NEED.iter().all(|p| attached(&common, p))
        && [TCP_ITER, UDP_ITER]
            .iter()
            .all(|d| attached(&readers, d.program));
    for r in rungs.iter_mut().filter(|r| r.rung == Rung::Counters.name()) {
        r.usable &= counters_ok;
    }
    Ok(HookProbe {
        rungs,
        common,
        readers,
        cgroup: cgroup_notes,
        notes,
    })
}
