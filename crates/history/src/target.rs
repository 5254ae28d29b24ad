//! `--history`: where the ledger lives. A path is a SQLite file; a
//! `postgres://` or `postgresql://` URL a PostgreSQL database; `off` no
//! history. The URL's password (and the user, to be safe) is never shown:
//! [`Target::describe`] is what every message uses.

use std::path::PathBuf;

use crate::error::HistoryError;

/// The default file under the state directory.
pub const DEFAULT_FILE: &str = "history.sqlite";
/// Where the default file lives.
pub const DEFAULT_STATE_DIR: &str = "/var/lib/netoproc";

/// Where the ledger lives; `Debug` shows the redacted description.
#[derive(Clone, PartialEq, Eq)]
pub enum Target {
    /// No history kept.
    Off,
    /// A SQLite file at this path.
    Sqlite(PathBuf),
    /// The URL as given (secret: never printed).
    Postgres(String),
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe())
    }
}

impl Target {
    /// Parses the flag's value; empty is an error, `off` turns history off.
    pub fn parse(s: &str) -> Result<Self, HistoryError> {
        if s.is_empty() {
            return Err(HistoryError::Target(
                "empty: give a file path, a postgres:// URL or `off`".into(),
            ));
        }
        if s == "off" {
            return Ok(Target::Off);
        }
        let lower = s.to_ascii_lowercase();
        if lower.starts_with("postgres://") || lower.starts_with("postgresql://") {
            if s.parse::<postgres::Config>().is_err() {
                return Err(HistoryError::Target(format!(
                    "{} is not a PostgreSQL URL (postgres://user:password@host:port/database)",
                    redact(s)
                )));
            }
            return Ok(Target::Postgres(s.to_string()));
        }
        if s.contains("://") {
            return Err(HistoryError::Target(format!(
                "{}: only postgres:// URLs and file paths are understood",
                redact(s)
            )));
        }
        Ok(Target::Sqlite(PathBuf::from(s)))
    }

    /// How the target is shown in messages: a path, or the URL without
    /// its user and password.
    pub fn describe(&self) -> String {
        match self {
            Target::Off => "off".into(),
            Target::Sqlite(p) => printable(&p.display().to_string()),
            Target::Postgres(url) => redact(url),
        }
    }
}

/// A URL with everything before `@` in its authority replaced, and
/// parameters that may hold a password dropped.
pub fn redact(url: &str) -> String {
    let (scheme, rest) = match url.split_once("://") {
        Some((s, r)) => (s, r),
        None => return "<unparsed location>".into(),
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    let host = match authority.rfind('@') {
        Some(i) => format!("***@{}", &authority[i + 1..]),
        None => authority.to_string(),
    };
    let path = path.split('?').next().unwrap_or("");
    printable(&format!("{scheme}://{host}{path}"))
}

/// Control characters escaped, length bounded: safe for a terminal or a log.
pub fn printable(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars().take(256) {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_show() {
        let t = Target::parse("postgres://netoproc:s3cret@db.example:5432/hist?password=s3cret")
            .unwrap();
        let d = t.describe();
        assert!(!d.contains("s3cret") && !d.contains("netoproc:"), "{d}");
        assert_eq!(d, "postgres://***@db.example:5432/hist");
        assert!(!format!("{t:?}").contains("s3cret"));
        let e = Target::parse("mysql://u:s3cret@h/db")
            .unwrap_err()
            .to_string();
        assert!(!e.contains("s3cret"), "{e}");
        assert_eq!(Target::parse("off").unwrap(), Target::Off);
        assert!(Target::parse("").is_err());
        assert_eq!(
            Target::parse("/tmp/h.sqlite").unwrap(),
            Target::Sqlite("/tmp/h.sqlite".into())
        );
    }
}
