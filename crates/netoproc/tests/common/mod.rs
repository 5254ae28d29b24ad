//! What the root end-to-end tests of the binary share: the check that they
//! can run (root and the tools they drive; under `CI=true` a missing one
//! fails the test instead of skipping it) and a network namespace made for
//! one test, and how to stop the helper processes they start.

// Each test binary uses only some of these.
#![allow(dead_code)]

use std::process::{Child, Command};
use std::thread;
use std::time::{Duration, Instant};

/// Whether `test` can run: root, and every `(command, version flag)` of
/// `tools` answers. Skips with a note otherwise, or fails under `CI=true`.
pub fn can_run(test: &str, tools: &[(&str, &str)]) -> bool {
    let ci = std::env::var("CI").is_ok_and(|v| v == "true");
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    let missing = tools
        .iter()
        .find(|(cmd, arg)| Command::new(cmd).arg(arg).output().is_err());
    let why = match (root, missing) {
        (false, _) => "not root".to_string(),
        (true, Some((cmd, _))) => format!("{cmd} is missing"),
        (true, None) => return true,
    };
    assert!(!ci, "{test}: {why}, and CI=true requires this test to run");
    eprintln!("{test}: skipped ({why})");
    false
}

/// A network namespace made for one test, with loopback up; deleted on
/// drop, also when the test panics.
pub struct Netns {
    pub name: String,
}

impl Netns {
    pub fn create(tag: &str) -> Netns {
        let name = format!("np-e2e-{tag}-{}", std::process::id());
        let ip = |args: &[&str]| {
            let ok = Command::new("ip").args(args).status().unwrap().success();
            assert!(ok, "ip {}", args.join(" "));
        };
        ip(&["netns", "add", &name]);
        let ns = Netns { name };
        ip(&["-n", &ns.name, "link", "set", "lo", "up"]);
        ns
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "delete", &self.name])
            .status();
    }
}

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
