//! Network namespaces the tests make and always delete: [`Netns`] is one
//! named namespace with `lo` up, deleted on Drop (so also when a test
//! panics), that can run code on a thread inside it; [`VethPair`] is two of them joined by a veth pair with
//! 10.203.N.1/24 ↔ 10.203.N.2/24 and fd00:203:N::1/64 ↔ fd00:203:N::2/64
//! (`nodad`). Only `ip` from iproute2 is used; no traffic leaves them.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, AtomicU8, Ordering};

/// The veth end inside namespace `a` of a [`VethPair`].
pub const IFACE_A: &str = "np-veth-a";
/// The veth end inside namespace `b` of a [`VethPair`].
pub const IFACE_B: &str = "np-veth-b";

/// Runs `ip ARGS`, panicking with its stderr if it fails.
pub fn ip(args: &[&str]) {
    let out = Command::new("ip")
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run `ip` (install iproute2): {e}"));
    assert!(
        out.status.success(),
        "`ip {}` failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr).trim()
    );
}

/// The MAC address of `iface` in namespace `ns`.
pub fn mac(ns: &str, iface: &str) -> String {
    let out = Command::new("ip")
        .args(["-n", ns, "-o", "link", "show", "dev", iface])
        .output()
        .expect("ip link show");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let mut words = text.split_whitespace();
    words
        .by_ref()
        .find(|w| *w == "link/ether")
        .and_then(|_| words.next())
        .unwrap_or_else(|| panic!("no MAC address for {iface} in {text:?}"))
        .to_string()
}

/// Makes `addr` a permanent neighbour at `lladdr` on `iface` in namespace
/// `ns` (`ip neigh replace … nud permanent`): no ARP or neighbour
/// discovery for it.
pub fn pin_neighbour(ns: &str, iface: &str, addr: &str, lladdr: &str) {
    ip(&[
        "-n",
        ns,
        "neigh",
        "replace",
        addr,
        "lladdr",
        lladdr,
        "dev",
        iface,
        "nud",
        "permanent",
    ]);
}

/// Makes namespace names unique among the tests of one process.
static NEXT_NETNS: AtomicU32 = AtomicU32::new(0);

/// One named network namespace, deleted on Drop.
#[derive(Debug)]
pub struct Netns {
    /// The name `ip netns` knows it by (unique within the test process).
    pub name: String,
}

impl Netns {
    /// Makes `npe2e-<pid>-<seq>-<suffix>` with `lo` up. A stale namespace
    /// of the same name (left by a killed run with the same pid) is replaced.
    pub fn new(suffix: &str) -> Netns {
        let seq = NEXT_NETNS.fetch_add(1, Ordering::Relaxed);
        let name = format!("npe2e-{}-{seq}-{suffix}", std::process::id());
        let _ = Command::new("ip").args(["netns", "del", &name]).output();
        ip(&["netns", "add", &name]);
        let ns = Netns { name };
        ip(&["-n", &ns.name, "link", "set", "lo", "up"]);
        ns
    }

    /// `/run/netns/<name>`, the file that holds the namespace.
    pub fn path(&self) -> PathBuf {
        Path::new("/run/netns").join(&self.name)
    }

    /// Runs `f` on a thread inside this namespace (sockets it makes stay
    /// in the namespace when handed back).
    pub fn run<T: Send>(&self, f: impl FnOnce() -> T + Send) -> T {
        let path = self.path();
        std::thread::scope(|s| {
            s.spawn(|| {
                let ns = std::fs::File::open(&path).expect("open the namespace");
                // SAFETY: a valid namespace descriptor; setns changes only
                // this thread, which ends with `f`.
                let rc = unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) };
                assert_eq!(rc, 0, "setns: {}", std::io::Error::last_os_error());
                f()
            })
            .join()
            .expect("the thread in the namespace panicked")
        })
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        match Command::new("ip")
            .args(["netns", "del", &self.name])
            .output()
        {
            Ok(o) if o.status.success() => {}
            Ok(o) => eprintln!(
                "warning: could not delete netns {}: {}",
                self.name,
                String::from_utf8_lossy(&o.stderr).trim()
            ),
            Err(e) => eprintln!("warning: could not delete netns {}: {e}", self.name),
        }
    }
}

/// Distinct subnet numbers for the pairs of one test process.
static NEXT_SUBNET: AtomicU8 = AtomicU8::new(1);

/// Two namespaces joined by a veth pair (`a` is .1, `b` is .2).
#[derive(Debug)]
pub struct VethPair {
    /// The namespace holding [`IFACE_A`], host .1.
    pub a: Netns,
    /// The namespace holding [`IFACE_B`], host .2.
    pub b: Netns,
    /// Third octet of the pair's 10.203.x.0/24 (and of fd00:203:x::/64),
    /// 1 to 250, distinct among the pairs of one test process.
    pub subnet: u8,
}

impl VethPair {
    /// Creates namespaces `<suffix>-a` and `<suffix>-b`, joined by a veth
    /// pair with IPv4 and IPv6 addresses, both ends up. Panics when `ip`
    /// fails (tests run as root).
    pub fn new(suffix: &str) -> VethPair {
        let subnet = NEXT_SUBNET.fetch_add(1, Ordering::Relaxed) % 250 + 1;
        let a = Netns::new(&format!("{suffix}-a"));
        let b = Netns::new(&format!("{suffix}-b"));
        let pair = VethPair { a, b, subnet };
        let (na, nb) = (pair.a.name.as_str(), pair.b.name.as_str());
        ip(&[
            "-n", na, "link", "add", IFACE_A, "type", "veth", "peer", "name", IFACE_B, "netns", nb,
        ]);
        for (ns, iface, host) in [(na, IFACE_A, 1u8), (nb, IFACE_B, 2u8)] {
            let v4 = format!("{}/24", pair.v4(host));
            let v6 = format!("{}/64", pair.v6(host));
            ip(&["-n", ns, "addr", "add", &v4, "dev", iface]);
            ip(&["-n", ns, "addr", "add", &v6, "dev", iface, "nodad"]);
            ip(&["-n", ns, "link", "set", iface, "up"]);
        }
        pair
    }

    /// Makes each end's neighbour entry for the other permanent (IPv4 and
    /// IPv6), so no packet waits for ARP or neighbour discovery. A capture
    /// on the device sees a packet only once that is done; a socket-level
    /// one (and the application) sees it before, so a first packet's
    /// timing differs between the two by the resolution (1 s when the first
    /// IPv6 solicitation goes unanswered, as on a fresh veth).
    pub fn pin_neighbours(&self) {
        let (ma, mb) = (mac(&self.a.name, IFACE_A), mac(&self.b.name, IFACE_B));
        for (ns, iface, peer, lladdr) in [
            (&self.a.name, IFACE_A, 2u8, &mb),
            (&self.b.name, IFACE_B, 1u8, &ma),
        ] {
            for addr in [self.v4(peer), self.v6(peer)] {
                pin_neighbour(ns, iface, &addr.to_string(), lladdr);
            }
        }
    }

    /// 10.203.N.host
    pub fn v4(&self, host: u8) -> IpAddr {
        Ipv4Addr::new(10, 203, self.subnet, host).into()
    }

    /// fd00:203:N::host
    pub fn v6(&self, host: u8) -> IpAddr {
        Ipv6Addr::new(0xfd00, 0x203, self.subnet.into(), 0, 0, 0, 0, host.into()).into()
    }
}
