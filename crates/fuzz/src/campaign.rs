//! One fuzzing run of one target: every corpus seed first, then mutated
//! inputs until a number of executions or a time is reached, stopping at
//! the first panic with the input that caused it. Panics are caught
//! (`catch_unwind`), so a build with `panic = "abort"` cannot run this.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::{Duration, Instant};

use crate::mutate::Mutator;
use crate::targets::Target;

/// When a run stops (unless a panic stops it first).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    Executions(u64),
    Time(Duration),
}

/// A panic and the input that caused it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Crash {
    pub input: Vec<u8>,
    pub message: String,
}

/// What a run did.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// Inputs the target was called with, seeds included.
    pub executions: u64,
    pub elapsed: Duration,
    pub crash: Option<Crash>,
}

/// Runs `target` from mutator seed `seed` until `limit`.
pub fn run(target: &Target, seeds: &[Vec<u8>], seed: u64, limit: Limit) -> Outcome {
    let started = Instant::now();
    let mut executions = 0u64;
    let done = |executions: u64| match limit {
        Limit::Executions(n) => executions >= n,
        // Reading the clock every 256 inputs keeps it out of the profile.
        Limit::Time(t) => executions.is_multiple_of(256) && started.elapsed() >= t,
    };
    let crash = |input: &[u8]| -> Option<Crash> {
        let caught = catch_unwind(AssertUnwindSafe(|| (target.run)(input))).err()?;
        let message = caught
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| caught.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a panic without a message".to_string());
        Some(Crash {
            input: input.to_vec(),
            message,
        })
    };
    let outcome = |executions, crash| Outcome {
        executions,
        elapsed: started.elapsed(),
        crash,
    };
    for s in seeds {
        executions += 1;
        if let Some(c) = crash(s) {
            return outcome(executions, Some(c));
        }
    }
    let mut mutator = Mutator::new(seed);
    let mut input = Vec::with_capacity(target.max_len);
    while !done(executions) {
        mutator.next_input(seeds, target.max_len, &mut input);
        executions += 1;
        if let Some(c) = crash(&input) {
            return outcome(executions, Some(c));
        }
    }
    outcome(executions, None)
}
