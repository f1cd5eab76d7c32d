#!/usr/bin/env bash
# scripts/demo.sh - the main job on a generated sample: a 12-megapixel photo-like JPEG is
# made by lp-mksample (no binary is shipped), re-encoded to AVIF as one frame and, under
# a 64 MiB budget, as a grid; a 1024 px WebP thumbnail is made with shrink-on-load; the
# AVIFs are checked with avifdec. Prints what happened.
set -euo pipefail
leanpix=${1:-build/leanpix}
bindir=$(dirname "$leanpix")
out=demo-out
mkdir -p "$out"

echo "== generating a 4240x2832 (12 MP) photo-like sample: $out/sample.jpg"
"$bindir/lp-mksample" "$out/sample.jpg" 4240 2832 7
ls -l "$out/sample.jpg" | awk '{printf "   %s bytes\n", $5}'

echo "== leanpix convert $out/sample.jpg $out/sample.avif --stats"
"$leanpix" convert "$out/sample.jpg" "$out/sample.avif" --stats --no-progress

echo "== the same under a 64 MiB budget: one AV1 frame would not fit, so --grid auto writes a grid"
echo "   leanpix convert $out/sample.jpg $out/sample-grid.avif --max-mem 64M --threads 2 --stats"
"$leanpix" convert "$out/sample.jpg" "$out/sample-grid.avif" --max-mem 64M --threads 2 --stats --no-progress

echo "== leanpix convert $out/sample.jpg $out/thumb.webp --resize 1024x --stats"
"$leanpix" convert "$out/sample.jpg" "$out/thumb.webp" --resize 1024x --stats --no-progress

if command -v avifdec >/dev/null 2>&1; then
  echo "== avifdec (libavif, dav1d) decodes the AVIF:"
  for f in sample.avif sample-grid.avif; do
    echo "   $f:"
    avifdec --info "$out/$f" 2>&1 | grep -E 'Resolution|Bit Depth|Format' | sed 's/^/   /'
  done
fi
echo "== done: outputs in $out/"
