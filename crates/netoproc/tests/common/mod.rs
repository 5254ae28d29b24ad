//! What the root end-to-end tests of the binary share: the check that they
//! can run and a network namespace made for one test (both from
//! `netoproc-testkit`), and how to stop the helper processes they start.

// Each test binary uses only some of these.
#![allow(dead_code)]

use std::process::Child;
use std::thread;
use std::time::{Duration, Instant};

pub use netoproc_testkit::can_run;
pub use netoproc_testkit::netns::Netns;

/// Ends a helper process that exits when its stdin closes: closes it, waits
/// up to five seconds, then kills it.
pub fn stop(child: &mut Child) {
    drop(child.stdin.take());
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
}
