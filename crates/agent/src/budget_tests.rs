//! The budget's promises: series within the budget, sums exact, no series
//! ever going down while it exists, identities expiring after the TTL.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use netoproc_core::Counters;

use super::*;

fn cfg(max: usize) -> BudgetConfig {
    BudgetConfig {
        max_identities: max,
        ttl: Duration::from_secs(60),
        min_residency: Duration::from_secs(5),
    }
}

fn id(n: u32) -> Identity {
    Identity::of(&format!("p{n}"), None, Some(1000))
}

fn bytes(tx: u64) -> Tally {
    let mut t = Tally::default();
    t.traffic[0] = Counters {
        tx_bytes: tx,
        tx_wire_bytes: tx + 40,
        tx_packets: 1,
        ..Counters::default()
    };
    t
}

/// Checks every promise after each read of a pseudo-random workload.
#[test]
fn many_identities_stay_within_budget_with_exact_monotonic_sums() {
    let mut b = Budget::new(cfg(20));
    let t0 = Instant::now();
    let mut sent = Tally::default();
    let mut last_seen: HashMap<Identity, u64> = HashMap::new();
    let (mut last_other, mut last_retired) = (0u64, 0u64);
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for read in 0..600u64 {
        let now = t0 + Duration::from_secs(read);
        let mut deltas = HashMap::new();
        // 5 steady heavy identities, and a churn of 1,000 light ones.
        for n in 0..5 {
            deltas.insert(id(n), bytes(10_000 + n as u64));
        }
        for _ in 0..20 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let n = 100 + (x % 1000) as u32;
            deltas.insert(id(n), bytes(1 + x % 500));
        }
        // A newcomer that becomes the heaviest of all at read 300.
        if read >= 300 {
            deltas.insert(id(99), bytes(1_000_000));
        }
        for d in deltas.values() {
            sent.add(d);
        }
        b.apply(now, deltas);

        assert!(b.exported().count() <= 20);
        assert_eq!(b.total(), sent, "read {read}");
        let mut now_seen = HashMap::new();
        for (i, e) in b.exported() {
            let v = e.tally.traffic[0].tx_bytes;
            if let Some(&before) = last_seen.get(i) {
                assert!(v >= before, "{i} went down at read {read}");
            }
            now_seen.insert(i.clone(), v);
        }
        last_seen = now_seen;
        assert!(b.other().traffic[0].tx_bytes >= last_other);
        assert!(b.retired().traffic[0].tx_bytes >= last_retired);
        last_other = b.other().traffic[0].tx_bytes;
        last_retired = b.retired().traffic[0].tx_bytes;
    }
    // The heavy ones hold their places; the newcomer took one.
    for n in (0..5).chain([99]) {
        assert!(b.is_exported(&id(n)), "p{n} not exported");
    }
    let s = b.stats();
    assert!(s.folded > 0 && s.evicted > 0, "{s:?}");
    assert!(b.other().traffic[0].tx_bytes > 0);
}

#[test]
fn an_idle_identity_expires_after_the_ttl_into_the_retired_counters() {
    let mut b = Budget::new(cfg(4));
    let t0 = Instant::now();
    b.apply(t0, HashMap::from([(id(1), bytes(500))]));
    assert!(b.is_exported(&id(1)));
    b.apply(t0 + Duration::from_secs(59), HashMap::new());
    assert!(b.is_exported(&id(1)));
    b.apply(t0 + Duration::from_secs(60), HashMap::new());
    assert!(!b.is_exported(&id(1)));
    assert_eq!(b.retired().traffic[0].tx_bytes, 500);
    assert_eq!(b.stats().expired, 1);
    // Coming back later is a fresh series from zero.
    b.apply(
        t0 + Duration::from_secs(100),
        HashMap::from([(id(1), bytes(7))]),
    );
    let (_, e) = b.exported().next().unwrap();
    assert_eq!(e.tally.traffic[0].tx_bytes, 7);
    assert_eq!(b.total().traffic[0].tx_bytes, 507);
}

#[test]
fn an_evicted_identity_is_barred_for_a_ttl_and_its_traffic_goes_to_other() {
    let mut b = Budget::new(cfg(1));
    let t0 = Instant::now();
    b.apply(t0, HashMap::from([(id(1), bytes(10))]));
    // Too early to evict: the newcomer goes to other.
    b.apply(
        t0 + Duration::from_secs(1),
        HashMap::from([(id(2), bytes(1000))]),
    );
    assert!(b.is_exported(&id(1)));
    assert_eq!(b.other().traffic[0].tx_bytes, 1000);
    // Past the residency, it takes the place.
    let t = t0 + Duration::from_secs(6);
    b.apply(t, HashMap::from([(id(2), bytes(1000))]));
    assert!(b.is_exported(&id(2)) && !b.is_exported(&id(1)));
    assert_eq!(b.retired().traffic[0].tx_bytes, 10);
    // The evicted one cannot come back within the TTL, however busy.
    for s in 7..60 {
        b.apply(
            t0 + Duration::from_secs(s),
            HashMap::from([(id(1), bytes(1_000_000))]),
        );
        assert!(!b.is_exported(&id(1)), "back at {s}");
    }
    let after_ttl = t + Duration::from_secs(61);
    b.apply(after_ttl, HashMap::from([(id(1), bytes(1_000_000))]));
    assert!(b.is_exported(&id(1)));
}

#[test]
fn a_smaller_budget_on_reload_evicts_at_once() {
    let mut b = Budget::new(cfg(3));
    let t0 = Instant::now();
    b.apply(t0, (1..=3).map(|n| (id(n), bytes(u64::from(n)))).collect());
    b.reconfigure(cfg(1), t0);
    assert_eq!(b.exported().count(), 1);
    assert_eq!(b.total().traffic[0].tx_bytes, 6);
}

/// Closed TCP connections follow the identity's traffic: `other` while it
/// has no place, its own series once it has, the retired counters once its
/// series ended; never counted twice, never lost.
#[test]
fn closed_connections_fold_into_other_and_retire_with_their_identity() {
    use netoproc_core::lifecycle::{Outcome, Role, CLOSED_OUTCOMES, ROLES};
    let closes = |n: u64| {
        let mut t = Tally::default();
        let r = ROLES.iter().position(|&r| r == Role::Client).unwrap();
        let o = CLOSED_OUTCOMES
            .iter()
            .position(|&o| o == Outcome::Success)
            .unwrap();
        t.tcp.connections[r][o] = n;
        t
    };
    let mut b = Budget::new(cfg(1));
    let t0 = Instant::now();
    b.apply(t0, HashMap::from([(id(1), bytes(10))]));
    // No room: id 2's closed connections (and nothing else) go to other.
    b.apply(
        t0 + Duration::from_secs(1),
        HashMap::from([(id(1), closes(3)), (id(2), closes(5))]),
    );
    let success = |t: &Tally| t.tcp.closed(Role::Client, Outcome::Success);
    assert_eq!(success(b.other()), 5);
    let own = |b: &Budget| b.exported().map(|(_, e)| success(&e.tally)).sum::<u64>();
    assert_eq!(own(&b), 3);
    // Closing connections keeps an identity active; idle past the TTL,
    // its counts are retired.
    b.apply(
        t0 + Duration::from_secs(59),
        HashMap::from([(id(1), closes(1))]),
    );
    b.apply(t0 + Duration::from_secs(119), HashMap::new());
    assert!(!b.is_exported(&id(1)));
    assert_eq!(success(b.retired()), 4);
    assert_eq!(success(&b.total()), 9);
}
