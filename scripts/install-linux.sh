#!/usr/bin/env bash
# Installs netoproc the way Debian installs Wireshark's dumpcap: owned by
# root and a `netoproc` system group, mode 0750, with the file capabilities
# of the chosen capture mode only, so members of the group (and nobody else)
# can capture without root. Whoever runs it sees every process's traffic.
#
#   sudo scripts/install-linux.sh [--prefix DIR] [--mode ebpf|afpacket|all]
#                                 [--binary PATH] [--group NAME] [--world]
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
#   --group NAME   the group allowed to run it (default netoproc; created as a
#                  system group if missing). Add users with
#                  `usermod -aG netoproc USER` (effective at their next login).
#   --world        let every local user run it (mode 0755). Every user then
#                  sees every process's traffic, DNS names and command lines.
#
# netoproc refuses path flags and NETOPROC_* variables when started through
# these capabilities, and drops what it no longer needs once capture runs
# (see README, "Security").
set -euo pipefail
caller_dir=$PWD
cd "$(dirname "$0")/.."
# Paths given relative to where the script was started.
absolute() { case "$1" in /*) echo "$1" ;; *) echo "$caller_dir/$1" ;; esac; }

prefix=/usr/local
mode=all
binary=""
group=netoproc
world=0
need_value() { [ $# -ge 2 ] && [ -n "$2" ] || { echo "install-linux.sh: $1 needs a value (see --help)" >&2; exit 2; }; }
while [ $# -gt 0 ]; do
  case "$1" in
    --prefix) need_value "$@"; prefix=$(absolute "$2"); shift 2 ;;
    --mode) need_value "$@"; mode="$2"; shift 2 ;;
    --binary) need_value "$@"; binary=$(absolute "$2"); shift 2 ;;
    --group) need_value "$@"; group="$2"; shift 2 ;;
    --world) world=1; shift ;;
    -h|--help) awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "$0"; exit 0 ;;
    *) echo "install-linux.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done
case "$mode" in ebpf|afpacket|all) ;; *) echo "install-linux.sh: --mode must be ebpf, afpacket or all" >&2; exit 2 ;; esac
case "$group" in [a-z_]*) ;; *) echo "install-linux.sh: --group must be a group name" >&2; exit 2 ;; esac
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

if ! getent group "$group" >/dev/null; then
  groupadd --system "$group"
  echo "created system group $group"
fi
if [ "$world" = 1 ]; then
  file_mode=0755
  echo "install-linux.sh: warning: --world lets every local user run netoproc and see every" >&2
  echo "  process's traffic, DNS names and command lines" >&2
else
  file_mode=0750
fi
target="$prefix/bin/netoproc"
# Into a new file, then renamed: a running netoproc keeps its old binary, and
# no moment exists where the target has capabilities but looser ownership.
install -d -m 0755 "$prefix/bin"
tmp=$(mktemp "$prefix/bin/.netoproc.XXXXXX")
trap 'rm -f "$tmp"' EXIT
install -m "$file_mode" -o root -g "$group" "$binary" "$tmp"
setcap "$caps+ep" "$tmp"
mv -f "$tmp" "$target"
trap - EXIT
echo "installed $target (root:$group, mode $file_mode) with file capabilities: $(getcap "$target")"
if [ "$world" = 1 ]; then
  echo "every local user may run it; check what works with: netoproc doctor"
else
  echo "members of $group may run it (usermod -aG $group USER); check with: netoproc doctor"
fi
