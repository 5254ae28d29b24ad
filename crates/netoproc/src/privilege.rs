//! The privilege boundary. Installed with file capabilities (or set-user-ID),
//! netoproc runs with more privilege than the user who starts it, so what
//! that user controls — flags, environment variables — must not choose what
//! netoproc reads or writes, nor make the kernel allocate more than a
//! capability holder should. This module decides whether netoproc is
//! elevated and refuses such input before anything is opened; it does not
//! drop capabilities (that is `capabilities`).
//!
//! Refusing at run time rather than compiling the test-only roots out of
//! release builds: a cargo feature would be unified into any build that
//! also builds the test crates, so a release binary could carry the flags
//! without anyone noticing; and `--proc-root` has a real use as root (a
//! host `/proc` mounted into a container). The rule is a class, not a
//! list: every flag whose value is a path, present or future, at any
//! subcommand level, is refused when elevated.

use std::any::TypeId;
use std::ffi::OsString;
use std::path::PathBuf;

use clap::parser::ValueSource;
use clap::{ArgMatches, Command};

use crate::failure::Failure;

/// Why netoproc holds more privilege than its caller; `None` when it does
/// not (root, or a user whose own capabilities these are).
pub fn elevation() -> Option<&'static str> {
    // SAFETY: getauxval reads the auxiliary vector the kernel passed at
    // exec; it has no preconditions and returns 0 for an absent entry.
    let secure = unsafe { libc::getauxval(libc::AT_SECURE) } != 0;
    // SAFETY: these four calls cannot fail and take no arguments.
    let (uid, euid, gid, egid) = unsafe {
        (
            libc::getuid(),
            libc::geteuid(),
            libc::getgid(),
            libc::getegid(),
        )
    };
    if secure {
        Some("started with file capabilities or set-user/group-ID (AT_SECURE)")
    } else if uid != euid {
        Some("set-user-ID: effective user differs from the real one")
    } else if gid != egid {
        Some("set-group-ID: effective group differs from the real one")
    } else {
        None
    }
}

/// The environment: netoproc reads no variable of its own (no `NETOPROC_*`
/// setting exists), and none of its libraries reads a path from one. The C
/// library already removes `LD_*`, `TMPDIR`, `GCONV_PATH` and its other
/// unsafe variables in such a start; `TERM`, `COLORTERM`, `NO_COLOR`,
/// `CLICOLOR*`, `COLUMNS`, `LINES` only change colours and layout. What is
/// left is `RUST_BACKTRACE`/`RUST_LIB_BACKTRACE`, which would make a panic
/// print the privileged process's code addresses: [`quiet_panics`] makes
/// them inert instead of refusing to run for a user whose shell sets them.
pub fn quiet_panics(why: Option<&str>) {
    if why.is_none() {
        return;
    }
    std::panic::set_hook(Box::new(|info| {
        let msg = info
            .payload()
            .downcast_ref::<&str>()
            .copied()
            .or_else(|| info.payload().downcast_ref::<String>().map(String::as_str))
            .unwrap_or("(no message)");
        eprintln!("netoproc: internal error: {msg} (no backtrace: netoproc runs with more privilege than its caller)");
    }));
}

/// Refuses what an elevated netoproc must not accept: any path-valued flag
/// given on the command line or through the environment (clap `env`
/// attributes included). `why` is [`elevation`]'s answer; `None` accepts
/// everything.
pub fn check_input(
    command: &Command,
    matches: &ArgMatches,
    why: Option<&str>,
) -> Result<(), Failure> {
    let Some(why) = why else {
        return Ok(());
    };
    let refused = path_flags_given(command, matches, "");
    if refused.is_empty() {
        return Ok(());
    }
    Err(Failure::Privileges(format!(
        "refusing {}: netoproc runs with more privilege than you ({why}), so it does not let \
         its caller choose what it reads or writes. Run it without them, or run it as root",
        refused.join(", ")
    )))
}

/// The path-valued flags the caller set, as `--name` (with the subcommand
/// in front when inside one).
fn path_flags_given(command: &Command, matches: &ArgMatches, within: &str) -> Vec<String> {
    let mut found = Vec::new();
    for arg in command.get_arguments() {
        let parser = arg.get_value_parser().type_id();
        let is_path = parser == TypeId::of::<PathBuf>() || parser == TypeId::of::<OsString>();
        let given = matches!(
            matches.value_source(arg.get_id().as_str()),
            Some(ValueSource::CommandLine | ValueSource::EnvVariable)
        );
        if is_path && given {
            let name = arg
                .get_long()
                .map_or_else(|| arg.get_id().to_string(), |l| format!("--{l}"));
            found.push(format!("{within}{name}"));
        }
    }
    if let Some((name, sub_matches)) = matches.subcommand() {
        if let Some(sub) = command.find_subcommand(name) {
            found.extend(path_flags_given(
                sub,
                sub_matches,
                &format!("{within}{name} "),
            ));
        }
    }
    found
}

/// The largest sizes an elevated netoproc accepts: kernel memory a
/// capability holder may pin (rings are locked pages; the BPF ring buffer
/// is kernel memory) without being root.
pub mod bounds {
    /// `--ring-mib` per ring.
    pub const RING_MIB: u32 = 64;
    /// `--rings` per namespace.
    pub const RINGS: u16 = 4;
    /// `--max-netns`.
    pub const NAMESPACES: usize = 16;
    /// Rings × ring size × namespaces, in MiB.
    pub const TOTAL_RING_MIB: u64 = 1024;
    /// `--ringbuf-kib` (64 MiB).
    pub const RINGBUF_KIB: u32 = 64 << 10;
}

/// Sizes asked for on the command line, for [`check_sizes`].
#[derive(Debug, Clone, Copy)]
pub struct Sizes {
    pub ring_mib: u32,
    pub rings: u16,
    pub namespaces: usize,
    pub ringbuf_kib: u32,
}

/// Refuses sizes over [`bounds`] when elevated (exit 4: root may ask for
/// them).
pub fn check_sizes(s: Sizes, why: Option<&str>) -> Result<(), Failure> {
    let Some(why) = why else {
        return Ok(());
    };
    let total = u64::from(s.ring_mib) * u64::from(s.rings) * s.namespaces as u64;
    let over = [
        (s.ring_mib > bounds::RING_MIB)
            .then(|| format!("--ring-mib {} (at most {})", s.ring_mib, bounds::RING_MIB)),
        (s.rings > bounds::RINGS)
            .then(|| format!("--rings {} (at most {})", s.rings, bounds::RINGS)),
        (s.namespaces > bounds::NAMESPACES).then(|| {
            format!(
                "--max-netns {} (at most {})",
                s.namespaces,
                bounds::NAMESPACES
            )
        }),
        (total > bounds::TOTAL_RING_MIB).then(|| {
            format!(
                "{total} MiB of rings in all (--ring-mib × --rings × --max-netns; at most {})",
                bounds::TOTAL_RING_MIB
            )
        }),
        (s.ringbuf_kib > bounds::RINGBUF_KIB).then(|| {
            format!(
                "--ringbuf-kib {} (at most {})",
                s.ringbuf_kib,
                bounds::RINGBUF_KIB
            )
        }),
    ];
    let over: Vec<String> = over.into_iter().flatten().collect();
    if over.is_empty() {
        return Ok(());
    }
    Err(Failure::Privileges(format!(
        "too much kernel memory for a user without root: {} (netoproc runs with more \
         privilege than you: {why}). Ask for less, or run netoproc as root",
        over.join(", ")
    )))
}

#[cfg(test)]
#[path = "privilege_tests.rs"]
mod tests;
