use super::*;
use netoproc_core::Family;

/// A socket of uid 1000 on `local` (its family), cookie `inode` + 10⁶.
pub(crate) fn sock(
    protocol: Protocol,
    local: &str,
    remote: Option<&str>,
    state: TcpState,
    inode: u64,
) -> InetSocket {
    let local: SocketAddr = local.parse().unwrap();
    InetSocket {
        protocol,
        family: if local.is_ipv4() {
            Family::Ipv4
        } else {
            Family::Ipv6
        },
        local,
        remote: remote.map(|r| r.parse().unwrap()),
        state,
        uid: 1000,
        inode,
        cookie: SocketCookie(inode + 1_000_000),
    }
}

fn a(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn table() -> SocketTable {
    use Protocol::*;
    use TcpState::*;
    SocketTable::new(vec![
        // TCP: a listener, both ends of a loopback connection, a v6 socket
        // talking IPv4, a TIME_WAIT leftover and a request socket.
        sock(Tcp, "0.0.0.0:8080", None, Listen, 10),
        sock(
            Tcp,
            "127.0.0.1:40000",
            Some("127.0.0.1:8080"),
            Established,
            11,
        ),
        sock(
            Tcp,
            "127.0.0.1:8080",
            Some("127.0.0.1:40000"),
            Established,
            12,
        ),
        sock(
            Tcp,
            "[::ffff:10.0.0.2]:443",
            Some("[::ffff:10.0.0.9]:5555"),
            Established,
            13,
        ),
        sock(Tcp, "10.0.0.2:39000", Some("93.184.216.34:80"), TimeWait, 0),
        sock(Tcp, "10.0.0.2:8080", Some("10.0.0.7:41000"), NewSynRecv, 0),
        sock(Tcp, "10.0.0.2:9000", None, Close, 14), // bound, not listening
        // UDP: a connected client, unconnected servers on one port bound to a
        // specific address, to 0.0.0.0 and to ::, and a v6-only port.
        sock(Udp, "10.0.0.2:50000", Some("10.0.0.53:53"), Established, 20),
        sock(Udp, "127.0.0.53:53", None, Close, 21),
        sock(Udp, "0.0.0.0:53", None, Close, 22),
        sock(Udp, "[::]:53", None, Close, 23),
        sock(Udp, "[::]:5353", None, Close, 24),
        sock(Udp, "[fe80::1]:6000", None, Close, 25),
    ])
}

fn inode(t: &SocketTable, p: Protocol, local: &str, remote: &str) -> Option<(u64, MatchKind)> {
    t.lookup(p, a(local), a(remote)).map(|(s, k)| (s.inode, k))
}

#[test]
fn both_ends_of_a_loopback_connection() {
    let t = table();
    let tcp = Protocol::Tcp;
    assert_eq!(
        inode(&t, tcp, "127.0.0.1:40000", "127.0.0.1:8080"),
        Some((11, MatchKind::Exact))
    );
    assert_eq!(
        inode(&t, tcp, "127.0.0.1:8080", "127.0.0.1:40000"),
        Some((12, MatchKind::Exact))
    );
}

#[test]
fn mapped_ipv6_socket_matches_ipv4_packets() {
    let t = table();
    let r = inode(&t, Protocol::Tcp, "10.0.0.2:443", "10.0.0.9:5555");
    assert_eq!(r, Some((13, MatchKind::Exact)));
    // and the mapped form of the query matches too
    let r = inode(
        &t,
        Protocol::Tcp,
        "[::ffff:10.0.0.2]:443",
        "[::ffff:10.0.0.9]:5555",
    );
    assert_eq!(r, Some((13, MatchKind::Exact)));
}

#[test]
fn tcp_falls_back_to_the_listener_but_not_to_a_bound_socket() {
    let t = table();
    let r = inode(&t, Protocol::Tcp, "10.0.0.2:8080", "10.0.0.99:1234");
    assert_eq!(r, Some((10, MatchKind::Wildcard)));
    // A request socket (inode 0) gives way to its listener.
    let r = inode(&t, Protocol::Tcp, "10.0.0.2:8080", "10.0.0.7:41000");
    assert_eq!(r, Some((10, MatchKind::Wildcard)));
    assert_eq!(
        inode(&t, Protocol::Tcp, "10.0.0.2:9000", "10.0.0.7:1"),
        None
    );
    // TIME_WAIT is still the exact socket (ownerless).
    let r = inode(&t, Protocol::Tcp, "10.0.0.2:39000", "93.184.216.34:80");
    assert_eq!(r, Some((0, MatchKind::Exact)));
}

#[test]
fn udp_exact_then_bound_address_then_wildcards() {
    let t = table();
    let udp = Protocol::Udp;
    assert_eq!(
        inode(&t, udp, "10.0.0.2:50000", "10.0.0.53:53"),
        Some((20, MatchKind::Exact))
    );
    // Same local port, another remote: a connected socket never matches.
    assert_eq!(inode(&t, udp, "10.0.0.2:50000", "10.0.0.54:53"), None);
    assert_eq!(
        inode(&t, udp, "127.0.0.53:53", "127.0.0.1:999"),
        Some((21, MatchKind::BoundAddress))
    );
    // IPv4 to another address: 0.0.0.0 before ::
    assert_eq!(
        inode(&t, udp, "10.0.0.2:53", "10.0.0.1:999"),
        Some((22, MatchKind::Wildcard))
    );
    // IPv6 never matches 0.0.0.0
    assert_eq!(
        inode(&t, udp, "[fd00::2]:53", "[fd00::1]:999"),
        Some((23, MatchKind::Wildcard))
    );
    // IPv4 (also mapped) reaches a dual-stack :: socket
    assert_eq!(
        inode(&t, udp, "10.0.0.2:5353", "10.0.0.1:5353"),
        Some((24, MatchKind::Wildcard))
    );
    assert_eq!(
        inode(&t, udp, "[::ffff:10.0.0.2]:5353", "[::ffff:10.0.0.1]:5353"),
        Some((24, MatchKind::Wildcard))
    );
    assert_eq!(
        inode(&t, udp, "[fe80::1]:6000", "[fe80::2]:1"),
        Some((25, MatchKind::BoundAddress))
    );
    assert_eq!(inode(&t, udp, "[fe80::3]:6000", "[fe80::2]:1"), None);
    assert_eq!(inode(&t, udp, "10.0.0.2:7", "10.0.0.1:7"), None);
}

#[test]
fn reuseport_groups_answer_deterministically() {
    let mk = |order: &[u64]| {
        SocketTable::new(
            order
                .iter()
                .map(|&i| sock(Protocol::Udp, "0.0.0.0:4000", None, TcpState::Close, i))
                .collect(),
        )
    };
    for order in [[7, 3, 0], [0, 7, 3], [3, 0, 7]] {
        let t = mk(&order);
        assert_eq!(
            inode(&t, Protocol::Udp, "1.2.3.4:4000", "5.6.7.8:1"),
            Some((3, MatchKind::Wildcard))
        );
    }
}

#[test]
fn duplicate_tuples_prefer_the_owned_live_socket() {
    use TcpState::*;
    let tw = sock(
        Protocol::Tcp,
        "10.0.0.2:1000",
        Some("10.0.0.3:80"),
        TimeWait,
        0,
    );
    let live = sock(
        Protocol::Tcp,
        "10.0.0.2:1000",
        Some("10.0.0.3:80"),
        Established,
        30,
    );
    for v in [vec![tw, live], vec![live, tw]] {
        let t = SocketTable::new(v);
        assert_eq!(
            inode(&t, Protocol::Tcp, "10.0.0.2:1000", "10.0.0.3:80")
                .unwrap()
                .0,
            30
        );
    }
}

#[test]
fn cookie_index_and_sizes() {
    let t = table();
    assert_eq!(
        t.by_cookie(SocketCookie(1_000_012)).map(|s| s.inode),
        Some(12)
    );
    assert!(t.by_cookie(SocketCookie(5)).is_none());
    assert_eq!(t.len(), 13);
    assert!(!t.is_empty());
    assert!(SocketTable::default().is_empty());
}
