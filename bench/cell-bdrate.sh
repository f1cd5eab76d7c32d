#!/usr/bin/env bash
# bench/cell-bdrate.sh [--speed S] [--shares LIST] [--quants LIST] [LEANPIX]
#
# Bytes at equal quality: what leanpix's grid cells cost against avifenc's one frame when
# both reach the same PSNR, rather than at the same quantizer. At one quantizer libaom's
# choices depend on the frame's size (at speed 9 it picks its 4K speed features for frames
# whose shorter side is 2160 or more), so cells of different sizes come out at different
# qualities as well as sizes (docs/avif-grid.md), and bytes alone do not say which is
# better. This encodes each distinct photo of the reference batch at several quantizers
#   avifenc    `avifenc -j 1 -s S --min Q --max Q` (one frame)
#   leanpix    `leanpix convert --threads 1 --max-mem SHARE -q QUALITY --speed S` for each
#              SHARE in LIST: the cells the planner picks for a job with that much of the
#              budget (122M: a job of a 256M batch of 2, which counts 12 MiB of idle
#              process and shares the rest, and picks libaom's 4K class of cells for most
#              24 MP photos; 74M: a 160M batch, cells below it)
# measures the PSNR of each output against its JPEG (ImageMagick's compare on avifdec's
# PNG), and reports for each leanpix variant
#   - the Bjontegaard delta rate against avifenc, per photo and as the mean over photos:
#     the mean difference of log(bytes) between the two rate-quality curves (piecewise
#     linear in PSNR) over the PSNR range both cover; negative = fewer bytes for the
#     same quality;
#   - the bytes and PSNR at the middle quantizer (the reference batch's: 25), as before.
#
# Inputs: $REF_WORK/distinct/p*.jpg (bench/reference-batch.sh --inputs-only makes them;
# PHOTOS picks some, e.g. "p00 p05"). Results: $REF_WORK/bdrate-sS/points.tsv (one line per
# photo, variant and quantizer) and table.md. Environment: REF_WORK (bench/out/reference),
# JOBS (default nproc), NICE (10). Speed 9 takes about 15 minutes of 2 cores for the 24
# photos at 3 quantizers.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cmdline="bench/cell-bdrate.sh $*"
speed=9 shares="122M 74M" quants="21 25 29"
while [ $# -gt 0 ]; do
  case "$1" in
    --speed) speed=$2; shift 2 ;;
    --shares) shares=$2; shift 2 ;;
    --quants) quants=$2; shift 2 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    -*) echo "cell-bdrate: unknown option $1" >&2; exit 2 ;;
    *) break ;;
  esac
done
# shellcheck source=bench/lib.sh
. "$here/lib.sh"
resolve_leanpix cell-bdrate "${1:-}"
work=${REF_WORK:-$here/out/reference}
[ -d "$work/distinct" ] || { echo "cell-bdrate: no $work/distinct: run bench/reference-batch.sh --inputs-only first" >&2; exit 2; }
photos=${PHOTOS:-$(cd "$work/distinct" && ls p*.jpg | sed 's/\.jpg$//' | tr '\n' ' ')}
out=$work/bdrate-s$speed
rm -rf "$out"; mkdir -p "$out"
export leanpix work out speed
echo "cell-bdrate: $(echo "$photos" | wc -w) photos, speed $speed, quantizers $quants, shares $shares; $(date -u +%H:%M:%S)"

# one PHOTO VARIANT QUANT: encodes, decodes, measures; prints one line of points.tsv
one() {
  local p=$1 v=$2 q=$3 f=$work/distinct/$1.jpg o=$out/$1-$2-q$3
  # leanpix's quality for quantizer q: (100 - quality) * 63 / 100 rounds to q
  local quality=$(( 100 - (q * 100 + 31) / 63 ))
  if [ "$v" = avifenc ]; then
    avifenc -j 1 -s "$speed" -y 420 -d 8 --min "$q" --max "$q" "$f" "$o.avif" >/dev/null 2>&1
  else
    "$leanpix" convert "$f" "$o.avif" --threads 1 --max-mem "$v" -q "$quality" --speed "$speed" \
      --chroma 420 --depth 8 --json > "$o.json" 2>/dev/null
  fi
  avifdec "$o.avif" "$o.png" >/dev/null 2>&1
  local db; db=$(psnr_db "$f" "$o.png" all)
  local cells=one-frame
  [ -s "$o.json" ] && cells=$(python3 -c 'import json, sys
p = json.load(open(sys.argv[1]))["plan"]
print("%dx%d" % (p["cell_width"], p["cell_height"]) if p["mode"] == "grid" else "one-frame")' "$o.json")
  rm -f "$o.png"
  printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$p" "$v" "$q" "$(stat -c %s "$o.avif")" "$db" "$cells"
}
export -f one psnr_db
for p in $photos; do for v in avifenc $shares; do for q in $quants; do echo "$p $v $q"; done; done; done |
  nice -n "${NICE:-10}" xargs -P "${JOBS:-$(nproc)}" -L 1 bash -c 'one "$@"' one > "$out/points.unsorted"
{ printf 'photo\tvariant\tquant\tbytes\tpsnr_db\tcells\n'; sort "$out/points.unsorted"; } > "$out/points.tsv"
rm -f "$out/points.unsorted"

python3 - "$out/points.tsv" "$out/table.md" "$cmdline" <<'PY'
import csv, math, sys
from collections import defaultdict

points, table, cmdline = sys.argv[1], sys.argv[2], sys.argv[3]
curves = defaultdict(list)   # (photo, variant) -> [(psnr, bytes, quant, cells)]
for r in csv.DictReader(open(points), delimiter='\t'):
    curves[(r['photo'], r['variant'])].append(
        (float(r['psnr_db']), int(r['bytes']), int(r['quant']), r['cells']))

def log_rate_at(curve, db):
    """log(bytes) at PSNR db on the piecewise-linear curve (sorted by PSNR)."""
    for (d0, b0, *_), (d1, b1, *_) in zip(curve, curve[1:]):
        if d0 <= db <= d1:
            t = (db - d0) / (d1 - d0) if d1 > d0 else 0.0
            return math.log(b0) + t * (math.log(b1) - math.log(b0))
    return None

def bd_rate(test, ref, steps=200):
    """Mean of log(test bytes / ref bytes) over the PSNR range both cover, as a ratio - 1."""
    test, ref = sorted(test), sorted(ref)
    lo, hi = max(test[0][0], ref[0][0]), min(test[-1][0], ref[-1][0])
    if hi <= lo:
        return None
    diffs = [log_rate_at(test, lo + (hi - lo) * i / steps) - log_rate_at(ref, lo + (hi - lo) * i / steps)
             for i in range(steps + 1)]
    return math.exp(sum(diffs) / len(diffs)) - 1

photos = sorted({p for p, _ in curves})
variants = [v for v in dict.fromkeys(v for _, v in curves) if v != 'avifenc']
quants = sorted({q for c in curves.values() for *_, q, _ in c})
mid = quants[len(quants) // 2]
lines = [f"command: {cmdline}", "",
         "| leanpix --max-mem | photos | BD-rate vs avifenc (mean) | range | bytes at q%d vs avifenc | PSNR at q%d (leanpix / avifenc) | cells |" % (mid, mid),
         "|---|---:|---:|---|---:|---|---|"]
for v in variants:
    rates, lb, ab, ld, ad, cells = [], 0, 0, [], [], defaultdict(int)
    for p in photos:
        t, r = curves.get((p, v)), curves.get((p, 'avifenc'))
        if not t or not r:
            continue
        rate = bd_rate(t, r)
        if rate is not None:
            rates.append(rate)
        for d, b, q, c in t:
            if q == mid:
                lb += b; ld.append(d); cells[c] += 1
        for d, b, q, _ in r:
            if q == mid:
                ab += b; ad.append(d)
    mean = sum(rates) / len(rates) if rates else float('nan')
    common = ', '.join(f"{c} ({n})" for c, n in sorted(cells.items(), key=lambda x: -x[1])[:3])
    lines.append(f"| {v} | {len(rates)} | {mean * 100:+.1f}% | {min(rates) * 100:+.1f}% .. {max(rates) * 100:+.1f}% | "
                 f"{lb / ab:.3f} | {sum(ld) / len(ld):.2f} / {sum(ad) / len(ad):.2f} dB | {common} |")
lines += ["", "| photo | " + " | ".join(f"{v}: BD-rate" for v in variants) + " |",
          "|---|" + "---:|" * len(variants)]
for p in photos:
    row = []
    for v in variants:
        rate = bd_rate(curves[(p, v)], curves[(p, 'avifenc')]) if (p, v) in curves else None
        row.append("n/a" if rate is None else f"{rate * 100:+.1f}%")
    lines.append(f"| {p} | " + " | ".join(row) + " |")
open(table, 'w').write('\n'.join(lines) + '\n')
print('\n'.join(lines))
PY
echo "cell-bdrate: done $(date -u +%H:%M:%S); $out/table.md"
