//! The PostgreSQL backend (the synchronous `postgres` client: the writer
//! is one thread, an async runtime would buy nothing). Placeholders are
//! numbered for it; statements are prepared once per connection; the
//! schema and queries are the ledger's, shared with SQLite. Connection
//! errors never carry the URL, so no password can reach a log.

use std::collections::HashMap;
use std::time::Duration;

use postgres::types::{ToSql, Type};
use postgres::{Client, Config, NoTls, Statement};

use crate::db::{Db, Value};
use crate::error::HistoryError;

/// A [`Db`] over one PostgreSQL connection, with its prepared
/// statements.
pub struct PgDb {
    client: Client,
    name: String,
    statements: HashMap<String, Statement>,
}

/// `?` placeholders as `$1`, `$2`, … (no statement here has a `?` in a
/// string literal).
pub fn number_placeholders(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len() + 16);
    let mut n = 0;
    for c in sql.chars() {
        if c == '?' {
            n += 1;
            out.push_str(&format!("${n}"));
        } else {
            out.push(c);
        }
    }
    out
}

impl PgDb {
    /// Connects to `url` (5 s connect timeout unless the URL sets one;
    /// statements time out after 60 s; TCP keepalives on). `name` is the
    /// redacted description errors carry instead of the URL.
    pub fn connect(url: &str, name: &str) -> Result<Self, HistoryError> {
        let mut config: Config = url.parse().map_err(|source| HistoryError::Postgres {
            store: name.to_string(),
            what: "reading the URL".into(),
            source,
        })?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(Duration::from_secs(5));
        }
        config.application_name("netoproc");
        // A server that hangs fails the statement (and the writer retries)
        // instead of blocking the writer for good.
        config.options("-c statement_timeout=60000");
        config.keepalives(true);
        config.keepalives_idle(Duration::from_secs(30));
        let client = config
            .connect(NoTls)
            .map_err(|source| HistoryError::Postgres {
                store: name.to_string(),
                what: "connecting".into(),
                source,
            })?;
        Ok(PgDb {
            client,
            name: name.to_string(),
            statements: HashMap::new(),
        })
    }

    fn err(&self, what: &str, sql: &str) -> impl FnOnce(postgres::Error) -> HistoryError {
        let store = self.name.clone();
        let first = sql.split_whitespace().take(3).collect::<Vec<_>>().join(" ");
        let what = format!("{what} ({first} …)");
        move |source| HistoryError::Postgres {
            store,
            what,
            source,
        }
    }

    fn statement(&mut self, sql: &str) -> Result<Statement, HistoryError> {
        if let Some(s) = self.statements.get(sql) {
            return Ok(s.clone());
        }
        let st = self
            .client
            .prepare(&number_placeholders(sql))
            .map_err(self.err("preparing", sql))?;
        if self.statements.len() > 256 {
            self.statements.clear();
        }
        self.statements.insert(sql.to_string(), st.clone());
        Ok(st)
    }
}

enum Param {
    Int(i64),
    Text(String),
    Null(Option<String>),
}

fn params(v: &[Value]) -> Vec<Param> {
    v.iter()
        .map(|v| match v {
            Value::Int(i) => Param::Int(*i),
            Value::Text(t) => Param::Text(t.clone()),
            Value::Null => Param::Null(None),
        })
        .collect()
}

fn refs(p: &[Param]) -> Vec<&(dyn ToSql + Sync)> {
    p.iter()
        .map(|p| match p {
            Param::Int(i) => i as &(dyn ToSql + Sync),
            Param::Text(t) => t as &(dyn ToSql + Sync),
            Param::Null(n) => n as &(dyn ToSql + Sync),
        })
        .collect()
}

impl Db for PgDb {
    fn exec(&mut self, sql: &str, v: &[Value]) -> Result<u64, HistoryError> {
        let st = self.statement(sql)?;
        let p = params(v);
        self.client
            .execute(&st, &refs(&p))
            .map_err(self.err("writing", sql))
    }

    fn batch(&mut self, sql: &str) -> Result<(), HistoryError> {
        self.client
            .batch_execute(sql)
            .map_err(self.err("creating the schema", sql))
    }

    fn rows(&mut self, sql: &str, v: &[Value]) -> Result<Vec<Vec<Value>>, HistoryError> {
        let st = self.statement(sql)?;
        let p = params(v);
        let rows = self
            .client
            .query(&st, &refs(&p))
            .map_err(self.err("reading", sql))?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            let mut row = Vec::with_capacity(r.len());
            for (i, c) in r.columns().iter().enumerate() {
                let t = c.type_();
                let v = if *t == Type::INT8 {
                    r.get::<_, Option<i64>>(i).map_or(Value::Null, Value::Int)
                } else if *t == Type::INT4 {
                    r.get::<_, Option<i32>>(i)
                        .map_or(Value::Null, |x| Value::Int(x.into()))
                } else if *t == Type::TEXT || *t == Type::VARCHAR {
                    r.get::<_, Option<String>>(i)
                        .map_or(Value::Null, Value::Text)
                } else {
                    Value::Null
                };
                row.push(v);
            }
            out.push(row);
        }
        Ok(out)
    }

    fn begin(&mut self) -> Result<(), HistoryError> {
        self.client
            .batch_execute("BEGIN")
            .map_err(self.err("starting a transaction", ""))
    }

    fn commit(&mut self) -> Result<(), HistoryError> {
        self.client
            .batch_execute("COMMIT")
            .map_err(self.err("committing", ""))
    }

    fn rollback(&mut self) {
        let _ = self.client.batch_execute("ROLLBACK");
    }

    fn used_bytes(&mut self) -> Result<Option<u64>, HistoryError> {
        Ok(None)
    }

    fn shrink(&mut self) -> Result<(), HistoryError> {
        Ok(())
    }

    fn describe(&self) -> &str {
        &self.name
    }
}
