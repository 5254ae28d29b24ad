//! `netoproc watch`: TCP connection lifecycle as a stream of JSON lines,
//! one object per step (connect, established, accepted, closed, with the
//! failure reason) as the kernel reports it, and with `--interval` one
//! per-process summary per interval. Every line is flushed as written; a
//! closed pipe (`| head`) ends the run quietly. Also: what each capture
//! fills, for the `lifecycle` section of snapshots (`sources`).

use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use clap::ValueEnum;
use netoproc_core::backend::{BackendKind, CaptureBackend, CaptureInfo, HookRung};
use netoproc_core::clock::Clock;
use netoproc_engine::{Engine, SessionConfig, POLL_SLICE};
use netoproc_export::{write_step, write_summary, ExportError};

use crate::failure::Failure;

/// How `watch` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum WatchFormat {
    /// One JSON object per line.
    Jsonl,
}

/// `netoproc watch`'s own flags.
#[derive(Debug, clap::Args)]
pub struct WatchArgs {
    /// Output format of the stream.
    #[arg(long, value_enum, default_value_t = WatchFormat::Jsonl)]
    pub format: WatchFormat,
    /// Also print one summary per process every SECS seconds (its
    /// connections, failures by reason, handshake/RTT/response p50/p99,
    /// retransmission ratio since the start; opened/accepted per second in
    /// the interval).
    #[arg(long, value_name = "SECS", value_parser = parse_secs)]
    pub interval: Option<f64>,
    /// Stop after SECS seconds (default: until Ctrl-C or SIGTERM).
    #[arg(long, value_name = "SECS", value_parser = parse_secs)]
    pub duration: Option<f64>,
}

fn parse_secs(s: &str) -> Result<f64, String> {
    let v: f64 = s
        .parse()
        .map_err(|_| format!("`{s}` is not a number of seconds"))?;
    if !(v.is_finite() && (0.1..=366.0 * 86400.0).contains(&v)) {
        return Err(format!("must be between 0.1 s and a year, got {s}"));
    }
    Ok(v)
}

/// Why this capture does not follow TCP connections at all (no lifecycle
/// step, outcome or health), or `None` when it does.
pub fn lifecycle_off(info: &CaptureInfo) -> Option<String> {
    match info.mode {
        BackendKind::Afpacket => None,
        BackendKind::Ebpf if !attached(info, "np_tcp_state") => Some(
            "connection lifecycle and TCP health: tp_btf/inet_sock_set_state did not attach".into(),
        ),
        BackendKind::Ebpf => None,
    }
}

fn attached(info: &CaptureInfo, program: &str) -> bool {
    info.programs
        .iter()
        .any(|h| h.program == program && h.attached)
}

/// Which hook or source fills each lifecycle field, and the fields this
/// capture cannot fill, with why.
pub fn lifecycle_sources(info: &CaptureInfo) -> (Vec<(&'static str, &'static str)>, Vec<String>) {
    let attached = |p: &str| attached(info, p);
    let mut sources = Vec::new();
    let mut missing = Vec::new();
    if info.mode == BackendKind::Afpacket {
        sources.extend([
            (
                "steps, role, outcome, handshake, closer",
                "TCP flags and their capture times",
            ),
            (
                "retransmits, segments_out",
                "repeated sequence numbers of sent segments",
            ),
            ("rtt", "handshake, then data to the ACK that covers it"),
            ("response_ms", "payload packets' timing"),
        ]);
        missing.extend([
            "rttvar, min_rtt, cwnd, retransmit_events: the kernel's, not on the wire".to_string(),
            "aborted_by_exit of an unanswered SYN: looks like timeout on the wire; unreachable (ICMP) shows as timeout".to_string(),
        ]);
        return (sources, missing);
    }
    if attached("np_tcp_state") {
        sources.push((
            "steps, outcome, handshake, closer",
            "tp_btf/inet_sock_set_state",
        ));
        sources.push((
            "rtt, rttvar, min_rtt, cwnd, retransmits at close",
            "tcp_sock at TCP_CLOSE",
        ));
    } else {
        missing.extend(lifecycle_off(info));
    }
    if attached("np_tcp_retrans") {
        sources.push(("retransmit_events", "tp_btf/tcp_retransmit_skb"));
    } else {
        missing.push("retransmit_events: tp_btf/tcp_retransmit_skb did not attach".into());
    }
    if info.live_read == Some("socket-iter") {
        sources.push(("rtt, cwnd, retransmits of open connections", "iter/tcp"));
    } else {
        missing.push(format!(
            "live health of open connections: read by iter/tcp only (live read here: {}); open connections show it as of their handshake",
            info.live_read.unwrap_or("none")
        ));
    }
    if info.hooks == HookRung::Kprobe {
        missing.push(
            "response time: the kprobe rung keeps send/receive records apart from the lifecycle"
                .into(),
        );
    } else if info.hooks == HookRung::Counters {
        missing.push(
            "response time: the counter path runs no program per send or receive call \
             (--hooks calls measures it)"
                .into(),
        );
    } else {
        sources.push(("response_ms", "send/receive hooks' timing (socket storage)"));
    }
    (sources, missing)
}

fn now_s() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// A write failure, with what was being written; a closed pipe in its
/// chain ends the run quietly (`main`).
fn written(r: Result<(), ExportError>) -> Result<(), Failure> {
    r.map_err(|e| Failure::Runtime(anyhow::Error::new(e).context("writing the stream")))
}

/// Streams lifecycle steps (and summaries) until `--duration`, Ctrl-C or
/// a closed pipe.
pub fn run(
    args: &WatchArgs,
    verbose: bool,
    session: SessionConfig,
    backend: &mut dyn CaptureBackend,
    clock: &dyn Clock,
    stop: &AtomicBool,
) -> Result<(), Failure> {
    let read_interval = session.read_interval;
    let mut engine = Engine::new(backend, session);
    engine.stream_lifecycle();
    let t0 = clock.now();
    let deadline = args.duration.map(|d| t0 + Duration::from_secs_f64(d));
    let summary_every = args.interval.map(Duration::from_secs_f64);
    let mut next_summary = summary_every.map(|d| t0 + d);
    let mut last_summary = t0;
    let mut next_read = t0;
    let mut before: std::collections::HashMap<u32, (u64, u64)> = Default::default();
    let stdout = io::stdout();
    let mut out = stdout.lock();
    let failed = |e: netoproc_engine::EngineError| Failure::from(e);
    loop {
        let now = clock.now();
        let done = stop.load(Ordering::Relaxed) || deadline.is_some_and(|d| now >= d);
        if done {
            engine.final_read().map_err(failed)?;
        } else if now >= next_read {
            engine.read().map_err(failed)?;
            engine.retire_closed();
            if verbose && engine.reads() == 1 {
                eprintln!("netoproc: first complete read, watching");
            }
            next_read = now + read_interval;
        } else {
            engine
                .drain(POLL_SLICE.min(next_read - now))
                .map_err(failed)?;
        }
        let t = now_s();
        let mono_s = netoproc_engine::ktime::monotonic_ns() as f64 / 1e9;
        for ev in engine.take_life_events() {
            // When the kernel saw the step, on the wall clock.
            let at = t - (mono_s - ev.ktime_ns as f64 / 1e9).max(0.0);
            written(write_step(&mut out, &ev, at))?;
        }
        if let (Some(every), Some(at)) = (summary_every, next_summary) {
            let now = clock.now();
            if now >= at || done {
                let secs = now.duration_since(last_summary).as_secs_f64();
                for p in engine.lifecycle().processes {
                    let (o, a) = before
                        .insert(p.pid, (p.connections_opened, p.connections_accepted))
                        .unwrap_or((0, 0));
                    written(write_summary(
                        &mut out,
                        &p,
                        t,
                        secs,
                        p.connections_opened.saturating_sub(o),
                        p.connections_accepted.saturating_sub(a),
                    ))?;
                }
                last_summary = now;
                next_summary = Some(at.max(now - every) + every);
            }
        }
        written(out.flush().map_err(ExportError::from))?;
        if done {
            let lost = engine.lifecycle_dropped();
            if lost > 0 {
                eprintln!(
                    "netoproc: {lost} lifecycle steps were lost (ring buffer or backlog full)"
                );
            }
            return Ok(());
        }
    }
}
