#!/usr/bin/env bash
# bench/resize-vs-vips.sh [BUILD_DIR] - the resampler alone against libvips' resize.
#
# leanpix: build/lp-resize-bench (6000x4000 RGB8 in memory -> 2048x1365, Lanczos 3, the
# resize stage's CPU time, best of 5). vips: `vips resize` of the same size from an
# uncompressed .v file (mmap), Lanczos 3, one thread (VIPS_CONCURRENCY=1), user+sys CPU
# of the whole command, best of 5 - so vips' figure includes its start-up and reading a
# 72 MB file, which favours leanpix; so `vips copy` of the same file is timed too and the
# ratio is also given against vips' net figure (resize minus copy).
# CPU time rather than wall time: the project machine is shared.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=$(realpath "${1:-$here/../build}")
out=${BENCH_OUT:-$here/out/resize}
mkdir -p "$out"

[ -s "$out/in.v" ] || {
  vips gaussnoise "$out/noise.v" 6000 4000 --mean 128 --sigma 40
  vips cast "$out/noise.v" "$out/noise8.v" uchar
  vips bandjoin "$out/noise8.v $out/noise8.v $out/noise8.v" "$out/in.v"
  rm -f "$out/noise.v" "$out/noise8.v"
}

# best_cpu_ms CMD... -> best user+sys milliseconds of 5 runs
best_cpu_ms() {
  local best= t
  for i in 1 2 3 4 5; do
    VIPS_CONCURRENCY=1 /usr/bin/time -f "%U %S" -o "$out/cmd.time" "$@" >/dev/null
    t=$(awk '{printf "%.0f", ($1 + $2) * 1000}' "$out/cmd.time")
    if [ -z "$best" ] || [ "$t" -lt "$best" ]; then best=$t; fi
  done
  echo "$best"
}
best_vips=$(best_cpu_ms vips resize "$out/in.v" "$out/out.v" 0.341333 --kernel lanczos3)
base_vips=$(best_cpu_ms vips copy "$out/in.v" "$out/copy.v")
rm -f "$out/copy.v"
net_vips=$(( best_vips - base_vips ))
echo "vips $(vips --version): resize 6000x4000 -> $(vipsheader "$out/out.v" | cut -d' ' -f2), best CPU ${best_vips} ms; 'vips copy' of the same file ${base_vips} ms; resize net ~${net_vips} ms"

line=$("$build/lp-resize-bench" 6000 4000 2048 lanczos3 RGB8 5)
echo "leanpix: $line"
lp=$(echo "$line" | sed -n 's/.*best CPU \([0-9.]*\) ms.*/\1/p')
awk -v a="$lp" -v b="$best_vips" -v n="$net_vips" \
  'BEGIN { printf "leanpix / vips CPU time: %.2f (whole command), %.2f (vips net of its copy baseline)\n", a / b, (n > 0 ? a / n : 0) }'
