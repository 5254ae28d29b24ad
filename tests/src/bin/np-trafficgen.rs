//! `np-trafficgen`: bounded TCP/UDP traffic for netoproc's end-to-end
//! tests. Each subcommand is one process role; it records exactly what its
//! own send/receive/sendfile calls returned and prints one JSON line with
//! its pid and totals at the end (servers first print `ready` once they
//! listen). Exit status 1 with a message on stderr if a call fails.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;

use std::time::Duration;

use clap::{Parser, Subcommand};
use netoproc_e2e::tally::{print_report, GenReport};
use netoproc_e2e::{afpacket, bridge, dns, flood, lifecycle, procs, tcp, udp};

#[derive(Debug, Parser)]
#[command(
    name = "np-trafficgen",
    about = "Traffic generator for netoproc's end-to-end tests"
)]
struct Cli {
    #[command(subcommand)]
    role: Role,
}

#[derive(Debug, Subcommand)]
enum Role {
    /// Accept CONNECTIONS connections in turn; read each to EOF, reply
    /// REPLY bytes, close.
    TcpServer {
        #[arg(long)]
        listen: SocketAddr,
        #[arg(long, default_value_t = 1)]
        connections: u32,
        #[arg(long)]
        reply: u64,
        /// Serve all connections at once, a thread each.
        #[arg(long)]
        concurrent: bool,
        /// Keep each connection open this long after the reply (not with
        /// --concurrent).
        #[arg(long, default_value_t = 0)]
        hold_ms: u64,
    },
    /// Make CONNECTIONS sequential connections; on each send SEND bytes,
    /// half-close, read the reply to EOF.
    TcpClient {
        #[arg(long)]
        connect: SocketAddr,
        #[arg(long, default_value_t = 1)]
        connections: u32,
        #[arg(long)]
        send: u64,
        /// Open all connections at once, a thread each, then send on all.
        #[arg(long)]
        concurrent: bool,
        /// Keep each connection open this long after the reply's end (not
        /// with --concurrent).
        #[arg(long, default_value_t = 0)]
        hold_ms: u64,
    },
    /// Send a temporary file of FILE_BYTES bytes with sendfile(2).
    TcpSendfile {
        #[arg(long)]
        connect: SocketAddr,
        #[arg(long)]
        file_bytes: u64,
    },
    /// Answer every datagram on every --bind address with REPLY bytes;
    /// exit after EXPECT datagrams (or when idle).
    UdpEcho {
        #[arg(long, required = true)]
        bind: Vec<SocketAddr>,
        #[arg(long)]
        expect: u64,
        #[arg(long)]
        reply: usize,
    },
    /// A connected UDP socket: COUNT datagrams of SIZE bytes, each answered.
    UdpConnected {
        #[arg(long)]
        connect: SocketAddr,
        #[arg(long)]
        count: u32,
        #[arg(long)]
        size: usize,
        /// Keep the socket open this long after the last reply.
        #[arg(long, default_value_t = 0)]
        hold_ms: u64,
    },
    /// One unconnected UDP socket: ROUNDS datagrams to each --to address,
    /// replies read with recv_from; bytes split by remote.
    UdpSendto {
        #[arg(long, required = true)]
        to: Vec<SocketAddr>,
        #[arg(long)]
        rounds: u32,
        #[arg(long)]
        size: usize,
        /// Keep the socket open this long after the last reply.
        #[arg(long, default_value_t = 0)]
        hold_ms: u64,
    },
    /// QUERIES DNS-style exchanges, each on a fresh UDP socket.
    DnsClient {
        #[arg(long)]
        server: SocketAddr,
        #[arg(long)]
        queries: u32,
        #[arg(long, default_value_t = 40)]
        size: usize,
    },
    /// Real DNS lookups, each on a fresh socket, timed by the client: one
    /// to SILENT (nothing answers), QUERIES of a fixed mix (A, AAAA, CNAME
    /// chain, NXDOMAIN, MX; UDP and TCP; SERVER4 and SERVER6), then
    /// CONNECT_NAME resolved and connected to on CONNECT_PORT.
    DnsLookups {
        #[arg(long)]
        server4: SocketAddr,
        #[arg(long)]
        server6: SocketAddr,
        #[arg(long)]
        silent: SocketAddr,
        #[arg(long)]
        queries: u32,
        #[arg(long)]
        connect_name: String,
        #[arg(long)]
        connect_port: u16,
    },
    /// Spawn COUNT short-lived children that each make one TCP exchange.
    ShortProcs {
        #[arg(long)]
        connect: SocketAddr,
        #[arg(long)]
        count: u32,
        #[arg(long)]
        send: u64,
    },
    /// One DNS query to port 53 of each of COUNT addresses from BASE on.
    FloodResolvers {
        #[arg(long)]
        base: std::net::Ipv4Addr,
        #[arg(long)]
        count: u32,
    },
    /// COUNT datagrams to TO, each from a distinct spoofed source (root).
    FloodSources {
        #[arg(long)]
        to: SocketAddr,
        #[arg(long)]
        base: std::net::Ipv4Addr,
        #[arg(long)]
        count: u32,
    },
    /// COUNT short processes in turn, each sending one datagram to TO.
    FloodPids {
        #[arg(long)]
        to: SocketAddr,
        #[arg(long)]
        count: u32,
    },
    /// One child of `short-procs` (one connection, then exit).
    #[command(hide = true)]
    ShortChild {
        #[arg(long)]
        connect: SocketAddr,
        #[arg(long)]
        send: u64,
    },
    /// Make CONNECTIONS sequential connections, each: SEND bytes then read
    /// to EOF (when SEND > 0), hold HOLD_MS, close; report how each ended.
    TcpDial {
        #[arg(long)]
        connect: SocketAddr,
        #[arg(long, default_value_t = 1)]
        connections: u32,
        #[arg(long, default_value_t = 0)]
        send: u64,
        #[arg(long, default_value_t = 0)]
        hold_ms: u64,
        #[arg(long, default_value_t = 20_000)]
        connect_timeout_ms: u64,
    },
    /// Accept CONNECTIONS connections in turn, each read to EOF.
    TcpAccept {
        #[arg(long)]
        listen: SocketAddr,
        #[arg(long, default_value_t = 1)]
        connections: u32,
    },
    /// Accept CONNECTIONS connections, read once, close with SO_LINGER 0.
    TcpResetServer {
        #[arg(long)]
        listen: SocketAddr,
        #[arg(long, default_value_t = 1)]
        connections: u32,
    },
    /// One connection: REQUESTS times read SIZE bytes, sleep THINK_MS,
    /// answer SIZE bytes.
    TcpRrServer {
        #[arg(long)]
        listen: SocketAddr,
        #[arg(long)]
        requests: u32,
        #[arg(long)]
        size: usize,
        #[arg(long)]
        think_ms: u64,
    },
    /// REQUESTS round trips of SIZE bytes to a tcp-rr-server.
    TcpRrClient {
        #[arg(long)]
        connect: SocketAddr,
        #[arg(long)]
        requests: u32,
        #[arg(long)]
        size: usize,
    },
    /// Forward frames between interfaces A and B, each held DELAY_MS and
    /// dropped with probability LOSS (seeded), until stdin is closed.
    Bridge {
        #[arg(long)]
        a: String,
        #[arg(long)]
        b: String,
        #[arg(long, default_value_t = 0.0)]
        delay_ms: f64,
        #[arg(long, default_value_t = 0.0)]
        loss: f64,
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
    /// Count IP-layer bytes of TCP packets to/from PORT on IFACE with an
    /// AF_PACKET socket, until stdin is closed.
    PacketCount {
        #[arg(long)]
        iface: String,
        #[arg(long)]
        port: u16,
    },
}

static STOP: AtomicBool = AtomicBool::new(false);

fn run(role: Role) -> std::io::Result<GenReport> {
    Ok(match role {
        Role::TcpServer {
            listen,
            connections,
            reply,
            concurrent,
            hold_ms,
        } => if concurrent {
            tcp::concurrent_server(listen, connections, reply)?
        } else {
            tcp::server(listen, connections, reply, Duration::from_millis(hold_ms))?
        }
        .into_report("tcp-server"),
        Role::TcpClient {
            connect,
            connections,
            send,
            concurrent,
            hold_ms,
        } => if concurrent {
            tcp::concurrent_client(connect, connections, send)?
        } else {
            tcp::client(connect, connections, send, Duration::from_millis(hold_ms))?
        }
        .into_report("tcp-client"),
        Role::TcpSendfile {
            connect,
            file_bytes,
        } => tcp::sendfile_client(connect, file_bytes)?.into_report("tcp-sendfile"),
        Role::UdpEcho {
            bind,
            expect,
            reply,
        } => udp::echo_server(&bind, expect, reply)?.into_report("udp-echo"),
        Role::UdpConnected {
            connect,
            count,
            size,
            hold_ms,
        } => udp::connected_client(connect, count, size, Duration::from_millis(hold_ms))?
            .into_report("udp-connected"),
        Role::UdpSendto {
            to,
            rounds,
            size,
            hold_ms,
        } => udp::sendto_client(&to, rounds, size, Duration::from_millis(hold_ms))?
            .into_report("udp-sendto"),
        Role::DnsClient {
            server,
            queries,
            size,
        } => udp::dns_client(server, queries, size)?.into_report("dns-client"),
        Role::DnsLookups {
            server4,
            server6,
            silent,
            queries,
            connect_name,
            connect_port,
        } => dns::client(&dns::Plan {
            server4,
            server6,
            silent,
            queries,
            connect_name,
            connect_port,
        })?,
        Role::ShortProcs {
            connect,
            count,
            send,
        } => procs::parent(connect, count, send)?,
        Role::ShortChild { connect, send } => procs::child(connect, send)?,
        Role::FloodResolvers { base, count } => flood::resolvers(base, count)?,
        Role::FloodSources { to, base, count } => flood::sources(to, base, count)?,
        Role::FloodPids { to, count } => flood::fresh_pids(to, count)?,
        Role::TcpDial {
            connect,
            connections,
            send,
            hold_ms,
            connect_timeout_ms,
        } => {
            let (t, outcomes, connect_us) = lifecycle::dial(
                connect,
                connections,
                send,
                Duration::from_millis(hold_ms),
                Duration::from_millis(connect_timeout_ms),
            )?;
            GenReport {
                outcomes: Some(outcomes),
                connect_us: Some(connect_us),
                ..t.into_report("tcp-dial")
            }
        }
        Role::TcpAccept {
            listen,
            connections,
        } => lifecycle::accept(listen, connections)?.into_report("tcp-accept"),
        Role::TcpResetServer {
            listen,
            connections,
        } => lifecycle::reset_server(listen, connections)?.into_report("tcp-reset-server"),
        Role::TcpRrServer {
            listen,
            requests,
            size,
            think_ms,
        } => lifecycle::rr_server(listen, requests, size, Duration::from_millis(think_ms))?
            .into_report("tcp-rr-server"),
        Role::TcpRrClient {
            connect,
            requests,
            size,
        } => lifecycle::rr_client(connect, requests, size)?.into_report("tcp-rr-client"),
        Role::Bridge {
            a,
            b,
            delay_ms,
            loss,
            seed,
        } => {
            afpacket::stop_on_stdin_eof(&STOP);
            let (wire, failed) = bridge::run(
                &a,
                &b,
                Duration::from_secs_f64(delay_ms.clamp(0.0, 10_000.0) / 1000.0),
                loss.clamp(0.0, 1.0),
                seed,
                &STOP,
            )?;
            GenReport {
                pid: std::process::id(),
                role: "bridge".into(),
                wire: Some(wire),
                unanswered: failed,
                ..GenReport::default()
            }
        }
        Role::PacketCount { iface, port } => {
            afpacket::stop_on_stdin_eof(&STOP);
            let wire = afpacket::count(&iface, port, &STOP)?;
            GenReport {
                pid: std::process::id(),
                role: "packet-count".into(),
                wire: Some(wire),
                ..GenReport::default()
            }
        }
    })
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli.role) {
        Ok(report) => {
            print_report(&report);
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("np-trafficgen: {e}");
            ExitCode::FAILURE
        }
    }
}
