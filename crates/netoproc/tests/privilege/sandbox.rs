//! A throwaway group and user, and netoproc installed for them by
//! `scripts/install-linux.sh` into a temporary prefix; all removed again on
//! drop, also when a test fails.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

pub const BIN: &str = env!("CARGO_BIN_EXE_netoproc");

/// True when the test may run; panics under `CI=true` without root.
pub fn root_or_skip(test: &str) -> bool {
    netoproc_testkit::root_or_skip(test, "root (users, groups, setpriv)")
}

pub fn run_ok(cmd: &mut Command) -> Output {
    let o = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        o.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    o
}

pub struct Sandbox {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
    pub dir: tempfile::TempDir,
    /// stdout and stderr of the install script.
    pub installed: Output,
}

impl Sandbox {
    /// Creates user and group `npt-<pid>-<tag>` (the user a member), and
    /// installs netoproc into a temporary prefix with `install_args`.
    pub fn new(tag: &str, install_args: &[&str]) -> Sandbox {
        let name = format!("npt{}{tag}", std::process::id());
        assert!(name.len() <= 32, "user name {name} too long");
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755))
            .expect("chmod temp dir");
        run_ok(Command::new("groupadd").args(["--system", &name]));
        // From here on, Drop removes what exists.
        let mut sandbox = Sandbox {
            name: name.clone(),
            uid: 0,
            gid: 0,
            dir,
            installed: Command::new("true").output().expect("true"),
        };
        run_ok(Command::new("useradd").args([
            "--system",
            "--no-create-home",
            "--shell",
            "/usr/sbin/nologin",
            "--gid",
            &name,
            &name,
        ]));
        let id = |flag: &str| -> u32 {
            let o = run_ok(Command::new("id").args([flag, &name]));
            String::from_utf8_lossy(&o.stdout)
                .trim()
                .parse()
                .expect("id")
        };
        sandbox.uid = id("-u");
        sandbox.gid = id("-g");
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/install-linux.sh");
        let prefix = sandbox
            .dir
            .path()
            .to_str()
            .expect("utf-8 temp dir")
            .to_string();
        sandbox.installed = run_ok(
            Command::new("bash")
                .arg(script)
                .args(["--binary", BIN, "--prefix", &prefix, "--group", &name])
                .args(install_args),
        );
        sandbox
    }

    pub fn binary(&self) -> PathBuf {
        self.dir.path().join("bin/netoproc")
    }

    /// A command that runs `program` as the sandbox user (its own group
    /// only), with an empty environment plus `PATH`.
    pub fn as_user(&self, program: &Path) -> Command {
        user_command(self.uid, &self.gid.to_string(), program)
    }
}

/// Runs `program` as `uid` with primary group `gid` and no other group.
/// `setpriv` keeps root's capabilities until its own exec, which would
/// bypass file permissions: a shell in between execs `program` the way a
/// user's shell would, holding nothing.
pub fn user_command(uid: u32, gid: &str, program: &Path) -> Command {
    let mut c = Command::new("setpriv");
    c.args([
        &format!("--reuid={uid}"),
        &format!("--regid={gid}"),
        "--clear-groups",
        "--inh-caps=-all",
        "--",
        "/bin/sh",
        "-c",
        "exec \"$0\" \"$@\"",
    ])
    .arg(program)
    .env_clear()
    .env("PATH", "/usr/bin:/bin")
    .stdin(Stdio::null());
    c
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        // The user first: a group cannot be removed while it is a user's
        // primary group.
        let _ = Command::new("userdel").arg(&self.name).output();
        let _ = Command::new("groupdel").arg(&self.name).output();
    }
}

/// The capability sets and no-new-privs of one thread.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caps {
    pub eff: u64,
    pub prm: u64,
    pub inh: u64,
    pub amb: u64,
    pub bnd: u64,
    pub nnp: bool,
}

pub fn thread_caps(status: &str) -> Option<Caps> {
    let get = |k: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(k)?.strip_prefix(':'))
            .map(str::trim)
    };
    let hex = |k: &str| u64::from_str_radix(get(k)?, 16).ok();
    Some(Caps {
        eff: hex("CapEff")?,
        prm: hex("CapPrm")?,
        inh: hex("CapInh")?,
        amb: hex("CapAmb")?,
        bnd: hex("CapBnd")?,
        nnp: get("NoNewPrivs")? == "1",
    })
}

/// Every thread of `pid`, with its sets.
pub fn all_threads(pid: u32) -> Vec<(String, Caps)> {
    let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return Vec::new();
    };
    dir.flatten()
        .filter_map(|e| {
            let status = std::fs::read_to_string(e.path().join("status")).ok()?;
            Some((
                e.file_name().to_string_lossy().into_owned(),
                thread_caps(&status)?,
            ))
        })
        .collect()
}
