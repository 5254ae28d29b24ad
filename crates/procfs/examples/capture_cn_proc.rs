//! Captures raw proc connector datagrams as test fixtures: subscribes, runs
//! `sh -c 'sleep 0.1 & wait; exit 3'` (forks, execs, exits with a code) and
//! a thread, and writes each datagram about that process tree received in
//! the next second to `DIR/NN-<event>.bin`. Needs root (CAP_NET_ADMIN). A
//! thread's fork event names the parent of its process as parent.
//!
//! `cargo run -p netoproc-procfs --example capture_cn_proc -- crates/procfs/testdata/cn_proc`

use std::collections::HashSet;
use std::time::{Duration, Instant};

use netoproc_procfs::proc_events::{parse_datagram, ProcConnector, ProcEvent};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::args()
        .nth(1)
        .ok_or("usage: capture_cn_proc DIR")?;
    std::fs::create_dir_all(&dir)?;
    let mut conn = ProcConnector::subscribe()?;
    let mut child = std::process::Command::new("sh")
        .args(["-c", "sleep 0.1 & wait; exit 3"])
        .spawn()?;
    // A thread of ours: a fork and an exit whose pid is not its tgid.
    std::thread::spawn(|| std::thread::sleep(Duration::from_millis(50)))
        .join()
        .ok();
    let mut tree: HashSet<u32> = HashSet::from([child.id(), std::process::id()]);
    let mut buf = vec![0u8; 16 * 1024];
    let (mut n, deadline) = (0, Instant::now() + Duration::from_secs(1));
    while Instant::now() < deadline {
        let Some(data) = conn.recv(&mut buf)? else {
            continue;
        };
        let events = parse_datagram(data);
        let kind = match events.first() {
            Some(ProcEvent::Fork {
                parent_tgid,
                child_pid,
                child_tgid,
                ..
            }) if tree.contains(parent_tgid) || tree.contains(child_tgid) => {
                tree.insert(*child_tgid);
                if child_pid == child_tgid {
                    "fork"
                } else {
                    "thread-fork"
                }
            }
            Some(ProcEvent::Exec { tgid, .. }) if tree.contains(tgid) => "exec",
            Some(ProcEvent::Exit { pid, tgid, .. })
                if *tgid == std::process::id() && pid != tgid =>
            {
                "thread-exit"
            }
            Some(ProcEvent::Exit { tgid, .. }) if tree.contains(tgid) => "exit",
            Some(ProcEvent::Other { .. }) => continue,
            _ => continue,
        };
        std::fs::write(format!("{dir}/{n:02}-{kind}.bin"), data)?;
        println!("{n:02} {kind}: {events:?}");
        n += 1;
    }
    child.wait()?;
    Ok(())
}
