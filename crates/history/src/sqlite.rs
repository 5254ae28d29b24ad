//! The SQLite backend: one file, WAL (the agent writes while `netoproc
//! history` and the HTTP API read), `synchronous=NORMAL` (a committed
//! minute survives the agent's death; an OS crash may lose the last
//! commits), incremental auto-vacuum so the size cap can shrink the file,
//! and a busy timeout so a reader never fails on a writer's lock.

use std::path::Path;
use std::time::Duration;

use rusqlite::types::ValueRef;
use rusqlite::{params_from_iter, Connection, OpenFlags};

use crate::db::{Db, Value};
use crate::error::HistoryError;

/// A [`Db`] over one SQLite file (WAL).
pub struct SqliteDb {
    conn: Connection,
    name: String,
}

impl SqliteDb {
    /// Opens (creating it and its folder when `create`) the file.
    pub fn open(path: &Path, create: bool) -> Result<Self, HistoryError> {
        let name = crate::target::printable(&path.display().to_string());
        if create {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir).map_err(|source| HistoryError::Dir {
                    store: name.clone(),
                    dir: dir.display().to_string(),
                    source,
                })?;
            }
        }
        let flags = if create {
            OpenFlags::SQLITE_OPEN_READ_WRITE
                | OpenFlags::SQLITE_OPEN_CREATE
                | OpenFlags::SQLITE_OPEN_NO_MUTEX
        } else {
            // Readers still need write access to the WAL index; a reader
            // without it fails with a clear error.
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX
        };
        let err = |what: &str| {
            let name = name.clone();
            let what = what.to_string();
            move |source| HistoryError::Sqlite {
                store: name,
                what,
                source,
            }
        };
        let existed = path.exists();
        let conn = Connection::open_with_flags(path, flags).map_err(err("opening"))?;
        if create && !existed {
            // Who used the network is nobody else's business: owner only
            // (SQLite gives the WAL and index files the same mode).
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(
                |source| HistoryError::Dir {
                    store: name.clone(),
                    dir: path.display().to_string(),
                    source,
                },
            )?;
        }
        conn.busy_timeout(Duration::from_secs(5))
            .map_err(err("setting the busy timeout"))?;
        // Before any table exists: lets the size cap give pages back.
        conn.pragma_update(None, "auto_vacuum", "INCREMENTAL")
            .map_err(err("not a SQLite database, or unreadable"))?;
        let mode: String = conn
            .pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))
            .map_err(err("not a SQLite database, or unreadable (journal_mode)"))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(HistoryError::Foreign {
                store: name,
                why: format!("cannot switch to WAL (journal mode {mode})"),
            });
        }
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(err("setting synchronous"))?;
        // Reads the header and schema: a corrupt file fails here.
        conn.query_row("SELECT COUNT(*) FROM sqlite_master", [], |r| {
            r.get::<_, i64>(0)
        })
        .map_err(err("reading the schema (is it a netoproc history file?)"))?;
        Ok(SqliteDb { conn, name })
    }

    fn err(&self, what: &str, sql: &str) -> impl FnOnce(rusqlite::Error) -> HistoryError {
        let store = self.name.clone();
        let first = sql.split_whitespace().take(3).collect::<Vec<_>>().join(" ");
        let what = format!("{what} ({first} …)");
        move |source| HistoryError::Sqlite {
            store,
            what,
            source,
        }
    }
}

fn to_sql(v: &Value) -> rusqlite::types::Value {
    match v {
        Value::Int(i) => rusqlite::types::Value::Integer(*i),
        Value::Text(t) => rusqlite::types::Value::Text(t.clone()),
        Value::Null => rusqlite::types::Value::Null,
    }
}

impl Db for SqliteDb {
    fn exec(&mut self, sql: &str, params: &[Value]) -> Result<u64, HistoryError> {
        let e = self.err("writing", sql);
        let mut st = self.conn.prepare_cached(sql).map_err(e)?;
        let n = st
            .execute(params_from_iter(params.iter().map(to_sql)))
            .map_err(self.err("writing", sql))?;
        Ok(n as u64)
    }

    fn batch(&mut self, sql: &str) -> Result<(), HistoryError> {
        self.conn
            .execute_batch(sql)
            .map_err(self.err("creating the schema", sql))
    }

    fn rows(&mut self, sql: &str, params: &[Value]) -> Result<Vec<Vec<Value>>, HistoryError> {
        let e = self.err("reading", sql);
        let mut st = self.conn.prepare_cached(sql).map_err(e)?;
        let n = st.column_count();
        let mut rows = st
            .query(params_from_iter(params.iter().map(to_sql)))
            .map_err(self.err("reading", sql))?;
        let mut out = Vec::new();
        while let Some(r) = rows.next().map_err(self.err("reading", sql))? {
            let mut row = Vec::with_capacity(n);
            for i in 0..n {
                row.push(match r.get_ref(i).map_err(self.err("reading", sql))? {
                    ValueRef::Integer(v) => Value::Int(v),
                    ValueRef::Real(f) => Value::Int(f as i64),
                    ValueRef::Text(t) => Value::Text(String::from_utf8_lossy(t).into_owned()),
                    ValueRef::Blob(_) | ValueRef::Null => Value::Null,
                });
            }
            out.push(row);
        }
        Ok(out)
    }

    fn begin(&mut self) -> Result<(), HistoryError> {
        self.conn
            .execute_batch("BEGIN IMMEDIATE")
            .map_err(self.err("starting a transaction (locked by another writer?)", ""))
    }

    fn commit(&mut self) -> Result<(), HistoryError> {
        self.conn
            .execute_batch("COMMIT")
            .map_err(self.err("committing", ""))
    }

    fn rollback(&mut self) {
        let _ = self.conn.execute_batch("ROLLBACK");
    }

    fn used_bytes(&mut self) -> Result<Option<u64>, HistoryError> {
        let q = |c: &Connection, p: &str| -> rusqlite::Result<i64> {
            c.query_row(&format!("PRAGMA {p}"), [], |r| r.get(0))
        };
        let pages = q(&self.conn, "page_count").map_err(self.err("measuring", ""))?;
        let free = q(&self.conn, "freelist_count").map_err(self.err("measuring", ""))?;
        let size = q(&self.conn, "page_size").map_err(self.err("measuring", ""))?;
        Ok(Some(((pages - free).max(0) * size) as u64))
    }

    fn shrink(&mut self) -> Result<(), HistoryError> {
        for p in [
            "PRAGMA incremental_vacuum",
            "PRAGMA wal_checkpoint(TRUNCATE)",
        ] {
            let mut st = self.conn.prepare(p).map_err(self.err("shrinking", p))?;
            let mut rows = st.query([]).map_err(self.err("shrinking", p))?;
            while rows.next().map_err(self.err("shrinking", p))?.is_some() {}
        }
        Ok(())
    }

    fn without_rowid(&self) -> &'static str {
        "WITHOUT ROWID"
    }

    fn describe(&self) -> &str {
        &self.name
    }
}
