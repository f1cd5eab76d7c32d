#!/usr/bin/env bash
# bench/calibrate-plan.sh [LEANPIX] - how close the planner's predicted peaks are to the
# counted ones, for the shapes of the reference batch, in the modes the planner picks.
#
# The planner (src/pipeline/plan.c, src/formats/avif.c) admits jobs by predicted peak, so a
# prediction far above the counted peak wastes the budget (jobs wait, or run alone, for
# room they do not need) and one below it risks a job failing for lack of memory. This
# script runs `leanpix batch --json` on the reference batch's shapes (24 MP photos, 12 MP,
# 138 and 216 MP outliers, a progressive 24 MP) at budgets that make the planner choose
# each mode (one frame, large cells, the leanest cells, alone), and prints, per job, the
# plan, the predicted peak, the counted peak (lent CPUs' encoders are counted by the batch,
# not the job: the prediction is for the planned threads), and their ratio. It exits 1 when a ratio is outside
# [1.00, 1.25]: under the counted peak, or more than 25% over it.
#
# The model's constants (codec/aom_memory.h, lp_avif_grid_predict_peak, the decoders'
# decode_bytes) were set from this script's output; run it again after changing them, or
# after a library upgrade (libaom's state is the biggest term). Inputs are made once under
# bench/out/calibrate (bench/make-photo.sh: vips, streaming) and kept.
#
#   bench/calibrate-plan.sh                  # build/leanpix
#   SPEED=6 bench/calibrate-plan.sh PATH     # another binary or speed
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bin=${1:-$here/../build/leanpix}
speed=${SPEED:-9}
work=${CALIBRATE_DIR:-$here/out/calibrate}
mkdir -p "$work/in"

make_input() {  # NAME WIDTH HEIGHT SEED [progressive]
  local f="$work/in/$1.jpg"
  [ -s "$f" ] && return 0
  "$here/make-photo.sh" "$f.tmp.jpg" "$2" "$3" "$4" 95
  if [ "${5:-}" = progressive ]; then
    jpegtran -progressive -copy all -outfile "$f" "$f.tmp.jpg"
    rm -f "$f.tmp.jpg"
  else
    mv "$f.tmp.jpg" "$f"
  fi
}
make_input photo24 6000 4000 1
make_input photo12 4000 3000 2
make_input photo24-progressive 6000 4000 3 progressive
make_input outlier138 14400 9600 4
make_input outlier216 18000 12000 5

# budget jobs: what the reference batch runs with, a tighter one, a very tight one (the
# leanest cells, some jobs alone), and a roomy one (one frame for the photos)
cases=("256M 2" "128M 2" "48M 2" "1G 1")
bad=0
printf '%-26s %-8s %-4s %-11s %-3s %-5s %-5s %10s %10s %6s\n' input budget jobs cells thr lean alone predicted counted ratio
for c in "${cases[@]}"; do
  set -- $c
  out="$work/run-$1-$2"
  rm -rf "$out"
  # exit 3: some images failed (a refused one is judged below); anything else is a failure
  rc=0
  "$bin" batch "$work/in" -o "$out" --jobs "$2" --max-mem "$1" --speed "$speed" \
    --json "$out.json" --no-progress >/dev/null 2>"$out.log" || rc=$?
  [ $rc -eq 0 ] || [ $rc -eq 3 ] || { cat "$out.log" >&2; exit 1; }
  python3 - "$out.json" "$1" "$2" <<'EOF' || bad=1
import json, sys
report, budget, jobs = json.load(open(sys.argv[1])), sys.argv[2], sys.argv[3]
bad = False
for r in report["images"]:
    name = r["input"].rsplit("/", 1)[-1]
    if r["status"] != "ok":
        # a job whose leanest plan is over the whole budget may be refused: as predicted
        expected = r["alone"] and "memory budget" in (r.get("error") or "")
        print(f"{name:26} {budget:8} {jobs:4} {r['status']}: {r.get('error')}"
              + ("  (over the budget, as predicted)" if expected else "  <- unexpected"))
        bad |= not expected
        continue
    counted = r["counted_peak_bytes"]  # lent CPUs' encoders are counted by the batch
    ratio = r["predicted_peak_bytes"] / counted
    cells = f"{r['cell_width']}x{r['cell_height']}" if r["cell_width"] else "frame"
    flag = "" if 1.0 <= ratio <= 1.25 else "  <- outside [1.00, 1.25]"
    bad |= bool(flag)
    print(f"{name:26} {budget:8} {jobs:4} {cells:11} {r['threads']:<3} {str(r['lean']):5} "
          f"{str(r['alone']):5} {r['predicted_peak_bytes']/2**20:8.1f}Mi {counted/2**20:8.1f}Mi "
          f"{ratio:6.2f}{flag}")
sys.exit(1 if bad else 0)
EOF
done
exit $bad
