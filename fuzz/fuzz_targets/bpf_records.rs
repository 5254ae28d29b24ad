//! cargo-fuzz (libFuzzer, nightly) entry for the `bpf_records` target; what it
//! checks is documented on `netoproc_fuzz_stable::targets::bpf_records`, which the
//! stable runs (`cargo test`, `fuzz-stable`) call too.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| netoproc_fuzz_stable::targets::bpf_records(data));
