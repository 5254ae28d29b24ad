//! Reading the ledger: top talkers of a time range grouped by identity,
//! process, service, container, user or remote, their exact total, and a
//! series per row for a chart; DNS per identity and resolver. A range of
//! at most six hours entirely within a table's unfolded minutes is read at
//! minute resolution; one of at most two days at hour resolution over whole
//! hours; a longer one from day rows over whole days (the range read is
//! returned, so sums are exact for the range they claim).

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;

use crate::db::{Db, Value};
use crate::error::HistoryError;
use crate::ledger::{folded_until, remote_days_from, Table, DAY, HOUR, MINUTE};
use crate::model::{Latency, Traffic};

/// At most this many rows (`limit`).
pub const MAX_LIMIT: usize = 1000;
/// Rows when the caller names no `limit`.
pub const DEFAULT_LIMIT: usize = 20;
/// Points per series at most; buckets are widened to fit.
pub const MAX_POINTS: i64 = 360;

/// What the rows of an answer are: one per distinct value of these
/// identity fields, or per remote.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum GroupBy {
    /// The whole identity: process, service, container, pod and user.
    Identity,
    /// The process name (`comm`).
    Process,
    /// The systemd unit.
    Service,
    /// The container.
    Container,
    /// The uid.
    User,
    /// The remote address (from the remotes tables).
    Remote,
}

impl GroupBy {
    /// Parses `group_by`: `identity`, `process`, `service`, `container`,
    /// `user` or `remote`; anything else is [`HistoryError::BadQuery`].
    pub fn parse(s: &str) -> Result<Self, HistoryError> {
        Ok(match s {
            "identity" => GroupBy::Identity,
            "process" => GroupBy::Process,
            "service" => GroupBy::Service,
            "container" => GroupBy::Container,
            "user" => GroupBy::User,
            "remote" => GroupBy::Remote,
            _ => {
                return Err(HistoryError::BadQuery(format!(
                "group_by: `{}` is not one of identity, process, service, container, user, remote",
                crate::target::printable(s)
            )))
            }
        })
    }

    /// The name [`GroupBy::parse`] reads.
    pub fn as_str(self) -> &'static str {
        match self {
            GroupBy::Identity => "identity",
            GroupBy::Process => "process",
            GroupBy::Service => "service",
            GroupBy::Container => "container",
            GroupBy::User => "user",
            GroupBy::Remote => "remote",
        }
    }

    /// (column, key name in the output)
    fn columns(self) -> &'static [(&'static str, &'static str)] {
        match self {
            GroupBy::Identity => &[
                ("process", "process"),
                ("service", "service"),
                ("container", "container"),
                ("pod", "pod"),
                ("uid", "user"),
            ],
            GroupBy::Process => &[("process", "process")],
            GroupBy::Service => &[("service", "service")],
            GroupBy::Container => &[("container", "container")],
            GroupBy::User => &[("uid", "user")],
            GroupBy::Remote => &[("remote", "remote")],
        }
    }

    fn table(self) -> Table {
        if self == GroupBy::Remote {
            Table::Remotes
        } else {
            Table::Traffic
        }
    }
}

/// Exact-match filters on identity fields.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filters {
    /// Only this process name; `None` for any.
    pub process: Option<String>,
    /// Only this service; `None` for any.
    pub service: Option<String>,
    /// Only this container; `None` for any.
    pub container: Option<String>,
    /// Only this uid (decimal); `None` for any.
    pub user: Option<String>,
}

impl Filters {
    fn sql(&self, params: &mut Vec<Value>) -> String {
        let mut s = String::new();
        for (col, v) in [
            ("process", &self.process),
            ("service", &self.service),
            ("container", &self.container),
            ("uid", &self.user),
        ] {
            if let Some(v) = v {
                s.push_str(&format!(" AND {col} = ?"));
                params.push(v.into());
            }
        }
        s
    }
}

/// One question to the ledger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    /// The host whose rows are read.
    pub host: String,
    /// Unix seconds, `since < until`.
    pub since: i64,
    /// Unix seconds, exclusive.
    pub until: i64,
    /// What a row is.
    pub group_by: GroupBy,
    /// Rows ranked by volume, 1 to [`MAX_LIMIT`]; the rest are summed
    /// in one `other` row.
    pub limit: usize,
    /// Which identities count.
    pub filters: Filters,
}

/// One row of an answer: a group and its traffic over the range.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Row {
    /// The group's fields by name (`process`, `user`, `remote`, …); every
    /// value `other` on the overflow row.
    pub key: BTreeMap<String, String>,
    /// The group as one line of text for display.
    pub label: String,
    /// True for the row summing the groups past `limit`.
    pub other: bool,
    /// The group's counters over the range.
    #[serde(flatten)]
    pub traffic: Traffic,
}

/// One row's traffic over time, one point per bucket.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Series {
    /// The [`Row::label`] it belongs to (`other` for the overflow).
    pub label: String,
    /// `[bucket start, payload bytes sent, payload bytes received]`.
    pub points: Vec<[i64; 3]>,
}

/// The answer, in the HTTP API's shape.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Answer {
    /// The host asked about.
    pub host: String,
    /// The range read, Unix seconds: the question's, widened to whole
    /// buckets at hour and day resolution.
    pub since: i64,
    /// End of the range read, exclusive.
    pub until: i64,
    /// The rows' resolution: 60, 3600 or 86400 seconds.
    pub resolution_seconds: i64,
    /// What a row is.
    pub group_by: GroupBy,
    /// At most `limit` rows by volume, then the `other` row if any were
    /// left.
    pub rows: Vec<Row>,
    /// Everything the filters matched in the range.
    pub total: Traffic,
    /// Payload bytes over time for each row.
    pub series: Vec<Series>,
}

/// Ranges up to this long are read at minute resolution (when the
/// minutes are still there): [`MAX_POINTS`] minutes.
pub const MINUTE_RANGE_S: i64 = MAX_POINTS * MINUTE;

/// Ranges longer than this are read from day rows (traffic and remotes):
/// two days of hours at most, so a month reads 30 rows per key.
pub const HOUR_RANGE_S: i64 = 2 * DAY;

/// The resolution a table is read at for a range, and the range read:
/// minutes for at most six hours still in minutes; hours for at most two
/// days (and always for DNS, which keeps no day rows); whole days beyond.
/// The range is widened to whole buckets, and the answer says so.
fn resolve_range(
    db: &mut dyn Db,
    host: &str,
    table: Table,
    since: i64,
    until: i64,
) -> Result<(i64, i64, i64), HistoryError> {
    let widen = |res: i64| {
        let s = since.div_euclid(res) * res;
        let u = (until + res - 1).div_euclid(res) * res;
        (res, s, u)
    };
    if until - since <= MINUTE_RANGE_S && since >= folded_until(db, host, table)? {
        Ok((MINUTE, since, until))
    } else if until - since <= HOUR_RANGE_S || table == Table::Dns {
        Ok(widen(HOUR))
    } else {
        Ok(widen(DAY))
    }
}

/// Which rows a resolution reads: minutes; or hours — for traffic the
/// hour rows alone (written with the minutes), for remotes and DNS the
/// hour rows and the minutes not folded yet; or days (traffic and remotes
/// write every minute to its day at once).
fn rows_at(table: Table, res: i64) -> &'static str {
    match (res, table) {
        (MINUTE, _) => " AND res = 60",
        (DAY, _) => " AND res = 86400",
        (_, Table::Traffic) => " AND res = 3600",
        _ => " AND res IN (60, 3600)",
    }
}

fn check(q: &Query) -> Result<(), HistoryError> {
    if q.since >= q.until {
        return Err(HistoryError::BadQuery(format!(
            "since ({}) must be before until ({})",
            q.since, q.until
        )));
    }
    if q.limit == 0 || q.limit > MAX_LIMIT {
        return Err(HistoryError::BadQuery(format!(
            "limit must be between 1 and {MAX_LIMIT}, got {}",
            q.limit
        )));
    }
    Ok(())
}

fn label(group_by: GroupBy, key: &[String]) -> String {
    let show = |s: &str| {
        if s.is_empty() {
            "-".to_string()
        } else {
            s.to_string()
        }
    };
    match group_by {
        GroupBy::Identity => {
            let mut l = show(&key[0]);
            for (v, name) in [(&key[1], ""), (&key[2], ""), (&key[3], "pod ")] {
                if !v.is_empty() {
                    l.push_str(&format!(" {name}{v}"));
                }
            }
            if !key[4].is_empty() {
                l.push_str(&format!(" uid {}", key[4]));
            }
            l
        }
        GroupBy::Remote if key[0].is_empty() => "(no address)".into(),
        _ => show(&key[0]),
    }
}

/// The rows a query reads: `FROM …` up to its `WHERE` conditions (more
/// are appended with ` AND …`) and their parameters. A range of days by
/// remote with no filter reads `remote_days` for the days it holds whole
/// (a few thousand rows a day instead of every identity's remotes) and
/// the identities' day rows for the others.
fn source(
    db: &mut dyn Db,
    q: &Query,
    table: Table,
    res: i64,
    since: i64,
    until: i64,
) -> Result<(String, Vec<Value>), HistoryError> {
    let host: Value = q.host.as_str().into();
    if q.group_by == GroupBy::Remote && res == DAY && q.filters == Filters::default() {
        let folded = folded_until(db, &q.host, Table::Remotes)?;
        let whole_until = if folded == i64::MIN {
            folded
        } else {
            folded.div_euclid(DAY) * DAY
        };
        let a = since.max(remote_days_from(db, &q.host)?);
        let b = until.min(whole_until);
        if a < b {
            let cols =
                "remote, bucket, payload_tx, payload_rx, wire_tx, wire_rx, packets_tx, packets_rx";
            return Ok((
                format!(
                    "(SELECT {cols} FROM remote_days WHERE host = ? AND bucket >= ? AND bucket < ?
                      UNION ALL SELECT {cols} FROM remotes WHERE host = ? AND res = 86400
                      AND ((bucket >= ? AND bucket < ?) OR (bucket >= ? AND bucket < ?))) AS src WHERE 1 = 1"
                ),
                vec![
                    host.clone(),
                    a.into(),
                    b.into(),
                    host,
                    since.into(),
                    a.into(),
                    b.into(),
                    until.into(),
                ],
            ));
        }
    }
    Ok((
        format!(
            "{t} WHERE host = ? AND bucket >= ? AND bucket < ?{r}",
            t = table.name(),
            r = rows_at(table, res)
        ),
        vec![host, since.into(), until.into()],
    ))
}

/// Top talkers, total and series for `q`.
pub fn run(db: &mut dyn Db, q: &Query) -> Result<Answer, HistoryError> {
    check(q)?;
    let table = q.group_by.table();
    let (res, since, until) = resolve_range(db, &q.host, table, q.since, q.until)?;
    let cols: Vec<&str> = q.group_by.columns().iter().map(|c| c.0).collect();
    let cols_sql = cols.join(", ");
    let sums = "CAST(SUM(payload_tx) AS BIGINT), CAST(SUM(payload_rx) AS BIGINT), CAST(SUM(wire_tx) AS BIGINT), CAST(SUM(wire_rx) AS BIGINT), CAST(SUM(packets_tx) AS BIGINT), CAST(SUM(packets_rx) AS BIGINT)";
    let (from, from_params) = source(db, q, table, res, since, until)?;
    let mut params = from_params.clone();
    let filter = q.filters.sql(&mut params);
    let rows = db.rows(
        &format!("SELECT {cols_sql}, {sums} FROM {from}{filter} GROUP BY {cols_sql}"),
        &params,
    )?;
    let n = cols.len();
    let mut ranked: Vec<(Vec<String>, Traffic)> = rows
        .into_iter()
        .map(|r| {
            let key: Vec<String> = r[..n].iter().map(Value::text).collect();
            let t = Traffic::from_array(std::array::from_fn(|i| r[n + i].count()));
            (key, t)
        })
        .collect();
    ranked.sort_by(|a, b| b.1.volume().cmp(&a.1.volume()).then(a.0.cmp(&b.0)));
    let mut total = Traffic::default();
    for (_, t) in &ranked {
        total.add(t);
    }
    let rest: Vec<(Vec<String>, Traffic)> = if ranked.len() > q.limit {
        ranked.split_off(q.limit)
    } else {
        Vec::new()
    };
    let slot: HashMap<Vec<String>, usize> = ranked
        .iter()
        .enumerate()
        .map(|(i, (k, _))| (k.clone(), i))
        .collect();
    let names = q.group_by.columns();
    let mut out_rows: Vec<Row> = ranked
        .iter()
        .map(|(k, t)| Row {
            key: names
                .iter()
                .zip(k)
                .map(|(c, v)| (c.1.to_string(), v.clone()))
                .collect(),
            label: label(q.group_by, k),
            other: false,
            traffic: *t,
        })
        .collect();
    if !rest.is_empty() {
        let mut t = Traffic::default();
        for (_, x) in &rest {
            t.add(x);
        }
        out_rows.push(Row {
            key: names
                .iter()
                .map(|c| (c.1.to_string(), "other".to_string()))
                .collect(),
            label: "other".into(),
            other: true,
            traffic: t,
        });
    }

    // Series: payload bytes per step, every row's (the rest as `other`).
    let span = until - since;
    let step = {
        let raw = (span + MAX_POINTS - 1) / MAX_POINTS;
        ((raw + res - 1) / res).max(1) * res
    };
    let npoints = ((span + step - 1) / step) as usize;
    let mut series: Vec<Series> = out_rows
        .iter()
        .map(|r| Series {
            label: r.label.clone(),
            points: (0..npoints)
                .map(|i| [since + i as i64 * step, 0, 0])
                .collect(),
        })
        .collect();
    let mut params: Vec<Value> = vec![since.into(), step.into()];
    params.extend(from_params);
    let filter = q.filters.sql(&mut params);
    let other_slot = if rest.is_empty() {
        None
    } else {
        Some(out_rows.len() - 1)
    };
    let add = |pt: &mut [i64; 3], tx: i64, rx: i64| {
        pt[1] = pt[1].saturating_add(tx);
        pt[2] = pt[2].saturating_add(rx);
    };
    if n == 1 && other_slot.is_some() {
        // Many keys (remotes, processes): the top rows' series by key,
        // `other` as the whole per point less them — not one group per
        // key and point.
        let point =
            "(bucket - ?) / ?, CAST(SUM(payload_tx) AS BIGINT), CAST(SUM(payload_rx) AS BIGINT)";
        let all = db.rows(
            &format!("SELECT {point} FROM {from}{filter} GROUP BY 1"),
            &params,
        )?;
        let mut top_params = params.clone();
        let marks: Vec<&str> = ranked.iter().map(|_| "?").collect();
        top_params.extend(ranked.iter().map(|(k, _)| Value::Text(k[0].clone())));
        let tops = db.rows(
            &format!(
                "SELECT {cols_sql}, {point} FROM {from}{filter} AND {cols_sql} IN ({marks}) GROUP BY 1, 2",
                marks = marks.join(", ")
            ),
            &top_params,
        )?;
        let o = other_slot.unwrap_or(0);
        for r in all {
            if let Some(pt) = series[o].points.get_mut(r[0].int().max(0) as usize) {
                add(pt, r[1].int(), r[2].int());
            }
        }
        for r in tops {
            let Some(i) = slot.get(&vec![r[0].text()]).copied() else {
                continue;
            };
            let p = r[1].int().max(0) as usize;
            if let Some(pt) = series[i].points.get_mut(p) {
                add(pt, r[2].int(), r[3].int());
            }
            if let Some(pt) = series[o].points.get_mut(p) {
                add(pt, -r[2].int(), -r[3].int());
            }
        }
    } else {
        let ordinals: Vec<String> = (1..=n + 1).map(|i| i.to_string()).collect();
        let rows = db.rows(
            &format!(
                "SELECT {cols_sql}, (bucket - ?) / ?, CAST(SUM(payload_tx) AS BIGINT), CAST(SUM(payload_rx) AS BIGINT) FROM {from}{filter} GROUP BY {ord}",
                ord = ordinals.join(", ")
            ),
            &params,
        )?;
        for r in rows {
            let key: Vec<String> = r[..n].iter().map(Value::text).collect();
            let Some(i) = slot.get(&key).copied().or(other_slot) else {
                continue;
            };
            let p = r[n].int().max(0) as usize;
            if let Some(pt) = series[i].points.get_mut(p) {
                add(pt, r[n + 1].int(), r[n + 2].int());
            }
        }
    }
    Ok(Answer {
        host: q.host.clone(),
        since,
        until,
        resolution_seconds: res,
        group_by: q.group_by,
        rows: out_rows,
        total,
        series,
    })
}

trait IntoValue {
    fn into_value(self) -> Value;
}

impl IntoValue for String {
    fn into_value(self) -> Value {
        Value::Text(self)
    }
}

/// One DNS row of the answer.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DnsRow {
    /// The process; empty on a resolver row.
    pub process: String,
    /// The resolver's address; empty on a process row.
    pub resolver: String,
    /// Queries answered or timed out.
    pub queries: u64,
    /// Error rcodes and timeouts.
    pub failures: u64,
    /// Median answer latency, ms (a bucket's upper bound); `None`
    /// without answers.
    pub latency_p50_ms: Option<f64>,
    /// 99th percentile answer latency, ms (a bucket's upper bound);
    /// `None` without answers.
    pub latency_p99_ms: Option<f64>,
}

/// The DNS answer, in the HTTP API's shape.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DnsAnswer {
    /// The host asked about.
    pub host: String,
    /// The range read, Unix seconds (widened to whole buckets at hour
    /// resolution).
    pub since: i64,
    /// End of the range read, exclusive.
    pub until: i64,
    /// The rows' resolution: 60 or 3600 seconds (DNS keeps no days).
    pub resolution_seconds: i64,
    /// At most `limit` rows.
    pub rows: Vec<DnsRow>,
}

/// DNS for the range: per process (resolver empty: queries and failures
/// are counted per process) and per resolver (process empty: with the
/// latency percentiles, bucket upper bounds), most queries first.
pub fn dns(db: &mut dyn Db, q: &Query) -> Result<DnsAnswer, HistoryError> {
    check(q)?;
    let (res, since, until) = resolve_range(db, &q.host, Table::Dns, q.since, q.until)?;
    let res_sql = rows_at(Table::Dns, res);
    let mut params: Vec<Value> = vec![q.host.clone().into_value(), since.into(), until.into()];
    let filter = q.filters.sql(&mut params);
    let rows = db.rows(
        &format!(
            "SELECT process, resolver, queries, failures, latency FROM dns WHERE host = ? AND bucket >= ? AND bucket < ?{res_sql}{filter}"
        ),
        &params,
    )?;
    let mut merged: BTreeMap<(String, String), (u64, u64, Latency)> = BTreeMap::new();
    for r in rows {
        let e = merged.entry((r[0].text(), r[1].text())).or_default();
        e.0 += r[2].count();
        e.1 += r[3].count();
        e.2.add(&Latency::decode(&r[4].text()));
    }
    let mut rows: Vec<DnsRow> = merged
        .into_iter()
        .map(|((process, resolver), (queries, failures, lat))| DnsRow {
            process,
            resolver,
            queries,
            failures,
            latency_p50_ms: lat.quantile_ms(0.5),
            latency_p99_ms: lat.quantile_ms(0.99),
        })
        .collect();
    rows.sort_by(|a, b| {
        b.queries
            .cmp(&a.queries)
            .then(a.process.cmp(&b.process))
            .then(a.resolver.cmp(&b.resolver))
    });
    rows.truncate(q.limit);
    Ok(DnsAnswer {
        host: q.host.clone(),
        since,
        until,
        resolution_seconds: res,
        rows,
    })
}

/// The hosts a store holds rows for (a shared PostgreSQL has many).
pub fn hosts(db: &mut dyn Db) -> Result<Vec<String>, HistoryError> {
    let rows = db.rows("SELECT DISTINCT host FROM traffic ORDER BY host", &[])?;
    Ok(rows.iter().map(|r| r[0].text()).collect())
}
