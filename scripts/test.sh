#!/usr/bin/env bash
# The whole test suite, as run by CI (.ci/run) and documented in the README:
#   1. installs what the tests need (clang, bindgen, libbpf-dev, qemu, virtme-ng, ...),
#   2. mounts bpffs and tracefs if missing,
#   3. checks the committed BPF object and bindings match their sources,
#   4. builds the workspace (also without the `ebpf` feature) and runs every test on
#      this host: unit tests, and end-to-end capture tests with real traffic in network
#      namespaces (the tracepoint rung on Linux 6.3+),
#   5. runs the end-to-end capture and DNS suites, and the lifecycle outcomes and
#      watch tests, again inside VMs (qemu TCG) booted
#      with Debian 12's kernels: the stock 6.1 on the counter path (no per-call
#      programs), once on the fentry rung and once forced to kprobes, and the 6.12 on
#      the tracepoint rung with the map iterators; each checks the rung and the
#      live-read path (meta.hooks, meta.live_read). This host's own kernel is the
#      third kind (step 4: auto must pick the counter path, and the capture and DNS
#      suites run again on the per-call hooks, which must give the same numbers).
# Must run as root (BPF, network namespaces, the VM). Options:
#   --no-vm      skip step 5 (quick local runs; CI never passes it)
#   --vm-only    only step 5 (after a previous full run built everything)
#   --vm-row R   only this row of step 5 (6.1-counters, 6.1-fentry, 6.1-kprobe,
#                6.12-tracepoint)
# Environment: NETOPROC_VM_SCALE (default 0.1) scales traffic sizes inside the slow,
# emulated VM; CI=true makes tests that lack privileges fail instead of skip.
set -euo pipefail
cd "$(dirname "$0")/.."

run_host=1
run_vm=1
vm_rows="6.1-counters 6.1-fentry 6.1-kprobe 6.12-tracepoint"
want_row=""
for a in "$@"; do
  if [ "$want_row" = next ]; then vm_rows="$a"; want_row=""; continue; fi
  case "$a" in
    --no-vm) run_vm=0 ;;
    --vm-only) run_host=0 ;;
    --vm-row) want_row=next; run_host=0 ;;
    -h|--help) sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "test.sh: unknown option $a (see --help)" >&2; exit 2 ;;
  esac
done

if [ "$(id -u)" != 0 ]; then
  echo "test.sh: must run as root (BPF programs, network namespaces, the VM): sudo scripts/test.sh" >&2
  exit 4
fi

step() { printf '\n==> %s\n' "$*"; }

step "installing test dependencies"
need=()
command -v clang >/dev/null || need+=(clang)
command -v llvm-strip >/dev/null || command -v llvm-strip-14 >/dev/null || need+=(llvm)
command -v bindgen >/dev/null || need+=(bindgen)
[ -f /usr/include/bpf/bpf_helpers.h ] || need+=(libbpf-dev)
command -v ip >/dev/null || need+=(iproute2)
command -v bpftool >/dev/null || need+=(bpftool)
command -v tmux >/dev/null || need+=(tmux)
command -v dnsmasq >/dev/null || need+=(dnsmasq-base)
command -v setcap >/dev/null || need+=(libcap2-bin)
# The container-engine tests: podman run with runc, an image of busybox.
command -v podman >/dev/null || need+=(podman)
command -v runc >/dev/null || need+=(runc)
dpkg -s busybox-static >/dev/null 2>&1 || need+=(busybox-static)
command -v capsh >/dev/null || need+=(libcap2-bin)
command -v script >/dev/null || need+=(bsdutils)
command -v systemd-analyze >/dev/null || need+=(systemd)
# `netoproc serve` tests: a real Prometheus server and promtool.
command -v prometheus >/dev/null || need+=(prometheus)
command -v promtool >/dev/null || need+=(prometheus)
# The web page test: a real headless browser and its WebDriver.
command -v chromium >/dev/null || need+=(chromium)
command -v chromedriver >/dev/null || need+=(chromium-driver)
command -v firefox-esr >/dev/null || need+=(firefox-esr)
# History tests: a real PostgreSQL 15 server (initdb + pg_ctl, started by
# the tests themselves on loopback).
[ -x /usr/lib/postgresql/15/bin/initdb ] || need+=(postgresql)
if [ "${#need[@]}" -gt 0 ]; then
  apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${need[@]}"
fi

# Kubernetes manifest validation (tests/tests/deploy.rs), from PyPI.
if ! command -v kubernetes-validate >/dev/null && [ ! -x /opt/netoproc-kv/bin/kubernetes-validate ]; then
  command -v pip3 >/dev/null || { apt-get update -q; DEBIAN_FRONTEND=noninteractive apt-get install -y -q python3-venv python3-pip; }
  python3 -m venv /opt/netoproc-kv || { DEBIAN_FRONTEND=noninteractive apt-get install -y -q python3-venv; python3 -m venv /opt/netoproc-kv; }
  /opt/netoproc-kv/bin/pip install -q kubernetes-validate
fi
command -v kubernetes-validate >/dev/null || export KUBERNETES_VALIDATE=/opt/netoproc-kv/bin/kubernetes-validate

# Selenium for the web page test (tests/tests/web.rs drives Chromium through
# tests/web/check_page.py), pinned, in a venv of its own.
SELENIUM_VERSION=4.51.0
if ! /opt/netoproc-web/bin/python -c "import selenium, sys; sys.exit(selenium.__version__ != '$SELENIUM_VERSION')" 2>/dev/null; then
  python3 -m venv /opt/netoproc-web || { DEBIAN_FRONTEND=noninteractive apt-get install -y -q python3-venv; python3 -m venv /opt/netoproc-web; }
  /opt/netoproc-web/bin/pip install -q "selenium==$SELENIUM_VERSION"
fi
# Firefox's WebDriver is not packaged in Debian 12: built from crates.io, pinned.
GECKODRIVER_VERSION=0.37.1
if ! /opt/netoproc-web/bin/geckodriver --version 2>/dev/null | grep -q "^geckodriver $GECKODRIVER_VERSION"; then
  cargo install --quiet --locked geckodriver --version "$GECKODRIVER_VERSION" --root /opt/netoproc-web
fi

step "mounting bpffs and tracefs"
mountpoint -q /sys/fs/bpf || mount -t bpf bpf /sys/fs/bpf
mountpoint -q /sys/kernel/tracing || mount -t tracefs nodev /sys/kernel/tracing || true

step "checking committed BPF object and bindings"
scripts/regen-bpf.sh --check

if [ "$run_host" = 1 ]; then
  step "building (default features, and without eBPF)"
  cargo build --workspace --bins --tests
  cargo build -p netoproc --no-default-features

  step "tests on this host ($(uname -r))"
  # The end-to-end suites run the optimized netoproc users run: the DNS test
  # compares latencies to 1 ms, and an unoptimized AF_PACKET attribution
  # thread adds that much scheduling noise on a 2-core machine.
  cargo build --release -p netoproc
  # auto must pick the counter path here; then the per-call hooks must give
  # the same numbers in the capture and DNS suites.
  NETOPROC_BIN="$PWD/target/release/netoproc" NETOPROC_EXPECT_HOOKS=counters \
    cargo test --workspace -- --test-threads=2
  step "capture and DNS suites again on the per-call hooks (--hooks calls)"
  NETOPROC_BIN="$PWD/target/release/netoproc" NETOPROC_HOOKS=calls \
    cargo test -p netoproc-e2e --test capture --test dns --test tcp_edges -- --test-threads=2
fi

if [ "$run_vm" = 1 ]; then
  step "end-to-end tests in VMs with Debian 12's kernels"
  cargo build -p netoproc
  # The eBPF end-to-end suites (capture: exact bytes; dns: the observatory;
  # tcp_edges: every way a connection ends).
  e2e=$(cargo test -p netoproc-e2e --no-run --message-format=json 2>/dev/null \
    | python3 -c 'import json,sys
want={"capture","dns","tcp_edges"}
for l in sys.stdin:
    m=json.loads(l)
    if m.get("reason")=="compiler-artifact" and m.get("executable") and m["profile"].get("test") and m["target"]["name"] in want:
        print(m["executable"])')
  [ "$(printf '%s\n' "$e2e" | grep -c .)" = 3 ] || { echo "test.sh: could not find the end-to-end test executables" >&2; exit 1; }
  guest_cmd=""
  for exe in $e2e; do guest_cmd="$guest_cmd \"$exe\" --test-threads=1 --skip afpacket &&"; done
  # Lifecycle outcomes and the watch stream on each rung (the timing tests
  # stay on the host: TCG's scheduling adds milliseconds to every RTT).
  life=$(cargo test -p netoproc-e2e --test lifecycle --no-run --message-format=json 2>/dev/null \
    | python3 -c 'import json,sys
for l in sys.stdin:
    m=json.loads(l)
    if m.get("reason")=="compiler-artifact" and m.get("executable") and m["profile"].get("test") and m["target"]["name"]=="lifecycle":
        print(m["executable"])')
  [ -n "$life" ] || { echo "test.sh: could not find the lifecycle test executable" >&2; exit 1; }
  guest_cmd="$guest_cmd \"$life\" --test-threads=1 --skip afpacket outcomes_refused watch_streams && true"
  for row in $vm_rows; do
    series=${row%%-*}
    hooks=${row#*-}
    case "$row" in
      6.1-counters|6.1-fentry|6.1-kprobe|6.12-tracepoint) ;;
      *) echo "test.sh: unknown VM row $row" >&2; exit 2 ;;
    esac
    # Both kernels load the storage map iterator: auto must read with it,
    # but for the counter path, which reads with the socket iterators.
    live=map-iter
    [ "$hooks" = counters ] && live=socket-iter
    kernel=$(NETOPROC_VM_SERIES="$series" scripts/vm/fetch-kernel.sh | tail -n 1)
    step "VM: Linux $series, $hooks rung ($(basename "$kernel"))"
    start=$(date +%s)
    NETOPROC_VM_TIMEOUT="${NETOPROC_VM_TIMEOUT:-1800}" scripts/vm/run.sh --kernel "$kernel" -- \
      env CI="${CI:-}" NETOPROC_HOOKS="$hooks" NETOPROC_EXPECT_LIVE_READ="$live" \
      NETOPROC_E2E_SCALE="${NETOPROC_VM_SCALE:-0.1}" \
      NETOPROC_E2E_LATENCY_MS=100 sh -c "$guest_cmd"
    echo "test.sh: VM row $row took $(( $(date +%s) - start )) s"
  done
fi
step "all tests passed"
