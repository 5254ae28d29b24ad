//! The resolver on the fixture proc tree (`testdata/fdscan`) with a fake
//! socket source: caching, fallbacks, on-demand dumps and their rate limit,
//! proc events and full-scan decisions, with a hand-driven clock.

use std::cell::{RefCell, RefMut};
use std::rc::Rc;
use std::time::Duration;

use netoproc_core::SocketCookie;

use super::*;
use crate::sock_diag::TcpState;

const HOST: NetnsId = NetnsId(4026531833);
const OTHER: NetnsId = NetnsId(4026532177);
const TCP: Protocol = Protocol::Tcp;
/// The addresses of [`pid_200s_connection`].
const CONN: (&str, &str) = ("127.0.0.1:50000", "127.0.0.1:41000");

#[derive(Default)]
struct Fake {
    tables: HashMap<NetnsId, Vec<InetSocket>>,
    dumps: usize,
    /// The protocols of each dump, in order.
    dumped_protocols: Vec<Vec<Protocol>>,
    /// Whether `lookup_one` answers (a kernel without it, or a test of the
    /// dump path, does not).
    answers_exact: bool,
    exact_lookups: usize,
    /// The path each dump was given, by namespace (the latest).
    paths: HashMap<NetnsId, Option<std::path::PathBuf>>,
}

#[derive(Clone, Default)]
struct FakeSource(Rc<RefCell<Fake>>);

impl SocketSource for FakeSource {
    fn dump(
        &mut self,
        netns: NetnsId,
        path: Option<&std::path::Path>,
        protocols: &[Protocol],
    ) -> Result<Vec<InetSocket>, SockDiagError> {
        let mut f = self.0.borrow_mut();
        f.dumps += 1;
        f.paths
            .insert(netns, path.map(std::path::Path::to_path_buf));
        f.dumped_protocols.push(protocols.to_vec());
        let mut table = f.tables.get(&netns).cloned().unwrap_or_default();
        table.retain(|s| protocols.contains(&s.protocol));
        Ok(table)
    }

    fn lookup_one(
        &mut self,
        netns: NetnsId,
        _path: Option<&std::path::Path>,
        protocol: Protocol,
        local: SocketAddr,
        remote: SocketAddr,
    ) -> Result<Option<InetSocket>, SockDiagError> {
        let mut f = self.0.borrow_mut();
        f.exact_lookups += 1;
        if !f.answers_exact {
            return Ok(None);
        }
        Ok(f.tables.get(&netns).and_then(|t| {
            t.iter()
                .find(|s| s.protocol == protocol && s.local == local && s.remote == Some(remote))
                .copied()
        }))
    }
}

/// A root socket, listening or unconnected without a remote; cookie
/// `inode` × 10.
fn sock(protocol: Protocol, local: &str, remote: Option<&str>, inode: u64) -> InetSocket {
    let state = match (protocol, remote) {
        (Protocol::Tcp, None) => TcpState::Listen,
        (Protocol::Udp, None) => TcpState::Close,
        _ => TcpState::Established,
    };
    InetSocket {
        uid: 0,
        cookie: SocketCookie(inode * 10),
        ..crate::socket_table::tests::sock(protocol, local, remote, state, inode)
    }
}

/// Pid 200's connected socket (inode 141074 in the fixture), which the
/// fixture's last dump lacks.
fn pid_200s_connection() -> InetSocket {
    sock(TCP, CONN.0, Some(CONN.1), 141074)
}

fn a(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

/// The fake's table of the host namespace.
fn host_table(src: &FakeSource) -> RefMut<'_, Vec<InetSocket>> {
    RefMut::map(src.0.borrow_mut(), |f| f.tables.get_mut(&HOST).unwrap())
}

/// The fixture's sockets (inodes from testdata/fdscan/README.md).
fn setup() -> (SocketResolver<FakeSource>, FakeSource, Instant) {
    let src = FakeSource::default();
    {
        let mut f = src.0.borrow_mut();
        f.tables.insert(
            HOST,
            vec![
                sock(Protocol::Tcp, "127.0.0.1:41000", None, 140124),
                sock(Protocol::Udp, "[::1]:5300", None, 140125),
                sock(
                    Protocol::Udp,
                    "127.0.0.1:45000",
                    Some("127.0.0.1:9"),
                    141074,
                ),
            ],
        );
        f.tables.insert(
            OTHER,
            vec![sock(Protocol::Tcp, "127.0.0.1:41000", None, 141069)],
        );
    }
    let proc = ProcRoot::new(concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/fdscan/proc"));
    let config = ResolverConfig {
        all_namespaces: Some(PathBuf::from(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/testdata/fdscan/no-run-netns"
        ))),
        ..ResolverConfig::default()
    };
    let mut r = SocketResolver::with_source(proc, src.clone(), HOST, config);
    let now = Instant::now();
    r.refresh(now).unwrap();
    (r, src, now)
}

/// How `l` → `rem` resolves: the kind of match and the owners.
fn matched(
    r: &mut SocketResolver<FakeSource>,
    p: Protocol,
    l: &str,
    rem: &str,
    ns: Option<NetnsId>,
    now: Instant,
) -> Option<(MatchKind, Vec<u32>)> {
    r.resolve(p, a(l), a(rem), ns, now)
        .map(|x| (x.matched, x.pids.clone()))
}

#[test]
fn first_refresh_watches_both_namespaces_and_scans_fully() {
    let (r, src, _) = setup();
    assert_eq!(r.watched_netns(), vec![HOST, OTHER]);
    assert_eq!(src.0.borrow().dumps, 2);
    assert_eq!(r.stats().full_scans, 1);
    assert_eq!(r.fd_index().owners(140124), &[100, 200]);
}

#[test]
fn exact_then_listener_with_cache_hits() {
    let (mut r, _, now) = setup();
    let udp = Protocol::Udp;
    assert_eq!(
        matched(&mut r, udp, "127.0.0.1:45000", "127.0.0.1:9", None, now).map(|m| m.1),
        Some(vec![200])
    );
    assert_eq!(
        matched(&mut r, udp, "127.0.0.1:45000", "127.0.0.1:9", None, now).map(|m| m.1),
        Some(vec![200])
    );
    // IPv6 unconnected listener bound to ::1
    let res = r
        .resolve(udp, a("[::1]:5300"), a("[::1]:777"), None, now)
        .unwrap();
    assert_eq!(
        (res.pids.clone(), res.matched),
        (vec![100, 200], MatchKind::BoundAddress)
    );
    // The namespace decides between two listeners on one address.
    let tcp = Protocol::Tcp;
    assert_eq!(
        matched(
            &mut r,
            tcp,
            "127.0.0.1:41000",
            "127.0.0.1:5",
            Some(OTHER),
            now
        )
        .map(|m| m.1),
        Some(vec![300])
    );
    assert_eq!(
        matched(&mut r, tcp, "127.0.0.1:41000", "127.0.0.1:5", None, now).map(|m| m.1),
        Some(vec![100, 200])
    );
    let s = r.stats();
    assert_eq!(
        (s.lookups, s.cache_hits, s.resolved, s.unresolved),
        (5, 1, 5, 0)
    );
}

#[test]
fn a_refresh_revalidates_cached_answers() {
    let (mut r, src, now) = setup();
    let udp = Protocol::Udp;
    assert!(r
        .resolve(udp, a("127.0.0.1:45000"), a("127.0.0.1:9"), None, now)
        .is_some());
    // The socket closes; the next dump lacks it.
    host_table(&src).retain(|s| s.inode != 141074);
    r.refresh(now + Duration::from_secs(1)).unwrap();
    let later = now + Duration::from_secs(1);
    // A late packet of the closed socket keeps its owner.
    assert_eq!(
        matched(&mut r, udp, "127.0.0.1:45000", "127.0.0.1:9", None, later).map(|m| m.1),
        Some(vec![200])
    );
    assert_eq!(r.stats().from_closed, 1);
    assert_eq!(
        r.stats().on_demand_dumps,
        0,
        "a known tuple never causes a dump"
    );
    // Unused for cache_ttl: forgotten.
    r.refresh(later + Duration::from_secs(120)).unwrap();
    assert_eq!(
        matched(
            &mut r,
            udp,
            "127.0.0.1:45000",
            "127.0.0.1:9",
            None,
            later + Duration::from_secs(120)
        )
        .map(|m| m.1),
        None
    );
}

#[test]
fn unknown_tuples_dump_on_demand_at_most_once_per_interval() {
    let (mut r, src, now) = setup();
    let before = src.0.borrow().dumps;
    // A new client connection appears after the last dump (its fd is in
    // the fixture as 200's connected socket).
    host_table(&src).push(pid_200s_connection());
    let t = now + Duration::from_millis(500);
    assert_eq!(
        matched(&mut r, TCP, CONN.0, CONN.1, Some(HOST), t),
        Some((MatchKind::Exact, vec![200]))
    );
    assert_eq!(src.0.borrow().dumps, before + 1);
    // A flood of unknown UDP tuples inside one interval: one UDP dump (of
    // every namespace, for netns None; a TCP dump does not stand in for
    // it), then no further dump.
    for port in 1..=1000u16 {
        let remote = SocketAddr::new("10.9.9.9".parse().unwrap(), port);
        assert!(r
            .resolve(
                Protocol::Udp,
                a("10.0.0.1:1"),
                remote,
                None,
                t + Duration::from_millis(50)
            )
            .is_none());
    }
    assert_eq!(src.0.borrow().dumps, before + 3);
    let s = r.stats();
    assert_eq!(
        (s.on_demand_dumps, s.rate_limited, s.unresolved),
        (3, 999, 1000)
    );
    // After the interval, one more UDP dump of all namespaces.
    r.resolve(
        Protocol::Udp,
        a("10.0.0.1:1"),
        a("10.9.9.9:1"),
        None,
        t + Duration::from_millis(200),
    );
    assert_eq!(src.0.borrow().dumps, before + 5);
    let f = src.0.borrow();
    assert_eq!(f.dumped_protocols[before], vec![Protocol::Tcp]);
    assert!(f.dumped_protocols[before + 1..]
        .iter()
        .all(|p| p == &vec![Protocol::Udp]));
}

#[test]
fn a_new_connection_is_asked_for_by_its_tuple_without_a_dump() {
    let (mut r, src, now) = setup();
    let before = src.0.borrow().dumps;
    {
        let mut f = src.0.borrow_mut();
        f.answers_exact = true;
        // Pid 200's connection, with a cookie of its own.
        let conn = InetSocket {
            cookie: SocketCookie(7),
            ..pid_200s_connection()
        };
        f.tables.get_mut(&HOST).unwrap().push(conn);
    }
    let t = now + Duration::from_millis(500);
    assert_eq!(
        matched(&mut r, TCP, CONN.0, CONN.1, Some(HOST), t),
        Some((MatchKind::Exact, vec![200]))
    );
    assert_eq!(src.0.borrow().dumps, before);
    assert_eq!((r.stats().exact_lookups, r.stats().exact_found), (1, 1));
    // A tuple the kernel does not know falls back to a dump of its protocol.
    assert!(r
        .resolve(
            Protocol::Udp,
            a("127.0.0.1:1"),
            a("10.9.9.9:1"),
            Some(HOST),
            t
        )
        .is_none());
    assert_eq!(src.0.borrow().dumps, before + 1);
    assert_eq!(r.stats().exact_lookups, 2);
}

#[test]
fn a_miss_dumps_only_its_protocol_and_keeps_the_others_sockets() {
    let (mut r, src, now) = setup();
    let before = src.0.borrow().dumps;
    {
        let mut f = src.0.borrow_mut();
        let host = f.tables.get_mut(&HOST).unwrap();
        host.push(sock(
            Protocol::Udp,
            "127.0.0.1:53000",
            Some("127.0.0.1:53"),
            141074,
        ));
        host.push(pid_200s_connection());
    }
    let t = now + Duration::from_millis(500);
    let udp = matched(
        &mut r,
        Protocol::Udp,
        "127.0.0.1:53000",
        "127.0.0.1:53",
        Some(HOST),
        t,
    );
    assert_eq!(udp.map(|m| m.0), Some(MatchKind::Exact));
    assert_eq!(
        src.0.borrow().dumped_protocols.last(),
        Some(&vec![Protocol::Udp])
    );
    // The TCP listener of the last full dump is still known...
    let listener = matched(
        &mut r,
        TCP,
        "127.0.0.1:41000",
        "127.0.0.1:50001",
        Some(HOST),
        t,
    );
    assert_eq!(listener.map(|m| m.0), Some(MatchKind::BoundAddress));
    assert_eq!(src.0.borrow().dumps, before + 1);
    // ...and a TCP miss right after the UDP dump is not rate limited by it:
    // it dumps TCP, and finds the new connection.
    let tcp = matched(&mut r, TCP, CONN.0, CONN.1, Some(HOST), t);
    assert_eq!(tcp.map(|m| m.0), Some(MatchKind::Exact));
    assert_eq!(
        src.0.borrow().dumped_protocols.last(),
        Some(&vec![Protocol::Tcp])
    );
    assert_eq!(src.0.borrow().dumps, before + 2);
    assert_eq!(r.table(HOST).map(|t| t.len()), Some(5));
}

#[test]
fn proc_events_drive_incremental_rescans() {
    let (mut r, src, now) = setup();
    assert!(!r.is_event_driven());
    let later = now + Duration::from_secs(2);
    // 200 exits: its own socket closes with it.
    host_table(&src).retain(|s| s.inode != 141074);
    r.note_proc_events(
        [
            ProcEvent::Exit {
                pid: 200,
                tgid: 200,
                exit_code: 0,
            },
            ProcEvent::Exit {
                pid: 101,
                tgid: 100,
                exit_code: 0,
            }, // a thread: ignored
            ProcEvent::Fork {
                parent_pid: 1,
                parent_tgid: 1,
                child_pid: 300,
                child_tgid: 300,
            },
        ],
        later,
    );
    assert!(r.is_event_driven());
    let rep = r.refresh(later).unwrap();
    assert!(!rep.full_scan);
    assert_eq!(rep.pids_rescanned, 1);
    assert_eq!(r.fd_index().owners(140124), &[100]);
    assert_eq!(r.fd_index().owners(141069), &[300]);
    assert_eq!(r.stats().proc_events, 3);
    // Lost events force a full scan, which brings 200 back (it is in the fixture).
    r.note_proc_events([ProcEvent::Lost], later);
    assert!(r.refresh(later).unwrap().full_scan);
    assert_eq!(r.fd_index().owners(140124), &[100, 200]);
    assert_eq!(r.stats().proc_events_lost, 1);
}

#[test]
fn unplaced_inodes_cause_rate_limited_full_scans_once() {
    let (mut r, src, now) = setup();
    // A socket no fixture process holds (a kernel socket, say).
    src.0.borrow_mut().tables.get_mut(&HOST).unwrap().push(sock(
        Protocol::Udp,
        "0.0.0.0:4789",
        None,
        999,
    ));
    let t1 = now + Duration::from_millis(300);
    assert!(
        !r.refresh(t1).unwrap().full_scan,
        "inside min_full_scan_interval"
    );
    let t2 = now + Duration::from_secs(2);
    assert!(r.refresh(t2).unwrap().full_scan);
    assert!(
        !r.refresh(t2 + Duration::from_secs(2)).unwrap().full_scan,
        "already looked for"
    );
    let res = r
        .resolve(Protocol::Udp, a("10.0.0.1:4789"), a("10.0.0.2:1"), None, t2)
        .unwrap();
    assert!(res.pids.is_empty());
    assert_eq!(r.stats().ownerless, 1);
    // The drift guard still scans every max_full_scan_age.
    assert!(r.refresh(now + Duration::from_secs(40)).unwrap().full_scan);
    assert_eq!(r.stats().full_scans, 3);
}

#[test]
fn pinned_namespaces_stay_and_can_be_dropped() {
    let (mut r, _, now) = setup();
    let extra = NetnsId(42);
    r.watch_netns(extra, PathBuf::from("/nonexistent"));
    r.refresh(now).unwrap();
    assert!(r.watched_netns().contains(&extra));
    r.unwatch_netns(extra);
    r.unwatch_netns(HOST); // never the caller's own
    assert_eq!(r.watched_netns(), vec![HOST, OTHER]);
    assert!(r.table(OTHER).is_some_and(|t| t.len() == 1));
    assert_eq!(r.current_netns(), HOST);
}

#[test]
fn a_watched_namespace_whose_path_died_takes_the_listed_one() {
    let (mut r, src, now) = setup();
    let listed = src.0.borrow().paths[&OTHER].clone().expect("a path");
    // Watched through a process's link that is gone by the next refresh
    // (a short-lived `ip -n …` was the first process seen in it).
    r.watch_netns(OTHER, PathBuf::from("/proc/999999999/ns/net"));
    r.refresh(now).unwrap();
    assert_eq!(src.0.borrow().paths[&OTHER].as_ref(), Some(&listed));
    // A path that still reaches it is kept.
    let kept = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    r.watch_netns(OTHER, kept.clone());
    r.refresh(now).unwrap();
    assert_eq!(src.0.borrow().paths[&OTHER].as_ref(), Some(&kept));
}

#[test]
fn across_namespaces_an_exact_match_beats_a_listener() {
    let (mut r, src, now) = setup();
    let conn = sock(
        Protocol::Tcp,
        "127.0.0.1:41000",
        Some("127.0.0.1:60000"),
        141069,
    );
    src.0
        .borrow_mut()
        .tables
        .get_mut(&OTHER)
        .unwrap()
        .push(conn);
    r.refresh(now).unwrap();
    let res = r
        .resolve(
            Protocol::Tcp,
            a("127.0.0.1:41000"),
            a("127.0.0.1:60000"),
            None,
            now,
        )
        .unwrap();
    assert_eq!(
        (res.netns, res.matched, res.pids.as_slice()),
        (OTHER, MatchKind::Exact, &[300][..])
    );
    // Asked for the host namespace only, the host's listener answers.
    let res = r
        .resolve(
            Protocol::Tcp,
            a("127.0.0.1:41000"),
            a("127.0.0.1:60000"),
            Some(HOST),
            now,
        )
        .unwrap();
    assert_eq!((res.netns, res.matched), (HOST, MatchKind::BoundAddress));
}

#[test]
fn a_namespace_handed_over_open_is_dumped_through_its_file() {
    use std::os::fd::AsRawFd;
    let (mut r, src, now) = setup();
    // Stands in for an nsfs file opened through a process that then exited.
    let file = std::fs::File::open(env!("CARGO_MANIFEST_DIR")).unwrap();
    let fd = file.as_raw_fd();
    r.watch_netns_held(OTHER, file);
    r.refresh(now).unwrap();
    let want = ProcRoot::new(concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/fdscan/proc"))
        .path()
        .join("self/fd")
        .join(fd.to_string());
    assert_eq!(src.0.borrow().paths[&OTHER].as_ref(), Some(&want));
    // The resolver holds the file open while it watches the namespace, and
    // lets it go with it.
    let open = || std::path::Path::new(&format!("/proc/self/fd/{fd}")).exists();
    assert!(open());
    r.unwatch_netns(OTHER);
    assert!(!open());
}
