#!/bin/sh
# One AVIF frame through leanpix's avif-save sink and through avifenc, same pixels, same
# settings (avifenc -s S -y 420 -d 8 --min Q --max Q), side by side: time, size, peak RSS.
# Needs a built tree (make) for build/libleanpix.a.
#
#   bench/avif-sink-bench.sh [WIDTH HEIGHT [QUALITY SPEED THREADS]]   default 4000 3000 60 6 1
set -eu
here=$(cd "$(dirname "$0")" && pwd)
build=${BENCH_BUILD:-$here/../build}
w=${1:-4000} h=${2:-3000} q=${3:-60} s=${4:-6} t=${5:-1}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cc -O2 -std=c17 -D_DEFAULT_SOURCE -Wall -Wextra -I"$here/../include" -o "$tmp/avif-sink-bench" \
    "$here/avif-sink-bench.c" "$build/libleanpix.a" \
    $(pkg-config --cflags --libs libavif aom spng libjpeg libwebp libwebpmux libexif) -lyuv -lpthread -lm
quant=$(( ((100 - q) * 63 + 50) / 100 ))
echo "== leanpix avif-save (sink only, source in memory)"
/usr/bin/time -f "wall %e s, max RSS %M KB" "$tmp/avif-sink-bench" "$w" "$h" "$tmp/leanpix.avif" \
    "$q" "$s" 420 8 "$t" "$tmp/in.png"
echo "== avifenc -s $s -y 420 -d 8 --min $quant --max $quant -j $t (reads the PNG)"
/usr/bin/time -f "wall %e s, max RSS %M KB" avifenc -s "$s" -y 420 -d 8 --min "$quant" --max "$quant" \
    -j "$t" "$tmp/in.png" "$tmp/avifenc.avif" >/dev/null
ls -l "$tmp/leanpix.avif" "$tmp/avifenc.avif" | awk '{print $5, $9}'
