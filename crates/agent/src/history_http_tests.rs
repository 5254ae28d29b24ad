//! The history routes' handler against a real SQLite ledger.

use std::sync::Arc;

use netoproc_history::ledger::write_minute;
use netoproc_history::model::{IdentityKey, Minute, Proto, Traffic};
use netoproc_history::store::open_writer;
use netoproc_history::writer::Status;
use netoproc_history::Target;

use super::{answer, Route};
use crate::http::HistoryAccess;

/// An hour start: 2025-12-05T02:00:00Z.
const T0: i64 = 1_764_900_000;

fn ledger() -> (tempfile::TempDir, HistoryAccess) {
    let dir = tempfile::tempdir().unwrap();
    let target = Target::Sqlite(dir.path().join("h.sqlite"));
    let mut db = open_writer(&target).unwrap();
    for i in 0..5 {
        let m = Minute {
            start: T0 + 60 * i,
            traffic: vec![
                (
                    IdentityKey {
                        process: "curl".into(),
                        user: "0".into(),
                        ..Default::default()
                    },
                    Proto::Tcp,
                    Traffic {
                        payload_bytes_sent: 100,
                        payload_bytes_received: 1000,
                        ..Default::default()
                    },
                ),
                (
                    IdentityKey {
                        process: "nginx".into(),
                        service: "nginx.service".into(),
                        user: "33".into(),
                        ..Default::default()
                    },
                    Proto::Tcp,
                    Traffic {
                        payload_bytes_sent: 5000,
                        ..Default::default()
                    },
                ),
            ],
            ..Minute::default()
        };
        write_minute(db.as_mut(), "web1", &m).unwrap();
    }
    let access = HistoryAccess {
        target,
        host: "web1".into(),
        status: Arc::new(Status::default()),
    };
    (dir, access)
}

fn json(body: &str) -> serde_json::Value {
    serde_json::from_str(body).unwrap()
}

#[test]
fn top_talkers_total_and_series_in_the_contract_shape() {
    let (_d, a) = ledger();
    let now = T0 + 600;
    let (code, body) = answer(
        Some(&a),
        Route::Traffic,
        "since=15m&group_by=process&limit=1",
        now,
    );
    assert_eq!(code, 200, "{body}");
    let v = json(&body);
    assert_eq!(v["host"], "web1");
    assert_eq!(v["since"], now - 900);
    assert_eq!(v["until"], now);
    assert_eq!(v["resolution_seconds"], 60);
    assert_eq!(v["group_by"], "process");
    let rows = v["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0]["key"]["process"], "nginx");
    assert_eq!(rows[0]["label"], "nginx");
    assert_eq!(rows[0]["other"], false);
    assert_eq!(rows[0]["payload_bytes_sent"], 25_000);
    assert_eq!(rows[1]["other"], true);
    assert_eq!(rows[1]["payload_bytes_received"], 5000);
    assert_eq!(v["total"]["payload_bytes_sent"], 25_500);
    for k in [
        "payload_bytes_received",
        "wire_bytes_sent",
        "wire_bytes_received",
        "packets_sent",
        "packets_received",
    ] {
        assert!(v["total"][k].is_u64(), "{k}");
    }
    let series = v["series"].as_array().unwrap();
    assert_eq!(series.len(), 2);
    assert_eq!(series[0]["label"], "nginx");
    let pts = series[0]["points"].as_array().unwrap();
    let sent: u64 = pts.iter().map(|p| p[1].as_u64().unwrap()).sum();
    assert_eq!(sent, 25_000);
    // An RFC 3339 range, filters, another grouping.
    let qs = format!(
        "since={}&until={}&group_by=service&service=nginx.service",
        "2025-12-05T02%3A00%3A00Z", "2025-12-05T03:00:00Z"
    );
    let (code, body) = answer(Some(&a), Route::Traffic, &qs, now);
    assert_eq!(code, 200, "{body}");
    let v = json(&body);
    assert_eq!(v["since"], T0);
    let rows = v["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 1, "{body}");
    assert_eq!(rows[0]["key"]["service"], "nginx.service");
    assert_eq!(v["total"]["payload_bytes_sent"], 25_000);
}

#[test]
fn bad_parameters_are_400_and_history_off_or_down_503() {
    let (_d, a) = ledger();
    let now = T0 + 600;
    for qs in [
        "",
        "since=yesterday",
        "since=1h&group_by=pid",
        "since=1h&limit=0",
        "since=1h&limit=1001",
        "since=1h&until=2h",
        "since=1h&bogus=1",
    ] {
        let (code, body) = answer(Some(&a), Route::Traffic, qs, now);
        assert_eq!(code, 400, "{qs}: {body}");
        assert!(json(&body)["error"].as_str().unwrap().len() > 5, "{body}");
    }
    let (code, body) = answer(None, Route::Traffic, "since=1h", now);
    assert_eq!(code, 503);
    assert!(json(&body)["error"]
        .as_str()
        .unwrap()
        .starts_with("history unavailable: "));
    let gone = HistoryAccess {
        target: Target::Sqlite("/nonexistent/h.sqlite".into()),
        ..a.clone()
    };
    let (code, body) = answer(Some(&gone), Route::Dns, "since=1h", now);
    assert_eq!(code, 503, "{body}");
    assert!(body.contains("history unavailable: "), "{body}");
}

#[test]
fn dns_route_answers_rows() {
    let (_d, a) = ledger();
    let (code, body) = answer(Some(&a), Route::Dns, "since=1h&process=curl", T0 + 600);
    assert_eq!(code, 200, "{body}");
    assert_eq!(json(&body)["rows"], serde_json::json!([]));
}
