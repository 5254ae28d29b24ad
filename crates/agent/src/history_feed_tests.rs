//! The feed against a real writer and SQLite file: reads added into
//! minutes, closed when a read falls in the next one, the open minute
//! written at stop; identities past the bound kept as `other` and counted;
//! resolver counts differenced into per-minute rows.

use std::collections::HashMap;
use std::time::Duration;

use netoproc_core::Counters;
use netoproc_history::ledger::Retention;
use netoproc_history::query::{self, Filters, GroupBy, Query};
use netoproc_history::store::open_reader;
use netoproc_history::writer::{Writer, WriterConfig};
use netoproc_history::Target;

use super::{HistoryFeed, MAX_IDENTITIES};
use crate::identity::Identity;
use crate::tally::Tally;

const T0: i64 = 1_764_900_000;

fn tally(tx: u64, rx: u64) -> Tally {
    let mut t = Tally::default();
    t.traffic[0] = Counters {
        tx_bytes: tx,
        rx_bytes: rx,
        tx_packets: 1,
        rx_packets: 1,
        tx_wire_bytes: tx + 52,
        rx_wire_bytes: rx + 52,
        ..Counters::default()
    };
    t
}

fn feed(dir: &std::path::Path) -> (HistoryFeed, Target) {
    let target = Target::Sqlite(dir.join("h.sqlite"));
    let w = Writer::start(
        WriterConfig {
            target: target.clone(),
            host: "h".into(),
            retention: Retention::default(),
            buffer_minutes: 60,
            retry: Duration::from_millis(50),
            upkeep_every: Duration::from_secs(3600),
        },
        Box::new(|| T0),
    )
    .unwrap();
    (HistoryFeed::new(w, 60), target)
}

fn ask(target: &Target, since: i64, until: i64, g: GroupBy) -> query::Answer {
    let mut db = open_reader(target).unwrap();
    query::run(
        db.as_mut(),
        &Query {
            host: "h".into(),
            since,
            until,
            group_by: g,
            limit: 1000,
            filters: Filters::default(),
        },
    )
    .unwrap()
}

#[test]
fn reads_become_minutes_and_the_open_one_is_written_at_stop() {
    let dir = tempfile::tempdir().unwrap();
    let (mut f, target) = feed(dir.path());
    let curl = Identity::of("curl", None, Some(0));
    let nginx = Identity::of("nginx", Some("nginx.service"), Some(33));
    let mut sent = 0;
    // Three minutes of reads every 10 s.
    for s in (0..180).step_by(10) {
        let mut by = HashMap::new();
        by.insert(curl.clone(), tally(100, 10));
        by.insert(nginx.clone(), tally(7, 0));
        sent += 107;
        let remotes = HashMap::from([(curl.with_remote("10.0.0.1"), tally(100, 10))]);
        f.add(T0 + s, &by, &remotes, None, &[]);
    }
    f.stop();
    let a = ask(&target, T0, T0 + 180, GroupBy::Process);
    assert_eq!(a.total.payload_bytes_sent, sent);
    assert_eq!(a.rows[0].label, "curl");
    assert_eq!(a.rows[0].traffic.payload_bytes_sent, 1800);
    let b = ask(&target, T0 + 60, T0 + 120, GroupBy::Service);
    assert_eq!(
        b.total.payload_bytes_sent,
        6 * 107,
        "one minute's six reads"
    );
    let r = ask(&target, T0, T0 + 180, GroupBy::Remote);
    assert_eq!(r.rows[0].key["remote"], "10.0.0.1");
    assert_eq!(r.total.payload_bytes_sent, 1800);
}

#[test]
fn identities_past_the_bound_are_kept_as_other_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let (mut f, target) = feed(dir.path());
    let by: HashMap<Identity, Tally> = (0..MAX_IDENTITIES + 5)
        .map(|i| (Identity::of(&format!("p{i}"), None, Some(1)), tally(1, 0)))
        .collect();
    f.add(T0, &by, &HashMap::new(), None, &[]);
    assert_eq!(f.view().identities_folded, 5);
    f.stop();
    let a = ask(&target, T0, T0 + 60, GroupBy::Process);
    assert_eq!(a.total.payload_bytes_sent, (MAX_IDENTITIES + 5) as u64);
    // The identity `other` (user `other`, which no real identity has).
    let mut db = open_reader(&target).unwrap();
    let o = query::run(
        db.as_mut(),
        &Query {
            host: "h".into(),
            since: T0,
            until: T0 + 60,
            group_by: GroupBy::User,
            limit: 10,
            filters: Filters {
                user: Some("other".into()),
                ..Filters::default()
            },
        },
    )
    .unwrap();
    assert_eq!(o.total.payload_bytes_sent, 5);
}
