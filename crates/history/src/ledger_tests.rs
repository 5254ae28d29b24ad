//! The ledger against real SQLite files: rollups and exact sums, remote
//! bounds, DNS, folding, retention, the size cap, migrations, a corrupt
//! file, and the writer's queue when the store is down.

use std::sync::atomic::Ordering;
use std::time::Duration;

use crate::db::Db;
use crate::ledger::{upkeep, write_minute, Retention, DAY, HOUR};
use crate::model::{
    Dns, IdentityKey, Latency, Minute, Proto, Traffic, MAX_REMOTES_PER_IDENTITY, OTHER_REMOTE,
};
use crate::query::{self, Filters, GroupBy, Query};
use crate::schema::SCHEMA_VERSION;
use crate::store::{open_at, open_reader, open_writer};
use crate::target::Target;
use crate::writer::{Writer, WriterConfig};

const T0: i64 = 1_764_547_200; // 2025-12-01T00:00:00Z

fn id(process: &str, user: &str) -> IdentityKey {
    IdentityKey {
        process: process.into(),
        user: user.into(),
        ..IdentityKey::default()
    }
}

fn traffic(n: u64) -> Traffic {
    Traffic {
        payload_bytes_sent: n,
        payload_bytes_received: 2 * n,
        wire_bytes_sent: n + 40,
        wire_bytes_received: 2 * n + 40,
        packets_sent: 1,
        packets_received: 2,
    }
}

fn temp_store() -> (tempfile::TempDir, Target) {
    let dir = tempfile::tempdir().unwrap();
    let t = Target::Sqlite(dir.path().join("h.sqlite"));
    (dir, t)
}

fn q(since: i64, until: i64, g: GroupBy) -> Query {
    Query {
        host: "h1".into(),
        since,
        until,
        group_by: g,
        limit: 20,
        filters: Filters::default(),
    }
}

fn no_upkeep_limits() -> Retention {
    Retention {
        traffic_minutes_s: 2 * 86400,
        detail_minutes_s: HOUR,
        retain_s: 365 * 86400,
        max_bytes: None,
    }
}

#[test]
fn minutes_add_up_by_group_with_filters_limits_and_series() {
    let (_d, t) = temp_store();
    let mut db = open_writer(&t).unwrap();
    let Target::Sqlite(p) = &t else {
        unreachable!()
    };
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(p).unwrap().permissions().mode() & 0o777,
        0o600
    );
    for i in 0..10 {
        let m = Minute {
            start: T0 + 60 * i,
            traffic: vec![
                (id("curl", "0"), Proto::Tcp, traffic(100)),
                (id("curl", "0"), Proto::Udp, traffic(5)),
                (id("nginx", "33"), Proto::Tcp, traffic(1000 + i as u64)),
                (id("dig", "1000"), Proto::Udp, traffic(1)),
            ],
            ..Minute::default()
        };
        write_minute(db.as_mut(), "h1", &m).unwrap();
        // Another host's rows never show in h1's answers.
        write_minute(db.as_mut(), "h2", &m).unwrap();
    }
    // The same minute again (a restarted agent): added, not replaced.
    let again = Minute {
        start: T0,
        traffic: vec![(id("dig", "1000"), Proto::Udp, traffic(1))],
        ..Minute::default()
    };
    write_minute(db.as_mut(), "h1", &again).unwrap();
    let mut r = open_reader(&t).unwrap();
    let a = query::run(r.as_mut(), &q(T0, T0 + 600, GroupBy::Process)).unwrap();
    assert_eq!(a.resolution_seconds, 60);
    let labels: Vec<&str> = a.rows.iter().map(|r| r.label.as_str()).collect();
    assert_eq!(labels, ["nginx", "curl", "dig"]);
    assert_eq!(a.rows[0].traffic.payload_bytes_sent, 10_045);
    assert_eq!(a.rows[1].traffic.payload_bytes_sent, 1050);
    assert_eq!(a.rows[2].traffic.packets_sent, 11);
    let mut sum = Traffic::default();
    for row in &a.rows {
        sum.add(&row.traffic);
    }
    assert_eq!(sum, a.total);
    // Series: payload per point, adding up to the rows.
    let s: i64 = a.series[0].points.iter().map(|p| p[1]).sum();
    assert_eq!(s, 10_045);
    assert_eq!(a.series[0].points[0][0], T0);
    // Limit 1: the rest folded into `other`, the total unchanged.
    let mut lim = q(T0, T0 + 600, GroupBy::Process);
    lim.limit = 1;
    let b = query::run(r.as_mut(), &lim).unwrap();
    assert_eq!(b.rows.len(), 2);
    assert!(b.rows[1].other && b.rows[1].label == "other");
    assert_eq!(b.total, a.total);
    assert_eq!(
        b.rows[1].traffic.payload_bytes_sent,
        a.rows[1].traffic.payload_bytes_sent + a.rows[2].traffic.payload_bytes_sent
    );
    let bs: i64 = b.series[1].points.iter().map(|p| p[1]).sum();
    assert_eq!(bs as u64, b.rows[1].traffic.payload_bytes_sent);
    // Filters and other groupings.
    let mut f = q(T0, T0 + 600, GroupBy::User);
    f.filters.process = Some("curl".into());
    let c = query::run(r.as_mut(), &f).unwrap();
    assert_eq!(c.rows.len(), 1);
    assert_eq!(c.rows[0].key["user"], "0");
    assert_eq!(c.total.payload_bytes_received, 2 * 1050);
    // A part of the range.
    let d = query::run(r.as_mut(), &q(T0 + 120, T0 + 180, GroupBy::Identity)).unwrap();
    assert_eq!(d.total.payload_bytes_sent, 100 + 5 + 1002 + 1);
    // Bad input is an error of its own kind.
    let e = query::run(r.as_mut(), &q(T0, T0, GroupBy::Process)).unwrap_err();
    assert!(e.is_bad_query());
    let mut big = q(T0, T0 + 60, GroupBy::Process);
    big.limit = 5000;
    assert!(query::run(r.as_mut(), &big).unwrap_err().is_bad_query());
    assert_eq!(query::hosts(r.as_mut()).unwrap(), ["h1", "h2"]);
}

#[test]
fn remotes_are_bounded_per_identity_with_exact_sums_also_when_folded() {
    let (_d, t) = temp_store();
    let mut db = open_writer(&t).unwrap();
    let mut expect = Traffic::default();
    for minute in 0..3 {
        // 60 remotes a minute, different ones each minute.
        let remotes: Vec<(IdentityKey, String, Traffic)> = (0..60)
            .map(|i| {
                let x = traffic(i + 1);
                expect.add(&x);
                (id("curl", "0"), format!("10.{minute}.0.{i}"), x)
            })
            .collect();
        let m = Minute {
            start: T0 + 60 * minute as i64,
            remotes,
            ..Minute::default()
        };
        write_minute(db.as_mut(), "h1", &m).unwrap();
    }
    let rows = db
        .rows(
            "SELECT COUNT(*) FROM remotes WHERE res = 60 AND bucket = ?",
            &[T0.into()],
        )
        .unwrap();
    assert_eq!(rows[0][0].int(), 51, "50 remotes and the overflow row");
    let mut all = q(T0, T0 + 180, GroupBy::Remote);
    all.limit = 1000;
    let a = query::run(db.as_mut(), &all).unwrap();
    assert_eq!(a.total, expect);
    assert!(a.rows.iter().any(|r| r.key["remote"] == OTHER_REMOTE));
    // Folded into one hour: still 50 + 1 rows and the same sums; the
    // day's rows (180 remotes written to it) bounded again too.
    upkeep(db.as_mut(), "h1", T0 + 3 * HOUR, &no_upkeep_limits()).unwrap();
    let n = db
        .rows(
            "SELECT res, COUNT(*) FROM remotes GROUP BY res ORDER BY res",
            &[],
        )
        .unwrap();
    let n: Vec<(i64, i64)> = n.iter().map(|r| (r[0].int(), r[1].int())).collect();
    assert_eq!(n, vec![(3600, 51), (86400, 51)]);
    let mut days = q(T0, T0 + 3 * DAY, GroupBy::Remote);
    days.limit = 1000;
    let c = query::run(db.as_mut(), &days).unwrap();
    assert_eq!((c.resolution_seconds, c.total), (DAY, expect));
    assert_eq!(c.rows.len(), 51);
    let b = query::run(db.as_mut(), &all).unwrap();
    assert_eq!(b.resolution_seconds, 3600);
    assert_eq!(b.total, expect);
}

#[test]
fn dns_per_identity_and_resolver_with_percentiles_across_a_fold() {
    let (_d, t) = temp_store();
    let mut db = open_writer(&t).unwrap();
    let mut lat = Latency::default();
    lat.buckets[2] = 98; // ≤ 2.5 ms
    lat.buckets[9] = 2; // ≤ 500 ms
    for minute in 0..2 {
        let m = Minute {
            start: T0 + 60 * minute,
            dns: vec![
                (
                    id("curl", "0"),
                    String::new(),
                    Dns {
                        queries: 10,
                        failures: 1,
                        latency: Latency::default(),
                    },
                ),
                (
                    IdentityKey::default(),
                    "10.0.0.1:53".into(),
                    Dns {
                        queries: 100,
                        failures: 0,
                        latency: lat,
                    },
                ),
            ],
            ..Minute::default()
        };
        write_minute(db.as_mut(), "h1", &m).unwrap();
    }
    let check = |db: &mut dyn Db, res: i64| {
        let a = query::dns(db, &q(T0, T0 + 120, GroupBy::Process)).unwrap();
        assert_eq!(a.resolution_seconds, res);
        assert_eq!(a.rows.len(), 2);
        assert_eq!(
            (a.rows[0].resolver.as_str(), a.rows[0].queries),
            ("10.0.0.1:53", 200)
        );
        assert_eq!(a.rows[0].latency_p50_ms, Some(2.5));
        assert_eq!(a.rows[0].latency_p99_ms, Some(500.0));
        assert_eq!(
            (
                a.rows[1].process.as_str(),
                a.rows[1].queries,
                a.rows[1].failures
            ),
            ("curl", 20, 2)
        );
        assert_eq!(a.rows[1].latency_p50_ms, None);
    };
    check(db.as_mut(), 60);
    upkeep(db.as_mut(), "h1", T0 + 3 * HOUR, &no_upkeep_limits()).unwrap();
    check(db.as_mut(), 3600);
}

/// Thirty days of minutes (every fifth one written, to keep the test
/// quick), folded as the agent folds them: every answer is exact.
#[test]
fn thirty_generated_days_fold_into_exact_sums() {
    let (_d, t) = temp_store();
    let mut db = open_writer(&t).unwrap();
    let ids = [id("curl", "0"), id("nginx", "33"), id("postgres", "105")];
    let mut total = Traffic::default();
    let mut last_day = Traffic::default();
    let mut last_six_hours = Traffic::default();
    let days = 30;
    let r = Retention {
        traffic_minutes_s: 2 * 86400,
        detail_minutes_s: HOUR,
        retain_s: 60 * 86400,
        max_bytes: None,
    };
    for m in (0..days * 1440).step_by(5) {
        let start = T0 + 60 * m;
        let mut minute = Minute {
            start,
            ..Minute::default()
        };
        for (i, who) in ids.iter().enumerate() {
            let x = traffic((m as u64 * 7 + i as u64 * 13) % 997 + 1);
            total.add(&x);
            if m >= (days - 1) * 1440 {
                last_day.add(&x);
            }
            if m >= days * 1440 - 360 {
                last_six_hours.add(&x);
            }
            minute.traffic.push((who.clone(), Proto::Tcp, x));
            // Remotes: more than the bound over a day (a new one every
            // quarter hour), as many bytes as the traffic in all.
            let far = format!("10.0.{}.{}", (m / 15) % 96, i);
            minute.remotes.push((who.clone(), far, x));
        }
        write_minute(db.as_mut(), "h1", &minute).unwrap();
        if m % 60 == 0 {
            upkeep(db.as_mut(), "h1", start, &r).unwrap();
        }
    }
    let end = T0 + days * 86400;
    upkeep(db.as_mut(), "h1", end, &r).unwrap();
    let hours = db
        .rows("SELECT COUNT(*) FROM traffic WHERE res = 3600", &[])
        .unwrap()[0][0]
        .int();
    let minutes = db
        .rows("SELECT COUNT(*) FROM traffic WHERE res = 60", &[])
        .unwrap()[0][0]
        .int();
    assert!(hours > 0 && minutes > 0, "{hours} hours, {minutes} minutes");
    // The month from day rows, by every grouping: exact totals, rows and
    // series that add up to them.
    for g in [
        GroupBy::Process,
        GroupBy::Identity,
        GroupBy::User,
        GroupBy::Remote,
    ] {
        let a = query::run(db.as_mut(), &q(T0, end, g)).unwrap();
        assert_eq!((a.resolution_seconds, a.since, a.until), (86400, T0, end));
        assert_eq!(a.total, total, "{g:?}");
        let s: u64 = a.rows.iter().map(|r| r.traffic.payload_bytes_sent).sum();
        assert_eq!(s, total.payload_bytes_sent, "{g:?}");
        let series: i64 = a.series.iter().flat_map(|s| &s.points).map(|p| p[2]).sum();
        assert_eq!(series as u64, total.payload_bytes_received, "{g:?}");
        assert_eq!(a.series[0].points.len(), 30);
    }
    // Day rows of remotes are bounded per identity once their hours fold.
    let most = db
        .rows(
            "SELECT MAX(n) FROM (SELECT COUNT(*) AS n FROM remotes WHERE res = 86400 AND bucket < ? GROUP BY bucket, process) AS c",
            &[(end - 86400).into()],
        )
        .unwrap()[0][0]
        .int();
    assert!(
        most <= MAX_REMOTES_PER_IDENTITY as i64 + 1,
        "{most} remote rows of one identity's day"
    );
    // A month by remote read `remote_days` (one row per remote and day:
    // under the bound here), and agrees with the identities' day rows,
    // which a filtered query reads.
    let per_day = db
        .rows(
            "SELECT COUNT(*), COUNT(DISTINCT bucket) FROM remote_days",
            &[],
        )
        .unwrap();
    assert_eq!(per_day[0][1].int(), 30);
    // Three identities' 50 busiest remotes a day each and one `other`.
    assert_eq!(per_day[0][0].int(), 30 * (3 * 50 + 1));
    let mut by_curl = q(T0, end, GroupBy::Remote);
    by_curl.filters.process = Some("curl".into());
    by_curl.limit = 1000;
    let f = query::run(db.as_mut(), &by_curl).unwrap();
    let mut all = q(T0, end, GroupBy::Remote);
    all.limit = 1000;
    let g = query::run(db.as_mut(), &all).unwrap();
    let curl = |r: &query::Row| r.key["remote"].ends_with(".0");
    let from_days: u64 = g
        .rows
        .iter()
        .filter(|r| curl(r))
        .map(|r| r.traffic.volume())
        .sum();
    let named: u64 = f
        .rows
        .iter()
        .filter(|r| !r.other && r.key["remote"] != OTHER_REMOTE)
        .map(|r| r.traffic.volume())
        .sum();
    assert_eq!(named, from_days);
    assert!(named > 0 && named < f.total.volume());
    // A range not on day boundaries is widened to whole days, and says so.
    let w = query::run(db.as_mut(), &q(T0 + 5000, end - 5000, GroupBy::Remote)).unwrap();
    assert_eq!((w.since, w.until, w.total), (T0, end, total));
    // Two days from hours agree with the same days from day rows.
    let h = query::run(db.as_mut(), &q(end - 2 * 86400, end, GroupBy::Remote)).unwrap();
    assert_eq!(h.resolution_seconds, 3600);
    let d = query::run(db.as_mut(), &q(end - 2 * 86400 - 1, end, GroupBy::Remote)).unwrap();
    assert_eq!(d.resolution_seconds, 86400);
    let mut three_days = h.total;
    let first = query::run(
        db.as_mut(),
        &q(end - 3 * 86400, end - 2 * 86400, GroupBy::Process),
    )
    .unwrap();
    three_days.add(&first.total);
    assert_eq!(d.total, three_days);
    // The last day from hours, its last six hours from minutes.
    let b = query::run(db.as_mut(), &q(end - 86400, end, GroupBy::Identity)).unwrap();
    assert_eq!(b.resolution_seconds, 3600);
    assert_eq!(b.total, last_day);
    let c = query::run(db.as_mut(), &q(end - 6 * 3600, end, GroupBy::Identity)).unwrap();
    assert_eq!(c.resolution_seconds, 60);
    assert_eq!(c.total, last_six_hours);
    // A minute buffered through a long outage arrives after its hour was
    // folded: it goes to the hour, and sums stay exact.
    let late = Minute {
        start: T0 + 60,
        traffic: vec![(ids[0].clone(), Proto::Udp, traffic(12_345))],
        remotes: vec![(ids[0].clone(), "10.9.9.9".into(), traffic(12_345))],
        ..Minute::default()
    };
    write_minute(db.as_mut(), "h1", &late).unwrap();
    total.add(&traffic(12_345));
    let d = query::run(db.as_mut(), &q(T0, end, GroupBy::Process)).unwrap();
    assert_eq!(d.total, total);
    let e = query::run(db.as_mut(), &q(T0, end, GroupBy::Remote)).unwrap();
    assert_eq!(e.total, total);
    let e = query::run(db.as_mut(), &q(T0, T0 + HOUR, GroupBy::Remote)).unwrap();
    let first_hour = query::run(db.as_mut(), &q(T0, T0 + HOUR, GroupBy::Process)).unwrap();
    assert_eq!(e.total, first_hour.total);
    let stray = db
        .rows(
            "SELECT COUNT(*) FROM traffic WHERE res = 60 AND bucket < ?",
            &[(end - 2 * 86400).into()],
        )
        .unwrap()[0][0]
        .int();
    assert_eq!(stray, 0, "no minute row left behind a fold");
}

#[test]
fn retention_and_the_size_cap_delete_the_oldest_and_count_it() {
    let (_d, t) = temp_store();
    let mut db = open_writer(&t).unwrap();
    let write_day = |db: &mut dyn Db, day: i64| {
        for h in 0..24 {
            let m = Minute {
                start: T0 + day * 86400 + h * HOUR,
                traffic: (0..50)
                    .map(|i| (id(&format!("p{i}"), "0"), Proto::Tcp, traffic(10)))
                    .collect(),
                ..Minute::default()
            };
            write_minute(db, "h1", &m).unwrap();
        }
    };
    for day in 0..10 {
        write_day(db.as_mut(), day);
    }
    let mut r = no_upkeep_limits();
    r.retain_s = 5 * 86400;
    let now = T0 + 10 * 86400;
    let u = upkeep(db.as_mut(), "h1", now, &r).unwrap();
    assert_eq!(
        u.deleted_by_age,
        5 * 24 * 50 + 5 * 50,
        "five days of 24 x 50 hour rows and 50 day rows"
    );
    let oldest = db.rows("SELECT MIN(bucket) FROM traffic", &[]).unwrap()[0][0].int();
    assert!(oldest >= now - 5 * 86400);
    // A cap at a third of what is left: the oldest hours go until it fits.
    let used = db.used_bytes().unwrap().unwrap();
    r.max_bytes = Some(used / 3);
    let u = upkeep(db.as_mut(), "h1", now, &r).unwrap();
    assert!(u.deleted_by_size > 0);
    assert!(db.used_bytes().unwrap().unwrap() <= used / 3);
    let newest = db.rows("SELECT MAX(bucket) FROM traffic", &[]).unwrap()[0][0].int();
    assert_eq!(
        newest,
        T0 + 9 * 86400 + 23 * HOUR,
        "the newest hour is kept"
    );
    let after = db.rows("SELECT MIN(bucket) FROM traffic", &[]).unwrap()[0][0].int();
    assert!(after > oldest);
    // The file itself shrank (incremental vacuum), not just its pages.
    let Target::Sqlite(p) = &t else {
        unreachable!()
    };
    let len = std::fs::metadata(p).unwrap().len();
    assert!(len <= used, "file {len} bytes, was using {used}");
}

#[test]
fn an_older_schema_is_migrated_forward_and_a_newer_one_refused() {
    let (_d, t) = temp_store();
    {
        let mut v1 = open_at(&t, 1).unwrap();
        v1.batch(&format!(
            "INSERT INTO traffic VALUES ('h1', 60, {T0}, 'curl', '', '', '', '0', 'tcp', 5, 6, 7, 8, 1, 2)"
        ))
        .unwrap();
    }
    {
        // Version 2 (no day rows): traffic hours, remote hours and minutes.
        let mut v2 = open_at(&t, 2).unwrap();
        v2.batch(&format!(
            "INSERT INTO traffic VALUES ('h1', 3600, {T0}, 'curl', '', '', '', '0', 'tcp', 5, 6, 7, 8, 1, 2);
             INSERT INTO traffic VALUES ('h1', 3600, {h}, 'curl', '', '', '', '0', 'tcp', 50, 60, 70, 80, 10, 20);
             INSERT INTO traffic VALUES ('h1', 3600, {d}, 'curl', '', '', '', '0', 'tcp', 1, 1, 1, 1, 1, 1);
             INSERT INTO remotes VALUES ('h1', 3600, {T0}, 'curl', '', '', '', '0', '10.0.0.1', 5, 6, 7, 8, 1, 2);
             INSERT INTO remotes VALUES ('h1', 60, {m}, 'curl', '', '', '', '0', '10.0.0.1', 50, 60, 70, 80, 10, 20);",
            h = T0 + 5 * HOUR,
            d = T0 + DAY,
            m = T0 + 7 * HOUR + 60,
        ))
        .unwrap();
    }
    let mut db = open_writer(&t).unwrap();
    assert_eq!(crate::schema::version(db.as_mut()).unwrap(), SCHEMA_VERSION);
    let a = query::run(db.as_mut(), &q(T0, T0 + 60, GroupBy::Process)).unwrap();
    assert_eq!(a.total.payload_bytes_received, 6);
    // The migration made day rows of what was there: three days read
    // from them add up.
    for g in [GroupBy::Process, GroupBy::Remote] {
        let a = query::run(db.as_mut(), &q(T0, T0 + 3 * DAY, g)).unwrap();
        assert_eq!(a.resolution_seconds, DAY);
        let want = if g == GroupBy::Process {
            6 + 60 + 1
        } else {
            66
        };
        assert_eq!(a.total.payload_bytes_received, want, "{g:?}");
    }
    db.batch("UPDATE history_meta SET value = '99' WHERE key = 'schema_version'")
        .unwrap();
    drop(db);
    let e = open_writer(&t).err().unwrap().to_string();
    assert!(e.contains("schema version 99 is newer"), "{e}");
    let e = open_reader(&t).err().unwrap().to_string();
    assert!(e.contains("schema version 99 is newer"), "{e}");
}

#[test]
fn a_corrupt_or_missing_file_is_a_clear_error() {
    let (d, t) = temp_store();
    let Target::Sqlite(p) = &t else {
        unreachable!()
    };
    std::fs::write(p, vec![0x5a; 8192]).unwrap();
    let e = crate::error::chain(&open_writer(&t).err().unwrap());
    assert!(
        e.contains("h.sqlite") && e.contains("not a database"),
        "{e}"
    );
    let e = crate::error::chain(&open_reader(&t).err().unwrap());
    assert!(e.contains("not a database"), "{e}");
    let missing = Target::Sqlite(d.path().join("nope.sqlite"));
    let e = open_reader(&missing).err().unwrap().to_string();
    assert!(e.contains("no such file"), "{e}");
}

#[test]
fn the_writer_buffers_counts_what_it_drops_and_writes_once_the_store_is_back() {
    let dir = tempfile::tempdir().unwrap();
    // A folder where the file should be: it cannot be opened yet.
    let path = dir.path().join("h.sqlite");
    std::fs::create_dir(&path).unwrap();
    let cfg = WriterConfig {
        target: Target::Sqlite(path.clone()),
        host: "h1".into(),
        retention: no_upkeep_limits(),
        buffer_minutes: 2,
        retry: Duration::from_millis(50),
        upkeep_every: Duration::from_secs(60),
    };
    let w = Writer::start(cfg, Box::new(|| T0 + 600)).unwrap();
    let st = w.status();
    for i in 0..3 {
        w.push(Minute {
            start: T0 + 60 * i,
            traffic: vec![(id("curl", "0"), Proto::Tcp, traffic(1))],
            ..Minute::default()
        });
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while st.write_errors.load(Ordering::Relaxed) == 0 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(!st.up.load(Ordering::Relaxed));
    assert!(st.last_error().unwrap().contains("h.sqlite"));
    assert_eq!(st.minutes_dropped.load(Ordering::Relaxed), 1);
    // The store comes back: the two buffered minutes are written.
    std::fs::remove_dir(&path).unwrap();
    while st.minutes_written.load(Ordering::Relaxed) < 2 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(st.up.load(Ordering::Relaxed));
    w.stop();
    let mut db = open_reader(&Target::Sqlite(path)).unwrap();
    let a = query::run(db.as_mut(), &q(T0, T0 + 180, GroupBy::Process)).unwrap();
    assert_eq!(
        a.total.payload_bytes_sent, 2,
        "minutes 1 and 2; 0 was dropped"
    );
}
