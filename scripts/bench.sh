#!/usr/bin/env bash
# netoproc overhead benchmark: loopback iperf3 throughput with nothing / netoproc
# (--hooks auto, which must pick the counter path unless --netoproc-args gives
# --hooks) / netoproc --hooks calls / an empty tp_btf program pair attached, in
# interleaved rounds; both netoprocs' CPU, peak RSS and start-up time; ns per run
# of every BPF program they (and the empty pair) ran. See BENCHMARKS.md.
#
#   sudo scripts/bench.sh [--rounds N] [--seconds S] [--quick] [--pin same|split|none]
#                         [--cost-rounds N] [--sizes 128K,1K] [--seed N] [--binary PATH]
#                         [--netoproc-args "--live-read walk"]
#
# Defaults: 10 rounds × 10 s × 2 write sizes × 4 arms (+ a 2-round cost phase of the
# netoproc, calls and floor arms), about 17 minutes. --quick = 3 rounds × 3 s, about
# 2 minutes. Stops (exit 1) before the first round if the netoproc arm is not on the
# counter path and --netoproc-args has no --hooks. Results: Markdown on stdout and in
# bench/results/<date>-<kernel>[-<netoproc args>].md, raw numbers in .csv / -programs.csv
# beside it. --netoproc-args: extra arguments for netoproc, one quoted string (with a space
# in it, or as --netoproc-args=..., so it is not taken for an option of its own).
# Installs iperf3, clang, llvm, libbpf-dev, bpftool with apt-get when missing.
set -euo pipefail
cd "$(dirname "$0")/.."
bench=bench
. scripts/bench-common.sh
bench_need_root
bench_split_args "$@"

# ---- tools
missing=()
command -v iperf3 >/dev/null || missing+=(iperf3)
command -v clang >/dev/null || missing+=(clang)
command -v llvm-strip >/dev/null || command -v llvm-strip-14 >/dev/null || missing+=(llvm)
[ -f /usr/include/bpf/bpf_helpers.h ] || missing+=(libbpf-dev)
command -v bpftool >/dev/null || missing+=(bpftool)
command -v python3 >/dev/null || missing+=(python3)
if [ ${#missing[@]} -gt 0 ]; then
  bench_install "${missing[@]}"
fi
if [ -z "$binary" ]; then
  command -v cargo >/dev/null || { echo "bench: cargo not found (needed to build netoproc; or pass --binary PATH)" >&2; exit 1; }
fi

# ---- filesystems
if ! mountpoint -q /sys/fs/bpf; then
  mount -t bpf bpf /sys/fs/bpf
fi
if [ -z "$(ls -A /sys/kernel/tracing 2>/dev/null)" ]; then
  mount -t tracefs nodev /sys/kernel/tracing || true
fi

# ---- cleanup, whatever happens
stats_prev=$(cat /proc/sys/kernel/bpf_stats_enabled)
snapdir=$(mktemp -d /tmp/netoproc-bench.XXXXXX)
bench_pidfile "$snapdir"
cleanup() {
  local rc=$?
  trap - EXIT INT TERM HUP
  # bench.py, and its children if it could not stop them itself
  bench_stop_driver "$pidfile" iperf3 netoproc
  rm -rf "$snapdir"
  rm -rf /sys/fs/bpf/np_floor
  echo "$stats_prev" >/proc/sys/kernel/bpf_stats_enabled
  exit "$rc"
}
bench_traps cleanup

# ---- netoproc binary: built from this tree, or --binary PATH; run from a copy so
# that a rebuild during the run cannot swap it
bench_build
bench_copy_binary "$snapdir"
arch=$(gcc -dumpmachine 2>/dev/null || echo x86_64-linux-gnu)
clang -target bpf -D__TARGET_ARCH_x86 -I"/usr/include/$arch" -O2 -g \
  -c bench/floor.bpf.c -o bench/floor.bpf.o

# ---- run (in the background so that the traps above run promptly)
BENCH_PIDFILE=$pidfile python3 bench/bench.py --netoproc "$snapdir/netoproc" \
  --netoproc-desc "$desc" --floor-obj bench/floor.bpf.o ${args[@]+"${args[@]}"} &
py=$!
wait "$py"
