//! Where the resolver gets socket lists from: the [`SocketSource`] trait,
//! so the resolver's caching, rate limits and scans are tested on fixtures
//! without root, and [`SockDiagSource`], the real one, which keeps one
//! sock_diag socket per network namespace (opened inside that namespace
//! once, then reused). It lists sockets and nothing else.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;

use netoproc_core::model::Protocol;

use crate::netns::NetnsId;
use crate::sock_diag::{InetSocket, SockDiag, SockDiagError};

/// A provider of one network namespace's TCP and UDP sockets.
pub trait SocketSource {
    /// Every socket of `protocols` in `netns`. `path` reaches it for
    /// `setns`; `None` means the caller's own namespace.
    fn dump(
        &mut self,
        netns: NetnsId,
        path: Option<&Path>,
        protocols: &[Protocol],
    ) -> Result<Vec<InetSocket>, SockDiagError>;

    /// The one socket of `protocol` in `netns` whose local end is `local`
    /// and whose peer is `remote`, asked for by its tuple; `None` when the
    /// kernel has none.
    fn lookup_one(
        &mut self,
        netns: NetnsId,
        path: Option<&Path>,
        protocol: Protocol,
        local: SocketAddr,
        remote: SocketAddr,
    ) -> Result<Option<InetSocket>, SockDiagError>;

    /// The namespace is no longer watched: release what holds it.
    fn forget(&mut self, _netns: NetnsId) {}
}

/// sock_diag dumps, one netlink socket per namespace.
#[derive(Debug, Default)]
pub struct SockDiagSource {
    sockets: HashMap<NetnsId, SockDiag>,
}

impl SockDiagSource {
    /// No socket opened yet; each namespace's opens on its first dump.
    pub fn new() -> SockDiagSource {
        SockDiagSource::default()
    }
}

impl SockDiagSource {
    /// Runs `f` on the namespace's sock_diag socket (opened on first use);
    /// a socket that failed is reopened next time.
    fn with_socket<T>(
        &mut self,
        netns: NetnsId,
        path: Option<&Path>,
        f: impl FnOnce(&mut SockDiag) -> Result<T, SockDiagError>,
    ) -> Result<T, SockDiagError> {
        let diag = match self.sockets.entry(netns) {
            std::collections::hash_map::Entry::Occupied(o) => o.into_mut(),
            std::collections::hash_map::Entry::Vacant(v) => v.insert(match path {
                None => SockDiag::open()?,
                Some(p) => SockDiag::open_in(p)?,
            }),
        };
        let result = f(diag);
        if result.is_err() {
            self.sockets.remove(&netns);
        }
        result
    }
}

impl SocketSource for SockDiagSource {
    fn dump(
        &mut self,
        netns: NetnsId,
        path: Option<&Path>,
        protocols: &[Protocol],
    ) -> Result<Vec<InetSocket>, SockDiagError> {
        self.with_socket(netns, path, |d| d.dump_protocols(protocols))
    }

    fn lookup_one(
        &mut self,
        netns: NetnsId,
        path: Option<&Path>,
        protocol: Protocol,
        local: SocketAddr,
        remote: SocketAddr,
    ) -> Result<Option<InetSocket>, SockDiagError> {
        self.with_socket(netns, path, |d| d.lookup_one(protocol, local, remote))
    }

    /// An open sock_diag socket keeps its namespace alive; drop it.
    fn forget(&mut self, netns: NetnsId) {
        self.sockets.remove(&netns);
    }
}
