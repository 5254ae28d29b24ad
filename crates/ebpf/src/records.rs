//! Decoding what the kernel hands over — socket records from the storage
//! iterator, the kprobe-rung hash and close events; per-remote UDP counters;
//! process events — into the core model. Pure functions over bytes and
//! ABI structs: every length is checked, so a short or odd buffer is an
//! error value, never a panic.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use netoproc_core::lifecycle::{
    Closer, ConnectionLife, LifeEvent, Outcome, ResponseHistogram, Role, Step, TcpHealth,
};
use netoproc_core::model::join_argv;
use netoproc_core::{
    Counters, DnsPacket, Family, Owner, PeerRecord, ProcessInfo, Protocol, SocketCookie,
    SocketRecord, Tuple,
};

use crate::abi::{
    np_dns_event, np_peer_counters, np_peer_entry, np_peer_key, np_proc_event, np_sock_event,
    np_sock_stats, np_tuple, NP_DIR_TX, NP_EV_DNS, NP_EV_PROC, NP_EV_SOCK_CLOSE, NP_F_CLOSED,
    NP_F_CLOSER_OWNER, NP_F_OWNER, NP_F_TUPLE,
};
use crate::abi::{
    np_life_event, np_tcp_life, NP_CLOSER_LOCAL, NP_CLOSER_REMOTE, NP_EV_LIFE, NP_LIFE_ACCEPTED,
    NP_LIFE_CLOSED, NP_LIFE_CONNECT, NP_LIFE_ESTABLISHED, NP_L_HEALTH, NP_OUT_ABORTED,
    NP_OUT_CLOSED, NP_OUT_OPEN, NP_OUT_REFUSED, NP_OUT_RESET, NP_OUT_TIMEOUT, NP_OUT_UNREACHABLE,
    NP_ROLE_CLIENT, NP_ROLE_SERVER,
};

const AF_INET: u16 = 2;
const AF_INET6: u16 = 10;
const IPPROTO_TCP: u8 = 6;
const IPPROTO_UDP: u8 = 17;

/// One decoded ring-buffer event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A socket's final record, at its release or TCP close.
    SocketClosed(SocketRecord),
    /// A process's first socket: the process's identity.
    Process(ProcessInfo),
    /// A DNS packet passed a socket on a DNS port.
    Dns(DnsPacket),
    /// A TCP connection's lifecycle step.
    Life(Box<LifeEvent>),
}

/// Why a ring-buffer record could not be decoded.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DecodeError {
    /// Shorter than its kind's struct.
    #[error("event of {0} bytes is too short")]
    Short(usize),
    /// A kind this user space does not know (object and crate disagree).
    #[error("unknown event kind {0}")]
    UnknownKind(u32),
    /// A tuple whose protocol or family is neither TCP/UDP nor IPv4/IPv6.
    #[error("event with an unknown protocol or address family")]
    BadTuple,
}

/// Reads a `T` from the start of `bytes`, if long enough.
fn read_struct<T: Copy>(bytes: &[u8]) -> Option<T> {
    if bytes.len() < std::mem::size_of::<T>() {
        return None;
    }
    // SAFETY: length checked above; T is a plain-old-data ABI struct for
    // which every bit pattern is valid; read_unaligned needs no alignment.
    Some(unsafe { std::ptr::read_unaligned(bytes.as_ptr().cast::<T>()) })
}

/// A record sent shorter than its struct (the kernel leaves out a tail it
/// has no use for): at least `min` bytes, the rest zero.
fn read_prefix<T: Copy + Default>(bytes: &[u8], min: usize) -> Option<T> {
    let size = std::mem::size_of::<T>();
    if bytes.len() < min.min(size) {
        return None;
    }
    let mut full = T::default();
    let n = bytes.len().min(size);
    // SAFETY: `full` is a valid T of `size` bytes and n <= size; T is a
    // plain-old-data ABI struct for which every bit pattern is valid.
    unsafe {
        std::ptr::copy_nonoverlapping(bytes.as_ptr(), (&raw mut full).cast::<u8>(), n);
    }
    Some(full)
}

/// Bytes of a close record as the kernel sends it (`NP_SOCK_EVENT_LEN`).
const SOCK_EVENT_LEN: usize = std::mem::offset_of!(np_sock_event, stats.life);
/// Bytes of a lifecycle record without its response histogram
/// (`NP_LIFE_EVENT_SHORT_LEN`).
const LIFE_EVENT_SHORT_LEN: usize = std::mem::offset_of!(np_life_event, stats.life.rt_hist);

/// Decodes one ring-buffer event.
pub fn decode_event(bytes: &[u8]) -> Result<Event, DecodeError> {
    let kind = read_struct::<u32>(bytes).ok_or(DecodeError::Short(bytes.len()))?;
    match kind {
        NP_EV_SOCK_CLOSE => {
            let ev: np_sock_event =
                read_prefix(bytes, SOCK_EVENT_LEN).ok_or(DecodeError::Short(bytes.len()))?;
            Ok(Event::SocketClosed(socket_record(&ev.stats, 0)))
        }
        NP_EV_PROC => {
            let ev: np_proc_event = read_struct(bytes).ok_or(DecodeError::Short(bytes.len()))?;
            Ok(Event::Process(process_info(&ev)))
        }
        NP_EV_DNS => decode_dns(bytes),
        NP_EV_LIFE => {
            let ev: np_life_event =
                read_prefix(bytes, LIFE_EVENT_SHORT_LEN).ok_or(DecodeError::Short(bytes.len()))?;
            let step = match ev.what {
                NP_LIFE_CONNECT => Step::Connect,
                NP_LIFE_ESTABLISHED => Step::Established,
                NP_LIFE_ACCEPTED => Step::Accepted,
                NP_LIFE_CLOSED => Step::Closed,
                other => return Err(DecodeError::UnknownKind(other)),
            };
            life_event(&ev.stats, step, ev.hdr.ktime_ns)
                .map(|e| Event::Life(Box::new(e)))
                .ok_or(DecodeError::BadTuple)
        }
        other => Err(DecodeError::UnknownKind(other)),
    }
}

/// A DNS event is sent with only its used length: header fields, then
/// `captured` payload bytes.
fn decode_dns(bytes: &[u8]) -> Result<Event, DecodeError> {
    let head = std::mem::offset_of!(np_dns_event, data);
    if bytes.len() < head {
        return Err(DecodeError::Short(bytes.len()));
    }
    let mut full = [0u8; std::mem::size_of::<np_dns_event>()];
    let n = bytes.len().min(full.len());
    full[..n].copy_from_slice(&bytes[..n]);
    let ev: np_dns_event = read_struct(&full).ok_or(DecodeError::Short(bytes.len()))?;
    let captured = (ev.captured as usize).min(n - head);
    let t = &ev.tuple;
    let (Some(protocol), Some(src_ip), Some(dst_ip)) = (
        protocol_of(t.protocol),
        ip(t.family, &t.saddr),
        ip(t.family, &t.daddr),
    ) else {
        return Err(DecodeError::BadTuple);
    };
    Ok(Event::Dns(DnsPacket {
        cookie: SocketCookie(ev.cookie),
        pid: (ev.owner_tgid != 0).then_some(ev.owner_tgid),
        outgoing: ev.dir == NP_DIR_TX,
        protocol,
        src: SocketAddr::new(src_ip, t.sport),
        dst: SocketAddr::new(dst_ip, t.dport),
        ktime_ns: ev.hdr.ktime_ns,
        payload_len: ev.payload_len,
        payload: ev.data[..captured].to_vec(),
        tcp_seq: (protocol == Protocol::Tcp).then_some(ev.tcp_seq),
    }))
}

fn protocol_of(p: u8) -> Option<Protocol> {
    match p {
        IPPROTO_TCP => Some(Protocol::Tcp),
        IPPROTO_UDP => Some(Protocol::Udp),
        _ => None,
    }
}

/// A lifecycle step (or, with [`Step::Sample`], a live socket's state) of
/// the socket `s`; `None` when no lifecycle hook saw it connect or be
/// accepted.
pub fn life_event(s: &np_sock_stats, step: Step, ktime_ns: u64) -> Option<LifeEvent> {
    let life = connection_life(&s.life)?;
    let record = socket_record(s, 0);
    Some(LifeEvent {
        step,
        ktime_ns,
        cookie: record.cookie,
        record,
        life,
    })
}

fn connection_life(l: &np_tcp_life) -> Option<ConnectionLife> {
    let role = match u32::from(l.role) {
        NP_ROLE_CLIENT => Role::Client,
        NP_ROLE_SERVER => Role::Server,
        _ => return None,
    };
    let outcome = match u32::from(l.outcome) {
        NP_OUT_OPEN => Outcome::Open,
        NP_OUT_CLOSED => Outcome::Success,
        NP_OUT_REFUSED => Outcome::Refused,
        NP_OUT_RESET => Outcome::Reset,
        NP_OUT_TIMEOUT => Outcome::Timeout,
        NP_OUT_UNREACHABLE => Outcome::Unreachable,
        NP_OUT_ABORTED => Outcome::AbortedByExit,
        _ => Outcome::Other,
    };
    let nonzero = |v: u64| (v != 0).then_some(v);
    Some(ConnectionLife {
        role,
        outcome,
        connect_ns: l.connect_ns,
        established_ns: nonzero(l.established_ns),
        closed_ns: nonzero(l.closed_ns),
        handshake_ns: nonzero(l.handshake_ns),
        health: (u32::from(l.flags) & NP_L_HEALTH != 0).then_some(TcpHealth {
            srtt_us: l.srtt_us,
            rttvar_us: l.rttvar_us,
            min_rtt_us: l.min_rtt_us,
            cwnd: l.cwnd,
            total_retrans: l.total_retrans,
            segs_out: l.segs_out,
        }),
        retrans_events: l.retrans_events,
        error: l.sk_err,
        closer: match u32::from(l.closer) {
            NP_CLOSER_LOCAL => Some(Closer::Local),
            NP_CLOSER_REMOTE => Some(Closer::Remote),
            _ => None,
        },
        response: ResponseHistogram::from_kernel(&l.rt_hist, l.rt_count, l.rt_sum_us),
    })
}

/// The lifecycle samples of the TCP sockets in a socket-iterator dump.
pub fn decode_life_samples(bytes: &[u8]) -> impl Iterator<Item = LifeEvent> + '_ {
    bytes
        .chunks_exact(std::mem::size_of::<np_sock_stats>())
        .filter_map(read_struct::<np_sock_stats>)
        .filter_map(|s| life_event(&s, Step::Sample, 0))
}

/// Splits the socket-storage iterator's output into records. A trailing
/// partial record (which the kernel never produces) is ignored.
pub fn decode_socket_dump(bytes: &[u8]) -> impl Iterator<Item = SocketRecord> + '_ {
    bytes
        .chunks_exact(std::mem::size_of::<np_sock_stats>())
        .filter_map(read_struct::<np_sock_stats>)
        .map(|s| socket_record(&s, 0))
}

/// Converts one socket record. `fallback_key` names the socket when the
/// kernel had not assigned it a cookie yet (kprobe rung: its address).
pub fn socket_record(s: &np_sock_stats, fallback_key: u64) -> SocketRecord {
    let cookie = if s.cookie != 0 {
        s.cookie
    } else {
        fallback_key | (1 << 63)
    };
    let owner = (s.flags & NP_F_OWNER != 0).then(|| Owner {
        pid: s.owner.tgid,
        uid: s.owner.uid,
        comm: c_string(&s.owner.comm),
        cgroup_id: s.owner.cgroup_id,
        netns: s.owner.netns,
        start_time_ns: start_time(s.owner.start_boottime_ns),
    });
    let tuple = if s.flags & NP_F_TUPLE != 0 {
        tuple(&s.tuple)
    } else {
        None
    };
    let c = &s.counters;
    SocketRecord {
        cookie: SocketCookie(cookie),
        owner,
        tuple,
        counters: Counters {
            tx_bytes: c.tx_bytes,
            rx_bytes: c.rx_bytes,
            tx_packets: c.tx_wire_packets,
            rx_packets: c.rx_wire_packets,
            tx_wire_bytes: c.tx_wire_bytes,
            rx_wire_bytes: c.rx_wire_bytes,
            tx_calls: c.tx_calls,
            rx_calls: c.rx_calls,
        },
        closed: s.flags & NP_F_CLOSED != 0,
        owner_is_closer: s.flags & NP_F_CLOSER_OWNER != 0,
    }
}

fn tuple(t: &np_tuple) -> Option<Tuple> {
    let protocol = protocol_of(t.protocol)?;
    let family = match t.family {
        AF_INET => Family::Ipv4,
        AF_INET6 => Family::Ipv6,
        _ => return None,
    };
    let local = SocketAddr::new(ip(t.family, &t.saddr)?, t.sport);
    let remote =
        (t.dport != 0).then(|| ip(t.family, &t.daddr).map(|a| SocketAddr::new(a, t.dport)));
    Some(Tuple {
        protocol,
        family,
        local,
        remote: remote.flatten(),
    })
}

fn ip(family: u16, raw: &[u8; 16]) -> Option<IpAddr> {
    match family {
        AF_INET => Some(IpAddr::V4(Ipv4Addr::new(raw[0], raw[1], raw[2], raw[3]))),
        AF_INET6 => Some(IpAddr::V6(Ipv6Addr::from(*raw))),
        _ => None,
    }
}

/// Splits the peers iterator's output into entries, each with the key it
/// has in `np_peers`.
pub fn decode_peer_dump(bytes: &[u8]) -> impl Iterator<Item = np_peer_entry> + '_ {
    bytes
        .chunks_exact(std::mem::size_of::<np_peer_entry>())
        .filter_map(read_struct::<np_peer_entry>)
}

/// Converts one per-remote UDP entry.
pub fn peer_record(k: &np_peer_key, v: &np_peer_counters) -> Option<PeerRecord> {
    Some(PeerRecord {
        cookie: SocketCookie(k.cookie),
        remote: SocketAddr::new(ip(k.family, &k.addr)?, k.port),
        tx_bytes: v.tx_bytes,
        rx_bytes: v.rx_bytes,
        tx_calls: v.tx_calls,
        rx_calls: v.rx_calls,
    })
}

fn process_info(ev: &np_proc_event) -> ProcessInfo {
    let len = (ev.cmdline_len as usize).min(ev.cmdline.len());
    ProcessInfo {
        pid: ev.tgid,
        ppid: ev.ppid,
        uid: ev.uid,
        comm: c_string(&ev.comm),
        cmdline: join_argv(
            &ev.cmdline[..len]
                .iter()
                .map(|&c| c as u8)
                .collect::<Vec<u8>>(),
        ),
        start_time_ns: start_time(ev.start_time_ns),
    }
}

/// A process start from the kernel (`start_boottime`, ns) at the
/// resolution `/proc/PID/stat` gives it, so both name one process alike.
fn start_time(boottime_ns: u64) -> u64 {
    static TICKS: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    let hz = *TICKS.get_or_init(|| {
        // SAFETY: sysconf reads a constant; no memory is passed.
        let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
        u64::try_from(t).unwrap_or(100)
    });
    netoproc_core::identity::start_time_at_tick(boottime_ns, hz)
}

/// A NUL-terminated C `char` array (signed on x86) to a string.
fn c_string(raw: &[std::os::raw::c_char]) -> String {
    let bytes: Vec<u8> = raw
        .iter()
        .take_while(|&&c| c != 0)
        .map(|&c| c as u8)
        .collect();
    String::from_utf8_lossy(&bytes).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::abi::{np_event_hdr, np_owner};

    fn stats_v4() -> np_sock_stats {
        let mut comm = [0i8; 16];
        for (d, s) in comm.iter_mut().zip(b"curl") {
            *d = *s as i8;
        }
        let mut t = np_tuple {
            sport: 40000,
            dport: 443,
            family: AF_INET,
            protocol: IPPROTO_TCP,
            ..Default::default()
        };
        t.saddr[..4].copy_from_slice(&[10, 0, 0, 1]);
        t.daddr[..4].copy_from_slice(&[10, 0, 0, 2]);
        let mut s = np_sock_stats {
            owner: np_owner {
                tgid: 77,
                uid: 1000,
                cgroup_id: 5,
                netns: 4026531840,
                _pad0: 0,
                comm,
                start_boottime_ns: 123_456_789_012,
            },
            tuple: t,
            cookie: 99,
            flags: NP_F_OWNER | NP_F_TUPLE,
            ..Default::default()
        };
        s.counters.tx_bytes = 1000;
        s.counters.rx_wire_packets = 3;
        s
    }

    fn as_bytes<T>(v: &T) -> &[u8] {
        // SAFETY: reading the bytes of a plain ABI struct.
        unsafe {
            std::slice::from_raw_parts((v as *const T).cast::<u8>(), std::mem::size_of::<T>())
        }
    }

    /// A header of `kind` at ktime 5 ns.
    fn hdr_at_5(kind: u32) -> np_event_hdr {
        np_event_hdr {
            kind,
            _pad0: 0,
            ktime_ns: 5,
        }
    }

    /// The closed step of [`stats_v4`]'s socket; role and outcome unset.
    fn closed_life_event() -> np_life_event {
        np_life_event {
            hdr: hdr_at_5(NP_EV_LIFE),
            what: NP_LIFE_CLOSED,
            _pad0: 0,
            stats: stats_v4(),
        }
    }

    #[test]
    fn lifecycle_events_decode_with_outcome_health_and_response_times() {
        let mut ev = closed_life_event();
        let l = &mut ev.stats.life;
        l.role = NP_ROLE_CLIENT as u8;
        l.outcome = NP_OUT_REFUSED as u8;
        l.connect_ns = 1_000;
        l.closed_ns = 2_000;
        l.sk_err = 111;
        l.flags = NP_L_HEALTH as u8;
        l.cwnd = 10;
        l.rt_hist[3] = 2;
        l.rt_count = 2;
        l.rt_sum_us = 150;
        let Ok(Event::Life(e)) = decode_event(as_bytes(&ev)) else {
            panic!("not a lifecycle event");
        };
        assert_eq!(e.step, Step::Closed);
        assert_eq!(e.life.outcome, Outcome::Refused);
        assert_eq!(e.life.role, Role::Client);
        assert_eq!(e.life.duration_ns(), Some(1_000));
        assert_eq!(e.life.health.map(|h| h.cwnd), Some(10));
        assert_eq!(e.life.response.counts, vec![(3, 2)]);
        assert_eq!(e.record.owner.map(|o| o.pid), Some(77));
        // No role: no lifecycle (a UDP socket, or one no hook saw connect).
        ev.stats.life.role = 0;
        assert!(decode_event(as_bytes(&ev)).is_err());
        // Short and unknown steps are errors, not panics.
        assert!(decode_event(&as_bytes(&ev)[..100]).is_err());
        ev.stats.life.role = NP_ROLE_SERVER as u8;
        ev.what = 99;
        assert!(decode_event(as_bytes(&ev)).is_err());
    }

    #[test]
    fn records_sent_without_their_tail_decode_as_the_kernel_sends_them() {
        // A close record without the lifecycle part.
        let close = np_sock_event {
            hdr: hdr_at_5(NP_EV_SOCK_CLOSE),
            stats: stats_v4(),
        };
        let bytes = as_bytes(&close);
        let Ok(Event::SocketClosed(r)) = decode_event(&bytes[..SOCK_EVENT_LEN]) else {
            panic!("a short close record did not decode");
        };
        assert_eq!((r.cookie, r.counters.tx_bytes), (SocketCookie(99), 1000));
        assert!(decode_event(&bytes[..SOCK_EVENT_LEN - 1]).is_err());
        // A lifecycle record without its response histogram.
        let mut ev = closed_life_event();
        ev.stats.life.role = NP_ROLE_SERVER as u8;
        ev.stats.life.outcome = NP_OUT_CLOSED as u8;
        ev.stats.life.established_ns = 10;
        let bytes = as_bytes(&ev);
        let Ok(Event::Life(e)) = decode_event(&bytes[..LIFE_EVENT_SHORT_LEN]) else {
            panic!("a short lifecycle record did not decode");
        };
        assert_eq!(
            (e.life.outcome, e.life.role),
            (Outcome::Success, Role::Server)
        );
        assert!(e.life.response.counts.is_empty());
        assert!(decode_event(&bytes[..LIFE_EVENT_SHORT_LEN - 1]).is_err());
        // Today 184 of 560 bytes and 288 of 568.
        assert!(SOCK_EVENT_LEN * 2 < std::mem::size_of::<np_sock_event>());
        assert!(LIFE_EVENT_SHORT_LEN * 10 < std::mem::size_of::<np_life_event>() * 6);
    }

    #[test]
    fn socket_record_decodes_owner_tuple_and_counters() {
        let r = socket_record(&stats_v4(), 0);
        assert_eq!(r.cookie, SocketCookie(99));
        let o = r.owner.unwrap();
        assert_eq!((o.pid, o.uid, o.comm.as_str()), (77, 1000, "curl"));
        // At /proc's resolution (CLK_TCK is 100 on Linux): 123.45 s.
        assert_eq!(o.start_time_ns, 123_450_000_000);
        let t = r.tuple.unwrap();
        assert_eq!(t.local, "10.0.0.1:40000".parse().unwrap());
        assert_eq!(t.remote, Some("10.0.0.2:443".parse().unwrap()));
        assert_eq!(r.counters.tx_bytes, 1000);
        assert_eq!(r.counters.rx_packets, 3);
        assert!(!r.closed && !r.owner_is_closer);
    }

    #[test]
    fn owner_taken_at_release_is_marked() {
        let mut s = stats_v4();
        s.flags = NP_F_OWNER | NP_F_TUPLE | NP_F_CLOSED | NP_F_CLOSER_OWNER;
        let r = socket_record(&s, 0);
        assert!(r.owner.is_some() && r.closed && r.owner_is_closer);
    }

    #[test]
    fn unconnected_and_ownerless_records() {
        let mut s = stats_v4();
        s.tuple.dport = 0;
        s.flags = NP_F_TUPLE;
        s.cookie = 0;
        let r = socket_record(&s, 0xffff_8880_0000_1000);
        assert!(r.owner.is_none());
        assert_eq!(r.tuple.unwrap().remote, None);
        assert_eq!(r.cookie.0, 0xffff_8880_0000_1000 | (1 << 63));
    }

    #[test]
    fn peer_dump_yields_each_entry_with_its_key() {
        let mut a = np_peer_entry::default();
        a.key.cookie = 9;
        a.key.family = AF_INET;
        a.key.addr[..4].copy_from_slice(&[10, 0, 0, 2]);
        a.key.port = 53;
        a.counters.tx_bytes = 40;
        a.counters.tx_calls = 1;
        let mut b = a;
        b.key.port = 5353;
        b.counters.rx_bytes = 7;
        let mut buf = as_bytes(&a).to_vec();
        buf.extend_from_slice(as_bytes(&b));
        buf.extend_from_slice(&[1, 2, 3]); // a partial entry is ignored
        let got: Vec<_> = decode_peer_dump(&buf)
            .map(|e| peer_record(&e.key, &e.counters).unwrap())
            .collect();
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].remote, "10.0.0.2:53".parse().unwrap());
        assert_eq!((got[0].tx_bytes, got[0].tx_calls), (40, 1));
        assert_eq!((got[1].remote.port(), got[1].rx_bytes), (5353, 7));
        assert_eq!(got[1].cookie, SocketCookie(9));
    }

    #[test]
    fn ipv6_tuple() {
        let mut s = stats_v4();
        s.tuple.family = AF_INET6;
        s.tuple.saddr = "fd00::1".parse::<Ipv6Addr>().unwrap().octets();
        s.tuple.daddr = "fd00::2".parse::<Ipv6Addr>().unwrap().octets();
        let t = socket_record(&s, 0).tuple.unwrap();
        assert_eq!(t.family, Family::Ipv6);
        assert_eq!(t.remote, Some("[fd00::2]:443".parse().unwrap()));
    }

    #[test]
    fn events_decode_and_reject_garbage() {
        let ev = np_sock_event {
            hdr: np_event_hdr {
                kind: NP_EV_SOCK_CLOSE,
                ..Default::default()
            },
            stats: np_sock_stats {
                flags: NP_F_OWNER | NP_F_CLOSED,
                ..stats_v4()
            },
        };
        match decode_event(as_bytes(&ev)).unwrap() {
            Event::SocketClosed(r) => assert!(r.closed),
            other => panic!("wrong event {other:?}"),
        }
        assert_eq!(
            decode_event(&as_bytes(&ev)[..20]),
            Err(DecodeError::Short(20))
        );
        assert_eq!(decode_event(&[1, 2]), Err(DecodeError::Short(2)));
        assert_eq!(
            decode_event(&[9, 0, 0, 0, 0, 0, 0, 0]),
            Err(DecodeError::UnknownKind(9))
        );
    }

    #[test]
    fn process_event_keeps_argv() {
        let mut ev = np_proc_event {
            hdr: np_event_hdr {
                kind: NP_EV_PROC,
                ..Default::default()
            },
            tgid: 5,
            ppid: 1,
            uid: 0,
            cmdline_len: 0,
            start_time_ns: 12,
            comm: [0; 16],
            cmdline: [0; 256],
        };
        let argv = b"python3\0-c\0print(1)\0";
        for (d, s) in ev.cmdline.iter_mut().zip(argv) {
            *d = *s as i8;
        }
        ev.cmdline_len = argv.len() as u32;
        for (d, s) in ev.comm.iter_mut().zip(b"python3") {
            *d = *s as i8;
        }
        match decode_event(as_bytes(&ev)).unwrap() {
            Event::Process(p) => {
                assert_eq!(p.cmdline, "python3 -c print(1)");
                assert_eq!(p.comm, "python3");
                assert_eq!(p.pid, 5);
            }
            other => panic!("wrong event {other:?}"),
        }
        ev.cmdline_len = 9999; // longer than the buffer: clamped, no panic
        assert!(decode_event(as_bytes(&ev)).is_ok());
    }

    #[test]
    fn dns_event_carries_only_its_payload() {
        let mut ev = np_dns_event {
            hdr: np_event_hdr {
                kind: NP_EV_DNS,
                ..Default::default()
            },
            cookie: 5,
            tuple: np_tuple {
                sport: 40000,
                dport: 53,
                family: AF_INET,
                protocol: IPPROTO_UDP,
                ..Default::default()
            },
            dir: NP_DIR_TX,
            owner_tgid: 0,
            payload_len: 29,
            captured: 29,
            tcp_seq: 77,
            _pad1: 0,
            data: [0; 1024],
        };
        ev.tuple.saddr[..4].copy_from_slice(&[10, 0, 0, 1]);
        ev.tuple.daddr[..4].copy_from_slice(&[10, 0, 0, 53]);
        ev.data[..3].copy_from_slice(&[0xab, 0xcd, 0x01]);
        let head = std::mem::offset_of!(np_dns_event, data);
        let bytes = &as_bytes(&ev)[..head + 29];
        match decode_event(bytes).unwrap() {
            Event::Dns(p) => {
                assert_eq!(p.payload.len(), 29);
                assert_eq!(&p.payload[..3], &[0xab, 0xcd, 0x01]);
                assert_eq!(p.pid, None);
                assert_eq!(p.tcp_seq, None, "UDP has no sequence number");
                assert!(p.outgoing);
                assert_eq!(p.dst, "10.0.0.53:53".parse().unwrap());
            }
            other => panic!("wrong event {other:?}"),
        }
        // A lying `captured` never reads past what arrived.
        ev.captured = 1000;
        let Event::Dns(p) = decode_event(&as_bytes(&ev)[..head + 10]).unwrap() else {
            panic!()
        };
        assert_eq!(p.payload.len(), 10);
        assert_eq!(
            decode_event(&as_bytes(&ev)[..head - 1]),
            Err(DecodeError::Short(head - 1))
        );
    }

    #[test]
    fn socket_dump_splits_records() {
        let a = stats_v4();
        let mut buf = as_bytes(&a).to_vec();
        buf.extend_from_slice(as_bytes(&a));
        buf.extend_from_slice(&[0; 10]);
        assert_eq!(decode_socket_dump(&buf).count(), 2);
    }
}
