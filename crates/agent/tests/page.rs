//! The web page's HTTP side without root: a scripted backend through the
//! real engine and server, plain HTTP on loopback. Checks: `/` is the page
//! with its Content Security Policy; every file it loads is served with its
//! type; unknown paths are 404 and other methods 405; `/api/v1/interfaces`
//! carries the interfaces of the `/sys` tree it was given; a process named
//! with markup comes back in the snapshot JSON as data, never unescaped
//! into HTML.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use common::WAIT;
use netoproc_agent::web::WebSettings;
const HOSTILE: &str = "<script>x'\"";

/// One request; the status, the headers (lower-cased names) and the body.
fn request(addr: SocketAddr, method: &str, path: &str) -> (u16, String, String) {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).unwrap();
    let out = String::from_utf8_lossy(&out).into_owned();
    let (head, body) = out.split_once("\r\n\r\n").unwrap_or((&out, ""));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, head.to_ascii_lowercase(), body.to_string())
}

/// A `/sys` tree with one interface and its counters.
fn sys_tree(root: &std::path::Path) {
    let stats = root.join("class/net/eth7/statistics");
    std::fs::create_dir_all(&stats).unwrap();
    for (name, v) in [
        ("tx_bytes", 1_000_000u64),
        ("rx_bytes", 2_000_000),
        ("tx_packets", 1000),
        ("rx_packets", 2000),
    ] {
        std::fs::write(stats.join(name), format!("{v}\n")).unwrap();
    }
}

fn checks(addr: SocketAddr) {
    let deadline = Instant::now() + WAIT;
    while request(addr, "GET", "/readyz").0 != 200 {
        assert!(Instant::now() < deadline, "not ready");
        std::thread::sleep(Duration::from_millis(20));
    }
    let (status, head, body) = request(addr, "GET", "/");
    assert_eq!(status, 200, "{head}");
    assert!(head.contains("content-type: text/html"), "{head}");
    assert!(
        head.contains("content-security-policy: default-src 'none'; script-src 'self'"),
        "{head}"
    );
    assert!(head.contains("x-content-type-options: nosniff"), "{head}");
    assert!(body.contains("<title>netoproc</title>"));
    for (path, ty) in [
        ("/assets/app.js", "text/javascript"),
        ("/assets/app.css", "text/css"),
        ("/assets/uPlot.iife.min.js", "text/javascript"),
        ("/assets/icon.svg", "image/svg+xml"),
    ] {
        let (status, head, body) = request(addr, "GET", path);
        assert_eq!(status, 200, "{path}: {head}");
        assert!(
            head.contains(&format!("content-type: {ty}")),
            "{path}: {head}"
        );
        assert!(!body.is_empty(), "{path}");
    }
    let (status, _, _) = request(addr, "HEAD", "/");
    assert_eq!(status, 200);
    for path in ["/assets/nope.js", "/assets/../Cargo.toml", "/index.htm"] {
        assert_eq!(request(addr, "GET", path).0, 404, "{path}");
    }
    assert_eq!(request(addr, "POST", "/").0, 405);

    let (status, head, body) = request(addr, "GET", "/api/v1/interfaces");
    assert_eq!(status, 200, "{head}");
    assert!(head.contains("content-type: application/json"), "{head}");
    let doc: serde_json::Value = serde_json::from_str(&body).expect(&body);
    let ifaces = doc["interfaces"].as_array().expect("interfaces");
    assert_eq!(ifaces.len(), 1, "{body}");
    assert_eq!(ifaces[0]["name"], "eth7");
    assert_eq!(ifaces[0]["tx_bytes"], 1_000_000);
    assert_eq!(ifaces[0]["rx_bytes"], 2_000_000);
    assert!(doc["read_at_ms"].as_u64().unwrap() > 0, "{body}");
    assert!(doc["host"].is_string());

    // The hostile name is data in JSON, and the page never holds it.
    let deadline = Instant::now() + WAIT;
    loop {
        let (status, _, body) = request(addr, "GET", "/api/v1/snapshot");
        assert_eq!(status, 200);
        let doc: serde_json::Value = serde_json::from_str(&body).expect(&body);
        let named = doc["processes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["process"] == HOSTILE);
        if named {
            break;
        }
        assert!(Instant::now() < deadline, "no process row: {body}");
        std::thread::sleep(Duration::from_millis(50));
    }
    let (_, _, page) = request(addr, "GET", "/");
    assert!(!page.contains(HOSTILE));
}

#[test]
fn the_page_and_its_apis() {
    let dir = tempfile::tempdir().unwrap();
    sys_tree(dir.path());
    common::serve_one_socket(
        HOSTILE,
        dir.path(),
        common::options(WebSettings::default(), None),
        checks,
    );
}
