#!/usr/bin/env bash
# bench/grid-bands.sh - an AVIF grid written in column bands (the input decoded once per
# band, a band of the cell-row held) against one read (what leanpix does).
#
# A photo job of the 256M reference batch holds one libaom encoder (about 70 MiB for a
# 4K-class cell) and a cell-row of YUV the width of the photo (about 21 MB for three 2240 px
# cells); two such jobs are the batch's photo peak (docs/memory.md). Writing the first
# band of the cell columns from the pipeline's read and each other band from another read
# of the file holds 1/N of the row, for N - 1 more decodes of the JPEG.
# bench/patches/grid-bands.patch builds it (`--grid-bands N`; the planner's predictions are
# left as they are, so the jobs get the same cells). This applies the patch to a scratch
# worktree of HEAD, builds it (Release) and runs `leanpix batch --jobs 2 --max-mem 256M
# --speed 9` with each number of bands in BANDS over two input sets of the reference list:
# its first N photos, and its first two 15120x10080 outliers side by side (the full batch's
# peak); each run under `leanpix profile` (tree peak PSS). Every setting's outputs must
# decode to the pixels of one band's where both runs planned the same cells (their cells
# are the same; only their order in the file differs).
#
# Inputs: $REF_WORK/batch-1 (bench/reference-batch.sh --inputs-only). Environment:
# REF_WORK (bench/out/reference), N (48 photos), BANDS ("1 2 3"; 1 first). A quiet machine
# with 2 free CPUs: the figures include times. About 8 minutes.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=bench/lib.sh
. "$here/lib.sh"
case "${1:-}" in -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;; esac
n=${N:-48} bands=${BANDS:-1 2 3}
patched_bench grid-bands
mkdir "$out/photos" "$out/outliers"
link_ref_inputs "$work" photo "$n" "$out/photos"
link_ref_inputs "$work" outlier 2 "$out/outliers" o15120x10080.jpg
echo "grid-bands: $(ls "$out/photos" | wc -l) photos, $(ls "$out/outliers" | wc -l) outliers;" \
  "$(date -u +%Y-%m-%dT%H:%MZ), load $(cut -d' ' -f1 /proc/loadavg)"
printf "| %-9s | %5s | %6s | %6s | %10s | %13s | %11s |\n" inputs bands "wall s" "CPU s" "cores busy" \
  "tree peak MiB" bytes
printf "| %-9s | %5s | %6s | %6s | %10s | %13s | %11s |\n" --- --- --- --- --- --- ---
for set in photos outliers; do
  for b in $bands; do
    profiled_batch "$set-$b" "$out" --grid-bands "$b" "$out/$set"
    printf "| %-9s | %5s | %6.1f | %6.1f | %10s | %13s | %11s |\n" "$set" "$b" "$RUN_WALL" "$RUN_CPU" \
      "$RUN_CORES" "$RUN_PEAK" "$RUN_BYTES"
  done
  for b in $bands; do
    [ "$b" = 1 ] && continue
    # the same cells as with one band, else the plan differed (a job at the edge of its
    # share: the share is the budget less the idle process, measured at each start)
    python3 - "$out/report-$set-1.json" "$out/report-$set-$b.json" "$b" > "$out/same-$set-$b.txt" <<'PY'
import json, os, sys
cells = lambda f: {os.path.basename(r['input']): (r.get('cell_width'), r.get('cell_height'))
                   for r in json.load(open(f))['images']}
one, other = cells(sys.argv[1]), cells(sys.argv[2])
for name in sorted(one):
    if one[name] == other.get(name):
        print(name[:-4] + '.avif')
    else:
        print(f"  {name}: cells {one[name][0]}x{one[name][1]} with 1 band, "
              f"{other[name][0]}x{other[name][1]} with {sys.argv[3]} (planned apart)", file=sys.stderr)
PY
    while read -r f; do
      avifdec "$out/o-$set-1/$f" "$out/a.y4m" > /dev/null
      avifdec "$out/o-$set-$b/$f" "$out/b.y4m" > /dev/null
      cmp -s "$out/a.y4m" "$out/b.y4m" || { echo "grid-bands: $set/$f decodes differently with $b bands" >&2; exit 1; }
    done < "$out/same-$set-$b.txt"
  done
done
rm -f "$out/a.y4m" "$out/b.y4m"
echo "every output with the same cells decodes to the same pixels whatever the bands"
