//! Times as people type them: `--since 1h` (a duration back from now:
//! `30m`, `7d`, `1h30m`) or a UTC date-time (`2026-12-01T03:00`,
//! `2026-12-01 03:00:00`, `2026-12-01T03:00:00Z`, `2026-12-01`); and
//! durations for `--retain`.

use std::time::{Duration, UNIX_EPOCH};

use crate::error::HistoryError;
use crate::target::printable;

/// Unix seconds of `s`, a duration before `now` or a UTC date-time.
pub fn parse_time(s: &str, now: i64, what: &str) -> Result<i64, HistoryError> {
    let s = s.trim();
    if s.is_empty() {
        return Err(HistoryError::BadQuery(format!("{what}: empty")));
    }
    if s == "now" {
        return Ok(now);
    }
    if let Ok(d) = humantime::parse_duration(s) {
        let secs = i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
        if secs > 100 * 366 * 86400 {
            return Err(HistoryError::BadQuery(format!(
                "{what}: {} is too far back",
                printable(s)
            )));
        }
        return Ok(now - secs);
    }
    let mut t = s.replace(' ', "T");
    if t.ends_with('Z') || t.ends_with('z') {
        t.pop();
    }
    let full = match t.len() {
        10 => format!("{t}T00:00:00Z"),
        16 => format!("{t}:00Z"),
        _ => format!("{t}Z"),
    };
    match humantime::parse_rfc3339_weak(&full) {
        Ok(st) => match st.duration_since(UNIX_EPOCH) {
            Ok(d) => Ok(d.as_secs() as i64),
            Err(_) => Err(HistoryError::BadQuery(format!(
                "{what}: {} is before 1970",
                printable(s)
            ))),
        },
        Err(_) => Err(HistoryError::BadQuery(format!(
            "{what}: `{}` is neither a duration (1h, 30m, 7d) nor a UTC time (2026-12-01T03:00)",
            printable(s)
        ))),
    }
}

/// A duration such as `30d` or `12h`, at least a minute.
pub fn parse_retain(s: &str) -> Result<Duration, String> {
    let d = humantime::parse_duration(s.trim())
        .map_err(|e| format!("`{}` is not a duration (30d, 12h): {e}", printable(s)))?;
    if d < Duration::from_secs(3600) || d > Duration::from_secs(10 * 366 * 86400) {
        return Err(format!(
            "must be between 1h and 10 years, got {}",
            printable(s)
        ));
    }
    Ok(d)
}

/// A Unix time as `2026-12-01T03:00:00Z`.
pub fn format_utc(t: i64) -> String {
    let st = UNIX_EPOCH + Duration::from_secs(t.max(0) as u64);
    humantime::format_rfc3339_seconds(st).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_dates() {
        let now = 1_764_900_000;
        assert_eq!(parse_time("1h", now, "since").unwrap(), now - 3600);
        assert_eq!(parse_time("7d", now, "since").unwrap(), now - 7 * 86400);
        let t = parse_time("2026-12-01T03:00", now, "since").unwrap();
        assert_eq!(format_utc(t), "2026-12-01T03:00:00Z");
        assert_eq!(parse_time("2026-12-01T03:00:00Z", now, "since").unwrap(), t);
        assert_eq!(parse_time("2026-12-01 03:00:00", now, "since").unwrap(), t);
        assert_eq!(
            format_utc(parse_time("2026-12-01", now, "since").unwrap()),
            "2026-12-01T00:00:00Z"
        );
        assert!(parse_time("yesterday", now, "since").is_err());
        assert!(parse_time("", now, "since").is_err());
        assert!(parse_time("\u{1b}[2J", now, "since")
            .unwrap_err()
            .to_string()
            .contains("\\u{1b}"));
        assert_eq!(parse_retain("30d").unwrap().as_secs(), 30 * 86400);
        assert!(parse_retain("1s").is_err());
        assert!(parse_retain("x").is_err());
    }
}
