//! netoproc's own CPU share between two samples and its resident memory,
//! read from `/proc/self` under the session's proc root.

use std::time::Instant;

use netoproc_procfs::ProcRoot;

/// One sample of netoproc's own resource use.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OwnUsage {
    /// CPU use since the previous sample, in percent of one core.
    pub cpu_percent: f64,
    /// CPU time used since start, in seconds (user + system).
    pub cpu_seconds: f64,
    /// Resident memory at the sample, in KiB.
    pub rss_kib: u64,
}

/// Remembers the previous sample, to turn CPU ticks into a share.
#[derive(Debug, Default)]
pub struct OwnMeter {
    last: Option<(Instant, u64)>,
}

impl OwnMeter {
    /// Samples `/proc/self`; `None` when it cannot be read.
    pub fn sample(&mut self, procfs: &ProcRoot, now: Instant) -> Option<OwnUsage> {
        let usage = procfs.usage("self").ok()?;
        // SAFETY: sysconf has no preconditions.
        let ticks_per_s = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
        let cpu_percent = match self.last {
            Some((at, ticks)) if now > at => {
                let cpu_s = usage.cpu_ticks.saturating_sub(ticks) as f64 / ticks_per_s;
                100.0 * cpu_s / now.duration_since(at).as_secs_f64()
            }
            _ => 0.0,
        };
        self.last = Some((now, usage.cpu_ticks));
        Some(OwnUsage {
            cpu_percent,
            cpu_seconds: usage.cpu_ticks as f64 / ticks_per_s,
            rss_kib: usage.rss_kib,
        })
    }
}
