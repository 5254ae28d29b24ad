//! Which TCP payload bytes are new: a retransmitted segment crosses the
//! wire (and the capture) again, but the application sent its bytes once,
//! so counting every segment would inflate `tx_bytes`/`rx_bytes` by the
//! retransmissions. [`SeqTracker`] follows one direction of one connection
//! by sequence number: bytes past the highest seen are new; a segment that
//! jumps ahead leaves a hole, and bytes later filling a hole are new too
//! (a few holes are remembered; beyond that the oldest is forgotten, so a
//! very late fill is not counted). Sequence numbers compare modulo 2³².
//! Pure arithmetic, no I/O.

/// Holes remembered per direction of a connection.
const MAX_HOLES: usize = 4;

/// `a` comes after `b` in sequence space.
fn after(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) > 0
}

fn later(a: u32, b: u32) -> u32 {
    if after(a, b) {
        a
    } else {
        b
    }
}

fn earlier(a: u32, b: u32) -> u32 {
    if after(a, b) {
        b
    } else {
        a
    }
}

/// One direction of one TCP connection.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SeqTracker {
    /// One past the highest payload byte seen.
    next: Option<u32>,
    /// Ranges `[start, end)` skipped over, not seen yet.
    holes: Vec<(u32, u32)>,
}

impl SeqTracker {
    /// How many of a segment's `len` payload bytes are new. `seq` is the
    /// segment's sequence number; a SYN takes one number before the data.
    pub fn new_bytes(&mut self, seq: u32, len: u32, syn: bool) -> u32 {
        let start = seq.wrapping_add(u32::from(syn));
        if len == 0 {
            return 0;
        }
        let end = start.wrapping_add(len);
        let Some(next) = self.next else {
            // First payload seen (maybe mid-stream): all of it counts.
            self.next = Some(end);
            return len;
        };
        let mut new = 0;
        if after(end, next) {
            let from = if after(start, next) {
                self.add_hole(next, start);
                start
            } else {
                next
            };
            new += end.wrapping_sub(from);
            self.next = Some(end);
        }
        // The part at or before the old `next` may fill holes.
        if after(next, start) {
            new += self.fill(start, earlier(end, next));
        }
        new
    }

    fn add_hole(&mut self, start: u32, end: u32) {
        if self.holes.len() == MAX_HOLES {
            self.holes.remove(0);
        }
        self.holes.push((start, end));
    }

    /// Removes `[start, end)` from the holes; returns how much it covered.
    fn fill(&mut self, start: u32, end: u32) -> u32 {
        let mut filled = 0;
        let mut kept = Vec::with_capacity(self.holes.len() + 1);
        for &(hs, he) in &self.holes {
            let (a, b) = (later(start, hs), earlier(end, he));
            if !after(b, a) {
                kept.push((hs, he));
                continue;
            }
            filled += b.wrapping_sub(a);
            if after(a, hs) {
                kept.push((hs, a));
            }
            if after(he, b) {
                kept.push((b, he));
            }
        }
        kept.truncate(MAX_HOLES);
        self.holes = kept;
        filled
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_order_segments_all_count() {
        let mut t = SeqTracker::default();
        assert_eq!(t.new_bytes(1000, 0, true), 0); // SYN
        assert_eq!(t.new_bytes(1001, 100, false), 100);
        assert_eq!(t.new_bytes(1101, 50, false), 50);
    }

    #[test]
    fn retransmissions_count_once() {
        let mut t = SeqTracker::default();
        assert_eq!(t.new_bytes(0, 1000, false), 1000);
        assert_eq!(t.new_bytes(0, 1000, false), 0);
        // Overlapping: only the new tail.
        assert_eq!(t.new_bytes(500, 1000, false), 500);
        assert_eq!(t.new_bytes(1490, 10, false), 0);
    }

    #[test]
    fn holes_are_filled_once() {
        let mut t = SeqTracker::default();
        assert_eq!(t.new_bytes(0, 100, false), 100);
        // 100..200 lost before the capture point saw it.
        assert_eq!(t.new_bytes(200, 100, false), 100);
        assert_eq!(t.new_bytes(100, 100, false), 100);
        assert_eq!(t.new_bytes(100, 100, false), 0);
        // A fill that also extends past the end.
        assert_eq!(t.new_bytes(400, 10, false), 10); // hole 300..400
        assert_eq!(t.new_bytes(350, 100, false), 50 + 40);
        assert_eq!(t.new_bytes(300, 50, false), 50);
        assert_eq!(t.new_bytes(300, 150, false), 0);
    }

    #[test]
    fn sequence_numbers_wrap() {
        let mut t = SeqTracker::default();
        assert_eq!(t.new_bytes(u32::MAX - 9, 20, false), 20);
        assert_eq!(t.new_bytes(u32::MAX - 9, 20, false), 0);
        assert_eq!(t.new_bytes(10, 5, false), 5);
    }

    #[test]
    fn only_a_few_holes_are_remembered() {
        let mut t = SeqTracker::default();
        t.new_bytes(0, 10, false);
        for i in 1..=6u32 {
            assert_eq!(t.new_bytes(i * 20, 10, false), 10);
        }
        // The two oldest holes (10..20, 30..40) were forgotten.
        assert_eq!(t.new_bytes(10, 10, false), 0);
        assert_eq!(t.new_bytes(110, 10, false), 10);
    }
}
