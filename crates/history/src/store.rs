//! Opening a store: the backend for the target, its schema brought up to
//! date. The agent's writer opens one for writing; readers (`netoproc
//! history`, the HTTP API) open one per question, which with SQLite's WAL
//! never waits for the writer.

use crate::db::Db;
use crate::error::HistoryError;
use crate::postgres::PgDb;
use crate::schema::{migrate_to, version, SCHEMA_VERSION};
use crate::sqlite::SqliteDb;
use crate::target::Target;

/// Opens `target` for writing: created if missing, migrated forward.
pub fn open_writer(target: &Target) -> Result<Box<dyn Db>, HistoryError> {
    open_at(target, SCHEMA_VERSION)
}

/// Opens `target` at schema version `v` (tests of migrations).
pub fn open_at(target: &Target, v: i64) -> Result<Box<dyn Db>, HistoryError> {
    let mut db = connect(target, true)?;
    let pg = matches!(target, Target::Postgres(_));
    if pg {
        // Agents starting together migrate one after the other.
        db.batch("SELECT pg_advisory_lock(7420512)")?;
    }
    let r = migrate_to(db.as_mut(), v);
    if pg {
        let _ = db.batch("SELECT pg_advisory_unlock(7420512)");
    }
    r?;
    Ok(db)
}

/// Opens `target` to read: it must exist and hold a known schema.
pub fn open_reader(target: &Target) -> Result<Box<dyn Db>, HistoryError> {
    if let Target::Sqlite(p) = target {
        if !p.exists() {
            return Err(HistoryError::Foreign {
                store: target.describe(),
                why: "no such file (the agent writes it: netoproc serve --history PATH)".into(),
            });
        }
    }
    let mut db = connect(target, false)?;
    let v = version(db.as_mut())?;
    if v == 0 {
        return Err(HistoryError::Foreign {
            store: target.describe(),
            why: "holds no netoproc history (nothing written yet?)".into(),
        });
    }
    if v > SCHEMA_VERSION {
        return Err(HistoryError::NewerSchema {
            store: target.describe(),
            found: v,
            known: SCHEMA_VERSION,
        });
    }
    if v < SCHEMA_VERSION {
        // An older agent's store: bring it forward (needs write access).
        migrate_to(db.as_mut(), SCHEMA_VERSION)?;
    }
    Ok(db)
}

fn connect(target: &Target, create: bool) -> Result<Box<dyn Db>, HistoryError> {
    match target {
        Target::Off => Err(HistoryError::Target("history is off".into())),
        Target::Sqlite(p) => Ok(Box::new(SqliteDb::open(p, create)?)),
        Target::Postgres(url) => Ok(Box::new(PgDb::connect(url, &target.describe())?)),
    }
}
