//! The ladder for reading live sockets, beside the one for counting bytes.
//! Closed sockets reach userspace as ring-buffer events on every path; open
//! sockets are read each tick by the first of these the kernel allows (or
//! the one forced with `--live-read`):
//!
//! 1. `map-iter`: `iter/bpf_sk_storage_map` dumps the socket storage map in
//!    one read (Linux 5.9+);
//! 2. `socket-iter`: `iter/tcp` and `iter/udp` read the same storage from
//!    each socket, one walk per network namespace ([`SocketIters`]);
//! 3. `walk`: the records live in a hash keyed by socket cookie instead of
//!    socket storage (the object is loaded again with `np_walk_mode` set),
//!    walked with two map syscalls an entry.
//!
//! Every path gives the same records, so counts are exact on each; they
//! differ in cost only. What was refused, and why, goes to `degraded`.

use std::fmt;
use std::str::FromStr;

use aya::{Btf, Ebpf};
use netoproc_core::backend::HookStatus;

use crate::capture::{
    attach_iter, load_object, DumpSpec, EbpfOptions, EbpfStartError, SOCKETS_DUMP,
};
use crate::error::UnknownChoice;
use crate::ladder::error_chain;
use crate::map_dump::MapDump;
use crate::socket_iter::SocketIters;

/// A way of reading live sockets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LiveRead {
    /// `iter/bpf_sk_storage_map`: the storage map in one read (5.9+).
    MapIter,
    /// `iter/tcp` and `iter/udp`, one walk per network namespace.
    SocketIter,
    /// A hash keyed by cookie, walked with two map syscalls an entry.
    Walk,
}

impl LiveRead {
    /// Every path, in the order tried.
    pub const ALL: [LiveRead; 3] = [LiveRead::MapIter, LiveRead::SocketIter, LiveRead::Walk];

    /// The one path `choice` forces; `None` for `auto`.
    pub fn forced(choice: netoproc_core::backend::LiveReadChoice) -> Option<LiveRead> {
        use netoproc_core::backend::LiveReadChoice as C;
        match choice {
            C::Auto => None,
            C::MapIter => Some(LiveRead::MapIter),
            C::SocketIter => Some(LiveRead::SocketIter),
            C::Walk => Some(LiveRead::Walk),
        }
    }

    /// The name `--live-read` and `meta.live_read` use.
    pub fn name(self) -> &'static str {
        match self {
            LiveRead::MapIter => "map-iter",
            LiveRead::SocketIter => "socket-iter",
            LiveRead::Walk => "walk",
        }
    }

    fn describe(self) -> &'static str {
        match self {
            LiveRead::MapIter => "iter/bpf_sk_storage_map",
            LiveRead::SocketIter => "iter/tcp and iter/udp, one walk per network namespace",
            LiveRead::Walk => {
                "a hash keyed by socket cookie, walked with two syscalls an entry \
                 (each send and receive costs a hash lookup instead of socket storage)"
            }
        }
    }
}

impl fmt::Display for LiveRead {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for LiveRead {
    type Err = UnknownChoice;
    fn from_str(s: &str) -> Result<Self, UnknownChoice> {
        LiveRead::ALL
            .into_iter()
            .find(|r| r.name() == s)
            .ok_or_else(|| UnknownChoice {
                what: "live-read path",
                given: s.to_string(),
                expected: "map-iter, socket-iter or walk",
            })
    }
}

/// The reader a capture uses, holding what its path needs.
pub enum LiveReader {
    /// Dumps the socket storage map through its iterator.
    MapIter(MapDump),
    /// Walks each namespace's TCP and UDP sockets.
    SocketIter(Box<SocketIters>),
    /// Walks the cookie-keyed hash; needs nothing held.
    Walk,
}

impl LiveReader {
    /// Which path this reader is.
    pub fn path(&self) -> LiveRead {
        match self {
            LiveReader::MapIter(_) => LiveRead::MapIter,
            LiveReader::SocketIter(_) => LiveRead::SocketIter,
            LiveReader::Walk => LiveRead::Walk,
        }
    }
}

/// The path chosen, with the object to use (walk mode loads it again), the
/// iterator programs tried and what was refused.
pub(crate) struct Chosen {
    pub ebpf: Ebpf,
    pub reader: LiveReader,
    pub programs: Vec<HookStatus>,
    pub degraded: Vec<String>,
}

/// Climbs the live-read ladder (or tries only `opts.live_read`). Runs before
/// any other program is attached, so reloading the object costs nothing.
pub(crate) fn choose(
    mut ebpf: Ebpf,
    btf: &Btf,
    opts: &EbpfOptions,
) -> Result<Chosen, EbpfStartError> {
    let forced = LiveRead::forced(opts.live_read);
    let paths: &[LiveRead] = match &forced {
        Some(p) => std::slice::from_ref(p),
        None => &LiveRead::ALL,
    };
    let mut programs = Vec::new();
    let mut refused: Vec<String> = Vec::new();
    for &path in paths {
        let attempt = match path {
            LiveRead::MapIter => {
                let r = attach_iter(&mut ebpf, btf, &SOCKETS_DUMP);
                programs.push(SOCKETS_DUMP.status(r.as_ref().err()));
                r.map(|link| LiveReader::MapIter(MapDump::new(link)))
            }
            LiveRead::SocketIter => {
                let tcp = attach_iter(&mut ebpf, btf, &TCP_ITER);
                programs.push(TCP_ITER.status(tcp.as_ref().err()));
                let udp = attach_iter(&mut ebpf, btf, &UDP_ITER);
                programs.push(UDP_ITER.status(udp.as_ref().err()));
                match (tcp, udp) {
                    (Ok(t), Ok(u)) => Ok(LiveReader::SocketIter(Box::new(SocketIters::new(t, u)))),
                    (Err(e), _) | (_, Err(e)) => Err(e),
                }
            }
            LiveRead::Walk => {
                // The programs must see np_walk_mode set before they load.
                drop(ebpf);
                let (walking, _btf) = load_object(opts, true, false)?;
                ebpf = walking;
                Ok(LiveReader::Walk)
            }
        };
        match attempt {
            Ok(reader) => {
                let mut degraded = Vec::new();
                if !refused.is_empty() {
                    degraded.push(format!(
                        "read: {}; live sockets are read through {}",
                        refused.join("; "),
                        path.describe()
                    ));
                }
                return Ok(Chosen {
                    ebpf,
                    reader,
                    programs,
                    degraded,
                });
            }
            Err(e) if forced.is_some() => {
                return Err(EbpfStartError::Unavailable(format!(
                    "--live-read {path}: {} did not attach: {}",
                    path.describe(),
                    error_chain(&e)
                )))
            }
            Err(e) => refused.push(format!("{path} refused ({})", error_chain(&e))),
        }
    }
    unreachable!("the walk path always succeeds or returns its load error")
}

/// The socket iterators: bound to no map.
pub(crate) const TCP_ITER: DumpSpec = DumpSpec {
    program: "np_dump_tcp",
    target: "tcp",
    map: None,
};

pub(crate) const UDP_ITER: DumpSpec = DumpSpec {
    program: "np_dump_udp",
    target: "udp",
    map: None,
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_unknown_names_are_refused() {
        for p in LiveRead::ALL {
            assert_eq!(p.name().parse::<LiveRead>(), Ok(p));
        }
        assert!("iter".parse::<LiveRead>().is_err());
    }
}
