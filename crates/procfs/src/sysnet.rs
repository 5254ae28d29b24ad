//! The kernel's per-interface counters, read from
//! `SYS/class/net/*/statistics/*` under an injected `/sys` root so tests run
//! on a fixture. Only reads files; the live view's interfaces tab and the
//! agent's coverage metrics compare these with what netoproc attributed to
//! processes.
//!
//! Hand-written: eight one-number files per interface; the `sysinfo` or
//! netlink crates would bring far more than this needs and hide the root.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// One interface's counters, as the kernel keeps them (since boot, or
/// since netoproc started once a baseline is taken off).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InterfaceCounters {
    /// The interface's name (the directory under `class/net`).
    pub name: String,
    /// `statistics/rx_bytes`: bytes received, link-layer headers included.
    pub rx_bytes: u64,
    /// `statistics/tx_bytes`: bytes sent, link-layer headers included.
    pub tx_bytes: u64,
    /// `statistics/rx_packets`.
    pub rx_packets: u64,
    /// `statistics/tx_packets`.
    pub tx_packets: u64,
    /// `statistics/rx_errors`: bad frames received.
    pub rx_errors: u64,
    /// `statistics/tx_errors`: frames the device failed to send.
    pub tx_errors: u64,
    /// `statistics/rx_dropped`: received, then dropped by the kernel.
    pub rx_dropped: u64,
    /// `statistics/tx_dropped`: dropped before they were sent.
    pub tx_dropped: u64,
}

impl InterfaceCounters {
    /// Receive and transmit errors together.
    pub fn errors(&self) -> u64 {
        self.rx_errors + self.tx_errors
    }

    /// Receive and transmit drops together.
    pub fn drops(&self) -> u64 {
        self.rx_dropped + self.tx_dropped
    }

    /// What moved since `earlier` (a counter reset counts from zero).
    pub fn since(&self, earlier: &InterfaceCounters) -> InterfaceCounters {
        let d = |now: u64, then: u64| now.checked_sub(then).unwrap_or(now);
        InterfaceCounters {
            name: self.name.clone(),
            rx_bytes: d(self.rx_bytes, earlier.rx_bytes),
            tx_bytes: d(self.tx_bytes, earlier.tx_bytes),
            rx_packets: d(self.rx_packets, earlier.rx_packets),
            tx_packets: d(self.tx_packets, earlier.tx_packets),
            rx_errors: d(self.rx_errors, earlier.rx_errors),
            tx_errors: d(self.tx_errors, earlier.tx_errors),
            rx_dropped: d(self.rx_dropped, earlier.rx_dropped),
            tx_dropped: d(self.tx_dropped, earlier.tx_dropped),
        }
    }
}

/// A `/sys` tree (normally `/sys`).
#[derive(Debug, Clone)]
pub struct SysClassNet {
    root: PathBuf,
}

impl Default for SysClassNet {
    fn default() -> Self {
        SysClassNet::new("/sys")
    }
}

impl SysClassNet {
    /// Reads under `sys_root` (`/sys` outside tests).
    pub fn new(sys_root: impl Into<PathBuf>) -> Self {
        SysClassNet {
            root: sys_root.into(),
        }
    }

    /// The `/sys` root this reads under.
    pub fn path(&self) -> &Path {
        &self.root
    }

    /// Every interface's counters, sorted by name. An interface that
    /// vanishes while being read is skipped; a missing counter reads as 0.
    pub fn read(&self) -> io::Result<Vec<InterfaceCounters>> {
        let dir = self.root.join("class/net");
        let mut out = Vec::new();
        for entry in fs::read_dir(&dir)? {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let stats = dir.join(&name).join("statistics");
            if !stats.is_dir() {
                continue;
            }
            let n = |f: &str| read_number(&stats.join(f));
            out.push(InterfaceCounters {
                rx_bytes: n("rx_bytes"),
                tx_bytes: n("tx_bytes"),
                rx_packets: n("rx_packets"),
                tx_packets: n("tx_packets"),
                rx_errors: n("rx_errors"),
                tx_errors: n("tx_errors"),
                rx_dropped: n("rx_dropped"),
                tx_dropped: n("tx_dropped"),
                name,
            });
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }
}

fn read_number(path: &Path) -> u64 {
    fs::read_to_string(path)
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture() -> SysClassNet {
        SysClassNet::new(concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/sys"))
    }

    #[test]
    fn reads_the_fixture() {
        let ifs = fixture().read().unwrap();
        let names: Vec<&str> = ifs.iter().map(|i| i.name.as_str()).collect();
        assert_eq!(names, ["eth0", "lo"]);
        let lo = &ifs[1];
        // Loopback: every packet leaves and arrives on the same interface.
        assert_eq!(lo.rx_bytes, lo.tx_bytes);
        assert!(lo.rx_packets > 0);
        assert_eq!(lo.errors(), 0);
    }

    #[test]
    fn missing_root_is_an_error_and_deltas_survive_resets() {
        assert!(SysClassNet::new("/nonexistent-sys").read().is_err());
        let then = InterfaceCounters {
            name: "eth0".into(),
            rx_bytes: 1000,
            tx_bytes: 10,
            ..Default::default()
        };
        let now = InterfaceCounters {
            rx_bytes: 1500,
            tx_bytes: 4,
            ..then.clone()
        };
        let d = now.since(&then);
        assert_eq!((d.rx_bytes, d.tx_bytes), (500, 4));
    }
}
