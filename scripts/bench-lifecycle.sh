#!/usr/bin/env bash
# netoproc lifecycle benchmark (issues 18, 22): a connect/close loop on
# loopback in a network namespace of the script's own, with and without
# netoproc, interleaved rounds. Every arm runs the loop unpaced (throughput)
# and then paced at 5,000 connections/s: the rate achieved, the loop's own CPU
# per connection (issue 22: within 3 % of no monitor), netoproc's CPU; lost
# events. See BENCHMARKS.md, "Connection lifecycle".
#
#   sudo scripts/bench-lifecycle.sh [--rounds N] [--seconds S] [--rate R] [--seed N] [--binary PATH]
#                                   [--control PATH] [--control-args "ARGS"]
#
# --control PATH: another netoproc as a third arm (e.g. one built without
# lifecycle tracking, commit 6bc1bea). --control-args "ARGS": extra arguments
# for the control arm, one quoted string; alone, the control is the same
# binary, e.g. --control-args "--hooks calls" (the per-call path beside the
# counter path `auto` picks).
#
# Defaults: 10 rounds x 5 s windows, two windows per arm since issue 22:
# about 4 minutes with two arms, 6.5 with a control, plus the build (--rounds 8
# --seconds 4 for about 4 with a control). Results: Markdown on stdout and in
# bench/results/lifecycle-<date>-<HHMM>-<kernel>.md (UTC).
set -euo pipefail
cd "$(dirname "$0")/.."
bench=bench-lifecycle
. scripts/bench-common.sh
bench_need_root
command -v python3 >/dev/null || bench_install python3
bench_split_args "$@"
netns="nplc-$$"
tmp=$(mktemp -d /tmp/netoproc-bench-life.XXXXXX)
cleanup() { ip netns del "$netns" 2>/dev/null || true; rm -rf "$tmp"; }
trap cleanup EXIT
bench_build
bench_copy_binary "$tmp"
# Room for ~10k connections/s of TIME_WAIT across the rounds.
bench_netns_up "$netns" net.ipv4.ip_local_port_range="1024 65535" \
  net.ipv4.tcp_tw_reuse=1 net.core.somaxconn=4096
mkdir -p bench/results
out="bench/results/lifecycle-$(date -u +%Y-%m-%d-%H%M)-$(uname -r).md"
python3 bench/bench_lifecycle.py --netoproc "$tmp/netoproc" --netns "$netns" --out "$out" --desc "$desc" \
  ${args[@]+"${args[@]}"}
echo "bench-lifecycle: wrote $out" >&2
