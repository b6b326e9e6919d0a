#!/usr/bin/env bash
# tests/engines/containerd-scenarios.sh [BINARY...]
#
# containerd (Debian's 1.6, `ctr`) driving runc-compatible binaries through its
# io.containerd.runc.v2 shim (`ctr run --runtime io.containerd.runc.v2 --runc-binary BINARY`,
# what `BinaryName` in a runtime's options does for the CRI plugin): the scenarios of issue 16
# beyond ../shared/testenv/containerd-env.sh's own checks, per binary, with a PASS/FAIL line each.
#
#   tests/engines/containerd-scenarios.sh                     # /usr/sbin/runc and /usr/bin/crun
#   tests/engines/containerd-scenarios.sh "$PWD/target/debug/nsbox-runtime"
#
# A BINARY is an absolute path (or `runc`, `crun`: Debian's). Its label in the output is its
# file name.
#
# A CI and developer tool, not for users: it needs ../shared/testenv/ beside the repository
# (ENGINES_SHARED overrides) and root. It starts a private containerd with containerd-env.sh
# (own root and state dirs /var/lib/nsbox-engines-containerd, /run/nsbox-engines-containerd;
# CRI plugin off; inside cgsafe-ns.sh: the v1 memory hierarchy is never visible to it), runs
# containerd-env.sh's checks (with runc, crun and the binaries given: --rm true, env + exit
# status, -d / task ls / kill / delete), then these, per binary:
#   run-exit     ctr run --rm: the payload's exit status (9), its environment and cwd
#   not-found    a missing command: the run fails and says "not found" / "no such file"
#   tty-run      ctr run -t (under script(1) for a terminal): /dev/pts/N, status 3
#   detached     run -d; task ls RUNNING; task ps lists PID 1; task exec's status (6) and
#                output; task exec -t has a terminal
#   pause        task pause: PAUSED, freezer.state FROZEN, PID 1 in D, a counter stops; exec
#                refused while paused; task resume: RUNNING, THAWED, the counter moves
#   kill         task kill (SIGTERM): PID 1's trap exits 0, the task is STOPPED, delete
#                reports no non-zero exit code; container delete
#   cpu          --cpus 0.5: cpu.cfs_quota_us 50000 in the host's cpu hierarchy
#   memory       --memory-limit 64 MiB reaches the runtime (config.json); with no memory
#                hierarchy here the runtime must not drop it silently: refused with an error
#                naming memory (runc), or written into the memory directory the runtime sees
#                (crun: cgsafe-ns.sh's decoy, not enforced). Enforcement is not testable here
#                (the cgroup v2 VM tests nsbox's memory limits, without an engine). The
#                host's memory hierarchy never gets a directory.
# Then stops containerd (also on error or interrupt) and checks that no process, mount or
# cgroup is left that was not there before. Exits 1 on any failure, 2 if the set-up is
# impossible (not root, containerd-env.sh's containerd already running, no ../shared).
# Env: ENGINES_SHARED, ENGINES_SKIP_SHARED=1 (skip containerd-env.sh's checks).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/lib.sh"
[ "$(id -u)" = 0 ] || { echo "containerd-scenarios.sh: run as root" >&2; exit 2; }
[ -x "$ENGINES_SHARED/containerd-env.sh" ] || { echo "containerd-scenarios.sh: no $ENGINES_SHARED/containerd-env.sh (set ENGINES_SHARED)" >&2; exit 2; }

export SCRATCH=/var/tmp/nsbox-engines/containerd ROOT=/var/lib/nsbox-engines-containerd
export STATE_DIR=/run/nsbox-engines-containerd
PIDFILE=/run/testenv-containerd.pid # containerd-env.sh's, fixed
SOCK=$STATE_DIR/containerd.sock
NS=testenv # containerd-env.sh's namespace, and so the cgroup parent /testenv
CTR="ctr --address $SOCK --namespace $NS"
IMG=docker.io/testenv/busybox:latest

bins=()
for arg in "${@:-runc crun}"; do
  for b in $arg; do
    case "$b" in
      runc) b=/usr/sbin/runc ;;
      crun) b=/usr/bin/crun ;;
      /*) ;;
      *) echo "containerd-scenarios.sh: $b: give an absolute path" >&2; exit 2 ;;
    esac
    [ -x "$b" ] || { echo "containerd-scenarios.sh: $b is not an executable" >&2; exit 2; }
    bins+=("$b")
  done
done
extra=()
for b in "${bins[@]}"; do
  case "$b" in /usr/sbin/runc | /usr/bin/crun) ;; *) extra+=("$b") ;; esac
done

if [ -f "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; then
  echo "containerd-scenarios.sh: containerd-env.sh's containerd is running (pid $(cat "$PIDFILE")); not starting a second" >&2
  exit 2
fi
snapshot=$(mktemp /tmp/nsbox-engines-snapshot.XXXXXX)
trap 'rm -f "$snapshot"' EXIT
dirs="nsbox-engines-containerd"
host_snapshot "$dirs" "$NS" >"$snapshot"

finish() {
  local rc=$?
  trap - EXIT INT TERM
  log "stopping containerd"
  "$ENGINES_SHARED/containerd-env.sh" stop || true
  rm -rf /var/tmp/nsbox-engines/containerd
  rmdir /var/tmp/nsbox-engines 2>/dev/null || true
  local left
  if left=$(leaks_since "$snapshot" "$dirs" "$NS"); then
    pass host "nothing left behind (processes, mounts, cgroups, iptables, links)"
  else
    fail host "left behind" "$(echo "$left" | tr '\n' ' ')"
  fi
  rm -f "$snapshot"
  summary containerd || rc=1
  exit "$rc"
}
trap finish EXIT
trap 'exit 130' INT TERM

t=$(now)
"$ENGINES_SHARED/containerd-env.sh" start
log "containerd started in $(elapsed "$t")"
if [ "${ENGINES_SKIP_SHARED:-0}" != 1 ]; then
  t=$(now)
  if EXTRA_RUNC_BINARIES="${extra[*]}" "$ENGINES_SHARED/containerd-env.sh" checks; then
    pass "runc crun ${extra[*]}" "containerd-env.sh checks (--rm, env + status, -d / kill / delete)" "$(elapsed "$t")"
  else
    fail "runc crun ${extra[*]}" "containerd-env.sh checks" "see its log lines above"
  fi
fi
if ! $CTR images ls -q | grep -qx "$IMG"; then
  r=$SCRATCH/busybox-rootfs
  rm -rf "$r"
  mkdir -p "$r"/{bin,etc,tmp,proc,sys,dev}
  cp /bin/busybox "$r/bin/"
  for a in $("$r/bin/busybox" --list); do [ -e "$r/bin/$a" ] || ln -s busybox "$r/bin/$a"; done
  echo 'root:x:0:0:root:/:/bin/sh' >"$r/etc/passwd"
  echo 'root:x:0:' >"$r/etc/group"
  "$ENGINES_SHARED/mk-oci-image.sh" "$r" "$SCRATCH/busybox-oci.tar" "$IMG" /bin/sh >/dev/null
  $CTR images import "$SCRATCH/busybox-oci.tar" >/dev/null
fi

# crun 1.8 (Debian 12) here: the texts it fails with (seen on this machine).
KNOWN[crun:not-found]="crun 1.8 says 'executable file \`...\` not found in \$PATH'"

task_status() { $CTR task ls | awk -v id="$1" '$1 == id { print $3 }'; }
task_pid() { $CTR task ls | awk -v id="$1" '$1 == id { print $2 }'; }
counter_of() { cat "/proc/$1/root/tmp/count" 2>/dev/null; }
counter_moved() { [ "$(counter_of "$1")" != "$2" ]; }
status_is() { [ "$(task_status "$1")" = "$2" ]; }
remove() { # ID: whatever is left of a container
  $CTR task kill -s SIGKILL "$1" >/dev/null 2>&1 || true
  poll 10 eval '[ -z "$(task_status '"$1"')" ] || status_is '"$1"' STOPPED' || true
  $CTR task delete "$1" >/dev/null 2>&1 || true
  $CTR containers delete "$1" >/dev/null 2>&1 || true
}

scenarios() {
  local b=$1 rt out rc
  rt=$(basename "$b")
  local run=(run --runtime io.containerd.runc.v2 --runc-binary "$b")

  # run-exit
  out=$($CTR "${run[@]}" --rm --env FOO=bar --cwd /tmp "$IMG" "e-$rt-exit" sh -c 'echo $FOO $(pwd); exit 9' 2>&1) && rc=0 || rc=$?
  check "$rt" "run-exit: ctr run --rm, status 9, env and cwd" "status $rc, output '$out'" \
    eval '[ "$rc" = 9 ] && [ "$out" = "bar /tmp" ]'
  remove "e-$rt-exit"

  # not-found
  out=$($CTR "${run[@]}" --rm "$IMG" "e-$rt-nf" /no/such/cmd 2>&1) && rc=0 || rc=$?
  check "$rt" "not-found: missing command fails with runc's text" "status $rc: $out" \
    eval '[ "$rc" != 0 ] && grep -q "no such file or directory\|executable file not found" <<<"$out"'
  remove "e-$rt-nf"

  # tty-run: script(1) gives ctr a terminal; ONLCR's \r shows the payload had one
  if command -v script >/dev/null; then
    out=$(timeout 60 script -qec "$CTR ${run[*]} -t --rm $IMG e-$rt-tty sh -c '[ -t 0 ] && tty; exit 3'" /dev/null </dev/null) && rc=0 || rc=$?
    check "$rt" "tty-run: ctr run -t has a terminal, status 3" "status $rc, output $(printf %q "$out")" \
      eval '[ "$rc" = 3 ] && grep -q "/dev/pts/[0-9]*"$'"'"'\r'"'"' <<<"$out"'
    remove "e-$rt-tty"
  else
    fail "$rt" "tty-run" "script(1) (util-linux / bsdutils) not installed"
  fi

  detached "$b" "$rt"
  limits "$b" "$rt"
}

# run -d, then task ls/ps/exec/pause/resume/kill/delete on it
detached() {
  local b=$1 rt=$2 out rc id pid f a st
  local run=(run --runtime io.containerd.runc.v2 --runc-binary "$b")
  id="e-$rt-bg"
  if ! out=$($CTR "${run[@]}" -d "$IMG" "$id" sh -c "$COUNTER" 2>&1); then
    fail "$rt" "detached: ctr run -d (the rest of this group skipped)" "$out"
    remove "$id"
    return
  fi
  poll 10 status_is "$id" RUNNING || true
  st=$(task_status "$id")
  pid=$(task_pid "$id")
  poll 10 eval '[ -n "$(counter_of '"$pid"')" ]' || true
  check "$rt" "detached: ctr run -d, task ls RUNNING" "status '$st'" [ "$st" = RUNNING ]
  out=$($CTR task ps "$id" 2>&1) && rc=0 || rc=$?
  check "$rt" "detached: task ps lists PID 1 ($pid)" "status $rc: $(tr '\n' ' ' <<<"$out")" \
    eval '[ "$rc" = 0 ] && awk "\$1 == $pid" <<<"$out" | grep -q .'
  out=$($CTR task exec --exec-id x1 "$id" sh -c 'cat /tmp/count >/dev/null && echo seen; exit 6' 2>&1) && rc=0 || rc=$?
  check "$rt" "detached: task exec sees the container, status 6" "status $rc, output '$out'" \
    eval '[ "$rc" = 6 ] && [ "$out" = seen ]'
  out=$(timeout 60 script -qec "$CTR task exec -t --exec-id x2 $id sh -c '[ -t 0 ] && tty'" /dev/null </dev/null) && rc=0 || rc=$?
  check "$rt" "detached: task exec -t has a terminal" "status $rc, output $(printf %q "$out")" \
    eval '[ "$rc" = 0 ] && grep -q "/dev/pts/[0-9]*"$'"'"'\r'"'"' <<<"$out"'

  # pause
  f=$(cgroup_file "$pid" freezer freezer.state || true)
  if $CTR task pause "$id"; then
    st=$(task_status "$id")/$(cat "$f" 2>/dev/null)/$(awk '/^State:/{print $2}' "/proc/$pid/status")
    a=$(counter_of "$pid")
    sleep 0.5
    check "$rt" "pause: PAUSED, FROZEN, PID 1 in D, counter stopped" "status/freezer/state '$st', counter $a -> $(counter_of "$pid")" \
      eval '[ "$st" = PAUSED/FROZEN/D ] && [ -n "$a" ] && [ "$a" = "$(counter_of "$pid")" ]'
    out=$($CTR task exec --exec-id x3 "$id" true 2>&1) && rc=0 || rc=$?
    check "$rt" "pause: exec refused while paused" "status $rc: $out" [ "$rc" != 0 ]
    if $CTR task resume "$id"; then
      st=$(task_status "$id")/$(cat "$f" 2>/dev/null)
      poll 10 counter_moved "$pid" "$a" && a=moved || a="stayed at $a"
      check "$rt" "resume: RUNNING, THAWED, counter moves" "status/freezer '$st', counter $a" \
        eval '[ "$st" = RUNNING/THAWED ] && [ "$a" = moved ]'
    else
      fail "$rt" "resume" "ctr task resume failed"
    fi
  else
    fail "$rt" "pause" "ctr task pause failed"
  fi

  # kill: SIGTERM (ctr's default) to PID 1, whose trap exits 0
  $CTR task kill "$id" && rc=0 || rc=$?
  poll 20 status_is "$id" STOPPED || true
  st=$(task_status "$id")
  out=$($CTR task delete "$id" 2>&1) || true
  $CTR containers delete "$id" >/dev/null 2>&1 && a=deleted || a="not deleted"
  check "$rt" "kill: task kill (SIGTERM) stops it, status 0, deleted" "kill status $rc, task '$st', delete said '$out', container $a" \
    eval '[ "$rc" = 0 ] && [ "$st" = STOPPED ] && ! grep -q "non-zero exit code" <<<"$out" && [ "$a" = deleted ]'
  remove "$id"
}

# cpu and memory limits, each in a container of its own
limits() {
  local b=$1 rt=$2 out rc id pid f cpid
  local run=(run --runtime io.containerd.runc.v2 --runc-binary "$b")
  # cpu
  id="e-$rt-cpu"
  if out=$($CTR "${run[@]}" -d --cpus 0.5 "$IMG" "$id" sleep 60 2>&1); then
    pid=$(task_pid "$id")
    f=$(cgroup_file "$pid" cpu cpu.cfs_quota_us || true)
    out=$(cat "$f" 2>/dev/null)
    check "$rt" "cpu: --cpus 0.5 is cpu.cfs_quota_us 50000 in $f" "got '$out'" [ "$out" = 50000 ]
  else
    fail "$rt" "cpu: ctr run -d --cpus 0.5" "$out"
  fi
  remove "$id"

  # memory
  id="e-$rt-mem"
  cpid=$(cat "$PIDFILE")
  out=$($CTR "${run[@]}" -d --memory-limit 67108864 "$IMG" "$id" sleep 60 2>&1) && rc=0 || rc=$?
  if [ "$rc" = 0 ]; then
    pid=$(task_pid "$id")
    # the memory directory as containerd's mount namespace has it (cgsafe-ns.sh's decoy)
    f=/proc/$cpid/root/sys/fs/cgroup/memory/$NS/$id/memory.limit_in_bytes
    out="accepted; limit file in the runtime's view: $(cat "$f" 2>/dev/null || echo none); payload's memory cgroup $(grep -E '^[0-9]+:memory:' "/proc/$pid/cgroup" | cut -d: -f3)"
    check "$rt" "memory: --memory-limit not dropped silently" "$out" eval 'grep -q "view: 67108864;" <<<"$out"'
  else
    out="refused: $out"
    check "$rt" "memory: --memory-limit not dropped silently" "status $rc: $out" eval 'grep -qi "memory" <<<"$out"'
  fi
  log "[$rt] memory: $out"
  remove "$id"
  check "$rt" "memory: the host's memory hierarchy has no $NS directory" "it has" [ ! -e "/sys/fs/cgroup/memory/$NS" ]
}

for b in "${bins[@]}"; do
  t=$(now)
  log "scenarios under $b"
  scenarios "$b"
  log "[$(basename "$b")] scenarios in $(elapsed "$t")"
done
