//! The scripted traffic the front-ends' tests drive through the real engine
//! (test-only): three processes over four ticks, one connection closing
//! after the second read, on a [`StepClock`] and an empty proc root (so
//! nothing of the host is read). Shared by `snapshot_tests` and
//! `live_tests`, so both front-ends see the same story.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Parser;
use netoproc_core::Protocol;
use netoproc_engine::fake::{FakeBackend, FakeSocket, StepClock};

use crate::cli::Cli;

/// The sockets: curl downloads, firefox talks to two servers (one
/// connection closes after read 2, another opens at read 3), and a
/// resolver sends DNS over UDP.
pub fn sockets() -> Vec<FakeSocket> {
    let s =
        |cookie, pid, comm: &str, protocol, remote: ([u8; 4], u16), tx, rx, at, close| FakeSocket {
            cookie,
            pid,
            comm: comm.into(),
            protocol,
            remote: SocketAddr::from(remote),
            tx_per_read: tx,
            rx_per_read: rx,
            opens_at: at,
            closes_after: close,
        };
    use Protocol::{Tcp, Udp};
    vec![
        s(
            1,
            4242,
            "curl",
            Tcp,
            ([192, 0, 2, 10], 443),
            1_200,
            2_500_000,
            1,
            None,
        ),
        s(
            2,
            1717,
            "firefox",
            Tcp,
            ([198, 51, 100, 7], 443),
            40_000,
            900_000,
            1,
            Some(2),
        ),
        s(
            3,
            1717,
            "firefox",
            Tcp,
            ([203, 0, 113, 9], 8443),
            3_000,
            64_000,
            3,
            None,
        ),
        s(
            4,
            611,
            "systemd-resolve",
            Udp,
            ([192, 0, 2, 53], 53),
            90,
            300,
            1,
            None,
        ),
    ]
}

/// An empty directory as the proc root (no host process is named) and the
/// procfs crate's `/sys` fixture (two interfaces with real counters).
pub struct Roots {
    pub proc: tempfile::TempDir,
    pub sys: PathBuf,
}

impl Roots {
    pub fn new() -> Self {
        Roots {
            proc: tempfile::tempdir().expect("temp proc root"),
            sys: PathBuf::from(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../procfs/testdata/sys"
            )),
        }
    }

    /// The command line `netoproc <args> --proc-root … --sys-root …`.
    pub fn cli(&self, args: &[&str]) -> Cli {
        let mut argv: Vec<String> = std::iter::once("netoproc".to_string())
            .chain(args.iter().map(|a| a.to_string()))
            .collect();
        argv.push("--proc-root".into());
        argv.push(self.proc.path().display().to_string());
        argv.push("--sys-root".into());
        argv.push(self.sys.display().to_string());
        Cli::try_parse_from(argv).expect("the test's command line parses")
    }
}

/// A backend playing [`sockets`] on `clock`.
pub fn backend(clock: &StepClock) -> FakeBackend {
    FakeBackend::new(clock.clone(), sockets())
}
