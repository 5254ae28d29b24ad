//! The traffic patterns under test, one constructor each. Every scenario
//! makes its own namespaces, so ports are fixed and scenarios can run at
//! the same time. Byte sizes follow `NETOPROC_E2E_SCALE`; counts
//! (connections, queries, processes) do not.

use std::net::{IpAddr, SocketAddr};

use super::netns::{Netns, VethPair, IFACE_A};
use super::scaled;
use super::scenario::Scenario;

const KIB: u64 = 1 << 10;
const MIB: u64 = 1 << 20;

fn at(ip: IpAddr, port: u16) -> String {
    SocketAddr::new(ip, port).to_string()
}

fn own_pair(s: &mut Scenario, pair: VethPair) {
    s.own(pair.a);
    s.own(pair.b);
}

/// A TCP bulk flow over veth: client in `a`, server in `b`.
fn bulk(name: &str, v6: bool, send: u64, reply: u64, wire: bool) -> Scenario {
    let pair = VethPair::new(name);
    let mut s = Scenario::new(name);
    let ip = if v6 { pair.v6(2) } else { pair.v4(2) };
    let srv = at(ip, 5201);
    if wire {
        s.wire_counter(&pair.a, IFACE_A, 5201, "client");
    }
    let reply = reply.to_string();
    let send = send.to_string();
    s.server(
        "server",
        &pair.b,
        &["tcp-server", "--listen", &srv, "--reply", &reply],
    );
    s.client(
        "client",
        &pair.a,
        &["tcp-client", "--connect", &srv, "--send", &send],
    );
    own_pair(&mut s, pair);
    s
}

/// 32 MiB client→server and 8 MiB back over IPv4 veth, with wire bytes.
pub fn tcp_bulk_v4() -> Scenario {
    bulk(
        "bulk4",
        false,
        scaled(32 * MIB, MIB),
        scaled(8 * MIB, 256 * KIB),
        true,
    )
}

/// 16 MiB / 4 MiB over IPv6 veth.
pub fn tcp_bulk_v6() -> Scenario {
    bulk(
        "bulk6",
        true,
        scaled(16 * MIB, MIB),
        scaled(4 * MIB, 256 * KIB),
        false,
    )
}

/// Client and server processes on 127.0.0.1 inside one namespace.
pub fn tcp_loopback() -> Scenario {
    tcp_loopback_in(Netns::new("lo"))
}

/// [`tcp_loopback`] in a namespace the caller made (and may run netoproc in).
pub fn tcp_loopback_in(ns: Netns) -> Scenario {
    let mut s = Scenario::new("loopback");
    let send = scaled(16 * MIB, MIB).to_string();
    let reply = scaled(4 * MIB, 256 * KIB).to_string();
    let srv = "127.0.0.1:5301";
    s.server(
        "server",
        &ns,
        &["tcp-server", "--listen", srv, "--reply", &reply],
    );
    s.client(
        "client",
        &ns,
        &["tcp-client", "--connect", srv, "--send", &send],
    );
    s.own(ns);
    s
}

/// How a [`connections`] scenario opens its connections.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Opening {
    OneAfterAnother,
    AllAtOnce,
}

/// `n` TCP connections from one client process to one server process over
/// veth; on each the client sends `send` bytes and the server replies
/// `reply`.
fn connections(name: &str, port: u16, n: u32, send: u64, reply: u64, how: Opening) -> Scenario {
    let pair = VethPair::new(name);
    let mut s = Scenario::new(name);
    let srv = at(pair.v4(2), port);
    let (n, send, reply) = (n.to_string(), send.to_string(), reply.to_string());
    let mut server = vec![
        "tcp-server",
        "--listen",
        &srv,
        "--connections",
        &n,
        "--reply",
        &reply,
    ];
    let mut client = vec![
        "tcp-client",
        "--connect",
        &srv,
        "--connections",
        &n,
        "--send",
        &send,
    ];
    if how == Opening::AllAtOnce {
        server.push("--concurrent");
        client.push("--concurrent");
    }
    s.server("server", &pair.b, &server);
    s.client("client", &pair.a, &client);
    own_pair(&mut s, pair);
    s
}

/// 300 sequential short connections from one process.
pub fn tcp_short_connections() -> Scenario {
    let (send, reply) = (scaled(2000, 100), scaled(3000, 150));
    connections(
        "short-conns",
        5401,
        300,
        send,
        reply,
        Opening::OneAfterAnother,
    )
}

/// 64 connections open at once, a thread each on both sides: the server's
/// 64 threads sit blocked in `recv` together, more than the kernel's default
/// pool of kretprobe instances (max(10, 2 x CPUs)); every return must still
/// be counted.
pub fn tcp_concurrent_connections() -> Scenario {
    let (send, reply) = (scaled(4000, 400), scaled(2000, 200));
    connections(
        "concurrent-conns",
        5451,
        64,
        send,
        reply,
        Opening::AllAtOnce,
    )
}

/// Connected UDP sockets, and one unconnected socket per family that talks
/// to 4 ports with sendto/recv_from, over IPv4 and IPv6.
pub fn udp() -> Scenario {
    // The clients keep their sockets open a little after the last reply.
    // Their exchanges take ~10 ms, four clients share a namespace, and
    // AF_PACKET names a socket's owner by finding it (sock_diag) while it
    // exists; sockets gone before that are the subject of the short-lived
    // scenarios (with their tolerance), not of this one.
    const HOLD_MS: &str = "300";
    const DATAGRAMS: u64 = 200;
    const ROUNDS: u64 = 50;
    let pair = VethPair::new("udp");
    let mut s = Scenario::new("udp");
    let mut binds = Vec::new();
    for ip in [pair.v4(2), pair.v6(2)] {
        for port in 7000..=7004 {
            binds.push(at(ip, port));
        }
    }
    let expect = (2 * DATAGRAMS + 2 * 4 * ROUNDS).to_string();
    let mut server = vec!["udp-echo", "--expect", &expect, "--reply", "1100"];
    for b in &binds {
        server.extend(["--bind", b.as_str()]);
    }
    s.server("echo", &pair.b, &server);
    let count = DATAGRAMS.to_string();
    let rounds = ROUNDS.to_string();
    for (fam, ip) in [("v4", pair.v4(2)), ("v6", pair.v6(2))] {
        let conn = at(ip, 7000);
        let args = [
            "udp-connected",
            "--connect",
            &conn,
            "--count",
            &count,
            "--size",
            "900",
            "--hold-ms",
            HOLD_MS,
        ];
        s.client(&format!("connected-{fam}"), &pair.a, &args);
        let tos: Vec<String> = (7001..=7004).map(|p| at(ip, p)).collect();
        let mut args = vec![
            "udp-sendto",
            "--rounds",
            &rounds,
            "--size",
            "300",
            "--hold-ms",
            HOLD_MS,
        ];
        for t in &tos {
            args.extend(["--to", t.as_str()]);
        }
        s.client(&format!("sendto-{fam}"), &pair.a, &args);
    }
    own_pair(&mut s, pair);
    s
}

/// A file of at least 4 MiB sent with sendfile(2).
pub fn sendfile() -> Scenario {
    let pair = VethPair::new("sendfile");
    let mut s = Scenario::new("sendfile");
    let srv = at(pair.v4(2), 5501);
    let bytes = scaled(8 * MIB, 4 * MIB).to_string();
    s.server(
        "server",
        &pair.b,
        &["tcp-server", "--listen", &srv, "--reply", "4096"],
    );
    let client = ["tcp-sendfile", "--connect", &srv, "--file-bytes", &bytes];
    s.client("client", &pair.a, &client);
    own_pair(&mut s, pair);
    s
}

/// 120 DNS-style queries (40 bytes out, 100 back), each on a fresh socket.
pub fn dns() -> Scenario {
    let pair = VethPair::new("dns");
    let mut s = Scenario::new("dns");
    let srv = at(pair.v4(2), 5353);
    let server = [
        "udp-echo", "--bind", &srv, "--expect", "120", "--reply", "100",
    ];
    s.server("server", &pair.b, &server);
    let client = [
        "dns-client",
        "--server",
        &srv,
        "--queries",
        "120",
        "--size",
        "40",
    ];
    s.client("client", &pair.a, &client);
    own_pair(&mut s, pair);
    s
}

/// 20 processes that each make one exchange and exit at once.
pub fn short_processes() -> Scenario {
    let pair = VethPair::new("procs");
    let mut s = Scenario::new("short-procs");
    let srv = at(pair.v4(2), 5601);
    let send = scaled(4096, 512).to_string();
    let server = [
        "tcp-server",
        "--listen",
        &srv,
        "--connections",
        "20",
        "--reply",
        "2000",
    ];
    s.server("server", &pair.b, &server);
    let parent = [
        "short-procs",
        "--connect",
        &srv,
        "--count",
        "20",
        "--send",
        &send,
    ];
    s.client("parent", &pair.a, &parent);
    own_pair(&mut s, pair);
    s
}

/// The client runs in the pair's second namespace and talks to the first.
pub fn second_namespace() -> Scenario {
    let pair = VethPair::new("second");
    let mut s = Scenario::new("second-ns");
    let srv = at(pair.v4(1), 5701);
    let send = scaled(2 * MIB, 64 * KIB).to_string();
    let reply = scaled(512 * KIB, 16 * KIB).to_string();
    s.server(
        "server",
        &pair.a,
        &["tcp-server", "--listen", &srv, "--reply", &reply],
    );
    s.client(
        "client",
        &pair.b,
        &["tcp-client", "--connect", &srv, "--send", &send],
    );
    own_pair(&mut s, pair);
    s
}

/// Every scenario above.
pub fn all() -> Vec<Scenario> {
    vec![
        tcp_bulk_v4(),
        tcp_loopback(),
        tcp_short_connections(),
        tcp_concurrent_connections(),
        udp(),
        tcp_bulk_v6(),
        sendfile(),
        dns(),
        short_processes(),
        second_namespace(),
    ]
}
