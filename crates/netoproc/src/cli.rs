//! The command line: flags, their defaults and their help text. Parsing
//! only; what the flags do lives in `snapshot.rs` and `live.rs`.

use std::path::PathBuf;

use clap::{Parser, ValueEnum};
use netoproc_core::backend::{HookChoice, LiveReadChoice};
use netoproc_core::group::{GroupBy, Selection};
use netoproc_export::{Format, View};

const AFTER_HELP: &str = "\
Exit codes:
  0  success (also when the output pipe is closed early, e.g. `| head`)
  1  runtime error while capturing or writing
  2  usage error (bad flag or value)
  3  capture unavailable (kernel lacks what the chosen mode needs)
  4  insufficient privileges (run as root, or see README: capabilities), or
     refused because netoproc runs with more privilege than its caller
     (file capabilities, set-user-ID): path flags and sizes over the
     limits below (RUST_BACKTRACE is then ignored: panics print no
     backtrace)

Limits without root (file capabilities or set-user-ID):
  --ring-mib at most 64, --rings at most 4, --max-netns at most 16 (default
  16), rings in all (ring-mib x rings x max-netns) at most 1024 MiB,
  --ringbuf-kib at most 65536

Examples:
  sudo netoproc --duration 10                    per-process table after 10 s
  sudo netoproc -d 5 --connections --format json one JSON object with connections
  sudo netoproc -d 60 --format tsv | sort -t$'\\t' -k4 -n
  sudo netoproc -d 30 --view dns                 every DNS query, by process, with resolver health
  sudo netoproc                                  live view in the terminal (q quits)
  sudo netoproc > report.txt                     not a terminal: capture until Ctrl-C, then print";

/// Per-process network traffic, counted exactly in the kernel.
///
/// netoproc attributes every TCP and UDP byte that processes send and receive
/// (IPv4 and IPv6, loopback included) to the process that moved it, using
/// eBPF programs at the socket layer. Short-lived connections and processes
/// are kept: a socket's final counters are saved when it closes. Where eBPF
/// is refused, netoproc captures packets instead (AF_PACKET) and names their
/// owners through the kernel's socket table and /proc.
#[derive(Debug, Parser)]
#[command(name = "netoproc", version, about, long_about, after_help = AFTER_HELP)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,

    /// Capture for SECS seconds, print one snapshot and exit. Without it,
    /// netoproc opens the live view when stdout is a terminal; when stdout
    /// is not a terminal (a pipe or a file), it captures until Ctrl-C (or
    /// SIGTERM), then prints one snapshot.
    #[arg(short, long, value_name = "SECS", value_parser = parse_duration)]
    pub duration: Option<f64>,

    /// Live view: seconds between screen refreshes, which is also how often
    /// the kernel's socket counters are read. Keys act at once either way.
    /// `stream`: seconds between lines.
    #[arg(short, long, value_name = "SECS", default_value = "1", value_parser = parse_interval)]
    pub interval: f64,

    /// Output format.
    #[arg(short, long, value_name = "FORMAT", default_value = "pretty", value_parser = parse_format)]
    pub format: Format,

    /// Also list every connection (for unconnected UDP: every remote).
    #[arg(short, long)]
    pub connections: bool,

    /// What the pretty and TSV formats show: `processes` (traffic per
    /// process) or `dns` (every DNS query with its process, answers and
    /// latency, then each resolver's health). JSON always holds both.
    #[arg(long, value_name = "VIEW", default_value = "processes", value_parser = parse_view)]
    pub view: View,

    /// Sum the process rows by `process` (no grouping), `container`, `pod`
    /// (Kubernetes pod UID), `service` (systemd unit name), `user` or
    /// `cgroup`; each group is exactly the sum of its processes. The live
    /// view starts with it (the `g` key cycles through them).
    #[arg(long, value_name = "WHAT", default_value = "process", value_parser = parse_group_by)]
    pub group_by: GroupBy,

    /// Only processes in these containers: an id (at least 4 leading hex
    /// digits), a name, or a label as shown (`docker:web`);
    /// comma-separated or repeated. Totals are of what is shown.
    #[arg(long, value_name = "ID|NAME", value_delimiter = ',', value_parser = parse_selector)]
    pub container: Vec<String>,

    /// Only processes of these systemd services (`nginx` or
    /// `nginx.service`); comma-separated or repeated.
    #[arg(long, value_name = "UNIT", value_delimiter = ',', value_parser = parse_selector)]
    pub service: Vec<String>,

    /// Only these processes; comma-separated or repeated.
    #[arg(long, value_name = "PID", value_delimiter = ',')]
    pub pid: Vec<u32>,

    /// Only processes of these users (names or uids); comma-separated or
    /// repeated.
    #[arg(long, value_name = "USER", value_delimiter = ',', value_parser = parse_selector)]
    pub user: Vec<String>,

    /// Ports whose traffic is parsed as DNS, comma-separated (at most 8);
    /// `none` (or an empty value) turns DNS capture off.
    #[arg(global = true, long, value_name = "PORTS", default_value = "53", value_parser = parse_dns_ports)]
    pub dns_ports: DnsPorts,

    /// How traffic is counted. `auto` uses eBPF where it loads and otherwise
    /// falls back to AF_PACKET, saying why on stderr; `afpacket` always
    /// captures packets (counts from headers, owners from sock_diag and
    /// /proc).
    #[arg(global = true, long, value_enum, default_value_t = CaptureMode::Auto, value_name = "MODE")]
    pub capture_mode: CaptureMode,

    /// How eBPF counts bytes. `counters` runs no program per send or
    /// receive call: TCP payload comes from the kernel's own socket
    /// counters, UDP from its packets (no per-call counts then, and UDP
    /// datagrams count when they reach the socket, read or not). `calls`
    /// counts every send and receive call with the first that attaches of
    /// tracepoint (Linux 6.3+), fentry (BTF kernels) and kprobe, which
    /// can also be forced by name. `auto` tries counters, then calls.
    #[arg(global = true, long, value_enum, default_value_t = HookChoice::Auto, value_name = "RUNG")]
    pub hooks: HookChoice,

    /// eBPF: how open sockets' counters are read each tick. `auto` takes
    /// the first the kernel allows: `map-iter` (one read of the whole
    /// socket storage map), `socket-iter` (TCP and UDP socket iterators,
    /// one walk per network namespace; for kernels that refuse the map
    /// iterator), `walk` (records kept in a hash walked with two syscalls
    /// an entry; costs each send and receive a hash lookup). Counts are the
    /// same on every path; forcing one is for tests and troubleshooting.
    #[arg(global = true, long, value_enum, default_value_t = LiveReadChoice::Auto, value_name = "PATH")]
    pub live_read: LiveReadChoice,

    /// Size of the kernel-to-userspace event ring buffer, in KiB (a power of
    /// two, at least 4). Raise it if `ringbuf_events` losses are reported.
    /// At most 65536 without root.
    #[arg(global = true, long, value_name = "KIB", default_value_t = 8192, value_parser = parse_ringbuf_kib)]
    pub ringbuf_kib: u32,

    /// AF_PACKET: capture on this interface only, in every network namespace
    /// that has one by that name. Default: every interface.
    #[arg(global = true, long, value_name = "NAME")]
    pub interface: Option<String>,

    /// AF_PACKET: rings per network namespace (1 to 16, default 1), each
    /// read by its own thread in one PACKET_FANOUT group; for more packets
    /// than one core parses. At most 4 without root.
    #[arg(global = true, long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=16))]
    pub rings: Option<u16>,

    /// AF_PACKET: memory of each ring in MiB (default 8 in netoproc's own
    /// network namespace and 2 in every other; given, it sizes them all; at
    /// most 1024, 64 without root). Raise it if `capture_drops` are
    /// reported.
    #[arg(global = true, long, value_name = "MIB", value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub ring_mib: Option<u32>,

    /// AF_PACKET: at most N network namespaces get rings, netoproc's own
    /// included (default 64; 16 and at most 16 without root). Others are
    /// listed as not captured. Each costs rings x ring-mib of kernel memory.
    #[arg(global = true, long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=4096))]
    pub max_netns: Option<u16>,

    /// AF_PACKET: flows (one socket's traffic with one remote) remembered at
    /// once, default 262144: at worst about 150 MiB for attribution plus
    /// 40 MiB per ring. Past it, as in a flood of spoofed sources, a new
    /// flow's bytes count in an overflow row without owner (`flows_folded`
    /// in the attribution statistics).
    #[arg(global = true, long, value_name = "N", value_parser = clap::value_parser!(u32).range(1024..=4_194_304))]
    pub max_flows: Option<u32>,

    /// How often live socket counters are read in snapshot mode, in
    /// milliseconds (the live view reads them every `--interval`).
    #[arg(global = true, long, value_name = "MS", default_value_t = 1000, value_parser = clap::value_parser!(u64).range(10..=60_000))]
    pub read_interval_ms: u64,

    /// Snapshot mode: how many closed connections to keep rows for. A long
    /// capture on a busy host (a DNS client opens a socket per query) would
    /// otherwise hold every socket it ever saw. Past N, the closed ones are
    /// folded into their process rows at the next read: bytes and totals
    /// stay exact, the rows are gone and `meta.connections_folded` counts
    /// them. Open connections are always listed.
    #[arg(long, value_name = "N", default_value_t = 100_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub max_connections: u64,

    /// Print progress to stderr: the hooks chosen, what runs degraded and
    /// how long start-up took.
    #[arg(global = true, short, long)]
    pub verbose: bool,

    /// Root of the proc filesystem (for containers and tests). Refused when
    /// netoproc runs with more privilege than its caller, as is every path.
    #[arg(long, value_name = "DIR", default_value = "/proc", hide = true)]
    pub proc_root: PathBuf,

    /// Root of the sys filesystem, for interface counters (for tests).
    #[arg(long, value_name = "DIR", default_value = "/sys", hide = true)]
    pub sys_root: PathBuf,
}

impl Cli {
    /// The processes `--container`, `--service`, `--pid` and `--user` keep.
    pub fn selection(&self) -> Selection {
        Selection {
            containers: self.container.clone(),
            services: self.service.clone(),
            pids: self.pid.clone(),
            users: self.user.clone(),
        }
    }
}

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Check what this host allows: kernel, BTF, lockdown, capabilities, each
    /// BPF hook (attached for real and detached again), AF_PACKET, and which
    /// capture mode `auto` would choose. Exit 0 when some mode works.
    Doctor(crate::doctor::DoctorArgs),
    /// Run as an always-on agent: Prometheus metrics (/metrics), health
    /// (/healthz, /readyz) and the snapshot JSON (/api/v1/snapshot) over
    /// HTTP, on 127.0.0.1:9767 unless --listen says otherwise.
    Serve(crate::serve::ServeArgs),
    /// What the agent's history ledger holds for a time range: top talkers
    /// by identity, process, service, container, user or remote, with the
    /// exact total (pretty, TSV or JSON). Reads while the agent writes.
    History(crate::history::HistoryArgs),
    /// Print one JSON line every --interval while capturing: what each
    /// process (or group, with --group-by) moved in that interval, the
    /// interval's total and the losses so far; flushed line by line, for jq
    /// and log shippers (a closed pipe ends it quietly). Runs until
    /// --duration or Ctrl-C; the filters (--pid, --container, ...) apply.
    Stream,
    /// Stream TCP connection lifecycle as JSON lines: one object per
    /// connect, established, accepted and closed step (outcome, failure
    /// reason, handshake, RTT, retransmissions, response time), and with
    /// --interval one summary per process per interval. Flushed per line.
    Watch(crate::watch::WatchArgs),
}

/// The `--dns-ports` list; empty when DNS capture is off.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsPorts(pub Vec<u16>);

// As many ports as the kernel side has slots for (one limit for every backend).
use netoproc_core::backend::MAX_DNS_PORTS;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CaptureMode {
    Auto,
    Ebpf,
    Afpacket,
}

fn parse_duration(s: &str) -> Result<f64, String> {
    let v: f64 = s
        .parse()
        .map_err(|_| format!("`{s}` is not a number of seconds"))?;
    if !(v.is_finite() && v > 0.0 && v <= 366.0 * 86400.0) {
        return Err(format!(
            "duration must be more than 0 and at most a year, got {s}"
        ));
    }
    Ok(v)
}

fn parse_interval(s: &str) -> Result<f64, String> {
    let v: f64 = s
        .parse()
        .map_err(|_| format!("`{s}` is not a number of seconds"))?;
    if !(v.is_finite() && (0.1..=3600.0).contains(&v)) {
        return Err(format!(
            "interval must be between 0.1 and 3600 seconds, got {s}"
        ));
    }
    Ok(v)
}

fn parse_format(s: &str) -> Result<Format, String> {
    s.parse()
        .map_err(|e: netoproc_export::UnknownFormat| e.to_string())
}

fn parse_group_by(s: &str) -> Result<GroupBy, String> {
    GroupBy::parse(s).ok_or_else(|| {
        format!("unknown grouping `{s}`: use one of process, container, pod, service, user, cgroup")
    })
}

/// A `--container`/`--service`/`--user` value: a name of at most 253
/// printable characters.
fn parse_selector(s: &str) -> Result<String, String> {
    if s.is_empty() || s.len() > 253 || s.chars().any(|c| c.is_control()) {
        return Err("expected a name or id of 1 to 253 printable characters".into());
    }
    Ok(s.to_string())
}

fn parse_view(s: &str) -> Result<View, String> {
    s.parse()
        .map_err(|e: netoproc_export::UnknownView| e.to_string())
}

fn parse_dns_ports(s: &str) -> Result<DnsPorts, String> {
    let s = s.trim();
    if s.is_empty() || s.eq_ignore_ascii_case("none") {
        return Ok(DnsPorts(Vec::new()));
    }
    let mut ports = Vec::new();
    for p in s.split(',').map(str::trim) {
        let port: u16 = p
            .parse()
            .ok()
            .filter(|&n| n != 0)
            .ok_or_else(|| format!("`{p}` is not a port number (1-65535)"))?;
        if !ports.contains(&port) {
            ports.push(port);
        }
    }
    if ports.len() > MAX_DNS_PORTS {
        return Err(format!(
            "at most {MAX_DNS_PORTS} DNS ports can be watched, {} given",
            ports.len()
        ));
    }
    Ok(DnsPorts(ports))
}

fn parse_ringbuf_kib(s: &str) -> Result<u32, String> {
    let v: u32 = s
        .parse()
        .map_err(|_| format!("`{s}` is not a whole number of KiB"))?;
    if v < 4 || !v.is_power_of_two() || v > 1 << 20 {
        return Err(format!(
            "ring buffer size must be a power of two between 4 and 1048576 KiB, got {s}"
        ));
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capture_flags_may_follow_the_subcommand() {
        use clap::Parser;
        let cli = Cli::try_parse_from([
            "netoproc",
            "serve",
            "--capture-mode",
            "afpacket",
            "--max-flows",
            "2048",
            "--dns-ports",
            "none",
            "-v",
            "--listen",
            "127.0.0.1:0",
        ])
        .expect("capture flags after serve");
        assert_eq!(cli.capture_mode, CaptureMode::Afpacket);
        assert_eq!(cli.max_flows, Some(2048));
        assert!(cli.dns_ports.0.is_empty() && cli.verbose);
        let before = Cli::try_parse_from(["netoproc", "--capture-mode", "afpacket", "serve"])
            .expect("and before it, as always");
        assert_eq!(before.capture_mode, CaptureMode::Afpacket);
        // Path flags are not global: the test roots stay where they were.
        assert!(Cli::try_parse_from(["netoproc", "serve", "--proc-root", "/tmp"]).is_err());
    }

    #[test]
    fn cli_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }

    #[test]
    fn values_are_checked() {
        assert!(parse_duration("0").is_err());
        assert!(parse_duration("-1").is_err());
        assert!(parse_duration("nan").is_err());
        assert_eq!(parse_duration("0.5"), Ok(0.5));
        assert!(parse_interval("0").is_err());
        assert!(parse_interval("0.05").is_err());
        assert!(parse_interval("inf").is_err());
        assert_eq!(parse_interval("2.5"), Ok(2.5));
        assert!(parse_ringbuf_kib("3").is_err());
        assert!(parse_ringbuf_kib("100").is_err());
        assert_eq!(parse_ringbuf_kib("64"), Ok(64));
        assert!(parse_format("xml").is_err());
        assert_eq!(parse_view("dns"), Ok(View::Dns));
        assert!(parse_view("flows").is_err());
        assert_eq!(parse_dns_ports("53"), Ok(DnsPorts(vec![53])));
        assert_eq!(parse_dns_ports("53, 5353,53"), Ok(DnsPorts(vec![53, 5353])));
        assert_eq!(parse_dns_ports("none"), Ok(DnsPorts(vec![])));
        assert_eq!(parse_dns_ports(""), Ok(DnsPorts(vec![])));
        assert!(parse_dns_ports("0").is_err());
        assert!(parse_dns_ports("53,x").is_err());
        assert!(parse_dns_ports("1,2,3,4,5,6,7,8,9").is_err());
    }
}
