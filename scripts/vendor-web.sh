#!/usr/bin/env bash
# Refreshes the web page's vendored chart library (crates/web/assets/vendor/) from the npm
# registry: downloads uPlot VERSION, checks the tarball against the sha256 you give (read it
# from `npm view uplot@VERSION dist.integrity` or the release page), copies the released
# files and rewrites SOURCES with their hashes. Then: cargo test -p netoproc-web.
#   scripts/vendor-web.sh 1.6.32 4b8a8191e425658e3ea8c8c1314b0fc679c861ee3a1af2b20c7b16ba50b5133d
set -euo pipefail
[ $# -eq 2 ] || { echo "usage: $0 VERSION TARBALL_SHA256" >&2; exit 2; }
version=$1 want=$2
cd "$(dirname "$0")/.."
dest=crates/web/assets/vendor
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
url="https://registry.npmjs.org/uplot/-/uplot-$version.tgz"
curl -fsSL -o "$tmp/u.tgz" "$url"
got=$(sha256sum "$tmp/u.tgz" | cut -d' ' -f1)
[ "$got" = "$want" ] || { echo "tarball sha256 is $got, not $want" >&2; exit 1; }
tar -xzf "$tmp/u.tgz" -C "$tmp"
cp "$tmp/package/dist/uPlot.iife.min.js" "$tmp/package/dist/uPlot.min.css" "$dest/"
cp "$tmp/package/LICENSE" "$dest/uPlot.LICENSE"
{
  sed -n '1,5p' "$dest/SOURCES"
  echo "# uPlot $version (MIT, https://github.com/leeoniya/uPlot), from"
  echo "# $url"
  echo "# tarball sha256 $want"
  (cd "$dest" && sha256sum uPlot.iife.min.js uPlot.min.css uPlot.LICENSE)
} > "$tmp/SOURCES"
mv "$tmp/SOURCES" "$dest/SOURCES"
echo "vendored uPlot $version into $dest"
