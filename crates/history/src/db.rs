//! The narrow interface the ledger needs of a database: run a statement,
//! read rows of integers and text, transactions, and (SQLite only) the
//! size of the store. Statements are written once with `?` placeholders
//! in SQL both SQLite and PostgreSQL accept; the PostgreSQL backend numbers
//! them (`$1`, `$2`, …).

use crate::error::HistoryError;

/// A parameter or a column value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// An integer (counters, Unix seconds, resolutions).
    Int(i64),
    /// Text (identity fields, remotes, resolvers, encoded latency).
    Text(String),
    /// SQL `NULL`: reads as 0 or empty.
    Null,
}

impl Value {
    /// As an integer: text that does not parse and `NULL` read as 0.
    pub fn int(&self) -> i64 {
        match self {
            Value::Int(i) => *i,
            Value::Text(t) => t.parse().unwrap_or(0),
            Value::Null => 0,
        }
    }

    /// As a counter: negative (never written) reads as 0.
    pub fn count(&self) -> u64 {
        u64::try_from(self.int()).unwrap_or(0)
    }

    /// As text: an integer in decimal, `NULL` as empty.
    pub fn text(&self) -> String {
        match self {
            Value::Int(i) => i.to_string(),
            Value::Text(t) => t.clone(),
            Value::Null => String::new(),
        }
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::Text(s.to_string())
    }
}

impl From<&String> for Value {
    fn from(s: &String) -> Self {
        Value::Text(s.clone())
    }
}

impl From<i64> for Value {
    fn from(i: i64) -> Self {
        Value::Int(i)
    }
}

impl From<u64> for Value {
    fn from(i: u64) -> Self {
        Value::Int(i64::try_from(i).unwrap_or(i64::MAX))
    }
}

/// One backend's connection.
pub trait Db: Send {
    /// Runs one statement; rows changed.
    fn exec(&mut self, sql: &str, params: &[Value]) -> Result<u64, HistoryError>;
    /// Runs statements without parameters (schema).
    fn batch(&mut self, sql: &str) -> Result<(), HistoryError>;
    /// Every row of a query, columns in order.
    fn rows(&mut self, sql: &str, params: &[Value]) -> Result<Vec<Vec<Value>>, HistoryError>;
    /// Starts a transaction (SQLite: `BEGIN IMMEDIATE`, so a second
    /// writer fails here rather than at commit).
    fn begin(&mut self) -> Result<(), HistoryError>;
    /// Commits the open transaction.
    fn commit(&mut self) -> Result<(), HistoryError>;
    /// Abandons the open transaction; errors are ignored (there may be
    /// none open, or the connection may be gone).
    fn rollback(&mut self);
    /// Bytes the store takes, where the backend can tell (SQLite: the
    /// file's used pages); `None` for PostgreSQL, whose space is the
    /// server's to manage.
    fn used_bytes(&mut self) -> Result<Option<u64>, HistoryError>;
    /// Gives freed pages back to the file system (SQLite).
    fn shrink(&mut self) -> Result<(), HistoryError>;
    /// `WITHOUT ROWID` for SQLite, empty for PostgreSQL.
    fn without_rowid(&self) -> &'static str {
        ""
    }
    /// How the store is named in messages (redacted).
    fn describe(&self) -> &str;
}
