//! The attribution thread's scheduling class. It runs as `SCHED_IDLE`
//! while it keeps up, so an application woken by a packet never waits for
//! netoproc's sock_diag dumps and `/proc` scans (the applications being
//! measured come first, and their timing is not disturbed by measuring
//! it). When the flows it is handed wait too long for it, or messages pile
//! up (the host is busy and it is starved), it returns to the normal class until it has kept up
//! for a while: a starved attribution thread would find sockets gone and
//! fall back to inference. The kernel applies the class per thread; a
//! refused change (seccomp, rlimits) leaves it as it was.

use std::time::{Duration, Instant};

/// A new flow waiting longer than this for the thread means it is starved.
const STARVED: Duration = Duration::from_millis(20);
/// Kept up this long at normal priority: back to idle.
const CALM_FOR: Duration = Duration::from_secs(2);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    Idle,
    Normal,
}

/// Decides the class from how late new flows reach the thread. Pure; the
/// caller applies the class it returns.
#[derive(Debug)]
pub struct Policy {
    class: Class,
    calm_since: Option<Instant>,
}

impl Policy {
    pub fn new() -> Policy {
        Policy {
            class: Class::Idle,
            calm_since: None,
        }
    }

    pub fn class(&self) -> Class {
        self.class
    }

    /// A new flow reached the thread `late` after its first packet; returns
    /// the class to switch to, if it changes.
    pub fn flow(&mut self, late: Duration, now: Instant) -> Option<Class> {
        if late >= STARVED {
            self.calm_since = None;
            return self.set(Class::Normal);
        }
        let since = *self.calm_since.get_or_insert(now);
        if self.class == Class::Normal && now.saturating_duration_since(since) >= CALM_FOR {
            return self.set(Class::Idle);
        }
        None
    }

    /// The thread saw itself fall behind (a backlog of messages): as a
    /// starved flow.
    pub fn behind(&mut self, now: Instant) -> Option<Class> {
        self.flow(STARVED, now)
    }

    fn set(&mut self, class: Class) -> Option<Class> {
        (self.class != class).then(|| {
            self.class = class;
            class
        })
    }
}

/// Puts the calling thread in `class`; `false` if the kernel refused.
pub fn apply(class: Class) -> bool {
    let policy = match class {
        Class::Idle => libc::SCHED_IDLE,
        Class::Normal => libc::SCHED_OTHER,
    };
    let param = libc::sched_param { sched_priority: 0 };
    // SAFETY: pid 0 is the calling thread; `param` is a valid sched_param.
    unsafe { libc::sched_setscheduler(0, policy, &param) == 0 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starved_goes_normal_and_calm_goes_back_to_idle() {
        let t0 = Instant::now();
        let mut p = Policy::new();
        assert_eq!(p.class(), Class::Idle);
        assert_eq!(p.flow(Duration::from_millis(1), t0), None);
        let late = STARVED + Duration::from_millis(1);
        assert_eq!(p.flow(late, t0), Some(Class::Normal));
        assert_eq!(p.behind(t0), None);
        assert_eq!(p.flow(late, t0), None);
        let ms = Duration::from_millis;
        assert_eq!(p.flow(ms(1), t0 + ms(10)), None);
        assert_eq!(p.flow(ms(1), t0 + ms(10) + CALM_FOR / 2), None);
        // Starved again in between: the calm period starts over.
        assert_eq!(p.flow(late, t0 + CALM_FOR), None);
        assert_eq!(p.flow(ms(1), t0 + CALM_FOR + ms(1)), None);
        assert_eq!(p.flow(ms(1), t0 + 2 * CALM_FOR + ms(1)), Some(Class::Idle));
    }
}
