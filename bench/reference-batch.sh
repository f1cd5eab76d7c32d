#!/usr/bin/env bash
# bench/reference-batch.sh [--scale F] [--runs LIST] [--inputs-only] [LEANPIX]
#
# The reference batch (issue 11) as a benchmark anyone can run: 1,200 photos of ~24 MP
# plus 30 outliers of 138-216 MP, all JPEG, re-encoded to AVIF at speed 9 by
#   leanpix    `leanpix batch --jobs N --max-mem 256M --speed 9` (N = the CPUs we may use)
#   avifenc    `xargs -P N avifenc -s 9 -j 1` with the same quantizer
#   classic    bench/classic.c's classic pipeline: 4 forked workers, whole-file mmaps
#              without hints, decoded bitmaps kept alive, one AV1 frame per image
#   fix1..3    the classic pipeline with its fixes added one at a time (cumulative):
#              fix1 = madvise hints, fix2 = + streaming decode of outliers,
#              fix3 = + threads instead of forks (their predicted effect, written
#              before any measurement: PREDICTED in bench/reference-table.py)
# each under `leanpix profile` (RSS/PSS trajectory, faults, peak attribution), and prints
# one table (wall, CPU, cores busy, tree peak PSS, output bytes, RSS drift, ratios to
# avifenc). Results: $REF_WORK/results-S.tsv and .json (S = the scale), the profiles
# (*.profile.json, *.csv) and SVG charts beside them (bench/profile-chart.py).
#
# Inputs: the distinct photos are made once (bench/make-photo.sh: a real photograph from
# mate-backgrounds, resampled, cropped, with grain) and cached in $REF_WORK/distinct; the
# batch is hard links to them (24 distinct photos, 6 distinct outliers at full scale),
# outliers spread evenly through the (sorted) list, as in a real photo library.
#
#   --scale F     keep the shape with fewer files: round(1200 F) photos and
#                 max(1, round(30 F)) outliers (0.05: 60 + 2). Default 1 (the full batch:
#                 about 45 minutes of 2 busy cores per tool; the classic runs need ~10 GB).
#                 SCALE in the environment does the same.
#   --runs LIST   which runs, comma-separated (default leanpix,avifenc,classic,fix1,fix2,fix3)
#   --inputs-only make the inputs and stop
#   LEANPIX       the binary to measure (default $LEANPIX, else build/leanpix); classic.c
#                 is built against the libleanpix.a beside it (CLASSIC_BUILD overrides).
# Environment: JOBS (default: nproc, the CPUs this process may use), BUDGET (256M),
# REF_WORK (bench/out/reference), CLASSIC_WORKERS (4), CLASSIC_HEAP_MIB (200: the parent's
# heap that forked workers copy, as an interpreter with an imaging stack holds),
# PROFILE_INTERVAL (50ms), NICE (10: every run, its profiler included, runs under nice -n
# NICE; 0 on a machine kept quiet for the measurement).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cmdline="bench/reference-batch.sh $*"
scale=${SCALE:-1}
runs=leanpix,avifenc,classic,fix1,fix2,fix3
inputs_only=0
while [ $# -gt 0 ]; do
  case "$1" in
    --scale) scale=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    --inputs-only) inputs_only=1; shift ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    -*) echo "reference-batch: unknown option $1" >&2; exit 2 ;;
    *) break ;;
  esac
done
# shellcheck source=bench/lib.sh
. "$here/lib.sh"
resolve_leanpix reference-batch "${1:-}"
work=${REF_WORK:-$here/out/reference}
jobs=${JOBS:-$(nproc)}
budget=${BUDGET:-256M}
interval=${PROFILE_INTERVAL:-50ms}
classic_workers=${CLASSIC_WORKERS:-4}
classic_heap=${CLASSIC_HEAP_MIB:-200}

# The settings every tool gets, in one place. Quantizer: leanpix maps -q Q to the AV1
# quantizer ((100 - Q) * 63 + 50) / 100 (src/codec/av1_cell_encoder.c; q 60 -> 25);
# Debian 12's avifenc 0.11.1 has no -q (added in libavif 1.0), so it gets
# --min 25 --max 25 (the same quantizer for every frame), as bench/batch-vs-peers.sh does,
# and classic.c sets the same encoder->minQuantizer/maxQuantizer.
speed=9; quality=60; quant=$(( ((100 - quality) * 63 + 50) / 100 ))
leanpix_flags=(batch --no-progress --jobs "$jobs" --max-mem "$budget" -q "$quality" --speed "$speed" --chroma 420 --depth 8)
avifenc_flags=(-j 1 -s "$speed" -y 420 -d 8 --min "$quant" --max "$quant")
classic_flags=(--speed "$speed" --quantizer "$quant")

# --- the shape -------------------------------------------------------------------------
read -r n_photos n_outliers < <(awk -v s="$scale" 'BEGIN {
  if (s <= 0 || s > 1) exit 1
  p = int(1200 * s + 0.5); o = int(30 * s + 0.5); if (p < 1) p = 1; if (o < 1) o = 1; print p, o }') ||
  { echo "reference-batch: --scale must be in (0, 1]" >&2; exit 2; }
d_photos=$(( n_photos < 24 ? n_photos : 24 )); d_outliers=$(( n_outliers < 6 ? n_outliers : 6 ))
# RSS drift windows: the first and last 200 of 1,230 jobs, scaled with the batch
drift_k=$(awk -v n=$((n_photos + n_outliers)) 'BEGIN { k = int(n * 200 / 1230 + 0.5); print (k < 3 ? 3 : k) }')
tag=$(awk -v s="$scale" 'BEGIN { printf "%g", s }')
batch=$work/batch-$tag
out=$work/run-$tag
mkdir -p "$work/distinct" "$batch"

mapfile -t sources < <(ls /usr/share/backgrounds/mate/nature/*.jpg 2>/dev/null)
[ ${#sources[@]} -gt 0 ] || { echo "reference-batch: mate-backgrounds missing (scripts/deps.sh bench)" >&2; exit 1; }
# distinct photo i: make-batch.sh's 24 MP shape (6000x4000 +-12% per side, every 5th
# portrait), JPEG q95 with grain; distinct outlier i of d: 3:2, sides spread evenly from
# 14400x9600 (138 MP) to 18000x12000 (216 MP), q97 (80-140 MB, as the reference's are).
distinct_photo() {
  local i=$1 f; f=$(printf "%s/distinct/p%02d.jpg" "$work" "$i")
  if [ ! -s "$f" ]; then
    local pw=$(( (6000 * (88 + (i * 37) % 25) / 100) / 2 * 2 )) ph=$(( (4000 * (88 + (i * 53) % 25) / 100) / 2 * 2 )) t
    if [ $((i % 5)) -eq 0 ]; then t=$pw; pw=$ph; ph=$t; fi
    LP_PHOTO=${sources[$((i % ${#sources[@]}))]} nice -n 10 "$here/make-photo.sh" "$f.tmp.jpg" "$pw" "$ph" "$i" 95 >&2
    mv "$f.tmp.jpg" "$f"
  fi
  echo "$f"
}
distinct_outlier() {  # index (0-based) of count
  local i=$1 d=$2 f step w h
  step=$(( d > 1 ? i * 3600 / (d - 1) : 3600 )); w=$(( (14400 + step) / 16 * 16 )); h=$(( w * 2 / 3 / 16 * 16 ))
  f=$(printf "%s/distinct/o%dx%d.jpg" "$work" "$w" "$h")
  if [ ! -s "$f" ]; then
    LP_PHOTO=/usr/share/backgrounds/mate/abstract/Elephants_5640x3172.jpg nice -n 10 "$here/make-photo.sh" "$f.tmp.jpg" "$w" "$h" "$((1000 + i))" 97 >&2
    mv "$f.tmp.jpg" "$f"
  fi
  echo "$f"
}
if [ ! -s "$batch/manifest.tsv" ]; then
  echo "reference-batch: making $n_photos photos + $n_outliers outliers from $d_photos + $d_outliers distinct files in $batch"
  total=$((n_photos + n_outliers))
  declare -A outlier_at about  # outlier_at[position] = k; about[source] = its width, height, bytes
  for k in $(seq 0 $((n_outliers - 1))); do outlier_at[$(( (2 * k + 1) * total / (2 * n_outliers) ))]=$k; done
  rm -f "$batch"/*.jpg
  pi=0
  { printf "file\tkind\tsource\twidth\theight\tbytes\n"
    for pos in $(seq 0 $((total - 1))); do
      if [ -n "${outlier_at[$pos]:-}" ]; then
        kind=outlier; src=$(distinct_outlier $(( outlier_at[$pos] % d_outliers )) "$d_outliers")
      else
        kind=photo; src=$(distinct_photo $((pi % d_photos))); pi=$((pi + 1))
      fi
      f=$(printf "%s/%04d.jpg" "$batch" "$pos")
      ln "$src" "$f"
      [ -n "${about[$src]:-}" ] || about[$src]="$(vipsheader -f width "$src")\t$(vipsheader -f height "$src")\t$(stat -c %s "$src")"
      printf "%s\t%s\t%s\t%b\n" "${f##*/}" "$kind" "${src##*/}" "${about[$src]}"
    done; } > "$batch/manifest.tsv.tmp"
  mv "$batch/manifest.tsv.tmp" "$batch/manifest.tsv"
fi
in_bytes=$(awk -F'\t' 'NR > 1 { s += $6 } END { printf "%.0f", s }' "$batch/manifest.tsv")
echo "reference-batch: $batch: $n_photos photos + $n_outliers outliers (scale $tag), $((in_bytes / 1000000)) MB of JPEG; distinct $(du -sh "$work/distinct" | cut -f1)"
[ "$inputs_only" = 1 ] && exit 0

# --- the runs --------------------------------------------------------------------------
# runs accumulate in $out (each run replaces only its own files), so that a later
# invocation with --runs adds rows to the same table
mkdir -p "$out"
find "$batch" -name '*.jpg' | sort > "$out/inputs.txt"
n=$(wc -l < "$out/inputs.txt")
classic_build=${CLASSIC_BUILD:-$(dirname "$leanpix")}
if [[ ",$runs," =~ ,(classic|fix[123]), ]]; then
  build_classic "$classic_build" "$out/classic-pipeline" || { echo "reference-batch: set CLASSIC_BUILD to a build directory" >&2; exit 2; }
fi

{ echo "date: $(date -u +%Y-%m-%dT%H:%MZ); $(nproc) CPUs usable, load average $(cut -d' ' -f1-3 /proc/loadavg); $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo) RAM"
  echo "leanpix: $leanpix ($("$leanpix" --version)); avifenc $(avifenc --version 2>/dev/null | head -1 | awk '{print $2}')"
  echo "settings: AVIF speed $speed, quality $quality = quantizer $quant, 4:2:0 8-bit; $jobs at a time (classic: $classic_workers workers, parent heap $classic_heap MiB)"
  echo "command: $cmdline${SCALE:+ (SCALE=$SCALE)}"; } | tee "$out/header.txt"

pairs() {  # "input output" lines for xargs
  while read -r f; do echo "$f $1/$(basename "${f%.*}").avif"; done < "$out/inputs.txt"
}
profiled() {  # NAME CMD...: the command under `leanpix profile`, timed by /usr/bin/time inside it
  local name=$1; shift
  rm -rf "${out:?}/$name" "$out/$name".*; mkdir -p "$out/$name"
  sync
  echo "reference-batch: $name: $(date -u +%H:%M:%S) ..."
  nice -n "${NICE:-10}" "$leanpix" profile -i "$interval" -o "$out/$name.profile.json" --csv "$out/$name.csv" -- \
    /usr/bin/time -f '%e %U %S' -o "$out/$name.time" "$@" >"$out/$name.log" 2>&1 ||
    echo "reference-batch: $name exited with status $? (see $out/$name.log)" >&2
}
classic_run() {  # NAME FIXES: the classic pipeline with FIXES (comma-separated, may be empty)
  local inputs; mapfile -t inputs < "$out/inputs.txt"
  profiled "$1" "$out/classic-pipeline" "${classic_flags[@]}" ${2:+--fix "$2"} classic "$classic_workers" \
    "$classic_heap" "$out/$1" "${inputs[@]}"
}
IFS=, read -ra wanted <<< "$runs"
for r in "${wanted[@]}"; do
  case "$r" in
    leanpix) profiled leanpix "$leanpix" "${leanpix_flags[@]}" --json "$out/leanpix.report.json" -o "$out/leanpix" --from-list "$out/inputs.txt" ;;
    avifenc) pairs "$out/avifenc" > "$out/pairs-avifenc.txt"
             profiled avifenc xargs -P "$jobs" -n 2 -a "$out/pairs-avifenc.txt" \
               sh -c 'exec avifenc "$@" >/dev/null' avifenc "${avifenc_flags[@]}" ;;
    classic) classic_run classic "" ;;
    fix1) classic_run fix1 madvise ;;
    fix2) classic_run fix2 madvise,stream ;;
    fix3) classic_run fix3 madvise,stream,threads ;;
    *) echo "reference-batch: unknown run $r" >&2; exit 2 ;;
  esac
done

python3 "$here/reference-table.py" "$out" "$n" "$drift_k" "$tag" | tee "$out/table.md"
profiles=$(for r in leanpix avifenc classic fix1 fix2 fix3; do if [ -s "$out/$r.profile.json" ]; then echo "$r=$out/$r.profile.json"; fi; done)
# shellcheck disable=SC2086
python3 "$here/profile-chart.py" -o "$out/refbatch-pss.svg" --log --title "Reference batch (scale $tag): whole-tree PSS" $profiles
for p in $profiles; do
  python3 "$here/profile-chart.py" -o "$out/refbatch-${p%%=*}.svg" --rss --title "${p%%=*} (scale $tag): tree PSS, file-backed part, RSS sum" "$p"
done
cp "$out/results.tsv" "$work/results-$tag.tsv"; cp "$out/results.json" "$work/results-$tag.json"
echo "results: $work/results-$tag.tsv, $work/results-$tag.json; profiles and charts in $out"
exit 0
