#!/usr/bin/env bash
# tests/engines/docker-scenarios.sh [RUNTIME...]
#
# Docker (Debian's docker.io 20.10) driving OCI runtimes: the scenarios of issue 16 beyond
# ../shared/testenv/docker-env.sh's own checks, per runtime, with a PASS/FAIL line each.
#
#   tests/engines/docker-scenarios.sh                        # runc and crun
#   tests/engines/docker-scenarios.sh nsbox=$PWD/target/debug/nsbox-runtime
#   tests/engines/docker-scenarios.sh runc nsbox=/abs/path   # any mix
#
# A RUNTIME is `runc` or `crun` (registered by docker-env.sh) or NAME=/ABS/PATH of any
# runc-compatible binary (registered with `dockerd --add-runtime`).
#
# A CI and developer tool, not for users: it needs ../shared/testenv/ beside the repository
# (ENGINES_SHARED overrides) and root. It starts a private dockerd with docker-env.sh (own
# socket, data root, exec root: /run/nsbox-engines-docker*, /var/lib/nsbox-engines-docker,
# inside cgsafe-ns.sh: the v1 memory hierarchy is never visible to the engine), runs
# docker-env.sh's checks (run, env/workdir/user/exit code/pids/cpus/read-only, nginx on a
# published port) and then these, per runtime:
#   run-exit         docker run --rm: the payload's exit status (42)
#   not-found        a missing command: status 127 and "executable file not found";
#                    a non-executable one: 126 (docker maps the runtime's create error)
#   tty-run          docker run -t: stdin is a terminal (/dev/pts/N, ONLCR's \r), status kept
#   detached-exec    run -d; exec sees the container's files; exec's status (5); exec -t gets
#                    a terminal, exec without -t none; exec of a missing command fails (126)
#   privileged-exec  docker exec --privileged: CAP_SYS_ADMIN in the exec's effective set (Docker
#                    sends every capability), not in the container's PID 1 bounding set; on a
#                    host whose bounding set lacks one, the exec fails with EPERM (as runc's)
#   top              docker top (the runtime's `ps --format json`) lists PID 1 of the container
#   pids-limit       --pids-limit 33: pids.max inside and in the host's pids hierarchy; a
#                    limit of 8 refuses the 9th process
#   update           docker update --pids-limit 77 reaches the running container's cgroup
#   memory           what can be checked here: dockerd sees no memory hierarchy (hidden), so it
#                    discards --memory with a warning before any runtime sees it: the bundle's
#                    config.json has no memory limit and the container stays in dockerd's own
#                    memory cgroup (the runtime made none). Enforcement is not testable here.
#   pause            docker pause: freezer.state FROZEN, PID 1 in state D, a counter stops;
#                    unpause: THAWED, the counter moves again
#   stop             docker stop -t 20: SIGTERM (15) reaches PID 1, whose trap exits 0
# Then stops dockerd (also on error or interrupt) and checks that no process, mount, cgroup,
# iptables rule or link is left that was not there before. Exits 1 on any failure, 2 if the
# set-up is impossible (not root, another dockerd running, no ../shared).
# Env: ENGINES_SHARED, HOST_PORT (default 18080), ENGINES_SKIP_SHARED=1 (skip docker-env.sh's
#      checks), NGINX_ROOTFS (passed on).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/lib.sh"
[ "$(id -u)" = 0 ] || { echo "docker-scenarios.sh: run as root" >&2; exit 2; }
[ -x "$ENGINES_SHARED/docker-env.sh" ] || { echo "docker-scenarios.sh: no $ENGINES_SHARED/docker-env.sh (set ENGINES_SHARED)" >&2; exit 2; }

# docker-env.sh's knobs: private paths of our own, so a docker-env.sh run elsewhere keeps its.
export SCRATCH=/var/tmp/nsbox-engines/docker DATA_ROOT=/var/lib/nsbox-engines-docker
export EXEC_ROOT=/run/nsbox-engines-docker SOCK=/run/nsbox-engines-docker.sock
export PIDFILE=/run/nsbox-engines-docker.pid STATE=/run/nsbox-engines-docker.state
export HOST_PORT=${HOST_PORT:-18080}
export DOCKER_HOST=unix://$SOCK
DOCKER=/usr/bin/docker # Debian's 20.10 client
IMG=testenv/busybox
BUNDLES=$EXEC_ROOT/containerd/daemon/io.containerd.runtime.v2.task/moby

runtimes=()
extra=()
for arg in "${@:-runc crun}"; do
  for a in $arg; do
    case "$a" in
      *=/*) runtimes+=("${a%%=*}"); extra+=("$a") ;;
      *=*) echo "docker-scenarios.sh: $a: the path must be absolute" >&2; exit 2 ;;
      *) runtimes+=("$a") ;;
    esac
  done
done
for x in "${extra[@]}"; do
  [ -x "${x#*=}" ] || { echo "docker-scenarios.sh: ${x#*=} is not an executable" >&2; exit 2; }
done

# dockerd owns docker0 and iptables chains named DOCKER: two engines would fight over them.
if pgrep -x dockerd >/dev/null; then
  echo "docker-scenarios.sh: another dockerd is running (pids $(pgrep -d, -x dockerd)); not starting a second" >&2
  exit 2
fi
snapshot=$(mktemp /tmp/nsbox-engines-snapshot.XXXXXX)
trap 'rm -f "$snapshot"' EXIT
dirs="nsbox-engines-docker"
host_snapshot "$dirs" docker >"$snapshot"

finish() {
  local rc=$?
  trap - EXIT INT TERM
  log "stopping dockerd"
  EXTRA_RUNTIMES="${extra[*]}" "$ENGINES_SHARED/docker-env.sh" stop || true
  rm -rf /var/tmp/nsbox-engines/docker
  rmdir /var/tmp/nsbox-engines 2>/dev/null || true
  local left
  if left=$(leaks_since "$snapshot" "$dirs" docker); then
    pass host "nothing left behind (processes, mounts, cgroups, iptables, links)"
  else
    fail host "left behind" "$(echo "$left" | tr '\n' ' ')"
  fi
  rm -f "$snapshot"
  summary docker || rc=1
  exit "$rc"
}
trap finish EXIT
trap 'exit 130' INT TERM

t=$(now)
EXTRA_RUNTIMES="${extra[*]}" "$ENGINES_SHARED/docker-env.sh" start
log "dockerd started in $(elapsed "$t")"

if [ "${ENGINES_SKIP_SHARED:-0}" != 1 ]; then
  t=$(now)
  if EXTRA_RUNTIMES="${extra[*]}" DOCKER_RUNTIMES="${runtimes[*]}" "$ENGINES_SHARED/docker-env.sh" checks; then
    pass "${runtimes[*]}" "docker-env.sh checks (run, env/user/limits/read-only, nginx -p)" "$(elapsed "$t")"
  else
    fail "${runtimes[*]}" "docker-env.sh checks" "see its log lines above"
  fi
fi
# docker-env.sh's checks import testenv/busybox; without them, import it here.
if ! "$DOCKER" image inspect "$IMG" >/dev/null 2>&1; then
  r=$SCRATCH/busybox-rootfs
  rm -rf "$r"
  mkdir -p "$r"/{bin,etc,tmp,proc,sys,dev}
  cp /bin/busybox "$r/bin/busybox"
  for a in $("$r/bin/busybox" --list); do [ -e "$r/bin/$a" ] || ln -s busybox "$r/bin/$a"; done
  echo 'root:x:0:0:root:/:/bin/sh' >"$r/etc/passwd"
  echo 'root:x:0:' >"$r/etc/group"
  tar -C "$r" -c . | "$DOCKER" import -c 'CMD ["/bin/sh"]' - "$IMG:latest" >/dev/null
fi

# crun 1.8 (Debian 12) under docker 20.10 here, seen on this machine:
KNOWN[crun:not-found]="crun's error texts are not runc's ('executable file \`...\` not found', 'open executable: Permission denied'): docker maps them to 125"
KNOWN[crun:update]="docker update makes crun write memory.soft_limit_in_bytes, which fails in cgsafe-ns.sh's decoy memory directory"
KNOWN[crun:top]="docker top under crun listed no process here at times"

d() { "$DOCKER" "$@"; }
pid_of() { d inspect -f '{{.State.Pid}}' "$1"; }
counter_of() { cat "/proc/$1/root/tmp/count" 2>/dev/null; }
counter_moved() { [ "$(counter_of "$1")" != "$2" ]; }
# linux.resources.memory.limit of a bundle's config.json, or "none"
bundle_memory_limit() {
  python3 -c 'import json,sys; print(((json.load(open(sys.argv[1])).get("linux") or {}).get("resources") or {}).get("memory", {}).get("limit", "none"))' "$1"
}

scenarios() {
  local rt=$1 out rc name
  name="nsbox-engines-$rt"
  d rm -f "$name" >/dev/null 2>&1 || true

  # run-exit
  out=$(d run --rm --runtime "$rt" "$IMG" sh -c 'exit 42' 2>&1) && rc=0 || rc=$?
  check "$rt" "run-exit: docker run --rm, status 42" "status $rc: $out" [ "$rc" = 42 ]

  # not-found
  out=$(d run --rm --runtime "$rt" "$IMG" /no/such/cmd 2>&1) && rc=0 || rc=$?
  check "$rt" "not-found: missing command -> 127, 'executable file not found'" "status $rc: $out" \
    eval '[ "$rc" = 127 ] && grep -q "executable file not found\|no such file or directory" <<<"$out"'
  out=$(d run --rm --runtime "$rt" "$IMG" /etc/passwd 2>&1) && rc=0 || rc=$?
  check "$rt" "not-found: non-executable command -> 126, 'permission denied'" "status $rc: $out" \
    eval '[ "$rc" = 126 ] && grep -q "permission denied" <<<"$out"'

  # tty-run: ONLCR turns the \n into \r\n only on a terminal
  out=$(d run --rm -t --runtime "$rt" "$IMG" sh -c '[ -t 0 ] && [ -t 1 ] && tty; exit 4' </dev/null) && rc=0 || rc=$?
  check "$rt" "tty-run: docker run -t has a terminal, status 4" "status $rc, output $(printf %q "$out")" \
    eval '[ "$rc" = 4 ] && [[ "$out" == /dev/pts/*$'"'"'\r'"'"' ]]'

  detached "$rt" "$name"
  limits "$rt" "$name"
}

# run -d, then exec, top, update, pause, stop, rm on it
detached() {
  local rt=$1 name=$2 out rc t pid id f a b state
  # detached-exec
  t=$(now)
  if ! out=$(d run -d --name "$name" --runtime "$rt" "$IMG" sh -c "$COUNTER" 2>&1); then
    fail "$rt" "detached-exec: docker run -d (the rest of this group skipped)" "$out"
    d rm -f "$name" >/dev/null 2>&1 || true
    return
  fi
  poll 10 d exec "$name" test -s /tmp/count || true
  out=$(d exec "$name" sh -c 'cat /tmp/count >/dev/null && echo seen; exit 5') && rc=0 || rc=$?
  check "$rt" "detached-exec: exec sees the container, status 5" "status $rc, output '$out'" \
    eval '[ "$rc" = 5 ] && [ "$out" = seen ]'
  out=$(d exec -t "$name" sh -c '[ -t 0 ] && tty' </dev/null) && rc=0 || rc=$?
  check "$rt" "detached-exec: exec -t has a terminal" "status $rc, output $(printf %q "$out")" \
    eval '[ "$rc" = 0 ] && [[ "$out" == /dev/pts/*$'"'"'\r'"'"' ]]'
  out=$(d exec "$name" sh -c '[ -t 0 ] || echo none') && rc=0 || rc=$?
  check "$rt" "detached-exec: exec without -t has no terminal" "output '$out'" [ "$out" = none ]
  out=$(d exec "$name" /no/such/cmd 2>&1) && rc=0 || rc=$?
  check "$rt" "detached-exec: exec of a missing command fails (126)" "status $rc: $out" [ "$rc" = 126 ]

  # privileged-exec: Docker's process.json puts every capability it knows in bounding,
  # permitted and effective: CAP_SYS_ADMIN (bit 21) in the exec's CapEff, not in PID 1's
  # CapBnd. Docker 20.10 sends every capability up to cap_last_cap: where this host's
  # bounding set lacks one, no runtime can grant it, and runc fails the exec with EPERM.
  out=$(d exec --privileged "$name" sh -c 'awk "/^CapEff/ {print \$2}" /proc/self/status; awk "/^CapBnd/ {print \$2}" /proc/1/status' 2>&1) && rc=0 || rc=$?
  a=$(sed -n 1p <<<"$out") b=$(sed -n 2p <<<"$out")
  if (( 0x$(awk '/^CapBnd/ {print $2}' /proc/self/status) == (1 << ($(cat /proc/sys/kernel/cap_last_cap) + 1)) - 1 )); then
    check "$rt" "privileged-exec: exec --privileged has CAP_SYS_ADMIN, PID 1 not" "status $rc: $(tr '\n' ' ' <<<"$out")" \
      eval '[ "$rc" = 0 ] && [[ "$a$b" =~ ^[0-9a-f]+$ ]] && (( (0x$a >> 21) & 1 )) && ! (( (0x$b >> 21) & 1 ))'
  else
    check "$rt" "privileged-exec: exec --privileged fails with EPERM (this host's bounding set lacks a capability Docker sends)" \
      "status $rc: $(tr '\n' ' ' <<<"$out")" eval '[ "$rc" != 0 ] && grep -qi "operation not permitted" <<<"$out"'
  fi

  # top
  pid=$(pid_of "$name")
  out=$(d top "$name" 2>&1) && rc=0 || rc=$?
  check "$rt" "top: docker top lists PID 1 ($pid)" "status $rc: $(tr '\n' ' ' <<<"$out")" \
    eval '[ "$rc" = 0 ] && awk "\$2 == $pid" <<<"$out" | grep -q "sh -c"'

  # update (the running container) and pids in the host's hierarchy
  f=$(cgroup_file "$pid" pids pids.max || true)
  d update --pids-limit 77 "$name" >/dev/null 2>&1 && rc=0 || rc=$?
  out="$(cat "$f" 2>/dev/null)/$(d exec "$name" cat /sys/fs/cgroup/pids/pids.max 2>/dev/null)"
  check "$rt" "update: --pids-limit 77 in $f and inside" "status $rc, host/inside '$out'" \
    eval '[ "$rc" = 0 ] && [ "$out" = 77/77 ]'

  # pause
  id=$(d inspect -f '{{.Id}}' "$name")
  f=$(cgroup_file "$pid" freezer freezer.state || true)
  if d pause "$name" >/dev/null; then
    state=$(cat "$f" 2>/dev/null)/$(awk '/^State:/{print $2}' "/proc/$pid/status")/$(d inspect -f '{{.State.Status}}' "$name")
    a=$(counter_of "$pid")
    sleep 0.5
    b=$(counter_of "$pid")
    check "$rt" "pause: FROZEN, PID 1 in D, counter stopped, docker says paused" \
      "freezer/state/status '$state', counter $a -> $b" eval '[ "$state" = FROZEN/D/paused ] && [ -n "$a" ] && [ "$a" = "$b" ]'
    if d unpause "$name" >/dev/null; then
      state=$(cat "$f" 2>/dev/null)/$(d inspect -f '{{.State.Status}}' "$name")
      poll 10 counter_moved "$pid" "$b" && a=moved || a="stayed at $b"
      check "$rt" "unpause: THAWED, counter moves, docker says running" "freezer/status '$state', counter $a" \
        eval '[ "$state" = THAWED/running ] && [ "$a" = moved ]'
    else
      fail "$rt" "unpause" "docker unpause failed"
    fi
  else
    fail "$rt" "pause" "docker pause failed"
  fi

  # stop: SIGTERM to PID 1; the counter's trap exits 0 (SIGKILL after the timeout would be 137)
  t=$(now)
  d stop -t 20 "$name" >/dev/null && rc=0 || rc=$?
  out=$(d inspect -f '{{.State.Status}} {{.State.ExitCode}}' "$name")
  check "$rt" "stop: SIGTERM reaches PID 1, status 0" "stop status $rc, state '$out'" \
    eval '[ "$rc" = 0 ] && [ "$out" = "exited 0" ]'
  log "[$rt] stop in $(elapsed "$t")"
  d rm "$name" >/dev/null || true
  [ -e "$BUNDLES/$id" ] && fail "$rt" "rm: bundle dir left" "$BUNDLES/$id" || true
}

# pids and memory limits, each in a container of its own
limits() {
  local rt=$1 name=$2 out rc pid id
  # pids-limit: the limit as the container sees it and as the host has it, and in force
  out=$(d run --rm --runtime "$rt" --pids-limit 33 "$IMG" sh -c \
    'cat /sys/fs/cgroup/pids/pids.max; cat /proc/self/cgroup | grep ":pids:" | cut -d: -f3' 2>&1) && rc=0 || rc=$?
  check "$rt" "pids-limit: --pids-limit 33 seen inside" "status $rc: $out" \
    eval '[ "$rc" = 0 ] && [ "$(head -1 <<<"$out")" = 33 ]'
  # 8 processes at most: sh itself, then background sleeps; some forks must fail
  out=$(d run --rm --runtime "$rt" --pids-limit 8 "$IMG" sh -c \
    'ok=0; for i in 1 2 3 4 5 6 7 8 9 10 11 12; do sleep 5 2>/dev/null & [ $? = 0 ] && ok=$((ok+1)); done; echo $(ls /proc | grep -c "^[0-9]")' 2>&1) && rc=0 || rc=$?
  check "$rt" "pids-limit: 8 in force (the 9th fork fails)" "status $rc: $(tr '\n' ' ' <<<"$out")" \
    eval 'grep -q "an.t fork\|Resource temporarily unavailable\|Try again" <<<"$out"'

  # memory: discarded by dockerd here; the runtime must not have made a memory cgroup
  out=$(d run -d --name "$name" --runtime "$rt" --memory 64m "$IMG" sleep 60 2>&1) && rc=0 || rc=$?
  if [ "$rc" = 0 ]; then
    pid=$(pid_of "$name")
    id=$(d inspect -f '{{.Id}}' "$name")
    local dockerd_mem ctr_mem limit
    dockerd_mem=$(grep -E '^[0-9]+:memory:' "/proc/$(cat "$PIDFILE")/cgroup" | cut -d: -f3)
    ctr_mem=$(grep -E '^[0-9]+:memory:' "/proc/$pid/cgroup" | cut -d: -f3)
    limit=$(bundle_memory_limit "$BUNDLES/$id/config.json" 2>/dev/null || echo unreadable)
    check "$rt" "memory: --memory discarded by dockerd (no memory hierarchy), bundle without a limit, container left in dockerd's memory cgroup" \
      "warning in '$out', HostConfig.Memory $(d inspect -f '{{.HostConfig.Memory}}' "$name"), bundle limit $limit, cgroup '$ctr_mem' vs dockerd's '$dockerd_mem'" \
      eval 'grep -q "Limitation discarded" <<<"$out" && [ "$limit" = none ] && [ "$ctr_mem" = "$dockerd_mem" ]'
    d rm -f "$name" >/dev/null
  else
    fail "$rt" "memory: docker run --memory 64m" "status $rc: $out"
    d rm -f "$name" >/dev/null 2>&1 || true
  fi
}

for rt in "${runtimes[@]}"; do
  t=$(now)
  log "scenarios under $rt"
  scenarios "$rt"
  log "[$rt] scenarios in $(elapsed "$t")"
done
