//! The names of the BPF object's maps and globals that user space asks
//! for, in one place; program names live with their hooks (`ladder`) and
//! iterators (`capture`, `live_read`). A unit test parses the committed
//! object (no root, no kernel) and checks every one of them is there, so a
//! rename in the C sources fails `cargo test`, not a load on a user's
//! host.

/// Ring buffer of close, process and DNS events.
pub const EVENTS: &str = "np_events";
/// Per-CPU statistics (losses, event counts).
pub const STATS: &str = "np_stats";
/// Per-remote counters of unconnected UDP sockets (LRU).
pub const PEERS: &str = "np_peers";
/// Socket-local storage of the tracing and cgroup programs.
pub const SOCKS: &str = "np_socks";
/// The walkable copy of socket records (walk mode).
pub const SOCK_WALK: &str = "np_sock_walk";
/// The kprobe rung's records, keyed by socket address.
pub const SOCK_HASH: &str = "np_sock_hash";
/// Counter path: the owner of each listening socket, by namespace and port.
pub const LISTENERS: &str = "np_listeners";
/// Counter path: owners of sockets older than netoproc, by socket inode.
pub const INODE_OWNERS: &str = "np_inode_owners";

/// Read-only global set at load time: the ports whose packets are DNS.
pub const GLOBAL_DNS_PORTS: &str = "np_dns_ports";
/// Read-only global set at load time: records go to the walkable hash
/// instead of socket storage.
pub const GLOBAL_WALK_MODE: &str = "np_walk_mode";
/// Read-only global set at load time: lifecycle steps before close go to
/// userspace too (for `netoproc watch`), not only closes.
pub const GLOBAL_LIFE_STEPS: &str = "np_life_steps";
/// Read-only global set at load time: the counter path (no program per
/// send or receive call; TCP from the kernel's socket counters).
pub const GLOBAL_COUNTER_MODE: &str = "np_counter_mode";

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use object::{Object, ObjectSymbol};

    use super::*;
    use crate::capture::{PEERS_DUMP, SOCKETS_DUMP};
    use crate::ladder::{Rung, COMMON};
    use crate::live_read::{TCP_ITER, UDP_ITER};

    #[test]
    fn every_name_user_space_asks_for_is_in_the_committed_object() {
        let obj = aya_obj::Object::parse(crate::capture::OBJECT).expect("the committed object");
        let programs: HashSet<&str> = obj.programs.keys().map(String::as_str).collect();
        let maps: HashSet<&str> = obj.maps.keys().map(String::as_str).collect();
        let mut wanted: Vec<&str> = Rung::ALL
            .iter()
            .flat_map(|r| r.hooks())
            .chain(COMMON)
            .map(|h| h.program)
            .collect();
        wanted.extend([SOCKETS_DUMP, PEERS_DUMP, TCP_ITER, UDP_ITER].map(|d| d.program));
        for p in &wanted {
            assert!(programs.contains(p), "program {p} is not in the object");
        }
        let bound = [SOCKETS_DUMP, PEERS_DUMP].map(|d| d.map.expect("bound to a map"));
        for m in [
            EVENTS,
            STATS,
            PEERS,
            SOCKS,
            SOCK_WALK,
            SOCK_HASH,
            LISTENERS,
            INODE_OWNERS,
        ]
        .into_iter()
        .chain(bound)
        {
            assert!(maps.contains(m), "map {m} is not in the object: {maps:?}");
        }
        let elf = object::File::parse(crate::capture::OBJECT).expect("ELF");
        let symbols: HashSet<&str> = elf.symbols().filter_map(|s| s.name().ok()).collect();
        for g in [
            GLOBAL_DNS_PORTS,
            GLOBAL_WALK_MODE,
            GLOBAL_LIFE_STEPS,
            GLOBAL_COUNTER_MODE,
        ] {
            assert!(symbols.contains(g), "global {g} is not in the object");
        }
    }
}
