#!/usr/bin/env bash
# Installs netoproc and grants it the file capabilities it needs, so users can
# run it without root.
#
#   sudo scripts/install-linux.sh [--prefix DIR] [--mode ebpf|afpacket|all] [--binary PATH]
#
#   --prefix DIR   install to DIR/bin (default /usr/local)
#   --mode MODE    which capture modes non-root users may run (default: all)
#                    ebpf:     cap_bpf, cap_perfmon, cap_net_admin (Linux 5.8+);
#                              cap_sys_admin instead on older kernels
#                    afpacket: cap_net_raw (packet sockets), cap_net_admin (sock_diag,
#                              proc connector), cap_sys_ptrace + cap_dac_read_search
#                              (reading other users' /proc/PID/fd)
#                    all:      both sets
#   --binary PATH  the binary to install (default: target/release/netoproc, built
#                  with `cargo build --release` if missing)
#
# File capabilities apply to every user who can execute the file: restrict it
# with a group if needed (e.g. chgrp netoproc + chmod 0750).
set -euo pipefail
cd "$(dirname "$0")/.."

prefix=/usr/local
mode=all
binary=""
while [ $# -gt 0 ]; do
  case "$1" in
    --prefix) prefix="$2"; shift 2 ;;
    --mode) mode="$2"; shift 2 ;;
    --binary) binary="$2"; shift 2 ;;
    -h|--help) sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "install-linux.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done
case "$mode" in ebpf|afpacket|all) ;; *) echo "install-linux.sh: --mode must be ebpf, afpacket or all" >&2; exit 2 ;; esac
[ "$(id -u)" = 0 ] || { echo "install-linux.sh: run as root (setcap needs it)" >&2; exit 4; }

if [ -z "$binary" ]; then
  binary=target/release/netoproc
  [ -x "$binary" ] || cargo build --release -p netoproc
fi
[ -x "$binary" ] || { echo "install-linux.sh: $binary is not an executable" >&2; exit 1; }
command -v setcap >/dev/null || { apt-get install -y -q libcap2-bin >/dev/null || { echo "install-linux.sh: setcap not found (apt-get install libcap2-bin)" >&2; exit 1; }; }

# Kernels before 5.8 have no cap_bpf/cap_perfmon: there eBPF needs cap_sys_admin.
release=$(uname -r); major=${release%%.*}; rest=${release#*.}; minor=${rest%%[!0-9]*}
if [ "$major" -gt 5 ] || { [ "$major" -eq 5 ] && [ "$minor" -ge 8 ]; }; then
  ebpf_caps="cap_bpf,cap_perfmon,cap_net_admin"
else
  ebpf_caps="cap_sys_admin,cap_net_admin"
fi
afpacket_caps="cap_net_raw,cap_net_admin,cap_sys_ptrace,cap_dac_read_search"
case "$mode" in
  ebpf) caps="$ebpf_caps" ;;
  afpacket) caps="$afpacket_caps" ;;
  all) caps="$ebpf_caps,cap_net_raw,cap_sys_ptrace,cap_dac_read_search" ;;
esac

install -D -m 0755 "$binary" "$prefix/bin/netoproc"
setcap "$caps+ep" "$prefix/bin/netoproc"
echo "installed $prefix/bin/netoproc with file capabilities: $(getcap "$prefix/bin/netoproc")"
echo "check what works for a user with: netoproc doctor"
