//! The real browsers for the web page tests: headless Chromium (through
//! the chromedriver of the same Debian package) and Firefox ESR (through
//! geckodriver, which `scripts/test.sh` builds from crates.io into
//! `/opt/netoproc-web/bin`), driven by `tests/web/check_page.py` with
//! Selenium, run with the Python of the venv that `scripts/test.sh` makes
//! (`/opt/netoproc-web`, or `$NETOPROC_WEB_PYTHON`). The script prints one
//! JSON object with what it checked.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The script's whole run is bounded by its own waits; this bounds it again.
const RUN_WITHIN: Duration = Duration::from_secs(400);

fn python() -> PathBuf {
    std::env::var_os("NETOPROC_WEB_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/opt/netoproc-web/bin/python"))
}

/// A browser the page is checked in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Browser {
    Chromium,
    Firefox,
}

impl Browser {
    pub fn name(self) -> &'static str {
        match self {
            Browser::Chromium => "chromium",
            Browser::Firefox => "firefox",
        }
    }
}

const GECKODRIVER: &str = "/opt/netoproc-web/bin/geckodriver";

/// True if `browser`, its WebDriver and Selenium are there. Otherwise
/// fails under `CI=true`, or prints a skip notice.
pub fn available(test: &str, browser: Browser) -> bool {
    let runs = |cmd: &mut Command| {
        cmd.stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    let (bin, driver) = match browser {
        Browser::Chromium => ("chromium", "chromedriver"),
        Browser::Firefox => ("firefox-esr", GECKODRIVER),
    };
    let missing: Vec<&str> = [
        (bin, runs(Command::new(bin).arg("--version"))),
        (driver, runs(Command::new(driver).arg("--version"))),
        (
            "selenium",
            runs(Command::new(python()).args(["-c", "import selenium"])),
        ),
    ]
    .into_iter()
    .filter(|(_, ok)| !ok)
    .map(|(what, _)| what)
    .collect();
    if missing.is_empty() {
        return true;
    }
    let how = "scripts/test.sh installs them (apt: chromium chromium-driver firefox-esr; \
               geckodriver from crates.io and selenium into /opt/netoproc-web)";
    assert!(
        !std::env::var("CI").is_ok_and(|v| v == "true"),
        "{test}: missing {missing:?} and CI=true forbids skipping: {how}"
    );
    eprintln!("skipping {test}: missing {missing:?}; {how}");
    false
}

/// Where screenshots of `test` go: `<target>/tmp/web-screenshots/<test>`.
pub fn shots_dir(test: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("web-screenshots")
        .join(test)
}

/// Runs the page check in `browser` with `args`; its JSON report, or a
/// panic with what failed (the script's own words and where the
/// screenshots are: `shots/<browser>/`).
pub fn check_page(browser: Browser, args: &[String], shots: &std::path::Path) -> serde_json::Value {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("web/check_page.py");
    let mut child = Command::new(python())
        .arg(&script)
        .args(["--browser", browser.name(), "--geckodriver", GECKODRIVER])
        .args(args)
        .arg("--shots")
        .arg(shots)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
    let deadline = Instant::now() + RUN_WITHIN;
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(200)),
            other => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("check_page.py did not finish within {RUN_WITHIN:?}: {other:?}");
            }
        }
    }
    let out = child.wait_with_output().expect("check_page.py output");
    let text = String::from_utf8_lossy(&out.stdout);
    let report: serde_json::Value = text
        .lines()
        .rev()
        .find_map(|l| serde_json::from_str(l).ok())
        .unwrap_or_else(|| panic!("check_page.py printed no report ({}): {text}", out.status));
    assert!(
        out.status.success() && report["ok"] == true,
        "the page check failed ({}); screenshots in {}: {report:#}",
        out.status,
        shots.display()
    );
    report
}
