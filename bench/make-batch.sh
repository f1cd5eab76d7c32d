#!/usr/bin/env bash
# bench/make-batch.sh [--scale small|full] [OUTDIR] - the representative batch of `leanpix batch`.
#
# The reference case (issue "batch"): 1,200 photos of about 12 MB (24 MP JPEGs at quality 95
# with sensor-like grain) plus 30 outliers over 80 MB (about 140 MP). `--scale full` makes
# exactly that (about 20 GB; hours on 2 cores). The default small scale fits a 2-core
# machine in minutes: 40 photos of about 3 MP (sides ~1/3 of the reference's, ~1.2 MB) plus
# 1 outlier at full scale (14400x9600, 138 MP, over 80 MB), so that the outlier weighs
# what it weighs in the reference. (Over AV1 level 6: avifenc and vips still write it as
# one frame, with the memory that takes; leanpix writes a grid.)
#
# Each image comes from a real photograph in Debian's mate-backgrounds package (the source
# photo rotates through the package's JPEGs), resampled to cover its size, cropped at a
# seed-dependent offset and given Gaussian grain (bench/make-photo.sh, vips, streaming).
# Sizes vary per image (+-12%) so that the scheduler sees a realistic spread.
# Existing files are kept, so a second run costs nothing.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
scale=small
if [ "${1:-}" = "--scale" ]; then scale=$2; shift 2; fi
out=${1:-$here/out/batch-$scale}
case "$scale" in
  small) n=40 w=2048 h=1536 q=92 outliers=1 ow=14400 oh=9600 ;;
  full)  n=1200 w=6000 h=4000 q=95 outliers=30 ow=14400 oh=9600 ;;
  *) echo "make-batch: --scale small|full" >&2; exit 2 ;;
esac
mkdir -p "$out/photos" "$out/outliers"
mapfile -t sources < <(ls /usr/share/backgrounds/mate/nature/*.jpg /usr/share/backgrounds/mate/abstract/Elephants_5640x3172.jpg 2>/dev/null)
[ ${#sources[@]} -gt 0 ] || { echo "make-batch: mate-backgrounds missing (scripts/deps.sh bench)" >&2; exit 1; }

for i in $(seq 1 "$n"); do
  f=$(printf "%s/photos/p%04d.jpg" "$out" "$i")
  [ -s "$f" ] && continue
  # +-12% per side, even sizes, alternating landscape/portrait every 5th image
  pw=$(( (w * (88 + (i * 37) % 25) / 100) / 2 * 2 )); ph=$(( (h * (88 + (i * 53) % 25) / 100) / 2 * 2 ))
  if [ $((i % 5)) -eq 0 ]; then t=$pw; pw=$ph; ph=$t; fi
  LP_PHOTO=${sources[$((i % ${#sources[@]}))]} "$here/make-photo.sh" "$f" "$pw" "$ph" "$i" "$q"
done
for i in $(seq 1 "$outliers"); do
  f=$(printf "%s/outliers/o%03d.jpg" "$out" "$i")
  [ -s "$f" ] && continue
  # quality 97 makes the outlier weigh over 80 MB, as the reference's do
  LP_PHOTO=/usr/share/backgrounds/mate/abstract/Elephants_5640x3172.jpg "$here/make-photo.sh" "$f" "$ow" "$oh" "$((1000 + i))" 97
done
echo "make-batch: $out: $(find "$out" -name '*.jpg' | wc -l) JPEGs, $(du -sh "$out" | cut -f1)"
