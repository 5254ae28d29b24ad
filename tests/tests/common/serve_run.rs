//! One `netoproc serve` for a test: started with the [`Mode`]'s capture
//! flags and `serve --listen 127.0.0.1:0` plus extra arguments, its stderr
//! forwarded and kept, its address read from its `serving http://…` line,
//! ready once `/readyz` answers 200, stopped with SIGTERM (it must exit 0),
//! and killed on Drop if a test fails while it runs. Unless the test
//! chooses its history store, the agent keeps it in a temporary state
//! directory.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use super::http::{get, wait_ok};
use super::mode::Mode;

const READY_WITHIN: Duration = Duration::from_secs(60);
const EXIT_WITHIN: Duration = Duration::from_secs(20);

pub struct ServeRun {
    child: Child,
    pub addr: SocketAddr,
    pub stderr: Arc<Mutex<Vec<String>>>,
    /// The state directory (history ledger) of a run not given one: never
    /// the host's /var/lib/netoproc.
    _state: Option<tempfile::TempDir>,
}

impl ServeRun {
    pub fn start(mode: &Mode, extra: &[&str]) -> ServeRun {
        let bin = mode.bin.clone().unwrap_or_else(super::netoproc_bin);
        let state = (!extra
            .iter()
            .any(|a| *a == "--history" || *a == "--state-dir"))
        .then(|| tempfile::tempdir().expect("a state directory"));
        let state_args: Vec<String> = state
            .as_ref()
            .map(|d| vec!["--state-dir".into(), d.path().display().to_string()])
            .unwrap_or_default();
        let mut child = Command::new(&bin)
            .args(&mode.args)
            .args(["serve", "--listen", "127.0.0.1:0"])
            .args(&state_args)
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
        let err = child.stderr.take().expect("stderr is piped");
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let lines = Arc::clone(&stderr);
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                eprintln!("[netoproc serve] {line}");
                let served = line
                    .split("serving http://")
                    .nth(1)
                    .map(|r| (r, false))
                    .or_else(|| line.split("serving https://").nth(1).map(|r| (r, true)));
                if let Some((rest, tls)) = served {
                    let _ = tx.send((rest.split('/').next().unwrap_or("").to_string(), tls));
                }
                lines.lock().unwrap().push(line);
            }
        });
        let (addr, tls) = match rx.recv_timeout(READY_WITHIN) {
            Ok((a, tls)) => (a.parse().expect("serving address"), tls),
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "netoproc serve did not say where it serves within {READY_WITHIN:?}: {:?}",
                    stderr.lock().unwrap()
                );
            }
        };
        let mut run = ServeRun {
            child,
            addr,
            stderr,
            _state: state,
        };
        if tls {
            // HTTPS: readiness is for the caller's TLS client to see.
            return run;
        }
        wait_ok(
            addr,
            "/readyz",
            &mut run.child,
            "netoproc serve",
            READY_WITHIN,
        );
        run
    }

    /// `/metrics` as Prometheus text.
    pub fn metrics(&self) -> String {
        match get(self.addr, "/metrics") {
            Ok((200, body)) => body,
            other => panic!("GET /metrics: {other:?}"),
        }
    }

    /// Sends `sig` (e.g. SIGHUP).
    pub fn signal(&self, sig: i32) {
        // SAFETY: kill(2) on our own child's pid.
        let r = unsafe { libc::kill(self.child.id() as i32, sig) };
        assert_eq!(r, 0, "kill: {}", std::io::Error::last_os_error());
    }

    /// SIGTERM, then the exit status must be 0 within [`EXIT_WITHIN`].
    pub fn stop(mut self) {
        self.signal(libc::SIGTERM);
        let deadline = Instant::now() + EXIT_WITHIN;
        loop {
            match self.child.try_wait() {
                Ok(Some(s)) => {
                    assert!(s.success(), "netoproc serve exited with {s} on SIGTERM");
                    return;
                }
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(50))
                }
                other => panic!("netoproc serve did not exit on SIGTERM: {other:?}"),
            }
        }
    }
}

impl Drop for ServeRun {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
