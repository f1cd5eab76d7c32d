#!/usr/bin/env bash
# bench/grid-vs-peers.sh [LEANPIX] [--huge|--huge-only] - issue "AVIF grids" benchmark.
#
# A photo-like 24 MP JPEG (bench/make-photo.sh: a Debian photograph resampled, plus grain)
# to AVIF, same settings everywhere (aom, speed 6, 8-bit 4:2:0, quantizer 25 = leanpix
# -q 60, $THREADS threads), one after another in one run:
#   leanpix convert --grid CxC  (the streaming grid writer, default cell size)
#   avifenc, one frame          (the memory reference: libaom wants the whole frame)
#   avifenc --grid COLSxROWS    (the same cell count: the time reference)
#   vips heifsave               (one frame)
# Prints peak RSS (/usr/bin/time -v), wall time, output bytes, PSNR against the source
# and whether avifdec (dav1d) decodes the result, then the ratios the issue sets targets
# for. With --huge it also runs an 18000x12000 (216 MP, ~100 MB JPEG) outlier: leanpix with
# --grid auto, avifenc --grid, avifenc one frame and vips (the peers take many minutes and
# gigabytes there; PSNR is skipped at that size).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
leanpix=$(realpath "${1:-$here/../build/leanpix}")
huge=false only_huge=false
case "${2:-}" in
  --huge) huge=true ;;
  --huge-only) huge=true only_huge=true ;;
esac
export BENCH_OUT=${BENCH_OUT:-$here/out/grid}
mkdir -p "$BENCH_OUT"
. "$here/lib.sh"

threads=${THREADS:-2}
cell=${CELL:-512}
q=60; quant=$(( ((100 - q) * 63 + 50) / 100 ))

row() {  # tool rss wall cpu bytes psnr decodes
  printf "| %-22s | %9s | %8s | %8s | %10s | %6s | %-7s |\n" "$@"
}
header() {
  echo
  row "tool" "peak MiB" "wall s" "CPU s" "bytes" "PSNR" "avifdec"
  row "----" "--------" "------" "-----" "-----" "----" "-------"
}
# user + system seconds from the last measure's time log (the machine may be shared:
# CPU time is the steadier figure)
cpu_s() {
  awk -F': ' '/User time|System time/ {s += $2} END {printf "%.2f", s}' "$BENCH_OUT/$1.time"
}

# run NAME OUT WITH_PSNR CMD...: measures, checks avifdec, records NAME_rss/_wall/_bytes
run() {
  local name=$1 out=$2 with_psnr=$3; shift 3
  local var=${name//[-.]/_}
  rm -f "$out"
  if ! measure "$name" "$@"; then
    row "$name" NA NA NA NA NA "no file"
    eval "${var}_rss=NA ${var}_wall=NA ${var}_cpu=NA ${var}_bytes=NA"
    return
  fi
  local dec=no p=-
  if avifdec "$out" "$BENCH_OUT/$name.png" >"$BENCH_OUT/$name.avifdec" 2>&1; then
    dec=yes
    # ImageMagick compare exits 1 when the images differ: keep its output, not its status
    [ "$with_psnr" = yes ] && p=$(psnr_db "$BENCH_OUT/ref.png" "$BENCH_OUT/$name.png" || true)
  fi
  rm -f "$BENCH_OUT/$name.png"
  local cpu; cpu=$(cpu_s "$name")
  row "$name" "$MEAS_RSS_MIB" "$MEAS_WALL_S" "$cpu" "$(bytes "$out")" "$p" "$dec"
  eval "${var}_rss=$MEAS_RSS_MIB ${var}_wall=$MEAS_WALL_S ${var}_cpu=$cpu ${var}_bytes=$(bytes "$out")"
}

# a grid of equal cells that avifenc accepts (it splits the image exactly): the smallest
# column/row counts >= ours whose cells are whole and even
even_split() {  # size cells -> count
  local size=$1 n=$2
  while [ $(( size % n )) -ne 0 ] || [ $(( (size / n) % 2 )) -ne 0 ]; do n=$((n + 1)); done
  echo "$n"
}

photo_case() {  # label W H seed with_psnr [jpeg_quality]
  local label=$1 w=$2 h=$3 seed=$4 with_psnr=$5 jq=${6:-90}
  local src=$BENCH_OUT/$label.jpg
  [ -s "$src" ] || "$here/make-photo.sh" "$src" "$w" "$h" "$seed" "$jq"
  local cols=$(( (w + cell - 1) / cell )) rows=$(( (h + cell - 1) / cell ))
  local acols; acols=$(even_split "$w" "$cols")
  local arows; arows=$(even_split "$h" "$rows")
  echo
  echo "== $label: $src ${w}x${h} $(bytes "$src") bytes; speed 6, 4:2:0, 8-bit, quantizer $quant, $threads threads"
  echo "   leanpix cells ${cell}x${cell} (${cols}x${rows}); avifenc --grid ${acols}x${arows} ($((w / acols))x$((h / arows)) cells)"
  [ "$with_psnr" = yes ] && vips copy "$src" "$BENCH_OUT/ref.png"
  header
  local grid_arg="${cell}x${cell}"
  [ "$label" = photo216 ] && grid_arg=auto
  run leanpix-grid "$BENCH_OUT/$label-leanpix.avif" "$with_psnr" \
    "$leanpix" convert "$src" "$BENCH_OUT/$label-leanpix.avif" -q $q --speed 6 --chroma 420 \
    --depth 8 --threads "$threads" --grid "$grid_arg" --no-progress
  run avifenc-grid "$BENCH_OUT/$label-avifenc-grid.avif" "$with_psnr" \
    avifenc -j "$threads" -s 6 -y 420 -d 8 --min $quant --max $quant --grid "${acols}x${arows}" \
    "$src" "$BENCH_OUT/$label-avifenc-grid.avif"
  run avifenc-single "$BENCH_OUT/$label-avifenc.avif" "$with_psnr" \
    avifenc -j "$threads" -s 6 -y 420 -d 8 --min $quant --max $quant \
    "$src" "$BENCH_OUT/$label-avifenc.avif"
  run vips-heifsave "$BENCH_OUT/$label-vips.avif" "$with_psnr" \
    env VIPS_CONCURRENCY="$threads" vips heifsave "$src" "$BENCH_OUT/$label-vips.avif" \
    --compression av1 --effort 3 --Q $q --subsample-mode on
  echo
  echo "$label leanpix-grid / avifenc-single: peak RSS $(ratio "$leanpix_grid_rss" "$avifenc_single_rss")" \
       "(target <= 0.125), bytes $(ratio "$leanpix_grid_bytes" "$avifenc_single_bytes") (target 0.97..1.03)"
  echo "$label leanpix-grid / avifenc-grid:   wall $(ratio "$leanpix_grid_wall" "$avifenc_grid_wall") (target <= 1)," \
       "CPU $(ratio "$leanpix_grid_cpu" "$avifenc_grid_cpu"),"  \
       "peak RSS $(ratio "$leanpix_grid_rss" "$avifenc_grid_rss"), bytes $(ratio "$leanpix_grid_bytes" "$avifenc_grid_bytes")"
  echo "$label leanpix-grid / vips:           peak RSS $(ratio "$leanpix_grid_rss" "$vips_heifsave_rss"), wall $(ratio "$leanpix_grid_wall" "$vips_heifsave_wall")"
}

# 48 MP (8000x6000, over level 6): the default options must give a file dav1d decodes,
# and --grid off must refuse clearly instead of writing one it cannot.
level6_case() {
  local src=$BENCH_OUT/photo48.jpg out=$BENCH_OUT/photo48.avif
  [ -s "$src" ] || "$here/make-photo.sh" "$src" 8000 6000 3
  echo
  echo "== photo48: $src 8000x6000 $(bytes "$src") bytes; leanpix defaults (--grid auto), $threads threads"
  header
  run leanpix-auto "$out" no "$leanpix" convert "$src" "$out" --threads "$threads" --no-progress
  echo "   $(avifdec --info "$out" 2>/dev/null | grep -m1 Resolution | sed 's/^ *//')"
  rm -f "$BENCH_OUT/photo48-off.avif"
  local msg rc=0
  msg=$("$leanpix" convert "$src" "$BENCH_OUT/photo48-off.avif" --grid off --no-progress 2>&1) || rc=$?
  echo "   --grid off: exit $rc, file written: $([ -e "$BENCH_OUT/photo48-off.avif" ] && echo yes || echo no), message: $msg"
}

echo "grid-vs-peers $(date -u +%Y-%m-%dT%H:%MZ) on $(nproc) cores; $("$leanpix" --version 2>/dev/null || echo leanpix)"
if ! $only_huge; then
  photo_case photo24 6000 4000 1 yes
  level6_case
fi
if $huge; then
  photo_case photo216 18000 12000 2 no 92  # Q92: over 80 MB, like the issue's outliers
fi
