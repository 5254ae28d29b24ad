//! Where the resolver gets socket lists from: the [`SocketSource`] trait,
//! so the resolver's caching, rate limits and scans are tested on fixtures
//! without root, and [`SockDiagSource`], the real one, which keeps one
//! sock_diag socket per network namespace (opened inside that namespace
//! once, then reused). It lists sockets and nothing else.

use std::collections::HashMap;
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

    /// The namespace is no longer watched: release what holds it.
    fn forget(&mut self, _netns: NetnsId) {}
}

/// sock_diag dumps, one netlink socket per namespace.
#[derive(Debug, Default)]
pub struct SockDiagSource {
    sockets: HashMap<NetnsId, SockDiag>,
}

impl SockDiagSource {
    pub fn new() -> SockDiagSource {
        SockDiagSource::default()
    }
}

impl SocketSource for SockDiagSource {
    fn dump(
        &mut self,
        netns: NetnsId,
        path: Option<&Path>,
        protocols: &[Protocol],
    ) -> Result<Vec<InetSocket>, SockDiagError> {
        let diag = match self.sockets.entry(netns) {
            std::collections::hash_map::Entry::Occupied(o) => o.into_mut(),
            std::collections::hash_map::Entry::Vacant(v) => v.insert(match path {
                None => SockDiag::open()?,
                Some(p) => SockDiag::open_in(p)?,
            }),
        };
        let result = diag.dump_protocols(protocols);
        if result.is_err() {
            // A broken socket is reopened on the next dump.
            self.sockets.remove(&netns);
        }
        result
    }

    /// An open sock_diag socket keeps its namespace alive; drop it.
    fn forget(&mut self, netns: NetnsId) {
        self.sockets.remove(&netns);
    }
}
