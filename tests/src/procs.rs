//! Short-lived processes: a parent re-executes this binary as `count`
//! children at once; each child makes one TCP exchange and exits within
//! milliseconds, printing its own totals. The parent moves no bytes
//! itself; it gathers the children's lines into its `children` list.

use std::io;
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::Instant;

use crate::tally::{ChildTotals, GenReport};
use crate::{tcp, IO_TIMEOUT};

/// The child's whole life: one connection, `send` bytes out, reply in.
pub fn child(connect: SocketAddr, send: u64) -> io::Result<GenReport> {
    Ok(tcp::client(connect, 1, send, std::time::Duration::ZERO)?.into_report("short-child"))
}

/// Spawns `count` children (`<self> short-child ...`) and collects their
/// reports.
pub fn parent(connect: SocketAddr, count: u32, send: u64) -> io::Result<GenReport> {
    let exe = std::env::current_exe()?;
    let mut kids: Vec<Child> = Vec::new();
    for _ in 0..count {
        let c = Command::new(&exe)
            .args(["short-child", "--connect"])
            .arg(connect.to_string())
            .arg("--send")
            .arg(send.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()?;
        kids.push(c);
    }
    let start = Instant::now();
    let mut children = Vec::new();
    for kid in kids {
        let out = kid.wait_with_output()?;
        if !out.status.success() {
            return Err(io::Error::other(format!("a child failed: {}", out.status)));
        }
        let text = String::from_utf8_lossy(&out.stdout);
        let line = text.lines().last().unwrap_or_default();
        let r: GenReport = serde_json::from_str(line)
            .map_err(|e| io::Error::other(format!("child said {line:?}: {e}")))?;
        children.push(ChildTotals {
            pid: r.pid,
            tx_bytes: r.tx_bytes,
            rx_bytes: r.rx_bytes,
        });
        if start.elapsed() > IO_TIMEOUT * 2 {
            return Err(io::Error::other("children took too long"));
        }
    }
    Ok(GenReport {
        pid: std::process::id(),
        role: "short-procs".into(),
        children: Some(children),
        ..GenReport::default()
    })
}
