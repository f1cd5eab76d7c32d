#!/usr/bin/env bash
# bench/cell-threads.sh: a second CPU for a grid cell, as a second libaom thread inside
# the cell's encoder (row multi-threading) rather than as a second encoder beside it.
#
# Two encoders cost two encoders' memory (about 70 MiB each for the 2176 px cells of
# libaom's 4K class: docs/memory.md); a thread inside one encoder costs only its row
# buffers. If a thread also kept the bytes and the speed, two CPUs could share one
# encoder and a batch's peak would fall by one encoder. This measures it: for each
# distinct photo of the reference batch, a CELL x CELL cell from the photo's top left
# corner is encoded by bench/cell-threads.c (leanpix's cell settings) with 1 and with 2
# threads at each speed, and the table gives, per speed, the medians over photos of
#   - bytes with 2 threads / bytes with 1 thread, and the luma PSNR difference (dB);
#   - the encoder's peak (MiB, VmHWM above the process before it) with 1 and 2 threads;
#   - speed-up: wall seconds with 1 thread / with 2 threads, and the CPU seconds ratio.
# The wall figures need a quiet machine with 2 free CPUs; bytes, PSNR and memory do not.
#
# Inputs: $REF_WORK/distinct/p*.jpg (bench/reference-batch.sh --inputs-only makes them).
# Environment: REF_WORK (bench/out/reference), PHOTOS (e.g. "p00 p05"; default all),
# CELL (2176), SPEEDS ("9 6"), QUANT (25, the reference batch's quantizer), AOM_OPTS
# (libaom options by their aomenc names, "key=value,...", given to both encoders).
# Results: $REF_WORK/cell-threads/points.tsv and table.md. About 3 minutes.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
case "${1:-}" in
  -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
  "") ;;
  *) echo "cell-threads: no arguments (see --help)" >&2; exit 2 ;;
esac
work=${REF_WORK:-$here/out/reference}
[ -d "$work/distinct" ] || { echo "cell-threads: no $work/distinct: run bench/reference-batch.sh --inputs-only first" >&2; exit 2; }
cell=${CELL:-2176} speeds=${SPEEDS:-9 6} quant=${QUANT:-25}
photos=${PHOTOS:-$(cd "$work/distinct" && ls p*.jpg | sed 's/\.jpg$//' | tr '\n' ' ')}
out=$work/cell-threads
rm -rf "$out"; mkdir -p "$out"
cc -O2 -o "$out/cell-threads" "$here/cell-threads.c" -laom -lm
echo "cell-threads: $(echo "$photos" | wc -w) photos, ${cell}px cells, speeds $speeds, quantizer $quant; $(date -u +%Y-%m-%dT%H:%MZ), load $(cut -d' ' -f1 /proc/loadavg)"

printf 'photo\tspeed\tthreads\tbytes\tpsnr\tpeak_mib\twall_s\tcpu_s\n' > "$out/points.tsv"
for p in $photos; do
  convert "$work/distinct/$p.jpg" -crop "${cell}x${cell}+0+0" +repage -depth 8 "$out/cell.ppm"
  for s in $speeds; do
    for t in 1 2; do
      "$out/cell-threads" "$out/cell.ppm" "$s" "$t" "$quant" |
        awk -v p="$p" -v s="$s" -v t="$t" '{ printf "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", p, s, t, $2, $4, $6, $8, $10 }' >> "$out/points.tsv"
    done
  done
done
rm -f "$out/cell.ppm"

python3 - "$out/points.tsv" "$cell" <<'EOF' | tee "$out/table.md"
import csv, statistics as st, sys
rows = list(csv.DictReader(open(sys.argv[1]), delimiter='\t'))
by = {(r['photo'], r['speed'], r['threads']): r for r in rows}
print(f"| speed | photos | bytes 2T/1T | PSNR 2T-1T dB | peak 1T MiB | peak 2T MiB | wall 1T/2T | CPU 2T/1T |")
print("|---:|---:|---:|---:|---:|---:|---:|---:|")
for s in sorted({r['speed'] for r in rows}, key=int, reverse=True):
    ps = sorted({r['photo'] for r in rows if r['speed'] == s})
    one = [by[(p, s, '1')] for p in ps]; two = [by[(p, s, '2')] for p in ps]
    med = lambda xs: st.median(xs)
    print(f"| {s} | {len(ps)} | {med([int(b['bytes']) / int(a['bytes']) for a, b in zip(one, two)]):.4f} "
          f"| {med([float(b['psnr']) - float(a['psnr']) for a, b in zip(one, two)]):+.3f} "
          f"| {med([float(a['peak_mib']) for a in one]):.1f} | {med([float(b['peak_mib']) for b in two]):.1f} "
          f"| {med([float(a['wall_s']) / float(b['wall_s']) for a, b in zip(one, two)]):.2f} "
          f"| {med([float(b['cpu_s']) / float(a['cpu_s']) for a, b in zip(one, two)]):.2f} |")
EOF
