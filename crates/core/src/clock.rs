//! Time as a parameter: the run loop asks a [`Clock`] instead of the system,
//! so windows and timestamps are testable with a fixed clock.

use std::time::{Duration, Instant, SystemTime};

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
    pub mono: Instant,
    pub wall: SystemTime,
}

impl FixedClock {
    pub fn at_unix_secs(secs: u64) -> Self {
        FixedClock {
            mono: Instant::now(),
            wall: SystemTime::UNIX_EPOCH + Duration::from_secs(secs),
        }
    }
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
