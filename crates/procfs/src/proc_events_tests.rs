//! The proc connector parser on datagrams captured from this kernel by
//! `examples/capture_cn_proc.rs` (testdata/cn_proc/): `sh` forked by the
//! capturer, a thread of the capturer, `sleep` forked and exec'd by `sh`,
//! and their exits (`sh` with `exit 3`, status 768).

use super::*;

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/testdata/cn_proc/{name}.bin", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

const ALL: [&str; 8] = [
    "00-fork",
    "01-thread-fork",
    "02-exec",
    "03-fork",
    "04-exec",
    "05-thread-exit",
    "06-exit",
    "07-exit",
];

#[test]
fn parses_captured_events() {
    let events: Vec<ProcEvent> = ALL
        .iter()
        .flat_map(|n| parse_datagram(&fixture(n)))
        .collect();
    assert_eq!(
        events,
        vec![
            ProcEvent::Fork {
                parent_pid: 14204,
                parent_tgid: 14204,
                child_pid: 14290,
                child_tgid: 14290
            },
            ProcEvent::Fork {
                parent_pid: 14160,
                parent_tgid: 14160,
                child_pid: 14291,
                child_tgid: 14204
            },
            ProcEvent::Exec {
                pid: 14290,
                tgid: 14290
            },
            ProcEvent::Fork {
                parent_pid: 14290,
                parent_tgid: 14290,
                child_pid: 14292,
                child_tgid: 14292
            },
            ProcEvent::Exec {
                pid: 14292,
                tgid: 14292
            },
            ProcEvent::Exit {
                pid: 14291,
                tgid: 14204,
                exit_code: 0
            },
            ProcEvent::Exit {
                pid: 14292,
                tgid: 14292,
                exit_code: 0
            },
            ProcEvent::Exit {
                pid: 14290,
                tgid: 14290,
                exit_code: 768
            },
        ]
    );
}

#[test]
fn only_process_level_changes_matter_to_the_fd_index() {
    let changed: Vec<Option<(u32, bool)>> = ALL
        .iter()
        .map(|n| parse_datagram(&fixture(n))[0].changed_process())
        .collect();
    assert_eq!(
        changed,
        vec![
            Some((14290, false)),
            None, // thread created
            Some((14290, false)),
            Some((14292, false)),
            Some((14292, false)),
            None, // thread ended
            Some((14292, true)),
            Some((14290, true)),
        ]
    );
    assert_eq!(ProcEvent::Lost.changed_process(), None);
    assert_eq!(ProcEvent::Ack { err: 0 }.changed_process(), None);
}

#[test]
fn never_panics_on_truncated_or_altered_datagrams() {
    for name in ALL {
        let good = fixture(name);
        for cut in 0..good.len() {
            // A cut inside the event's fields yields nothing, never garbage.
            let parsed = parse_datagram(&good[..cut]);
            assert!(parsed.is_empty(), "{name} cut at {cut}: {parsed:?}");
        }
        for at in 0..good.len() {
            for byte in [0x00, 0xff, 0x7f] {
                let mut bad = good.clone();
                bad[at] = byte;
                let _ = parse_datagram(&bad);
            }
        }
    }
}

#[test]
fn foreign_connector_messages_are_ignored() {
    let mut other = fixture("02-exec");
    other[16..20].copy_from_slice(&5u32.to_ne_bytes()); // cb_id.idx of another connector user
    assert!(parse_datagram(&other).is_empty());
    let mut unknown = fixture("02-exec");
    unknown[36..40].copy_from_slice(&0x200u32.to_ne_bytes()); // PROC_EVENT_COMM
    assert_eq!(
        parse_datagram(&unknown),
        vec![ProcEvent::Other { what: 0x200 }]
    );
    let mut ack = fixture("02-exec");
    ack[36..40].copy_from_slice(&0u32.to_ne_bytes());
    ack[52..56].copy_from_slice(&1u32.to_ne_bytes());
    assert_eq!(parse_datagram(&ack), vec![ProcEvent::Ack { err: 1 }]);
}

#[test]
fn two_messages_in_one_datagram() {
    let mut both = fixture("00-fork");
    both.extend(fixture("07-exit"));
    assert_eq!(parse_datagram(&both).len(), 2);
}

#[test]
fn listen_request_layout() {
    let m = mcast_message(7, PROC_CN_MCAST_LISTEN);
    assert_eq!(m.len(), 40);
    assert_eq!(read_u32(&m, 0), Some(40));
    assert_eq!(read_u32(&m, 16), Some(CN_IDX_PROC));
    assert_eq!(netlink::read_u16(&m, 32), Some(4));
    assert_eq!(read_u32(&m, 36), Some(PROC_CN_MCAST_LISTEN));
}
