//! `/api/v1/history` and `/api/v1/history/dns`: the ledger's queries over
//! HTTP for the web view, in the shape of the history API contract. Each
//! request opens its own reader (SQLite WAL readers never wait for the
//! writer). Bad parameters answer 400 with `{"error": …}`; history off or
//! its store down answers 503 with `{"error": "history unavailable: …"}`.

use netoproc_history::error::chain;
use netoproc_history::query::{self, Filters, GroupBy, Query, DEFAULT_LIMIT, MAX_LIMIT};
use netoproc_history::store::open_reader;
use netoproc_history::time::parse_time;
use netoproc_history::HistoryError;
use serde_json::json;

use crate::http::HistoryAccess;

/// Longest parameter value taken (a time, a name).
const MAX_VALUE: usize = 256;

/// Which of the two routes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    Traffic,
    Dns,
}

/// Status and JSON body for a request's query string at `now`.
pub fn answer(
    access: Option<&HistoryAccess>,
    route: Route,
    query_string: &str,
    now: i64,
) -> (u16, String) {
    let q = match parse(query_string, now, access.map_or("", |a| a.host.as_str())) {
        Ok(q) => q,
        Err(msg) => return (400, json!({ "error": msg }).to_string()),
    };
    let Some(access) = access else {
        return (
            503,
            json!({"error": "history unavailable: history is off (--history off)"}).to_string(),
        );
    };
    let result = open_reader(&access.target).and_then(|mut db| match route {
        Route::Traffic => query::run(db.as_mut(), &q).map(|a| serde_json::to_string(&a)),
        Route::Dns => query::dns(db.as_mut(), &q).map(|a| serde_json::to_string(&a)),
    });
    match result {
        Ok(Ok(body)) => (200, body),
        Ok(Err(e)) => (500, json!({ "error": e.to_string() }).to_string()),
        Err(e) if e.is_bad_query() => (400, json!({ "error": e.to_string() }).to_string()),
        Err(e) => (
            503,
            json!({ "error": format!("history unavailable: {}", chain(&e)) }).to_string(),
        ),
    }
}

fn bad(e: HistoryError) -> String {
    e.to_string()
}

fn parse(qs: &str, now: i64, host: &str) -> Result<Query, String> {
    let mut since = None;
    let mut until = None;
    let mut group_by = GroupBy::Process;
    let mut limit = DEFAULT_LIMIT;
    let mut filters = Filters::default();
    for (k, v) in form_urlencoded::parse(qs.as_bytes()) {
        if v.len() > MAX_VALUE {
            return Err(format!("{k}: longer than {MAX_VALUE} bytes"));
        }
        let v = v.into_owned();
        match &*k {
            "since" => since = Some(parse_time(&v, now, "since").map_err(bad)?),
            "until" => until = Some(parse_time(&v, now, "until").map_err(bad)?),
            "group_by" => group_by = GroupBy::parse(&v).map_err(bad)?,
            "limit" => {
                limit = v
                    .parse()
                    .ok()
                    .filter(|n| (1..=MAX_LIMIT).contains(n))
                    .ok_or_else(|| {
                        format!(
                            "limit: must be a number between 1 and {MAX_LIMIT}, got `{}`",
                            netoproc_history::target::printable(&v)
                        )
                    })?
            }
            "process" => filters.process = Some(v),
            "service" => filters.service = Some(v),
            "container" => filters.container = Some(v),
            "user" => filters.user = Some(v),
            other => {
                return Err(format!(
                    "unknown parameter `{}` (since, until, group_by, limit, process, service, container, user)",
                    netoproc_history::target::printable(other)
                ))
            }
        }
    }
    let since =
        since.ok_or("since: required (1h, 30m, 7d or a UTC time such as 2026-12-01T03:00)")?;
    let until = until.unwrap_or(now);
    if since >= until {
        return Err(format!("since ({since}) must be before until ({until})"));
    }
    Ok(Query {
        host: host.to_string(),
        since,
        until,
        group_by,
        limit,
        filters,
    })
}

#[cfg(test)]
#[path = "history_http_tests.rs"]
mod tests;
