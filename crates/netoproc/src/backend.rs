//! Choosing and starting the capture backend for `--capture-mode`. The only
//! place that knows which backends exist; the run loop sees the core trait.

use netoproc_core::backend::CaptureBackend;

use netoproc_core::backend::HookChoice;

use crate::cli::{CaptureMode, Cli};
use crate::failure::Failure;
use netoproc_core::backend::LiveReadChoice;

pub fn open(cli: &Cli, elevated: Option<&str>) -> Result<Box<dyn CaptureBackend>, Failure> {
    let afpacket_flags = cli.interface.is_some()
        || cli.rings.is_some()
        || cli.ring_mib.is_some()
        || cli.max_netns.is_some()
        || cli.max_flows.is_some();
    check_sizes(cli, elevated)?;
    if cli.hooks == HookChoice::Counters
        && !matches!(
            cli.live_read,
            LiveReadChoice::Auto | LiveReadChoice::SocketIter
        )
    {
        return Err(Failure::Usage(
            "--hooks counters reads live sockets with the socket iterators; \
             --live-read can only be socket-iter with it"
                .into(),
        ));
    }
    match cli.capture_mode {
        CaptureMode::Afpacket if cli.hooks != HookChoice::Auto => Err(Failure::Usage(
            "--hooks chooses eBPF hooks; it cannot be used with --capture-mode=afpacket".into(),
        )),
        CaptureMode::Afpacket if cli.live_read != LiveReadChoice::Auto => Err(Failure::Usage(
            "--live-read chooses how eBPF reads sockets; it cannot be used with --capture-mode=afpacket"
                .into(),
        )),
        CaptureMode::Afpacket => open_afpacket(cli, elevated),
        CaptureMode::Ebpf if afpacket_flags => Err(Failure::Usage(
            "--interface, --rings, --ring-mib, --max-netns and --max-flows set up AF_PACKET \
             capture; they \
             cannot be used with --capture-mode=ebpf"
                .into(),
        )),
        CaptureMode::Ebpf => open_ebpf(cli),
        // Hooks or a live-read path asked for by name mean eBPF or nothing.
        CaptureMode::Auto if cli.hooks != HookChoice::Auto || cli.live_read != LiveReadChoice::Auto => {
            open_ebpf(cli)
        }
        CaptureMode::Auto => match open_ebpf(cli) {
            Ok(b) => Ok(b),
            Err(ebpf @ (Failure::Unavailable(_) | Failure::Privileges(_))) => {
                fall_back(cli, elevated, ebpf)
            }
            Err(e) => Err(e),
        },
    }
}

/// The AF_PACKET namespace limit: `--max-netns`, else the default for
/// this privilege.
fn max_namespaces(cli: &Cli, elevated: Option<&str>) -> usize {
    match (cli.max_netns, elevated) {
        (Some(n), _) => usize::from(n),
        (None, Some(_)) => crate::privilege::bounds::NAMESPACES,
        (None, None) => netoproc_afpacket::capture::DEFAULT_MAX_NAMESPACES,
    }
}

/// Sizes that make the kernel allocate memory, over the bounds of a user
/// without root, are refused before anything is opened.
fn check_sizes(cli: &Cli, elevated: Option<&str>) -> Result<(), Failure> {
    let defaults = netoproc_afpacket::capture::AfPacketOptions::default();
    crate::privilege::check_sizes(
        crate::privilege::Sizes {
            ring_mib: cli.ring_mib.unwrap_or(defaults.ring_mib),
            rings: cli.rings.unwrap_or(1),
            namespaces: max_namespaces(cli, elevated),
            ringbuf_kib: cli.ringbuf_kib,
        },
        elevated,
    )
}

/// `auto` when eBPF cannot start: AF_PACKET, with one line saying why.
fn fall_back(
    cli: &Cli,
    elevated: Option<&str>,
    ebpf: Failure,
) -> Result<Box<dyn CaptureBackend>, Failure> {
    match open_afpacket(cli, elevated) {
        Ok(b) => {
            eprintln!("netoproc: eBPF unavailable ({ebpf}); capturing with AF_PACKET");
            Ok(b)
        }
        Err(Failure::Privileges(af)) => Err(if matches!(ebpf, Failure::Privileges(_)) {
            Failure::Privileges(format!("{ebpf}; AF_PACKET fallback: {af}"))
        } else {
            Failure::Privileges(format!("eBPF: {ebpf}; AF_PACKET fallback: {af}"))
        }),
        Err(Failure::Unavailable(af)) => Err(Failure::Unavailable(format!(
            "{ebpf}; AF_PACKET fallback: {af}"
        ))),
        Err(other) => Err(other),
    }
}

fn open_afpacket(cli: &Cli, elevated: Option<&str>) -> Result<Box<dyn CaptureBackend>, Failure> {
    use netoproc_afpacket::capture::{AfPacketCapture, AfPacketOptions, AfPacketStartError};

    let defaults = AfPacketOptions::default();
    let opts = AfPacketOptions {
        interface: cli.interface.clone(),
        rings: cli.rings.map_or(defaults.rings, usize::from),
        ring_mib: cli.ring_mib.unwrap_or(defaults.ring_mib),
        // --ring-mib sizes every ring; by default other namespaces' are
        // smaller (their pages are resident from the start).
        other_ring_mib: cli.ring_mib.unwrap_or(defaults.other_ring_mib),
        proc_root: cli.proc_root.clone(),
        cgroup_root: cli.sys_root.join("fs/cgroup"),
        dns_ports: cli.dns_ports.0.clone(),
        max_namespaces: max_namespaces(cli, elevated),
        max_flows: cli.max_flows.map_or(defaults.max_flows, |n| n as usize),
        ..defaults
    };
    match AfPacketCapture::start(&opts) {
        Ok(c) => Ok(Box::new(c)),
        Err(e @ AfPacketStartError::Privileges(_)) => Err(Failure::Privileges(e.to_string())),
        Err(e @ (AfPacketStartError::UnknownInterface(_) | AfPacketStartError::Invalid(_))) => {
            Err(Failure::Usage(e.to_string()))
        }
        Err(e @ AfPacketStartError::Unavailable(_)) => Err(Failure::Unavailable(e.to_string())),
    }
}

#[cfg(feature = "ebpf")]
fn open_ebpf(cli: &Cli) -> Result<Box<dyn CaptureBackend>, Failure> {
    use netoproc_ebpf::{EbpfCapture, EbpfOptions, EbpfStartError};

    let opts = EbpfOptions {
        hooks: cli.hooks,
        ringbuf_bytes: cli.ringbuf_kib * 1024,
        mountinfo: cli.proc_root.join("self/mountinfo"),
        dns_ports: cli.dns_ports.0.clone(),
        live_read: cli.live_read,
        // Steps before close are sent only to a stream that prints them.
        lifecycle_steps: matches!(cli.command, Some(crate::cli::Command::Watch(_))),
    };
    match EbpfCapture::start(&opts) {
        Ok(c) => Ok(Box::new(c)),
        Err(e @ EbpfStartError::Privileges(_)) => Err(Failure::Privileges(e.to_string())),
        Err(e @ EbpfStartError::Unavailable(_)) => Err(Failure::Unavailable(e.to_string())),
    }
}

#[cfg(not(feature = "ebpf"))]
fn open_ebpf(_cli: &Cli) -> Result<Box<dyn CaptureBackend>, Failure> {
    Err(Failure::Unavailable(
        "this netoproc was built without eBPF support (cargo feature `ebpf`); rebuild with default features".into(),
    ))
}
