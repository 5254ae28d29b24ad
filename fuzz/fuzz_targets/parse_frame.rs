//! Fuzzes `netoproc_wire::parse_frame`: the first byte picks the link type,
//! the next four the original length, the rest is the frame. Any panic is a
//! bug; an accepted frame must have `payload_len <= ip_len`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use netoproc_wire::{parse_frame, LinkType};

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let Some((len, frame)) = rest.split_first_chunk::<4>() else {
        return;
    };
    let link = if selector & 1 == 0 {
        LinkType::Ethernet
    } else {
        LinkType::RawIp
    };
    if let Ok(p) = parse_frame(link, frame, u32::from_le_bytes(*len)) {
        assert!(p.payload_len <= p.ip_len);
    }
});
