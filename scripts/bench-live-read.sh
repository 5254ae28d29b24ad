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

[ "$(id -u)" -eq 0 ] || { echo "bench-live-read: run as root (sudo scripts/bench-live-read.sh)" >&2; exit 1; }

missing=()
command -v python3 >/dev/null || missing+=(python3)
command -v ip >/dev/null || missing+=(iproute2)
command -v nm >/dev/null || missing+=(binutils)
command -v perf >/dev/null || missing+=(linux-perf)
if [ ${#missing[@]} -gt 0 ]; then
  echo "bench-live-read: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${missing[@]}" >&2 || echo "bench-live-read: install failed; going on without" >&2
fi
if [ -z "$(ls -A /sys/kernel/tracing 2>/dev/null)" ]; then
  mount -t tracefs nodev /sys/kernel/tracing || true
fi

binary="" args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --binary) binary=$2; shift 2 ;;
    --binary=*) binary=${1#--binary=}; shift ;;
    *) args+=("$1"); shift ;;
  esac
done

netns="npbl-$$"
snapdir=$(mktemp -d /tmp/netoproc-bench-live.XXXXXX)
pidfile=$snapdir/pids
: >"$pidfile"
py=""
cleanup() {
  local rc=$?
  trap - EXIT INT TERM HUP
  if [ -n "$py" ] && kill -0 "$py" 2>/dev/null; then
    kill -TERM "$py" 2>/dev/null || true
    wait "$py" 2>/dev/null || true
  fi
  # what the driver started, if it could not stop it itself (checked by name:
  # never signal a recycled pid)
  while read -r pid; do
    comm=$(cat "/proc/$pid/comm" 2>/dev/null || true)
    case "$comm" in netoproc|perf|python3|ip) kill -KILL "$pid" 2>/dev/null || true ;; esac
  done <"$pidfile"
  # the uprobe, if the driver died before removing it
  if grep -q '^p:npbench_live/' /sys/kernel/tracing/uprobe_events 2>/dev/null; then
    echo '-:npbench_live/read_sockets' >>/sys/kernel/tracing/uprobe_events 2>/dev/null || true
  fi
  ip netns del "$netns" 2>/dev/null || true
  rm -rf "$snapdir"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

if [ -z "$binary" ]; then
  echo "bench-live-read: building netoproc (release)" >&2
  cargo build --release -q -p netoproc >&2
  binary=target/release/netoproc
fi
# Run from a copy, so a rebuild during the run cannot swap it.
cp "$binary" "$snapdir/netoproc"

# The sockets' namespace: only lo, the whole port range for ephemeral ports,
# a listen backlog that holds a burst of connects (both per namespace).
ip netns add "$netns"
ip netns exec "$netns" ip link set lo up
ip netns exec "$netns" sysctl -q -w net.ipv4.ip_local_port_range="1024 65535"
ip netns exec "$netns" sysctl -q -w net.core.somaxconn=4096
echo "bench-live-read: namespace $netns; fs.nr_open $(sysctl -n fs.nr_open)," \
  "host somaxconn $(sysctl -n net.core.somaxconn), host port range $(sysctl -n net.ipv4.ip_local_port_range | tr '\t' '-')" >&2

BENCH_PIDFILE=$pidfile python3 bench/bench_live_read.py --netoproc "$snapdir/netoproc" \
  --netns "$netns" ${args[@]+"${args[@]}"} &
py=$!
wait "$py"
