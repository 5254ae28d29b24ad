#!/usr/bin/env bash
# The history ledger's benchmark (BENCHMARKS.md, "History"): ledger growth
# per day and write cost per minute for 500 identities x 50 remotes, and
# query times over 30 days. Builds the example in release, runs it under
# strace to count fsync/fdatasync calls, and writes the report to
# bench/results/<date>-history*.txt. No root needed.
#   bench/history.sh            # 30 days (29 days 22 h written as folded, the last 2 h minute by minute) and queries, ~15 min
#   bench/history.sh --quick    # 100 identities x 10 remotes, 1 day
set -euo pipefail
cd "$(dirname "$0")/.."
quick=0
[ "${1:-}" = "--quick" ] && quick=1
command -v strace >/dev/null || { echo "bench/history.sh: needs strace (apt-get install strace)" >&2; exit 2; }
cargo build --release -q -p netoproc-history --example ledger_bench
bin=target/release/examples/ledger_bench
out=bench/results/$(date -u +%Y-%m-%d)-history
[ "$quick" = 1 ] && out="$out-quick"
export BENCH_DIR=${BENCH_DIR:-/var/tmp}
{
  echo "# machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), kernel $(uname -r), file system of $BENCH_DIR: $(stat -f -c %T "$BENCH_DIR")"
  if [ "$quick" = 1 ]; then
    strace -f -qq --seccomp-bpf -c -e trace=fsync,fdatasync -o "$out.strace" "$bin" --identities 100 --remotes 10 --days 1
  else
    echo "## 30 days of 500 identities x 50 remotes: 718 hours written as the fold leaves them, then 2 hours minute by minute"
    strace -f -qq --seccomp-bpf -c -e trace=fsync,fdatasync -o "$out.strace" "$bin" --identities 500 --remotes 50 --days 30 --prefill-hours 718
  fi
  echo "## fsync/fdatasync calls during the growth run"
  cat "$out.strace"
} 2>&1 | tee "$out.txt"
rm -f "$out.strace"
