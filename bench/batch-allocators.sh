#!/usr/bin/env bash
# bench/batch-allocators.sh [LEANPIX] [BATCH_DIR] - does memory come back after an outlier?
#
# One `leanpix batch` (AVIF, --jobs 2, budget 4G so the outlier runs early, as one frame:
# ~560 MB) over 4 photos, a 31 MP outlier, then 20 more photos, with each allocator
# configuration:
#   glibc default            LEANPIX_ALLOCATOR=default (no mallopt, no malloc_trim)
#   glibc arenas=2           the same plus MALLOC_ARENA_MAX=2 in the environment
#   glibc leanpix (default)  fixed M_MMAP_THRESHOLD 1 MiB, M_ARENA_MAX 2, malloc_trim after
#                            jobs predicted over 64 MiB (src/batch/alloc.c)
#   jemalloc / mimalloc      LD_PRELOAD of Debian's libjemalloc2 / libmimalloc2.0
# The batch's JSON report has the process RSS when each image finished and when: "before"
# is the largest over the images that ended before the outlier started, "after" the median
# over those that ended after it had finished (the other worker kept converting photos
# meanwhile), "peak" the process's peak RSS. Wall and CPU seconds from /usr/bin/time.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
leanpix=$(realpath "${1:-$here/../build/leanpix}")
batch=$(realpath "${2:-$here/out/batch-small}")
out=${BENCH_OUT:-$here/out/batch-allocators}
mkdir -p "$out"
outlier=$out/outlier31.jpg
[ -s "$outlier" ] || "$here/make-photo.sh" "$outlier" 6400 4800 77 92
rm -rf "$out/in"; mkdir -p "$out/in"
mapfile -t photos < <(find "$batch/photos" -name '*.jpg' | sort | head -24)
for i in $(seq 0 3); do ln -s "${photos[$i]}" "$out/in/a$(printf %02d "$i").jpg"; done
ln -s "$outlier" "$out/in/b-outlier.jpg"
for i in $(seq 4 23); do ln -s "${photos[$i]}" "$out/in/c$(printf %02d "$i").jpg"; done
lib=/usr/lib/x86_64-linux-gnu
echo "date: $(date -u +%Y-%m-%dT%H:%MZ); load average $(cut -d' ' -f1-3 /proc/loadavg); 24 photos of ~3 MP, one 6400x4800 outlier after the 4th"
printf "| %-26s | %11s | %11s | %11s | %10s | %7s | %6s |\n" "allocator" "before MiB" "peak MiB" "after MiB" "after/before" "wall s" "CPU s"
printf "| %-26s | %11s | %11s | %11s | %10s | %7s | %6s |\n" "---" "---" "---" "---" "---" "---" "---"
run() {  # label env...
  local label=$1; shift
  rm -rf "$out/o"
  env "$@" /usr/bin/time -f "%e %U %S %M" -o "$out/time.txt" \
    "$leanpix" batch --no-progress --jobs 2 --max-mem 4G -q 60 --speed 6 --json "$out/r.json" -o "$out/o" "$out/in"
  python3 - "$label" "$out/r.json" "$out/time.txt" <<'PY'
import json, statistics, sys
recs = json.load(open(sys.argv[2]))["images"]
o = [r for r in recs if r["input"].endswith("b-outlier.jpg")][0]
start, end = o["finished_at"] - o["seconds"], o["finished_at"]
before = max(r["process_rss_bytes"] for r in recs if r["finished_at"] < start) / 2**20
after = statistics.median(r["process_rss_bytes"] for r in recs if r["finished_at"] > end) / 2**20
wall, user, sys_, maxrss = open(sys.argv[3]).read().split()
cpu = float(user) + float(sys_)
print(f"| {sys.argv[1]:26} | {before:11.1f} | {int(maxrss)/1024:11.1f} | {after:11.1f} | {after/before:10.2f} | {float(wall):7.1f} | {cpu:6.1f} |")
PY
}
run "glibc default" LEANPIX_ALLOCATOR=default
run "glibc MALLOC_ARENA_MAX=2" LEANPIX_ALLOCATOR=default MALLOC_ARENA_MAX=2
run "glibc leanpix (default)" LEANPIX_ALLOCATOR=leanpix
run "jemalloc 5.3" LEANPIX_ALLOCATOR=default LD_PRELOAD=$lib/libjemalloc.so.2
run "mimalloc 2.0" LEANPIX_ALLOCATOR=default LD_PRELOAD=$lib/libmimalloc.so.2
