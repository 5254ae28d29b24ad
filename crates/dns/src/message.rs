//! One DNS message decoded from untrusted bytes into the few fields the
//! observatory keeps: id, query/response, rcode (EDNS-extended), the TC
//! flag, the question, the answers (A, AAAA, CNAME, PTR, MX, TXT, SRV,
//! HTTPS/SVCB typed; anything else by type number) and the EDNS header.
//! Nothing here keeps the bytes, and nothing panics, whatever they hold.
//!
//! The wire format is read by `hickory-proto`, chosen over `simple-dns`
//! because its decoder reads a message section by section: a message cut
//! at the kernel's copy limit (1024 bytes) still yields its header,
//! question and the answers that fit, where `simple-dns` only parses whole
//! messages. It also accepts the reserved header bit `simple-dns` rejects,
//! decodes HTTPS/SVCB parameters and EDNS, refuses forward and looping
//! compression pointers, and is fuzzed upstream.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

use hickory_proto::op::{Edns as HEdns, Header, MessageType, Query};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use hickory_proto::serialize::binary::{BinDecodable, BinDecoder};

/// Answers kept per message; the header's count says how many there were.
pub const MAX_ANSWERS: usize = 32;
/// Characters kept of a TXT answer or an HTTPS/SVCB parameter list.
const MAX_TEXT: usize = 200;

/// Why a message could not be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParseError {
    /// Shorter than the 12-byte header.
    Short,
    /// Whole, yet its sections do not decode (bad lengths, compression
    /// loops or forward pointers, names too long, ...).
    Malformed,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ParseError::Short => "shorter than a DNS header",
            ParseError::Malformed => "malformed DNS message",
        })
    }
}

impl std::error::Error for ParseError {}

/// A record type by number, shown by its mnemonic (`AAAA`, `HTTPS`) or as
/// `TYPE<n>` (RFC 3597) when it has none.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RrType(pub u16);

impl fmt::Display for RrType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match RecordType::from(self.0) {
            RecordType::Unknown(n) => write!(f, "TYPE{n}"),
            t => write!(f, "{t}"),
        }
    }
}

/// A response code, 4 header bits extended by EDNS's 8, shown by its
/// mnemonic (`NOERROR`, `NXDOMAIN`) or as `RCODE<n>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Rcode(pub u16);

impl Rcode {
    /// No error: the answer (possibly empty) is the answer.
    pub const NOERROR: Rcode = Rcode(0);
    /// The server failed to answer (upstream unreachable, DNSSEC failure).
    pub const SERVFAIL: Rcode = Rcode(2);
    /// The name does not exist.
    pub const NXDOMAIN: Rcode = Rcode(3);
    /// The server declined to answer (policy).
    pub const REFUSED: Rcode = Rcode(5);

    /// The IANA mnemonic; `None` for codes without one here (shown as
    /// `RCODE<n>`).
    pub fn name(self) -> Option<&'static str> {
        const NAMES: [&str; 12] = [
            "NOERROR",
            "FORMERR",
            "SERVFAIL",
            "NXDOMAIN",
            "NOTIMP",
            "REFUSED",
            "YXDOMAIN",
            "YXRRSET",
            "NXRRSET",
            "NOTAUTH",
            "NOTZONE",
            "DSOTYPENI",
        ];
        match self.0 {
            n if (n as usize) < NAMES.len() => Some(NAMES[n as usize]),
            16 => Some("BADVERS"),
            23 => Some("BADCOOKIE"),
            _ => None,
        }
    }
}

impl fmt::Display for Rcode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(n) => f.write_str(n),
            None => write!(f, "RCODE{}", self.0),
        }
    }
}

/// What a message asks: one name and record type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Question {
    /// Lower case, ASCII (IDNs as punycode), without the final dot.
    pub name: String,
    /// The record type asked for (`A`, `AAAA`, `HTTPS`, ...).
    pub qtype: RrType,
}

/// One record of the answer section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// The owner name, as [`Question::name`].
    pub name: String,
    /// Seconds the record may be cached, as sent.
    pub ttl: u32,
    /// The record's data.
    pub data: AnswerData,
}

/// The data of one answer record, in presentation form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AnswerData {
    /// An IPv4 address.
    A(Ipv4Addr),
    /// An IPv6 address.
    Aaaa(Ipv6Addr),
    /// The canonical name the owner name is an alias of.
    Cname(String),
    /// The name a reverse-lookup name points to.
    Ptr(String),
    /// A mail exchanger.
    Mx {
        /// Lower is preferred.
        preference: u16,
        /// The mail server's name.
        exchange: String,
    },
    /// The record's strings, each quoted, joined by spaces, cut to
    /// 200 characters.
    Txt(String),
    /// A service location.
    Srv {
        /// Lower is tried first.
        priority: u16,
        /// Share among records of equal priority.
        weight: u16,
        /// The service's port on `target`.
        port: u16,
        /// The host offering the service.
        target: String,
    },
    /// HTTPS (`https`) or SVCB: priority, target and the parameters as text.
    Svcb {
        /// An HTTPS record (type 65) rather than SVCB (64).
        https: bool,
        /// 0 is alias mode; otherwise lower is preferred.
        priority: u16,
        /// The target name.
        target: String,
        /// The SvcParams in presentation form; empty when none.
        params: String,
    },
    /// A type not decoded here: only its type is kept.
    Other(RrType),
}

impl fmt::Display for AnswerData {
    /// Addresses alone; other types as `TYPE data`, e.g. `CNAME www.np.test`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AnswerData::A(a) => write!(f, "{a}"),
            AnswerData::Aaaa(a) => write!(f, "{a}"),
            AnswerData::Cname(n) => write!(f, "CNAME {n}"),
            AnswerData::Ptr(n) => write!(f, "PTR {n}"),
            AnswerData::Mx {
                preference,
                exchange,
            } => write!(f, "MX {preference} {exchange}"),
            AnswerData::Txt(t) => write!(f, "TXT {t}"),
            AnswerData::Srv {
                priority,
                weight,
                port,
                target,
            } => {
                write!(f, "SRV {priority} {weight} {port} {target}")
            }
            AnswerData::Svcb {
                https,
                priority,
                target,
                params,
            } => {
                let t = if *https { "HTTPS" } else { "SVCB" };
                write!(f, "{t} {priority} {target}")?;
                if !params.is_empty() {
                    write!(f, " {params}")?;
                }
                Ok(())
            }
            AnswerData::Other(t) => write!(f, "{t}"),
        }
    }
}

/// The EDNS(0) OPT pseudo-record's header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Edns {
    /// The largest UDP payload the sender accepts, in bytes.
    pub udp_payload: u16,
    /// The EDNS version (0 today).
    pub version: u8,
    /// The DO bit: the sender wants DNSSEC records.
    pub dnssec_ok: bool,
}

/// One parsed DNS message, query or response: its header, first question
/// and answers. Names and texts are bounded and still attacker input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsMessage {
    /// The transaction id that pairs a response with its query.
    pub id: u16,
    /// The QR flag: a response (`true`) or a query.
    pub is_response: bool,
    /// The header's opcode (0: a standard query).
    pub opcode: u8,
    /// The response code, EDNS extension included.
    pub rcode: Rcode,
    /// The TC flag: the sender cut the message (retry over TCP expected).
    pub truncated: bool,
    /// The first question (messages with more are vanishingly rare).
    pub question: Option<Question>,
    /// At most [`MAX_ANSWERS`], in message order.
    pub answers: Vec<Answer>,
    /// Answer records the header announced.
    pub answer_count: u16,
    /// The OPT record's header; `None` when the message has none.
    pub edns: Option<Edns>,
    /// Every section decoded; `false` when the bytes ended early (a copy
    /// cut by the kernel) and only what came before was read.
    pub complete: bool,
}

/// Decodes `bytes`. `cut` says they are a prefix of a longer message (the
/// copy stopped early): then the first section that fails to decode is
/// taken as the cut, and what came before it is kept (`complete ==
/// false`). In a whole message, any invalid section makes it
/// [`ParseError::Malformed`].
pub fn parse(bytes: &[u8], cut: bool) -> Result<DnsMessage, ParseError> {
    let mut d = BinDecoder::new(bytes);
    let header = Header::read(&mut d).map_err(|_| ParseError::Short)?;
    let meta = header.metadata;
    let mut msg = DnsMessage {
        id: meta.id,
        is_response: meta.message_type == MessageType::Response,
        opcode: u8::from(meta.op_code),
        rcode: Rcode(u16::from(meta.response_code.low())),
        truncated: meta.truncation,
        question: None,
        answers: Vec::new(),
        answer_count: header.counts.answers,
        edns: None,
        complete: false,
    };
    match read_sections(&mut d, &header, &mut msg) {
        Ok(()) => {
            msg.complete = true;
            Ok(msg)
        }
        // A copy known to be cut: the decoder ran into the cut (whatever
        // error that makes), and what came before it stands.
        Err(()) if cut => Ok(msg),
        Err(()) => Err(ParseError::Malformed),
    }
}

fn read_sections(d: &mut BinDecoder<'_>, h: &Header, msg: &mut DnsMessage) -> Result<(), ()> {
    for i in 0..h.counts.queries {
        let q = Query::read(d).map_err(drop)?;
        if i == 0 {
            msg.question = Some(Question {
                name: name_text(q.name()),
                qtype: RrType(u16::from(q.query_type())),
            });
        }
    }
    for _ in 0..h.counts.answers {
        let r = Record::<RData>::read(d).map_err(drop)?;
        if msg.answers.len() < MAX_ANSWERS {
            msg.answers.push(Answer {
                name: name_text(&r.name),
                ttl: r.ttl,
                data: answer_data(&r),
            });
        }
    }
    for _ in 0..h.counts.authorities {
        Record::<RData>::read(d).map_err(drop)?;
    }
    for _ in 0..h.counts.additionals {
        let r = Record::<RData>::read(d).map_err(drop)?;
        if r.record_type() == RecordType::OPT && msg.edns.is_none() {
            let e = HEdns::from(&r);
            msg.rcode = Rcode(u16::from(e.rcode_high()) << 4 | msg.rcode.0);
            msg.edns = Some(Edns {
                udp_payload: e.max_payload(),
                version: e.version(),
                dnssec_ok: e.flags().dnssec_ok,
            });
        }
    }
    Ok(())
}

/// Lower case ASCII without the final dot (`.` for the root).
fn name_text(n: &Name) -> String {
    let mut s = n.to_ascii();
    if s.len() > 1 && s.ends_with('.') {
        s.pop();
    }
    s.make_ascii_lowercase();
    s
}

fn short(mut s: String) -> String {
    if s.chars().count() > MAX_TEXT {
        s = s.chars().take(MAX_TEXT - 1).collect();
        s.push('…');
    }
    s
}

fn answer_data(r: &Record) -> AnswerData {
    match &r.data {
        RData::A(a) => AnswerData::A(a.0),
        RData::AAAA(a) => AnswerData::Aaaa(a.0),
        RData::CNAME(n) => AnswerData::Cname(name_text(&n.0)),
        RData::PTR(n) => AnswerData::Ptr(name_text(&n.0)),
        RData::MX(mx) => AnswerData::Mx {
            preference: mx.preference,
            exchange: name_text(&mx.exchange),
        },
        RData::TXT(t) => {
            let parts: Vec<String> = t
                .txt_data
                .iter()
                .map(|p| format!("{:?}", String::from_utf8_lossy(p)))
                .collect();
            AnswerData::Txt(short(parts.join(" ")))
        }
        RData::SRV(s) => AnswerData::Srv {
            priority: s.priority,
            weight: s.weight,
            port: s.port,
            target: name_text(&s.target),
        },
        RData::SVCB(s) => svcb(false, s),
        RData::HTTPS(h) => svcb(true, &h.0),
        _ => AnswerData::Other(RrType(u16::from(r.record_type()))),
    }
}

fn svcb(https: bool, s: &hickory_proto::rr::rdata::SVCB) -> AnswerData {
    let params: Vec<String> = s
        .svc_params
        .iter()
        // hickory ends list values with a comma (`alpn=h2,`).
        .map(|(k, v)| format!("{k}={}", v.to_string().trim_end_matches(',')))
        .collect();
    AnswerData::Svcb {
        https,
        priority: s.svc_priority,
        target: name_text(&s.target_name),
        params: short(params.join(" ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_of_types_and_codes() {
        assert_eq!(RrType(1).to_string(), "A");
        assert_eq!(RrType(65).to_string(), "HTTPS");
        assert_eq!(RrType(64).to_string(), "SVCB");
        assert_eq!(RrType(65280).to_string(), "TYPE65280");
        assert_eq!(Rcode(3).to_string(), "NXDOMAIN");
        assert_eq!(Rcode(16).to_string(), "BADVERS");
        assert_eq!(Rcode(4000).to_string(), "RCODE4000");
    }

    #[test]
    fn short_input_is_an_error() {
        assert_eq!(parse(&[], false), Err(ParseError::Short));
        assert_eq!(parse(&[0; 11], true), Err(ParseError::Short));
        // A bare header with no sections is a complete message.
        let m = parse(&[0; 12], false).unwrap();
        assert!(m.complete && m.question.is_none());
    }
}
