# bench/lib.sh - shared by the bench scripts: run a command under /usr/bin/time -v and
# record peak RSS (MiB) and wall seconds; PSNR of a decoded output against a reference.
# Source it; it defines measure, psnr_db, mib, start_serve.

# measure NAME CMD... -> sets MEAS_RSS_MIB, MEAS_WALL_S; keeps the time log in $BENCH_OUT/NAME.time
measure() {
  local name=$1; shift
  local log="$BENCH_OUT/$name.time"
  if ! /usr/bin/time -v -o "$log" "$@" >"$BENCH_OUT/$name.out" 2>&1; then
    echo "bench: $name failed: $(tail -n 3 "$BENCH_OUT/$name.out" | tr '\n' ' ')" >&2
    MEAS_RSS_MIB=NA; MEAS_WALL_S=NA; return 1
  fi
  MEAS_RSS_MIB=$(awk -F': ' '/Maximum resident set size/ {printf "%.1f", $2/1024}' "$log")
  MEAS_WALL_S=$(awk -F': ' '/Elapsed \(wall clock\)/ {n=split($2,a,":"); s=0; for(i=1;i<=n;i++) s=s*60+a[i]; printf "%.2f", s}' "$log")
}

# psnr_db REFERENCE DECODED [DECIMALS] -> PSNR in dB (ImageMagick's compare; both
# decodable by it), rounded to DECIMALS places (2; "all" keeps compare's own digits, for
# figures computed from the points, as BD-rates are)
psnr_db() {  # compare exits 1 when the images differ, which is the normal case here
  { /usr/bin/compare -metric PSNR "$1" "$2" null: 2>&1 || true; } |
    awk -v d="${3:-2}" '{ if (d == "all") print $1; else printf "%.*f", d, $1 }'
}

bytes() { stat -c %s "$1"; }

# resolve_leanpix SCRIPT [PATH] -> sets leanpix to the binary to measure: PATH, else
# $LEANPIX, else build/leanpix beside bench/; exits 2 with SCRIPT's name when it is not one.
resolve_leanpix() {
  leanpix=$(realpath "${2:-${LEANPIX:-$(dirname "${BASH_SOURCE[0]}")/../build/leanpix}}")
  [ -x "$leanpix" ] || { echo "$1: $leanpix is not an executable (make build)" >&2; exit 2; }
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b == "NA" || a == "NA" || b == 0) print "NA"; else printf "%.2f", a / b }'; }

# start_serve LOG BIN [SERVE OPTIONS...] -> starts `BIN serve --listen 127.0.0.1:0 ...` in the
# background with its output in LOG, waits (5 s at most) for its "listening" line and sets
# SERVE_PID and SERVE_PORT; on no port it prints LOG and returns 1 (the server may still be
# starting: the caller's EXIT trap kills SERVE_PID).
start_serve() {
  local log=$1 bin=$2; shift 2
  rm -f "$log"  # the redirection below is made after the fork: never read an earlier server's
  "$bin" serve --listen 127.0.0.1:0 "$@" >"$log" 2>&1 &
  SERVE_PID=$!
  for _ in $(seq 50); do grep -qs listening "$log" && break; sleep 0.1; done
  SERVE_PORT=$(sed -n 's|.*http://[0-9.]*:\([0-9]*\).*|\1|p' "$log" 2>/dev/null)
  [ -n "$SERVE_PORT" ] || { cat "$log" >&2; return 1; }
}

# build_classic BUILD_DIR OUT: compiles bench/classic.c against BUILD_DIR's libleanpix.a,
# linking what BUILD_DIR/leanpix.pc says the static library needs.
build_classic() {
  local build=$1 out=$2 here; here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
  local pc=$build/leanpix.pc
  [ -f "$build/libleanpix.a" ] && [ -f "$pc" ] || { echo "bench: no libleanpix.a and leanpix.pc in $build" >&2; return 1; }
  # shellcheck disable=SC2046
  cc -O2 -Wall -Wextra -I"$here/../include" -o "$out" "$here/classic.c" "$build/libleanpix.a" \
    $(pkg-config --libs $(sed -n 's/^Requires.private: //p' "$pc")) $(sed -n 's/^Libs.private: //p' "$pc")
}

# build_patched SCRIPT PATCH DIR -> a Release build of HEAD with PATCH applied, in a scratch
# worktree at DIR (removed when the calling script exits); sets leanpix to its binary. For
# designs measured and set aside: their code lives in bench/patches/, not in the tree.
build_patched() {
  local root
  root=$(git -C "$(dirname "${BASH_SOURCE[0]}")" rev-parse --show-toplevel)
  git -C "$root" worktree add -q --detach "$3" HEAD
  # shellcheck disable=SC2064  # the paths are fixed now
  trap "git -C '$root' worktree remove --force '$3' >/dev/null 2>&1 || true" EXIT
  git -C "$3" apply --3way "$2" || { echo "$1: $2 does not apply to HEAD" >&2; exit 1; }
  cmake -S "$3" -B "$3/build" -DCMAKE_BUILD_TYPE=Release > "$3.cmake.log"
  cmake --build "$3/build" -j "$(nproc)" --target leanpix > "$3.build.log"
  leanpix=$3/build/leanpix
}

# patched_bench NAME -> the set-up of a script that measures bench/patches/NAME.patch on the
# reference inputs: sets work ($REF_WORK, default bench/out/reference; exits 2 without its
# batch-1) and out ($work/NAME, made anew), then build_patched (leanpix = the patched
# binary, its worktree $out/tree)
patched_bench() {
  local bench_dir
  bench_dir=$(dirname "${BASH_SOURCE[0]}")
  work=${REF_WORK:-$bench_dir/out/reference}
  need_ref_inputs "$1" "$work"
  out=$work/$1
  rm -rf "$out"; mkdir -p "$out"
  build_patched "$1" "$bench_dir/patches/$1.patch" "$out/tree"
}

# need_ref_inputs SCRIPT WORK -> exits 2 unless bench/reference-batch.sh --inputs-only made
# WORK/batch-1
need_ref_inputs() {
  [ -d "$2/batch-1" ] || { echo "$1: no $2/batch-1: run bench/reference-batch.sh --inputs-only first" >&2; exit 2; }
}

# link_ref_inputs WORK KIND N DIR [SOURCE] -> hard links in DIR to the first N inputs of the
# reference list of KIND (photo|outlier), only copies of the distinct file SOURCE if given
link_ref_inputs() {
  awk -F'\t' -v kind="$2" -v n="$3" -v src="${5:-}" \
    '$2 == kind && (src == "" || $3 == src) && taken++ < n { print $1 }' "$1/batch-1/manifest.tsv" |
    while read -r f; do ln "$1/batch-1/$f" "$4/$f"; done
}

# profiled_batch NAME OUT BATCH-ARGS... -> runs `$leanpix batch --no-progress --jobs 2
# --max-mem 256M -q 60 --speed 9 --chroma 420 --depth 8 BATCH-ARGS` under `leanpix profile`
# (OUT/profile-NAME.json, OUT/report-NAME.json, outputs in OUT/o-NAME) and sets RUN_WALL,
# RUN_CPU (user + system s), RUN_CORES, RUN_PEAK (tree peak PSS, MiB), RUN_BYTES and
# RUN_REPORT
profiled_batch() {
  local name=$1 dir=$2; shift 2
  "$leanpix" profile -q -i 50ms -o "$dir/profile-$name.json" -- \
    /usr/bin/time -f "%e %U %S" -o "$dir/time-$name.txt" "$leanpix" batch --no-progress \
    --jobs 2 --max-mem 256M -q 60 --speed 9 --chroma 420 --depth 8 \
    --json "$dir/report-$name.json" -o "$dir/o-$name" "$@" > /dev/null
  local user sys
  read -r RUN_WALL user sys < "$dir/time-$name.txt"
  RUN_CPU=$(awk -v u="$user" -v s="$sys" 'BEGIN { printf "%.1f", u + s }')
  RUN_CORES=$(awk -v c="$RUN_CPU" -v w="$RUN_WALL" 'BEGIN { printf "%.2f", c / w }')
  RUN_REPORT=$dir/report-$name.json
  read -r RUN_PEAK RUN_BYTES < <(python3 -c '
import json, sys
p = json.load(open(sys.argv[1]))["summary"]["peak"]["tree"]["pss"] / 2**20
print(f"{p:.1f}", json.load(open(sys.argv[2]))["summary"]["bytes_out"])' \
    "$dir/profile-$name.json" "$RUN_REPORT")
}
