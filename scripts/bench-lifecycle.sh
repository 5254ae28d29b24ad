#!/usr/bin/env bash
# netoproc lifecycle-tracking benchmark (issue 18): a connect/close loop on
# loopback in a network namespace of the script's own, with and without
# netoproc, interleaved rounds; netoproc's CPU with the loop paced at 5,000
# connections/s; lost events. See BENCHMARKS.md, "Connection lifecycle".
#
#   sudo scripts/bench-lifecycle.sh [--rounds N] [--seconds S] [--rate R] [--seed N] [--binary PATH]
#                                   [--control PATH]
#
# --control: a netoproc built without lifecycle tracking (e.g. from commit 6bc1bea)
# as a third arm, to split the lifecycle programs' cost from the rest.
#
# Defaults: 10 rounds x 5 s windows, about 5 minutes. Results: Markdown on
# stdout and in bench/results/lifecycle-<date>-<kernel>.md.
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
out="bench/results/lifecycle-$(date +%Y-%m-%d)-$(uname -r).md"
python3 bench/bench_lifecycle.py --netoproc "$tmp/netoproc" --netns "$netns" --out "$out" ${args[@]+"${args[@]}"}
echo "bench-lifecycle: wrote $out" >&2
