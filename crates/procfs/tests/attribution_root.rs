//! Attribution against the real kernel: sockets this test opens on loopback
//! must appear in sock_diag with the cookie `getsockopt(SO_COOKIE)` gives,
//! in the fd index under our pid, and be resolved (both directions) to the
//! right socket; the same inside a network namespace made with `ip netns
//! add`. Needs root: skipped with a notice otherwise, and failing when
//! `CI=true`.

use std::io::Write;
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::os::fd::AsFd;
use std::os::fd::AsRawFd;
use std::path::Path;
use std::time::{Duration, Instant};

use netoproc_core::{Protocol, SocketCookie};
use netoproc_procfs::fd_index::parse_socket_link;
use netoproc_procfs::netns::netns_of_file;
use netoproc_procfs::proc_events::ProcConnector;
use netoproc_procfs::sock_diag::{dump_sockets, dump_sockets_in};
use netoproc_procfs::{
    FdIndex, InetSocket, MatchKind, ProcEventsError, ProcRoot, ResolverConfig, SocketResolver,
};
use netoproc_testkit::netns::Netns;

fn have_root(test: &str) -> bool {
    netoproc_testkit::root_or_skip(test, "root (sock_diag of all sockets, /proc/*/fd, setns)")
}

/// `getsockopt(fd, SOL_SOCKET, SO_COOKIE /* 57 */)`.
fn cookie(fd: impl AsFd) -> SocketCookie {
    SocketCookie(rustix::net::sockopt::socket_cookie(fd).unwrap())
}

fn inode(fd: impl AsFd) -> u64 {
    let link = std::fs::read_link(format!("/proc/self/fd/{}", fd.as_fd().as_raw_fd())).unwrap();
    parse_socket_link(link.to_str().unwrap()).unwrap()
}

struct Loopback {
    listener: TcpListener,
    client: TcpStream,
    server: TcpStream,
    udp_server: UdpSocket,
    udp_client: UdpSocket,
}

fn open_loopback(ip: &str) -> Loopback {
    let listener = TcpListener::bind((ip, 0)).unwrap();
    let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (server, _) = listener.accept().unwrap();
    let udp_server = UdpSocket::bind((ip, 0)).unwrap();
    let udp_client = UdpSocket::bind((ip, 0)).unwrap();
    udp_client
        .connect(udp_server.local_addr().unwrap())
        .unwrap();
    udp_client.send(b"ping").unwrap();
    Loopback {
        listener,
        client,
        server,
        udp_server,
        udp_client,
    }
}

fn find(
    dump: &[InetSocket],
    p: Protocol,
    local: SocketAddr,
    remote: Option<SocketAddr>,
) -> InetSocket {
    *dump
        .iter()
        .find(|s| s.protocol == p && s.local == local && s.remote == remote)
        .unwrap_or_else(|| panic!("{p} {local} -> {remote:?} not in the dump"))
}

fn check_dump(dump: &[InetSocket], l: &Loopback) {
    let tcp = Protocol::Tcp;
    let (la, ca) = (
        l.listener.local_addr().unwrap(),
        l.client.local_addr().unwrap(),
    );
    let expect = [
        (
            find(dump, tcp, la, None),
            cookie(&l.listener),
            inode(&l.listener),
        ),
        (
            find(dump, tcp, ca, Some(la)),
            cookie(&l.client),
            inode(&l.client),
        ),
        (
            find(dump, tcp, la, Some(ca)),
            cookie(&l.server),
            inode(&l.server),
        ),
        (
            find(
                dump,
                Protocol::Udp,
                l.udp_server.local_addr().unwrap(),
                None,
            ),
            cookie(&l.udp_server),
            inode(&l.udp_server),
        ),
        (
            find(
                dump,
                Protocol::Udp,
                l.udp_client.local_addr().unwrap(),
                l.udp_client.peer_addr().ok(),
            ),
            cookie(&l.udp_client),
            inode(&l.udp_client),
        ),
    ];
    for (s, cookie, inode) in expect {
        assert_eq!(s.cookie, cookie, "{s:?}");
        assert_eq!(s.inode, inode, "{s:?}");
        assert_eq!(s.uid, 0);
    }
}

#[test]
fn sock_diag_lists_our_sockets_with_their_cookies() {
    if !have_root("sock_diag_lists_our_sockets_with_their_cookies") {
        return;
    }
    let v4 = open_loopback("127.0.0.1");
    let v6 = open_loopback("::1");
    let t = Instant::now();
    let dump = dump_sockets().unwrap();
    let took = t.elapsed();
    check_dump(&dump, &v4);
    check_dump(&dump, &v6);
    eprintln!("sock_diag dump: {} sockets in {took:?}", dump.len());
}

#[test]
fn fd_index_maps_our_sockets_to_our_pid() {
    if !have_root("fd_index_maps_our_sockets_to_our_pid") {
        return;
    }
    let l = open_loopback("127.0.0.1");
    let proc = ProcRoot::default();
    let t = Instant::now();
    let (index, stats) = FdIndex::scan(&proc);
    let took = t.elapsed();
    let me = std::process::id();
    for ino in [
        inode(&l.client),
        inode(&l.server),
        inode(&l.udp_server),
        inode(&l.udp_client),
    ] {
        assert!(index.owners(ino).contains(&me), "inode {ino}");
    }
    eprintln!("full /proc fd scan: {stats:?} in {took:?}");
    // Incremental: our pid rescanned after closing a socket.
    let gone = inode(&l.udp_client);
    drop(l.udp_client);
    let mut index = index;
    index.update_pids(&proc, [me]);
    assert!(index.owners(gone).is_empty());
    assert!(index.owners(inode(&l.client)).contains(&me));
}

#[test]
fn resolver_names_both_ends_of_loopback_connections() {
    if !have_root("resolver_names_both_ends_of_loopback_connections") {
        return;
    }
    let l = open_loopback("127.0.0.1");
    let config = ResolverConfig {
        all_namespaces: None,
        ..ResolverConfig::default()
    };
    let mut r = SocketResolver::new(ProcRoot::default(), config).unwrap();
    r.start_proc_events()
        .expect("the proc connector works as root here");
    let now = Instant::now();
    r.refresh(now).unwrap();
    let me = std::process::id();
    let (la, ca) = (
        l.listener.local_addr().unwrap(),
        l.client.local_addr().unwrap(),
    );
    let mut check = |p: Protocol,
                     local: SocketAddr,
                     remote: SocketAddr,
                     want: SocketCookie,
                     kind: MatchKind| {
        let res = r.resolve(p, local, remote, None, now).unwrap().clone();
        assert_eq!(
            (res.socket.cookie, res.matched),
            (want, kind),
            "{p} {local} -> {remote}"
        );
        // Other tests of this binary fork children that hold our
        // descriptors until they exec: our pid must be there, maybe not alone.
        assert!(res.pids.contains(&me), "{:?} lacks {me}", res.pids);
    };
    // A packet client -> server is tx of the client socket and rx of the server's.
    check(Protocol::Tcp, ca, la, cookie(&l.client), MatchKind::Exact);
    check(Protocol::Tcp, la, ca, cookie(&l.server), MatchKind::Exact);
    let (us, uc) = (
        l.udp_server.local_addr().unwrap(),
        l.udp_client.local_addr().unwrap(),
    );
    check(
        Protocol::Udp,
        uc,
        us,
        cookie(&l.udp_client),
        MatchKind::Exact,
    );
    check(
        Protocol::Udp,
        us,
        uc,
        cookie(&l.udp_server),
        MatchKind::BoundAddress,
    );

    // A connection made after the refresh is found by an on-demand dump.
    let late = UdpSocket::bind("127.0.0.1:0").unwrap();
    late.connect(us).unwrap();
    let t = now + Duration::from_secs(1);
    let res = r
        .resolve(Protocol::Udp, late.local_addr().unwrap(), us, None, t)
        .unwrap()
        .clone();
    assert_eq!(res.socket.cookie, cookie(&late));
    assert!(
        res.pids.contains(&me),
        "{:?} lacks {me}; {:?}",
        res.pids,
        r.stats()
    );
    let s = r.stats();
    assert_eq!(s.on_demand_dumps, 1);
    assert!(r.is_event_driven());

    // In a known namespace, a new connection is asked for by its tuple:
    // found by the kernel's hash lookup, without another dump.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let conn = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let t = t + Duration::from_secs(1);
    let ns = r.current_netns();
    let res = r
        .resolve(
            Protocol::Tcp,
            conn.local_addr().unwrap(),
            conn.peer_addr().unwrap(),
            Some(ns),
            t,
        )
        .unwrap()
        .clone();
    assert_eq!(res.matched, MatchKind::Exact);
    assert!(res.pids.contains(&me), "{:?} lacks {me}", res.pids);
    let s = r.stats();
    assert_eq!(
        (s.exact_lookups, s.exact_found, s.on_demand_dumps),
        (1, 1, 1)
    );
}

#[test]
fn dumps_and_resolves_inside_another_network_namespace() {
    if !have_root("dumps_and_resolves_inside_another_network_namespace") {
        return;
    }
    let ns = Netns::new("attribution");
    // Sockets are created from a thread inside the namespace; they stay
    // there when handed back.
    let l = ns.run(|| open_loopback("127.0.0.1"));
    (&l.client).write_all(b"hello").unwrap();

    let dump = dump_sockets_in(&ns.path()).unwrap();
    check_dump(&dump, &l);
    let host = dump_sockets().unwrap();
    assert!(!host.iter().any(|s| s.cookie == cookie(&l.client)));

    let id = netns_of_file(&ns.path()).unwrap();
    let listed = ProcRoot::default().list_netns(Path::new("/run/netns"));
    let entry = listed
        .iter()
        .find(|n| n.id == id)
        .expect("namespace listed");
    assert_eq!(entry.name.as_deref(), Some(ns.name.as_str()));

    // The proc connector exists only in the initial network namespace.
    let refused = ns.run(|| ProcConnector::subscribe().err());
    assert!(
        matches!(refused, Some(ProcEventsError::Unavailable(_))),
        "{refused:?}"
    );

    let mut r = SocketResolver::new(ProcRoot::default(), ResolverConfig::default()).unwrap();
    let now = Instant::now();
    r.refresh(now).unwrap();
    assert!(r.watched_netns().contains(&id));
    let (la, ca) = (
        l.listener.local_addr().unwrap(),
        l.client.local_addr().unwrap(),
    );
    let res = r.resolve(Protocol::Tcp, la, ca, Some(id), now).unwrap();
    assert_eq!(res.socket.cookie, cookie(&l.server));
    assert_eq!(res.netns, id);
    assert!(res.pids.contains(&std::process::id()), "{:?}", res.pids);
    let res = r.resolve(Protocol::Tcp, ca, la, None, now).unwrap();
    assert_eq!((res.socket.cookie, res.netns), (cookie(&l.client), id));
}
