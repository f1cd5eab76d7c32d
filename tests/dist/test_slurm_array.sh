#!/usr/bin/env bash
# tests/dist/test_slurm_array.sh - the Slurm job array of docs/batch.md, run for real on a
# single-node cluster that this test starts and stops (`make test-dist`; not in `make
# test`: it needs root and a minute).
#
# The cluster is Debian's slurm-wlm and munge (scripts/deps.sh dist), configured in a temp
# dir and nowhere else: a MUNGE key made with mungekey and munged on its own socket;
# slurm.conf with the node as `slurmd -C` sees it, free ports, /proc process tracking
# (proctrack/linuxproc, task/none: no cgroup plugin, no systemd) and a short credential
# lifetime so that a requeued task starts again within seconds. The daemons run in the
# foreground (-D, -F) as this script's children and carry a marker in their environment
# (LP_DIST_RUN=the temp dir) that their job steps inherit, so that the exit trap stops
# exactly them, whatever way the test ends.
#
# The job script is the ```bash block under "### Slurm job array" in docs/batch.md, taken
# as written and submitted with sbatch options that override its #SBATCH lines for a
# small node (--array=0-3 --cpus-per-task=1 --chdir=WORKDIR). Task 1 is cancelled once it
# has converted an image (scancel: SIGTERM to the script and leanpix) and requeued
# (scontrol requeue, as the doc says); its leanpix must have stopped on the signal and none
# of its processes outlive the task. Then each input must have been converted exactly once
# (the shards' --json reports, the cancelled run's kept aside), the images done before the
# cancel skipped by the requeued run and their files untouched, every output decodable by
# avifdec at its input's size, no temp file left, every task COMPLETED with exit code 0.
#
# Usage: tests/dist/test_slurm_array.sh LEANPIX LP_MKSAMPLE [DOC]
#   (or LP_BIN, LP_MKSAMPLE, LP_SOURCE_DIR in the environment). Exit 0 pass, 1 fail,
#   77 skipped (not root, packages missing). LP_DIST_KEEP=1 keeps the temp dir.
set -u
src=${LP_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
bin=$(realpath "${1:-${LP_BIN:-$src/build/leanpix}}")
mksample=$(realpath "${2:-${LP_MKSAMPLE:-$src/build/lp-mksample}}")
doc=${3:-$src/docs/batch.md}
me=test_slurm_array
shards=4          # the array's size (--array=0-3)
per_shard=4       # inputs per shard: 16 photos
victim=1          # the task cancelled and requeued
wait_limit=300    # seconds any one wait may take before the test fails

say() { echo "$me: $*"; }
skip() { say "SKIPPED: $*"; exit 77; }

[ "$(id -u)" -eq 0 ] || skip "needs root (slurmd runs the jobs as their user; run 'sudo make test-dist')"
for c in munged mungekey slurmctld slurmd sbatch squeue scontrol scancel sinfo avifdec jq; do
  command -v "$c" >/dev/null 2>&1 ||
    skip "$c is not installed (scripts/deps.sh dist installs slurm-wlm, munge, libavif-bin, jq)"
done
[ -x "$bin" ] || { say "FAIL: no leanpix binary at $bin"; exit 1; }
[ -x "$mksample" ] || { say "FAIL: no lp-mksample at $mksample"; exit 1; }

t0=$(date +%s)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/leanpix-slurm.XXXXXX")
chmod 755 "$tmp"    # munged wants every directory above its socket searchable by all
export SLURM_CONF=$tmp/slurm.conf
job=""
daemon_pids=()
failed=1

# --- ending, whatever the way --------------------------------------------------------
# The processes this run started: the daemons, and the job steps and tasks they started
# (found by the marker the daemons and sbatch were given; slurmstepd detaches from slurmd).
# The marker is not in this script's own environment: its subshells do not carry it.
marker=LP_DIST_RUN=$tmp
our_processes() {
  local e pid
  for e in /proc/[0-9]*/environ; do
    pid=${e#/proc/}; pid=${pid%/environ}
    tr '\0' '\n' 2>/dev/null < "$e" | grep -qxF "$marker" && echo "$pid"
  done
}

show_logs() {
  local f
  for f in "$tmp"/log/* "$tmp"/work/logs/*; do
    [ -f "$f" ] || continue
    echo "----- ${f#"$tmp"/} (last 40 lines)"
    tail -n 40 "$f"
  done
  if [ -n "$job" ]; then echo "----- scontrol show job $job"; scontrol -o show job "$job" 2>&1; fi
}

cleanup() {
  local rc=$? pid left=()
  trap - EXIT INT TERM
  [ $failed -eq 1 ] && [ $rc -eq 0 ] && rc=1
  if [ $rc -ne 0 ] && [ $rc -ne 77 ]; then show_logs; fi
  if [ -n "$job" ]; then
    scancel "$job" 2>/dev/null
    for _ in $(seq 30); do
      [ -z "$(squeue -h -j "$job" 2>/dev/null)" ] && break
      sleep 0.5
    done
  fi
  for pid in "${daemon_pids[@]}"; do kill "$pid" 2>/dev/null; done
  for pid in "${daemon_pids[@]}"; do wait "$pid" 2>/dev/null; done
  mapfile -t left < <(our_processes)
  if [ ${#left[@]} -gt 0 ]; then
    say "killing what the cluster left: ${left[*]}"
    kill -9 "${left[@]}" 2>/dev/null
  fi
  cd /
  if [ $rc -ne 0 ] || [ "${LP_DIST_KEEP:-0}" = 1 ]; then say "kept $tmp for inspection"; else rm -rf "$tmp"; fi
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

fail() { say "FAIL: $*"; exit 1; }

# until CMD succeeds, at most $wait_limit seconds; DESCRIPTION names it in the failure
wait_for() {
  local what=$1; shift
  local deadline=$((SECONDS + wait_limit))
  until "$@"; do
    [ $SECONDS -lt $deadline ] || fail "timed out after ${wait_limit}s waiting for $what"
    sleep 0.2
  done
}

# a TCP port of 127.0.0.1 that nothing listens on
free_port() {
  local p
  while :; do
    p=$((20000 + RANDOM % 40000))
    (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return; }
  done
}

# --- the cluster -----------------------------------------------------------------------
mkdir -p "$tmp"/munge "$tmp"/state "$tmp"/spool "$tmp"/log "$tmp"/bin "$tmp"/work
chmod 755 "$tmp"/munge
mungekey --create --keyfile="$tmp/munge/munge.key" >/dev/null || fail "mungekey could not create a key"
env "$marker" munged -F --key-file="$tmp/munge/munge.key" --socket="$tmp/munge/munge.socket" \
  --pid-file="$tmp/munge/munged.pid" --seed-file="$tmp/munge/munged.seed" \
  --log-file="$tmp/log/munged.log" </dev/null >>"$tmp/log/munged.out" 2>&1 &
daemon_pids+=($!)
munge_works() { munge -S "$tmp/munge/munge.socket" -n 2>/dev/null | unmunge -S "$tmp/munge/munge.socket" >/dev/null 2>&1; }
wait_for "munged to answer on its socket" munge_works

host=$(hostname -s)
# the node's hardware as slurmd itself detects it, under the test's node name
hw=$(slurmd -C | head -n 1 | sed 's/^NodeName=[^ ]* //')
case "$hw" in *CPUs=*RealMemory=*) ;; *) fail "slurmd -C printed no hardware line: $hw" ;; esac
ctld_port=$(free_port)
slurmd_port=$(free_port)
[ "$slurmd_port" != "$ctld_port" ] || slurmd_port=$((ctld_port + 1))
cat > "$SLURM_CONF" <<EOF
# written by tests/dist/test_slurm_array.sh for one run
ClusterName=leanpix-test
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$tmp/munge/munge.socket,cred_expire=10
StateSaveLocation=$tmp/state
SlurmdSpoolDir=$tmp/spool
SlurmctldPidFile=$tmp/slurmctld.pid
SlurmdPidFile=$tmp/slurmd.pid
SlurmctldLogFile=$tmp/log/slurmctld.log
SlurmdLogFile=$tmp/log/slurmd.log
MailProg=/bin/true
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
SchedulerType=sched/builtin
ReturnToService=2
# room for the image being encoded when SIGTERM comes: a single-frame AVIF encode is
# finished, not interrupted (docs/batch.md); SIGKILL before that would lose the test's point
KillWait=120
MinJobAge=600
NodeName=lpnode NodeHostname=$host NodeAddr=127.0.0.1 $hw State=UNKNOWN
PartitionName=lp Nodes=lpnode Default=YES MaxTime=INFINITE State=UP
EOF
env "$marker" slurmctld -D -f "$SLURM_CONF" </dev/null >>"$tmp/log/slurmctld.out" 2>&1 &
daemon_pids+=($!)
env "$marker" slurmd -D -N lpnode -f "$SLURM_CONF" </dev/null >>"$tmp/log/slurmd.out" 2>&1 &
daemon_pids+=($!)
node_idle() { [ "$(sinfo -h -n lpnode -o %T 2>/dev/null)" = idle ]; }
wait_for "the node to be idle in sinfo" node_idle
say "cluster up: munged, slurmctld on :$ctld_port, slurmd on :$slurmd_port ($hw)"

# --- the batch ---------------------------------------------------------------------------
work=$tmp/work
cd "$work" || fail "cannot enter $work"
mkdir -p photos/2024 photos/2025 logs reports
n=$((shards * per_shard))
declare -A in_size
for i in $(seq 0 $((n - 1))); do
  w=$((1400 + 64 * i)) h=$((1000 + 32 * i))
  if [ $((i % 4)) -eq 3 ]; then f=photos/2025/p$(printf %02d "$i").png; else f=photos/2024/p$(printf %02d "$i").jpg; fi
  "$mksample" "$f" "$w" "$h" "$i" >/dev/null || fail "lp-mksample could not write $f"
  in_size[$f]=${w}x$h
done

# the job script exactly as docs/batch.md shows it
awk '/^### Slurm job array/ { s = 1 } s == 1 && /^```bash$/ { s = 2; next } s == 2 && /^```$/ { exit } s == 2' \
  "$doc" > photos-to-avif.sbatch
grep -q -- '--shard' photos-to-avif.sbatch && grep -q '^#SBATCH --array' photos-to-avif.sbatch ||
  fail "no Slurm job array script under '### Slurm job array' in $doc"
ln -s "$bin" "$tmp/bin/leanpix"
export PATH=$tmp/bin:$PATH     # sbatch passes the environment on: the tasks find this leanpix

job=$(env "$marker" sbatch --parsable --array=0-$((shards - 1)) --cpus-per-task=1 --chdir="$work" photos-to-avif.sbatch) ||
  fail "sbatch refused the documented script"
job=${job%%;*}
say "submitted array job $job: $n inputs, $shards shards"

# --- cancel one task in the middle of its shard, then requeue it ---------------------------
report=reports/shard-$victim.json
# The inputs a report, complete or not, says were converted: a batch writes its --json
# report as it goes, one image a line, so a cancelled one's lines are read one by one.
converted_in() { sed 's/,$//' "$1" 2>/dev/null | jq -R -r 'fromjson? | select(.status? == "ok") | .input'; }
task_state() { scontrol -o show job "${job}_$1" 2>/dev/null | grep -o ' JobState=[A-Z_]*' | cut -d= -f2; }
victim_midway() {
  [ -n "$(converted_in "$report")" ] && return 0
  case $(task_state "$victim") in PENDING|CONFIGURING|RUNNING) return 1 ;; esac
  fail "task $victim ended ($(task_state "$victim")) before it could be cancelled midway"
}
wait_for "task $victim to convert its first image" victim_midway
scancel "${job}_$victim" || fail "scancel ${job}_$victim failed"
# squeue lists a cancelled task until its processes are gone (state COMPLETING)
victim_gone() { [ -z "$(squeue -h -j "${job}_$victim" 2>/dev/null)" ] && [ "$(task_state "$victim")" = CANCELLED ]; }
wait_for "task $victim to be cancelled and its processes gone" victim_gone
# Slurm must have seen the task's processes end: none of them may outlive it (a job script
# that dies at SIGTERM leaves leanpix running untracked under proctrack/linuxproc)
victim_id=$(scontrol -o show job "${job}_$victim" | grep -o '^JobId=[0-9]*' | cut -d= -f2)
for pid in $(our_processes); do
  if tr '\0' '\n' 2>/dev/null < "/proc/$pid/environ" | grep -qxF "SLURM_JOB_ID=$victim_id"; then
    fail "task $victim is over for Slurm but its process $pid ($(tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null)) still runs"
  fi
done
grep -q 'interrupted by signal 15' "logs/avif-${job}_$victim.out" ||
  fail "the cancelled task's log does not say leanpix was interrupted by SIGTERM"
cp "$report" reports/killed-shard-$victim.json
killed_done=$(converted_in reports/killed-shard-$victim.json)
killed_ok=$(printf '%s\n' "$killed_done" | grep -c .)
[ "$killed_ok" -ge 1 ] && [ "$killed_ok" -lt "$per_shard" ] ||
  fail "the cancelled task had finished $killed_ok of $per_shard images: not a cancel in the middle (make the images bigger)"
# what the cancelled run had finished must not be written again: keep its files' identity
declare -A kept
for f in $killed_done; do
  o=avif/${f#photos/}; o=${o%.*}.avif
  [ -f "$o" ] || fail "$f is ok in the cancelled task's report but $o does not exist"
  kept[$o]=$(stat -c '%i %y' "$o")
done
say "cancelled task $victim after $killed_ok of $per_shard images; requeueing it"
scontrol requeue "${job}_$victim" || fail "scontrol requeue ${job}_$victim failed"

all_done() { [ -z "$(squeue -h -j "$job" 2>/dev/null)" ]; }
wait_for "every task of job $job to end" all_done

# --- checks ----------------------------------------------------------------------------------
# every task COMPLETED with exit code 0; the victim after one restart
states=$(scontrol -o show job "$job")
for t in $(seq 0 $((shards - 1))); do
  line=$(printf '%s\n' "$states" | grep " ArrayTaskId=$t ")
  [ -n "$line" ] || fail "task $t is not known to slurmctld"
  case "$line" in *" JobState=COMPLETED "*" ExitCode=0:0 "*) ;;
    *) fail "task $t did not complete with exit code 0: $(grep -o 'JobState=[^ ]*.*ExitCode=[^ ]*' <<<"$line")" ;; esac
  restarts=$(grep -o ' Restarts=[0-9]*' <<<"$line"); restarts=${restarts#*=}
  want=0; [ "$t" -eq "$victim" ] && want=1
  [ "$restarts" -eq "$want" ] || fail "task $t restarted $restarts times, expected $want"
done

# each shard's final report: complete, and each input in one shard only
declare -A owner
converted=0
for t in $(seq 0 $((shards - 1))); do
  r=reports/shard-$t.json
  jq -e '.summary' "$r" >/dev/null 2>&1 || fail "$r is missing or has no summary (not valid JSON?)"
  [ "$(jq -r '.summary.failed' "$r")" -eq 0 ] || fail "$r reports failed images"
  count=$(jq '[.images[] | select(.status == "ok" or .status == "skipped")] | length' "$r")
  [ "$count" -eq "$per_shard" ] || fail "shard $t holds $count inputs, expected $per_shard"
  for f in $(jq -r '.images[] | select(.status == "ok" or .status == "skipped") | .input' "$r"); do
    [ -z "${owner[$f]:-}" ] || fail "$f is in shard ${owner[$f]} and in shard $t"
    owner[$f]=$t
  done
  converted=$((converted + $(jq '[.images[] | select(.status == "ok")] | length' "$r")))
done
for f in "${!in_size[@]}"; do
  [ -n "${owner[$f]:-}" ] || fail "$f is in no shard's report"
done
# the requeued run skipped exactly what the cancelled run had converted
redone=$(jq -r '.images[] | select(.status == "ok") | .input' "$report")
skipped=$(jq -r '.images[] | select(.status == "skipped") | .input' "$report")
for f in $killed_done; do
  grep -qxF "$f" <<<"$redone" && fail "$f was converted by the cancelled task and again by its requeued run"
  grep -qxF "$f" <<<"$skipped" || fail "$f, converted before the cancel, is not 'skipped' by the requeued run"
done
converted=$((converted + killed_ok))
[ "$converted" -eq "$n" ] || fail "$converted conversions for $n inputs"
for o in "${!kept[@]}"; do
  [ "$(stat -c '%i %y' "$o")" = "${kept[$o]}" ] || fail "$o was rewritten after the requeue"
done

# one complete, decodable output per input, at its size, and no temp file left
outs=$(find avif -type f -name '*.avif' ! -name '.*' | wc -l)
[ "$outs" -eq "$n" ] || fail "$outs outputs in avif/ for $n inputs"
tmpfiles=$(find avif -name '.*.lp-*')
[ -z "$tmpfiles" ] || fail "temp files left: $tmpfiles"
for f in "${!in_size[@]}"; do
  o=avif/${f#photos/}; o=${o%.*}.avif
  info=$(avifdec --info "$o" 2>&1) || fail "avifdec cannot decode $o: $info"
  size=$(sed -n 's/^ \* Resolution *: //p' <<<"$info")
  [ "$size" = "${in_size[$f]}" ] || fail "$o decodes at '$size', its input $f is ${in_size[$f]}"
done

failed=0
say "PASS: $n inputs in $shards shards, each converted once; task $victim cancelled after $killed_ok of $per_shard images and requeued with --resume; $outs outputs decoded by avifdec; $(( $(date +%s) - t0 )) s"
