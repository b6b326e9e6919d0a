#!/usr/bin/env bash
# Spawn -> exit of /bin/true through nsbox, crun, runc, bubblewrap and unshare(1), interleaved
# in one process (benches/compare.rs), hot and cold, beside a plain fork+exec; then the memory
# of idle containers. Prints markdown tables; docs/benchmarks.md explains them.
#
# Usage (as root, from anywhere):  benches/compare.sh
# Env: NSBOX_COMPARE_HOT=200 NSBOX_COMPARE_COLD=30 NSBOX_COMPARE_IDLE_MS=150
#      NSBOX_COMPARE_MEMORY=20 (0 skips the memory part)
#      NSBOX_COMPARE_RUNNERS=nsbox,crun (parts of runner names to keep; default all)
#      NSBOX_COMPARE_DIR (default /tmp/nsbox-compare: rebuilt on every run)
#      CGSAFE (default ../shared/testenv/cgsafe-ns.sh beside the repository)
#
# 1. installs what is missing from Debian: crun, runc, bubblewrap, busybox-static, util-linux,
#    python3, and (downloaded, not installed: only its JSON is read) golang-github-docker-docker-dev
#    for Docker's default seccomp profile;
# 2. builds a busybox rootfs and OCI bundles from `runc spec`, edited to match what nsbox does;
#    packs the rootfs as a one-layer OCI image (benches/oci-layout.py) for workload (f), and
#    takes the Debian image of the image tests (target/nsbox-test-images/debian-*/oci, built by
#    `cargo test -p nsbox-image`) for (g) when it is there; compare.rs imports both into a
#    store and flattens their layers for crun's and runc's bundles;
# 3. runs the runner under `CGSAFE_UNIFIED=0 cgsafe-ns.sh`: crun and runc create cgroups in every
#    v1 hierarchy they see and the memory one belongs to this machine's supervision; crun 1.8
#    refuses a hybrid layout whose cgroup2 has a controller, so cgroup2 is hidden too.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
work=${NSBOX_COMPARE_DIR:-/tmp/nsbox-compare}
cgsafe=${CGSAFE:-$repo/../shared/testenv/cgsafe-ns.sh}
[ "$(id -u)" = 0 ] || { echo "compare.sh: run as root" >&2; exit 1; }
[ -x "$cgsafe" ] || { echo "compare.sh: $cgsafe not found (set CGSAFE)" >&2; exit 1; }
step() { printf '== %s (%s)\n' "$*" "$(date +%T)" >&2; }

step "packages"
need=()
for p in crun runc bubblewrap busybox-static util-linux python3; do
  dpkg -s "$p" >/dev/null 2>&1 || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

step "rootfs and bundles in $work"
rm -rf "$work"
mkdir -p "$work/rootfs/bin"
chmod 755 "$work" "$work/rootfs"
cp /bin/busybox "$work/rootfs/bin/busybox"
for applet in sh true sleep cat ls; do ln -s busybox "$work/rootfs/bin/$applet"; done
mkdir -p "$work"/rootfs/{proc,dev,sys,tmp,run,etc}

# The images of (f) and (g): OCI layouts, and their layers uncompressed (NN.tar, base first) for
# compare.rs to flatten (nsbox_image::unpack, Mode::Flatten) into image-*-rootfs, the bundles'
# roots. busybox: the rootfs above as one gzip layer.
tar --numeric-owner --owner=0 --group=0 -C "$work/rootfs" -cf "$work/busybox-layer.tar" .
python3 "$repo/benches/oci-layout.py" write "$work/image-busybox" bench gzip "$work/busybox-layer.tar"
python3 "$repo/benches/oci-layout.py" layers "$work/image-busybox" bench "$work/image-busybox-layers"
debian=
for d in "$repo"/target/nsbox-test-images/debian-*/; do
  [ -e "$d/done" ] && [ -e "$d/oci/oci-layout" ] && debian=${d%/}/oci && break
done
if [ -n "$debian" ]; then
  ln -s "$debian" "$work/image-debian"
  python3 "$repo/benches/oci-layout.py" layers "$debian" latest "$work/image-debian-layers"
else
  echo "compare.sh: no Debian image under target/nsbox-test-images (cargo test -p nsbox-image builds it): (g) skipped" >&2
fi

# Docker's default seccomp profile (moby profiles/seccomp/default.json) from the Debian package
# that ships moby's source; kept in a cache beside the build so it is downloaded once.
profile_cache=$repo/target/compare-cache
docker_profile=$profile_cache/docker-default.json
if [ ! -s "$docker_profile" ]; then
  mkdir -p "$profile_cache"
  tmp=$(mktemp -d)
  chmod 777 "$tmp" # apt-get download drops privileges to _apt
  if (cd "$tmp" && apt-get download -qq golang-github-docker-docker-dev >/dev/null 2>&1 ||
        { apt-get update -qq && apt-get download -qq golang-github-docker-docker-dev >/dev/null; }); then
    dpkg-deb --fsys-tarfile "$tmp"/golang-github-docker-docker-dev_*.deb |
      tar -xO ./usr/share/gocode/src/github.com/docker/docker/profiles/seccomp/default.json >"$docker_profile" || true
  fi
  rm -rf "$tmp"
fi

# A bundle from `runc spec`, edited (python3 below) to do what nsbox does by default:
#   args /bin/true, no terminal, the busybox root read-only, namespaces pid net ipc uts mount
#   user cgroup (+ time for crun), uid/gid maps 0 -> 0 x 65536 (nsbox's default for root),
#   nsbox's 11 default capabilities (Podman's) instead of runc's 3, no rlimits, the spec's
#   mounts (/proc, /dev tmpfs, /dev/pts, /dev/shm, /dev/mqueue, /sys ro) but not
#   /sys/fs/cgroup (nsbox mounts none), the spec's masked and read-only paths, no device cgroup
#   rule; optionally Docker's seccomp profile and the limits pids 64, cpu quota 100000/100000.
bundle() { # NAME [seccomp] [limits] [no-time] [rootfs=DIR] [-- ARGS...]
  local dir=$work/$1
  mkdir -p "$dir"
  (cd "$dir" && runc spec)
  python3 - "$dir/config.json" "$work/rootfs" "$docker_profile" "$@" <<'EOF'
import json, os, sys
path, rootfs, profile, name, *rest = sys.argv[1:]
opts, args = (rest[:rest.index("--")], rest[rest.index("--") + 1:]) if "--" in rest else (rest, [])
rootfs = next((o[len("rootfs="):] for o in opts if o.startswith("rootfs=")), rootfs)
caps = ["CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL", "CAP_NET_BIND_SERVICE",
        "CAP_SETFCAP", "CAP_SETGID", "CAP_SETPCAP", "CAP_SETUID", "CAP_SYS_CHROOT"]
c = json.load(open(path))
p = c["process"]
p["args"] = args or ["/bin/true"]
p["terminal"] = False
p["capabilities"] = {"bounding": caps, "effective": caps, "permitted": caps}
p.pop("rlimits", None)
c["root"] = {"path": rootfs, "readonly": True}
c["mounts"] = [m for m in c["mounts"] if m["destination"] != "/sys/fs/cgroup"]
lx = c["linux"]
ns = ["pid", "network", "ipc", "uts", "mount", "user", "cgroup"] + ([] if "no-time" in opts else ["time"])
lx["namespaces"] = [{"type": t} for t in ns]
lx["uidMappings"] = [{"containerID": 0, "hostID": 0, "size": 65536}]
lx["gidMappings"] = [{"containerID": 0, "hostID": 0, "size": 65536}]
lx["resources"] = {}
if "limits" in opts:
    lx["resources"] = {"pids": {"limit": 64}, "cpu": {"quota": 100000, "period": 100000}}
if "seccomp" in opts:
    # Docker's conversion (moby profiles/seccomp/seccomp_linux.go: setupSeccomp) for amd64,
    # this kernel and the capabilities above.
    prof = json.load(open(profile))
    kernel = tuple(int(x) for x in os.uname().release.split("-")[0].split(".")[:2])
    kge = lambda v: kernel >= tuple(int(x) for x in v.split(".")[:2])
    out = {"defaultAction": prof["defaultAction"], "syscalls": []}
    if "defaultErrnoRet" in prof:
        out["defaultErrnoRet"] = prof["defaultErrnoRet"]
    for m in prof.get("archMap") or []:
        if m["architecture"] == "SCMP_ARCH_X86_64":
            out["architectures"] = [m["architecture"]] + m["subArchitectures"]
    for s in prof["syscalls"]:
        inc, exc = s.get("includes") or {}, s.get("excludes") or {}
        if "amd64" in (exc.get("arches") or []) or set(caps) & set(exc.get("caps") or []):
            continue
        if exc.get("minKernel") and kge(exc["minKernel"]):
            continue
        if inc.get("arches") and "amd64" not in inc["arches"]:
            continue
        if inc.get("caps") and not set(inc["caps"]) <= set(caps):
            continue
        if inc.get("minKernel") and not kge(inc["minKernel"]):
            continue
        call = {"names": s.get("names") or [s["name"]], "action": s["action"]}
        if s.get("errnoRet") is not None:
            call["errnoRet"] = s["errnoRet"]
        if s.get("args"):
            call["args"] = s["args"]
        out["syscalls"].append(call)
    lx["seccomp"] = out
json.dump(c, open(path, "w"), indent=1)
EOF
}
bundle bundle-plain
bundle bundle-sleep -- /bin/sleep 60
if [ -s "$docker_profile" ]; then
  bundle bundle-seccomp seccomp
  bundle bundle-limits seccomp limits
  bundle bundle-runc seccomp limits no-time # runc 1.1 has no time namespace
  bundle bundle-exec seccomp -- /bin/sleep 3600
  bundle bundle-exec-runc seccomp no-time -- /bin/sleep 3600
else
  echo "compare.sh: Docker's seccomp profile unavailable: crun and runc run without seccomp" >&2
  bundle bundle-limits limits
  bundle bundle-runc limits no-time
  bundle bundle-exec -- /bin/sleep 3600
  bundle bundle-exec-runc no-time -- /bin/sleep 3600
fi
# (f), (g): the flattened layers, otherwise as bundle-plain (runc: 7 namespaces).
bundle bundle-image-busybox "rootfs=$work/image-busybox-rootfs"
bundle bundle-image-busybox-runc "rootfs=$work/image-busybox-rootfs" no-time
if [ -n "$debian" ]; then
  bundle bundle-image-debian "rootfs=$work/image-debian-rootfs"
  bundle bundle-image-debian-runc "rootfs=$work/image-debian-rootfs" no-time
fi
mkdir -p "$work/state-crun" "$work/state-runc"

step "build"
cargo bench -q --bench compare --no-run

step "machine"
{
  echo "kernel $(uname -r), $(nproc) CPUs: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')"
  echo "nsbox $(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$repo" status --porcelain -- src Cargo.toml 2>/dev/null | grep -q . && echo ' + uncommitted changes in src/')"
  echo "$(crun --version | head -1); $(runc --version | head -1); $(bwrap --version); unshare from $(unshare --version | sed 's/.*from //')"
  echo "seccomp profile for the peers: $([ -s "$docker_profile" ] && echo "Docker's default.json ($(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["syscalls"]))' "$docker_profile") entries) from golang-github-docker-docker-dev" || echo none)"
  echo "settings: CGSAFE_UNIFIED=0 cgsafe-ns.sh (cgroup v1 without the memory hierarchy, cgroup2 hidden)"
  echo "hot: ${NSBOX_COMPARE_HOT:-200} rounds, cold: ${NSBOX_COMPARE_COLD:-30} rounds x ${NSBOX_COMPARE_IDLE_MS:-150} ms idle"
}

step "run"
start=$(date +%s)
CGSAFE_UNIFIED=0 "$cgsafe" env NSBOX_COMPARE_DIR="$work" cargo bench -q --bench compare
step "done in $(($(date +%s) - start)) s"
