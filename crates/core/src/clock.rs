//! Time as a parameter: the run loop asks a [`Clock`] instead of the system,
//! so windows and timestamps are testable with a fixed clock.

use std::time::{Duration, Instant, SystemTime};

/// Where the run loop takes the time from: the system, or a test's clock.
pub trait Clock {
    /// Monotonic time, for intervals.
    fn now(&self) -> Instant;
    /// Wall-clock time, for timestamps shown to people.
    fn wall(&self) -> SystemTime;
}

/// The real clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Instant {
        Instant::now()
    }
    fn wall(&self) -> SystemTime {
        SystemTime::now()
    }
}

/// A clock that only moves when told to.
#[derive(Debug, Clone)]
pub struct FixedClock {
    /// What [`Clock::now`] returns.
    pub mono: Instant,
    /// What [`Clock::wall`] returns.
    pub wall: SystemTime,
}

impl FixedClock {
    /// A clock whose wall time is `secs` after the Unix epoch (its
    /// monotonic time starts at the real present).
    pub fn at_unix_secs(secs: u64) -> Self {
        FixedClock {
            mono: Instant::now(),
            wall: SystemTime::UNIX_EPOCH + Duration::from_secs(secs),
        }
    }
    /// Moves both times forward by `d`.
    pub fn advance(&mut self, d: Duration) {
        self.mono += d;
        self.wall += d;
    }
}

impl Clock for FixedClock {
    fn now(&self) -> Instant {
        self.mono
    }
    fn wall(&self) -> SystemTime {
        self.wall
    }
}
