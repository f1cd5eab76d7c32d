#!/usr/bin/env bash
# bench/memlimit.sh LIMIT CMD [ARGS...] - runs CMD inside a new memory cgroup of LIMIT
# (e.g. 256M) and prints the group's peak usage and OOM kills: what a container with that
# limit would see. cgroup v2 (memory.max, memory.peak, memory.events) where the machine has
# the memory controller there, else v1 (memory.limit_in_bytes, memory.max_usage_in_bytes,
# memory.oom_control). Needs root (to make the group). The group is removed afterwards.
# CMD's exit status is this script's.
#
#   bench/memlimit.sh 256M build/leanpix batch -o /tmp/out bench/out/batch-small
set -uo pipefail
[ $# -ge 2 ] || { echo "usage: bench/memlimit.sh LIMIT CMD [ARGS...]" >&2; exit 2; }
limit=$1; shift
bytes=$(numfmt --from=iec "${limit%B}") || { echo "memlimit: bad limit '$limit'" >&2; exit 2; }
name=leanpix-bench-$$
if grep -qw memory /sys/fs/cgroup/cgroup.controllers 2>/dev/null; then
  v=2; g=/sys/fs/cgroup/$name
  mkdir "$g" && echo "$bytes" > "$g/memory.max" && echo 0 > "$g/memory.swap.max" 2>/dev/null
elif [ -d /sys/fs/cgroup/memory ]; then
  v=1; g=/sys/fs/cgroup/memory/$name
  mkdir "$g" && echo "$bytes" > "$g/memory.limit_in_bytes"
else
  echo "memlimit: no memory cgroup controller here" >&2; exit 1
fi || { echo "memlimit: cannot make a memory cgroup (root?)" >&2; exit 1; }
start=$(date +%s.%N)
# the child joins the group before it execs CMD, so everything it starts is in it
bash -c 'echo $$ > "$1/cgroup.procs"; shift; exec "$@"' _ "$g" "$@"
rc=$?
end=$(date +%s.%N)
if [ $v = 2 ]; then
  peak=$(cat "$g/memory.peak" 2>/dev/null || echo 0)
  kills=$(awk '/^oom_kill /{print $2}' "$g/memory.events")
else
  peak=$(cat "$g/memory.max_usage_in_bytes")
  kills=$(awk '/^oom_kill /{print $2}' "$g/memory.oom_control")
fi
printf 'memlimit: cgroup v%s limit %s: exit %d, %.1f s, peak %.1f MiB, OOM kills %s\n' \
  "$v" "$limit" "$rc" "$(echo "$end - $start" | bc)" "$(echo "$peak / 1048576" | bc -l)" "${kills:-0}"
rmdir "$g" 2>/dev/null || true
exit $rc
