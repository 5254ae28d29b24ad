#!/usr/bin/env bash
# netoproc AF_PACKET benchmark: the replay rate (packets parsed and aggregated per core),
# the highest UDP rate a sender in a namespace can push over veth with zero kernel drops
# at netoproc's rings (and netoproc's CPU there), a TCP stream over veth, and the loopback
# iperf3 throughput ratio with netoproc in afpacket mode vs without (interleaved rounds,
# medians). See BENCHMARKS.md, "AF_PACKET".
#
#   sudo scripts/bench-afpacket.sh [--seconds S] [--rounds N] [--rates 50000,...,0]
#                                  [--sizes 128K,1K] [--seed N] [--binary PATH]
#                                  [--parts replay,veth,loopback]
#
# Defaults: 5 s windows, 6 loopback rounds; about 5 minutes. Results: Markdown on stdout
# and in bench/results/afpacket-<date>-<time>-<kernel>.md. Installs iperf3 when missing.
set -euo pipefail
cd "$(dirname "$0")/.."
bench=bench-afpacket
. scripts/bench-common.sh
bench_need_root
if ! command -v iperf3 >/dev/null; then
  bench_install iperf3
fi

binary="" args=() parts="replay,veth,loopback"
while [ $# -gt 0 ]; do
  case "$1" in
    --binary) binary=$2; shift 2 ;;
    --binary=*) binary=${1#--binary=}; shift ;;
    --parts) parts=$2; shift 2 ;;
    --parts=*) parts=${1#--parts=}; shift ;;
    *) args+=("$1"); shift ;;
  esac
done
snapdir=$(mktemp -d /tmp/netoproc-bench-afpacket.XXXXXX)
trap 'rm -rf "$snapdir"' EXIT
bench_build
bench_copy_binary "$snapdir"

replay=""
case ",$parts," in
  *,replay,*)
    echo "bench-afpacket: replay (one core, parse + aggregate)" >&2
    replay=$(cargo run --release -q -p netoproc-afpacket --example replay 2>/dev/null | tail -n 2) ;;
esac

report=$(python3 bench/bench_afpacket.py --netoproc "$snapdir/netoproc" --parts "$parts" ${args[@]+"${args[@]}"})
mkdir -p bench/results
out="bench/results/afpacket-$(date -u +%Y-%m-%d-%H%M)-$(uname -r).md"
{
  echo "$report"
  if [ -n "$replay" ]; then
    echo
    echo "Replay (\`cargo run --release -p netoproc-afpacket --example replay\`):"
    echo
    while IFS= read -r line; do echo "    $line"; done <<<"$replay"
  fi
} | tee "$out"
echo "bench-afpacket: written to $out" >&2
