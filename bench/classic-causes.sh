#!/usr/bin/env bash
# bench/classic-causes.sh [BUILD_DIR] [BATCH_DIR] - what each classic cause costs (docs/memory.md).
#
# Builds bench/classic.c against BUILD_DIR's libleanpix.a and runs it on the same share of
# the representative batch (the first 12 photos of bench/make-batch.sh plus a 31 MP photo
# standing in for an outlier that one AV1 frame can hold), 2 workers, in a process whose
# parent holds a 200 MiB heap, once per mode:
#   threads   the leanpix way: threads, strip streaming, reads with hints
#   bitmap    + whole decoded bitmaps, each kept alive until the worker's next image
#   fork      + forked workers whose writes to the inherited heap copy it (copy-on-write)
#   mmap      + whole-file mmap of each input, without madvise (LD_PRELOAD shim)
# and prints the whole-tree peak PSS (bench/treepeak.py) and its file-backed part, and
# the difference from `threads`: the cost of that cause on this batch.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=$(realpath "${1:-$here/../build}")
batch=$(realpath "${2:-$here/out/batch-small}")
out=${BENCH_OUT:-$here/out/classic}
rm -rf "$out"; mkdir -p "$out"
# shellcheck source=bench/lib.sh
. "$here/lib.sh"
build_classic "$build" "$out/classic"
cc -O2 -shared -fPIC -o "$out/no_madvise.so" "$here/shims/no_madvise.c"
big=$here/out/batch-allocators/outlier31.jpg
[ -s "$big" ] || "$here/make-photo.sh" "$big" 6400 4800 77 92
mapfile -t inputs < <(find "$batch/photos" -name '*.jpg' | sort | head -12)
inputs=("$big" "${inputs[@]}")
echo "date: $(date -u +%Y-%m-%dT%H:%MZ); load average $(cut -d' ' -f1-3 /proc/loadavg); ${#inputs[@]} inputs (one 6400x4800), 2 workers, parent heap 200 MiB"
printf "| %-44s | %13s | %13s | %14s | %7s |\n" "mode" "tree PSS MiB" "file PSS MiB" "cost vs leanpix" "wall s"
printf "| %-44s | %13s | %13s | %14s | %7s |\n" "---" "---" "---" "---" "---"
base=
run() {  # label mode [preload]
  local label=$1 mode=$2 preload=${3:-}
  rm -rf "$out/o"; mkdir -p "$out/o"
  sync; echo 1 > /proc/sys/vm/drop_caches 2>/dev/null || true
  local j; j=$(env ${preload:+LD_PRELOAD=$preload} "$here/treepeak.py" -- "$out/classic" "$mode" 2 200 "$out/o" "${inputs[@]}")
  local pss; pss=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["pss_mib"])' "$j")
  [ -z "$base" ] && base=$pss
  python3 - "$label" "$j" "$base" <<'PY'
import json, sys
d = json.loads(sys.argv[2]); base = float(sys.argv[3])
print(f"| {sys.argv[1]:44} | {d['pss_mib']:13} | {d['pss_file_mib']:13} | {d['pss_mib'] - base:+14.1f} | {d['wall_s']:7} |")
PY
}
run "threads, streaming (leanpix)" threads
run "decoded bitmaps kept alive" bitmap
run "forked workers, copy-on-write of the parent" fork
run "whole-file mmap without hints" mmap "$out/no_madvise.so"
