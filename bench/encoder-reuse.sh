#!/usr/bin/env bash
# bench/encoder-reuse.sh [LEANPIX] - one libaom encoder for the cells a worker takes in a
# cell-row (bench/patches/encoder-reuse.patch) against one encoder a cell (what leanpix does).
#
# The batch keeps libaom's blocks on mmap (src/batch/alloc.c), so an encoder made for each
# cell has its ~16 bytes a pixel faulted in again every time. Reusing it saves those faults
# but holds the previous cell's reconstruction as a reference while the next is coded.
# This applies the patch to a scratch worktree of HEAD, builds it (Release) and runs
# `leanpix batch --jobs 2 --max-mem 256M --speed 9` with LEANPIX (HEAD's build) and with
# the patched one over the reference list's first N photos, each under `leanpix profile`
# (tree peak PSS, minor faults), then checks that both wrote the same files byte for byte.
#
# Inputs: $REF_WORK/batch-1 (bench/reference-batch.sh --inputs-only). Environment:
# REF_WORK (bench/out/reference), N (48 photos). A quiet machine with 2 free CPUs: the
# figures include times. About 3 minutes.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=bench/lib.sh
. "$here/lib.sh"
case "${1:-}" in -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;; esac
resolve_leanpix encoder-reuse "${1:-}"
head_leanpix=$leanpix
n=${N:-48}
patched_bench encoder-reuse
patched_leanpix=$leanpix
mkdir "$out/in"
link_ref_inputs "$work" photo "$n" "$out/in"
echo "encoder-reuse: $(ls "$out/in" | wc -l) photos; $(date -u +%Y-%m-%dT%H:%MZ), load $(cut -d' ' -f1 /proc/loadavg)"
printf "| %-24s | %6s | %6s | %10s | %13s | %12s | %11s |\n" setting "wall s" "CPU s" "cores busy" \
  "tree peak MiB" "minor faults" bytes
printf "| %-24s | %6s | %6s | %10s | %13s | %12s | %11s |\n" --- --- --- --- --- --- ---
for setting in head reuse; do
  if [ "$setting" = head ]; then leanpix=$head_leanpix label="an encoder a cell"
  else leanpix=$patched_leanpix label="an encoder a worker-row"; fi
  profiled_batch "$setting" "$out" "$out/in"
  faults=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["summary"]["minflt"])' \
    "$out/profile-$setting.json")
  printf "| %-24s | %6.1f | %6.1f | %10s | %13s | %12s | %11s |\n" "$label" "$RUN_WALL" "$RUN_CPU" \
    "$RUN_CORES" "$RUN_PEAK" "$faults" "$RUN_BYTES"
done
for f in "$out/o-head"/*.avif; do
  cmp -s "$f" "$out/o-reuse/$(basename "$f")" || { echo "encoder-reuse: $(basename "$f") differs" >&2; exit 1; }
done
echo "every output is byte for byte the same"
