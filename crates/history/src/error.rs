//! What can go wrong with the history store. Messages name the store by
//! its redacted description (a PostgreSQL URL never shows its password).

/// A history failure; `Display` says what to do where it can.
#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    /// `--history` could not be understood.
    #[error("--history: {0}")]
    Target(String),
    /// The SQLite file could not be opened, read or written.
    #[error("history {store}: {what}")]
    Sqlite {
        /// The store's redacted description.
        store: String,
        /// What was being done ("opening", "committing", …).
        what: String,
        /// The SQLite error.
        #[source]
        source: rusqlite::Error,
    },
    /// The PostgreSQL server refused, went away or failed a statement.
    #[error("history {store}: {what}")]
    Postgres {
        /// The store's redacted description (never the password).
        store: String,
        /// What was being done ("connecting", "reading the URL", …).
        what: String,
        /// The client's error (it never echoes the URL).
        #[source]
        source: postgres::Error,
    },
    /// The store holds a schema this netoproc does not know.
    #[error("history {store}: schema version {found} is newer than this netoproc's ({known}); upgrade netoproc or point --history elsewhere")]
    NewerSchema {
        /// The store's redacted description.
        store: String,
        /// The version the store holds.
        found: i64,
        /// The newest version this netoproc knows ([`crate::schema::SCHEMA_VERSION`]).
        known: i64,
    },
    /// Not a netoproc history store (another program's database).
    #[error("history {store}: {why}")]
    Foreign {
        /// The store's redacted description.
        store: String,
        /// What gave it away.
        why: String,
    },
    /// A query parameter out of range or malformed.
    #[error("{0}")]
    BadQuery(String),
    /// The file's folder could not be made.
    #[error("history {store}: creating {dir}")]
    Dir {
        /// The store's redacted description.
        store: String,
        /// The folder that could not be made.
        dir: String,
        /// The file system's error.
        #[source]
        source: std::io::Error,
    },
}

impl HistoryError {
    /// True for errors of the caller's input, not of the store.
    pub fn is_bad_query(&self) -> bool {
        matches!(self, HistoryError::BadQuery(_) | HistoryError::Target(_))
    }
}

/// The message with its whole chain of causes, for logs and HTTP bodies
/// (no cause carries a password: PostgreSQL errors never echo the URL).
pub fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let m = c.to_string();
        if !s.contains(&m) {
            s.push_str(": ");
            s.push_str(&m);
        }
        cur = c.source();
    }
    s
}
