//! The fuzz targets, briefly, as part of `cargo test`: every target replays
//! its corpus and then runs on mutated inputs for two seconds, from mutator
//! seed 1, so a failure is reproduced by `fuzz-stable <target> --seed 1`.
//! A panic fails the test with the input, in hex. The long runs are
//! `fuzz-stable`'s (see BENCHMARKS.md).

use std::time::Duration;

use netoproc_fuzz_stable::campaign::{run, Limit};
use netoproc_fuzz_stable::targets::{by_name, Target};

const SECONDS: u64 = 2;

fn short_run(name: &str) {
    let target = by_name(name).expect("a target");
    let seeds = (target.seeds)();
    assert!(seeds.len() >= 5, "{name}: only {} seeds", seeds.len());
    let o = run(target, &seeds, 1, Limit::Time(Duration::from_secs(SECONDS)));
    if let Some(c) = o.crash {
        panic!("{name} panicked: {}\ninput: {:02x?}", c.message, c.input);
    }
    assert!(
        o.executions > seeds.len() as u64 + 1_000,
        "{name}: only {} executions in {SECONDS} s",
        o.executions
    );
}

#[test]
fn dns_message() {
    short_run("dns_message");
}

#[test]
fn parse_frame() {
    short_run("parse_frame");
}

#[test]
fn proc_files() {
    short_run("proc_files");
}

#[test]
fn sock_diag() {
    short_run("sock_diag");
}

#[test]
fn bpf_records() {
    short_run("bpf_records");
}

#[test]
fn a_panicking_target_is_caught_with_its_input() {
    fn picky(data: &[u8]) {
        assert!(!data.starts_with(b"np"), "starts with np");
    }
    let target = Target {
        name: "picky",
        run: picky,
        max_len: 8,
        seeds: Vec::new,
    };
    let seeds = vec![b"xp".to_vec(), b"nq".to_vec()];
    let o = run(&target, &seeds, 1, Limit::Executions(1_000_000));
    let crash = o.crash.expect("the mutator finds `np`");
    assert!(crash.input.starts_with(b"np"));
    assert_eq!(crash.message, "starts with np");
}
