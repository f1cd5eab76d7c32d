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
# figures include times. About 3 minutes. The patch was made against commit 4d92b19; it
# may need a 3-way merge later (git apply --3way is tried).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=bench/lib.sh
. "$here/lib.sh"
case "${1:-}" in -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;; esac
work=${REF_WORK:-$here/out/reference}
n=${N:-48}
[ -d "$work/batch-1" ] || { echo "shared-encoders: no $work/batch-1: run bench/reference-batch.sh --inputs-only first" >&2; exit 2; }
out=$work/shared-encoders
rm -rf "$out"; mkdir -p "$out/in"
build_patched shared-encoders "$here/patches/shared-encoders.patch" "$out/tree"

awk -F'\t' -v n="$n" '$2 == "photo" && taken++ < n { print $1 }' "$work/batch-1/manifest.tsv" |
  while read -r f; do ln "$work/batch-1/$f" "$out/in/$f"; done
echo "shared-encoders: $(ls "$out/in" | wc -l) photos; $(date -u +%Y-%m-%dT%H:%MZ), load $(cut -d' ' -f1 /proc/loadavg)"
printf "| %-28s | %6s | %6s | %11s | %12s | %9s | %12s |\n" setting "wall s" "CPU s" "cores busy" \
  "tree peak MiB" "bytes" "turns waited"
printf "| %-28s | %6s | %6s | %11s | %12s | %9s | %12s |\n" --- --- --- --- --- --- ---
for e in 2 1; do
  label=$([ "$e" = 2 ] && echo "an encoder per job" || echo "one shared, 2 threads")
  "$leanpix" profile -q -i 50ms -o "$out/profile-$e.json" -- /usr/bin/time -f "%e %U %S" -o "$out/time-$e.txt" \
    "$leanpix" batch --no-progress --jobs 2 --encoders "$e" --max-mem 256M -q 60 --speed 9 \
    --chroma 420 --depth 8 --json "$out/report-$e.json" -o "$out/o$e" "$out/in" > /dev/null
  read -r wall user sys < "$out/time-$e.txt"
  python3 - "$out/profile-$e.json" "$out/report-$e.json" "$label" "$wall" "$user" "$sys" <<'PY'
import json, sys
prof, rep = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))['summary']
wall, cpu = float(sys.argv[4]), float(sys.argv[5]) + float(sys.argv[6])
peak = prof['summary']['peak']['tree']['pss'] / 2**20
print(f"| {sys.argv[3]:<28} | {wall:6.1f} | {cpu:6.1f} | {cpu / wall:11.2f} | {peak:12.1f} "
      f"| {rep['bytes_out']:9d} | {rep.get('encoder_turns_waited', 0):>5} of {rep.get('encoder_turns', 0):<4} |")
PY
done
echo
echo "PSNR (dB, ImageMagick compare) of each distinct photo's output, an encoder per job / shared:"
for f in $(cd "$out/o2" && ls | sort); do
  src=$(readlink -f "$out/in/${f%.avif}.jpg")
  key=$(stat -c %i "$src")
  case " ${seen:-} " in *" $key "*) continue ;; esac
  seen="${seen:-} $key"
  avifdec -q "$out/o2/$f" "$out/a.png" > /dev/null 2>&1 || avifdec "$out/o2/$f" "$out/a.png" > /dev/null
  avifdec -q "$out/o1/$f" "$out/b.png" > /dev/null 2>&1 || avifdec "$out/o1/$f" "$out/b.png" > /dev/null
  echo "  $f: $(psnr_db "$src" "$out/a.png") / $(psnr_db "$src" "$out/b.png"); bytes $(bytes "$out/o2/$f") / $(bytes "$out/o1/$f")"
done
rm -f "$out/a.png" "$out/b.png"
