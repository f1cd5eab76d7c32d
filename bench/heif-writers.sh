#!/usr/bin/env bash
# bench/heif-writers.sh [DECODE_PEAK] - are the HEIF and AVIF sources' reservations right for
# files from other writers than the ones they were measured on (avifenc, heif-enc's x265,
# forged files)?
#
# One 24 MP photo-like picture (bench/make-photo.sh), with and without alpha, written by
# every HEIF/AVIF writer Debian has: avifenc (one frame, 6x4 grids), libheif's heif-enc
# (AV1 through libaom, HEVC through x265), vips heifsave and ImageMagick 6 (both through
# libheif, but with their own settings: chroma, depth, properties), and leanpix's own grids.
# Each file is decoded by each source that takes it through tests/helpers/decode_peak,
# which prints the growth of VmHWM (what the decode really held) and the bytes the job
# counted (the reservation made before decoding, and what was counted after). A
# reservation under the measured growth is a hole in the budget; one far over it refuses
# images that would fit.
# Prints one row per (file, source): writer, size, measured MB, reserved MB, ratio. The CLI
# reads .avif with the AVIF source (libavif) and .heic with the HEIF source (libheif); the
# HEIF source's rows for AVIF files are what a caller naming that source would get.
#
# DECODE_PEAK: the helper (default build/tests/decode_peak); LEANPIX: the CLI (default
# build/leanpix). Needs scripts/deps.sh bench.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
peak=$(realpath "${1:-$here/../build/tests/decode_peak}")
[ -x "$peak" ] || { echo "heif-writers: $peak is not an executable (make build)" >&2; exit 2; }
for t in avifenc heif-enc vips convert-im6.q16; do
  command -v "$t" >/dev/null ||
    { echo "heif-writers: $t missing (scripts/deps.sh bench)" >&2; exit 2; }
done
work=${BENCH_OUT:-$(mktemp -d)}
mkdir -p "$work"
W=${W:-6000} H=${H:-4000}  # the grids need both divisible by 6x4 cells of even sizes

"$here/make-photo.sh" "$work/photo.jpg" "$W" "$H" 3 95
vips copy "$work/photo.jpg" "$work/photo.png"
# alpha: an opaque disc on a transparent corner, so that the alpha plane codes to something
vips black "$work/disc.v" "$W" "$H"
vips draw_circle "$work/disc.v" 255 $((W / 2)) $((H / 2)) $((H / 2)) --fill
vips bandjoin "$work/photo.jpg $work/disc.v" "$work/alpha.png"

write() {  # write NAME CMD... (the command writes $work/NAME)
  local name=$1; shift
  "$@" >"$work/$name.log" 2>&1 ||
    { echo "heif-writers: $name not written: $(tail -n 1 "$work/$name.log")" >&2; }
}
# avifenc 0.11 has no -q (quantizer 25 is leanpix's -q 60) and writes 4:4:4 unless told
avif=(avifenc -s 9 --min 25 --max 25 -j 2)
write f-avifenc.avif "${avif[@]}" -y 420 "$work/photo.png" "$work/f-avifenc.avif"
write f-avifenc-grid.avif "${avif[@]}" -y 420 --grid 6x4 "$work/photo.png" \
  "$work/f-avifenc-grid.avif"
write f-avifenc-444.avif "${avif[@]}" -y 444 "$work/photo.png" "$work/f-avifenc-444.avif"
write f-avifenc-444-grid.avif "${avif[@]}" -y 444 --grid 6x4 "$work/photo.png" \
  "$work/f-avifenc-444-grid.avif"
write f-avifenc-10.avif "${avif[@]}" -y 420 -d 10 "$work/photo.png" "$work/f-avifenc-10.avif"
write f-avifenc-444-10.avif "${avif[@]}" -y 444 -d 10 "$work/photo.png" \
  "$work/f-avifenc-444-10.avif"
write f-avifenc-alpha.avif "${avif[@]}" -y 420 "$work/alpha.png" "$work/f-avifenc-alpha.avif"
write f-heifenc.avif heif-enc -A -q 60 -p speed=9 -o "$work/f-heifenc.avif" "$work/photo.png"
write f-heifenc-alpha.avif heif-enc -A -q 60 -p speed=9 -o "$work/f-heifenc-alpha.avif" \
  "$work/alpha.png"
write f-heifenc.heic heif-enc -q 60 -o "$work/f-heifenc.heic" "$work/photo.png"
write f-heifenc-alpha.heic heif-enc -q 60 -o "$work/f-heifenc-alpha.heic" "$work/alpha.png"
write f-vips.avif vips heifsave "$work/photo.jpg" "$work/f-vips.avif" --compression av1 --Q 60 \
  --effort 0
write f-vips.heic vips heifsave "$work/photo.jpg" "$work/f-vips.heic" --compression hevc --Q 60
# leanpix's own grids (2240 px cells, what a 256M batch plans for 24 MP photos): the AVIF
# source's per-cell factor measured on a writer besides avifenc
lp=(${LEANPIX:-$here/../build/leanpix} convert -q 60 -s 9 --grid 2240x2240 --no-progress)
write f-leanpix-grid.avif "${lp[@]}" "$work/photo.png" "$work/f-leanpix-grid.avif"
write f-leanpix-444-10-grid.avif "${lp[@]}" --chroma 444 --depth 10 "$work/photo.png" \
  "$work/f-leanpix-444-10-grid.avif"
write f-leanpix-alpha-grid.avif "${lp[@]}" "$work/alpha.png" "$work/f-leanpix-alpha-grid.avif"
write f-avifenc-444-10-grid.avif "${avif[@]}" -y 444 -d 10 --grid 6x4 "$work/photo.png" \
  "$work/f-avifenc-444-10-grid.avif"
write f-im6.avif convert-im6.q16 "$work/photo.jpg" -quality 60 "$work/f-im6.avif"
write f-im6.heic convert-im6.q16 "$work/photo.jpg" -quality 60 "$work/f-im6.heic"

printf '%-22s %-6s %10s %12s %12s %8s\n' file source bytes "measured MB" "reserved MB" ratio
for f in "$work"/f-*; do
  case $f in *.log) continue ;; esac
  sources="heif"
  case $f in *.avif) sources="avif heif" ;; esac
  for s in $sources; do
    if ! out=$("$peak" "$s" "$f" 2>&1); then
      printf '%-22s %-6s %10s %s\n' "$(basename "$f")" "$s" "$(stat -c %s "$f")" "refused: $out"
      continue
    fi
    echo "$out" | awk -v f="$(basename "$f")" -v s="$s" -v b="$(stat -c %s "$f")" '
      { for (i = 1; i <= NF; i++) { if ($i == "growth") m = $(i + 1)
                                    if ($i == "peak") r = $(i + 1) }
        printf "%-22s %-6s %10d %12.1f %12.1f %8.2f\n", f, s, b, m, r, (m > 0 ? r / m : 0) }'
  done
done
