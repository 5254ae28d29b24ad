//! cargo-fuzz (libFuzzer, nightly) entry for the `parse_frame` target; what it
//! checks is documented on `netoproc_fuzz_stable::targets::parse_frame`, which the
//! stable runs (`cargo test`, `fuzz-stable`) call too.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| netoproc_fuzz_stable::targets::parse_frame(data));
