//! The history ledger's benchmark (see BENCHMARKS.md, "History"): a
//! synthetic agent of N identities × M remotes writes minute after minute
//! into a fresh SQLite file with the agent's upkeep once an hour, and this
//! prints the file's size at the end of each simulated day, the CPU and
//! wall time one minute's write takes, and how long queries over the whole
//! range take. `--minutes-kept-days D` keeps traffic minutes that long
//! instead of the default two days (for a query at minute resolution over
//! 30 days). Run through `bench/history.sh`, which also counts fsyncs.
//!
//! `--prefill-hours H` writes the first H hours not minute by minute but
//! as the fold leaves them: each hour's sums as one write into an hour
//! already folded (so to its hour and day rows, remotes bounded per
//! identity), which takes minutes instead of hours of real time for a
//! month; the minutes after it are written and folded as the agent does.
//!
//! `cargo run --release -p netoproc-history --example ledger_bench -- --days 3`

use std::time::{Duration, Instant};

use netoproc_history::db::Db;
use netoproc_history::ledger::{build_remote_day, upkeep, write_minute, Retention, HOUR};
use netoproc_history::model::{Dns, IdentityKey, Latency, Minute, Proto, Traffic};
use netoproc_history::query::{self, Filters, GroupBy, Query};
use netoproc_history::store::open_writer;
use netoproc_history::Target;

const T0: i64 = 1_764_547_200;

fn cpu() -> Duration {
    // SAFETY: getrusage fills the struct it is given; all-zero is a valid
    // rusage to start from.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: RUSAGE_SELF and a valid pointer.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    let t = |tv: libc::timeval| {
        Duration::from_secs(tv.tv_sec as u64) + Duration::from_micros(tv.tv_usec as u64)
    };
    t(ru.ru_utime) + t(ru.ru_stime)
}

fn arg(name: &str, default: i64) -> i64 {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map_or(default, |v| v.parse().expect("a number"))
}

fn minute(start: i64, ids: &[IdentityKey], remotes: usize, i: u64) -> Minute {
    let t = |n: u64| Traffic {
        payload_bytes_sent: 1000 + n,
        payload_bytes_received: 5000 + n,
        wire_bytes_sent: 1200 + n,
        wire_bytes_received: 5400 + n,
        packets_sent: 3,
        packets_received: 5,
    };
    let mut m = Minute {
        start,
        ..Minute::default()
    };
    for (k, id) in ids.iter().enumerate() {
        let n = i + k as u64;
        m.traffic.push((id.clone(), Proto::Tcp, t(n)));
        m.traffic.push((id.clone(), Proto::Udp, t(n / 2)));
        for r in 0..remotes {
            m.remotes.push((
                id.clone(),
                format!("10.{}.{}.{}", k % 200, r, i % 3),
                t(r as u64),
            ));
        }
        m.dns.push((
            id.clone(),
            String::new(),
            Dns {
                queries: 2,
                failures: 0,
                latency: Latency::default(),
            },
        ));
    }
    let mut lat = Latency::default();
    lat.buckets[3] = 100;
    for r in 0..5 {
        m.dns.push((
            IdentityKey::default(),
            format!("10.0.0.{r}:53"),
            Dns {
                queries: 100,
                failures: 1,
                latency: lat,
            },
        ));
    }
    m
}

/// One hour's sums (minutes `mi0..mi0 + 60` of a day) as one minute at
/// the hour's start: traffic and DNS added up, remotes of the three
/// minute patterns (`i % 3`) twenty times each.
fn hour_as_minute(start: i64, ids: &[IdentityKey], remotes: usize, mi0: u64) -> Minute {
    let mut h = minute(start, ids, remotes, mi0);
    for x in &mut h.traffic {
        x.2 = Traffic::default();
    }
    for d in &mut h.dns {
        d.2 = Dns::default();
    }
    for i in mi0..mi0 + 60 {
        let m = minute(start, ids, 0, i);
        for (a, b) in h.traffic.iter_mut().zip(&m.traffic) {
            a.2.add(&b.2);
        }
        for (a, b) in h.dns.iter_mut().zip(&m.dns) {
            a.2.add(&b.2);
        }
    }
    h.remotes.clear();
    for i in mi0..mi0 + 3 {
        for (id, r, t) in minute(start, ids, remotes, i).remotes {
            let mut x = Traffic::default();
            for _ in 0..20 {
                x.add(&t);
            }
            h.remotes.push((id, r, x));
        }
    }
    h
}

fn main() {
    let identities = arg("--identities", 500) as usize;
    let remotes = arg("--remotes", 50) as usize;
    let days = arg("--days", 3);
    let kept = arg("--minutes-kept-days", 2);
    let prefill = arg("--prefill-hours", 0);
    let dir = std::env::var("BENCH_DIR").unwrap_or_else(|_| "/var/tmp".into());
    // `--query-only FILE`: only the queries, over the first `--days` days
    // of a file an earlier run kept (BENCH_KEEP=1) or is still writing.
    let query_only = std::env::args()
        .skip_while(|a| a != "--query-only")
        .nth(1)
        .map(std::path::PathBuf::from);
    if let Some(p) = query_only {
        println!("queries over {} ({days} days)", p.display());
        queries(&Target::Sqlite(p), days);
        return;
    }
    let path =
        std::path::Path::new(&dir).join(format!("np-ledger-bench-{}.sqlite", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let target = Target::Sqlite(path.clone());
    let mut db = open_writer(&target).expect("open");
    let r = Retention {
        traffic_minutes_s: kept * 86400,
        detail_minutes_s: HOUR,
        retain_s: 30 * 86400,
        max_bytes: None,
    };
    let ids: Vec<IdentityKey> = (0..identities)
        .map(|i| IdentityKey {
            process: format!("proc{i}"),
            service: if i % 3 == 0 {
                format!("svc{i}.service")
            } else {
                String::new()
            },
            container: if i % 3 == 1 {
                format!("docker:{i:012x}")
            } else {
                String::new()
            },
            pod: String::new(),
            user: (1000 + i % 20).to_string(),
        })
        .collect();
    println!(
        "ledger bench: {identities} identities x {remotes} remotes, {days} days, traffic minutes kept {kept} d, file {}",
        path.display()
    );
    println!("day\tfile_MiB\tused_MiB\twrite_cpu_ms_per_minute\twrite_wall_ms_per_minute\tupkeep_cpu_s_per_day");
    let mut last_used = 0u64;
    let t_all = Instant::now();
    if prefill > 0 {
        // As if every table was folded up to the end of the prefill.
        for t in ["traffic", "remotes", "dns"] {
            db.exec(
                "INSERT INTO fold_state (host, tbl, until_bucket) VALUES (?, ?, ?)",
                &["bench".into(), t.into(), (T0 + prefill * HOUR).into()],
            )
            .expect("fold state");
        }
    }
    for day in 0..days {
        let (mut w_cpu, mut w_wall, mut u_cpu) = (Duration::ZERO, Duration::ZERO, Duration::ZERO);
        let mut written = 0u32;
        for mi in 0..1440 {
            let start = T0 + (day * 1440 + mi) * 60;
            if day * 24 + mi / 60 < prefill {
                if mi % 60 == 0 {
                    let h = hour_as_minute(start, &ids, remotes, mi as u64);
                    write_minute(db.as_mut(), "bench", &h).expect("prefill");
                }
                if mi == 23 * 60 {
                    // The day's last hour: its remotes over all identities,
                    // as the fold of that hour builds them.
                    db.begin().expect("begin");
                    build_remote_day(db.as_mut(), "bench", T0 + day * 86400).expect("remote day");
                    db.commit().expect("commit");
                }
                continue;
            }
            written += 1;
            let m = minute(start, &ids, remotes, mi as u64);
            let (c0, w0) = (cpu(), Instant::now());
            write_minute(db.as_mut(), "bench", &m).expect("write");
            w_cpu += cpu() - c0;
            w_wall += w0.elapsed();
            if mi % 60 == 59 {
                let c0 = cpu();
                upkeep(db.as_mut(), "bench", start + 60, &r).expect("upkeep");
                u_cpu += cpu() - c0;
            }
        }
        let used = db.used_bytes().unwrap().unwrap_or(0);
        let file = std::fs::metadata(&path).map_or(0, |m| m.len())
            + std::fs::metadata(path.with_extension("sqlite-wal")).map_or(0, |m| m.len());
        println!(
            "{}\t{:.1}\t{:.1}\t{:.1}\t{:.1}\t{:.1}",
            day + 1,
            file as f64 / 1048576.0,
            used as f64 / 1048576.0,
            w_cpu.as_secs_f64() * 1000.0 / f64::from(written.max(1)),
            w_wall.as_secs_f64() * 1000.0 / f64::from(written.max(1)),
            u_cpu.as_secs_f64()
        );
        eprintln!(
            "  day {} done after {:.0} s (grew {:.1} MiB)",
            day + 1,
            t_all.elapsed().as_secs_f64(),
            (used as f64 - last_used as f64) / 1048576.0
        );
        last_used = used;
    }
    drop(db);
    queries(&target, days);
    if std::env::var_os("BENCH_KEEP").is_none() {
        let _ = std::fs::remove_file(&path);
        let _ = std::fs::remove_file(path.with_extension("sqlite-wal"));
        let _ = std::fs::remove_file(path.with_extension("sqlite-shm"));
    }
}

/// Queries over the whole range, with a fresh reader (as the CLI).
fn queries(target: &Target, days: i64) {
    let end = T0 + days * 86400;
    let mut rd = netoproc_history::store::open_reader(target).expect("reader");
    for (what, since, g) in [
        ("whole range by process", T0, GroupBy::Process),
        ("whole range by identity", T0, GroupBy::Identity),
        ("whole range by remote", T0, GroupBy::Remote),
        ("last hour by process", end - 3600, GroupBy::Process),
        ("last day by process", end - 86400, GroupBy::Process),
        ("last day by remote", end - 86400, GroupBy::Remote),
        ("last hour by remote", end - 3600, GroupBy::Remote),
    ] {
        let q = Query {
            host: "bench".into(),
            since,
            until: end,
            group_by: g,
            limit: 20,
            filters: Filters::default(),
        };
        let t = Instant::now();
        let a = query::run(rd.as_mut(), &q).expect("query");
        println!(
            "query\t{what}\t{:.3} s\tresolution {} s\t{} rows\ttotal payload {}",
            t.elapsed().as_secs_f64(),
            a.resolution_seconds,
            a.rows.len(),
            a.total.payload_bytes_sent + a.total.payload_bytes_received
        );
    }
    // What reading every minute row of the range would cost (the ledger
    // reads hours for ranges over six hours).
    let t = Instant::now();
    let n = rd
        .rows(
            "SELECT process, CAST(SUM(payload_tx) AS BIGINT), CAST(SUM(payload_rx) AS BIGINT) FROM traffic WHERE host = ? AND res = 60 AND bucket >= ? AND bucket < ? GROUP BY process",
            &["bench".into(), T0.into(), end.into()],
        )
        .expect("minute scan")
        .len();
    println!(
        "query	whole range from minute rows (raw SQL, by process)	{:.3} s	{n} groups",
        t.elapsed().as_secs_f64()
    );
    let rows = |rd: &mut Box<dyn Db>, sql: &str| rd.rows(sql, &[]).unwrap()[0][0].int();
    println!(
        "rows\ttraffic {} (minutes {}), remotes {}, dns {}",
        rows(&mut rd, "SELECT COUNT(*) FROM traffic"),
        rows(&mut rd, "SELECT COUNT(*) FROM traffic WHERE res = 60"),
        rows(&mut rd, "SELECT COUNT(*) FROM remotes"),
        rows(&mut rd, "SELECT COUNT(*) FROM dns")
    );
}
