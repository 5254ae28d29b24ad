//! The agent's HTTPS and basic auth end to end without root: a scripted
//! backend through the real engine and server, a CA and a server
//! certificate made here with rcgen, a web config file in the exporters'
//! format. Checks: HTTPS with the right credentials → 200 and metrics;
//! wrong, unknown or no credentials → 401 with `WWW-Authenticate: Basic`;
//! `/healthz` needs none; plain HTTP on the port gets no HTTP answer.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use common::WAIT;
use netoproc_agent::web::WebSettings;
use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
use rustls::pki_types::ServerName;

struct Client {
    config: Arc<rustls::ClientConfig>,
}

impl Client {
    /// `GET path` over TLS; the whole response.
    fn get(&self, addr: SocketAddr, path: &str, auth: Option<(&str, &str)>) -> String {
        let name = ServerName::try_from("localhost").unwrap();
        let conn = rustls::ClientConnection::new(self.config.clone(), name).unwrap();
        let tcp = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).unwrap();
        tcp.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        let mut tls = rustls::StreamOwned::new(conn, tcp);
        let mut req = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n");
        if let Some((u, p)) = auth {
            let b = base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"));
            req += &format!("Authorization: Basic {b}\r\n");
        }
        req += "\r\n";
        tls.write_all(req.as_bytes()).unwrap();
        let mut out = Vec::new();
        match tls.read_to_end(&mut out) {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                panic!(
                    "{path}: closed without close_notify after {} bytes",
                    out.len()
                )
            }
            Err(e) => panic!("{path}: {e}"),
        }
        String::from_utf8(out).unwrap()
    }
}

fn status(resp: &str) -> &str {
    resp.split(' ').nth(1).unwrap_or("")
}

#[test]
fn https_with_basic_auth() {
    let dir = tempfile::tempdir().unwrap();
    // A CA and a server certificate for localhost and 127.0.0.1.
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);
    let key = KeyPair::generate().unwrap();
    let cert = CertificateParams::new(vec!["localhost".into(), "127.0.0.1".into()])
        .unwrap()
        .signed_by(&key, &issuer)
        .unwrap();
    std::fs::write(dir.path().join("server.crt"), cert.pem()).unwrap();
    std::fs::write(dir.path().join("server.key"), key.serialize_pem()).unwrap();
    let hash = bcrypt::hash("right horse", 10).unwrap();
    let web_yml = dir.path().join("web.yml");
    std::fs::write(
        &web_yml,
        format!(
            "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  min_version: TLS12\nbasic_auth_users:\n  prometheus: {hash}\n"
        ),
    )
    .unwrap();
    let web = WebSettings::load(&web_yml).expect("web config");

    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca_cert.der().clone()).unwrap();
    let client = Client {
        config: Arc::new(
            rustls::ClientConfig::builder()
                .with_root_certificates(roots)
                .with_no_client_auth(),
        ),
    };

    let opts = common::options(web, Some(web_yml));
    common::serve_one_socket("scraped", dir.path(), opts, move |addr| {
        let good = Some(("prometheus", "right horse"));
        let deadline = Instant::now() + WAIT;
        loop {
            let r = client.get(addr, "/readyz", good);
            if status(&r) == "200" {
                break;
            }
            assert!(Instant::now() < deadline, "not ready: {r}");
            std::thread::sleep(Duration::from_millis(20));
        }
        let r = client.get(addr, "/metrics", good);
        assert_eq!(status(&r), "200", "{r}");
        assert!(r.contains("netoproc_payload_bytes_total{"), "{r}");
        assert!(r.contains("scraped"), "{r}");
        // The cached pair again, then every wrong one.
        assert_eq!(status(&client.get(addr, "/metrics", good)), "200");
        for bad in [
            None,
            Some(("prometheus", "wrong horse")),
            Some(("prometheus", "right horse ")),
            Some(("nobody", "right horse")),
        ] {
            for path in ["/metrics", "/readyz", "/api/v1/snapshot", "/"] {
                let r = client.get(addr, path, bad);
                assert_eq!(status(&r), "401", "{path} {bad:?}: {r}");
                assert!(
                    r.to_ascii_lowercase()
                        .contains("www-authenticate: basic realm=\"netoproc\""),
                    "{r}"
                );
                assert!(!r.contains("netoproc_"), "{r}");
            }
        }
        let r = client.get(addr, "/api/v1/snapshot", good);
        assert_eq!(status(&r), "200", "{r}");
        // Health needs no credentials.
        let r = client.get(addr, "/healthz", None);
        assert_eq!(status(&r), "200", "{r}");
        // Plain HTTP on the TLS port: no HTTP answer.
        let mut s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s.write_all(b"GET /healthz HTTP/1.0\r\nHost: x\r\n\r\n")
            .unwrap();
        let mut out = Vec::new();
        let _ = s.read_to_end(&mut out);
        assert!(
            !String::from_utf8_lossy(&out).contains("HTTP/1."),
            "plain HTTP answered: {:?}",
            String::from_utf8_lossy(&out)
        );
        // And TLS still works after that.
        assert_eq!(status(&client.get(addr, "/healthz", None)), "200");
    });
}
