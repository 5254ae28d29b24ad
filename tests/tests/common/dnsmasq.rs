//! dnsmasq serving the test zones (np.test: www with A and AAAA, a CNAME
//! chain, web, an MX; NXDOMAIN for the rest) in a namespace the test made,
//! for the DNS end-to-end tests; killed on Drop.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::generator::Generator;
use super::netns::VethPair;

/// dnsmasq in the foreground, killed on Drop.
pub struct Dnsmasq(Child);

impl Drop for Dnsmasq {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// True if dnsmasq can be run; otherwise fails under `CI=true`, or skips.
pub fn dnsmasq_or_skip() -> bool {
    let found = Command::new("dnsmasq")
        .arg("--version")
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if found {
        return true;
    }
    assert!(
        !std::env::var("CI").is_ok_and(|v| v == "true"),
        "dnsmasq is not installed and CI=true forbids skipping: apt-get install dnsmasq-base"
    );
    eprintln!("skipping the DNS end-to-end test: dnsmasq not found (apt-get install dnsmasq-base)");
    false
}

/// Starts dnsmasq in `netns` on `v4` and `v6` port 53 with the test zones;
/// returns once it answers on port 53.
pub fn start_dnsmasq(netns: &str, pair: &VethPair) -> Dnsmasq {
    let (v4, v6) = (pair.v4(2), pair.v6(2));
    let (www4, www6) = (pair.v4(10), pair.v6(10));
    let child = Command::new("ip")
        .args(["netns", "exec", netns, "dnsmasq", "--keep-in-foreground"])
        .args([
            "--conf-file=/dev/null",
            "--user=root",
            "--pid-file",
            "--port=53",
        ])
        .arg(format!("--listen-address={v4},{v6}"))
        .args([
            "--bind-interfaces",
            "--no-resolv",
            "--no-hosts",
            "--local=/np.test/",
        ])
        .args(["--local-ttl=300", "--log-facility=-"])
        .arg(format!("--host-record=www.np.test,{www4},{www6}"))
        .args([
            "--cname=alias.np.test,www.np.test",
            "--cname=chain.np.test,alias.np.test",
        ])
        .arg(format!("--host-record=web.np.test,{v4}"))
        .args(["--mx-host=np.test,mail.np.test,10"])
        .stdin(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start dnsmasq: {e}"));
    let d = Dnsmasq(child);
    // Listening once it runs (`ip` has exec'd it, in the namespace) and its
    // namespace's UDP table has port 53 (0x0035).
    let proc_dir = format!("/proc/{}", d.0.id());
    let listening = || {
        std::fs::read_to_string(format!("{proc_dir}/comm")).is_ok_and(|c| c.trim() == "dnsmasq")
            && std::fs::read_to_string(format!("{proc_dir}/net/udp6"))
                .is_ok_and(|t| t.contains(":0035 "))
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    while !listening() {
        assert!(
            Instant::now() < deadline,
            "dnsmasq did not listen within 20 s"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    d
}

/// A TCP server in `pair.b` on its first address and `port`, for the one
/// connection a lookup client makes to the address it resolved; ready.
pub fn web_server(pair: &VethPair, port: u16) -> Generator {
    let web = std::net::SocketAddr::new(pair.v4(2), port).to_string();
    let args = [
        "tcp-server",
        "--listen",
        &web,
        "--connections",
        "1",
        "--reply",
        "100",
    ];
    let mut server = Generator::spawn("web-server", &pair.b.name, &args.map(String::from));
    server.wait_ready();
    server
}
