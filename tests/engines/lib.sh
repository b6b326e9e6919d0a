# tests/engines/lib.sh: helpers shared by docker-scenarios.sh and containerd-scenarios.sh
# (sourced, not run). CI and developer tool: it uses ../shared/testenv/ beside the repository,
# which users of nsbox do not have.

# shellcheck shell=bash
ENGINES_SHARED=${ENGINES_SHARED:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)/shared/testenv}
PASSES=0
FAILS=0
FAILED=()

log() { printf '[%s] %s\n' "$(date +%T)" "$*" >&2; }
now() { date +%s.%N; }
elapsed() { printf '%.1fs' "$(echo "$(now) - $1" | bc)"; }

# pass|fail RUNTIME SCENARIO [DETAIL]: one result line on stdout.
pass() {
  PASSES=$((PASSES + 1))
  printf 'PASS [%s] %s%s\n' "$1" "$2" "${3:+ ($3)}"
}
fail() {
  FAILS=$((FAILS + 1))
  FAILED+=("[$1] $2")
  printf 'FAIL [%s] %s%s\n' "$1" "$2" "${3:+: $3}"
}
# Known differences of a peer runtime, by "RUNTIME:SCENARIO" (the scenario's name up to its
# first colon) -> why. A failing check listed here prints KNOWN and does not count as a failure;
# it is never used for the runtime under test (the scripts fill it for runc and crun only).
declare -A KNOWN=()
KNOWNS=0
# check RUNTIME SCENARIO DETAIL COMMAND...: pass if COMMAND succeeds.
check() {
  local rt=$1 name=$2 detail=$3 why
  shift 3
  if "$@"; then
    pass "$rt" "$name"
  elif why=${KNOWN["$rt:${name%%:*}"]:-} && [ -n "$why" ]; then
    KNOWNS=$((KNOWNS + 1))
    printf 'KNOWN [%s] %s: %s (got: %s)\n' "$rt" "$name" "$why" "$detail"
  else
    fail "$rt" "$name" "$detail"
  fi
}

summary() { # ENGINE
  echo "$1 scenarios: $PASSES passed, $FAILS failed, $KNOWNS known differences of a peer"
  local f
  for f in "${FAILED[@]}"; do echo "  failed: $f"; done
  [ "$FAILS" -eq 0 ]
}

# poll SECONDS COMMAND...: runs COMMAND every 0.1 s until it succeeds or SECONDS pass (an upper
# bound against hangs, never a measure).
poll() {
  local limit=$1 i
  shift
  for ((i = 0; i < limit * 10; i++)); do
    "$@" && return 0
    sleep 0.1
  done
  "$@"
}

# The host-side file of a v1 controller for a process: /sys/fs/cgroup/CTRL/<its path>/FILE.
# The engines run in cgsafe-ns.sh's mount namespace, whose hierarchies are the host's, so the
# path /proc/PID/cgroup names is the same here.
cgroup_file() { # PID CTRL FILE
  local path
  path=$(awk -F: -v c="$2" '{ n = split($2, a, ","); for (i = 1; i <= n; i++) if (a[i] == c) print $3 }' "/proc/$1/cgroup")
  [ -n "$path" ] && echo "/sys/fs/cgroup/$2$path/$3"
}

# A counter loop for pause/resume: writes an ever larger number to /tmp/count every 0.1 s,
# by rename (a container frozen between a truncation and its write would leave an empty file);
# exits 0 on SIGTERM (so a `stop` that sends SIGTERM to PID 1 ends it with status 0).
COUNTER='trap "exit 0" TERM; i=0; while :; do i=$((i+1)); echo $i >/tmp/count.new; mv /tmp/count.new /tmp/count; sleep 0.1; done'

# What an engine run could leave on the host: processes of the engines and runtimes, mounts
# under the engine's dirs, cgroups under its parent, iptables rules, network links. Printed
# sorted, to be compared before and after (`leaks_since BEFORE`).
host_snapshot() { # DIRS_REGEX CGROUP_PARENT
  set +o pipefail
  echo "# processes"
  # the engines, shims and runtimes by their command name; anything in the engine's cgroups
  ps -eo comm= | grep -E '^(dockerd|containerd.*|docker-proxy|runc.*|crun|nsbox-runtime.*)$' | sort
  grep -l ":/$2/" /proc/[0-9]*/cgroup 2>/dev/null | cut -d/ -f3 | while read -r pid; do
    echo "in /$2: $(cat "/proc/$pid/comm" 2>/dev/null)"
  done | sort
  echo "# mounts"
  grep -E "$1" /proc/self/mountinfo | awk '{print $5}' | sort
  echo "# cgroups"
  find /sys/fs/cgroup -maxdepth 2 -name "$2" 2>/dev/null | sort
  echo "# iptables"
  { iptables-save -t filter; iptables-save -t nat; } 2>/dev/null | grep -vE '^#' | sed 's/\[[0-9]*:[0-9]*\]//' | sort
  echo "# links"
  ip -o link show | awk -F': ' '{print $2}' | sed 's/@.*//' | sort
  set -o pipefail
}
leaks_since() { # BEFORE_FILE DIRS_REGEX CGROUP_PARENT
  diff <(cat "$1") <(host_snapshot "$2" "$3")
}
