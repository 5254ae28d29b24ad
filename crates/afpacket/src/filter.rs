//! The ring's classic BPF filter: how much of each packet is kept. Every
//! packet is kept (a filter returning 0 would hide it from the counts), cut
//! to its headers (`snap_len`), except TCP and UDP packets from or to a DNS
//! port, which keep `dns_snap_len` bytes so the DNS message itself reaches
//! the observatory. Nothing else ever carries payload into the ring.
//!
//! The link layer comes from the device type (`SKF_AD_HATYPE`): Ethernet
//! and loopback frames have the IP header at 14, raw-IP devices at 0; other
//! link types, VLAN tags still in the frame, IPv6 extension headers and
//! non-first fragments get the short snap. Every load is preceded by a
//! length check, so no load can fail (a failed load returns 0: the packet
//! would be dropped, uncounted). Offsets are absolute from the frame start,
//! which the kernel reads through `skb_header_pointer`, so headers need not
//! be in the skb's linear part.
//!
//! Written by hand because no crate assembles classic BPF for stable Rust
//! with labels; [`Program`] is a minimal assembler, and the tests run the
//! result in a small interpreter over real frames and random bytes.

use libc::sock_filter;

/// `SKF_AD_OFF + SKF_AD_HATYPE`: the device's `ARPHRD_*` type.
const AD_HATYPE: u32 = (-0x1000i32 + 28) as u32;
/// Link types whose frames start with a 14-byte Ethernet header.
const ETHERNET: [u32; 2] = [1, 772];
/// Link types whose frames start with the IP header.
const RAW_IP: [u32; 6] = [512, 519, 768, 769, 776, 0xfffe];
const ETH_LEN: u32 = 14;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Label {
    Snap,
    Dns,
    Raw,
    Ethernet,
    /// IPv4 at this link offset, and past its protocol check.
    Ipv4(u32),
    Ipv4L4(u32),
    /// IPv6 at this link offset, and past its next-header check.
    Ipv6(u32),
    Ipv6L4(u32),
    /// The ports, X holding the IP header's length.
    Ports(u32),
}

#[derive(Debug, Clone, Copy)]
enum Op {
    /// An instruction with no jump.
    Plain(u16, u32),
    /// `jmp code #k`, to `t` when true, `f` when false (`None`: next).
    Jump(u16, u32, Option<Label>, Option<Label>),
    Ja(Label),
    Mark(Label),
}

/// A list of instructions with symbolic jump targets.
#[derive(Debug, Default)]
struct Program(Vec<Op>);

const LD: u16 = libc::BPF_LD as u16;
const LDX: u16 = libc::BPF_LDX as u16;
const W: u16 = libc::BPF_W as u16;
const H: u16 = libc::BPF_H as u16;
const B: u16 = libc::BPF_B as u16;
const ABS: u16 = libc::BPF_ABS as u16;
const IND: u16 = libc::BPF_IND as u16;
const LEN: u16 = libc::BPF_LEN as u16;
const MSH: u16 = libc::BPF_MSH as u16;
const IMM: u16 = libc::BPF_IMM as u16;
const MEM: u16 = libc::BPF_MEM as u16;
const JMP: u16 = libc::BPF_JMP as u16;
const JEQ: u16 = JMP | libc::BPF_JEQ as u16;
const JGE: u16 = JMP | libc::BPF_JGE as u16;
const JSET: u16 = JMP | libc::BPF_JSET as u16;
const X: u16 = libc::BPF_X as u16;
const RET: u16 = libc::BPF_RET as u16;
const ALU_ADD: u16 = (libc::BPF_ALU | libc::BPF_ADD) as u16;
const TAX: u16 = (libc::BPF_MISC | libc::BPF_TAX) as u16;
const TXA: u16 = (libc::BPF_MISC | libc::BPF_TXA) as u16;
const STX: u16 = libc::BPF_STX as u16;

impl Program {
    fn op(&mut self, code: u16, k: u32) {
        self.0.push(Op::Plain(code, k));
    }
    fn jump(&mut self, code: u16, k: u32, t: Option<Label>, f: Option<Label>) {
        self.0.push(Op::Jump(code, k, t, f));
    }
    fn ja(&mut self, l: Label) {
        self.0.push(Op::Ja(l));
    }
    fn mark(&mut self, l: Label) {
        self.0.push(Op::Mark(l));
    }

    /// Resolves labels. Classic BPF jumps only forward, by at most 255
    /// instructions for conditional jumps; the programs built here are
    /// far shorter, and a backward or out-of-range jump is a bug caught by
    /// the tests.
    fn assemble(&self) -> Vec<sock_filter> {
        let mut at = std::collections::HashMap::new();
        let mut n = 0usize;
        for op in &self.0 {
            match op {
                Op::Mark(l) => {
                    at.insert(*l, n);
                }
                _ => n += 1,
            }
        }
        let mut out = Vec::with_capacity(n);
        for op in &self.0 {
            let pc = out.len();
            let rel = |l: &Label| -> u32 {
                let to = at[l];
                assert!(to > pc, "classic BPF jumps forward only");
                (to - pc - 1) as u32
            };
            let ins = |code, jt, jf, k| sock_filter { code, jt, jf, k };
            match op {
                Op::Mark(_) => continue,
                Op::Plain(code, k) => out.push(ins(*code, 0, 0, *k)),
                Op::Ja(l) => out.push(ins(JMP | libc::BPF_JA as u16, 0, 0, rel(l))),
                Op::Jump(code, k, t, f) => {
                    let short = |l: &Option<Label>| -> u8 {
                        l.as_ref().map_or(0, |l| {
                            u8::try_from(rel(l)).expect("conditional jump within 255")
                        })
                    };
                    out.push(ins(*code, short(t), short(f), *k));
                }
            }
        }
        out
    }
}

/// The filter for a ring: `ret #snap_len` alone without DNS ports.
pub(crate) fn build(snap_len: u32, dns_ports: &[u16], dns_snap_len: u32) -> Vec<sock_filter> {
    let mut p = Program::default();
    if dns_ports.is_empty() {
        p.op(RET, snap_len);
        return p.assemble();
    }
    p.op(LD | W | ABS, AD_HATYPE);
    for t in ETHERNET {
        p.jump(JEQ, t, Some(Label::Ethernet), None);
    }
    for t in RAW_IP {
        p.jump(JEQ, t, Some(Label::Raw), None);
    }
    p.ja(Label::Snap);

    // Raw IP: the version nibble says which header follows.
    p.mark(Label::Raw);
    p.op(LD | W | LEN, 0);
    p.jump(JGE, 20, None, Some(Label::Snap));
    p.op(LD | B | ABS, 0);
    p.op((libc::BPF_ALU | libc::BPF_RSH) as u16, 4);
    p.jump(JEQ, 4, Some(Label::Ipv4(0)), None);
    p.jump(JEQ, 6, Some(Label::Ipv6(0)), Some(Label::Snap));

    // Ethernet: the EtherType (the frame is at least 14 + 20 long first).
    p.mark(Label::Ethernet);
    p.op(LD | W | LEN, 0);
    p.jump(JGE, ETH_LEN + 20, None, Some(Label::Snap));
    p.op(LD | H | ABS, 12);
    p.jump(JEQ, 0x0800, Some(Label::Ipv4(ETH_LEN)), None);
    p.jump(JEQ, 0x86dd, Some(Label::Ipv6(ETH_LEN)), Some(Label::Snap));

    for link in [0, ETH_LEN] {
        ipv4(&mut p, link);
        ipv6(&mut p, link);
        ports(&mut p, link, dns_ports);
    }
    p.mark(Label::Snap);
    p.op(RET, snap_len);
    p.mark(Label::Dns);
    p.op(RET, dns_snap_len);
    p.assemble()
}

/// IPv4 at `link` (at least 20 bytes there): TCP or UDP, not a later
/// fragment, the ports in the frame; then X = the IP header's length.
fn ipv4(p: &mut Program, link: u32) {
    p.mark(Label::Ipv4(link));
    p.op(LD | B | ABS, link + 9);
    p.jump(JEQ, 17, Some(Label::Ipv4L4(link)), None);
    p.jump(JEQ, 6, None, Some(Label::Snap));
    p.mark(Label::Ipv4L4(link));
    p.op(LD | H | ABS, link + 6);
    p.jump(JSET, 0x1fff, Some(Label::Snap), None);
    // X = 4 * IHL; frame length ≥ link + X + 4 (both ports)?
    p.op(LDX | B | MSH, link);
    p.op(STX, 0);
    p.op(TXA, 0);
    p.op(ALU_ADD | libc::BPF_K as u16, link + 4);
    p.op(TAX, 0);
    p.op(LD | W | LEN, 0);
    p.jump(JGE | X, 0, None, Some(Label::Snap));
    p.op(LDX | MEM, 0);
    p.ja(Label::Ports(link));
}

/// IPv6 at `link`: TCP or UDP right after the fixed header (extension
/// headers get the short snap); then X = 40.
fn ipv6(p: &mut Program, link: u32) {
    p.mark(Label::Ipv6(link));
    p.op(LD | W | LEN, 0);
    p.jump(JGE, link + 40 + 4, None, Some(Label::Snap));
    p.op(LD | B | ABS, link + 6);
    p.jump(JEQ, 17, Some(Label::Ipv6L4(link)), None);
    p.jump(JEQ, 6, None, Some(Label::Snap));
    p.mark(Label::Ipv6L4(link));
    p.op(LDX | W | IMM, 40);
}

/// With X = the IP header's length: either port a DNS port?
fn ports(p: &mut Program, link: u32, dns_ports: &[u16]) {
    p.mark(Label::Ports(link));
    for off in [0, 2] {
        p.op(LD | H | IND, link + off);
        for port in dns_ports {
            p.jump(JEQ, u32::from(*port), Some(Label::Dns), None);
        }
    }
    p.ja(Label::Snap);
}

#[cfg(test)]
#[path = "filter_tests.rs"]
mod tests;
