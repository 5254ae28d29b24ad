#!/usr/bin/env bash
# The agent's own cost (issue 17): `netoproc serve` for a while with steady
# traffic from many processes (bench/agent_load.py: N processes, one 200-byte
# UDP exchange a second each, on loopback), scraped like Prometheus would.
# Reports netoproc's CPU (utime+stime over the run, as % of one core), its
# peak RSS (VmHWM), the series count and how long /metrics takes (every
# scrape timed with curl; median, p99, max), with `--max-series` set so the
# budget is full.
#
#   sudo scripts/bench-agent.sh [--seconds 600] [--processes 500]
#                               [--scrape-every 15] [--binary PATH] [-- NETOPROC_ARGS...]
#
# Results: Markdown on stdout and in bench/results/agent-<date>-<HHMM>-<kernel>.md.
set -euo pipefail
cd "$(dirname "$0")/.."

[ "$(id -u)" -eq 0 ] || { echo "bench-agent: run as root" >&2; exit 1; }
seconds=600
procs=500
every=15
bin=""
extra=()
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) seconds="$2"; shift 2 ;;
    --processes) procs="$2"; shift 2 ;;
    --scrape-every) every="$2"; shift 2 ;;
    --binary) bin="$2"; shift 2 ;;
    --) shift; extra=("$@"); break ;;
    -h|--help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "bench-agent: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done
for t in curl python3; do
  command -v "$t" >/dev/null || { apt-get update -qq; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq curl python3 >&2; }
done
if [ -z "$bin" ]; then
  cargo build --release -p netoproc >&2
  bin=target/release/netoproc
fi

port=$((20000 + RANDOM % 20000))
tmp=$(mktemp -d /tmp/netoproc-bench-agent.XXXXXX)
np_pid=""; load_pid=""
cleanup() {
  [ -n "$load_pid" ] && kill "$load_pid" 2>/dev/null || true
  [ -n "$np_pid" ] && kill -TERM "$np_pid" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT

"$bin" "${extra[@]}" serve --listen "127.0.0.1:$port" --max-series 10000 2> "$tmp/agent.err" &
np_pid=$!
for _ in $(seq 1 100); do
  curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break
  sleep 0.2
done
curl -sf "http://127.0.0.1:$port/readyz" >/dev/null || { cat "$tmp/agent.err" >&2; echo "bench-agent: agent not ready" >&2; exit 1; }

ticks=$(getconf CLK_TCK)
cpu_of() { awk '{print $14 + $15}' "/proc/$np_pid/stat"; }
cpu0=$(cpu_of); t0=$(date +%s.%N)
python3 bench/agent_load.py "$procs" "$seconds" &
load_pid=$!
end=$(( $(date +%s) + seconds ))
: > "$tmp/scrapes"
while [ "$(date +%s)" -lt "$end" ]; do
  sleep "$every"
  curl -s -o "$tmp/metrics" -w '%{time_total}\n' "http://127.0.0.1:$port/metrics" >> "$tmp/scrapes" || true
done
wait "$load_pid" || true; load_pid=""
cpu1=$(cpu_of); t1=$(date +%s.%N)
hwm=$(awk '/VmHWM/ {print $2}' "/proc/$np_pid/status")
rss=$(awk '/VmRSS/ {print $2}' "/proc/$np_pid/status")
series=$(grep -vc '^#' "$tmp/metrics" || true)
# The budget full: as many identities as the budget allows (the load's
# processes are far fewer), timed once more at the end.
final=$(curl -s -o /dev/null -w '%{time_total}' "http://127.0.0.1:$port/metrics")
kill -TERM "$np_pid"; wait "$np_pid" || true; np_pid=""

python3 - "$tmp/scrapes" "$cpu0" "$cpu1" "$t0" "$t1" "$ticks" "$hwm" "$rss" "$series" "$procs" "$seconds" "$final" "$(uname -r)" <<'EOF' | tee "bench/results/agent-$(date -u +%Y-%m-%d-%H%M)-$(uname -r).md"
import statistics, sys
f, c0, c1, t0, t1, hz, hwm, rss, series, procs, secs, final, kernel = sys.argv[1:]
s = sorted(float(x) * 1000 for x in open(f) if x.strip())
cpu = (float(c1) - float(c0)) / float(hz) / (float(t1) - float(t0)) * 100
p = lambda q: s[min(len(s) - 1, int(q * len(s)))] if s else float("nan")
print(f"## Agent benchmark ({kernel})\n")
print(f"`scripts/bench-agent.sh --seconds {secs} --processes {procs}`\n")
print("| measure | value |\n|---|---|")
print(f"| netoproc CPU | {cpu:.2f}% of one core |")
print(f"| peak RSS (VmHWM) | {int(hwm)/1024:.1f} MiB (at the end: {int(rss)/1024:.1f} MiB) |")
print(f"| series in /metrics | {series} |")
print(f"| /metrics scrape | median {statistics.median(s) if s else float('nan'):.1f} ms, p99 {p(0.99):.1f} ms, max {max(s) if s else float('nan'):.1f} ms over {len(s)} scrapes; last {float(final)*1000:.1f} ms |")
EOF
