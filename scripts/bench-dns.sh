#!/usr/bin/env bash
# Cost of netoproc's DNS capture: a UDP DNS responder and a rate-controlled
# client (bench/dns/dnsload.c) on the loopback of a network namespace this
# script creates; for each rate and client mode (reused sockets / a fresh
# socket per query), the client alone, with `netoproc --format json --view
# dns` running, and with netoproc running with DNS capture off. Reports what
# netoproc recorded vs what the client counted, its losses, its CPU, and the
# client's throughput with / without it.
# See BENCHMARKS.md, "DNS capture".
#
#   sudo scripts/bench-dns.sh [--quick] [--rounds N] [--seconds S]
#                             [--rates 1000,5000,...,0] [--modes reuse,fresh]
#                             [--arms baseline,netoproc,nodns] [--seed N]
#                             [--binary PATH] [--netoproc-arg=--ringbuf-kib=256 ...]
#
# Defaults: rates 1k,5k,10k,20k,50k,100k q/s and 0 (= closed loop, as fast as
# answered), both modes, 2 rounds × 5 s × 3 arms: about 10 minutes. --quick:
# 5k, 50k and closed loop, 1 round × 2 s. Results: Markdown on stdout and in
# bench/results/dns-<date>-<HHMM>-<kernel>.md, raw numbers in .csv beside it.
set -euo pipefail
cd "$(dirname "$0")/.."
bench=bench-dns
. scripts/bench-common.sh
bench_need_root

missing=()
command -v gcc >/dev/null || missing+=(gcc libc6-dev)
command -v ip >/dev/null || missing+=(iproute2)
command -v python3 >/dev/null || missing+=(python3)
if [ ${#missing[@]} -gt 0 ]; then
  bench_install "${missing[@]}"
fi
if ! mountpoint -q /sys/fs/bpf; then
  mount -t bpf bpf /sys/fs/bpf
fi

tmp=$(mktemp -d /tmp/netoproc-bench-dns.XXXXXX)
netns="npdnsbench$$"
bench_pidfile "$tmp"
worktree=""
cleanup() {
  local rc=$?
  trap - EXIT INT TERM HUP
  # bench_dns.py, and what it started if it could not stop it itself
  bench_stop_driver "$pidfile" netoproc dnsload
  if ip netns list 2>/dev/null | grep -qw "$netns"; then
    ip netns pids "$netns" 2>/dev/null | while read -r pid; do
      [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = dnsload ] && kill -KILL "$pid" 2>/dev/null || true
    done
    ip netns delete "$netns" || true
  fi
  [ -n "$worktree" ] && git worktree remove --force "$worktree" 2>/dev/null || true
  rm -rf "$tmp"
  exit "$rc"
}
bench_traps cleanup

bench_split_args "$@"

# ---- netoproc (release), run from a copy so that a rebuild cannot swap it
if [ -z "$binary" ]; then
  command -v cargo >/dev/null || { echo "bench-dns: cargo not found (or pass --binary PATH)" >&2; exit 1; }
  built=""
  for attempt in 1 2 3; do
    echo "bench-dns: building netoproc (release), attempt $attempt" >&2
    if cargo build --release -q -p netoproc >&2; then built=target/release/netoproc; break; fi
    [ "$attempt" -lt 3 ] && sleep 60
  done
  if [ -n "$built" ]; then
    binary=$built
    desc="built from this tree at $(git rev-parse --short HEAD 2>/dev/null || echo '?')"
    [ -n "$(git status --porcelain -- crates Cargo.toml Cargo.lock 2>/dev/null)" ] && desc="$desc + uncommitted changes"
  else
    # the tree does not build now (someone mid-edit): build HEAD instead
    echo "bench-dns: the working tree does not build; building HEAD in a worktree" >&2
    worktree=$tmp/worktree
    git worktree add --detach -q "$worktree" HEAD
    # a target directory of its own, kept between runs (outside the repo)
    wt_target=/tmp/netoproc-bench-dns-target
    (cd "$worktree" && CARGO_TARGET_DIR=$wt_target cargo build --release -q -p netoproc >&2)
    binary=$wt_target/release/netoproc
    desc="built from HEAD $(git rev-parse --short HEAD) in a worktree (the working tree did not build)"
  fi
else
  desc="given binary $binary"
fi
bench_copy_binary "$tmp"
gcc -O2 -Wall -o "$tmp/dnsload" bench/dns/dnsload.c

# ---- the namespace: loopback only
bench_netns_up "$netns"

BENCH_PIDFILE=$pidfile python3 bench/dns/bench_dns.py --netoproc "$tmp/netoproc" \
  --netoproc-desc "$desc" --dnsload "$tmp/dnsload" --netns "$netns" \
  ${args[@]+"${args[@]}"} &
py=$!
wait "$py"
