//! Synthetic header sequences through [`TcpLife`]: each outcome, closers,
//! retransmissions, RTT and response times.

use super::*;

const MS: u64 = 1_000_000;
const ACK: u8 = TCP_ACK;
const SYN: u8 = TCP_SYN;
const FIN: u8 = TCP_FIN;
const RST: u8 = TCP_RST;

/// Segments of one end: local ISN 1000, remote ISN 5000.
fn out(ms: u64, flags: u8, seq: u32, ack: u32, len: u32) -> Segment {
    Segment {
        outgoing: true,
        flags,
        seq,
        ack,
        len,
        mss: if flags & SYN != 0 { 1460 } else { 0 },
        ktime_ns: ms * MS,
    }
}

fn inc(ms: u64, flags: u8, seq: u32, ack: u32, len: u32) -> Segment {
    Segment {
        outgoing: false,
        ..out(ms, flags, seq, ack, len)
    }
}

/// Feeds `segs` to a connection opened by the first; returns it and every
/// step made.
fn run(segs: &[Segment]) -> (TcpLife, Vec<LifeStep>) {
    let (mut life, first) = TcpLife::open(&segs[0]).expect("a SYN opens");
    let mut steps: Vec<LifeStep> = first.into_iter().collect();
    for s in &segs[1..] {
        steps.extend(life.segment(s));
    }
    (life, steps)
}

fn kinds(steps: &[LifeStep]) -> Vec<Step> {
    steps.iter().map(|s| s.step).collect()
}

/// Client handshake at 0 (SYN), 20 (SYN-ACK), 20 (ACK).
fn client_open() -> Vec<Segment> {
    client_open_after(20)
}

/// Client handshake at 0 (SYN), `rtt_ms` (SYN-ACK and ACK).
fn client_open_after(rtt_ms: u64) -> Vec<Segment> {
    vec![
        out(0, SYN, 1000, 0, 0),
        inc(rtt_ms, SYN | ACK, 5000, 1001, 0),
        out(rtt_ms, ACK, 1001, 5001, 0),
    ]
}

/// Server handshake at 0 (SYN, SYN-ACK), `ack_ms` (the final ACK).
fn server_open_after(ack_ms: u64) -> Vec<Segment> {
    vec![
        inc(0, SYN, 5000, 0, 0),
        out(0, SYN | ACK, 1000, 5001, 0),
        inc(ack_ms, ACK, 5001, 1001, 0),
    ]
}

/// The outcome of the last step `segs` make.
fn last_outcome(segs: &[Segment]) -> Outcome {
    let (_, steps) = run(segs);
    steps.last().expect("a step").life.outcome
}

#[test]
fn only_a_syn_without_ack_opens() {
    assert!(TcpLife::open(&out(0, ACK, 1, 1, 10)).is_none());
    assert!(TcpLife::open(&inc(0, SYN | ACK, 1, 1, 0)).is_none());
    let (l, step) = TcpLife::open(&inc(0, SYN, 1, 0, 0)).unwrap();
    assert_eq!(l.life().role, Role::Server);
    assert!(step.is_none(), "a server's connection starts when accepted");
}

#[test]
fn refused_is_an_rst_answering_the_syn() {
    let (l, steps) = run(&[out(0, SYN, 1000, 0, 0), inc(1, RST | ACK, 0, 1001, 0)]);
    assert_eq!(kinds(&steps), [Step::Connect, Step::Closed]);
    let life = &steps[1].life;
    assert_eq!((life.role, life.outcome), (Role::Client, Outcome::Refused));
    assert_eq!((life.established_ns, life.closed_ns), (None, Some(MS)));
    assert!(l.is_closed());
}

#[test]
fn a_client_closing_first_succeeds_with_handshake_duration_and_closer() {
    let mut segs = client_open();
    segs.extend([
        out(21, ACK | FIN, 1001, 5001, 0),
        inc(41, ACK | FIN, 5001, 1002, 0),
        out(41, ACK, 1002, 5002, 0),
    ]);
    let (_, steps) = run(&segs);
    assert_eq!(
        kinds(&steps),
        [Step::Connect, Step::Established, Step::Closed]
    );
    let est = &steps[1];
    assert_eq!(est.ktime_ns, 20 * MS);
    assert_eq!(est.life.handshake_ns, Some(20 * MS));
    let closed = &steps[2].life;
    assert_eq!(closed.outcome, Outcome::Success);
    assert_eq!(closed.closer, Some(Closer::Local));
    assert_eq!(closed.duration_ns(), Some(21 * MS));
    assert_eq!(closed.health.unwrap().srtt_us, 20_000);
}

#[test]
fn a_server_accepts_on_the_final_ack_and_the_peer_may_close_first() {
    let mut segs = server_open_after(20);
    segs.extend([
        inc(21, ACK | FIN, 5001, 1001, 0),
        out(22, ACK | FIN, 1001, 5002, 0),
        inc(42, ACK, 5002, 1002, 0),
    ]);
    let (_, steps) = run(&segs);
    assert_eq!(kinds(&steps), [Step::Accepted, Step::Closed]);
    assert_eq!(steps[0].life.handshake_ns, Some(20 * MS));
    let closed = &steps[1].life;
    assert_eq!(
        (closed.role, closed.outcome),
        (Role::Server, Outcome::Success)
    );
    assert_eq!(closed.closer, Some(Closer::Remote));
    assert_eq!(closed.health.unwrap().srtt_us, 20_000);
}

#[test]
fn a_one_ms_connection_is_a_success() {
    let mut segs = client_open_after(0);
    segs.extend([
        out(1, ACK | FIN, 1001, 5001, 0),
        inc(1, ACK | FIN, 5001, 1002, 0),
    ]);
    assert_eq!(last_outcome(&segs), Outcome::Success);
}

#[test]
fn reset_is_an_rst_received_after_the_handshake_and_one_sent_is_our_abort() {
    let mut segs = client_open();
    segs.extend([out(21, ACK, 1001, 5001, 100), inc(22, RST, 5001, 0, 0)]);
    assert_eq!(last_outcome(&segs), Outcome::Reset);
    let mut segs = client_open();
    segs.push(out(21, RST | ACK, 1001, 5001, 0));
    assert_eq!(last_outcome(&segs), Outcome::Success);
}

#[test]
fn an_rst_instead_of_the_handshakes_ack_is_an_aborted_connect() {
    let segs = [
        out(0, SYN, 1000, 0, 0),
        inc(900, SYN | ACK, 5000, 1001, 0),
        out(900, RST, 1001, 0, 0),
    ];
    let (_, steps) = run(&segs);
    assert_eq!(kinds(&steps), [Step::Connect, Step::Closed]);
    assert_eq!(steps[1].life.outcome, Outcome::AbortedByExit);
}

#[test]
fn a_server_side_syn_that_never_completes_is_no_connection() {
    let segs = [inc(0, SYN, 5000, 0, 0), out(0, RST | ACK, 0, 5001, 0)];
    let (l, steps) = run(&segs);
    assert!(steps.is_empty());
    assert!(l.is_closed());
}

#[test]
fn an_unanswered_syn_times_out_after_the_retransmission_schedule() {
    // tcp_syn_retries=1: SYN at 0 and 1 s, the kernel gives up at 3 s.
    let (mut l, steps) = run(&[out(0, SYN, 1000, 0, 0), out(1000, SYN, 1000, 0, 0)]);
    assert_eq!(kinds(&steps), [Step::Connect]);
    assert!(l.keeps_flow(u64::MAX), "kept until the tick decides");
    // Still within the schedule: the next SYN would be due at 3 s.
    assert!(l.tick(3_400 * MS).is_none());
    let closed = l.tick(3_600 * MS).expect("timed out");
    assert_eq!(closed.life.outcome, Outcome::Timeout);
    assert_eq!(closed.life.closed_ns, Some(3_000 * MS));
    assert_eq!(closed.life.health.unwrap().total_retrans, 1);
    assert!(!l.keeps_flow(u64::MAX));
    assert!(l.tick(10_000 * MS).is_none(), "closed once");
    // A first SYN alone is due again after the initial RTO of 1 s.
    let (mut l, _) = run(&[out(0, SYN, 1000, 0, 0)]);
    assert!(l.tick(2_400 * MS).is_none());
    assert!(l.tick(2_600 * MS).is_some());
}

#[test]
fn an_answered_client_never_times_out() {
    let (mut l, _) = run(&client_open());
    assert!(l.tick(u64::MAX / 2).is_none());
    assert!(l.keeps_flow(21 * MS));
    assert!(!l.keeps_flow(21 * MS + OPEN_IDLE_NS));
}

#[test]
fn retransmissions_are_sent_segments_at_or_below_the_highest_end() {
    let mut segs = client_open();
    segs.extend([
        out(21, ACK, 1001, 5001, 1000),
        out(21, ACK, 2001, 5001, 1000),
        out(22, ACK, 3001, 5001, 1000),
        // 2001..3001 again, then a part of it.
        out(60, ACK, 2001, 5001, 1000),
        out(61, ACK, 2501, 5001, 500),
        // A super-packet of three MSS-sized segments, new, then again.
        out(62, ACK, 4001, 5001, 3 * 1460),
        out(100, ACK, 4001, 5001, 3 * 1460),
        // Received twice: the peer's retransmission, not ours.
        inc(101, ACK, 5001, 8381, 100),
        inc(102, ACK, 5001, 8381, 100),
        // FIN, and the FIN again.
        out(103, ACK | FIN, 8381, 5101, 0),
        out(303, ACK | FIN, 8381, 5101, 0),
    ]);
    let (l, _) = run(&segs);
    let h = l.life().health.unwrap();
    assert_eq!(h.total_retrans, 1 + 1 + 3 + 1);
    // SYN, the ACK, 3 + 2 data, 3 + 3 super, 2 FINs.
    assert_eq!(h.segs_out, 1 + 1 + 5 + 6 + 2);
}

#[test]
fn syn_retransmissions_count_and_keep_the_handshake_out_of_the_rtt() {
    let segs = [
        out(0, SYN, 1000, 0, 0),
        out(1000, SYN, 1000, 0, 0),
        inc(1020, SYN | ACK, 5000, 1001, 0),
        out(1020, ACK, 1001, 5001, 0),
    ];
    let (l, steps) = run(&segs);
    let est = &steps[1].life;
    assert_eq!(
        est.handshake_ns,
        Some(1020 * MS),
        "from connect, as connect() waits"
    );
    let h = l.life().health.unwrap();
    assert_eq!((h.total_retrans, h.srtt_us), (1, 0), "Karn: no sample");
}

#[test]
fn rtt_is_smoothed_from_data_to_the_ack_that_covers_it() {
    let mut segs = client_open(); // a 20 ms sample from the handshake
    segs.extend([
        out(30, ACK, 1001, 5001, 100),
        out(31, ACK, 1101, 5001, 100), // not timed: one at a time
        inc(58, ACK, 5001, 1101, 0),   // 28 ms
        out(60, ACK, 1201, 5001, 100),
        out(61, ACK, 1201, 5001, 100), // retransmitted: sample discarded
        inc(100, ACK, 5001, 1301, 0),
    ]);
    let (l, _) = run(&segs);
    assert_eq!(l.life().health.unwrap().srtt_us, 20_000 + 8_000 / 8);
}

#[test]
fn response_time_is_burst_end_to_first_byte_back_by_role() {
    // Client: request in two packets, the answer 30 ms after the last.
    let mut segs = client_open();
    segs.extend([
        out(100, ACK, 1001, 5001, 100),
        out(101, ACK, 1101, 5001, 100),
        inc(131, ACK, 5001, 1201, 500),
        inc(132, ACK, 5501, 1201, 500),
        out(200, ACK, 1201, 6001, 100),
        // A retransmission of the answer is not a new first byte.
        inc(210, ACK, 5001, 1301, 500),
        inc(240, ACK, 6001, 1301, 500),
    ]);
    let (l, _) = run(&segs);
    let r = l.life().response;
    assert_eq!((r.taken, r.sum_us), (2, 30_000 + 40_000));
    // Server: from the request's last packet to the answer's first.
    let mut segs = server_open_after(1);
    segs.extend([
        inc(10, ACK, 5001, 1001, 200),
        out(40, ACK, 1001, 5201, 300),
        out(41, ACK, 1301, 5201, 300),
        inc(50, ACK, 5201, 1601, 200),
        out(80, ACK, 1601, 5401, 300),
    ]);
    let (l, _) = run(&segs);
    let r = l.life().response;
    assert_eq!((r.taken, r.sum_us), (2, 60_000));
}

#[test]
fn a_closed_connection_changes_no_more_and_samples_only_when_changed() {
    let (mut l, _) = run(&client_open());
    assert!(
        l.sample(30 * MS).is_none(),
        "the established step said it all"
    );
    l.segment(&out(30, ACK, 1001, 5001, 10));
    let s = l.sample(31 * MS).expect("changed");
    assert_eq!((s.step, s.ktime_ns), (Step::Sample, 31 * MS));
    assert!(l.sample(32 * MS).is_none());
    l.segment(&inc(40, RST, 5001, 0, 0));
    assert!(l.is_closed());
    assert!(l.segment(&out(41, ACK, 1011, 5001, 10)).is_none());
    assert!(l.sample(42 * MS).is_none());
    assert_eq!(l.life().outcome, Outcome::Reset);
}
