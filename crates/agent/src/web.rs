//! The web configuration file (`--web-config-file`), in the format the
//! Prometheus exporters use (exporter-toolkit's `web.yml`):
//!
//! ```yaml
//! tls_server_config:
//!   cert_file: server.crt        # relative paths: to this file's folder
//!   key_file: server.key
//!   client_auth_type: RequireAndVerifyClientCert   # optional
//!   client_ca_file: clients.crt                    # with the above
//!   min_version: TLS12                             # TLS12 | TLS13
//! basic_auth_users:
//!   prometheus: $2y$10$...                         # bcrypt hashes
//! ```
//!
//! With `tls_server_config` the agent serves HTTPS only; with
//! `basic_auth_users` every path but `/healthz` needs one of the users.
//! Unknown keys are errors (a misspelt key must not leave the agent open).
//! Errors name the key and the user, never a hash nor a password.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rustls::server::WebPkiClientVerifier;
use rustls::RootCertStore;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use serde::Deserialize;
use sha2::{Digest, Sha256};

/// How long a verified user/password pair is taken without running bcrypt
/// again (bcrypt at cost 10 takes tens of milliseconds per scrape).
pub const AUTH_CACHE_TTL: Duration = Duration::from_secs(300);
/// Most pairs remembered; past it the cache starts over.
const AUTH_CACHE_MAX: usize = 1024;

/// What went wrong with the web configuration.
#[derive(Debug, thiserror::Error)]
pub enum WebConfigError {
    /// The file could not be read, parsed, or names unusable TLS material
    /// or users; `message` says which key and why.
    #[error("web config {}: {message}", path.display())]
    File {
        /// The web config file given.
        path: PathBuf,
        /// Which key (and user) is wrong, and why; never a hash.
        message: String,
    },
}

/// The file's contents.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebConfigFile {
    /// With it, HTTPS only; without, plain HTTP.
    pub tls_server_config: Option<TlsSection>,
    /// User name to bcrypt hash; with it, every path but `/healthz` needs
    /// one of the users.
    pub basic_auth_users: Option<HashMap<String, String>>,
}

/// `tls_server_config`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsSection {
    /// The server's certificate chain, PEM; relative to the file's folder.
    pub cert_file: Option<PathBuf>,
    /// The server's private key, PEM; relative to the file's folder.
    pub key_file: Option<PathBuf>,
    /// `NoClientCert` (default), `VerifyClientCertIfGiven` or
    /// `RequireAndVerifyClientCert`.
    pub client_auth_type: Option<String>,
    /// CAs client certificates must chain to (with client verification).
    pub client_ca_file: Option<PathBuf>,
    /// `TLS12` (default) or `TLS13`.
    pub min_version: Option<String>,
}

/// The checked configuration, ready for the server.
#[derive(Clone, Default)]
pub struct WebSettings {
    /// The TLS server config; `None`: plain HTTP.
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// The users; `None`: no authentication.
    pub auth: Option<Arc<BasicAuth>>,
}

impl std::fmt::Debug for WebSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebSettings")
            .field("tls", &self.tls.is_some())
            .field("auth", &self.auth.as_ref().map(|a| a.users.len()))
            .finish()
    }
}

impl WebSettings {
    /// Reads and checks `path` (certificates and keys included).
    pub fn load(path: &Path) -> Result<Self, WebConfigError> {
        let err = |message: String| WebConfigError::File {
            path: path.to_path_buf(),
            message,
        };
        let text = std::fs::read_to_string(path).map_err(|e| err(format!("reading: {e}")))?;
        let file = WebConfigFile::parse(&text).map_err(err)?;
        let base = path.parent().unwrap_or(Path::new("."));
        Self::from_file(&file, base).map_err(err)
    }

    /// Checks a parsed file; relative paths are taken from `base`.
    pub fn from_file(file: &WebConfigFile, base: &Path) -> Result<Self, String> {
        let auth = match &file.basic_auth_users {
            Some(users) => Some(Arc::new(BasicAuth::new(users)?)),
            None => None,
        };
        let tls = match &file.tls_server_config {
            Some(t) => Some(Arc::new(tls_config(t, base)?)),
            None => None,
        };
        Ok(WebSettings { tls, auth })
    }

    /// One line for the log: what is on, never a secret.
    pub fn describe(&self) -> String {
        let tls = if self.tls.is_some() { "TLS" } else { "no TLS" };
        match &self.auth {
            Some(a) => format!("{tls}, basic auth ({} users)", a.users.len()),
            None => format!("{tls}, no auth"),
        }
    }
}

impl WebConfigFile {
    /// Parses YAML text. An empty file is an empty configuration, as for
    /// the exporters. Quoted values are left out of the error message (they
    /// may be hashes).
    pub fn parse(text: &str) -> Result<Self, String> {
        if text.trim().is_empty() {
            return Ok(Self::default());
        }
        serde_norway::from_str(text).map_err(|e| redact_quoted(&e.to_string()))
    }
}

/// `"…"` for every double-quoted part of a parser's message.
fn redact_quoted(msg: &str) -> String {
    let mut out = String::with_capacity(msg.len());
    let mut inside = false;
    for c in msg.chars() {
        if c == '"' {
            if inside {
                out.push_str("…\"");
            } else {
                out.push('"');
            }
            inside = !inside;
        } else if !inside {
            out.push(c);
        }
    }
    out
}

fn read(base: &Path, key: &str, p: &Path) -> Result<(PathBuf, Vec<u8>), String> {
    let full = base.join(p);
    std::fs::read(&full)
        .map(|b| (full.clone(), b))
        .map_err(|e| format!("tls_server_config.{key}: reading {}: {e}", full.display()))
}

fn certs(key: &str, path: &Path, pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("tls_server_config.{key}: {}: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!(
            "tls_server_config.{key}: {}: no PEM certificate in it",
            path.display()
        ));
    }
    Ok(certs)
}

fn tls_config(t: &TlsSection, base: &Path) -> Result<rustls::ServerConfig, String> {
    let (Some(cert_file), Some(key_file)) = (&t.cert_file, &t.key_file) else {
        return Err("tls_server_config: needs both cert_file and key_file".into());
    };
    let (cert_path, pem) = read(base, "cert_file", cert_file)?;
    let chain = certs("cert_file", &cert_path, &pem)?;
    let (key_path, pem) = read(base, "key_file", key_file)?;
    let key = PrivateKeyDer::from_pem_slice(&pem).map_err(|e| {
        format!(
            "tls_server_config.key_file: {}: no PEM private key in it ({e})",
            key_path.display()
        )
    })?;
    let versions: &[&rustls::SupportedProtocolVersion] = match t.min_version.as_deref() {
        None | Some("TLS12") => &[&rustls::version::TLS13, &rustls::version::TLS12],
        Some("TLS13") => &[&rustls::version::TLS13],
        Some(v @ ("TLS10" | "TLS11")) => {
            return Err(format!(
                "tls_server_config.min_version: {v} is not offered (TLS 1.2 is the least); use TLS12 or TLS13"
            ))
        }
        Some(v) => {
            return Err(format!(
                "tls_server_config.min_version: `{v}` is not one of TLS12, TLS13"
            ))
        }
    };
    // ring: builds with a C compiler alone (aws-lc-rs wants more); rustls
    // marks it deprecated only for lacking post-quantum key exchange.
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(versions)
        .map_err(|e| format!("tls_server_config: {e}"))?;
    let auth_type = t.client_auth_type.as_deref().unwrap_or("NoClientCert");
    let builder = match auth_type {
        "NoClientCert" => {
            if t.client_ca_file.is_some() {
                return Err("tls_server_config.client_ca_file: set, but client_auth_type is NoClientCert (use RequireAndVerifyClientCert or VerifyClientCertIfGiven)".into());
            }
            builder.with_no_client_auth()
        }
        "RequireAndVerifyClientCert" | "VerifyClientCertIfGiven" => {
            let Some(ca) = &t.client_ca_file else {
                return Err(format!(
                    "tls_server_config.client_ca_file: {auth_type} needs a client_ca_file"
                ));
            };
            let (ca_path, pem) = read(base, "client_ca_file", ca)?;
            let mut roots = RootCertStore::empty();
            for c in certs("client_ca_file", &ca_path, &pem)? {
                roots.add(c).map_err(|e| {
                    format!(
                        "tls_server_config.client_ca_file: {}: {e}",
                        ca_path.display()
                    )
                })?;
            }
            let v = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
            let v = if auth_type == "VerifyClientCertIfGiven" {
                v.allow_unauthenticated()
            } else {
                v
            };
            let v = v
                .build()
                .map_err(|e| format!("tls_server_config.client_ca_file: {e}"))?;
            builder.with_client_cert_verifier(v)
        }
        "RequestClientCert" | "RequireAnyClientCert" => {
            return Err(format!(
                "tls_server_config.client_auth_type: {auth_type} (a client certificate nobody verifies) is not supported; use RequireAndVerifyClientCert or VerifyClientCertIfGiven with a client_ca_file"
            ))
        }
        other => {
            return Err(format!(
                "tls_server_config.client_auth_type: `{other}` is not one of NoClientCert, VerifyClientCertIfGiven, RequireAndVerifyClientCert"
            ))
        }
    };
    let mut config = builder.with_single_cert(chain, key).map_err(|e| {
        format!(
            "tls_server_config: the certificate {} and the key {} do not make a pair: {e}",
            cert_path.display(),
            key_path.display()
        )
    })?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// `basic_auth_users`, checked, with a short cache of verified pairs.
pub struct BasicAuth {
    users: HashMap<String, String>,
    /// Verified for a user who does not exist, so that a wrong name costs
    /// what a wrong password costs.
    dummy: String,
    /// SHA-256 of (user, hash, password) → when verified. Passwords are not
    /// kept.
    cache: Mutex<HashMap<[u8; 32], Instant>>,
}

/// Whether a request may go on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthResult {
    /// Credentials of a configured user.
    Allowed,
    /// Missing or wrong credentials: answer 401.
    Denied,
}

impl BasicAuth {
    /// Checks every user name and bcrypt hash; the error names the user,
    /// never the hash.
    pub fn new(users: &HashMap<String, String>) -> Result<Self, String> {
        let mut cost = 10;
        for (user, hash) in users {
            if user.is_empty() || user.contains(':') {
                return Err(format!(
                    "basic_auth_users: `{user}`: a user name must be non-empty and have no `:`"
                ));
            }
            let parts: bcrypt::HashParts = hash.parse().map_err(|_| {
                format!("basic_auth_users: {user}: the value is not a bcrypt hash ($2a$, $2b$ or $2y$, e.g. from `htpasswd -nBC 10 {user}`)")
            })?;
            cost = parts.get_cost();
        }
        let dummy = bcrypt::hash("netoproc: no such user", cost)
            .map_err(|e| format!("basic_auth_users: {e}"))?;
        Ok(BasicAuth {
            users: users.clone(),
            dummy,
            cache: Mutex::new(HashMap::new()),
        })
    }

    /// Checks an `Authorization` header value.
    pub fn check(&self, authorization: Option<&str>) -> AuthResult {
        let Some((user, password)) = authorization.and_then(decode_basic) else {
            return AuthResult::Denied;
        };
        let known = self.users.get(&user);
        let hash = known.unwrap_or(&self.dummy);
        let key: [u8; 32] = {
            let mut h = Sha256::new();
            for part in [user.as_bytes(), hash.as_bytes(), password.as_bytes()] {
                h.update((part.len() as u64).to_le_bytes());
                h.update(part);
            }
            h.finalize().into()
        };
        let now = Instant::now();
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        if known.is_some()
            && cache
                .get(&key)
                .is_some_and(|t| now.duration_since(*t) < AUTH_CACHE_TTL)
        {
            return AuthResult::Allowed;
        }
        drop(cache);
        let ok = bcrypt::verify(&password, hash).unwrap_or(false) && known.is_some();
        if !ok {
            return AuthResult::Denied;
        }
        cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        if cache.len() >= AUTH_CACHE_MAX {
            cache.clear();
        }
        cache.insert(key, now);
        AuthResult::Allowed
    }
}

/// `Basic base64(user:password)` → (user, password).
fn decode_basic(value: &str) -> Option<(String, String)> {
    use base64::Engine as _;
    let (scheme, b64) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let raw = base64::engine::general_purpose::STANDARD
        .decode(b64.trim())
        .ok()?;
    let s = String::from_utf8(raw).ok()?;
    let (u, p) = s.split_once(':')?;
    Some((u.to_string(), p.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;

    fn basic(user: &str, pw: &str) -> String {
        let b = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pw}"));
        format!("Basic {b}")
    }

    #[test]
    fn parses_the_exporter_format_and_rejects_unknown_keys() {
        let f = WebConfigFile::parse(
            "tls_server_config:\n  cert_file: a.crt\n  key_file: a.key\n  min_version: TLS13\nbasic_auth_users:\n  prom: $2y$04$abcdefghijklmnopqrstuu5Eb8o0vW3i7JmYqzH1Wq0nJm1gkLzC\n",
        )
        .unwrap();
        let t = f.tls_server_config.unwrap();
        assert_eq!(t.cert_file.as_deref(), Some(Path::new("a.crt")));
        assert_eq!(t.min_version.as_deref(), Some("TLS13"));
        assert_eq!(f.basic_auth_users.unwrap().len(), 1);
        assert_eq!(
            WebConfigFile::parse("\n").unwrap(),
            WebConfigFile::default()
        );

        let example = WebConfigFile::parse(include_str!("../../../deploy/web.yml")).unwrap();
        assert!(example.tls_server_config.is_some());

        let e = WebConfigFile::parse("tls_server_config:\n  cert_fil: a\n").unwrap_err();
        assert!(e.contains("cert_fil"), "{e}");
        let e = WebConfigFile::parse("basic_auth_user:\n  a: b\n").unwrap_err();
        assert!(e.contains("basic_auth_user"), "{e}");
        let e = WebConfigFile::parse("basic_auth_users: [\n").unwrap_err();
        assert!(!e.is_empty());
    }

    #[test]
    fn errors_never_show_a_hash() {
        let secret = "$2y$10$QWERTYUIOPASDFGHJKLZXCVBNMqwertyuiopasdfghjklzxcvbnm1";
        let e = WebConfigFile::parse(&format!("basic_auth_users: \"{secret}\"\n")).unwrap_err();
        assert!(!e.contains("QWERTY"), "{e}");
        let users = HashMap::from([("alice".to_string(), "plaintext-secret".to_string())]);
        let e = BasicAuth::new(&users).err().unwrap();
        assert!(
            e.contains("alice") && e.contains("not a bcrypt hash"),
            "{e}"
        );
        assert!(!e.contains("plaintext-secret"), "{e}");
    }

    #[test]
    fn basic_auth_checks_users_and_passwords() {
        let users = HashMap::from([
            ("prom".to_string(), bcrypt::hash("s3cret", 4).unwrap()),
            ("other".to_string(), bcrypt::hash("x", 4).unwrap()),
        ]);
        let a = BasicAuth::new(&users).unwrap();
        assert_eq!(a.check(Some(&basic("prom", "s3cret"))), AuthResult::Allowed);
        // Cached now; still allowed, and the cache does not let a wrong one in.
        assert_eq!(a.check(Some(&basic("prom", "s3cret"))), AuthResult::Allowed);
        assert_eq!(a.check(Some(&basic("prom", "s3cre"))), AuthResult::Denied);
        assert_eq!(a.check(Some(&basic("other", "s3cret"))), AuthResult::Denied);
        assert_eq!(
            a.check(Some(&basic("nobody", "s3cret"))),
            AuthResult::Denied
        );
        assert_eq!(a.check(None), AuthResult::Denied);
        assert_eq!(a.check(Some("Bearer abc")), AuthResult::Denied);
        assert_eq!(a.check(Some("Basic !!!")), AuthResult::Denied);
        assert_eq!(a.check(Some("basic cHJvbTpzM2NyZXQ=")), AuthResult::Allowed);
    }

    #[test]
    fn tls_settings_are_checked() {
        let dir = tempfile::tempdir().unwrap();
        let base = dir.path();
        let tls = |t: TlsSection| {
            let f = WebConfigFile {
                tls_server_config: Some(t),
                basic_auth_users: None,
            };
            WebSettings::from_file(&f, base).err().unwrap()
        };
        let e = tls(TlsSection {
            cert_file: Some("missing.crt".into()),
            key_file: Some("missing.key".into()),
            ..Default::default()
        });
        assert!(e.contains("cert_file") && e.contains("missing.crt"), "{e}");
        let e = tls(TlsSection {
            cert_file: Some("a.crt".into()),
            ..Default::default()
        });
        assert!(e.contains("key_file"), "{e}");
        std::fs::write(base.join("junk.crt"), "not pem\n").unwrap();
        let e = tls(TlsSection {
            cert_file: Some("junk.crt".into()),
            key_file: Some("junk.crt".into()),
            ..Default::default()
        });
        assert!(e.contains("no PEM certificate"), "{e}");

        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec!["localhost".into()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        std::fs::write(base.join("s.crt"), cert.pem()).unwrap();
        std::fs::write(base.join("s.key"), key.serialize_pem()).unwrap();
        let good = TlsSection {
            cert_file: Some("s.crt".into()),
            key_file: Some(base.join("s.key")),
            ..Default::default()
        };
        let f = WebConfigFile {
            tls_server_config: Some(good.clone()),
            basic_auth_users: None,
        };
        assert!(WebSettings::from_file(&f, base).unwrap().tls.is_some());
        let e = tls(TlsSection {
            key_file: Some("s.crt".into()),
            ..good.clone()
        });
        assert!(e.contains("key_file"), "{e}");
        let e = tls(TlsSection {
            min_version: Some("TLS11".into()),
            ..good.clone()
        });
        assert!(e.contains("min_version"), "{e}");
        let e = tls(TlsSection {
            client_auth_type: Some("RequireAndVerifyClientCert".into()),
            ..good.clone()
        });
        assert!(e.contains("client_ca_file"), "{e}");
        let e = tls(TlsSection {
            client_auth_type: Some("Sometimes".into()),
            ..good.clone()
        });
        assert!(e.contains("client_auth_type"), "{e}");
        let other = rcgen::KeyPair::generate().unwrap();
        std::fs::write(base.join("o.key"), other.serialize_pem()).unwrap();
        let e = tls(TlsSection {
            key_file: Some("o.key".into()),
            ..good
        });
        assert!(e.contains("do not make a pair"), "{e}");
    }
}
