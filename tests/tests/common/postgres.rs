//! A real PostgreSQL server for a test (Debian's `postgresql` package,
//! version 15): `initdb` into a temporary directory with a password-only
//! superuser, started with `pg_ctl` on a free loopback port (its Unix
//! socket in that directory, nothing else listening), as the unprivileged
//! `postgres` user (or `nobody`) when the test runs as root. Stopped and
//! removed on Drop, also when the test fails. `available` fails under
//! `CI=true` when the server binaries are missing, and skips otherwise.

use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = "/usr/lib/postgresql/15/bin";
/// The superuser's password: tests check it never shows in output.
pub const PASSWORD: &str = "np-s3cret-e2e";
const START_WITHIN: Duration = Duration::from_secs(60);

pub struct Postgres {
    dir: tempfile::TempDir,
    pub port: u16,
    /// The user the server runs as.
    uid: u32,
    gid: u32,
    running: bool,
}

pub fn available(test: &str) -> bool {
    let ok = Path::new(BIN).join("initdb").exists() && Path::new(BIN).join("pg_ctl").exists();
    if !ok {
        assert!(
            !std::env::var("CI").is_ok_and(|v| v == "true"),
            "{test}: PostgreSQL 15 is not installed ({BIN}) and CI=true forbids skipping: apt-get install postgresql"
        );
        eprintln!("skipping {test}: PostgreSQL 15 not found in {BIN} (apt-get install postgresql)");
    }
    ok
}

/// The uid and gid of the first of `names` that exists.
fn account(names: &[&str]) -> Option<(u32, u32)> {
    for n in names {
        let c = std::ffi::CString::new(*n).ok()?;
        // SAFETY: getpwnam takes a NUL-terminated name and returns NULL or a
        // pointer to static storage, read at once.
        let pw = unsafe { libc::getpwnam(c.as_ptr()) };
        if !pw.is_null() {
            // SAFETY: not NULL, so it points to a valid passwd entry.
            let (uid, gid) = unsafe { ((*pw).pw_uid, (*pw).pw_gid) };
            return Some((uid, gid));
        }
    }
    None
}

impl Postgres {
    /// A fresh cluster, started; panics (the test fails) if it cannot be.
    pub fn start() -> Postgres {
        // SAFETY: no preconditions.
        let root = unsafe { libc::geteuid() } == 0;
        let (uid, gid) = if root {
            account(&["postgres", "nobody"]).expect("a postgres or nobody account")
        } else {
            // SAFETY: no preconditions.
            unsafe { (libc::geteuid(), libc::getegid()) }
        };
        let dir = tempfile::Builder::new()
            .prefix("np-pg-")
            .tempdir()
            .expect("temp dir");
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
        std::os::unix::fs::chown(dir.path(), Some(uid), Some(gid)).expect("chown the temp dir");
        let pwfile = dir.path().join("pw");
        std::fs::write(&pwfile, PASSWORD).unwrap();
        std::os::unix::fs::chown(&pwfile, Some(uid), Some(gid)).unwrap();
        let mut pg = Postgres {
            port: super::http::free_port(),
            dir,
            uid,
            gid,
            running: false,
        };
        let data = pg.data();
        let out = pg.run(
            "initdb",
            &[
                "-D",
                data.to_str().unwrap(),
                "-U",
                "netoproc",
                "--auth=scram-sha-256",
                "--pwfile",
                pwfile.to_str().unwrap(),
                "-E",
                "UTF8",
                "--no-sync",
            ],
        );
        assert!(
            out.status.success(),
            "initdb: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        pg.resume();
        pg
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn run(&self, tool: &str, args: &[&str]) -> Output {
        Command::new(Path::new(BIN).join(tool))
            .args(args)
            .current_dir(self.dir.path())
            .uid(self.uid)
            .gid(self.gid)
            .env_remove("PGDATA")
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("cannot run {tool}: {e}"))
    }

    /// The URL agents are given (with the password).
    pub fn url(&self) -> String {
        format!(
            "postgres://netoproc:{PASSWORD}@127.0.0.1:{}/postgres",
            self.port
        )
    }

    /// Starts (again) and waits until it accepts connections.
    pub fn resume(&mut self) {
        let opts = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            self.port,
            self.dir.path().display()
        );
        let log = self.dir.path().join("log");
        let out = self.run(
            "pg_ctl",
            &[
                "-D",
                self.data().to_str().unwrap(),
                "-l",
                log.to_str().unwrap(),
                "-o",
                &opts,
                "-w",
                "-t",
                &START_WITHIN.as_secs().to_string(),
                "start",
            ],
        );
        let log_text = std::fs::read_to_string(&log).unwrap_or_default();
        assert!(
            out.status.success(),
            "pg_ctl start: {}{}\n{log_text}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        self.running = true;
        let deadline = Instant::now() + START_WITHIN;
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "PostgreSQL not listening");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Stops the server (fast: sessions are ended).
    pub fn pause(&mut self) {
        let out = self.run(
            "pg_ctl",
            &[
                "-D",
                self.data().to_str().unwrap(),
                "-m",
                "fast",
                "-w",
                "stop",
            ],
        );
        assert!(
            out.status.success(),
            "pg_ctl stop: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        self.running = false;
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        if self.running {
            let _ = self.run(
                "pg_ctl",
                &[
                    "-D",
                    self.data().to_str().unwrap(),
                    "-m",
                    "immediate",
                    "-w",
                    "stop",
                ],
            );
        }
    }
}
