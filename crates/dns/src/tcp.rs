//! DNS over TCP: each message is preceded by its 2-byte length, and the
//! kernel hands over segments as they pass the socket, so one segment may
//! hold part of a message, its length prefix alone, or several messages.
//! [`TcpFrames`] rebuilds the messages of each (socket, direction) stream.
//!
//! A segment longer than the kernel copied leaves a hole of known size: a
//! message running into it is handed on cut (the parser keeps what came
//! before), and when the hole swallows a length prefix the stream has lost
//! its framing; it starts again at the next segment, which in practice is
//! where DNS clients and servers begin their writes. Memory is bounded: at
//! most [`MAX_FRAME_KEPT`] bytes of a message are held (the rest is counted,
//! not kept) and at most a fixed number of streams, the least recently
//! active evicted first. Segments carry their TCP sequence number where the
//! capture knows it: a retransmitted segment (seen before, at the socket
//! or on the wire) is skipped, the new part of an overlapping one kept, and
//! a segment after a gap (bytes never seen) starts the framing afresh.

use std::collections::HashMap;

use netoproc_core::SocketCookie;

/// Bytes of one message (length prefix included) held for parsing.
pub const MAX_FRAME_KEPT: usize = 4096 + 2;

/// One direction of one TCP socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct StreamKey {
    /// The TCP socket.
    pub cookie: SocketCookie,
    /// The direction: sent by the local socket (`true`) or received.
    pub outgoing: bool,
}

/// What the reassembler dropped or could not frame.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TcpLosses {
    /// Times a stream lost its framing (a hole over a length prefix).
    pub desyncs: u64,
    /// Streams dropped to stay within bounds while holding a partial message.
    pub evicted: u64,
    /// Segments skipped whole as retransmissions.
    pub retransmits: u64,
}

#[derive(Debug, Default)]
struct Stream {
    /// The current message's bytes, length prefix first.
    buf: Vec<u8>,
    /// Bytes of the current message seen but not held: not copied by the
    /// kernel, or past [`MAX_FRAME_KEPT`]. Once non-zero, nothing more is
    /// appended (it would not follow on from what is held).
    missing: usize,
    /// Framing lost: start afresh at the next segment.
    lost: bool,
    last_ns: u64,
    /// The sequence number after the last byte seen, when known.
    next_seq: Option<u32>,
}

impl Stream {
    fn reset(&mut self) {
        self.buf.clear();
        self.missing = 0;
    }

    /// Total frame length (prefix included), once the prefix is held.
    fn frame_len(&self) -> Option<usize> {
        (self.buf.len() >= 2)
            .then(|| 2 + usize::from(u16::from_be_bytes([self.buf[0], self.buf[1]])))
    }

    fn have(&self) -> usize {
        self.buf.len() + self.missing
    }

    fn take(&mut self, bytes: &[u8]) {
        if self.missing == 0 && self.buf.len() + bytes.len() <= MAX_FRAME_KEPT {
            self.buf.extend_from_slice(bytes);
        } else {
            let room = if self.missing == 0 {
                MAX_FRAME_KEPT.saturating_sub(self.buf.len())
            } else {
                0
            };
            self.buf.extend_from_slice(&bytes[..room]);
            self.missing += bytes.len() - room;
        }
    }
}

/// Rebuilds DNS messages from the segments of many TCP streams.
#[derive(Debug)]
pub struct TcpFrames {
    streams: HashMap<StreamKey, Stream>,
    max_streams: usize,
    losses: TcpLosses,
}

impl TcpFrames {
    /// No streams yet; at most `max_streams` (at least 1) held at once.
    pub fn new(max_streams: usize) -> Self {
        TcpFrames {
            streams: HashMap::new(),
            max_streams: max_streams.max(1),
            losses: TcpLosses::default(),
        }
    }

    /// What was cut, dropped or lost its framing so far.
    pub fn losses(&self) -> TcpLosses {
        self.losses
    }

    /// Streams held now.
    pub fn stream_count(&self) -> usize {
        self.streams.len()
    }

    /// Feeds one segment: `data` as copied, followed by `hole` more bytes
    /// the kernel did not copy; `seq` is the TCP sequence number of its
    /// first byte, if known. Calls `emit(message, cut)` for each message
    /// it completes (`cut`: only a prefix of the message is given).
    pub fn feed(
        &mut self,
        key: StreamKey,
        ktime_ns: u64,
        seq: Option<u32>,
        data: &[u8],
        hole: usize,
        emit: &mut dyn FnMut(&[u8], bool),
    ) {
        if !self.streams.contains_key(&key) && self.streams.len() >= self.max_streams {
            self.evict_oldest();
        }
        let s = self.streams.entry(key).or_default();
        s.last_ns = s.last_ns.max(ktime_ns);
        let (mut data, mut hole) = (data, hole);
        if let Some(seq) = seq {
            let len = data.len() + hole;
            let end = seq.wrapping_add(len as u32);
            if let Some(next) = s.next_seq {
                // > 0: this segment starts before bytes already seen.
                let behind = next.wrapping_sub(seq) as i32;
                if behind > 0 {
                    let behind = behind as usize;
                    if behind >= len {
                        self.losses.retransmits += 1;
                        return;
                    }
                    let from_data = behind.min(data.len());
                    data = &data[from_data..];
                    hole -= behind - from_data;
                } else if behind < 0 && !s.lost {
                    // Bytes between were never seen: the framing is gone.
                    s.lost = true;
                    self.losses.desyncs += 1;
                }
            }
            s.next_seq = Some(end);
        }
        if s.lost {
            s.reset();
            s.lost = false;
        }
        let mut rest = data;
        while !rest.is_empty() {
            let want = match s.frame_len() {
                None => 2 - s.buf.len(),
                Some(total) => total - s.have(),
            };
            let n = want.min(rest.len());
            s.take(&rest[..n]);
            rest = &rest[n..];
            if s.frame_len().is_some_and(|total| s.have() == total) {
                emit(&s.buf[2..], s.missing > 0);
                s.reset();
            }
        }
        if hole == 0 {
            return;
        }
        match s.frame_len() {
            Some(total) if hole < total - s.have() => s.missing += hole,
            Some(total) => {
                let left = hole - (total - s.have());
                emit(&s.buf[2..], true);
                s.reset();
                if left > 0 {
                    s.lost = true;
                    self.losses.desyncs += 1;
                }
            }
            None => {
                s.reset();
                s.lost = true;
                self.losses.desyncs += 1;
            }
        }
    }

    /// Forgets streams idle since before `before_ns` (connections that
    /// ended, possibly mid-message).
    pub fn forget_idle(&mut self, before_ns: u64) {
        let losses = &mut self.losses;
        self.streams.retain(|_, s| {
            let keep = s.last_ns >= before_ns;
            if !keep && s.have() > 0 {
                losses.evicted += 1;
            }
            keep
        });
    }

    fn evict_oldest(&mut self) {
        let oldest = self
            .streams
            .iter()
            .min_by_key(|(_, s)| s.last_ns)
            .map(|(k, _)| *k);
        if let Some(k) = oldest {
            if self.streams.remove(&k).is_some_and(|s| s.have() > 0) {
                self.losses.evicted += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const K: StreamKey = StreamKey {
        cookie: SocketCookie(1),
        outgoing: true,
    };

    fn frames(t: &mut TcpFrames, segs: &[(&[u8], usize)]) -> Vec<(Vec<u8>, bool)> {
        let mut out = Vec::new();
        for (i, (data, hole)) in segs.iter().enumerate() {
            t.feed(K, i as u64, None, data, *hole, &mut |m, cut| {
                out.push((m.to_vec(), cut))
            });
        }
        out
    }

    fn with_seq(t: &mut TcpFrames, segs: &[(u32, &[u8])]) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        for (i, (seq, data)) in segs.iter().enumerate() {
            t.feed(K, i as u64, Some(*seq), data, 0, &mut |m, _| {
                out.push(m.to_vec())
            });
        }
        out
    }

    #[test]
    fn retransmissions_keep_the_framing() {
        let mut t = TcpFrames::new(4);
        // "\0\3abc" "\0\1x": the first part twice, then again with more.
        let got = with_seq(
            &mut t,
            &[
                (100, &[0, 3, b'a']),
                (100, &[0, 3, b'a']),
                (100, &[0, 3, b'a', b'b', b'c', 0]),
                (106, &[1, b'x']),
            ],
        );
        assert_eq!(got, vec![b"abc".to_vec(), b"x".to_vec()]);
        assert_eq!((t.losses().retransmits, t.losses().desyncs), (1, 0));
    }

    #[test]
    fn a_gap_restarts_the_framing_at_the_segment_after_it() {
        let mut t = TcpFrames::new(4);
        // Sequence numbers wrap: 2^32 - 2 is just before 0.
        let got = with_seq(
            &mut t,
            &[
                (u32::MAX - 1, &[0, 4, b'a']),
                // Bytes 1..3 never seen; this segment starts a message.
                (3, &[0, 1, b'z']),
            ],
        );
        assert_eq!(got, vec![b"z".to_vec()]);
        assert_eq!(t.losses().desyncs, 1);
    }

    #[test]
    fn prefix_split_from_its_message() {
        let mut t = TcpFrames::new(4);
        let got = frames(&mut t, &[(&[0], 0), (&[3, b'a', b'b'], 0), (b"c", 0)]);
        assert_eq!(got, vec![(b"abc".to_vec(), false)]);
    }

    #[test]
    fn two_messages_and_a_half_in_one_segment() {
        let mut t = TcpFrames::new(4);
        let got = frames(
            &mut t,
            &[(&[0, 1, b'x', 0, 2, b'y', b'z', 0, 1], 0), (b"w", 0)],
        );
        assert_eq!(
            got,
            vec![
                (b"x".to_vec(), false),
                (b"yz".to_vec(), false),
                (b"w".to_vec(), false)
            ]
        );
    }

    #[test]
    fn hole_inside_a_message_hands_it_on_cut() {
        let mut t = TcpFrames::new(4);
        // 6-byte message: 2 copied, 2 not, then the last 2 in a new segment.
        let got = frames(
            &mut t,
            &[(&[0, 6, b'a', b'b'], 2), (&[b'e', b'f', 0, 1, b'n'], 0)],
        );
        assert_eq!(got, vec![(b"ab".to_vec(), true), (b"n".to_vec(), false)]);
        assert_eq!(t.losses().desyncs, 0);
    }

    #[test]
    fn hole_over_the_next_prefix_resyncs_at_the_next_segment() {
        let mut t = TcpFrames::new(4);
        let got = frames(&mut t, &[(&[0, 2, b'a'], 5), (&[0, 1, b'z'], 0)]);
        assert_eq!(got, vec![(b"a".to_vec(), true), (b"z".to_vec(), false)]);
        assert_eq!(t.losses().desyncs, 1);
    }

    #[test]
    fn long_messages_keep_only_a_bounded_prefix() {
        let mut t = TcpFrames::new(4);
        let mut seg = vec![0x20, 0x00]; // 8192 bytes
        seg.resize(2 + 8192, 7);
        let got = frames(&mut t, &[(&seg, 0)]);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].0.len(), MAX_FRAME_KEPT - 2);
        assert!(got[0].1);
    }

    #[test]
    fn streams_are_bounded_and_directions_separate() {
        let mut t = TcpFrames::new(2);
        let mut sink = |_: &[u8], _: bool| {};
        t.feed(K, 1, None, &[0, 9], 0, &mut sink);
        t.feed(
            StreamKey {
                outgoing: false,
                ..K
            },
            2,
            None,
            &[0, 9],
            0,
            &mut sink,
        );
        t.feed(
            StreamKey {
                cookie: SocketCookie(2),
                outgoing: true,
            },
            3,
            None,
            &[0],
            0,
            &mut sink,
        );
        assert_eq!(t.stream_count(), 2);
        assert_eq!(t.losses().evicted, 1);
        t.forget_idle(3);
        assert_eq!(t.stream_count(), 1);
    }
}
