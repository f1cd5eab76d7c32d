#!/usr/bin/env bash
# bench/outliers-together.sh [LEANPIX]
#
# The worst moment of a batch without a budget: two outliers encoded at once. In
# bench/reference-batch.sh the 30 outliers are spread evenly through the list, so
# `xargs -P2 avifenc` almost never has two of them in flight and its peak is one outlier's
# (~3.6 GB); a library where the panoramas sit together (one folder, or names that sort
# together) gives it two at once, as the issue's first measurement did (5,783 MB). An
# operator sizing a machine for xargs has to plan for that; leanpix's peak is its budget
# whatever the order. This runs the two largest distinct outliers of the reference batch
# side by side with each tool, under `leanpix profile`, and prints their tree peaks.
#
# Environment: REF_WORK (bench/out/reference; inputs from bench/reference-batch.sh
# --inputs-only), BUDGET (256M), NICE (10), PROFILE_INTERVAL (50ms). About 5 minutes.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=bench/lib.sh
. "$here/lib.sh"
resolve_leanpix outliers-together "${1:-}"
work=${REF_WORK:-$here/out/reference}
mapfile -t two < <(ls -S "$work"/distinct/o*.jpg 2>/dev/null | head -2)
[ ${#two[@]} -eq 2 ] || { echo "outliers-together: no outliers in $work/distinct (bench/reference-batch.sh --inputs-only)" >&2; exit 2; }
out=$work/outliers-together
rm -rf "$out"; mkdir -p "$out/avifenc" "$out/leanpix"
quality=60; quant=$(( ((100 - quality) * 63 + 50) / 100 ))
run() {  # NAME CMD...
  local name=$1; shift
  nice -n "${NICE:-10}" "$leanpix" profile -i "${PROFILE_INTERVAL:-50ms}" -o "$out/$name.profile.json" -- \
    /usr/bin/time -f '%e' -o "$out/$name.time" "$@" > "$out/$name.log" 2>&1
}
for f in "${two[@]}"; do echo "$f $out/avifenc/$(basename "${f%.*}").avif"; done > "$out/pairs.txt"
run avifenc xargs -P 2 -n 2 -a "$out/pairs.txt" sh -c 'exec avifenc "$@" >/dev/null' avifenc \
  -j 1 -s 9 -y 420 -d 8 --min "$quant" --max "$quant"
run leanpix "$leanpix" batch --no-progress --jobs 2 --max-mem "${BUDGET:-256M}" -q "$quality" --speed 9 \
  --chroma 420 --depth 8 -o "$out/leanpix" "${two[@]}"
python3 - "$out" "${two[@]}" <<'EOF'
import json, os, sys
out, files = sys.argv[1], sys.argv[2:]
print(f"two outliers at once: {', '.join(os.path.basename(f) for f in files)}")
peaks = {}
for t in ('avifenc', 'leanpix'):
    p = json.load(open(f'{out}/{t}.profile.json'))
    peaks[t] = p['summary']['peak']['tree']['pss'] / 2**20
    wall = float(open(f'{out}/{t}.time').read().split()[0])
    print(f'{t}: tree peak PSS {peaks[t]:,.1f} MiB, wall {wall:.1f} s')
print(f"leanpix / avifenc peak: {peaks['leanpix'] / peaks['avifenc']:.3f}")
EOF
