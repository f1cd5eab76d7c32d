#!/usr/bin/env bash
# bench/formats-vs-vips.sh [LEANPIX] [WIDTH HEIGHT] - peak memory of decoding each input
# format: `leanpix convert IN out.jpg` against `vips copy IN out.jpg`, one after another.
#
# Input: a photo-like 24 MP image (bench/make-photo.sh, 6000x4000 by default) written in
# each input format: JPEG (q90, baseline), PNG (vips, level 6), WebP lossy (q80) and
# lossless, TIFF LZW in strips (vips writes 128 rows per strip) and
# Deflate in 256x256 tiles, HEIC (heif-enc -q 80) and AVIF (avifenc, speed 8, quantizer 25) when those
# tools are installed. Output: JPEG q85 (leanpix's default; vips gets Q=85 too).
# Prints one table row per input: format, what leanpix does with it (streaming or the
# whole frame, from `convert --json`'s whole_image_bytes), peak RSS of each tool
# (/usr/bin/time -v) and leanpix/vips. An input leanpix does not read prints
# "unsupported". Figures go to docs/benchmarks.md by hand, with the date and machine.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
leanpix=$(realpath "${1:-$here/../build/leanpix}")
w=${2:-6000} h=${3:-4000}
export BENCH_OUT=${BENCH_OUT:-$here/out/formats}
mkdir -p "$BENCH_OUT"
. "$here/lib.sh"

o=$BENCH_OUT
jpg=$o/photo.jpg
[ -s "$jpg" ] || "$here/make-photo.sh" "$jpg" "$w" "$h" 5
png=$o/photo.png
[ -s "$png" ] || vips copy "$jpg" "$png"
inputs=(jpg png)
make_input() {  # name command... (skipped when the tool is missing)
  local name=$1 tool=$2; shift
  command -v "$tool" >/dev/null 2>&1 || { echo "bench: $tool missing: no $name input" >&2; return 0; }
  [ -s "$o/photo.$name" ] || "$@" >/dev/null 2>&1 || { echo "bench: cannot make $name" >&2; return 0; }
  inputs+=("$name")
}
make_input webp vips copy "$jpg" "$o/photo.webp[Q=80]"
make_input lossless.webp cwebp -quiet -lossless -m 1 "$png" -o "$o/photo.lossless.webp"
make_input tif vips copy "$jpg" "$o/photo.tif[compression=lzw]"
make_input tiled.tif vips copy "$jpg" "$o/photo.tiled.tif[compression=deflate,tile,tile-width=256,tile-height=256]"
make_input heic heif-enc -q 80 "$png" -o "$o/photo.heic"
make_input avif avifenc -s 8 --min 25 --max 25 "$png" "$o/photo.avif"

echo "input: $(vipsheader "$jpg" | cut -d: -f2); leanpix: $leanpix; vips: $(vips --version)"
echo
row() { printf "| %-14s | %-12s | %9s | %9s | %6s | %s\n" "$@"; }
row "input" "leanpix" "leanpix MiB" "vips MiB" "ratio" "input bytes"
row "-----" "-------" "-----------" "--------" "-----" "-----------"
for name in "${inputs[@]}"; do
  in=$o/photo.$name
  key=$(echo "$name" | tr -c 'A-Za-z0-9\n' '_')
  lp_rss=NA mode=unsupported
  if measure "lp_$key" "$leanpix" convert "$in" "$o/lp-$key.jpg" --json --no-progress; then
    lp_rss=$MEAS_RSS_MIB
    whole=$(sed -n 's/.*"whole_image_bytes":\([0-9]*\).*/\1/p' "$BENCH_OUT/lp_$key.out")
    if [ "${whole:-0}" -gt 0 ]; then mode="whole-frame"; else mode="streaming"; fi
  elif ! grep -qiE 'not a|unsupported|not supported' "$BENCH_OUT/lp_$key.out"; then
    mode=failed
  fi
  vips_rss=NA
  if measure "vips_$key" vips copy "$in" "$o/vips-$key.jpg[Q=85]"; then vips_rss=$MEAS_RSS_MIB; fi
  row "$name" "$mode" "$lp_rss" "$vips_rss" "$(ratio "$lp_rss" "$vips_rss")" "$(bytes "$in")"
done
