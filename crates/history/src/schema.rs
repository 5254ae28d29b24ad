//! The ledger's schema, one list of forward migrations in SQL that SQLite
//! and PostgreSQL both run. `history_meta.schema_version` says how many
//! were applied; opening a store applies the rest in one transaction, and
//! refuses a store from a newer netoproc. Every table is keyed by host,
//! resolution (60: minutes, 3600: hours, 86400: days) and bucket start (Unix seconds),
//! then the identity. `{WITHOUT_ROWID}` is SQLite's `WITHOUT ROWID` (rows
//! stored in their key's B-tree: no second copy of the key) and nothing
//! for PostgreSQL.

use crate::db::{Db, Value};
use crate::error::HistoryError;

/// Migration `i` (0-based) brings the schema to version `i + 1`.
pub const MIGRATIONS: &[&str] = &[
    // 1: traffic, remotes and DNS rollups.
    "CREATE TABLE history_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
     CREATE TABLE traffic (
        host TEXT NOT NULL, res BIGINT NOT NULL, bucket BIGINT NOT NULL,
        process TEXT NOT NULL, service TEXT NOT NULL, container TEXT NOT NULL,
        pod TEXT NOT NULL, uid TEXT NOT NULL, protocol TEXT NOT NULL,
        payload_tx BIGINT NOT NULL, payload_rx BIGINT NOT NULL,
        wire_tx BIGINT NOT NULL, wire_rx BIGINT NOT NULL,
        packets_tx BIGINT NOT NULL, packets_rx BIGINT NOT NULL,
        PRIMARY KEY (host, res, bucket, process, service, container, pod, uid, protocol)) {WITHOUT_ROWID};
     CREATE TABLE remotes (
        host TEXT NOT NULL, res BIGINT NOT NULL, bucket BIGINT NOT NULL,
        process TEXT NOT NULL, service TEXT NOT NULL, container TEXT NOT NULL,
        pod TEXT NOT NULL, uid TEXT NOT NULL, remote TEXT NOT NULL,
        payload_tx BIGINT NOT NULL, payload_rx BIGINT NOT NULL,
        wire_tx BIGINT NOT NULL, wire_rx BIGINT NOT NULL,
        packets_tx BIGINT NOT NULL, packets_rx BIGINT NOT NULL,
        PRIMARY KEY (host, res, bucket, process, service, container, pod, uid, remote)) {WITHOUT_ROWID};
     CREATE TABLE dns (
        host TEXT NOT NULL, res BIGINT NOT NULL, bucket BIGINT NOT NULL,
        process TEXT NOT NULL, service TEXT NOT NULL, container TEXT NOT NULL,
        pod TEXT NOT NULL, uid TEXT NOT NULL, resolver TEXT NOT NULL,
        queries BIGINT NOT NULL, failures BIGINT NOT NULL, latency TEXT NOT NULL,
        PRIMARY KEY (host, res, bucket, process, service, container, pod, uid, resolver)) {WITHOUT_ROWID};",
    // 2: how far each host's minutes were folded into hours, per table.
    "CREATE TABLE fold_state (
        host TEXT NOT NULL, tbl TEXT NOT NULL, until_bucket BIGINT NOT NULL,
        PRIMARY KEY (host, tbl));",
    // 3: day rows (res 86400) of traffic and remotes, from the hours (and
    // remote minutes not folded yet) already there. Written with every
    // minute from now on; a migrated day's remotes are bounded again
    // only if an hour of it is still to be folded.
    "INSERT INTO traffic (host, res, bucket, process, service, container, pod, uid, protocol,
        payload_tx, payload_rx, wire_tx, wire_rx, packets_tx, packets_rx)
     SELECT host, 86400, bucket - (bucket % 86400), process, service, container, pod, uid, protocol,
        CAST(SUM(payload_tx) AS BIGINT), CAST(SUM(payload_rx) AS BIGINT), CAST(SUM(wire_tx) AS BIGINT),
        CAST(SUM(wire_rx) AS BIGINT), CAST(SUM(packets_tx) AS BIGINT), CAST(SUM(packets_rx) AS BIGINT)
     FROM traffic WHERE res = 3600
     GROUP BY host, bucket - (bucket % 86400), process, service, container, pod, uid, protocol;
     INSERT INTO remotes (host, res, bucket, process, service, container, pod, uid, remote,
        payload_tx, payload_rx, wire_tx, wire_rx, packets_tx, packets_rx)
     SELECT host, 86400, bucket - (bucket % 86400), process, service, container, pod, uid, remote,
        CAST(SUM(payload_tx) AS BIGINT), CAST(SUM(payload_rx) AS BIGINT), CAST(SUM(wire_tx) AS BIGINT),
        CAST(SUM(wire_rx) AS BIGINT), CAST(SUM(packets_tx) AS BIGINT), CAST(SUM(packets_rx) AS BIGINT)
     FROM remotes WHERE res IN (60, 3600)
     GROUP BY host, bucket - (bucket % 86400), process, service, container, pod, uid, remote;",
    // 4: each day's remotes over all identities (the busiest per host and
    // day, the rest in `other`), rebuilt when a day's hours are folded:
    // a month by remote reads these. Days before the remotes' fold point
    // at migration have none (read from `remotes`): `remote_days_from`.
    "CREATE TABLE remote_days (
        host TEXT NOT NULL, bucket BIGINT NOT NULL, remote TEXT NOT NULL,
        payload_tx BIGINT NOT NULL, payload_rx BIGINT NOT NULL,
        wire_tx BIGINT NOT NULL, wire_rx BIGINT NOT NULL,
        packets_tx BIGINT NOT NULL, packets_rx BIGINT NOT NULL,
        PRIMARY KEY (host, bucket, remote)) {WITHOUT_ROWID};
     INSERT INTO fold_state (host, tbl, until_bucket)
     SELECT host, 'remote_days_from', until_bucket - (until_bucket % 86400) FROM fold_state WHERE tbl = 'remotes';",
];

/// The version this netoproc writes.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// The store's version: 0 when it holds no netoproc tables yet.
pub fn version(db: &mut dyn Db) -> Result<i64, HistoryError> {
    match db.rows(
        "SELECT value FROM history_meta WHERE key = 'schema_version'",
        &[],
    ) {
        Ok(rows) => Ok(rows.first().map_or(0, |r| r[0].int())),
        Err(_) => Ok(0),
    }
}

/// Applies the migrations `db` lacks, up to `target` (tests migrate
/// from older versions; everything else passes [`SCHEMA_VERSION`]).
pub fn migrate_to(db: &mut dyn Db, target: i64) -> Result<(), HistoryError> {
    let found = version(db)?;
    if found > SCHEMA_VERSION {
        return Err(HistoryError::NewerSchema {
            store: db.describe().to_string(),
            found,
            known: SCHEMA_VERSION,
        });
    }
    if found >= target {
        return Ok(());
    }
    db.begin()?;
    let result = (|| {
        for m in &MIGRATIONS[found as usize..target as usize] {
            db.batch(&m.replace("{WITHOUT_ROWID}", db.without_rowid()))?;
        }
        db.exec("DELETE FROM history_meta WHERE key = 'schema_version'", &[])?;
        db.exec(
            "INSERT INTO history_meta (key, value) VALUES ('schema_version', ?)",
            &[Value::Text(target.to_string())],
        )?;
        Ok(())
    })();
    match result {
        Ok(()) => db.commit(),
        Err(e) => {
            db.rollback();
            Err(e)
        }
    }
}
