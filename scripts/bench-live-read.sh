#!/usr/bin/env bash
# netoproc live-read paths benchmark (issue 16): CPU per read of the open sockets and
# peak RSS for each path this kernel allows (--live-read map-iter|socket-iter|walk),
# with 10k and 100k open loopback sockets held in a network namespace of the
# script's own; fast reads (--read-interval-ms 100) against an idle arm (60 s
# interval) in shuffled order within every round, medians. See BENCHMARKS.md,
# "Live-read paths (issue 16)".
#
#   sudo scripts/bench-live-read.sh [--sockets 10000,100000] [--rounds N] [--seconds S]
#                                   [--interval-ms MS] [--paths auto|socket-iter,walk]
#                                   [--seed N] [--binary PATH]
#
# Defaults: 3 rounds × 10 s windows, about 8 minutes. map-iter is tried only when
# `netoproc doctor --format json` says iter/bpf_sk_storage_map attached. Results:
# Markdown on stdout and in bench/results/live-read-<date>-<time>-<kernel>.md, raw
# numbers in the .csv beside it. Installs python3, binutils
# (nm, readelf), iproute2 and linux-perf when missing (perf counts the reads with a
# uprobe; without it reads are estimated from the interval).
set -euo pipefail
cd "$(dirname "$0")/.."
bench=bench-live-read
. scripts/bench-common.sh
bench_need_root

missing=()
command -v python3 >/dev/null || missing+=(python3)
command -v ip >/dev/null || missing+=(iproute2)
command -v nm >/dev/null || missing+=(binutils)
command -v perf >/dev/null || missing+=(linux-perf)
if [ ${#missing[@]} -gt 0 ]; then
  bench_install "${missing[@]}" || echo "bench-live-read: install failed; going on without" >&2
fi
if [ -z "$(ls -A /sys/kernel/tracing 2>/dev/null)" ]; then
  mount -t tracefs nodev /sys/kernel/tracing || true
fi

bench_split_args "$@"

netns="npbl-$$"
snapdir=$(mktemp -d /tmp/netoproc-bench-live.XXXXXX)
bench_pidfile "$snapdir"
cleanup() {
  local rc=$?
  trap - EXIT INT TERM HUP
  # the driver, and what it started if it could not stop it itself
  bench_stop_driver "$pidfile" netoproc perf python3 ip
  # the uprobe, if the driver died before removing it
  if grep -q '^p:npbench_live/' /sys/kernel/tracing/uprobe_events 2>/dev/null; then
    echo '-:npbench_live/read_sockets' >>/sys/kernel/tracing/uprobe_events 2>/dev/null || true
  fi
  ip netns del "$netns" 2>/dev/null || true
  rm -rf "$snapdir"
  exit "$rc"
}
bench_traps cleanup

bench_build
bench_copy_binary "$snapdir"

# The sockets' namespace: only lo, the whole port range for ephemeral ports,
# a listen backlog that holds a burst of connects (both per namespace).
bench_netns_up "$netns" net.ipv4.ip_local_port_range="1024 65535" net.core.somaxconn=4096
echo "bench-live-read: namespace $netns; fs.nr_open $(sysctl -n fs.nr_open)," \
  "host somaxconn $(sysctl -n net.core.somaxconn), host port range $(sysctl -n net.ipv4.ip_local_port_range | tr '\t' '-')" >&2

BENCH_PIDFILE=$pidfile python3 bench/bench_live_read.py --netoproc "$snapdir/netoproc" \
  --netns "$netns" ${args[@]+"${args[@]}"} &
py=$!
wait "$py"
