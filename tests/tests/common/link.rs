//! A link with added delay and loss where the kernel has no `netem`:
//! namespaces `a` and `b` on one subnet (10.204.N.1 and .2), joined through
//! a middle namespace whose `np-trafficgen bridge` forwards every frame in
//! user space, `delay` each way, dropping with probability `loss` (seeded).
//! Everything goes on Drop: the bridge first, then the namespaces.

use std::net::{IpAddr, Ipv4Addr};
use std::process::Command;
use std::sync::atomic::{AtomicU8, Ordering};

use super::generator::Generator;
use super::netns::{ip, mac, pin_neighbour, Netns};

const A_IF: &str = "np-la";
const B_IF: &str = "np-lb";
const MA_IF: &str = "np-ma";
const MB_IF: &str = "np-mb";

static NEXT: AtomicU8 = AtomicU8::new(1);

/// Runs `sysctl -w KEY=VALUE` inside `ns`.
pub fn sysctl(ns: &Netns, kv: &str) {
    let out = Command::new("ip")
        .args(["netns", "exec", &ns.name, "sysctl", "-qw", kv])
        .output()
        .expect("run sysctl");
    assert!(
        out.status.success(),
        "sysctl {kv} in {}: {}",
        ns.name,
        String::from_utf8_lossy(&out.stderr).trim()
    );
}

pub struct DelayLink {
    // Field order is drop order: the bridge stops before its namespace goes.
    bridge: Option<Generator>,
    pub a: Netns,
    pub b: Netns,
    _m: Netns,
    pub subnet: u8,
}

impl DelayLink {
    pub fn new(suffix: &str, delay_ms: f64, loss: f64, seed: u64) -> DelayLink {
        let subnet = NEXT.fetch_add(1, Ordering::Relaxed) % 250 + 1;
        let a = Netns::new(&format!("{suffix}-a"));
        let m = Netns::new(&format!("{suffix}-m"));
        let b = Netns::new(&format!("{suffix}-b"));
        ip(&[
            "-n", &a.name, "link", "add", A_IF, "type", "veth", "peer", "name", MA_IF, "netns",
            &m.name,
        ]);
        ip(&[
            "-n", &b.name, "link", "add", B_IF, "type", "veth", "peer", "name", MB_IF, "netns",
            &m.name,
        ]);
        sysctl(&m, "net.ipv6.conf.all.disable_ipv6=1");
        sysctl(&m, "net.ipv6.conf.default.disable_ipv6=1");
        for i in [MA_IF, MB_IF] {
            ip(&["-n", &m.name, "link", "set", i, "promisc", "on"]);
            ip(&["-n", &m.name, "link", "set", i, "up"]);
        }
        for (ns, iface, host) in [(&a, A_IF, 1u8), (&b, B_IF, 2u8)] {
            let addr = format!("10.204.{subnet}.{host}/24");
            ip(&["-n", &ns.name, "addr", "add", &addr, "dev", iface]);
            // One segment per frame, so loss hits segments as on a wire.
            ip(&["-n", &ns.name, "link", "set", iface, "gso_max_segs", "1"]);
            ip(&["-n", &ns.name, "link", "set", iface, "up"]);
        }
        // Static neighbours: no ARP round trip through the delay in the
        // first handshake.
        let (mac_a, mac_b) = (mac(&a.name, A_IF), mac(&b.name, B_IF));
        for (ns, iface, peer, lladdr) in [(&a, A_IF, 2u8, &mac_b), (&b, B_IF, 1u8, &mac_a)] {
            pin_neighbour(&ns.name, iface, &format!("10.204.{subnet}.{peer}"), lladdr);
        }
        let args: Vec<String> = [
            "bridge",
            "--a",
            MA_IF,
            "--b",
            MB_IF,
            "--delay-ms",
            &delay_ms.to_string(),
            "--loss",
            &loss.to_string(),
            "--seed",
            &seed.to_string(),
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let mut bridge = Generator::spawn("bridge", &m.name, &args);
        bridge.wait_ready();
        DelayLink {
            bridge: Some(bridge),
            a,
            b,
            _m: m,
            subnet,
        }
    }

    /// 10.204.N.host
    pub fn v4(&self, host: u8) -> IpAddr {
        Ipv4Addr::new(10, 204, self.subnet, host).into()
    }

    /// Stops the bridge and returns its report (frames forwarded, dropped).
    pub fn stop(&mut self) -> netoproc_e2e::tally::GenReport {
        let mut g = self.bridge.take().expect("bridge running");
        g.close_stdin();
        g.finish()
    }
}
