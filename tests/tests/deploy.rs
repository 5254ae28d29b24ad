//! The deployment files are valid: `deploy/systemd/netoproc.service` passes
//! `systemd-analyze verify` (with `ExecStart` pointed at the netoproc under
//! test, since verify checks the binary exists), and every manifest under
//! `deploy/kubernetes/` validates against the Kubernetes schemas with
//! `kubernetes-validate --strict` (PyPI; `$KUBERNETES_VALIDATE` or on PATH;
//! scripts/test.sh installs it). No root needed; a missing tool skips,
//! except under `CI=true` where it fails.

#[allow(dead_code)]
mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Whether `tool` runs; fails under `CI=true` if not.
fn have(test: &str, tool: &str, install: &str) -> bool {
    let ok = Command::new(tool)
        .arg("--help")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        assert!(
            !std::env::var("CI").is_ok_and(|v| v == "true"),
            "{test}: {tool} is not available and CI=true forbids skipping: {install}"
        );
        eprintln!("skipping {test}: {tool} not found ({install})");
    }
    ok
}

#[test]
fn systemd_unit_passes_systemd_analyze_verify() {
    let test = "systemd_unit_verify";
    if !have(test, "systemd-analyze", "apt-get install systemd") {
        return;
    }
    let unit = std::fs::read_to_string(repo().join("deploy/systemd/netoproc.service")).unwrap();
    assert!(unit.contains("ExecStart=/usr/local/bin/netoproc serve"));
    let bin = common::netoproc_bin();
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("netoproc.service");
    std::fs::write(
        &path,
        unit.replace("/usr/local/bin/netoproc", bin.to_str().unwrap()),
    )
    .unwrap();
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&path)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stderr.trim().is_empty(),
        "systemd-analyze verify: {stderr}"
    );
}

#[test]
fn kubernetes_manifests_validate_against_the_schemas() {
    let test = "kubernetes_validate";
    let tool =
        std::env::var("KUBERNETES_VALIDATE").unwrap_or_else(|_| "kubernetes-validate".into());
    if !have(
        test,
        &tool,
        "pip install kubernetes-validate (scripts/test.sh does)",
    ) {
        return;
    }
    let dir = repo().join("deploy/kubernetes");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    assert!(files.len() >= 4, "{files:?}");
    let out = Command::new(&tool)
        .arg("--strict")
        .args(&files)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "kubernetes-validate: {text}");
    for f in &files {
        let name = f.file_name().unwrap().to_string_lossy();
        // The ServiceMonitor is a CRD the tool has no schema for.
        if name != "servicemonitor.yaml" {
            assert!(text.contains(&format!("{name} passed")), "{name}: {text}");
        }
    }
}
