#!/usr/bin/env bash
# Spawn -> exit of /bin/true through nsbox, crun, runc, bubblewrap and unshare(1), interleaved
# in one process (benches/compare.rs), hot and cold, beside a plain fork+exec; then the memory
# of idle containers. Prints markdown tables; docs/benchmarks.md explains them.
#
# Usage (as root, from anywhere):  benches/compare.sh
# Env: NSBOX_COMPARE_HOT=200 NSBOX_COMPARE_COLD=30 NSBOX_COMPARE_IDLE_MS=150
#      NSBOX_COMPARE_MEMORY=20 (0 skips the memory part)
#      NSBOX_COMPARE_THROUGHPUT=300 NSBOX_COMPARE_THROUGHPUT_ROUNDS=5 (spawns per runner and round of
#      the throughput table: /bin/true spawned and reaped by one worker per CPU; 0 skips it)
#      NSBOX_COMPARE_RUNNERS=nsbox,crun (parts of runner names to keep; default all)
#      NSBOX_COMPARE_DIR (default /tmp/nsbox-compare: rebuilt on every run)
#      CGSAFE (default ../shared/testenv/cgsafe-ns.sh beside the repository)
#      NSBOX_COMPARE_MAIN=1 (0 skips compare.rs: only the OCI runtime part runs)
#      NSBOX_COMPARE_CYCLE=50 (rounds of the OCI runtime part; 0 skips it)
#      NSBOX_COMPARE_DOCKER=1 (0: no Docker rows; they need docker.io and ../shared/testenv),
#      NSBOX_COMPARE_DOCKER_ROUNDS=20
#      NSBOX_RUNTIME (an nsbox-runtime binary; default: built here when the crate has it)
#      NSBOX_COMPARE_PREPARE_ONLY=1 (stop after step 2: packages, rootfs and bundles only;
#      benches/compare-v2.sh uses it to run the runner in a cgroup v2 VM)
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
# 4. the OCI runtime part (issue 16), in a second runner (python3, below) under the same
#    wrapper: the bare create/start/wait/delete cycle of a busybox bundle through runc, crun and
#    nsbox-runtime, as containerd's shim drives them (the pid file's process reaped by the
#    runner, a child subreaper like the shim), and `docker run --rm --runtime R IMAGE true`
#    for runc, crun and nsbox through a private dockerd (../shared/testenv/docker-env.sh, own
#    socket and directories, started and stopped here), each beside fork+exec of /bin/true in
#    the same loop.
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
if "cycle" in opts:
    # What nsbox-runtime refuses in runc's defaults (docs/oci.md), changed for every runtime:
    # nsbox's masked paths (runc's plus two of Docker's), a /dev tmpfs without strictatime.
    lx["maskedPaths"] += [p for p in ["/proc/interrupts", "/sys/devices/virtual/powercap"] if p not in lx["maskedPaths"]]
    for m in c["mounts"]:
        if m["destination"] == "/dev":
            m["options"] = [o for o in m["options"] if o != "strictatime"]
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
# The OCI runtime cycle's bundle: (a) with /bin/true, 7 namespaces (runc 1.1 has no time ns),
# the two changes nsbox-runtime needs (see "cycle" above), the same bundle for every runtime.
bundle bundle-cycle no-time cycle
mkdir -p "$work/state-crun" "$work/state-runc" "$work/state-cycle"
[ "${NSBOX_COMPARE_PREPARE_ONLY:-0}" = 1 ] && exit 0

if [ "${NSBOX_COMPARE_MAIN:-1}" = 1 ]; then
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
fi

# ---- 4. OCI runtimes: the bare cycle and docker run (issue 16) ----------------------------
cycle_rounds=${NSBOX_COMPARE_CYCLE:-50}
[ "$cycle_rounds" -gt 0 ] || exit 0
step "OCI runtimes: nsbox-runtime"
nsbox_runtime=${NSBOX_RUNTIME:-}
if [ -z "$nsbox_runtime" ]; then
  if cargo build -q --release -p nsbox-oci --bin nsbox-runtime 2>/dev/null; then
    nsbox_runtime=$repo/target/release/nsbox-runtime
  else
    echo "compare.sh: no nsbox-runtime binary in crates/nsbox-oci (yet): its rows are skipped" >&2
  fi
fi
docker_env=$(dirname "$cgsafe")/docker-env.sh
docker_up=0
if [ "${NSBOX_COMPARE_DOCKER:-1}" = 1 ]; then
  if [ ! -x "$docker_env" ] || [ ! -x /usr/bin/docker ]; then
    echo "compare.sh: no docker-env.sh or Debian's docker.io: the docker rows are skipped" >&2
  elif pgrep -x dockerd >/dev/null; then
    echo "compare.sh: another dockerd is running: the docker rows are skipped" >&2
  else
    step "OCI runtimes: a private dockerd (docker-env.sh)"
    # docker-env.sh's knobs: directories and socket of our own
    export SCRATCH=$work/docker DATA_ROOT=/var/lib/nsbox-compare-docker EXEC_ROOT=/run/nsbox-compare-docker
    export SOCK=/run/nsbox-compare-docker.sock PIDFILE=/run/nsbox-compare-docker.pid
    export STATE=/run/nsbox-compare-docker.state
    export EXTRA_RUNTIMES=${nsbox_runtime:+nsbox=$nsbox_runtime}
    trap '"$docker_env" stop >/dev/null 2>&1 || true' EXIT
    if "$docker_env" start >/dev/null 2>&1; then
      docker_up=1
      tar --numeric-owner --owner=0 --group=0 -C "$work/rootfs" -c . |
        DOCKER_HOST=unix://$SOCK /usr/bin/docker import - nsbox-compare/busybox:latest >/dev/null
    else
      echo "compare.sh: dockerd did not start: the docker rows are skipped" >&2
    fi
  fi
fi
{
  echo "$(runc --version | head -1); $(crun --version | head -1); nsbox-runtime: ${nsbox_runtime:-none}"
  if [ "$docker_up" = 1 ]; then
    echo "$(/usr/bin/docker --version) (private dockerd under CGSAFE_UNIFIED=0 cgsafe-ns.sh: cgroupfs, overlay2)"
  fi
  echo "cycle: $cycle_rounds rounds, docker run: ${NSBOX_COMPARE_DOCKER_ROUNDS:-20} rounds; back to back, a shuffled order per round"
}
step "OCI runtimes: run"
CGSAFE_UNIFIED=0 "$cgsafe" env DOCKER_HOST="unix://${SOCK:-/nonexistent}" python3 - "$work" "$cycle_rounds" \
  "${NSBOX_COMPARE_DOCKER_ROUNDS:-20}" "$docker_up" "$nsbox_runtime" <<'EOF'
# Interleaved rounds of fork+exec /bin/true (the baseline), the create/start/wait/delete cycle
# per runtime and docker run --rm per runtime; a table like compare.rs's.
import ctypes, os, random, subprocess, sys, tempfile, time

work, rounds, docker_rounds, docker_up, nsbox_runtime = sys.argv[1:6]
rounds, docker_rounds = int(rounds), int(docker_rounds)
# A child subreaper, as containerd's shim is: the container's process, whose parent (the
# runtime's create) exits, becomes our child and its exit is reaped here.
libc = ctypes.CDLL(None, use_errno=True)
assert libc.prctl(36, 1, 0, 0, 0) == 0  # PR_SET_CHILD_SUBREAPER
DEVNULL = subprocess.DEVNULL
bundle = os.path.join(work, "bundle-cycle")
state = os.path.join(work, "state-cycle")
ids = [0]


def reap_strays():
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def call(argv, quiet):
    """Runs argv; its exit code and (unless quiet) its stderr. Through a file, not a pipe: a
    container started by argv inherits the stream and would hold a pipe open."""
    if quiet:
        return subprocess.run(argv, stdin=DEVNULL, stdout=DEVNULL, stderr=DEVNULL).returncode, ""
    with tempfile.TemporaryFile() as err:
        code = subprocess.run(argv, stdin=DEVNULL, stdout=DEVNULL, stderr=err).returncode
        err.seek(0)
        return code, err.read().decode(errors="replace").strip()


def command(argv):
    def run(quiet):
        code, err = call(argv, quiet)
        if code != 0:
            raise RuntimeError(f"exit {code}: {err}")
    return run


def cycle(binary):
    base = [binary, "--root", state]

    def run(quiet):
        ids[0] += 1
        cid = f"nsbc{os.getpid()}-{ids[0]}"
        pidfile = os.path.join(state, cid + ".pid")

        def step(*args):
            code, err = call(base + list(args), quiet)
            if code != 0:
                call(base + ["delete", "--force", cid], True)
                raise RuntimeError(f"{args[0]}: exit {code}: {err}")

        step("create", "--bundle", bundle, "--pid-file", pidfile, cid)
        pid = int(open(pidfile).read())
        step("start", cid)
        try:
            os.waitpid(pid, 0)
        except ChildProcessError:  # not reparented to us: wait for it to go
            while os.path.exists(f"/proc/{pid}"):
                time.sleep(0.0005)
        step("delete", cid)
        os.unlink(pidfile)
    return run


runners = [("baseline", "fork+exec /bin/true", command(["/bin/true"]), max(rounds, docker_rounds))]
peers = [("runc", "runc"), ("crun", "crun")] + ([("nsbox-runtime", nsbox_runtime)] if nsbox_runtime else [])
for name, binary in peers:
    runners.append(("(h) create, start, wait, delete", name, cycle(binary), rounds))
if docker_up == "1":
    for name in ["runc", "crun"] + (["nsbox"] if nsbox_runtime else []):
        argv = ["/usr/bin/docker", "run", "--rm", "--runtime", name, "nsbox-compare/busybox", "/bin/true"]
        runners.append(("(i) docker run --rm IMAGE /bin/true", f"--runtime {name}", command(argv), docker_rounds))

kept = []
for r in runners:  # each once with its errors shown; a failing one is dropped
    try:
        r[2](False)
        kept.append(r)
    except Exception as e:
        print(f"**{r[0]} / {r[1]} dropped**: {e}")
    reap_strays()
for r in kept:  # warm-up, discarded
    try:
        r[2](True)
    except Exception:
        pass
    reap_strays()
samples = {(r[0], r[1]): [] for r in kept}
rng = random.Random(0x9E3779B9)
started = time.monotonic()
for i in range(max(rounds, docker_rounds)):
    order = [r for r in kept if i < r[3]]
    rng.shuffle(order)
    for workload, name, run, _ in order:
        t = time.perf_counter()
        try:
            run(True)
        except Exception as e:
            print(f"{workload} / {name}: {e}", file=sys.stderr)
            continue
        samples[(workload, name)].append(time.perf_counter() - t)
        reap_strays()


def q(s, p):  # nearest rank
    return s[max(0, min(len(s) - 1, -(-int(p * len(s) * 1000) // 1000) - 1))]


print(f"\n### OCI runtimes: back to back ({time.monotonic() - started:.0f} s)\n")
print("| workload | runner | n | p50 ms | p95 ms | min ms | p50 / p50(fork+exec) |")
print("|---|---|---:|---:|---:|---:|---:|")
base = sorted(samples.get(("baseline", "fork+exec /bin/true")) or [1.0])
for workload, name, _, _ in kept:
    s = sorted(samples[(workload, name)])
    if not s:
        print(f"| {workload} | {name} | 0 | failed | | | |")
        continue
    print(f"| {workload} | {name} | {len(s)} | {q(s, .5) * 1e3:.3f} | {q(s, .95) * 1e3:.3f} | {s[0] * 1e3:.3f} | {q(s, .5) / q(base, .5):.1f}x |")
EOF
