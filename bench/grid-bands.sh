#!/usr/bin/env bash
# bench/grid-bands.sh - an AVIF grid written in two column bands (the input decoded twice,
# half the cell-row held) against one read (what leanpix does).
#
# A photo job of the 256M reference batch holds one libaom encoder (about 70 MiB for a
# 4K-class cell) and a cell-row of YUV the width of the photo (about 21 MB for three 2240 px
# cells); two such jobs are the batch's photo peak (docs/memory.md). Writing the left half
# of the cell columns from the pipeline's read and the rest from a second read of the file
# holds half the row, for one more decode of the JPEG. bench/patches/grid-bands.patch
# builds it (`--grid-bands 2`; the planner's predictions are left as they are, so the jobs
# get the same cells). This applies the patch to a scratch worktree of HEAD, builds it
# (Release) and runs `leanpix batch --jobs 2 --max-mem 256M --speed 9` with 1 and 2 bands
# over two input sets of the reference list: its first N photos, and its first two
# 15120x10080 outliers side by side (the full batch's peak); each run under
# `leanpix profile` (tree peak PSS). The outputs of the two settings must decode to the
# same pixels (their cells are the same; only their order in the file differs).
#
# Inputs: $REF_WORK/batch-1 (bench/reference-batch.sh --inputs-only). Environment:
# REF_WORK (bench/out/reference), N (48 photos). A quiet machine with 2 free CPUs: the
# figures include times. About 6 minutes.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=bench/lib.sh
. "$here/lib.sh"
case "${1:-}" in -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;; esac
work=${REF_WORK:-$here/out/reference}
n=${N:-48}
need_ref_inputs grid-bands "$work"
out=$work/grid-bands
rm -rf "$out"; mkdir -p "$out/photos" "$out/outliers"
build_patched grid-bands "$here/patches/grid-bands.patch" "$out/tree"
link_ref_inputs "$work" photo "$n" "$out/photos"
link_ref_inputs "$work" outlier 2 "$out/outliers" o15120x10080.jpg
echo "grid-bands: $(ls "$out/photos" | wc -l) photos, $(ls "$out/outliers" | wc -l) outliers;" \
  "$(date -u +%Y-%m-%dT%H:%MZ), load $(cut -d' ' -f1 /proc/loadavg)"
printf "| %-9s | %5s | %6s | %6s | %10s | %13s | %11s |\n" inputs bands "wall s" "CPU s" "cores busy" \
  "tree peak MiB" bytes
printf "| %-9s | %5s | %6s | %6s | %10s | %13s | %11s |\n" --- --- --- --- --- --- ---
for set in photos outliers; do
  for b in 1 2; do
    profiled_batch "$set-$b" "$out" --grid-bands "$b" "$out/$set"
    printf "| %-9s | %5s | %6.1f | %6.1f | %10s | %13s | %11s |\n" "$set" "$b" "$RUN_WALL" "$RUN_CPU" \
      "$RUN_CORES" "$RUN_PEAK" "$RUN_BYTES"
  done
  for f in $(cd "$out/o-$set-1" && ls); do
    avifdec "$out/o-$set-1/$f" "$out/a.y4m" > /dev/null
    avifdec "$out/o-$set-2/$f" "$out/b.y4m" > /dev/null
    cmp -s "$out/a.y4m" "$out/b.y4m" || { echo "grid-bands: $set/$f decodes differently with 2 bands" >&2; exit 1; }
  done
done
rm -f "$out/a.y4m" "$out/b.y4m"
echo "every output decodes to the same pixels with 1 and 2 bands"
