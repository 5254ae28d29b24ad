//! Opening a ring inside another network namespace. A short-lived thread
//! enters the namespace with setns(2), opens the ring there and exits; the
//! socket stays bound to the namespace it was created in, so the caller's
//! threads never change namespace.

use std::path::Path;

use crate::{sys, Ring, RingConfig, RingError};

impl Ring {
    /// Opens a ring in the network namespace at `netns` (for example
    /// `/run/netns/NAME` or `/proc/PID/ns/net`); `config.interface` names an
    /// interface of that namespace. Needs CAP_SYS_ADMIN besides CAP_NET_RAW.
    pub fn open_in_netns(netns: &Path, config: &RingConfig) -> Result<Ring, RingError> {
        std::thread::scope(|s| {
            let opener = std::thread::Builder::new()
                .name("netoproc-netns".into())
                .spawn_scoped(s, || {
                    sys::enter_netns(netns).map_err(|error| RingError::Netns {
                        path: netns.to_path_buf(),
                        error,
                    })?;
                    Ring::open(config)
                })
                .map_err(|error| RingError::Sys {
                    op: "spawning the namespace thread",
                    error,
                })?;
            opener.join().unwrap_or_else(|_| {
                Err(RingError::Sys {
                    op: "opening the ring in a namespace",
                    error: std::io::Error::other("thread panicked"),
                })
            })
        })
    }
}
