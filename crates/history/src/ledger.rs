//! The ledger's writes and upkeep, over any [`Db`]: a closed minute's
//! rows added (upserts that add, so a restarted agent writing the same
//! minute again adds to it; traffic goes to its minute, hour and day at
//! once, remotes to their minute and day, so a month is read from days),
//! minutes folded into hours (remotes and DNS, re-bounded; the day's
//! remotes bounded again and `remote_days` rebuilt) or deleted once their
//! hours hold them (traffic), rows past the
//! retention deleted, and (SQLite) the oldest hours deleted while the
//! store is over its size cap. Every row deleted by age or size is
//! counted in [`Upkeep`]; folding loses nothing (sums are kept exactly,
//! remotes past the bound go to the overflow row).

use std::collections::BTreeMap;

use crate::db::{Db, Value};
use crate::error::HistoryError;
use crate::model::{
    bound_remotes, Dns, IdentityKey, Latency, Minute, Traffic, MAX_REMOTES_PER_IDENTITY,
};

/// A minute row's resolution, seconds (the `res` column).
pub const MINUTE: i64 = 60;
/// An hour row's resolution, seconds.
pub const HOUR: i64 = 3600;
/// A day row's resolution, seconds (UTC days).
pub const DAY: i64 = 86400;

/// The tables with minute and hour rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Table {
    /// Traffic per identity and protocol (minute, hour and day rows).
    Traffic,
    /// Each identity's busiest remotes (minute, hour and day rows).
    Remotes,
    /// DNS per identity and per resolver (minute and hour rows).
    Dns,
    /// Each day's remotes over all identities (day rows only).
    RemoteDays,
}

impl Table {
    /// The table's SQL name.
    pub fn name(self) -> &'static str {
        match self {
            Table::Traffic => "traffic",
            Table::Remotes => "remotes",
            Table::Dns => "dns",
            Table::RemoteDays => "remote_days",
        }
    }

    /// The column after the identity's in the key.
    fn extra(self) -> &'static str {
        match self {
            Table::Traffic => "protocol",
            Table::Remotes => "remote",
            Table::Dns => "resolver",
            Table::RemoteDays => "remote",
        }
    }
}

pub(crate) const ID_COLS: &str = "process, service, container, pod, uid";
const TRAFFIC_COLS: [&str; 6] = [
    "payload_tx",
    "payload_rx",
    "wire_tx",
    "wire_rx",
    "packets_tx",
    "packets_rx",
];

/// At most this many remotes per host and day in `remote_days` (the rest
/// summed in the overflow row).
pub const MAX_REMOTES_PER_DAY: usize = 1000;

/// How long minutes are kept before they are folded into hours, and how
/// much is kept at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// Traffic minutes older than this (whole hours) are folded into hours.
    pub traffic_minutes_s: i64,
    /// Remote and DNS minutes (many more rows) are folded sooner.
    pub detail_minutes_s: i64,
    /// Rows older than this are deleted.
    pub retain_s: i64,
    /// SQLite: the oldest hours are deleted while the file is larger.
    pub max_bytes: Option<u64>,
}

/// Rows are kept 30 days unless told otherwise (seconds).
pub const DEFAULT_RETAIN_S: i64 = 30 * 86400;
/// The SQLite file is kept under 1 GiB unless told otherwise (MiB).
pub const DEFAULT_MAX_MIB: u64 = 1024;

impl Default for Retention {
    fn default() -> Self {
        Retention {
            traffic_minutes_s: 2 * 86400,
            detail_minutes_s: HOUR,
            retain_s: DEFAULT_RETAIN_S,
            max_bytes: Some(DEFAULT_MAX_MIB << 20),
        }
    }
}

/// What one round of upkeep did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Upkeep {
    /// Minute rows folded into hour rows.
    pub minutes_folded: u64,
    /// Rows deleted for being older than the retention.
    pub deleted_by_age: u64,
    /// Rows deleted to bring the store under its size cap.
    pub deleted_by_size: u64,
}

fn identity_params(id: &IdentityKey) -> [Value; 5] {
    [
        (&id.process).into(),
        (&id.service).into(),
        (&id.container).into(),
        (&id.pod).into(),
        (&id.user).into(),
    ]
}

fn upsert_traffic_sql(table: Table) -> String {
    let cols = TRAFFIC_COLS.join(", ");
    let set: Vec<String> = TRAFFIC_COLS
        .iter()
        .map(|c| format!("{c} = {t}.{c} + excluded.{c}", t = table.name()))
        .collect();
    format!(
        "INSERT INTO {t} (host, res, bucket, {ID_COLS}, {x}, {cols}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (host, res, bucket, {ID_COLS}, {x}) DO UPDATE SET {set}",
        t = table.name(),
        x = table.extra(),
        set = set.join(", ")
    )
}

const UPSERT_REMOTE_DAY: &str = "INSERT INTO remote_days (host, bucket, remote, payload_tx, payload_rx, wire_tx, wire_rx, packets_tx, packets_rx)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
     ON CONFLICT (host, bucket, remote) DO UPDATE SET payload_tx = remote_days.payload_tx + excluded.payload_tx,
     payload_rx = remote_days.payload_rx + excluded.payload_rx, wire_tx = remote_days.wire_tx + excluded.wire_tx,
     wire_rx = remote_days.wire_rx + excluded.wire_rx, packets_tx = remote_days.packets_tx + excluded.packets_tx,
     packets_rx = remote_days.packets_rx + excluded.packets_rx";

const UPSERT_DNS: &str = "INSERT INTO dns (host, res, bucket, process, service, container, pod, uid, resolver, queries, failures, latency)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
     ON CONFLICT (host, res, bucket, process, service, container, pod, uid, resolver)
     DO UPDATE SET queries = dns.queries + excluded.queries, failures = dns.failures + excluded.failures, latency = excluded.latency";

fn traffic_row(
    host: &str,
    res: i64,
    bucket: i64,
    id: &IdentityKey,
    extra: &str,
    t: &Traffic,
) -> Vec<Value> {
    let mut p = vec![host.into(), res.into(), bucket.into()];
    p.extend(identity_params(id));
    p.push(extra.into());
    p.extend(t.as_array().map(Value::from));
    p
}

/// Where a table's minutes end for `host`: rows before it are hours.
pub fn folded_until(db: &mut dyn Db, host: &str, table: Table) -> Result<i64, HistoryError> {
    let rows = db.rows(
        "SELECT until_bucket FROM fold_state WHERE host = ? AND tbl = ?",
        &[host.into(), table.name().into()],
    )?;
    Ok(rows.first().map_or(i64::MIN, |r| r[0].int()))
}

fn set_folded_until(
    db: &mut dyn Db,
    host: &str,
    table: Table,
    until: i64,
) -> Result<(), HistoryError> {
    db.exec(
        "INSERT INTO fold_state (host, tbl, until_bucket) VALUES (?, ?, ?)
         ON CONFLICT (host, tbl) DO UPDATE SET until_bucket = excluded.until_bucket",
        &[host.into(), table.name().into(), until.into()],
    )?;
    Ok(())
}

/// The resolution and bucket a minute's rows go to: its own minute, or
/// its hour when that table's minutes there were folded already (a minute
/// buffered through a long outage), so no row is left behind a fold.
fn placement(start: i64, folded: i64) -> (i64, i64) {
    if start < folded {
        (HOUR, start.div_euclid(HOUR) * HOUR)
    } else {
        (MINUTE, start)
    }
}

/// Adds one minute of `host` in one transaction.
pub fn write_minute(db: &mut dyn Db, host: &str, m: &Minute) -> Result<(), HistoryError> {
    db.begin()?;
    match write_minute_inner(db, host, m) {
        Ok(()) => db.commit(),
        Err(e) => {
            db.rollback();
            Err(e)
        }
    }
}

fn write_minute_inner(db: &mut dyn Db, host: &str, m: &Minute) -> Result<(), HistoryError> {
    // Traffic: the minute row and, at once, its hour's row (so long
    // ranges read hours only); a minute already folded, the hour only.
    let folded = folded_until(db, host, Table::Traffic)?;
    let hour = m.start.div_euclid(HOUR) * HOUR;
    let day = m.start.div_euclid(DAY) * DAY;
    let sql = upsert_traffic_sql(Table::Traffic);
    for (id, proto, t) in &m.traffic {
        if t.is_zero() {
            continue;
        }
        if m.start >= folded {
            db.exec(
                &sql,
                &traffic_row(host, MINUTE, m.start, id, proto.as_str(), t),
            )?;
        }
        db.exec(&sql, &traffic_row(host, HOUR, hour, id, proto.as_str(), t))?;
        db.exec(&sql, &traffic_row(host, DAY, day, id, proto.as_str(), t))?;
    }
    // Remotes: the minute (or its hour, folded already) and its day, whose
    // rows the hourly fold bounds again.
    let (res, bucket) = placement(m.start, folded_until(db, host, Table::Remotes)?);
    let sql = upsert_traffic_sql(Table::Remotes);
    for (id, remote, t) in bound_remotes(m.remotes.clone(), MAX_REMOTES_PER_IDENTITY) {
        db.exec(&sql, &traffic_row(host, res, bucket, &id, &remote, &t))?;
        db.exec(&sql, &traffic_row(host, DAY, day, &id, &remote, &t))?;
        if res == HOUR {
            // Late: its day's `remote_days` may be built already.
            let mut p = vec![host.into(), day.into(), remote.as_str().into()];
            p.extend(t.as_array().map(Value::from));
            db.exec(UPSERT_REMOTE_DAY, &p)?;
        }
    }
    let (res, bucket) = placement(m.start, folded_until(db, host, Table::Dns)?);
    for (id, resolver, d) in &m.dns {
        if d.is_zero() {
            continue;
        }
        // Latency histograms are merged here, not in SQL.
        let mut merged = *d;
        let before = db.rows(
            "SELECT latency FROM dns WHERE host = ? AND res = ? AND bucket = ? AND process = ? AND service = ? AND container = ? AND pod = ? AND uid = ? AND resolver = ?",
            &dns_key(host, res, bucket, id, resolver),
        )?;
        if let Some(r) = before.first() {
            merged.latency.add(&Latency::decode(&r[0].text()));
        }
        let mut p = dns_key(host, res, bucket, id, resolver);
        p.push(d.queries.into());
        p.push(d.failures.into());
        p.push(Value::Text(merged.latency.encode()));
        db.exec(UPSERT_DNS, &p)?;
    }
    Ok(())
}

fn dns_key(host: &str, res: i64, bucket: i64, id: &IdentityKey, resolver: &str) -> Vec<Value> {
    let mut p = vec![host.into(), res.into(), bucket.into()];
    p.extend(identity_params(id));
    p.push(resolver.into());
    p
}

/// Folds, deletes by age and by size: one transaction per step.
pub fn upkeep(
    db: &mut dyn Db,
    host: &str,
    now: i64,
    r: &Retention,
) -> Result<Upkeep, HistoryError> {
    let mut out = Upkeep::default();
    let hour_before = |age: i64| (now - age).div_euclid(HOUR) * HOUR;
    for (table, age) in [
        (Table::Traffic, r.traffic_minutes_s),
        (Table::Remotes, r.detail_minutes_s),
        (Table::Dns, r.detail_minutes_s),
    ] {
        let until = hour_before(age.max(0));
        if until > folded_until(db, host, table)? {
            db.begin()?;
            match fold(db, host, table, until) {
                Ok(n) => {
                    db.commit()?;
                    out.minutes_folded += n;
                }
                Err(e) => {
                    db.rollback();
                    return Err(e);
                }
            }
        }
    }
    let cutoff = now - r.retain_s;
    db.begin()?;
    let mut n = 0;
    // One range of the key (host, res, bucket) per resolution: no scan.
    // A day row goes once its whole day is past the retention (a day is
    // read whole or not at all).
    for (t, res, before) in [
        (Table::Traffic, MINUTE, cutoff),
        (Table::Traffic, HOUR, cutoff),
        (Table::Traffic, DAY, cutoff.div_euclid(DAY) * DAY - DAY + 1),
        (Table::Remotes, MINUTE, cutoff),
        (Table::Remotes, HOUR, cutoff),
        (Table::Remotes, DAY, cutoff.div_euclid(DAY) * DAY - DAY + 1),
        (Table::Dns, MINUTE, cutoff),
        (Table::Dns, HOUR, cutoff),
    ] {
        match db.exec(
            &format!(
                "DELETE FROM {} WHERE host = ? AND res = ? AND bucket < ?",
                t.name()
            ),
            &[host.into(), res.into(), before.into()],
        ) {
            Ok(k) => n += k,
            Err(e) => {
                db.rollback();
                return Err(e);
            }
        }
    }
    match db.exec(
        "DELETE FROM remote_days WHERE host = ? AND bucket < ?",
        &[host.into(), (cutoff.div_euclid(DAY) * DAY - DAY + 1).into()],
    ) {
        Ok(k) => n += k,
        Err(e) => {
            db.rollback();
            return Err(e);
        }
    }
    db.commit()?;
    out.deleted_by_age = n;
    if let Some(max) = r.max_bytes {
        out.deleted_by_size = enforce_size(db, max)?;
    }
    if out.deleted_by_age + out.deleted_by_size > 0 {
        db.shrink()?;
    }
    Ok(out)
}

/// Folds `host`'s minutes of `table` before `until` (an hour start) into
/// hour rows and deletes them; the number of minute rows folded.
fn fold(db: &mut dyn Db, host: &str, table: Table, until: i64) -> Result<u64, HistoryError> {
    let key = format!("{ID_COLS}, {}", table.extra());
    let n = db.rows(
        &format!(
            "SELECT COUNT(*) FROM {} WHERE host = ? AND res = 60 AND bucket < ?",
            table.name()
        ),
        &[host.into(), until.into()],
    )?[0][0]
        .count();
    match table {
        // Hour rows were written with the minutes: only delete these
        // (`remote_days` has no minutes: never folded).
        Table::Traffic | Table::RemoteDays => {}
        Table::Remotes => {
            // Summed per hour, then bounded again per identity and hour.
            let sums = traffic_sums();
            let rows = db.rows(
                &format!(
                    "SELECT bucket - (bucket % 3600), {key}, {sums} FROM remotes
                     WHERE host = ? AND res = 60 AND bucket < ?
                     GROUP BY bucket - (bucket % 3600), {key}",
                    sums = sums.join(", ")
                ),
                &[host.into(), until.into()],
            )?;
            let mut by_hour: BTreeMap<i64, Vec<(IdentityKey, String, Traffic)>> = BTreeMap::new();
            for r in rows {
                let id = identity_from(&r[1..6]);
                let t = Traffic::from_array(std::array::from_fn(|i| r[7 + i].count()));
                by_hour
                    .entry(r[0].int())
                    .or_default()
                    .push((id, r[6].text(), t));
            }
            let sql = upsert_traffic_sql(Table::Remotes);
            let days: std::collections::BTreeSet<i64> =
                by_hour.keys().map(|h| h.div_euclid(DAY) * DAY).collect();
            for (hour, list) in by_hour {
                // With the hour's rows already there (a late minute).
                let have = db.rows(
                    &format!(
                        "SELECT {key}, {cols} FROM remotes WHERE host = ? AND res = 3600 AND bucket = ?",
                        cols = TRAFFIC_COLS.join(", ")
                    ),
                    &[host.into(), hour.into()],
                )?;
                let mut all = list;
                for r in have {
                    let id = identity_from(&r[0..5]);
                    let t = Traffic::from_array(std::array::from_fn(|i| r[6 + i].count()));
                    all.push((id, r[5].text(), t));
                }
                db.exec(
                    "DELETE FROM remotes WHERE host = ? AND res = 3600 AND bucket = ?",
                    &[host.into(), hour.into()],
                )?;
                for (id, remote, t) in bound_remotes(all, MAX_REMOTES_PER_IDENTITY) {
                    db.exec(&sql, &traffic_row(host, HOUR, hour, &id, &remote, &t))?;
                }
            }
            // The days these hours are in, bounded again (their rows were
            // added minute by minute): the remotes of an identity's day
            // stay at most the bound plus what the next hour adds.
            for day in days {
                rebound(db, host, DAY, day)?;
                build_remote_day(db, host, day)?;
            }
        }
        Table::Dns => {
            let rows = db.rows(
                &format!(
                    "SELECT bucket - (bucket % 3600), {key}, queries, failures, latency FROM dns
                     WHERE host = ? AND res = 60 AND bucket < ?"
                ),
                &[host.into(), until.into()],
            )?;
            let mut merged: BTreeMap<(i64, IdentityKey, String), Dns> = BTreeMap::new();
            for r in rows {
                let d = Dns {
                    queries: r[7].count(),
                    failures: r[8].count(),
                    latency: Latency::decode(&r[9].text()),
                };
                merged
                    .entry((r[0].int(), identity_from(&r[1..6]), r[6].text()))
                    .or_default()
                    .add(&d);
            }
            for ((hour, id, resolver), d) in merged {
                let mut latency = d.latency;
                let before = db.rows(
                    "SELECT latency FROM dns WHERE host = ? AND res = ? AND bucket = ? AND process = ? AND service = ? AND container = ? AND pod = ? AND uid = ? AND resolver = ?",
                    &dns_key(host, HOUR, hour, &id, &resolver),
                )?;
                if let Some(r) = before.first() {
                    latency.add(&Latency::decode(&r[0].text()));
                }
                let mut p = dns_key(host, HOUR, hour, &id, &resolver);
                p.push(d.queries.into());
                p.push(d.failures.into());
                p.push(Value::Text(latency.encode()));
                db.exec(UPSERT_DNS, &p)?;
            }
        }
    }
    db.exec(
        &format!(
            "DELETE FROM {} WHERE host = ? AND res = 60 AND bucket < ?",
            table.name()
        ),
        &[host.into(), until.into()],
    )?;
    set_folded_until(db, host, table, until)?;
    Ok(n)
}

/// Replaces `host`'s remote rows of one bucket by the same rows bounded
/// per identity (sums kept: the rest goes to the overflow row).
fn rebound(db: &mut dyn Db, host: &str, res: i64, bucket: i64) -> Result<(), HistoryError> {
    let have = db.rows(
        &format!(
            "SELECT {ID_COLS}, remote, {cols} FROM remotes WHERE host = ? AND res = ? AND bucket = ?",
            cols = TRAFFIC_COLS.join(", ")
        ),
        &[host.into(), res.into(), bucket.into()],
    )?;
    let all: Vec<(IdentityKey, String, Traffic)> = have
        .into_iter()
        .map(|r| {
            let t = Traffic::from_array(std::array::from_fn(|i| r[6 + i].count()));
            (identity_from(&r[0..5]), r[5].text(), t)
        })
        .collect();
    db.exec(
        "DELETE FROM remotes WHERE host = ? AND res = ? AND bucket = ?",
        &[host.into(), res.into(), bucket.into()],
    )?;
    let sql = upsert_traffic_sql(Table::Remotes);
    for (id, remote, t) in bound_remotes(all, MAX_REMOTES_PER_IDENTITY) {
        db.exec(&sql, &traffic_row(host, res, bucket, &id, &remote, &t))?;
    }
    Ok(())
}

/// `CAST(SUM(col) AS BIGINT)` of every traffic column (both databases
/// sum integers into a wider type; the cast keeps them `BIGINT`).
fn traffic_sums() -> Vec<String> {
    TRAFFIC_COLS
        .iter()
        .map(|c| format!("CAST(SUM({c}) AS BIGINT)"))
        .collect()
}

/// Rebuilds `host`'s `remote_days` row of one day from that day's remote
/// rows: summed over identities, the busiest [`MAX_REMOTES_PER_DAY`], the
/// rest in the overflow row (sums kept). The fold calls it for the days
/// it touched; `ledger_bench` for the days it writes as folded.
pub fn build_remote_day(db: &mut dyn Db, host: &str, day: i64) -> Result<(), HistoryError> {
    let sums = traffic_sums();
    let rows = db.rows(
        &format!(
            "SELECT remote, {} FROM remotes WHERE host = ? AND res = 86400 AND bucket = ? GROUP BY remote",
            sums.join(", ")
        ),
        &[host.into(), day.into()],
    )?;
    let all: Vec<(IdentityKey, String, Traffic)> = rows
        .into_iter()
        .map(|r| {
            let t = Traffic::from_array(std::array::from_fn(|i| r[1 + i].count()));
            (IdentityKey::default(), r[0].text(), t)
        })
        .collect();
    db.exec(
        "DELETE FROM remote_days WHERE host = ? AND bucket = ?",
        &[host.into(), day.into()],
    )?;
    for (_, remote, t) in bound_remotes(all, MAX_REMOTES_PER_DAY) {
        let mut p = vec![host.into(), day.into(), remote.as_str().into()];
        p.extend(t.as_array().map(Value::from));
        db.exec(UPSERT_REMOTE_DAY, &p)?;
    }
    Ok(())
}

/// Days from which `remote_days` holds every day once it is folded
/// (a store migrated to it holds none before).
pub fn remote_days_from(db: &mut dyn Db, host: &str) -> Result<i64, HistoryError> {
    let rows = db.rows(
        "SELECT until_bucket FROM fold_state WHERE host = ? AND tbl = 'remote_days_from'",
        &[host.into()],
    )?;
    Ok(rows.first().map_or(i64::MIN, |r| r[0].int()))
}

pub(crate) fn identity_from(v: &[Value]) -> IdentityKey {
    IdentityKey {
        process: v[0].text(),
        service: v[1].text(),
        container: v[2].text(),
        pod: v[3].text(),
        user: v[4].text(),
    }
}

/// While the store is over `max` bytes, deletes the oldest hour of every
/// host's rows (the cap is on the file, which all hosts share); the rows
/// deleted. Stops when nothing is left to delete.
fn enforce_size(db: &mut dyn Db, max: u64) -> Result<u64, HistoryError> {
    let mut deleted = 0;
    // Bounded: one pass per hour held, and at most this many.
    for _ in 0..100_000 {
        match db.used_bytes()? {
            Some(used) if used > max => {}
            _ => break,
        }
        // The oldest hour or minute row; when only day rows are left, the
        // oldest day.
        let oldest = |db: &mut dyn Db, res: &str| {
            db.rows(
                &format!("SELECT MIN(bucket) FROM (SELECT MIN(bucket) AS bucket FROM traffic WHERE {res} UNION ALL SELECT MIN(bucket) FROM remotes WHERE {res} UNION ALL SELECT MIN(bucket) FROM dns WHERE {res}) AS m"),
                &[],
            )
            .map(|r| match r.first().and_then(|r| r.first()) {
                Some(Value::Int(b)) => Some(*b),
                _ => None,
            })
        };
        let end = match oldest(db, "res < 86400")? {
            Some(b) => b.div_euclid(HOUR) * HOUR + HOUR,
            None => match oldest(db, "res = 86400")? {
                Some(b) => b.div_euclid(DAY) * DAY + DAY,
                None => break,
            },
        };
        db.begin()?;
        let mut n = 0;
        // A day row goes with the last hour of its day (a day is read
        // whole or not at all).
        for (t, cond, at) in [
            (Table::Traffic, "res < 86400 AND bucket < ?", end),
            (Table::Remotes, "res < 86400 AND bucket < ?", end),
            (Table::Dns, "res < 86400 AND bucket < ?", end),
            (Table::Traffic, "res = 86400 AND bucket <= ?", end - DAY),
            (Table::Remotes, "res = 86400 AND bucket <= ?", end - DAY),
            (Table::RemoteDays, "bucket <= ?", end - DAY),
        ] {
            let sql = format!("DELETE FROM {} WHERE {cond}", t.name());
            let params = [Value::from(at)];
            match db.exec(&sql, &params) {
                Ok(k) => n += k,
                Err(e) => {
                    db.rollback();
                    return Err(e);
                }
            }
        }
        db.commit()?;
        deleted += n;
        db.shrink()?;
    }
    Ok(deleted)
}
