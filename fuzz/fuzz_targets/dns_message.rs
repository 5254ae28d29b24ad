//! Fuzzes `netoproc_dns::parse` and DNS-over-TCP framing: the whole input
//! is parsed as a message, whole and as a cut copy; then the first byte
//! picks where to split the rest into two TCP segments (the second with a
//! hole), and every framed message is parsed too. Any panic is a bug; a
//! message parsed whole must say so, and a cut one never claims to be whole
//! unless every section was read.
#![no_main]

use libfuzzer_sys::fuzz_target;
use netoproc_core::SocketCookie;
use netoproc_dns::{parse, StreamKey, TcpFrames};

fuzz_target!(|data: &[u8]| {
    if let Ok(m) = parse(data, false) {
        assert!(m.complete);
        assert!(m.answers.len() <= usize::from(m.answer_count));
    }
    let _ = parse(data, true);

    let Some((&split, rest)) = data.split_first() else {
        return;
    };
    let at = usize::from(split).min(rest.len());
    let key = StreamKey {
        cookie: SocketCookie(1),
        outgoing: true,
    };
    let mut frames = TcpFrames::new(2);
    let mut emit = |m: &[u8], cut: bool| {
        let _ = parse(m, cut);
    };
    frames.feed(key, 0, &rest[..at], 0, &mut emit);
    frames.feed(key, 1, &rest[at..], usize::from(split), &mut emit);
});
