#!/usr/bin/env bash
# bench/reference-bytes.sh [--speed S] [LEANPIX]
#
# The reference batch's output bytes at any AVIF speed without re-encoding 1,230 files: the
# batch is hard links to 30 distinct files (bench/reference-batch.sh), and each tool writes
# the same bytes for the same input whichever position it has (leanpix's plan for a file
# depends on its size and the job's share of the budget, not on its neighbours; avifenc has
# no state across files). So this encodes each distinct file once with
#   leanpix    `leanpix batch --jobs N --max-mem 256M --speed S` (the reference run's flags)
#   avifenc    `xargs -P N avifenc -s S -j 1` with the same quantizer
# and weighs each file by how often the batch links it (its manifest.tsv). Speed 6 takes
# about 40 minutes of 2 busy cores (the outliers are most of it); speed 9 checks the method
# against a full run (its totals must equal bench/reference-batch.sh's bytes out).
#
# Quality beside the bytes: the PSNR of each distinct photo's output against its JPEG
# (ImageMagick's compare on avifdec's PNG; the outliers are left out: 138-216 MP
# comparisons need several GB), as the mean over photos weighted like the bytes.
#
# With lanes (docs/batch.md: the default when most photos get, or would get, libaom's 4K
# class of cells) a file's plan depends on the lane it started in, not on the file alone.
# PLANS=REPORT (the leanpix --json report of a full bench/reference-batch.sh run) then
# encodes each distinct file once with each cell size that run gave its links (`leanpix
# convert --grid WxH -t 1`, one thread a cell, as the batch's jobs) and weighs each by how
# many links got it, so the run's own mix of plans is measured at speed S; at the run's
# speed the totals must equal its bytes out.
#
# Prints a table (markdown) and writes $REF_WORK/bytes-sS/table.md and results.tsv (one row
# per distinct file and plan). Environment: REF_WORK (bench/out/reference; the inputs must
# exist: bench/reference-batch.sh --inputs-only), JOBS (default nproc), BUDGET (256M), NICE
# (10), PLANS (unset: one batch run over the distinct files).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cmdline="bench/reference-bytes.sh $*"
speed=6
while [ $# -gt 0 ]; do
  case "$1" in
    --speed) speed=$2; shift 2 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    -*) echo "reference-bytes: unknown option $1" >&2; exit 2 ;;
    *) break ;;
  esac
done
# shellcheck source=bench/lib.sh
. "$here/lib.sh"
resolve_leanpix reference-bytes "${1:-}"
work=${REF_WORK:-$here/out/reference}
manifest=$work/batch-1/manifest.tsv
[ -s "$manifest" ] || { echo "reference-bytes: no $manifest: run bench/reference-batch.sh --inputs-only first" >&2; exit 2; }
jobs=${JOBS:-$(nproc)}
budget=${BUDGET:-256M}
nice_n=${NICE:-10}
# the same settings as bench/reference-batch.sh (quality 60 = AV1 quantizer 25)
quality=60; quant=$(( ((100 - quality) * 63 + 50) / 100 ))
out=$work/bytes-s$speed
rm -rf "$out"; mkdir -p "$out/leanpix" "$out/avifenc" "$out/png"
# the distinct files and how many links the batch has to each
awk -F'\t' 'NR > 1 { n[$3]++; k[$3] = $2 } END { for (s in n) print s "\t" k[s] "\t" n[s] }' "$manifest" |
  sort > "$out/distinct.tsv"
cut -f1 "$out/distinct.tsv" | sed "s|^|$work/distinct/|" > "$out/inputs.txt"
echo "reference-bytes: $(wc -l < "$out/inputs.txt") distinct files, speed $speed, $jobs at a time; $(date -u +%H:%M:%S)"

if [ -n "${PLANS:-}" ]; then
  # distinct file (a link's is the one with its inode), cells (WxH, or "frame") and how
  # many links got them, from the run's report
  python3 - "$PLANS" "$work/distinct" > "$out/distinct-plans.tsv" <<'PY'
import collections, json, os, sys
by_inode = {os.stat(os.path.join(sys.argv[2], f)).st_ino: f for f in os.listdir(sys.argv[2])}
n = collections.Counter()
for r in json.load(open(sys.argv[1]))['images']:
    cells = f"{r['cell_width']}x{r['cell_height']}" if r['cell_width'] else 'frame'
    n[(by_inode[os.stat(r['input']).st_ino], cells)] += 1
for (name, cells), k in sorted(n.items()):
    print(f"{name}\t{cells}\t{k}")
PY
  while IFS=$'\t' read -r name cells k; do
    grid=$cells; [ "$cells" = frame ] && grid=off
    echo "$work/distinct/$name $out/leanpix/${name%.*}-$cells.avif $grid"
  done < "$out/distinct-plans.tsv" > "$out/plan-jobs.txt"
  /usr/bin/time -f '%e %U %S' -o "$out/leanpix.time" nice -n "$nice_n" xargs -P "$jobs" -n 3 \
    -a "$out/plan-jobs.txt" sh -c 'exec "$0" convert -q '"$quality"' --speed '"$speed"' \
      --chroma 420 --depth 8 -t 1 --max-mem 4G --grid "$3" "$1" "$2" 2>>"'"$out"'/leanpix.log"' \
    "$leanpix"
else
  /usr/bin/time -f '%e %U %S' -o "$out/leanpix.time" nice -n "$nice_n" "$leanpix" batch --no-progress \
    --jobs "$jobs" --max-mem "$budget" -q "$quality" --speed "$speed" --chroma 420 --depth 8 \
    --json "$out/leanpix.report.json" -o "$out/leanpix" --from-list "$out/inputs.txt" > "$out/leanpix.log" 2>&1
  # one plan a file: every link got it
  while IFS=$'\t' read -r name kind links; do
    cells=$(python3 -c 'import json,sys; i=[x for x in json.load(open(sys.argv[1]))["images"] if x["input"].endswith("/"+sys.argv[2])][0]; print("%dx%d" % (i["cell_width"], i["cell_height"]) if i["cell_width"] else "frame")' "$out/leanpix.report.json" "$name")
    mv "$out/leanpix/${name%.*}.avif" "$out/leanpix/${name%.*}-$cells.avif"
    echo -e "$name\t$cells\t$links"
  done < "$out/distinct.tsv" > "$out/distinct-plans.tsv"
fi
echo "reference-bytes: leanpix done $(date -u +%H:%M:%S)"
while read -r f; do echo "$f $out/avifenc/$(basename "${f%.*}").avif"; done < "$out/inputs.txt" > "$out/pairs.txt"
/usr/bin/time -f '%e %U %S' -o "$out/avifenc.time" nice -n "$nice_n" xargs -P "$jobs" -n 2 -a "$out/pairs.txt" \
  sh -c 'exec avifenc "$@" >/dev/null' avifenc -j 1 -s "$speed" -y 420 -d 8 --min "$quant" --max "$quant"
echo "reference-bytes: avifenc done $(date -u +%H:%M:%S)"

psnr_of() {  # AVIF SOURCE -> PSNR (dB) of the decoded AVIF against the source
  local png; png=$out/png/$(basename "$1").png
  avifdec -j "$jobs" "$1" "$png" >/dev/null 2>&1 && psnr_db "$2" "$png"; rm -f "$png"
}
# one row per distinct file and plan; links = the links that got that plan
printf "file\tkind\tlinks\tleanpix_bytes\tavifenc_bytes\tleanpix_psnr\tavifenc_psnr\tcells\n" > "$out/results.tsv"
while IFS=$'\t' read -r name kind all_links; do
  src=$work/distinct/$name; base=${name%.*}
  ab=$(stat -c %s "$out/avifenc/$base.avif")
  aq=NA
  [ "$kind" = photo ] && aq=$(psnr_of "$out/avifenc/$base.avif" "$src")
  while IFS=$'\t' read -r cells links; do
    lb=$(stat -c %s "$out/leanpix/$base-$cells.avif")
    lq=NA
    [ "$kind" = photo ] && lq=$(psnr_of "$out/leanpix/$base-$cells.avif" "$src")
    printf "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n" "$name" "$kind" "$links" "$lb" "$ab" "$lq" "$aq" "$cells" >> "$out/results.tsv"
  done < <(awk -F'\t' -v f="$name" '$1 == f { print $2 "\t" $3 }' "$out/distinct-plans.tsv")
done < "$out/distinct.tsv"

python3 - "$out" "$speed" "$cmdline" <<'EOF' | tee "$out/table.md"
import csv, sys
out, speed, cmd = sys.argv[1:]
rows = list(csv.DictReader(open(out + '/results.tsv'), delimiter='\t'))
def tot(kind, col):
    return sum(int(r['links']) * int(r[col]) for r in rows if kind in ('all', r['kind']))
def mean_psnr(col):
    ph = [r for r in rows if r['kind'] == 'photo' and r[col] not in ('', 'NA')]
    return sum(int(r['links']) * float(r[col]) for r in ph) / sum(int(r['links']) for r in ph)
print(f"\nReference batch output bytes at speed {speed} ({cmd}), weighted by links "
      f"({sum(int(r['links']) for r in rows)} files from {len({r['file'] for r in rows})} "
      f"distinct, {len(rows)} file-plan pairs):\n")
print('| inputs | leanpix bytes | avifenc bytes | leanpix / avifenc |')
print('|---|---:|---:|---:|')
for kind, label in (('photo', 'photos'), ('outlier', 'outliers'), ('all', 'all')):
    l, a = tot(kind, 'leanpix_bytes'), tot(kind, 'avifenc_bytes')
    print(f'| {label} | {l:,} | {a:,} | {l / a:.3f} |')
print(f"\nPSNR over the photos (weighted mean): leanpix {mean_psnr('leanpix_psnr'):.2f} dB, "
      f"avifenc {mean_psnr('avifenc_psnr'):.2f} dB")
for t in ('leanpix', 'avifenc'):
    e, u, s = open(f'{out}/{t}.time').read().split()
    print(f'{t}: {float(e):.0f} s wall, {float(u) + float(s):.0f} s CPU for the distinct files')
EOF
