//! The harness of the agent's tests without root: one scripted socket
//! through the real engine and `serve` loop (a stepping clock, an empty
//! proc root), and a client thread that gets the bound address, runs its
//! checks, and stops the agent however they end; a failed check fails the
//! test after the agent has stopped.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

use netoproc_agent::agent::{serve, ServeOptions};
use netoproc_agent::config::{MetricsSection, MetricsSettings};
use netoproc_agent::web::WebSettings;
use netoproc_core::Protocol;
use netoproc_engine::fake::{FakeBackend, FakeSocket, StepClock};
use netoproc_engine::{Engine, SessionConfig};

/// How long the client waits for the agent to listen.
pub const WAIT: Duration = Duration::from_secs(60);

/// Options for `serve` on a free loopback port, default metrics, no
/// history, with `web` (and the file it came from, if any).
pub fn options(web: WebSettings, web_config_file: Option<std::path::PathBuf>) -> ServeOptions {
    let flags = MetricsSection::default();
    ServeOptions {
        listen: "127.0.0.1:0".parse().unwrap(),
        metrics: MetricsSettings::resolve(&flags, &MetricsSection::default()).unwrap(),
        config_path: None,
        metrics_flags: flags,
        web,
        web_config_file,
        history: None,
    }
}

/// Serves one TCP socket of process `comm` (pid 4242; 1000 bytes sent and
/// 10 received a read) with `opts`, reading `root` as both `/proc` and
/// `/sys`, while `checks` runs against the bound address.
pub fn serve_one_socket(
    comm: &str,
    root: &Path,
    opts: ServeOptions,
    checks: impl FnOnce(SocketAddr) + Send + 'static,
) {
    let clock = StepClock::new();
    let sockets = vec![FakeSocket {
        cookie: 1,
        pid: 4242,
        comm: comm.into(),
        protocol: Protocol::Tcp,
        remote: SocketAddr::from(([192, 0, 2, 1], 443)),
        tx_per_read: 1000,
        rx_per_read: 10,
        opens_at: 1,
        closes_after: None,
    }];
    let mut backend = FakeBackend::new(clock.clone(), sockets);
    let session = SessionConfig {
        proc_root: root.to_path_buf(),
        sys_root: root.to_path_buf(),
        dns: None,
        read_interval: Duration::from_secs(1),
        max_closed: None,
    };
    let stop = Arc::new(AtomicBool::new(false));
    let reload = AtomicBool::new(false);
    let (addr_tx, addr_rx) = mpsc::channel();
    let stop2 = stop.clone();
    let client = std::thread::spawn(move || {
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
            checks(addr_rx.recv_timeout(WAIT).expect("listening"));
        }));
        stop2.store(true, Ordering::Relaxed);
        result
    });
    let mut engine = Engine::new(&mut backend, session);
    let result = serve(&mut engine, &clock, &stop, &reload, &opts, |a| {
        addr_tx.send(a).unwrap();
    });
    let checked = client.join().unwrap();
    result.expect("serve");
    if let Err(panic) = checked {
        std::panic::resume_unwind(panic);
    }
}
