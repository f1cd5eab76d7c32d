#!/bin/sh
# RGB->YUV for the AVIF sink: libyuv vs libavif's avifImageRGBToYUV (docs/benchmarks.md,
# "RGB->YUV: libyuv vs libavif"). Builds bench/yuv-convert-bench.c by hand (it is no part of
# the library build) and runs it.
#
#   bench/yuv-convert-bench.sh [WIDTH HEIGHT [RUNS]]     default 4000 3000 5
set -eu
here=$(cd "$(dirname "$0")" && pwd)
out=${BENCH_BUILD:-$here/../build}/yuv-convert-bench
mkdir -p "$(dirname "$out")"
cc -O2 -std=c17 -D_DEFAULT_SOURCE -Wall -Wextra -o "$out" "$here/yuv-convert-bench.c" \
    $(pkg-config --cflags --libs libavif) -lyuv
exec "$out" "$@"
