//! The filter run in a classic BPF interpreter (the subset it uses, with
//! the kernel's rule that a load outside the packet ends the program with
//! 0) over frames built with etherparse and over random bytes.

use etherparse::PacketBuilder;
use proptest::prelude::*;

use super::*;

const SNAP: u32 = 128;
const DNS_SNAP: u32 = 1536;

/// Runs `prog` over `pkt` from a device of type `hatype`.
fn run(prog: &[sock_filter], pkt: &[u8], hatype: u32) -> u32 {
    let (mut a, mut x, mut mem) = (0u32, 0u32, [0u32; 16]);
    let mut pc = 0usize;
    let load = |at: u32, size: usize| -> Option<u32> {
        if at == AD_HATYPE && size == 4 {
            return Some(hatype);
        }
        let at = at as usize;
        let b = pkt.get(at..at.checked_add(size)?)?;
        Some(b.iter().fold(0, |v, byte| (v << 8) | u32::from(*byte)))
    };
    for _ in 0..prog.len() {
        let i = prog[pc];
        pc += 1;
        let size = |code: u16| match code & 0x18 {
            c if c == W => 4,
            c if c == H => 2,
            _ => 1,
        };
        let class = i.code & 0x07;
        let mode = i.code & 0xe0;
        match class {
            c if c == LD => {
                a = match mode {
                    m if m == ABS => match load(i.k, size(i.code)) {
                        Some(v) => v,
                        None => return 0,
                    },
                    m if m == IND => match load(x.wrapping_add(i.k), size(i.code)) {
                        Some(v) => v,
                        None => return 0,
                    },
                    m if m == LEN => pkt.len() as u32,
                    other => panic!("unsupported ld mode {other:#x}"),
                }
            }
            c if c == LDX => {
                x = match mode {
                    m if m == IMM => i.k,
                    m if m == MEM => mem[i.k as usize],
                    m if m == MSH => match load(i.k, 1) {
                        Some(v) => 4 * (v & 0xf),
                        None => return 0,
                    },
                    other => panic!("unsupported ldx mode {other:#x}"),
                }
            }
            c if c == STX => mem[i.k as usize] = x,
            c if c == libc::BPF_ALU as u16 => match i.code & 0xf0 {
                op if op == libc::BPF_ADD as u16 => a = a.wrapping_add(i.k),
                op if op == libc::BPF_RSH as u16 => a >>= i.k,
                other => panic!("unsupported alu op {other:#x}"),
            },
            c if c == libc::BPF_MISC as u16 => match i.code {
                c if c == TAX => x = a,
                c if c == TXA => a = x,
                other => panic!("unsupported misc {other:#x}"),
            },
            c if c == RET => return i.k,
            c if c == JMP => {
                let operand = if i.code & X != 0 { x } else { i.k };
                let taken = match i.code & 0xf0 {
                    op if op == libc::BPF_JA as u16 => {
                        pc += i.k as usize;
                        continue;
                    }
                    op if op == libc::BPF_JEQ as u16 => a == operand,
                    op if op == libc::BPF_JGE as u16 => a >= operand,
                    op if op == libc::BPF_JSET as u16 => a & operand != 0,
                    other => panic!("unsupported jump {other:#x}"),
                };
                pc += usize::from(if taken { i.jt } else { i.jf });
            }
            other => panic!("unsupported class {other:#x}"),
        }
    }
    panic!("ran off the end of the program");
}

fn prog(ports: &[u16]) -> Vec<sock_filter> {
    build(SNAP, ports, DNS_SNAP)
}

fn eth() -> etherparse::PacketBuilderStep<etherparse::Ethernet2Header> {
    PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
}

fn udp4(sport: u16, dport: u16) -> Vec<u8> {
    let mut v = Vec::new();
    eth()
        .ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
        .udp(sport, dport)
        .write(&mut v, &[0; 40])
        .unwrap();
    v
}

fn tcp6(sport: u16, dport: u16) -> Vec<u8> {
    let mut v = Vec::new();
    eth()
        .ipv6([0xfd; 16], [0xfe; 16], 64)
        .tcp(sport, dport, 1, 1000)
        .write(&mut v, &[0; 40])
        .unwrap();
    v
}

#[test]
fn without_ports_every_packet_is_snapped() {
    let p = prog(&[]);
    assert_eq!(p.len(), 1);
    assert_eq!(run(&p, &udp4(4000, 53), 1), SNAP);
}

#[test]
fn dns_ports_either_way_keep_the_message() {
    let p = prog(&[53, 5353]);
    assert_eq!(run(&p, &udp4(4000, 53), 1), DNS_SNAP);
    assert_eq!(run(&p, &udp4(53, 4000), 772), DNS_SNAP);
    assert_eq!(run(&p, &udp4(4000, 5353), 1), DNS_SNAP);
    assert_eq!(run(&p, &tcp6(4000, 53), 1), DNS_SNAP);
    assert_eq!(run(&p, &tcp6(53, 4000), 772), DNS_SNAP);
    assert_eq!(run(&p, &udp4(4000, 80), 1), SNAP);
    assert_eq!(run(&p, &tcp6(443, 4000), 1), SNAP);
    // An unknown link type: headers only.
    assert_eq!(run(&p, &udp4(4000, 53), 778), SNAP);
}

#[test]
fn raw_ip_devices_and_ip_options() {
    let p = prog(&[53]);
    let mut v = Vec::new();
    PacketBuilder::ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
        .udp(4000, 53)
        .write(&mut v, &[0; 10])
        .unwrap();
    assert_eq!(run(&p, &v, 0xfffe), DNS_SNAP);
    assert_eq!(run(&p, &v, 1), SNAP, "read as Ethernet it is no IP");
    let mut v6 = Vec::new();
    PacketBuilder::ipv6([0xfd; 16], [0xfe; 16], 64)
        .udp(53, 4000)
        .write(&mut v6, &[0; 10])
        .unwrap();
    assert_eq!(run(&p, &v6, 519), DNS_SNAP);

    // IPv4 with 8 bytes of options: the ports move, and are still found.
    let mut opt = udp4(4000, 53);
    opt[14] = 0x47;
    opt.splice(34..34, [1u8; 8]);
    assert_eq!(run(&p, &opt, 1), DNS_SNAP);
}

#[test]
fn later_fragments_and_short_frames_get_the_short_snap() {
    let p = prog(&[53]);
    let mut frag = udp4(4000, 53);
    frag[14 + 7] = 0x10; // fragment offset 16
    assert_eq!(run(&p, &frag, 1), SNAP);
    let whole = udp4(4000, 53);
    // Both ports end at 14 + 20 + 4 = 38 bytes.
    for n in 0..38 {
        assert_eq!(run(&p, &whole[..n], 1), SNAP, "cut to {n}");
    }
    assert_eq!(run(&p, &whole[..38], 1), DNS_SNAP);
}

proptest! {
    /// No input makes the filter return 0 (drop the packet uncounted) or
    /// anything but one of the two snap lengths.
    #[test]
    fn every_packet_is_kept(bytes in proptest::collection::vec(any::<u8>(), 0..120),
                            hatype in prop_oneof![Just(1u32), Just(772), Just(0xfffe), Just(776), any::<u32>()]) {
        let r = run(&prog(&[53, 853, 5353]), &bytes, hatype);
        prop_assert!(r == SNAP || r == DNS_SNAP);
    }
}
