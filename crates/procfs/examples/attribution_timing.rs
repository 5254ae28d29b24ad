//! Times the attribution building blocks on this host: a full `/proc` fd
//! scan and a sock_diag dump of all TCP/UDP sockets (median of 20 runs),
//! optionally after opening N extra loopback UDP sockets.
//!
//! `cargo run --release -p netoproc-procfs --example attribution_timing -- [N]`

use std::time::{Duration, Instant};

use netoproc_procfs::sock_diag::SockDiag;
use netoproc_procfs::{FdIndex, ProcRoot};

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let extra: usize = std::env::args().nth(1).map_or(Ok(0), |s| s.parse())?;
    let _sockets: Vec<_> = (0..extra)
        .map(|_| std::net::UdpSocket::bind("127.0.0.1:0"))
        .collect::<Result<_, _>>()?;
    let proc = ProcRoot::default();
    let (mut scans, mut stats) = (Vec::new(), None);
    for _ in 0..20 {
        let t = Instant::now();
        stats = Some(FdIndex::scan(&proc).1);
        scans.push(t.elapsed());
    }
    let mut diag = SockDiag::open()?;
    let (mut dumps, mut n) = (Vec::new(), 0);
    for _ in 0..20 {
        let t = Instant::now();
        n = diag.dump_all()?.len();
        dumps.push(t.elapsed());
    }
    println!(
        "full fd scan: {:?} for {:?}",
        median(scans),
        stats.unwrap_or_default()
    );
    println!("sock_diag dump: {:?} for {n} sockets", median(dumps));
    Ok(())
}
