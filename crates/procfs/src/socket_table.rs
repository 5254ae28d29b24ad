//! The matching rules that name the socket a packet belongs to, over one
//! network namespace's socket list held in memory: the exact 4-tuple first;
//! then a socket with no peer on the local port — an unconnected UDP socket
//! or a TCP listener — bound to exactly the local address, then to the
//! wildcard (`0.0.0.0`, then `::`, which also receives IPv4 on a dual-stack
//! socket). IPv4-mapped IPv6 addresses (`::ffff:a.b.c.d`) compare as the
//! IPv4 address they carry, so an IPv6 socket talking IPv4 matches an IPv4
//! packet. Pure: no I/O, no clock; the resolver feeds it sock_diag dumps.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use netoproc_core::model::canonical_ip;
use netoproc_core::{Protocol, SocketCookie};

use crate::sock_diag::{InetSocket, TcpState};

/// How a packet's tuple found its socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MatchKind {
    /// The socket's local and remote endpoints are the packet's.
    Exact,
    /// A socket without a peer, bound to the packet's local address and port.
    BoundAddress,
    /// A socket without a peer, bound to the wildcard address on the port.
    Wildcard,
}

type ExactKey = (Protocol, SocketAddr, SocketAddr);

/// One namespace's TCP and UDP sockets, indexed for lookups.
#[derive(Debug, Default, Clone)]
pub struct SocketTable {
    sockets: Vec<InetSocket>,
    exact: HashMap<ExactKey, usize>,
    /// Sockets without a peer (unconnected UDP, TCP listeners) by local port.
    unconnected: HashMap<(Protocol, u16), Vec<usize>>,
    by_cookie: HashMap<SocketCookie, usize>,
}

impl SocketTable {
    /// Indexes one dump of a namespace's sockets.
    pub fn new(sockets: Vec<InetSocket>) -> SocketTable {
        let mut t = SocketTable {
            exact: HashMap::with_capacity(sockets.len()),
            by_cookie: HashMap::with_capacity(sockets.len()),
            unconnected: HashMap::new(),
            sockets,
        };
        for i in 0..t.sockets.len() {
            t.index(i);
        }
        let ports: Vec<(Protocol, u16)> = t.unconnected.keys().copied().collect();
        for port in ports {
            t.order_unconnected(port);
        }
        t
    }

    /// Adds one socket found after the dump (asked for by its tuple); a
    /// socket the table already lists by cookie is left as it is.
    pub fn insert(&mut self, s: InetSocket) {
        if self.by_cookie.contains_key(&s.cookie) {
            return;
        }
        self.sockets.push(s);
        let i = self.sockets.len() - 1;
        self.index(i);
        if s.remote.is_none() {
            self.order_unconnected((s.protocol, s.local.port()));
        }
    }

    fn index(&mut self, i: usize) {
        let s = self.sockets[i];
        self.by_cookie.insert(s.cookie, i);
        match s.remote {
            Some(remote) => {
                let key = (s.protocol, canonical(s.local), canonical(remote));
                let slot = self.exact.entry(key).or_insert(i);
                if rank(&s) > rank(&self.sockets[*slot]) {
                    *slot = i;
                }
            }
            None if s.protocol == Protocol::Udp || s.state == TcpState::Listen => {
                self.unconnected
                    .entry((s.protocol, s.local.port()))
                    .or_default()
                    .push(i);
            }
            None => {}
        }
    }

    /// Among several sockets on one port (SO_REUSEPORT), the answer must
    /// not depend on dump order: prefer owned sockets, then the lowest inode.
    fn order_unconnected(&mut self, port: (Protocol, u16)) {
        let sockets = &self.sockets;
        if let Some(v) = self.unconnected.get_mut(&port) {
            v.sort_by_key(|&i| {
                let s = &sockets[i];
                (s.inode == 0, s.inode, s.cookie)
            });
        }
    }

    /// The socket whose local end is `local` and that talks to `remote`.
    pub fn lookup(
        &self,
        protocol: Protocol,
        local: SocketAddr,
        remote: SocketAddr,
    ) -> Option<(&InetSocket, MatchKind)> {
        let (local, remote) = (canonical(local), canonical(remote));
        let exact = self
            .exact
            .get(&(protocol, local, remote))
            .map(|&i| &self.sockets[i]);
        // A TCP request socket (handshake in progress) has no inode; the
        // listener that will accept it is the better answer.
        if let Some(s) = exact.filter(|s| !is_pending_request(s)) {
            return Some((s, MatchKind::Exact));
        }
        self.unconnected_lookup(protocol, local)
            .or(exact.map(|s| (s, MatchKind::Exact)))
    }

    fn unconnected_lookup(
        &self,
        protocol: Protocol,
        local: SocketAddr,
    ) -> Option<(&InetSocket, MatchKind)> {
        let candidates = self.unconnected.get(&(protocol, local.port()))?;
        let find = |want: IpAddr| {
            candidates
                .iter()
                .map(|&i| &self.sockets[i])
                .find(|s| canonical_ip(s.local.ip()) == want)
        };
        if let Some(s) = find(local.ip()) {
            return Some((s, MatchKind::BoundAddress));
        }
        let wildcards: &[IpAddr] = match local.ip() {
            IpAddr::V4(_) => &[
                IpAddr::V4(Ipv4Addr::UNSPECIFIED),
                IpAddr::V6(Ipv6Addr::UNSPECIFIED),
            ],
            IpAddr::V6(_) => &[IpAddr::V6(Ipv6Addr::UNSPECIFIED)],
        };
        wildcards
            .iter()
            .find_map(|&w| find(w))
            .map(|s| (s, MatchKind::Wildcard))
    }

    /// The socket with this cookie; `None` when the dump did not list it.
    pub fn by_cookie(&self, cookie: SocketCookie) -> Option<&InetSocket> {
        self.by_cookie.get(&cookie).map(|&i| &self.sockets[i])
    }

    /// Every socket of the dump, in the kernel's order.
    pub fn sockets(&self) -> &[InetSocket] {
        &self.sockets
    }

    /// Sockets in the table.
    pub fn len(&self) -> usize {
        self.sockets.len()
    }

    /// The dump listed no socket.
    pub fn is_empty(&self) -> bool {
        self.sockets.is_empty()
    }
}

/// An address as packets name it: IPv4-mapped IPv6 as IPv4, no scope or
/// flow label.
pub fn canonical(a: SocketAddr) -> SocketAddr {
    SocketAddr::new(canonical_ip(a.ip()), a.port())
}

fn is_pending_request(s: &InetSocket) -> bool {
    s.inode == 0 && matches!(s.state, TcpState::SynRecv | TcpState::NewSynRecv)
}

/// Which of two sockets with one tuple to prefer: one a process holds, then
/// a live connection over a closing one.
fn rank(s: &InetSocket) -> (bool, bool) {
    (s.inode != 0, s.state == TcpState::Established)
}

#[cfg(test)]
#[path = "socket_table_tests.rs"]
pub(crate) mod tests;
