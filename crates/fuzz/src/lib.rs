//! netoproc's fuzzing on stable Rust. Every parser of untrusted bytes has a
//! target here ([`targets`]): DNS messages and their TCP framing, captured
//! frames' packet headers, `/proc` files and netlink answers (proc
//! connector, sock_diag), and the BPF programs' ring-buffer records and
//! map dumps. [`campaign::run`] replays a target's corpus of real bytes
//! ([`corpus`]), then feeds it inputs a seeded [`mutate::Mutator`] derives
//! from that corpus, and reports the first panic with the input that
//! caused it. `cargo test` runs every target for a few seconds
//! (`tests/short_run.rs`); the `fuzz-stable` binary runs as long as asked.
//!
//! Why not cargo-fuzz: libFuzzer needs nightly's sanitizer flags, and this
//! must run wherever the project builds. The cargo-fuzz targets in
//! `fuzz/fuzz_targets` call the same target functions, for coverage-guided
//! runs where nightly is at hand. What this loses against libFuzzer is
//! coverage feedback; what it keeps is real seeds and structure-aware
//! mutations, which is what gets past a DNS header or a netlink frame.

pub mod campaign;
pub mod corpus;
pub mod mutate;
pub mod targets;
