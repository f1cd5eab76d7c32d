#!/usr/bin/env bash
# bench/batch-vs-peers.sh [LEANPIX] [BATCH_DIR] - issue "batch" benchmark.
#
# Re-encodes the representative batch (bench/make-batch.sh; small scale by default) to AVIF
# three ways, one after another in one run, with the same settings (aom, speed 6, 8-bit
# 4:2:0, quantizer 25 = leanpix -q 60 = vips Q 60, one encoder thread per image, two
# images at a time on this 2-core machine):
#   leanpix batch --jobs 2 --max-mem $BUDGET (default 256M)
#   find | xargs -P2 avifenc
#   find | xargs -P2 vips heifsave
# For each: whole-tree peak memory (sum of PSS over the process tree, sampled every 50 ms
# by bench/treepeak.py), the largest single-process peak RSS (/usr/bin/time -v of every
# process), wall time, outputs written and their bytes; then ratios against xargs avifenc.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
leanpix=$(realpath "${1:-$here/../build/leanpix}")
batch=$(realpath "${2:-$here/out/batch-small}")
budget=${BUDGET:-256M}
out=${BENCH_OUT:-$here/out/batch-vs-peers}
[ -d "$batch" ] || "$here/make-batch.sh" "$batch"
rm -rf "$out"; mkdir -p "$out"
q=60; quant=$(( ((100 - q) * 63 + 50) / 100 ))
find "$batch" -name '*.jpg' | sort > "$out/inputs.txt"
n=$(wc -l < "$out/inputs.txt")
echo "batch: $batch: $n JPEGs, $(du -sh "$batch" | cut -f1); AVIF speed 6, 4:2:0, 8-bit, quantizer $quant (q $q); 2 at a time; budget $budget"
echo "date: $(date -u +%Y-%m-%dT%H:%MZ); $(nproc) cores; leanpix $("$leanpix" --version | cut -d' ' -f2)"

# pairs "input output" for the xargs peers, outputs under $1 with the relative path kept
pairs() {
  while read -r f; do
    rel=${f#"$batch"/}; o="$1/${rel%.*}.avif"; mkdir -p "$(dirname "$o")"; echo "$f $o"
  done < "$out/inputs.txt"
}

max_rss_mib() {  # the largest "Maximum resident set size" among time logs under $1
  find "$1" -name '*.time' -exec awk -F': ' '/Maximum resident set size/ {print $2}' {} + |
    sort -n | tail -1 | awk '{printf "%.1f", $1/1024}'
}

cpu_s() {  # user + system seconds summed over the time logs under $1
  find "$1" -name '*.time' -exec awk -F': ' '/User time|System time/ {s += $2} END {printf "%.1f\n", s}' {} + |
    awk '{s += $1} END {printf "%.1f", s}'
}

declare -A pss wall prss bytes count cpu load
run() {  # name outdir cmd...
  local name=$1 dir=$2; shift 2
  mkdir -p "$dir"
  load[$name]=$(cut -d' ' -f1 /proc/loadavg)
  local j; j=$("$here/treepeak.py" -- "$@" 2>"$out/$name.log")
  echo "$j" > "$out/$name.tree.json"
  pss[$name]=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["pss_mib"])' "$j")
  wall[$name]=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["wall_s"])' "$j")
  prss[$name]=$(max_rss_mib "$dir")
  cpu[$name]=$(cpu_s "$dir")
  count[$name]=$(find "$dir" -name '*.avif' | wc -l)
  bytes[$name]=$(find "$dir" -name '*.avif' -printf '%s\n' | awk '{s+=$1} END {print s+0}')
}

run leanpix "$out/leanpix" /usr/bin/time -v -o "$out/leanpix/leanpix.time" \
  "$leanpix" batch --no-progress --jobs 2 --max-mem "$budget" -q $q --speed 6 --chroma 420 --depth 8 \
  --json "$out/leanpix.json" -o "$out/leanpix" "$batch"
pairs "$out/avifenc" > "$out/avifenc.pairs"
run avifenc "$out/avifenc" xargs -P2 -n2 -a "$out/avifenc.pairs" sh -c \
  '/usr/bin/time -v -o "$2.time" avifenc -j 1 -s 6 -y 420 -d 8 --min '$quant' --max '$quant' "$1" "$2" >/dev/null' _
pairs "$out/vips" > "$out/vips.pairs"
run vips "$out/vips" xargs -P2 -n2 -a "$out/vips.pairs" sh -c \
  'VIPS_CONCURRENCY=1 /usr/bin/time -v -o "$2.time" vips heifsave "$1" "$2" --compression av1 --effort 3 --Q '$q' --subsample-mode on' _

row() { printf "| %-24s | %14s | %16s | %8s | %8s | %7s | %7s | %11s |\n" "$@"; }
echo
row "tool" "tree peak PSS" "max process RSS" "wall s" "CPU s" "load" "outputs" "bytes out"
row "----" "(MiB)" "(MiB)" "" "" "at start" "" ""
for t in leanpix avifenc vips; do
  label=$t; [ $t = leanpix ] && label="leanpix batch --jobs 2"; [ $t = avifenc ] && label="xargs -P2 avifenc"; [ $t = vips ] && label="xargs -P2 vips heifsave"
  row "$label" "${pss[$t]}" "${prss[$t]}" "${wall[$t]}" "${cpu[$t]}" "${load[$t]}" "${count[$t]}/$n" "${bytes[$t]}"
done
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b == 0) print "NA"; else printf "%.3f", a / b }'; }
budget_mib=$(numfmt --from=iec "$budget" | awk '{printf "%.0f", $1/1048576}')
echo
echo "leanpix / xargs avifenc: tree peak $(ratio "${pss[leanpix]}" "${pss[avifenc]}") (target <= 0.167), wall $(ratio "${wall[leanpix]}" "${wall[avifenc]}") (target <= 1), CPU $(ratio "${cpu[leanpix]}" "${cpu[avifenc]}"), bytes $(ratio "${bytes[leanpix]}" "${bytes[avifenc]}")"
echo "leanpix / xargs vips:    tree peak $(ratio "${pss[leanpix]}" "${pss[vips]}"), wall $(ratio "${wall[leanpix]}" "${wall[vips]}")"
echo "leanpix tree peak ${pss[leanpix]} MiB vs budget $budget_mib MiB: $(awk -v a="${pss[leanpix]}" -v b="$budget_mib" 'BEGIN { print (a <= b ? "within" : "OVER") }')"
python3 - "$out/leanpix.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1])); s = d["summary"]
lean = [i for i in d["images"] if i["lean"]]; alone = [i for i in d["images"] if i["alone"]]
print(f"leanpix report: {s['succeeded']} ok, {s['failed']} failed, {len(lean)} in lean (grid) mode, "
      f"{len(alone)} alone; max sum of running predictions {s['max_running_predicted_bytes']/2**20:.0f} MiB; "
      f"{s['megapixels_per_second']:.1f} MP/s")
PY
