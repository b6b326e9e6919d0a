#!/usr/bin/env bash
# The spawn rows with cgroup limits in a pure cgroup v2 kernel: benches/compare.rs (the runner of
# benches/compare.sh) run inside ../shared/testenv/cgroup-v2-vm.sh (QEMU, TCG) beside crun and
# runc, on the baselines, workload (a) (all namespaces, rootfs, no cgroup) for reference and (c)
# ((a) + Docker's seccomp + pids 64, cpu 1.0: a cgroup per container), hot and cold. Prints
# compare.rs's markdown tables; docs/benchmarks.md ("cgroup v2 (QEMU VM)") explains them.
# Absolute times in the VM are emulated: only the ratios to fork+exec of the same run count.
#
# Usage (as root, from anywhere):  benches/compare-v2.sh
# Env: NSBOX_COMPARE_HOT=40 NSBOX_COMPARE_COLD=40 NSBOX_COMPARE_IDLE_MS=150 (rounds in the VM)
#      NSBOX_COMPARE_WORKLOADS='(a),(c)' NSBOX_COMPARE_RUNNERS (as compare.rs reads them)
#      NSBOX_COMPARE_V2_PHASES=1 (0: no phase table: benches/phases.rs with trace-timing, cold,
#      NSBOX_PHASES_N=20 spawns per configuration)
#      NSBOX_COMPARE_DIR (default /var/tmp/nsbox-compare-v2, not under /tmp: the VM mounts a
#      fresh tmpfs there), VM_CACHE (default $NSBOX_COMPARE_DIR-vm: an initramfs of our own, the
#      kernel linked from ../shared/testenv's cache), VM_SMP (2), VM_MEM (2048), VM_TIMEOUT (1800)
#
# 1. compare.sh with NSBOX_COMPARE_PREPARE_ONLY=1: the packages, the busybox rootfs, the bundles;
# 2. the runner (`cargo bench --bench compare --no-run`) and, unless disabled, the phase bench
#    with the trace-timing feature, both release builds;
# 3. the VM: the runner, crun, runc, bwrap, coreutils' true (as the host's /bin/true, so the
#    baseline is the same program as compare.sh's) with their libraries, the rootfs and the
#    bundles (not the images: (f) and (g) are skipped); inside, cgroup2 at /sys/fs/cgroup with
#    every controller enabled; crun and runc use their cgroupfs driver.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
export NSBOX_COMPARE_DIR=${NSBOX_COMPARE_DIR:-/var/tmp/nsbox-compare-v2}
work=$NSBOX_COMPARE_DIR
vm=$repo/../shared/testenv/cgroup-v2-vm.sh
[ "$(id -u)" = 0 ] || { echo "compare-v2.sh: run as root" >&2; exit 1; }
[ -x "$vm" ] || { echo "compare-v2.sh: $vm not found" >&2; exit 1; }
case "$work" in /tmp/*) echo "compare-v2.sh: NSBOX_COMPARE_DIR under /tmp is hidden in the VM" >&2; exit 1 ;; esac
step() { printf '== %s (%s)\n' "$*" "$(date +%T)" >&2; }
export CARGO_INCREMENTAL=0

NSBOX_COMPARE_PREPARE_ONLY=1 "$repo/benches/compare.sh"

# The executable cargo built for a bench target (json lines on stdin).
executable() {
  python3 -c 'import json,sys
for l in sys.stdin:
    m = json.loads(l)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["target"]["name"] == sys.argv[1]:
        print(m["executable"])' "$1" | tail -1
}
step "build"
bin=$work/bin
mkdir -p "$bin"
runner=$(cargo bench -q --bench compare --no-run --message-format=json | executable compare)
[ -x "$runner" ] || { echo "compare-v2.sh: the compare runner was not built" >&2; exit 1; }
install -m 0755 "$runner" "$bin/compare"
binaries="$bin/compare $(command -v crun) $(command -v runc) $(command -v bwrap) /usr/bin/true"
phases=true
if [ "${NSBOX_COMPARE_V2_PHASES:-1}" = 1 ]; then
  built=$(cargo bench -q --features trace-timing --bench phases --no-run --message-format=json | executable phases)
  [ -x "$built" ] || { echo "compare-v2.sh: the phase bench was not built" >&2; exit 1; }
  install -m 0755 "$built" "$bin/phases"
  binaries="$binaries $bin/phases"
  phases="echo && echo '### Phases (benches/phases.rs, trace-timing), cold' && echo &&
    NSBOX_PHASES_N=${NSBOX_PHASES_N:-20} NSBOX_PHASES_IDLE_MS=${NSBOX_COMPARE_IDLE_MS:-150} $bin/phases"
fi

# A cache of our own (its initramfs is rebuilt on every boot), the kernel shared.
export VM_CACHE=${VM_CACHE:-$work-vm}
mkdir -p "$VM_CACHE"
for k in /var/tmp/nsbox-testenv-vm/kernel-*; do
  [ -d "$k" ] && [ ! -e "$VM_CACHE/$(basename "$k")" ] && ln -s "$k" "$VM_CACHE/$(basename "$k")"
done

files=$work/rootfs
for d in bundle-plain bundle-seccomp bundle-limits bundle-runc state-crun state-runc; do
  [ -e "$work/$d" ] && files="$files $work/$d"
done
hot=${NSBOX_COMPARE_HOT:-40} cold=${NSBOX_COMPARE_COLD:-40} idle=${NSBOX_COMPARE_IDLE_MS:-150}
workloads=${NSBOX_COMPARE_WORKLOADS:-(a),(c)}
runners=
[ -n "${NSBOX_COMPARE_RUNNERS:-}" ] && runners="NSBOX_COMPARE_RUNNERS='$NSBOX_COMPARE_RUNNERS'"
step "machine"
{
  echo "host: kernel $(uname -r), $(nproc) CPUs: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')"
  echo "nsbox $(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git status --porcelain -- src Cargo.toml 2>/dev/null | grep -q . && echo ' + uncommitted changes in src/')"
  echo "$(crun --version | head -1); $(runc --version | head -1); $(bwrap --version)"
  echo "VM: QEMU $(qemu-system-x86_64 --version 2>/dev/null | head -1 | sed 's/.*version //') TCG, ${VM_SMP:-2} vCPUs, ${VM_MEM:-2048} MiB"
  echo "hot: $hot rounds, cold: $cold rounds x $idle ms idle; workloads $workloads"
}

step "run in the VM"
export VM_SELFTEST=0 VM_MODULES=${VM_MODULES:-overlay} VM_TIMEOUT=${VM_TIMEOUT:-1800}
export VM_BINARIES=$binaries VM_FILES=$files
# The guest's /bin/true is busybox's applet: the host's (coreutils) replaces it.
export VM_CMD="ln -sf /usr/bin/true /bin/true && cd /tmp &&
  echo \"guest: kernel \$(uname -r), \$(nproc) CPUs, cgroup2 controllers: \$(cat /sys/fs/cgroup/cgroup.subtree_control)\" &&
  start=\$(cut -d. -f1 /proc/uptime) &&
  NSBOX_COMPARE_DIR=$work NSBOX_COMPARE_HOT=$hot NSBOX_COMPARE_COLD=$cold NSBOX_COMPARE_IDLE_MS=$idle \
  NSBOX_COMPARE_WORKLOADS='$workloads' $runners \
  NSBOX_COMPARE_MEMORY=0 NSBOX_COMPARE_THROUGHPUT=0 $bin/compare &&
  echo \"(compare: \$((\$(cut -d. -f1 /proc/uptime) - start)) s in the guest)\" && $phases"
start=$(date +%s)
"$vm"
step "done in $(($(date +%s) - start)) s"
