//! The seeds every run starts from: real bytes from the repository's test
//! fixtures (the DNS and packet captures, `/proc` and cgroup files, proc
//! connector datagrams and sock_diag answers captured from the kernel),
//! each prefixed with the selector byte its target expects. BPF records
//! have no capture; they are built here from the ABI structs' own field
//! offsets, around a real DNS message. Inputs kept under
//! `crates/fuzz/corpus/<target>/` (a crash once found, now fixed) are
//! added to their target's seeds, so they are replayed on every run.

use std::fs;
use std::mem::{offset_of, size_of};
use std::path::{Path, PathBuf};

use netoproc_ebpf::abi::{
    np_dns_event, np_owner, np_peer_entry, np_peer_key, np_proc_event, np_sock_event,
    np_sock_stats, np_tuple, NP_EV_DNS, NP_EV_PROC, NP_EV_SOCK_CLOSE, NP_F_OWNER, NP_F_TUPLE,
};
use netoproc_wire::{parse_frame, LinkType};
use pcap_file::pcap::PcapReader;
use pcap_file::DataLink;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The files of `dir` under the repository, sorted by name.
fn files(dir: &str) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = fs::read_dir(repo().join(dir))
        .map(|d| d.filter_map(|e| Some(e.ok()?.path())).collect())
        .unwrap_or_default();
    out.retain(|p| p.is_file());
    out.sort();
    out
}

fn read(path: &Path) -> Vec<u8> {
    fs::read(path).unwrap_or_else(|e| panic!("seed {}: {e}", path.display()))
}

/// Regression inputs kept for `target`.
fn kept(target: &str) -> Vec<Vec<u8>> {
    files(&format!("crates/fuzz/corpus/{target}"))
        .iter()
        .map(|p| read(p))
        .collect()
}

/// Every frame of a pcap file under the repository: its link type, the
/// captured bytes and the length it had on the wire.
fn pcap_frames(file: &str) -> Vec<(LinkType, Vec<u8>, u32)> {
    let path = repo().join(file);
    let mut reader = PcapReader::new(fs::File::open(&path).expect("pcap seed")).expect("pcap");
    let link = match reader.header().datalink {
        DataLink::ETHERNET => LinkType::Ethernet,
        _ => LinkType::RawIp,
    };
    let mut out = Vec::new();
    // Raw records: the checked reader rejects every truncated record.
    while let Some(Ok(p)) = reader.next_raw_packet() {
        out.push((link, p.data.into_owned(), p.orig_len));
    }
    out
}

/// DNS payloads of the captured queries and responses (UDP messages, TCP
/// segments with their length prefix).
pub fn dns_messages() -> Vec<Vec<u8>> {
    let mut out: Vec<Vec<u8>> = pcap_frames("crates/dns/testdata/dns.pcap")
        .iter()
        .filter_map(|(link, f, len)| {
            let p = parse_frame(*link, f, *len).ok()?;
            Some(p.payload(f).to_vec()).filter(|m| !m.is_empty())
        })
        .collect();
    out.extend(kept("dns_message"));
    out
}

/// Captured frames of loopback, veth and tun, as `parse_frame` inputs.
pub fn frames() -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for file in ["lo.pcap", "veth.pcap", "tun.pcap"] {
        for (link, f, len) in pcap_frames(&format!("crates/wire/testdata/{file}")) {
            let mut input = vec![u8::from(link == LinkType::RawIp)];
            input.extend_from_slice(&len.to_le_bytes());
            input.extend_from_slice(&f);
            out.push(input);
        }
    }
    out.extend(kept("parse_frame"));
    out
}

/// `/proc` files of the fixtures, each behind its parser's selector.
pub fn proc_files() -> Vec<Vec<u8>> {
    let with = |selector: u8, bytes: &[u8]| [&[selector][..], bytes].concat();
    let proc = repo().join("crates/procfs/testdata/proc/4242");
    let mut process = read(&proc.join("status"));
    for file in ["comm", "cmdline"] {
        process.push(0xff);
        process.extend(read(&proc.join(file)));
    }
    let mut out = vec![
        with(0, &process),
        with(1, &read(&proc.join("stat"))),
        with(3, b"socket:[4026532008]"),
        with(3, b"net:[4026531840]"),
        with(
            5,
            &read(&repo().join("crates/ebpf/testdata/mountinfo-hybrid.txt")),
        ),
    ];
    let containers = repo().join("crates/procfs/testdata/containers/proc");
    let mut cgroups: Vec<PathBuf> = fs::read_dir(containers)
        .map(|d| {
            d.filter_map(|e| Some(e.ok()?.path().join("cgroup")))
                .collect()
        })
        .unwrap_or_default();
    cgroups.sort();
    for f in cgroups.iter().filter(|p| p.is_file()) {
        out.push(with(2, &read(f)));
    }
    for f in files("crates/procfs/testdata/cn_proc") {
        out.push(with(4, &read(&f)));
    }
    out.extend(kept("proc_files"));
    out
}

/// sock_diag answers captured from the kernel, behind the selector of the
/// request they answer.
pub fn sock_diag_answers() -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for f in files("crates/procfs/testdata/sock_diag") {
        let name = f.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        if !name.ends_with(".bin") {
            continue;
        }
        let selector = u8::from(name.contains("udp"))
            | u8::from(name.contains('6')) << 1
            | u8::from(name.starts_with("lookup")) << 2;
        out.push([&[selector][..], &read(&f)].concat());
    }
    out.extend(kept("sock_diag"));
    out
}

/// Writes `value` at `offset` of `buf`.
fn put(buf: &mut [u8], offset: usize, value: &[u8]) {
    buf[offset..offset + value.len()].copy_from_slice(value);
}

/// A tuple at `at` within `buf`: `family`, `protocol`, both addresses
/// 127.0.0.1, ports 40000 and `dport`.
fn tuple(buf: &mut [u8], at: usize, family: u16, protocol: u8, dport: u16) {
    put(buf, at + offset_of!(np_tuple, saddr), &[127, 0, 0, 1]);
    put(buf, at + offset_of!(np_tuple, daddr), &[127, 0, 0, 1]);
    put(
        buf,
        at + offset_of!(np_tuple, sport),
        &40000u16.to_ne_bytes(),
    );
    put(buf, at + offset_of!(np_tuple, dport), &dport.to_ne_bytes());
    put(
        buf,
        at + offset_of!(np_tuple, family),
        &family.to_ne_bytes(),
    );
    put(buf, at + offset_of!(np_tuple, protocol), &[protocol]);
}

/// A TCP socket's statistics between 127.0.0.1:40000 and :80, owned by
/// pid 4242 (`curl`), at `base` within `buf`.
fn sock_stats(buf: &mut [u8], base: usize) {
    tuple(buf, base + offset_of!(np_sock_stats, tuple), 2, 6, 80);
    let owner = base + offset_of!(np_sock_stats, owner);
    put(
        buf,
        owner + offset_of!(np_owner, tgid),
        &4242u32.to_ne_bytes(),
    );
    put(buf, owner + offset_of!(np_owner, comm), b"curl\0");
    put(
        buf,
        base + offset_of!(np_sock_stats, cookie),
        &77u64.to_ne_bytes(),
    );
    let flags = NP_F_OWNER | NP_F_TUPLE;
    put(
        buf,
        base + offset_of!(np_sock_stats, flags),
        &flags.to_ne_bytes(),
    );
}

/// A close event, a process event, a DNS event (with a captured query and
/// as sent: header and used bytes only), two socket-dump records and a
/// peer entry.
pub fn bpf_records() -> Vec<Vec<u8>> {
    let mut close = vec![0u8; size_of::<np_sock_event>()];
    put(&mut close, 0, &NP_EV_SOCK_CLOSE.to_ne_bytes());
    sock_stats(&mut close, offset_of!(np_sock_event, stats));

    let mut proc = vec![0u8; size_of::<np_proc_event>()];
    put(&mut proc, 0, &NP_EV_PROC.to_ne_bytes());
    put(
        &mut proc,
        offset_of!(np_proc_event, tgid),
        &4242u32.to_ne_bytes(),
    );
    put(&mut proc, offset_of!(np_proc_event, comm), b"curl\0");
    put(&mut proc, offset_of!(np_proc_event, cmdline), b"curl\0-s\0");
    put(
        &mut proc,
        offset_of!(np_proc_event, cmdline_len),
        &8u32.to_ne_bytes(),
    );

    let query = dns_messages().into_iter().next().unwrap_or_default();
    let head = offset_of!(np_dns_event, data);
    let mut dns = vec![0u8; head + query.len()];
    put(&mut dns, 0, &NP_EV_DNS.to_ne_bytes());
    tuple(&mut dns, offset_of!(np_dns_event, tuple), 2, 17, 53);
    let len = (query.len() as u32).to_ne_bytes();
    put(&mut dns, offset_of!(np_dns_event, payload_len), &len);
    put(&mut dns, offset_of!(np_dns_event, captured), &len);
    put(&mut dns, head, &query);

    let record = size_of::<np_sock_stats>();
    let mut dump = vec![0u8; 2 * record];
    sock_stats(&mut dump, 0);
    sock_stats(&mut dump, record);

    let mut peer = vec![0u8; size_of::<np_peer_entry>()];
    let key = offset_of!(np_peer_entry, key);
    put(
        &mut peer,
        key + offset_of!(np_peer_key, family),
        &10u16.to_ne_bytes(),
    );
    put(
        &mut peer,
        key + offset_of!(np_peer_key, port),
        &5353u16.to_ne_bytes(),
    );

    let mut out = vec![close, proc, dns, dump, peer];
    out.extend(kept("bpf_records"));
    out
}
