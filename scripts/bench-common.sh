# What the benchmark scripts share; sourced, never run. Each function takes
# the script's name ($bench) for its messages. The caller sets `set -euo pipefail`
# and cds to the repository root first.
#
#   bench_need_root               exit unless root
#   bench_install PKG...          apt-get install (after an update), to stderr
#   bench_split_args "$@"         --binary PATH / --binary=PATH into $binary,
#                                 the rest into the array $args
#   bench_build                   build netoproc (release) unless $binary is set;
#                                 sets $binary and $desc (what it is)
#   bench_copy_binary DIR         run from a copy (DIR/netoproc), so a rebuild
#                                 cannot swap it; adds its sha256 to $desc
#   bench_traps FN                FN on exit, also on INT/TERM/HUP (130/143/129)
#   bench_pidfile DIR             $pidfile (DIR/pids, empty) for the driver to note its
#                                 children in, and $py (the driver's pid) unset
#   bench_stop_driver PIDFILE NAME...
#                                 stop the driver ($py) and whatever it started
#                                 (pids in PIDFILE) that still runs as NAME
#   bench_netns_up NS [SYSCTL...] a namespace with lo up and these sysctls

bench_need_root() {
  [ "$(id -u)" -eq 0 ] || { echo "$bench: run as root (sudo scripts/$bench.sh)" >&2; exit 1; }
}

bench_install() {
  echo "$bench: installing $*" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "$@" >&2
}

bench_split_args() {
  binary="" args=()
  while [ $# -gt 0 ]; do
    case "$1" in
      --binary) binary=$2; shift 2 ;;
      --binary=*) binary=${1#--binary=}; shift ;;
      *) args+=("$1"); shift ;;
    esac
  done
}

bench_build() {
  if [ -z "$binary" ]; then
    echo "$bench: building netoproc (release)" >&2
    cargo build --release -q -p netoproc >&2
    binary=target/release/netoproc
    desc="built from this tree at $(git rev-parse --short HEAD 2>/dev/null || echo '?')"
    [ -n "$(git status --porcelain -- crates Cargo.toml Cargo.lock 2>/dev/null)" ] && desc="$desc + uncommitted changes"
  else
    desc="given binary $binary"
  fi
  return 0
}

bench_copy_binary() {
  cp "$binary" "$1/netoproc"
  desc="$desc, sha256 $(sha256sum "$binary" | cut -c1-12)"
}

bench_traps() {
  trap "$1" EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  trap 'exit 129' HUP
}

bench_pidfile() {
  pidfile=$1/pids
  : >"$pidfile"
  py=""
}

bench_stop_driver() {
  local pidfile=$1 pid comm name
  shift
  if [ -n "${py:-}" ] && kill -0 "$py" 2>/dev/null; then
    kill -TERM "$py" 2>/dev/null || true
    wait "$py" 2>/dev/null || true
  fi
  # checked by name: never signal a recycled pid
  [ -f "$pidfile" ] || return 0
  while read -r pid; do
    comm=$(cat "/proc/$pid/comm" 2>/dev/null || true)
    for name in "$@"; do
      [ "$comm" = "$name" ] && { kill -KILL "$pid" 2>/dev/null || true; }
    done
  done <"$pidfile"
  return 0
}

bench_netns_up() {
  local ns=$1 kv
  shift
  ip netns add "$ns"
  ip netns exec "$ns" ip link set lo up
  for kv in "$@"; do
    ip netns exec "$ns" sysctl -q -w "$kv"
  done
}
