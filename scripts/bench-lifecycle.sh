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
[ "$(id -u)" -eq 0 ] || { echo "bench-lifecycle: run as root" >&2; exit 1; }
command -v python3 >/dev/null || { apt-get update -qq && apt-get install -y -qq python3; }

binary="" args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --binary) binary=$2; shift 2 ;;
    *) args+=("$1"); shift ;;
  esac
done
netns="nplc-$$"
tmp=$(mktemp -d /tmp/netoproc-bench-life.XXXXXX)
cleanup() { ip netns del "$netns" 2>/dev/null || true; rm -rf "$tmp"; }
trap cleanup EXIT
if [ -z "$binary" ]; then
  echo "bench-lifecycle: building netoproc (release)" >&2
  cargo build --release -q -p netoproc >&2
  binary=target/release/netoproc
fi
cp "$binary" "$tmp/netoproc"
ip netns add "$netns"
ip netns exec "$netns" ip link set lo up
# Room for ~10k connections/s of TIME_WAIT across the rounds.
ip netns exec "$netns" sysctl -q -w net.ipv4.ip_local_port_range="1024 65535"
ip netns exec "$netns" sysctl -q -w net.ipv4.tcp_tw_reuse=1
ip netns exec "$netns" sysctl -q -w net.core.somaxconn=4096
mkdir -p bench/results
out="bench/results/lifecycle-$(date +%Y-%m-%d)-$(uname -r).md"
python3 bench/bench_lifecycle.py --netoproc "$tmp/netoproc" --netns "$netns" --out "$out" ${args[@]+"${args[@]}"}
echo "bench-lifecycle: wrote $out" >&2
