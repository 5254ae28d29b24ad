//! Derives fuzz inputs from a corpus: most are a seed changed in one to
//! eight places (bits flipped, bytes set to random or boundary values,
//! 16- and 32-bit fields set to boundary values in either byte order,
//! ranges deleted, repeated or inserted, a piece of another seed spliced
//! in), some are random bytes. Deterministic for a given seed number, so a
//! run can be repeated.
//!
//! Hand-written: the mutators that exist (libFuzzer's, AFL's) come with
//! their engines, which need nightly or a C toolchain; this is the part of
//! them a corpus-driven run needs, in under a hundred lines.

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

/// Bytes that sit on boundaries parsers check: zero, one, sign bits, all
/// ones, a DNS compression pointer, a netlink type.
const INTERESTING_U8: [u8; 8] = [0, 1, 0x3f, 0x40, 0x7f, 0x80, 0xc0, 0xff];
/// The same for 16- and 32-bit fields (cut to the field's width).
const INTERESTING_WORDS: [u32; 11] = [
    0,
    1,
    12,
    512,
    0x7fff,
    0x8000,
    0xffff,
    65_536,
    0x7fff_ffff,
    0x8000_0000,
    0xffff_ffff,
];

/// A source of fuzz inputs, seeded.
pub struct Mutator {
    rng: StdRng,
}

impl Mutator {
    pub fn new(seed: u64) -> Self {
        Mutator {
            rng: StdRng::seed_from_u64(seed),
        }
    }

    /// Writes the next input, at most `max_len` bytes, into `out`.
    pub fn next_input(&mut self, seeds: &[Vec<u8>], max_len: usize, out: &mut Vec<u8>) {
        out.clear();
        if seeds.is_empty() || self.rng.random_ratio(1, 16) {
            let len = self.rng.random_range(0..=max_len.min(256));
            out.extend((0..len).map(|_| self.rng.random::<u8>()));
            return;
        }
        out.extend_from_slice(&seeds[self.rng.random_range(0..seeds.len())]);
        for _ in 0..self.rng.random_range(1..=8) {
            self.mutate_once(out, seeds);
        }
        out.truncate(max_len);
    }

    fn mutate_once(&mut self, buf: &mut Vec<u8>, seeds: &[Vec<u8>]) {
        let len = buf.len();
        let at = if len == 0 {
            0
        } else {
            self.rng.random_range(0..len)
        };
        match self.rng.random_range(0..10) {
            0 if len > 0 => buf[at] ^= 1 << self.rng.random_range(0..8),
            1 if len > 0 => buf[at] = self.rng.random(),
            2 if len > 0 => buf[at] = INTERESTING_U8[self.rng.random_range(0..8)],
            3 if len > 0 => {
                let d = self.rng.random_range(1..=16u8);
                buf[at] = if self.rng.random() {
                    buf[at].wrapping_add(d)
                } else {
                    buf[at].wrapping_sub(d)
                };
            }
            4 | 5 => {
                // A boundary value as a 16- or 32-bit field, either order.
                let width = if self.rng.random() { 2 } else { 4 };
                if len < width {
                    return;
                }
                let v = INTERESTING_WORDS[self.rng.random_range(0..INTERESTING_WORDS.len())];
                let at = at.min(len - width);
                let field = if self.rng.random() {
                    v.to_be_bytes()[4 - width..].to_vec()
                } else {
                    v.to_le_bytes()[..width].to_vec()
                };
                buf[at..at + width].copy_from_slice(&field);
            }
            6 if len > 0 => {
                let n = self.rng.random_range(1..=(len - at).min(64));
                buf.drain(at..at + n);
            }
            7 if len > 0 => {
                let n = self.rng.random_range(1..=(len - at).min(64));
                let piece = buf[at..at + n].to_vec();
                let to = self.rng.random_range(0..=len);
                buf.splice(to..to, piece);
            }
            8 => {
                let n = self.rng.random_range(1..=16);
                let random: Vec<u8> = (0..n).map(|_| self.rng.random()).collect();
                buf.splice(at..at, random);
            }
            _ => {
                let other = &seeds[self.rng.random_range(0..seeds.len())];
                if other.is_empty() {
                    return;
                }
                let from = self.rng.random_range(0..other.len());
                let n = self.rng.random_range(1..=(other.len() - from).min(128));
                let end = (at + n).min(len);
                buf.splice(at..end, other[from..from + n].iter().copied());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inputs_stay_within_the_length_and_repeat_for_a_seed() {
        let seeds = vec![vec![7u8; 100], b"netoproc".to_vec(), Vec::new()];
        let draw = |seed| {
            let mut m = Mutator::new(seed);
            let mut out = Vec::new();
            (0..1000)
                .map(|_| {
                    m.next_input(&seeds, 64, &mut out);
                    assert!(out.len() <= 64);
                    out.clone()
                })
                .collect::<Vec<_>>()
        };
        let (a, b) = (draw(1), draw(1));
        assert_eq!(a, b);
        assert_ne!(a, draw(2));
        let changed = a.iter().filter(|i| !seeds.contains(i)).count();
        assert!(
            changed > 900,
            "most inputs differ from every seed: {changed}"
        );
    }
}
