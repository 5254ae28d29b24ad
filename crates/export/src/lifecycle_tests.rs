use netoproc_core::lifecycle::{ConnectionBook, ConnectionLife, LifeEvent, Outcome, Step};
use netoproc_core::model::{Owner, SocketCookie, SocketRecord};

use super::*;

fn closed(cookie: u64, comm: &str, outcome: Outcome) -> LifeEvent {
    LifeEvent {
        step: Step::Closed,
        ktime_ns: 9,
        cookie: SocketCookie(cookie),
        record: SocketRecord {
            cookie: SocketCookie(cookie),
            owner: Some(Owner {
                pid: 4242,
                comm: comm.into(),
                ..Owner::default()
            }),
            closed: true,
            ..SocketRecord::default()
        },
        life: ConnectionLife {
            error: 111,
            ..ConnectionLife::client(outcome, 1_000_000, Some(3_000_000))
        },
    }
}

#[test]
fn a_step_is_one_json_line() {
    let mut out = Vec::new();
    write_step(&mut out, &closed(7, "curl\nx", Outcome::Refused), 1.5).expect("write");
    let text = String::from_utf8(out).expect("utf-8");
    assert!(text.ends_with('\n'));
    assert_eq!(text.matches('\n').count(), 1, "{text}");
    let v: serde_json::Value = serde_json::from_str(&text).expect("JSON");
    assert_eq!(v["event"], "closed");
    assert_eq!(v["outcome"], "refused");
    assert_eq!(v["pid"], 4242);
    assert_eq!(v["comm"], "curl\nx");
    assert_eq!(v["duration_ms"], 2.0);
}

#[test]
fn the_pretty_table_escapes_process_names_and_counts_failures() {
    let mut book = ConnectionBook::new(10, 10);
    book.observe(&closed(1, "evil\u{1b}[31m", Outcome::Refused));
    book.observe(&closed(2, "evil\u{1b}[31m", Outcome::Timeout));
    let report = book.report();
    let section = LifecycleSection {
        sources: &[],
        unavailable: &[],
        steps_dropped: 3,
        report: &report,
    };
    let mut out = Vec::new();
    write_pretty(&mut out, &section).expect("write");
    let text = String::from_utf8(out).expect("utf-8");
    assert!(!text.contains('\u{1b}'), "{text}");
    assert!(text.contains("1/0/1/0/0/0"), "{text}");
    assert!(text.contains("lifecycle steps lost: 3"), "{text}");
    let mut out = Vec::new();
    write_summary(&mut out, &report.processes[0], 1.0, 2.0, 2, 0).expect("write");
    let v: serde_json::Value = serde_json::from_slice(&out).expect("JSON");
    assert_eq!(v["event"], "summary");
    assert_eq!(v["opened_per_s"], 1.0);
    assert_eq!(v["failures"]["timeout"], 1);
}
