#!/usr/bin/env bash
# bench/png-webp-vs-peers.sh [LEANPIX] [WIDTH HEIGHT] - PNG decoding/encoding and WebP
# encoding: leanpix against vips, cwebp and ImageMagick with the same settings, one after
# another in one run.
#
# Input: a photo-like image (bench/make-photo.sh: a real photograph resampled, plus
# grain) written as a PNG by vips, plus an interlaced (Adam7) copy. Jobs:
#   PNG -> PNG     zlib level 6, all filters (leanpix default = vips --compression 6
#                  --filter all; ImageMagick at its default)
#   Adam7 PNG -> PNG  (a decoder must hold the whole image)
#   PNG -> WebP    lossy q80, method 3 (leanpix default speed 6 -> method 3 = cwebp -m 3
#                  = vips --effort 3); leanpix's file is compared byte for byte with cwebp's
#   PNG -> WebP    lossless
# Prints peak RSS (/usr/bin/time -v), the best wall time of BENCH_REPEAT (3) runs and
# output bytes, and ratios.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
leanpix=$(realpath "${1:-$here/../build/leanpix}")
w=${2:-4000} h=${3:-3000}
export BENCH_OUT=${BENCH_OUT:-$here/out/png-webp}
mkdir -p "$BENCH_OUT"
. "$here/lib.sh"
IM=/usr/bin/convert

jpg=$BENCH_OUT/photo.jpg
png=$BENCH_OUT/photo.png
ilpng=$BENCH_OUT/photo-adam7.png
[ -s "$jpg" ] || "$here/make-photo.sh" "$jpg" "$w" "$h" 3
vips copy "$jpg" "$png"
vips copy "$jpg" "$ilpng[interlace]"
echo "input: $png $(vipsheader "$png" | cut -d: -f2) $(bytes "$png") bytes; Adam7 copy $(bytes "$ilpng") bytes"

row() {  # job tool rss wall bytes note
  printf "| %-16s | %-34s | %8s | %6s | %10s | %s\n" "$@"
}
repeat=${BENCH_REPEAT:-3}  # best wall time of this many runs (the machine is shared)
run() {  # job tool out cmd...
  local job=$1 tool=$2 out=$3; shift 3
  local key; key=$(echo "$job-$tool" | tr -c 'A-Za-z0-9\n' '_')
  local best_wall=NA best_rss=NA i
  for ((i = 0; i < repeat; i++)); do
    rm -f "$out"
    measure "$key" "$@" || { best_wall=NA; break; }
    if [ "$best_wall" = NA ] || awk -v a="$MEAS_WALL_S" -v b="$best_wall" 'BEGIN { exit !(a < b) }'; then
      best_wall=$MEAS_WALL_S
    fi
    best_rss=$MEAS_RSS_MIB  # peak RSS does not depend on the machine's load
  done
  if [ "$best_wall" != NA ]; then
    row "$job" "$tool" "$best_rss" "$best_wall" "$(bytes "$out")" ""
  else
    row "$job" "$tool" NA NA NA "failed"; best_rss=NA
  fi
  eval "rss_$key=$best_rss wall_$key=$best_wall"
}
echo
row "job" "tool" "peak MiB" "wall s" "bytes" ""
row "---" "----" "--------" "------" "-----" ""

o=$BENCH_OUT
run png-png leanpix "$o/lp.png" "$leanpix" convert "$png" "$o/lp.png" --no-progress
run png-png "vips --compression 6 --filter all" "$o/vips.png" \
  env VIPS_CONCURRENCY=1 vips pngsave "$png" "$o/vips.png" --compression 6 --filter all
run png-png "ImageMagick" "$o/im.png" "$IM" "$png" "$o/im.png"
run adam7-png leanpix "$o/lp-il.png" "$leanpix" convert "$ilpng" "$o/lp-il.png" --no-progress
run adam7-png "vips --compression 6 --filter all" "$o/vips-il.png" \
  env VIPS_CONCURRENCY=1 vips pngsave "$ilpng" "$o/vips-il.png" --compression 6 --filter all
run png-webp leanpix "$o/lp.webp" "$leanpix" convert "$png" "$o/lp.webp" -q 80 --no-progress
run png-webp "cwebp -q 80 -m 3" "$o/cwebp.webp" cwebp -quiet -q 80 -m 3 "$png" -o "$o/cwebp.webp"
run png-webp "vips --Q 80 --effort 3" "$o/vips.webp" \
  env VIPS_CONCURRENCY=1 vips webpsave "$png" "$o/vips.webp" --Q 80 --effort 3
run png-webp "ImageMagick -quality 80" "$o/im.webp" "$IM" "$png" -quality 80 -define webp:method=3 "$o/im.webp"
run png-webp-lossless leanpix "$o/lp-ll.webp" "$leanpix" convert "$png" "$o/lp-ll.webp" --lossless --no-progress
run png-webp-lossless "cwebp -lossless -q 80 -m 3 -exact" "$o/cwebp-ll.webp" \
  cwebp -quiet -lossless -q 80 -m 3 -exact "$png" -o "$o/cwebp-ll.webp"

echo
if cmp -s "$o/lp.webp" "$o/cwebp.webp"; then same="identical"; else same="DIFFERENT"; fi
echo "leanpix lossy WebP vs cwebp's: $same files"
echo "png-png:   leanpix / vips peak RSS $(ratio "$rss_png_png_leanpix" "$rss_png_png_vips___compression_6___filter_all"), wall $(ratio "$wall_png_png_leanpix" "$wall_png_png_vips___compression_6___filter_all"); leanpix / ImageMagick peak RSS $(ratio "$rss_png_png_leanpix" "$rss_png_png_ImageMagick")"
echo "adam7-png: leanpix / vips peak RSS $(ratio "$rss_adam7_png_leanpix" "$rss_adam7_png_vips___compression_6___filter_all"), wall $(ratio "$wall_adam7_png_leanpix" "$wall_adam7_png_vips___compression_6___filter_all")"
echo "png-webp:  leanpix / cwebp peak RSS $(ratio "$rss_png_webp_leanpix" "$rss_png_webp_cwebp__q_80__m_3"), wall $(ratio "$wall_png_webp_leanpix" "$wall_png_webp_cwebp__q_80__m_3"); leanpix / vips peak RSS $(ratio "$rss_png_webp_leanpix" "$rss_png_webp_vips___Q_80___effort_3")"
echo "lossless:  leanpix / cwebp peak RSS $(ratio "$rss_png_webp_lossless_leanpix" "$rss_png_webp_lossless_cwebp__lossless__q_80__m_3__exact"), wall $(ratio "$wall_png_webp_lossless_leanpix" "$wall_png_webp_lossless_cwebp__lossless__q_80__m_3__exact")"
