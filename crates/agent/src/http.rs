//! The HTTP side of `serve` (tiny_http: a small synchronous server, no
//! async runtime, a handful of dependencies — the agent answers a scrape
//! every few seconds, not thousands of requests). Routes: `/metrics`
//! (Prometheus text, or OpenMetrics when the `Accept` header asks),
//! `/healthz` (the read loop is alive), `/readyz` (capture started and read
//! once; its body names a degraded history store), `/api/v1/snapshot`
//! (the snapshot JSON of the latest read), `/api/v1/history` and
//! `/api/v1/history/dns` (the ledger's queries, [`crate::history_http`]),
//! `/api/v1/interfaces` (the interfaces' own counters, for the page's
//! attributed share), and the web page (`/` and `/assets/…`, embedded by
//! `netoproc-web`, with its security headers). Two
//! worker threads answer from the latest [`Published`] read; they never
//! touch the capture.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use netoproc_export::{write_snapshot, Format, Snapshot, View};
use tiny_http::{Header, Method, Request, Response, Server};

use crate::exposition::{to_prometheus_text, wants_openmetrics, OPENMETRICS, PROMETHEUS_TEXT};
use crate::history_http::Route;
use crate::metrics::registry;
use crate::published::Published;
use crate::web::{AuthResult, WebSettings};

const WORKERS: usize = 2;
/// How long a worker waits for a request before it looks at the stop flag.
const POLL: Duration = Duration::from_millis(200);

/// What the loop shares with the workers.
#[derive(Debug)]
pub struct Shared {
    published: Mutex<Option<Arc<Published>>>,
    /// When the loop last published, to tell a stuck loop.
    last_publish: Mutex<Option<Instant>>,
    started: Instant,
    /// A loop that has not published for this long is not healthy.
    stale_after: Duration,
    /// The history store, for the history routes; `None`: history off.
    history: Option<HistoryAccess>,
}

/// How the HTTP workers reach the history ledger.
#[derive(Debug, Clone)]
pub struct HistoryAccess {
    /// The store the routes read.
    pub target: netoproc_history::Target,
    /// The host this agent writes as (what the routes answer for).
    pub host: String,
    /// The writer's state, for the routes' degraded notice.
    pub status: Arc<netoproc_history::writer::Status>,
}

impl HistoryAccess {
    /// Why history is degraded, when it is.
    pub fn degraded(&self) -> Option<String> {
        if self.status.up.load(Ordering::Relaxed) {
            return None;
        }
        Some(
            self.status
                .last_error()
                .unwrap_or_else(|| "not written yet".into()),
        )
    }
}

impl Shared {
    /// Nothing published yet; `/healthz` fails once no read was published
    /// for `stale_after` (counted from now until the first).
    pub fn new(stale_after: Duration) -> Self {
        Shared {
            published: Mutex::new(None),
            last_publish: Mutex::new(None),
            started: Instant::now(),
            stale_after,
            history: None,
        }
    }

    /// Serves the history routes from `h`.
    pub fn set_history(&mut self, h: HistoryAccess) {
        self.history = Some(h);
    }

    /// Makes `p` what scrapes see from now on.
    pub fn publish(&self, p: Published) {
        *lock(&self.published) = Some(Arc::new(p));
        *lock(&self.last_publish) = Some(Instant::now());
    }

    /// What scrapes see now; `None` before the first read.
    pub fn latest(&self) -> Option<Arc<Published>> {
        lock(&self.published).clone()
    }

    fn healthy(&self) -> bool {
        let since = lock(&self.last_publish).unwrap_or(self.started);
        since.elapsed() < self.stale_after
    }
}

/// A poisoned lock only means a worker panicked mid-answer; the data (an
/// `Arc` swap) is still whole.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The web configuration in force: TLS and basic auth. A reload swaps
/// it; whether TLS is on at all is fixed at start.
#[derive(Debug, Default)]
pub struct WebState {
    current: Mutex<WebSettings>,
}

impl WebState {
    /// Starts with `settings`.
    pub fn new(settings: WebSettings) -> Self {
        WebState {
            current: Mutex::new(settings),
        }
    }

    /// The settings in force, for one connection or request.
    pub fn get(&self) -> WebSettings {
        lock(&self.current).clone()
    }

    /// Takes `new` for the next connections and requests, unless it would
    /// turn TLS on or off (that takes a restart: another listener).
    pub fn replace(&self, new: WebSettings) -> Result<(), &'static str> {
        let mut cur = lock(&self.current);
        if cur.tls.is_some() != new.tls.is_some() {
            return Err("turning TLS on or off applies at the next start");
        }
        *cur = new;
        Ok(())
    }
}

/// The running server; dropping it does not stop it, [`HttpServer::stop`]
/// does.
pub struct HttpServer {
    server: Arc<Server>,
    workers: Vec<JoinHandle<()>>,
    stop: Arc<AtomicBool>,
    addr: SocketAddr,
    /// The TLS front's accept thread and the private folder of the Unix
    /// socket behind it.
    tls: Option<(JoinHandle<()>, tempfile::TempDir)>,
}

impl HttpServer {
    /// Binds `addr` and starts the workers: HTTPS only when `web` has TLS.
    pub fn start(
        addr: SocketAddr,
        shared: Arc<Shared>,
        web: Arc<WebState>,
    ) -> std::io::Result<Self> {
        let stop = Arc::new(AtomicBool::new(false));
        let (server, bound, tls) = if web.get().tls.is_some() {
            let listener = std::net::TcpListener::bind(addr)?;
            let bound = listener.local_addr()?;
            let dir = tempfile::Builder::new()
                .prefix("netoproc-http-")
                .tempdir()?;
            let sock = dir.path().join("http.sock");
            let server = Server::http_unix(&sock).map_err(std::io::Error::other)?;
            let front = crate::tls::start(listener, sock, web.clone(), stop.clone())?;
            (server, bound, Some((front, dir)))
        } else {
            let server = Server::http(addr).map_err(std::io::Error::other)?;
            let bound = server
                .server_addr()
                .to_ip()
                .ok_or_else(|| std::io::Error::other("not an IP listener"))?;
            (server, bound, None)
        };
        let server = Arc::new(server);
        let workers = (0..WORKERS)
            .map(|i| {
                let (server, shared, stop, web) =
                    (server.clone(), shared.clone(), stop.clone(), web.clone());
                std::thread::Builder::new()
                    .name(format!("netoproc-http-{i}"))
                    .spawn(move || {
                        while !stop.load(Ordering::Relaxed) {
                            match server.recv_timeout(POLL) {
                                Ok(Some(req)) => answer(req, &shared, &web),
                                Ok(None) => {}
                                Err(_) => std::thread::sleep(POLL),
                            }
                        }
                    })
            })
            .collect::<std::io::Result<Vec<_>>>()?;
        Ok(HttpServer {
            server,
            workers,
            stop,
            addr: bound,
            tls,
        })
    }

    /// The address actually bound (port 0 picks a free one).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops the workers and waits for them to finish.
    pub fn stop(self) {
        self.stop.store(true, Ordering::Relaxed);
        for _ in &self.workers {
            self.server.unblock();
        }
        for w in self.workers {
            let _ = w.join();
        }
        if let Some((front, _dir)) = self.tls {
            let _ = front.join();
        }
    }
}

fn header(name: &str, value: &str) -> Header {
    Header::from_bytes(name.as_bytes(), value.as_bytes()).expect("constant header is valid")
}

fn text(status: u16, body: impl Into<String>) -> Response<std::io::Cursor<Vec<u8>>> {
    Response::from_string(body.into())
        .with_status_code(status)
        .with_header(header("Content-Type", "text/plain; charset=utf-8"))
}

fn answer(req: Request, shared: &Shared, web: &WebState) {
    let path = req.url().split('?').next().unwrap_or("").to_string();
    if path != "/healthz" {
        if let Some(auth) = web.get().auth {
            let given = req
                .headers()
                .iter()
                .find(|h| h.field.equiv("Authorization"))
                .map(|h| h.value.as_str().to_string());
            if auth.check(given.as_deref()) == AuthResult::Denied {
                let _ = req.respond(
                    text(401, "unauthorized\n")
                        .with_header(header("WWW-Authenticate", "Basic realm=\"netoproc\"")),
                );
                return;
            }
        }
    }
    if !matches!(req.method(), Method::Get | Method::Head) {
        let _ = req.respond(text(405, "only GET\n").with_header(header("Allow", "GET, HEAD")));
        return;
    }
    if let Some(page) = netoproc_web::asset_at(&path) {
        let _ = req.respond(asset(page));
        return;
    }
    let response = match path.as_str() {
        "/metrics" => {
            let accept = req
                .headers()
                .iter()
                .find(|h| h.field.equiv("Accept"))
                .map(|h| h.value.as_str().to_string());
            metrics(shared, accept.as_deref())
        }
        "/healthz" if shared.healthy() => text(200, "ok\n"),
        "/healthz" => text(503, "the read loop has not completed a read recently\n"),
        "/readyz" if shared.latest().is_some() => ready(shared),
        "/readyz" => text(503, "capture not read yet\n"),
        "/api/v1/snapshot" => snapshot(shared),
        "/api/v1/interfaces" => interfaces(shared),
        "/api/v1/history" => history(shared, req.url(), Route::Traffic),
        "/api/v1/history/dns" => history(shared, req.url(), Route::Dns),
        _ => text(
            404,
            "not found: the page is at /, metrics at /metrics, JSON at /api/v1/snapshot\n",
        ),
    };
    let _ = req.respond(response);
}

/// Ready once capture was read; a degraded history store is said in the
/// body (capture and metrics go on without it, so still 200).
fn ready(shared: &Shared) -> Response<std::io::Cursor<Vec<u8>>> {
    match shared.history.as_ref().and_then(HistoryAccess::degraded) {
        None => text(200, "ready\n"),
        Some(why) => text(
            200,
            format!(
                "ready\ndegraded: history: {}\n",
                netoproc_core::escape::for_terminal(&why)
            ),
        ),
    }
}

/// One history query at a time: the two workers also answer /metrics,
/// and a long range must not hold both.
static HISTORY_BUSY: AtomicBool = AtomicBool::new(false);

fn history(shared: &Shared, url: &str, route: Route) -> Response<std::io::Cursor<Vec<u8>>> {
    if HISTORY_BUSY.swap(true, Ordering::Acquire) {
        return Response::from_string(
            "{\"error\": \"history unavailable: another history query is running; retry\"}",
        )
        .with_status_code(503)
        .with_header(header("Content-Type", "application/json"))
        .with_header(header("Retry-After", "1"));
    }
    struct Release;
    impl Drop for Release {
        fn drop(&mut self) {
            HISTORY_BUSY.store(false, Ordering::Release);
        }
    }
    let _release = Release;
    history_answer(shared, url, route)
}

fn history_answer(shared: &Shared, url: &str, route: Route) -> Response<std::io::Cursor<Vec<u8>>> {
    let qs = url.split_once('?').map_or("", |(_, q)| q);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let (status, body) = crate::history_http::answer(shared.history.as_ref(), route, qs, now);
    Response::from_string(body)
        .with_status_code(status)
        .with_header(header("Content-Type", "application/json"))
}

fn metrics(shared: &Shared, accept: Option<&str>) -> Response<std::io::Cursor<Vec<u8>>> {
    let Some(p) = shared.latest() else {
        return text(503, "capture not read yet\n");
    };
    let mut om = String::with_capacity(64 * 1024);
    if let Err(e) = prometheus_client::encoding::text::encode(&mut om, &registry(p)) {
        return text(500, format!("encoding metrics: {e}\n"));
    }
    let (body, ty) = if wants_openmetrics(accept) {
        (om, OPENMETRICS)
    } else {
        (to_prometheus_text(&om), PROMETHEUS_TEXT)
    };
    Response::from_string(body).with_header(header("Content-Type", ty))
}

/// One file of the page, with the headers that hold the browser to it.
fn asset(page: netoproc_web::Asset) -> Response<std::io::Cursor<Vec<u8>>> {
    let mut r = Response::from_data(page.body.to_vec())
        .with_header(header("Content-Type", page.content_type));
    for (name, value) in netoproc_web::SECURITY_HEADERS {
        r = r.with_header(header(name, value));
    }
    r
}

fn json(body: Vec<u8>) -> Response<std::io::Cursor<Vec<u8>>> {
    Response::from_data(body)
        .with_header(header("Content-Type", "application/json"))
        .with_header(header("Cache-Control", "no-store"))
        .with_header(header("X-Content-Type-Options", "nosniff"))
}

fn interfaces(shared: &Shared) -> Response<std::io::Cursor<Vec<u8>>> {
    let Some(p) = shared.latest() else {
        return text(503, "capture not read yet\n");
    };
    match serde_json::to_vec(&crate::status::Interfaces::of(&p)) {
        Ok(body) => json(body),
        Err(e) => text(500, format!("writing the interfaces: {e}\n")),
    }
}

fn snapshot(shared: &Shared) -> Response<std::io::Cursor<Vec<u8>>> {
    let Some(p) = shared.latest() else {
        return text(503, "capture not read yet\n");
    };
    let s = &p.snapshot;
    let snap = Snapshot {
        meta: &s.meta,
        report: &s.report,
        connections: true,
        dns: s.dns.as_ref(),
        remote_hosts: s.remote_hosts.as_ref(),
        view: View::Processes,
        group_by: netoproc_core::group::GroupBy::Process,
    };
    let mut out = Vec::with_capacity(64 * 1024);
    match write_snapshot(&mut out, Format::Json, &snap) {
        Ok(()) => json(out),
        Err(e) => text(
            500,
            format!(
                "writing the snapshot: {}\n",
                netoproc_core::error::Chain(&e)
            ),
        ),
    }
}
