#!/usr/bin/env bash
# bench/batch-io.sh [LEANPIX] [BATCH_DIR] - input I/O modes of `leanpix batch`, measured.
#
# Runs the same share of the representative batch (the outlier and the first 10 photos of
# bench/make-batch.sh; AVIF, --jobs 2, --max-mem 256M) with
#   --io read   pread into a 256 KiB buffer + posix_fadvise(SEQUENTIAL), page cache dropped behind
#   --io mmap   whole-file mmap + MADV_SEQUENTIAL + MADV_DONTNEED behind the cursor
#   --io mmap with madvise/fadvise turned into no-ops by an LD_PRELOAD shim (bench only):
#               the classic whole-file mmap without hints
# and records the tree's peak file-backed PSS and total PSS (bench/treepeak.py), wall and
# CPU time. The page cache is dropped before each run when possible (root), so every run
# reads from disk the same way.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
leanpix=$(realpath "${1:-$here/../build/leanpix}")
batch=$(realpath "${2:-$here/out/batch-small}")
out=${BENCH_OUT:-$here/out/batch-io}
rm -rf "$out"; mkdir -p "$out"
cc -O2 -shared -fPIC -o "$out/no_madvise.so" "$here/shims/no_madvise.c"
{ find "$batch/outliers" -name '*.jpg' | sort; find "$batch/photos" -name '*.jpg' | sort | head -10; } > "$out/list.txt"
echo "inputs: $(wc -l < "$out/list.txt") files, $(cat "$out/list.txt" | xargs du -cb | tail -1 | cut -f1) bytes (largest $(cat "$out/list.txt" | xargs ls -S | head -1 | xargs du -b | cut -f1))"
echo "date: $(date -u +%Y-%m-%dT%H:%MZ); load average $(cut -d' ' -f1-3 /proc/loadavg)"
printf "| %-34s | %15s | %15s | %7s | %7s |\n" "mode" "peak file PSS" "peak total PSS" "wall s" "CPU s"
printf "| %-34s | %15s | %15s | %7s | %7s |\n" "----" "(MiB)" "(MiB)" "" ""
run() {  # label preload io
  local label=$1 preload=$2 io=$3
  sync; echo 1 > /proc/sys/vm/drop_caches 2>/dev/null || true
  rm -rf "$out/o"
  local j
  j=$(env ${preload:+LD_PRELOAD=$preload} "$here/treepeak.py" -- /usr/bin/time -f "%U %S" -o "$out/cpu.txt" \
      "$leanpix" batch --no-progress --jobs 2 --max-mem 256M --io "$io" -o "$out/o" --from-list "$out/list.txt" 2>/dev/null)
  local cpu; cpu=$(awk '{printf "%.1f", $1 + $2}' "$out/cpu.txt")
  python3 - "$label" "$j" "$cpu" <<'PY'
import json, sys
d = json.loads(sys.argv[2])
print(f"| {sys.argv[1]:34} | {d['pss_file_mib']:15} | {d['pss_mib']:15} | {d['wall_s']:7} | {sys.argv[3]:>7} |")
PY
}
run "--io read (default)" "" read
run "--io mmap" "" mmap
run "--io mmap, hints off (classic)" "$out/no_madvise.so" mmap
run "--io read, fadvise off" "$out/no_madvise.so" read
