//! Choosing and starting the capture backend for `--capture-mode`. The only
//! place that knows which backends exist; the run loop sees the core trait.

use netoproc_core::backend::CaptureBackend;

use crate::cli::{CaptureMode, Cli};
use crate::failure::Failure;

const AFPACKET_MISSING: &str = "the AF_PACKET capture mode is not part of this build yet; \
     use --capture-mode=ebpf (or auto) on a kernel with BTF (Linux 5.8+)";

pub fn open(cli: &Cli) -> Result<Box<dyn CaptureBackend>, Failure> {
    match cli.capture_mode {
        CaptureMode::Afpacket if cli.hooks != crate::cli::Hooks::Auto => Err(Failure::Usage(
            "--hooks chooses eBPF hooks; it cannot be used with --capture-mode=afpacket".into(),
        )),
        CaptureMode::Afpacket => Err(Failure::Unavailable(AFPACKET_MISSING.into())),
        CaptureMode::Auto | CaptureMode::Ebpf => open_ebpf(cli),
    }
}

#[cfg(feature = "ebpf")]
fn open_ebpf(cli: &Cli) -> Result<Box<dyn CaptureBackend>, Failure> {
    use crate::cli::Hooks;
    use netoproc_ebpf::{EbpfCapture, EbpfOptions, HookChoice, StartError};

    let opts = EbpfOptions {
        hooks: match cli.hooks {
            Hooks::Auto => HookChoice::Auto,
            Hooks::Tracepoint => HookChoice::Tracepoint,
            Hooks::Fentry => HookChoice::Fentry,
            Hooks::Kprobe => HookChoice::Kprobe,
        },
        ringbuf_bytes: cli.ringbuf_kib * 1024,
        mountinfo: cli.proc_root.join("self/mountinfo"),
        dns_ports: vec![53],
    };
    match EbpfCapture::start(&opts) {
        Ok(c) => Ok(Box::new(c)),
        Err(e @ StartError::Privileges(_)) => Err(Failure::Privileges(e.to_string())),
        Err(e @ StartError::Unavailable(_)) => Err(Failure::Unavailable(e.to_string())),
    }
}

#[cfg(not(feature = "ebpf"))]
fn open_ebpf(_cli: &Cli) -> Result<Box<dyn CaptureBackend>, Failure> {
    Err(Failure::Unavailable(
        "this netoproc was built without eBPF support (cargo feature `ebpf`); rebuild with default features".into(),
    ))
}
