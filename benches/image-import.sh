#!/usr/bin/env bash
# Import throughput (issue 14): nsbox importing an OCI image into a fresh store, beside tar -x of
# the same layers, umoci unpack and skopeo copy (benches/image_import.rs). Prints markdown
# tables; docs/benchmarks.md ("Images (issue 14)") explains them.
#
# Usage (as root, from anywhere):  benches/image-import.sh
# Env: NSBOX_IMPORT_TREES="usr/share/perl usr/share/vim usr/share/i18n" (one layer each, paths
#        under /, packed with tar --numeric-owner)
#      NSBOX_IMPORT_ROUNDS=5
#      NSBOX_IMPORT_DIR (default /var/tmp/nsbox-image-import: rebuilt on every run; on disk,
#        not a tmpfs, since nsbox syncs what it imports)
#      CGSAFE (default ../shared/testenv/cgsafe-ns.sh beside the repository)
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
work=${NSBOX_IMPORT_DIR:-/var/tmp/nsbox-image-import}
trees=${NSBOX_IMPORT_TREES:-usr/share/perl usr/share/vim usr/share/i18n}
cgsafe=${CGSAFE:-$repo/../shared/testenv/cgsafe-ns.sh}
[ "$(id -u)" = 0 ] || { echo "image-import.sh: run as root" >&2; exit 1; }
[ -x "$cgsafe" ] || { echo "image-import.sh: $cgsafe not found (set CGSAFE)" >&2; exit 1; }
step() { printf '== %s (%s)\n' "$*" "$(date +%T)" >&2; }

step "packages"
need=()
for p in umoci skopeo python3 tar; do
  dpkg -s "$p" >/dev/null 2>&1 || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

step "layers and layouts in $work"
rm -rf "$work"
mkdir -p "$work/tars"
i=0 entries=0
for tree in $trees; do
  tar --numeric-owner -C / -cf "$work/tars/$(printf %02d $i).tar" "$tree"
  entries=$((entries + $(tar -tf "$work/tars/$(printf %02d $i).tar" | wc -l)))
  i=$((i + 1))
done
python3 "$repo/benches/oci-layout.py" write "$work/layout-plain" bench none "$work"/tars/*.tar
python3 "$repo/benches/oci-layout.py" write "$work/layout-gzip" bench gzip "$work"/tars/*.tar
rm -rf "$work/tars"

step "build"
cargo bench -q --bench image_import --no-run

step "machine"
{
  echo "kernel $(uname -r), $(nproc) CPUs: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')"
  echo "file system of $work: $(df -T "$work" | awk 'NR==2 {print $2}')"
  echo "nsbox $(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo '?')"
  echo "layers: $trees ($entries entries); $(tar --version | head -1); umoci $(umoci --version | sed 's/.*version //'); $(skopeo --version)"
}

step "run"
"$cgsafe" env NSBOX_IMPORT_DIR="$work" cargo bench -q --bench image_import
rm -rf "$work"
