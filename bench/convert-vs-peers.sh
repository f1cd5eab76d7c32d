#!/usr/bin/env bash
# bench/convert-vs-peers.sh [LEANPIX] - issue "foundation" benchmark.
#
# One photo-like 24 MP JPEG (bench/make-photo.sh: a real photograph resampled, plus grain)
# converted to AVIF by leanpix, avifenc and vips heifsave with the same settings (aom,
# speed 6, 8-bit 4:2:0, quantizer 25 = leanpix -q 60, one thread), one after another in
# one run; then JPEG -> 2048 px JPEG by leanpix and vipsthumbnail. Prints peak RSS
# (/usr/bin/time -v), wall time, output bytes and PSNR against the source, and ratios.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
leanpix=$(realpath "${1:-$here/../build/leanpix}")
export BENCH_OUT=${BENCH_OUT:-$here/out/convert}
mkdir -p "$BENCH_OUT"
. "$here/lib.sh"

src=$BENCH_OUT/photo24.jpg
[ -s "$src" ] || "$here/make-photo.sh" "$src" 6000 4000 1
q=60; quant=$(( ((100 - q) * 63 + 50) / 100 ))
echo "input: $src $(vipsheader "$src" | cut -d: -f2) $(bytes "$src") bytes; AVIF speed 6, 4:2:0, 8-bit, quantizer $quant"
vips copy "$src" "$BENCH_OUT/ref.png"

row() {  # tool rss wall bytes psnr
  printf "| %-28s | %9s | %7s | %10s | %6s |\n" "$@"
}
echo
row "tool" "peak MiB" "wall s" "bytes" "PSNR"
row "----" "--------" "------" "-----" "----"

avif_run() {  # name out cmd...
  local name=$1 out=$2; shift 2
  rm -f "$out"
  measure "$name" "$@" || { row "$name" NA NA NA NA; return; }
  avifdec "$out" "$BENCH_OUT/$name.png" >/dev/null
  local p; p=$(psnr_db "$BENCH_OUT/ref.png" "$BENCH_OUT/$name.png")
  row "$name" "$MEAS_RSS_MIB" "$MEAS_WALL_S" "$(bytes "$out")" "$p"
  eval "${name//-/_}_rss=$MEAS_RSS_MIB ${name//-/_}_wall=$MEAS_WALL_S ${name//-/_}_bytes=$(bytes "$out")"
}

avif_run leanpix "$BENCH_OUT/leanpix.avif" "$leanpix" convert "$src" "$BENCH_OUT/leanpix.avif" -q $q --speed 6 --chroma 420 --depth 8 --threads 1 --grid off
avif_run avifenc "$BENCH_OUT/avifenc.avif" avifenc -j 1 -s 6 -y 420 -d 8 --min $quant --max $quant "$src" "$BENCH_OUT/avifenc.avif"
avif_run vips-heifsave "$BENCH_OUT/vips.avif" env VIPS_CONCURRENCY=1 vips heifsave "$src" "$BENCH_OUT/vips.avif" --compression av1 --effort 3 --Q 60 --subsample-mode on

echo
echo "leanpix / avifenc: peak RSS $(ratio "$leanpix_rss" "$avifenc_rss"), wall $(ratio "$leanpix_wall" "$avifenc_wall"), bytes $(ratio "$leanpix_bytes" "$avifenc_bytes")"
echo "leanpix / vips:    peak RSS $(ratio "$leanpix_rss" "$vips_heifsave_rss"), wall $(ratio "$leanpix_wall" "$vips_heifsave_wall")"

echo
echo "JPEG -> 2048 px JPEG (quality 85):"
row "tool" "peak MiB" "wall s" "bytes" "PSNR"
row "----" "--------" "------" "-----" "----"
measure lp-thumb "$leanpix" convert "$src" "$BENCH_OUT/lp-thumb.jpg" --max-dim 2048 -q 85
lp_rss=$MEAS_RSS_MIB lp_wall=$MEAS_WALL_S
vipsthumbnail "$src" -s 2048 -o "$BENCH_OUT/thumb-ref.png"
row leanpix "$lp_rss" "$lp_wall" "$(bytes "$BENCH_OUT/lp-thumb.jpg")" "$(psnr_db "$BENCH_OUT/thumb-ref.png" "$BENCH_OUT/lp-thumb.jpg")"
measure vipsthumbnail vipsthumbnail "$src" -s 2048 -o "$BENCH_OUT/vips-thumb.jpg[Q=85]"
row vipsthumbnail "$MEAS_RSS_MIB" "$MEAS_WALL_S" "$(bytes "$BENCH_OUT/vips-thumb.jpg")" "(reference)"
echo
echo "leanpix / vipsthumbnail: peak RSS $(ratio "$lp_rss" "$MEAS_RSS_MIB"), wall $(ratio "$lp_wall" "$MEAS_WALL_S")"
