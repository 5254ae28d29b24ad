//! The kernel's own table of TCP and UDP sockets, read through
//! `NETLINK_SOCK_DIAG` (what `ss` uses): for every IPv4 and IPv6 socket its
//! tuple, TCP state, uid, inode and socket cookie. The cookie is
//! `inet_diag_sockid.idiag_cookie`, the same number eBPF's
//! `bpf_get_socket_cookie` returns, so both capture backends name a socket
//! alike. A netlink socket answers for the network namespace it was created
//! in; [`SockDiag::open_in`] creates one inside another namespace from a
//! short-lived thread. This module only reads: it never owns a cache, never
//! maps sockets to processes (see `fd_index`) and never destroys sockets.

use std::fmt;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use netlink_packet_core::{
    NetlinkHeader, NetlinkMessage, NetlinkPayload, NLM_F_DUMP, NLM_F_REQUEST,
};
use netlink_packet_sock_diag::constants::{AF_INET, AF_INET6, IPPROTO_TCP, IPPROTO_UDP};
use netlink_packet_sock_diag::inet::{ExtensionFlags, InetRequest, SocketId, StateFlags};
use netlink_packet_sock_diag::SockDiagMessage;
use netlink_sys::protocols::NETLINK_SOCK_DIAG;
use netlink_sys::Socket;
use netoproc_core::{Family, Protocol, SocketCookie};

use crate::netlink::{self, NetlinkFrame};

/// A socket's state as `inet_diag` reports it. UDP sockets use only
/// `Established` (connected) and `Close` (not connected).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TcpState {
    /// `TCP_ESTABLISHED` (1); a connected UDP socket.
    Established,
    /// `TCP_SYN_SENT` (2): connecting.
    SynSent,
    /// `TCP_SYN_RECV` (3).
    SynRecv,
    /// `TCP_FIN_WAIT1` (4).
    FinWait1,
    /// `TCP_FIN_WAIT2` (5).
    FinWait2,
    /// `TCP_TIME_WAIT` (6): a timewait socket, no owner, no inode.
    TimeWait,
    /// `TCP_CLOSE` (7); an unconnected UDP socket.
    Close,
    /// `TCP_CLOSE_WAIT` (8).
    CloseWait,
    /// `TCP_LAST_ACK` (9).
    LastAck,
    /// `TCP_LISTEN` (10).
    Listen,
    /// `TCP_CLOSING` (11).
    Closing,
    /// `TCP_NEW_SYN_RECV` (12): a request socket, no owner, no inode.
    NewSynRecv,
    /// A state this code does not know (newer kernels add some).
    Other(u8),
}

impl TcpState {
    /// The state of `idiag_state`; unknown numbers are [`TcpState::Other`].
    pub fn from_raw(raw: u8) -> TcpState {
        use TcpState::*;
        match raw {
            1 => Established,
            2 => SynSent,
            3 => SynRecv,
            4 => FinWait1,
            5 => FinWait2,
            6 => TimeWait,
            7 => Close,
            8 => CloseWait,
            9 => LastAck,
            10 => Listen,
            11 => Closing,
            12 => NewSynRecv,
            other => Other(other),
        }
    }
}

/// One TCP or UDP socket as the kernel lists it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct InetSocket {
    /// TCP or UDP.
    pub protocol: Protocol,
    /// The family of the dump that listed it.
    pub family: Family,
    /// Bound address and port (wildcard when bound to any).
    pub local: SocketAddr,
    /// `None` when the socket has no peer (listening, unconnected UDP).
    pub remote: Option<SocketAddr>,
    /// The kernel's state of the socket.
    pub state: TcpState,
    /// The uid the socket belongs to (`sk_uid`: its creator's, as a rule).
    pub uid: u32,
    /// The socket's inode, as in `/proc/PID/fd/N -> socket:[inode]`; 0 for
    /// TIME_WAIT and request sockets, which belong to no file.
    pub inode: u64,
    /// The kernel's socket cookie.
    pub cookie: SocketCookie,
}

/// Why a dump failed.
#[derive(Debug, thiserror::Error)]
pub enum SockDiagError {
    /// The netlink socket could not be opened.
    #[error("cannot open a NETLINK_SOCK_DIAG socket")]
    Open(#[source] io::Error),
    /// Sending the request or receiving the reply failed.
    #[error("sock_diag request failed")]
    Io(#[source] io::Error),
    /// The kernel answered the dump with an error (`NLMSG_ERROR`).
    #[error(
        "the kernel refused the {protocol}/{family} sock_diag dump{hint}",
        family = family.as_str(),
        hint = if *protocol == Protocol::Udp && source.raw_os_error() == Some(2) {
            " (load the udp_diag module: modprobe udp_diag)"
        } else {
            ""
        }
    )]
    Refused {
        /// The protocol dumped.
        protocol: Protocol,
        /// The family dumped.
        family: Family,
        /// The errno the kernel answered with.
        #[source]
        source: io::Error,
    },
    /// A reply that does not parse as netlink.
    #[error("malformed sock_diag reply: {0}")]
    Malformed(String),
    /// `setns` into the namespace to dump failed.
    #[error("cannot enter network namespace {} (needs CAP_SYS_ADMIN)", path.display())]
    Netns {
        /// The namespace file `setns` was given.
        path: PathBuf,
        /// Why opening it or `setns` failed.
        #[source]
        source: io::Error,
    },
}

/// An open `NETLINK_SOCK_DIAG` socket, bound to one network namespace.
pub struct SockDiag {
    socket: Socket,
    buf: Vec<u8>,
    seq: u32,
    undecodable: u64,
}

impl fmt::Debug for SockDiag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SockDiag").field("seq", &self.seq).finish()
    }
}

/// Large enough for the biggest dump datagram the kernel builds (32 KiB).
const RECV_BUF: usize = 64 * 1024;

impl SockDiag {
    /// A sock_diag socket in the calling thread's network namespace.
    pub fn open() -> Result<SockDiag, SockDiagError> {
        let mut socket = Socket::new(NETLINK_SOCK_DIAG).map_err(SockDiagError::Open)?;
        socket.bind_auto().map_err(SockDiagError::Open)?;
        socket
            .connect(&netlink_sys::SocketAddr::new(0, 0))
            .map_err(SockDiagError::Open)?;
        // A dump must never block forever on a kernel that stops answering.
        set_recv_timeout(&socket, Duration::from_secs(5)).map_err(SockDiagError::Open)?;
        Ok(SockDiag {
            socket,
            buf: vec![0; RECV_BUF],
            seq: 0,
            undecodable: 0,
        })
    }

    /// A sock_diag socket inside the network namespace at `netns` (e.g.
    /// `/run/netns/NAME` or `/proc/PID/ns/net`). A short-lived thread enters
    /// the namespace and creates the socket; the socket stays bound to that
    /// namespace, so later dumps need no thread.
    pub fn open_in(netns: &Path) -> Result<SockDiag, SockDiagError> {
        let path = netns.to_path_buf();
        std::thread::Builder::new()
            .name("netoproc-setns".into())
            .spawn(move || {
                crate::netns::enter(&path)
                    .map_err(|source| SockDiagError::Netns { path, source })?;
                SockDiag::open()
            })
            .map_err(SockDiagError::Open)?
            .join()
            .unwrap_or_else(|_| {
                Err(SockDiagError::Open(io::Error::other(
                    "namespace thread panicked",
                )))
            })
    }

    /// Socket messages skipped because they could not be decoded, so far.
    pub fn undecodable(&self) -> u64 {
        self.undecodable
    }

    /// Every TCP and UDP socket, IPv4 and IPv6.
    pub fn dump_all(&mut self) -> Result<Vec<InetSocket>, SockDiagError> {
        self.dump_protocols(&Protocol::ALL)
    }

    /// Every socket of the given protocols, IPv4 and IPv6. A TCP dump walks
    /// the whole established hash table (262,144 buckets on a 2-core VM),
    /// twice, one walk per family, however few sockets there are: a UDP
    /// flow need not pay for it.
    pub fn dump_protocols(
        &mut self,
        protocols: &[Protocol],
    ) -> Result<Vec<InetSocket>, SockDiagError> {
        let mut out = Vec::new();
        for &protocol in protocols {
            for family in [Family::Ipv4, Family::Ipv6] {
                self.dump_into(protocol, family, &mut out)?;
            }
        }
        Ok(out)
    }

    /// Appends the sockets of one protocol and family to `out`.
    pub fn dump_into(
        &mut self,
        protocol: Protocol,
        family: Family,
        out: &mut Vec<InetSocket>,
    ) -> Result<(), SockDiagError> {
        let socket_id = match family {
            Family::Ipv4 => SocketId::new_v4(),
            Family::Ipv6 => SocketId::new_v6(),
        };
        let flags = NLM_F_REQUEST | NLM_F_DUMP;
        self.exchange(protocol, family, socket_id, flags, |s| out.push(s))
    }

    /// The one socket of `protocol` whose local end is `local` and whose
    /// peer is `remote`, asked for by its tuple (the kernel looks it up in
    /// its hash tables: no walk). `None` when there is none (`ENOENT`), or
    /// when the two ends are of different families.
    pub fn lookup_one(
        &mut self,
        protocol: Protocol,
        local: SocketAddr,
        remote: SocketAddr,
    ) -> Result<Option<InetSocket>, SockDiagError> {
        let family = match (local.ip(), remote.ip()) {
            (IpAddr::V4(_), IpAddr::V4(_)) => Family::Ipv4,
            (IpAddr::V6(_), IpAddr::V6(_)) => Family::Ipv6,
            _ => return Ok(None),
        };
        let socket_id = SocketId {
            source_port: local.port(),
            destination_port: remote.port(),
            source_address: local.ip(),
            destination_address: remote.ip(),
            interface_id: 0,
            // INET_DIAG_NOCOOKIE: match by tuple alone.
            cookie: [0xff; 8],
        };
        let mut found = None;
        match self.exchange(protocol, family, socket_id, NLM_F_REQUEST, |s| {
            found = Some(s)
        }) {
            Ok(()) => Ok(found),
            // The kernel has no socket with that tuple.
            Err(SockDiagError::Refused { source, .. })
                if source.raw_os_error() == Some(rustix::io::Errno::NOENT.raw_os_error()) =>
            {
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    /// Sends one request and hands every socket of its answer to
    /// `on_socket`. A dump's answer ends with `NLMSG_DONE`; any other
    /// request's is one message. An error code from the kernel is
    /// [`SockDiagError::Refused`]; an undecodable socket is counted and
    /// skipped (one must not hide all others).
    fn exchange(
        &mut self,
        protocol: Protocol,
        family: Family,
        socket_id: SocketId,
        flags: u16,
        mut on_socket: impl FnMut(InetSocket),
    ) -> Result<(), SockDiagError> {
        self.seq = self.seq.wrapping_add(1);
        let seq = self.seq;
        self.send(protocol, family, socket_id, flags, seq)?;
        let request = Request {
            seq,
            protocol,
            family,
            dump: flags & NLM_F_DUMP != 0,
        };
        loop {
            let n = self
                .socket
                .recv(&mut &mut self.buf[..], 0)
                .map_err(SockDiagError::Io)?;
            let data = &self.buf[..n.min(self.buf.len())];
            if read_answer(data, request, &mut self.undecodable, &mut on_socket)? {
                return Ok(());
            }
        }
    }

    fn send(
        &mut self,
        protocol: Protocol,
        family: Family,
        socket_id: SocketId,
        flags: u16,
        seq: u32,
    ) -> Result<(), SockDiagError> {
        let mut header = NetlinkHeader::default();
        header.flags = flags;
        header.sequence_number = seq;
        let af = match family {
            Family::Ipv4 => AF_INET,
            Family::Ipv6 => AF_INET6,
        };
        let mut packet = NetlinkMessage::new(
            header,
            SockDiagMessage::InetRequest(InetRequest {
                family: af,
                protocol: match protocol {
                    Protocol::Tcp => IPPROTO_TCP,
                    Protocol::Udp => IPPROTO_UDP,
                },
                extensions: ExtensionFlags::empty(),
                states: StateFlags::all(),
                socket_id,
            })
            .into(),
        );
        packet.finalize();
        let mut buf = vec![0; packet.buffer_len()];
        packet.serialize(&mut buf);
        self.socket.send(&buf, 0).map_err(SockDiagError::Io)?;
        Ok(())
    }
}

/// Every TCP and UDP socket of the calling thread's network namespace.
pub fn dump_sockets() -> Result<Vec<InetSocket>, SockDiagError> {
    SockDiag::open()?.dump_all()
}

/// Every TCP and UDP socket of the network namespace at `netns`.
pub fn dump_sockets_in(netns: &Path) -> Result<Vec<InetSocket>, SockDiagError> {
    SockDiag::open_in(netns)?.dump_all()
}

fn decode_socket(
    frame: NetlinkFrame<'_>,
    protocol: Protocol,
) -> Result<Option<InetSocket>, SockDiagError> {
    let msg = NetlinkMessage::<SockDiagMessage>::deserialize(frame.bytes)
        .map_err(|e| SockDiagError::Malformed(e.to_string()))?;
    let NetlinkPayload::InnerMessage(SockDiagMessage::InetResponse(resp)) = msg.payload else {
        return Ok(None);
    };
    let h = &resp.header;
    let family = match h.family {
        AF_INET => Family::Ipv4,
        AF_INET6 => Family::Ipv6,
        _ => return Ok(None),
    };
    let id = &h.socket_id;
    let local = SocketAddr::new(id.source_address, id.source_port);
    let remote = SocketAddr::new(id.destination_address, id.destination_port);
    Ok(Some(InetSocket {
        protocol,
        family,
        local,
        remote: (!is_unspecified(&remote)).then_some(remote),
        state: TcpState::from_raw(h.state),
        uid: h.uid,
        inode: u64::from(h.inode),
        cookie: SocketCookie(cookie_from_raw(id.cookie)),
    }))
}

/// What an answer is read for: the request's sequence number, what it
/// asked for, and whether it was a dump (answered until `NLMSG_DONE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Request {
    /// The netlink sequence number sent; replies carrying another are
    /// skipped.
    pub seq: u32,
    /// The protocol asked for.
    pub protocol: Protocol,
    /// The family asked for.
    pub family: Family,
    /// A dump (answered until `NLMSG_DONE`) rather than one socket.
    pub dump: bool,
}

/// Reads one received datagram of the answer to `request`: every socket
/// goes to `on_socket`, an undecodable one is counted in `undecodable` and
/// skipped, frames of other requests (late answers to abandoned ones) are
/// passed over. `Ok(true)` when the answer is complete. Pure, so the
/// kernel's bytes can be tested and fuzzed without a socket.
pub fn read_answer(
    data: &[u8],
    request: Request,
    undecodable: &mut u64,
    on_socket: &mut dyn FnMut(InetSocket),
) -> Result<bool, SockDiagError> {
    for frame in netlink::frames(data) {
        let frame = frame.map_err(SockDiagError::Malformed)?;
        if frame.seq != request.seq {
            continue; // a late answer to an earlier, abandoned request
        }
        match frame.kind {
            netlink::NLMSG_DONE => return Ok(true),
            netlink::NLMSG_ERROR => {
                let code = frame.error_code().unwrap_or(0);
                if code != 0 {
                    return Err(SockDiagError::Refused {
                        protocol: request.protocol,
                        family: request.family,
                        source: io::Error::from_raw_os_error(code.saturating_neg()),
                    });
                }
            }
            _ => match decode_socket(frame, request.protocol) {
                Ok(Some(s)) => on_socket(s),
                Ok(None) => {}
                Err(_) => *undecodable += 1,
            },
        }
        if !request.dump {
            return Ok(true);
        }
    }
    Ok(false)
}

/// `idiag_cookie` is `__u32[2]` in host order, low word first.
pub fn cookie_from_raw(raw: [u8; 8]) -> u64 {
    let lo = u32::from_ne_bytes([raw[0], raw[1], raw[2], raw[3]]);
    let hi = u32::from_ne_bytes([raw[4], raw[5], raw[6], raw[7]]);
    u64::from(hi) << 32 | u64::from(lo)
}

fn is_unspecified(a: &SocketAddr) -> bool {
    a.port() == 0
        && match a.ip() {
            IpAddr::V4(ip) => ip == Ipv4Addr::UNSPECIFIED,
            IpAddr::V6(ip) => ip == Ipv6Addr::UNSPECIFIED,
        }
}

fn set_recv_timeout(socket: &Socket, timeout: Duration) -> io::Result<()> {
    rustix::net::sockopt::set_socket_timeout(
        socket,
        rustix::net::sockopt::Timeout::Recv,
        Some(timeout),
    )
    .map_err(io::Error::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A datagram of `testdata/sock_diag` (see `capture.py` there).
    fn captured(name: &str) -> Vec<u8> {
        let path = format!("{}/testdata/sock_diag/{name}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read(&path).expect(&path)
    }

    fn read(name: &str, request: Request) -> (Result<bool, String>, Vec<InetSocket>, u64) {
        let (mut sockets, mut undecodable) = (Vec::new(), 0);
        let done = read_answer(&captured(name), request, &mut undecodable, &mut |s| {
            sockets.push(s)
        });
        (
            done.map_err(|e| netoproc_core::error::Chain(&e).to_string()),
            sockets,
            undecodable,
        )
    }

    const DUMP: Request = Request {
        seq: 7,
        protocol: Protocol::Tcp,
        family: Family::Ipv4,
        dump: true,
    };

    #[test]
    fn reads_a_captured_dump_until_done() {
        let (done, sockets, undecodable) = read("tcp4-0.bin", DUMP);
        assert_eq!((done, undecodable), (Ok(false), 0));
        let states: Vec<TcpState> = sockets.iter().map(|s| s.state).collect();
        assert_eq!(
            states,
            [
                TcpState::Listen,
                TcpState::Established,
                TcpState::Established
            ]
        );
        assert!(sockets
            .iter()
            .all(|s| s.local.ip().is_loopback() && s.inode != 0));
        assert_eq!(sockets[0].remote, None, "a listener has no peer");
        assert_eq!(sockets[1].local, sockets[2].remote.unwrap());
        let (done, sockets, _) = read("tcp4-1.bin", DUMP);
        assert_eq!((done, sockets.len()), (Ok(true), 0));
        let udp6 = Request {
            protocol: Protocol::Udp,
            family: Family::Ipv6,
            ..DUMP
        };
        let (_, sockets, _) = read("udp6-0.bin", udp6);
        assert_eq!(sockets[0].remote.map(|r| r.port()), Some(53));
        assert_eq!(sockets[0].family, Family::Ipv6);
    }

    #[test]
    fn frames_of_another_request_are_passed_over() {
        let other = Request { seq: 6, ..DUMP };
        let (done, sockets, _) = read("tcp4-0.bin", other);
        assert_eq!((done, sockets.len()), (Ok(false), 0));
        let (done, _, _) = read("tcp4-1.bin", other);
        assert_eq!(done, Ok(false), "not its NLMSG_DONE");
    }

    #[test]
    fn a_lookup_is_answered_by_one_message() {
        let lookup = Request {
            seq: 8,
            dump: false,
            ..DUMP
        };
        let (done, sockets, _) = read("lookup-tcp4.bin", lookup);
        assert_eq!((done, sockets.len()), (Ok(true), 1));
        assert_eq!(sockets[0].state, TcpState::Established);
    }

    #[test]
    fn an_error_code_is_refused() {
        // The captured lookup answer turned into NLMSG_ERROR, error -2.
        let mut data = captured("lookup-tcp4.bin");
        data[4..6].copy_from_slice(&2u16.to_ne_bytes());
        data[16..20].copy_from_slice(&(-2i32).to_ne_bytes());
        let lookup = Request {
            seq: 8,
            dump: false,
            ..DUMP
        };
        let (done, _, _) = read_answer_err(&data, lookup);
        assert!(done.contains("No such file"), "{done}");
        data[16..20].copy_from_slice(&i32::MIN.to_ne_bytes());
        let (done, _, _) = read_answer_err(&data, lookup);
        assert!(
            !done.is_empty(),
            "the most negative code neither panics nor passes"
        );
    }

    fn read_answer_err(data: &[u8], request: Request) -> (String, usize, u64) {
        let (mut n, mut undecodable) = (0, 0);
        let err = read_answer(data, request, &mut undecodable, &mut |_| n += 1).unwrap_err();
        (
            netoproc_core::error::Chain(&err).to_string(),
            n,
            undecodable,
        )
    }

    #[test]
    fn cookie_words_are_low_then_high() {
        let mut raw = [0u8; 8];
        raw[..4].copy_from_slice(&0x89ab_cdefu32.to_ne_bytes());
        raw[4..].copy_from_slice(&0x0123_4567u32.to_ne_bytes());
        assert_eq!(cookie_from_raw(raw), 0x0123_4567_89ab_cdef);
    }

    #[test]
    fn states_map_from_kernel_numbers() {
        assert_eq!(TcpState::from_raw(1), TcpState::Established);
        assert_eq!(TcpState::from_raw(10), TcpState::Listen);
        assert_eq!(TcpState::from_raw(99), TcpState::Other(99));
    }

    #[test]
    fn zero_peer_is_no_peer() {
        assert!(is_unspecified(&"0.0.0.0:0".parse().unwrap()));
        assert!(is_unspecified(&"[::]:0".parse().unwrap()));
        assert!(!is_unspecified(&"127.0.0.1:0".parse().unwrap()));
    }
}
