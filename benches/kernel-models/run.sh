#!/usr/bin/env bash
# The C models behind docs/benchmarks.md's issue-17 measurements of kernel costs (as root; gcc).
# Each prints its own line; absolute times drift on a shared VM, compare within one run.
set -euo pipefail
cd "$(dirname "$0")"
out=/var/tmp/nsbox-kernel-models
mkdir -p "$out"
for c in *.c; do gcc -O2 -pthread -o "$out/${c%.c}" "$c"; done
cd "$out"
./open_tree_namespace
./namespace_costs
for mb in 0 100; do for vm in 0 1; do ./premade_pair 300 "$mb" "$vm"; done; done
for extra in 0 30 100 300; do unshare -m ./mount_copy "$extra"; done
./masked_dirs 0; ./masked_dirs 1
for mode in 0 1; do unshare -Urnm --ipc ./premade_superblocks "$mode"; done
for flags in 0x20000 0x60020000; do ./teardown_wait 0 "$flags"; ./teardown_wait 1 "$flags"; done
for flags in 0 0x40000000 0x7c020000; do ./netns_throughput "$flags"; done
