#!/usr/bin/env bash
# bench/profile-peers.sh [LEANPIX] - issue "profile" benchmark.
#
# 1. One photo-like 6 MP JPEG (bench/make-photo.sh from mate-backgrounds' nature/Garden.jpg,
#    resampled to 3000x2000, plus grain) encoded to AVIF by avifenc, vips heifsave and
#    leanpix convert (aom, speed 6, 8-bit 4:2:0, one thread), each under
#    `/usr/bin/time -v leanpix profile -- CMD`. For each: time's maximum RSS (the kernel's
#    ru_maxrss of the largest process), the profile's sampled peak RSS and its VmHWM, their
#    ratios (a single process: they should agree within 5%), the peak PSS split, and the
#    top mappings at the peak (where the memory went). JSON and HTML reports stay in
#    bench/out/profile/.
# 2. The profiler's own cost at the default 20 ms interval over OVERHEAD_S seconds
#    (default 60; 0 skips): an idle process (sleep), a process holding 400 MB, and one
#    mapping/touching/unmapping 200 MB in a loop (needs build/tests/memhog, from `make`).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
leanpix=$(realpath "${1:-$here/../build/leanpix}")
memhog=$(dirname "$leanpix")/tests/memhog
export BENCH_OUT=${BENCH_OUT:-$here/out/profile}
overhead_s=${OVERHEAD_S:-60}
mkdir -p "$BENCH_OUT"
. "$here/lib.sh"

src=$BENCH_OUT/photo6.jpg
[ -s "$src" ] || LP_PHOTO=/usr/share/backgrounds/mate/nature/Garden.jpg "$here/make-photo.sh" "$src" 3000 2000 3
q=60; quant=$(( ((100 - q) * 63 + 50) / 100 ))
echo "date: $(date -u +%Y-%m-%dT%H:%MZ); $(nproc) cores; kernel $(uname -r)"
echo "input: $src $(vipsheader "$src" | cut -d: -f2) $(bytes "$src") bytes; AVIF speed 6, 4:2:0, 8-bit, quantizer $quant, 1 thread"

# field NAME FILE -> a number from `leanpix profile report` output
peak_pss()  { awk '/peak tree PSS/ {print $4}' "$1"; }
peak_rss()  { awk '/peak tree RSS/ {print $4}' "$1"; }
hwm()       { awk '/largest VmHWM/ {print $(NF-1)}' "$1"; }
split_pss() { awk '/peak tree PSS/ {sub(/.*: /, ""); print}' "$1"; }

row() { printf "| %-14s | %9s | %9s | %9s | %7s | %7s | %9s | %s |\n" "$@"; }

profile_run() {  # name cmd...
  local name=$1; shift
  local json=$BENCH_OUT/$name.json
  if ! /usr/bin/time -v -o "$BENCH_OUT/$name.time" "$leanpix" profile -q -o "$json" \
      --html "$BENCH_OUT/$name.html" -- "$@" >"$BENCH_OUT/$name.out" 2>&1; then
    echo "bench: $name failed: $(tail -n 3 "$BENCH_OUT/$name.out" | tr '\n' ' ')" >&2
    row "$name" NA NA NA NA NA NA "failed"; return
  fi
  "$leanpix" profile report "$json" >"$BENCH_OUT/$name.report"
  local trss; trss=$(awk -F': ' '/Maximum resident set size/ {printf "%.1f", $2/1024}' "$BENCH_OUT/$name.time")
  local r="$BENCH_OUT/$name.report"
  row "$name" "$trss" "$(peak_rss "$r")" "$(hwm "$r")" "$(ratio "$(peak_rss "$r")" "$trss")" \
      "$(ratio "$(hwm "$r")" "$trss")" "$(peak_pss "$r")" "$(split_pss "$r")"
}

echo
row "tool" "time MiB" "sampled" "VmHWM" "smp/time" "hwm/time" "peak PSS" "PSS split at the peak (MB)"
row "----" "--------" "-------" "-----" "--------" "--------" "--------" "----"
profile_run avifenc avifenc -j 1 -s 6 -y 420 -d 8 --min $quant --max $quant "$src" "$BENCH_OUT/avifenc.avif"
profile_run vips-heifsave env VIPS_CONCURRENCY=1 vips heifsave "$src" "$BENCH_OUT/vips.avif" \
  --compression av1 --effort 3 --Q 60 --subsample-mode on
if "$leanpix" convert --help >/dev/null 2>&1; then
  profile_run leanpix "$leanpix" convert "$src" "$BENCH_OUT/leanpix.avif" -q $q --speed 6 \
    --chroma 420 --depth 8 --threads 1 --grid off
else
  echo "(leanpix convert is not usable in this build: skipped)"
fi
for name in avifenc vips-heifsave leanpix; do
  [ -s "$BENCH_OUT/$name.report" ] || continue
  echo
  echo "$name: where the memory went (top mappings at the peak)"
  sed -n '/top mappings at the peak/,/profiler:/p' "$BENCH_OUT/$name.report" | grep -v profiler: | head -6
done

[ "$overhead_s" -gt 0 ] || exit 0
[ -x "$memhog" ] || { echo "overhead: $memhog missing (run make)" >&2; exit 1; }
echo
echo "profiler cost at the default 20 ms interval, ${overhead_s} s each (CPU of the profiler / wall):"
ms=$((overhead_s * 1000))
for spec in "idle:sleep $overhead_s" "hold-400MB:$memhog hold 400 $ms" "churn-200MB:$memhog churn 200 $ms"; do
  name=${spec%%:*}; cmd=${spec#*:}
  # shellcheck disable=SC2086
  "$leanpix" profile -o "$BENCH_OUT/overhead-$name.json" -- $cmd >/dev/null 2>"$BENCH_OUT/overhead-$name.out" || true
  printf "  %-12s %s\n" "$name" "$(grep 'profiler:' "$BENCH_OUT/overhead-$name.out" | sed 's/^ *profiler: //')"
done
