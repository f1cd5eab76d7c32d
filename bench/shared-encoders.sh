#!/usr/bin/env bash
# bench/shared-encoders.sh - two jobs taking turns at one two-threaded libaom encoder,
# against two jobs with an encoder each (what `leanpix batch --jobs 2` does).
#
# A libaom encoder of a 4K-class grid cell holds about 70 MiB whatever its threads, and
# two of them are most of a 2-job batch's peak (docs/memory.md). If the jobs took turns at
# one encoder with two threads (two tile columns), the batch would hold one: the job
# without the turn decodes its next cell-row meanwhile. bench/patches/shared-encoders.patch
# builds that (`leanpix batch --encoders N`: N encoders shared in turns, each with
# CPUs / N threads; N = jobs is today's behaviour). This applies the patch to a scratch
# worktree of HEAD, builds it (Release), and runs both settings on the same photos: the
# first N photos of the reference batch's list, `--jobs 2 --max-mem 256M --speed 9`, each
# under `leanpix profile` (tree peak PSS); then the bytes, and the PSNR (ImageMagick) of every
# distinct photo's output against its JPEG.
#
# Inputs: $REF_WORK/batch-1 (bench/reference-batch.sh --inputs-only). Environment:
# REF_WORK (bench/out/reference), N (48 photos). A quiet machine with 2 free CPUs: the
# figures include times. About 10 minutes, most of it the PSNR comparisons. The patch was
# made against commit 4d92b19 and refreshed for 5e68684; it may need a 3-way merge later (git
# apply --3way is tried).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=bench/lib.sh
. "$here/lib.sh"
case "${1:-}" in -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;; esac
n=${N:-48}
patched_bench shared-encoders
mkdir "$out/in"
link_ref_inputs "$work" photo "$n" "$out/in"
echo "shared-encoders: $(ls "$out/in" | wc -l) photos; $(date -u +%Y-%m-%dT%H:%MZ), load $(cut -d' ' -f1 /proc/loadavg)"
printf "| %-28s | %6s | %6s | %11s | %12s | %9s | %12s |\n" setting "wall s" "CPU s" "cores busy" \
  "tree peak MiB" "bytes" "turns waited"
printf "| %-28s | %6s | %6s | %11s | %12s | %9s | %12s |\n" --- --- --- --- --- --- ---
for e in 2 1; do
  label=$([ "$e" = 2 ] && echo "an encoder per job" || echo "one shared, 2 threads")
  profiled_batch "$e" "$out" --encoders "$e" "$out/in"
  waited=$(python3 -c 'import json, sys; s = json.load(open(sys.argv[1]))["summary"]
print(s.get("encoder_turns_waited", 0), "of", s.get("encoder_turns", 0))' "$RUN_REPORT")
  printf "| %-28s | %6.1f | %6.1f | %11s | %12s | %9s | %12s |\n" "$label" "$RUN_WALL" "$RUN_CPU" \
    "$RUN_CORES" "$RUN_PEAK" "$RUN_BYTES" "$waited"
done
echo
echo "PSNR (dB, ImageMagick compare) of each distinct photo's output, an encoder per job / shared:"
for f in $(cd "$out/o-2" && ls | sort); do
  src=$(readlink -f "$out/in/${f%.avif}.jpg")
  key=$(stat -c %i "$src")
  case " ${seen:-} " in *" $key "*) continue ;; esac
  seen="${seen:-} $key"
  avifdec "$out/o-2/$f" "$out/a.png" > /dev/null
  avifdec "$out/o-1/$f" "$out/b.png" > /dev/null
  echo "  $f: $(psnr_db "$src" "$out/a.png") / $(psnr_db "$src" "$out/b.png"); bytes $(bytes "$out/o-2/$f") / $(bytes "$out/o-1/$f")"
done
rm -f "$out/a.png" "$out/b.png"
