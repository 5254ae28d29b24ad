//! The session configuration: what the monitor loop needs from the command
//! line (or a config file), checked and built once by the binary so loops
//! read a typed config, never CLI fields (ripgrep's `HiArgs` pattern).

use std::path::PathBuf;
use std::time::Duration;

use netoproc_dns::ObservatoryConfig;

/// One capture session's settings, independent of the front-end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionConfig {
    /// Root of the proc filesystem (`/proc`; a fixture in tests).
    pub proc_root: PathBuf,
    /// Root of the sys filesystem (`/sys`).
    pub sys_root: PathBuf,
    /// The DNS observatory's bounds; `None` when DNS capture is off.
    pub dns: Option<ObservatoryConfig>,
    /// How often [`Engine::run`](crate::Engine::run) reads live sockets.
    pub read_interval: Duration,
    /// Closed connections kept as rows before they are folded into their
    /// process rows (bytes stay exact); `None` keeps them until the front-end
    /// retires them itself.
    pub max_closed: Option<u64>,
}

impl SessionConfig {
    /// Defaults for `/proc` and `/sys`, DNS on with the observatory's
    /// default bounds, reads every second, no fold threshold.
    pub fn new() -> Self {
        SessionConfig {
            proc_root: PathBuf::from("/proc"),
            sys_root: PathBuf::from("/sys"),
            dns: Some(ObservatoryConfig::default()),
            read_interval: Duration::from_secs(1),
            max_closed: None,
        }
    }
}

impl Default for SessionConfig {
    fn default() -> Self {
        Self::new()
    }
}
