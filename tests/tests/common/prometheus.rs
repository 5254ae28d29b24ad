//! A real Prometheus server for a test: started on a free loopback port
//! with a temporary data directory and a config that scrapes one target
//! every second, asked through its HTTP query API, and killed on Drop (so
//! also when the test fails). Needs the `prometheus` binary (Debian package
//! `prometheus`); missing, the test fails under `CI=true` and skips
//! otherwise.

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::http::{encode, free_port, get, wait_ok};

const READY_WITHIN: Duration = Duration::from_secs(60);

pub struct Prometheus {
    child: Child,
    pub addr: SocketAddr,
    _dir: tempfile::TempDir,
}

/// Whether `prometheus` runs here; fails under `CI=true` if not.
pub fn available(test: &str) -> bool {
    let ok = Command::new("prometheus")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        assert!(
            !std::env::var("CI").is_ok_and(|v| v == "true"),
            "{test}: prometheus is not installed and CI=true forbids skipping: apt-get install prometheus"
        );
        eprintln!("skipping {test}: prometheus not found (apt-get install prometheus)");
    }
    ok
}

impl Prometheus {
    /// Starts Prometheus scraping `target` every second and waits until it
    /// is ready.
    pub fn start(target: SocketAddr) -> Prometheus {
        Prometheus::start_with_jobs(&format!(
            "  - job_name: netoproc\n    static_configs:\n      - targets: ['{target}']\n"
        ))
    }

    /// Starts Prometheus with these `scrape_configs` entries (YAML, each
    /// indented by two spaces), scraping every second.
    pub fn start_with_jobs(jobs: &str) -> Prometheus {
        let dir = tempfile::tempdir().expect("temp dir");
        let config = dir.path().join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n{jobs}"
            ),
        )
        .expect("write prometheus.yml");
        let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
        let child = Command::new("prometheus")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address={addr}"))
            .arg("--log.level=warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start prometheus");
        let mut p = Prometheus {
            child,
            addr,
            _dir: dir,
        };
        wait_ok(addr, "/-/ready", &mut p.child, "prometheus", READY_WITHIN);
        p
    }

    /// The result vector of instant query `q` (the raw JSON `result`).
    pub fn query(&self, q: &str) -> Vec<serde_json::Value> {
        let path = format!("/api/v1/query?query={}", encode(q));
        let (code, body) = get(self.addr, &path).unwrap_or_else(|e| panic!("query {q}: {e}"));
        assert_eq!(code, 200, "query {q}: {body}");
        let v: serde_json::Value = serde_json::from_str(&body).expect("query JSON");
        assert_eq!(v["status"], "success", "query {q}: {body}");
        v["data"]["result"].as_array().cloned().unwrap_or_default()
    }

    /// The single value of a query that sums to one series, if it has data.
    pub fn scalar(&self, q: &str) -> Option<f64> {
        let r = self.query(q);
        let v = r.first()?["value"][1].as_str()?.parse().ok()?;
        Some(v)
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
