//! A DNS client for the observatory's end-to-end test: a fixed mix of
//! lookups (A, AAAA, a CNAME chain, NXDOMAIN, MX, over UDP and TCP, to an
//! IPv4 and an IPv6 server), each on a fresh socket, plus one to a port
//! where nothing answers; then it resolves a name and opens a TCP
//! connection to the answer. It records what it sent (id, name, type,
//! transport, server) and what came back (rcode, answer count) and times
//! each exchange itself, from just before the query is written to just
//! after the response is read. Messages are built and read by hand (the
//! header and, for the one address it connects to, an A record's data), so
//! nothing here shares code with what it checks.

use std::io::{self, Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, Shutdown, SocketAddr, TcpStream, UdpSocket};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::tally::{GenReport, Tally};
use crate::IO_TIMEOUT;

/// How long the lookup to the silent port waits.
const SILENT_WAIT: Duration = Duration::from_millis(300);

/// One lookup as the client saw it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lookup {
    pub name: String,
    pub qtype: u16,
    /// `udp` or `tcp`.
    pub transport: String,
    pub server: String,
    pub id: u16,
    /// `None` when nothing came back.
    pub rcode: Option<u8>,
    pub answers: u16,
    /// Query written to response read, µs; `None` without a response.
    pub latency_us: Option<u64>,
}

/// Everything the client did, in order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DnsLog {
    pub lookups: Vec<Lookup>,
    /// The TCP connection opened to the answer for the connect name.
    pub connected: Option<String>,
}

pub const A: u16 = 1;
pub const MX: u16 = 15;
pub const AAAA: u16 = 28;

/// Where the client sends its lookups.
#[derive(Debug, Clone)]
pub struct Plan {
    pub server4: SocketAddr,
    pub server6: SocketAddr,
    /// A DNS port where nothing answers.
    pub silent: SocketAddr,
    /// Lookups in the fixed mix (the silent one and the connect one come on top).
    pub queries: u32,
    /// Resolved over UDP from `server4`, then connected to on `connect_port`.
    pub connect_name: String,
    pub connect_port: u16,
}

/// The lookup `i` of the mix: (name, type, over TCP, to the IPv6 server).
fn mix(i: u32) -> (&'static str, u16, bool, bool) {
    match i % 8 {
        0 => ("www.np.test", A, false, false),
        1 => ("www.np.test", AAAA, false, false),
        2 => ("chain.np.test", A, false, false),
        3 => ("nx.np.test", A, false, false),
        4 => ("www.np.test", A, true, false),
        5 => ("np.test", MX, false, true),
        6 => ("chain.np.test", A, true, true),
        _ => ("www.np.test", AAAA, false, true),
    }
}

/// Runs the lookups on a thread of its own, named like a resolver library's
/// worker (dig's is `isc-net-0000`): netoproc must name the process
/// (`np-trafficgen`), not the thread that sent.
pub fn client(plan: &Plan) -> io::Result<GenReport> {
    let plan = plan.clone();
    std::thread::Builder::new()
        .name("np-resolver".into())
        .spawn(move || lookups(&plan))?
        .join()
        .map_err(|_| io::Error::other("the lookup thread panicked"))?
}

fn lookups(plan: &Plan) -> io::Result<GenReport> {
    let mut log = DnsLog::default();
    let mut t = Tally::new();
    let mut next_id = 0x5000u16 ^ (std::process::id() as u16);
    let mut id = || {
        next_id = next_id.wrapping_add(1);
        next_id
    };
    log.lookups
        .push(udp(plan.silent, "silent.np.test", A, id(), SILENT_WAIT, &mut t)?.0);
    for i in 0..plan.queries {
        let (name, qtype, tcp_, v6) = mix(i);
        let server = if v6 { plan.server6 } else { plan.server4 };
        let l = if tcp_ {
            tcp(server, name, qtype, id(), &mut t)?
        } else {
            udp(server, name, qtype, id(), IO_TIMEOUT, &mut t)?.0
        };
        log.lookups.push(l);
    }
    let (l, resp) = udp(
        plan.server4,
        &plan.connect_name,
        A,
        id(),
        IO_TIMEOUT,
        &mut t,
    )?;
    log.lookups.push(l);
    let addr = resp
        .as_deref()
        .and_then(single_a)
        .ok_or_else(|| io::Error::other(format!("no single A answer for {}", plan.connect_name)))?;
    let to = SocketAddr::new(addr.into(), plan.connect_port);
    let mut s = TcpStream::connect_timeout(&to, IO_TIMEOUT)?;
    s.set_read_timeout(Some(IO_TIMEOUT))?;
    t.sent(s.write(&[0x42; 1000])?);
    s.shutdown(Shutdown::Write)?;
    let mut buf = Vec::new();
    t.received(s.read_to_end(&mut buf)?);
    log.connected = Some(to.to_string());
    let mut report = t.into_report("dns-lookups");
    report.dns = Some(log);
    Ok(report)
}

/// A standard query (RD set, no EDNS) for `name`/`qtype`.
pub fn query(id: u16, name: &str, qtype: u16) -> Vec<u8> {
    let mut m = Vec::with_capacity(12 + name.len() + 6);
    m.extend_from_slice(&id.to_be_bytes());
    m.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
    for label in name.split('.') {
        m.push(label.len() as u8);
        m.extend_from_slice(label.as_bytes());
    }
    m.push(0);
    m.extend_from_slice(&qtype.to_be_bytes());
    m.extend_from_slice(&1u16.to_be_bytes());
    m
}

fn unspecified(peer: SocketAddr) -> IpAddr {
    match peer {
        SocketAddr::V4(_) => Ipv4Addr::UNSPECIFIED.into(),
        SocketAddr::V6(_) => Ipv6Addr::UNSPECIFIED.into(),
    }
}

fn lookup(name: &str, qtype: u16, transport: &str, server: SocketAddr, id: u16) -> Lookup {
    Lookup {
        name: name.to_string(),
        qtype,
        transport: transport.to_string(),
        server: server.to_string(),
        id,
        rcode: None,
        answers: 0,
        latency_us: None,
    }
}

fn answered(l: &mut Lookup, resp: &[u8], took: Duration) -> io::Result<()> {
    if resp.len() < 12 || resp[..2] != l.id.to_be_bytes() {
        return Err(io::Error::other(format!("bad response to {}", l.name)));
    }
    l.rcode = Some(resp[3] & 0x0f);
    l.answers = u16::from_be_bytes([resp[6], resp[7]]);
    l.latency_us = Some(took.as_micros() as u64);
    Ok(())
}

/// One lookup on a fresh connected UDP socket; no answer within `wait`
/// (or a port-unreachable error) leaves it unanswered.
fn udp(
    server: SocketAddr,
    name: &str,
    qtype: u16,
    id: u16,
    wait: Duration,
    t: &mut Tally,
) -> io::Result<(Lookup, Option<Vec<u8>>)> {
    let mut l = lookup(name, qtype, "udp", server, id);
    let s = UdpSocket::bind((unspecified(server), 0))?;
    s.connect(server)?;
    s.set_read_timeout(Some(wait))?;
    let msg = query(id, name, qtype);
    let mut buf = vec![0u8; 65536];
    let t0 = Instant::now();
    t.sent(s.send(&msg)?);
    match s.recv(&mut buf) {
        Ok(n) => {
            let took = t0.elapsed();
            t.received(n);
            answered(&mut l, &buf[..n], took)?;
            Ok((l, Some(buf[..n].to_vec())))
        }
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::WouldBlock
                    | io::ErrorKind::TimedOut
                    | io::ErrorKind::ConnectionRefused
            ) =>
        {
            t.unanswered += 1;
            Ok((l, None))
        }
        Err(e) => Err(e),
    }
}

/// One lookup on a fresh TCP connection (timed from the query's write,
/// prefix and message in one write, to the whole response read).
fn tcp(server: SocketAddr, name: &str, qtype: u16, id: u16, t: &mut Tally) -> io::Result<Lookup> {
    let mut l = lookup(name, qtype, "tcp", server, id);
    let mut s = TcpStream::connect_timeout(&server, IO_TIMEOUT)?;
    s.set_read_timeout(Some(IO_TIMEOUT))?;
    s.set_nodelay(true)?;
    let msg = query(id, name, qtype);
    let mut framed = (msg.len() as u16).to_be_bytes().to_vec();
    framed.extend_from_slice(&msg);
    let t0 = Instant::now();
    s.write_all(&framed)?;
    t.sent(framed.len());
    let mut len = [0u8; 2];
    s.read_exact(&mut len)?;
    let mut resp = vec![0u8; usize::from(u16::from_be_bytes(len))];
    s.read_exact(&mut resp)?;
    let took = t0.elapsed();
    t.received(2 + resp.len());
    answered(&mut l, &resp, took)?;
    Ok(l)
}

/// The address of a response with exactly one answer, an A record, and
/// nothing after it (no EDNS was asked for): its last four bytes.
fn single_a(resp: &[u8]) -> Option<Ipv4Addr> {
    let counts = resp.get(6..12)?;
    if counts != [0, 1, 0, 0, 0, 0] || resp.len() < 12 + 4 {
        return None;
    }
    let n = resp.len();
    // TYPE A, CLASS IN, TTL, RDLENGTH 4 precede the address.
    let rr = resp.get(n - 14..n - 4)?;
    (rr[..4] == [0, 1, 0, 1] && rr[8..] == [0, 4])
        .then(|| Ipv4Addr::new(resp[n - 4], resp[n - 3], resp[n - 2], resp[n - 1]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_are_standard_wire_format() {
        let q = query(0x1234, "www.np.test", AAAA);
        assert_eq!(&q[..12], &[0x12, 0x34, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0]);
        assert_eq!(&q[12..], b"\x03www\x02np\x04test\x00\x00\x1c\x00\x01");
    }

    #[test]
    fn the_single_a_answer_is_read_from_the_end() {
        let mut r = query(7, "web.np.test", A);
        r[2] = 0x85;
        r[7] = 1;
        r.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1, 0, 0, 1, 44, 0, 4, 10, 203, 1, 2]);
        assert_eq!(single_a(&r), Some(Ipv4Addr::new(10, 203, 1, 2)));
        r[7] = 2;
        assert_eq!(single_a(&r), None);
    }

    #[test]
    fn the_mix_covers_every_kind() {
        let kinds: std::collections::BTreeSet<_> = (0..8).map(mix).collect();
        assert_eq!(kinds.len(), 8);
        assert!(kinds.iter().any(|k| k.2) && kinds.iter().any(|k| k.3));
    }
}
