#!/usr/bin/env bash
# fetch-kernel.sh — prepare everything needed to boot one of Debian 12's kernels
# (the stock 6.1, or the 6.12 that bookworm also ships) under virtme-ng (see
# scripts/vm/run.sh), and print the path of its vmlinuz.
#
# Idempotent; needs root (apt-get, /lib/modules). Steps:
#   1. apt-get install qemu-system-x86 kmod busybox-static udev iproute2 (`apt-get update`
#      first only if one of them is missing), and `pip install virtme-ng` if `vng`
#      is not on PATH.
#   2. Find the newest `linux-image-6.1.0-<n>-amd64` (series 6.1) or
#      `linux-image-6.12.<n>+deb12-amd64` (series 6.12), or its `-unsigned` twin (never
#      -cloud/-rt/-dbg) that apt can download, `apt-get download` it and
#      `dpkg-deb -x` it into $NETOPROC_VM_CACHE (default /var/cache/netoproc-vm).
#   3. Copy its lib/modules/<ver> to /lib/modules/<ver> and run `depmod <ver>`
#      (vng loads guest modules from the host's /lib/modules: the host fs is the
#      guest's root).
# Only the vmlinuz path goes to stdout; progress and errors go to stderr.
#
# Environment:
#   NETOPROC_VM_SERIES       6.1 (default) or 6.12
#   NETOPROC_VM_CACHE        cache directory (default /var/cache/netoproc-vm)
#   NETOPROC_VM_KERNEL_PKG   force a package name, e.g. linux-image-6.1.0-56-amd64
#   NETOPROC_VM_OFFLINE=1    do not look for a newer kernel if one is already cached
set -euo pipefail

CACHE="${NETOPROC_VM_CACHE:-/var/cache/netoproc-vm}"
SERIES="${NETOPROC_VM_SERIES:-6.1}"
# Package names of the series (regex), their cache glob, and the prefix before
# the number that orders them.
case "$SERIES" in
    6.1) NAME_RE='^linux-image-6\.1\.0-[0-9]+-amd64(-unsigned)?$'; CACHE_GLOB='linux-image-6.1.0-*'
         NUM_PREFIX='linux-image-6.1.0-' ;;
    6.12) NAME_RE='^linux-image-6\.12\.[0-9]+\+deb12-amd64(-unsigned)?$'; CACHE_GLOB='linux-image-6.12.*'
          NUM_PREFIX='linux-image-6.12.' ;;
    *) printf 'fetch-kernel: error: NETOPROC_VM_SERIES must be 6.1 or 6.12, got %s\n' "$SERIES" >&2; exit 1 ;;
esac
# udev: virtme-ng-init needs systemd-udevd in the guest (= host fs) to create
# /dev/virtio-ports/virtme.*; without it the command runs on the console with no
# output and no exit status. iproute2: `ip` for lo and netns in the guest.
PKGS=(qemu-system-x86 kmod busybox-static udev iproute2 xz-utils)

log() { printf 'fetch-kernel: %s\n' "$*" >&2; }
die() { printf 'fetch-kernel: error: %s\n' "$*" >&2; exit 1; }

need_root() {
    [ "$(id -u)" -eq 0 ] || die "$1 needs root; re-run as root (e.g. sudo $0)"
}

apt_updated=0
apt_update() {
    if [ "$apt_updated" -eq 0 ]; then
        need_root "apt-get update"
        log "running apt-get update"
        apt-get update >&2 || die "apt-get update failed"
        apt_updated=1
    fi
}

pkg_installed() {
    [ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null || true)" = "install ok installed" ]
}

# --- 1. host tools -----------------------------------------------------------
missing=()
for p in "${PKGS[@]}"; do pkg_installed "$p" || missing+=("$p"); done
if [ "${#missing[@]}" -gt 0 ]; then
    need_root "installing ${missing[*]}"
    apt_update
    log "installing ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}" >&2 \
        || die "apt-get install ${missing[*]} failed"
fi

if ! command -v vng >/dev/null 2>&1; then
    log "vng not found: installing virtme-ng with pip"
    if ! command -v python3 >/dev/null 2>&1 || ! python3 -m pip --version >/dev/null 2>&1; then
        need_root "installing python3-pip"
        pkg_installed python3-pip || { apt_update; DEBIAN_FRONTEND=noninteractive \
            apt-get install -y --no-install-recommends python3 python3-pip >&2 \
            || die "apt-get install python3-pip failed"; }
    fi
    # Debian's system python is "externally managed" (PEP 668): retry with
    # --break-system-packages when plain `pip install` refuses.
    python3 -m pip install virtme-ng >&2 \
        || python3 -m pip install --break-system-packages virtme-ng >&2 \
        || die "pip install virtme-ng failed"
    hash -r
    command -v vng >/dev/null 2>&1 \
        || die "virtme-ng installed but 'vng' is not on PATH (try adding ~/.local/bin or /usr/local/bin)"
fi

# --- 2. the kernel package -----------------------------------------------------
# Cached, fully extracted kernels are marked by a .complete file that holds the
# vmlinuz path.
newest_cached() {
    local m
    # shellcheck disable=SC2086
    m="$(ls -1d "$CACHE"/$CACHE_GLOB/.complete 2>/dev/null | sort -V | tail -n 1)"
    [ -n "$m" ] || return 1
    printf '%s\n' "$m"
}

# Candidate packages: exactly the series' -amd64 or -amd64-unsigned images, with a
# downloadable candidate version. Prints "<n> <rank> <pkg>" lines, newest first.
list_candidates() {
    local names
    names="$(apt-cache search --names-only "$NAME_RE" 2>/dev/null \
        | awk '{print $1}' | grep -E "$NAME_RE" || true)"
    [ -n "$names" ] || return 0
    # one apt-cache policy call for all names (it is slow per call)
    # shellcheck disable=SC2086
    apt-cache policy $names 2>/dev/null | awk -v prefix="$NUM_PREFIX" '
        /^[^ ].*:$/ { p = substr($0, 1, length($0) - 1); next }
        $1 == "Candidate:" && $2 != "(none)" && p != "" {
            n = substr(p, length(prefix) + 1); sub(/[-+].*/, "", n)
            # signed first (rank 0) so it wins ties with its -unsigned twin
            r = (p ~ /-unsigned$/) ? 1 : 0
            print n, r, p; p = ""
        }' | sort -k1,1nr -k2,2n
}

pick_package() {
    if [ -n "${NETOPROC_VM_KERNEL_PKG:-}" ]; then
        printf '%s\n' "$NETOPROC_VM_KERNEL_PKG"; return 0
    fi
    local c
    c="$(list_candidates | head -n 1)"
    if [ -z "$c" ]; then
        apt_update
        c="$(list_candidates | head -n 1)"
    fi
    [ -n "$c" ] || return 1
    printf '%s\n' "${c##* }"
}

mkdir -p "$CACHE" 2>/dev/null || die "cannot create cache dir $CACHE (set NETOPROC_VM_CACHE)"

pkg=""
if [ "${NETOPROC_VM_OFFLINE:-0}" = 1 ] && marker="$(newest_cached)"; then
    pkg="$(basename "$(dirname "$marker")")"
    log "offline mode: using cached $pkg"
else
    pkg="$(pick_package)" || true
    if [ -z "$pkg" ]; then
        if marker="$(newest_cached)"; then
            pkg="$(basename "$(dirname "$marker")")"
            log "no $SERIES kernel image visible to apt; using cached $pkg"
        else
            die "apt knows no package matching $NAME_RE (is a Debian 12 'bookworm' or bookworm-security source configured?)"
        fi
    fi
fi

dir="$CACHE/$pkg"
if [ ! -e "$dir/.complete" ]; then
    need_root "downloading the kernel"
    log "downloading $pkg into $dir"
    rm -rf "$dir" "$dir.tmp"
    mkdir -p "$dir.tmp/deb"
    # apt-get download writes into the current directory; it drops privileges to
    # _apt when it can, so let that user write there (otherwise it just warns).
    chmod 0777 "$dir.tmp/deb"
    if ! (cd "$dir.tmp/deb" && apt-get download "$pkg" >&2); then
        log "download failed; refreshing package lists and retrying"
        apt_update
        (cd "$dir.tmp/deb" && apt-get download "$pkg" >&2) || die "apt-get download $pkg failed"
    fi
    deb="$(ls -1 "$dir.tmp/deb"/*.deb 2>/dev/null | head -n 1)"
    [ -n "$deb" ] || die "apt-get download $pkg produced no .deb"
    mkdir -p "$dir.tmp/root"
    dpkg-deb -x "$deb" "$dir.tmp/root" || die "dpkg-deb -x $deb failed"
    vmlinuz="$(ls -1 "$dir.tmp/root"/boot/vmlinuz-* 2>/dev/null | head -n 1)"
    if [ -z "$vmlinuz" ]; then
        case "$pkg" in
            *-unsigned) die "$pkg contains no /boot/vmlinuz-*" ;;
            *) log "$pkg has no vmlinuz; trying $pkg-unsigned"
               rm -rf "$dir.tmp"
               exec env NETOPROC_VM_KERNEL_PKG="$pkg-unsigned" "$0" ;;
        esac
    fi
    rm -rf "$dir.tmp/deb"
    mv "$dir.tmp" "$dir"
    printf '%s\n' "$dir/root/boot/$(basename "$vmlinuz")" > "$dir/.complete"
fi

vmlinuz="$(cat "$dir/.complete")"
[ -f "$vmlinuz" ] || die "cached kernel $vmlinuz is missing; delete $dir and re-run"
ver="${vmlinuz##*/vmlinuz-}"

# --- 3. modules on the host (= guest root) --------------------------------------
src=""
for d in "$dir/root/lib/modules/$ver" "$dir/root/usr/lib/modules/$ver"; do
    [ -d "$d" ] && { src="$d"; break; }
done
[ -n "$src" ] || die "$pkg has no lib/modules/$ver"
if [ ! -e "/lib/modules/$ver/.netoproc-vm-complete" ] || [ ! -e "/lib/modules/$ver/modules.dep" ]; then
    need_root "installing modules into /lib/modules/$ver"
    log "installing modules into /lib/modules/$ver"
    mkdir -p /lib/modules
    rm -rf "/lib/modules/$ver.tmp"
    cp -a "$src" "/lib/modules/$ver.tmp"
    rm -rf "/lib/modules/$ver"
    mv "/lib/modules/$ver.tmp" "/lib/modules/$ver"
    depmod "$ver" || die "depmod $ver failed"
    touch "/lib/modules/$ver/.netoproc-vm-complete"
fi

log "kernel $ver ready"
printf '%s\n' "$vmlinuz"
