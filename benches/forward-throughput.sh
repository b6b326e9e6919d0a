#!/usr/bin/env bash
# Throughput of published ports (benches/forward.rs): one server in a container's network
# namespace reached directly (a client in that namespace), through nsbox's forwarder, and
# through socat, interleaved round by round; bulk GiB/s both ways and short connections per
# second, as ratios to the direct connection. With a base revision (default: main), the same
# bench is also built against that revision's library and run after this tree's, so one run
# shows before and after. Prints markdown tables; docs/benchmarks.md explains them.
#
# Usage (as root, from anywhere):  benches/forward-throughput.sh
# Env: NSBOX_FORWARD_BASE=main (a git revision; empty: this tree only)
#      NSBOX_FORWARD_ROUNDS=3 NSBOX_FORWARD_GIB=1 NSBOX_FORWARD_CONNECTIONS=1000
#      NSBOX_FORWARD_SOCAT=1 (0 skips socat) NSBOX_FORWARD_RUNS=2 (base and this tree
#      alternate, each run a full set of rounds)
#
# Installs socat from Debian if it is missing. The base tree is exported with `git archive`
# into target/forward-base (the repository is not touched) and built with this tree's
# target directory, so only the nsbox crate itself is compiled again.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
base=${NSBOX_FORWARD_BASE-main}
[ "$(id -u)" = 0 ] || { echo "forward-throughput.sh: run as root" >&2; exit 1; }
step() { printf '== %s (%s)\n' "$*" "$(date +%T)" >&2; }

if [ "${NSBOX_FORWARD_SOCAT:-1}" = 1 ] && ! command -v socat >/dev/null; then
  step "installing socat"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends socat >/dev/null
fi

# Builds benches/forward.rs in the tree $1 and prints the path of the binary.
build() {
  (cd "$1" && CARGO_TARGET_DIR="$repo/target" cargo bench -q --bench forward --no-run --message-format=json) |
    python3 -c 'import json,sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "forward" and m.get("executable"):
        print(m["executable"])' | tail -1
}

step "build this tree"
this=$(build "$repo")
base_bin=
if [ -n "$base" ]; then
  step "build $base"
  tree=$repo/target/forward-base
  rm -rf "$tree"
  mkdir -p "$tree"
  git -C "$repo" archive "$base" | tar -x -C "$tree"
  cp "$repo/benches/forward.rs" "$tree/benches/forward.rs"
  grep -q 'name = "forward"' "$tree/Cargo.toml" || printf '\n[[bench]]\nname = "forward"\nharness = false\n' >>"$tree/Cargo.toml"
  base_bin=$(build "$tree")
fi

step "machine"
echo "kernel $(uname -r), $(nproc) CPUs: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')"
echo "nsbox $(git -C "$repo" rev-parse --short HEAD)$(git -C "$repo" status --porcelain -- src Cargo.toml | grep -q . && echo ' + uncommitted changes')${base:+, base $base = $(git -C "$repo" rev-parse --short "$base")}; $(socat -V 2>/dev/null | grep -m1 'socat version' || echo 'no socat')"
echo "rounds ${NSBOX_FORWARD_ROUNDS:-3}, ${NSBOX_FORWARD_GIB:-1} GiB per bulk transfer, ${NSBOX_FORWARD_CONNECTIONS:-1000} connections per rate measurement"

# Base and this tree alternate, so that a change in the machine's load shows in both.
for run in $(seq 1 "${NSBOX_FORWARD_RUNS:-2}"); do
  if [ -n "$base_bin" ]; then
    step "run $run: $base"
    NSBOX_FORWARD_LABEL="nsbox $base" "$base_bin"
  fi
  step "run $run: this tree"
  NSBOX_FORWARD_LABEL="nsbox $(git -C "$repo" rev-parse --abbrev-ref HEAD)" "$this"
done
step "done"
