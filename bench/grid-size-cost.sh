#!/usr/bin/env bash
# bench/grid-size-cost.sh [LEANPIX] - the size cost of each AVIF grid cell size (docs/avif-grid.md).
#
# Encodes two 24 MP photos (6000x4000 JPEGs, bench/make-photo.sh from the same photograph):
#   smooth  no grain: a photo that compresses well (a clean low-ISO shot, a render)
#   grainy  grain sigma 12: a photo that compresses badly (high ISO)
# with `leanpix convert --grid CxC` for each cell size C in CELLS (default 256 512 1024 2048
# 3072) and `--grid off` (one frame), at each speed in SPEEDS (default 9 6), quality 60
# (quantizer 25), 4:2:0, 8-bit, one thread; and with avifenc (one frame, --min 25 --max 25,
# -j 1) for reference. Prints bytes, the cost against leanpix's one frame and avifenc's, CPU
# seconds (user+sys) and peak RSS (/usr/bin/time). Inputs are cached in $OUT (default
# bench/out/grid-size-cost); results in $OUT/results.tsv. All of speed 9 comes before
# speed 6 (a few seconds an encode against a minute). REUSE=1 keeps encodes already done
# in $OUT (same binary only: to finish an interrupted run).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
leanpix=$(realpath "${1:-${LEANPIX:-$here/../build/leanpix}}")
out=${OUT:-$here/out/grid-size-cost}
cells=${CELLS:-256 512 1024 2048 3072}
speeds=${SPEEDS:-9 6}
quality=60; quant=$(( ((100 - quality) * 63 + 50) / 100 ))
src=/usr/share/backgrounds/mate/nature/Garden.jpg
mkdir -p "$out"
[ -s "$out/smooth.jpg" ] || LP_PHOTO=$src LP_PHOTO_GRAIN=0 nice -n 10 "$here/make-photo.sh" "$out/smooth.jpg" 6000 4000 3 95
[ -s "$out/grainy.jpg" ] || LP_PHOTO=$src LP_PHOTO_GRAIN=12 nice -n 10 "$here/make-photo.sh" "$out/grainy.jpg" 6000 4000 3 95
echo "date: $(date -u +%Y-%m-%dT%H:%MZ); load average $(cut -d' ' -f1-3 /proc/loadavg); leanpix $("$leanpix" --version | cut -d' ' -f2), avifenc $(avifenc --version 2>/dev/null | head -1 | awk '{print $2}')"
echo "inputs: smooth.jpg $(stat -c %s "$out/smooth.jpg") B, grainy.jpg $(stat -c %s "$out/grainy.jpg") B (6000x4000, JPEG q95, $src)"
echo "command: leanpix convert IN OUT.avif -q $quality --speed S --threads 1 --chroma 420 --depth 8 --grid CxC|off"

enc() {  # NAME CMD...: runs CMD under /usr/bin/time; prints "bytes cpu_s rss_mib"
  local name=$1; shift
  [ "${REUSE:-0}" = 1 ] && [ -s "$out/$name.avif" ] && [ -s "$out/$name.time" ] ||
  nice -n "${NICE:-10}" /usr/bin/time -f '%U %S %M' -o "$out/$name.time" "$@" >/dev/null 2>"$out/$name.err" ||
    { echo "grid-size-cost: $name failed: $(tail -1 "$out/$name.err")" >&2; echo "NA NA NA"; return; }
  read -r u s m < "$out/$name.time"
  echo "$(stat -c %s "$out/$name.avif") $(awk -v u="$u" -v s="$s" 'BEGIN { printf "%.2f", u + s }') $(awk -v m="$m" 'BEGIN { printf "%.1f", m / 1024 }')"
}
printf "photo\tspeed\tcell\tbytes\tvs_one_frame\tvs_avifenc\tcpu_s\trss_mib\n" > "$out/results.tsv"
printf "| photo | speed | cells | bytes | vs one frame | vs avifenc | CPU s | peak RSS MiB |\n|---|---:|---|---:|---:|---:|---:|---:|\n"
for s in $speeds; do
  for photo in smooth grainy; do
    read -r ab ac ar < <(enc "$photo-s$s-avifenc" avifenc -j 1 -s "$s" -y 420 -d 8 --min "$quant" --max "$quant" "$out/$photo.jpg" "$out/$photo-s$s-avifenc.avif")
    read -r fb fc fr < <(enc "$photo-s$s-off" "$leanpix" convert "$out/$photo.jpg" "$out/$photo-s$s-off.avif" -q "$quality" --speed "$s" --threads 1 --chroma 420 --depth 8 --grid off)
    for c in $cells off avifenc; do
      case $c in
        off) b=$fb cpu=$fc rss=$fr label="one frame" ;;
        avifenc) b=$ab cpu=$ac rss=$ar label="avifenc one frame" ;;
        *) read -r b cpu rss < <(enc "$photo-s$s-$c" "$leanpix" convert "$out/$photo.jpg" "$out/$photo-s$s-$c.avif" -q "$quality" --speed "$s" --threads 1 --chroma 420 --depth 8 --grid "${c}x$c")
           label="${c}x$c" ;;
      esac
      vf=$(awk -v a="$b" -v r="$fb" 'BEGIN { if (a == "NA" || r == "NA") print "NA"; else printf "%+.2f%%", 100 * (a / r - 1) }')
      va=$(awk -v a="$b" -v r="$ab" 'BEGIN { if (a == "NA" || r == "NA") print "NA"; else printf "%+.2f%%", 100 * (a / r - 1) }')
      printf "| %s | %s | %s | %s | %s | %s | %s | %s |\n" "$photo" "$s" "$label" "$(printf "%'d" "$b" 2>/dev/null || echo "$b")" "$vf" "$va" "$cpu" "$rss"
      printf "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n" "$photo" "$s" "$c" "$b" "$vf" "$va" "$cpu" "$rss" >> "$out/results.tsv"
    done
  done
done
