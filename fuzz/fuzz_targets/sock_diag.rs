//! cargo-fuzz (libFuzzer, nightly) entry for the `sock_diag` target; what it
//! checks is documented on `netoproc_fuzz_stable::targets::sock_diag`, which the
//! stable runs (`cargo test`, `fuzz-stable`) call too.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| netoproc_fuzz_stable::targets::sock_diag(data));
