#!/usr/bin/env bash
# bench/batch-model.sh [LEANPIX] - calibration of the batch memory model (docs/memory.md).
#
# For photo-like JPEGs of several sizes (bench/make-photo.sh) and each output mode, runs a
# one-image `leanpix batch --jobs 1 --max-mem 64G --json` and prints the model's predicted
# peak, the job's counted peak (lp_mem) and the process's peak RSS (VmHWM) minus the RSS of
# an idle leanpix process (binary + libraries), per pixel. The model must stay at or above
# the measured job peak: the budget is kept on predictions.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
leanpix=$(realpath "${1:-$here/../build/leanpix}")
out=${BENCH_OUT:-$here/out/batch-model}
mkdir -p "$out"
idle=$( { /usr/bin/time -f "%M" "$leanpix" batch --no-progress -o "$out/none" /nonexistent 2>&1 >/dev/null || true; } | tail -1)
echo "date: $(date -u +%Y-%m-%dT%H:%MZ); idle leanpix process RSS ${idle} KiB"
printf "| %-9s | %-26s | %10s | %10s | %12s | %8s | %8s |\n" "input" "mode" "predicted" "counted" "job RSS" "RSS B/px" "pred/RSS"
printf "| %-9s | %-26s | %10s | %10s | %12s | %8s | %8s |\n" "---" "---" "(MiB)" "(MiB)" "(MiB)" "" ""
for size in 1024x768 2048x1536 3000x2000 4000x3000 6000x4000; do
  w=${size%x*}; h=${size#*x}
  f=$out/photo-$size.jpg
  [ -s "$f" ] || "$here/make-photo.sh" "$f" "$w" "$h" 5 92
  for mode in "avif" "avif --grid 512x512" "avif --max-dim 1024" "jpeg" "webp" "png"; do
    fmt=${mode%% *}; extra=${mode#"$fmt"}
    rm -rf "$out/o"
    # shellcheck disable=SC2086
    "$leanpix" batch --no-progress --jobs 1 --max-mem 64G --format $fmt $extra -q 60 --speed 6 \
      --json "$out/r.json" -o "$out/o" "$f" >/dev/null 2>&1 || true
    python3 - "$size" "$mode" "$out/r.json" "$idle" "$w" "$h" <<'PY'
import json, sys
d = json.load(open(sys.argv[3])); r = d["images"][0]; s = d["summary"]
px = int(sys.argv[5]) * int(sys.argv[6])
job = s["process_peak_rss_bytes"] - int(sys.argv[4]) * 1024
mib = lambda b: f"{b / 2**20:.1f}"
print(f"| {sys.argv[1]:9} | {sys.argv[2]:26} | {mib(r['predicted_peak_bytes']):>10} | {mib(r['counted_peak_bytes']):>10} | "
      f"{mib(job):>12} | {job / px:8.2f} | {r['predicted_peak_bytes'] / max(job, 1):8.2f} |" + ("" if r["status"] == "ok" else f" {r['error']}"))
PY
  done
done
