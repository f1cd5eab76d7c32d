#!/usr/bin/env bash
# bench/serve-load.sh - `leanpix serve` under load: one fs2020 upload (15 cards) at a time,
# then a burst of 50 concurrent sws uploads and one of 25 concurrent fs2020 uploads, with
# latency percentiles (curl's time_total per request), the server's RSS sampled every 10 ms
# from /proc/PID/status (VmRSS; VmHWM for the peak), and RSS after the burst vs idle.
#
# Usage: bench/serve-load.sh [extra serve options...]   (needs ../shared/metarefcard, curl)
#   LP_BIN (default build/leanpix), LP_SHARED_DIR (default ../shared), BENCH_OUT (scratch).
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
BIN=${LP_BIN:-build/leanpix}
SHARED=${LP_SHARED_DIR:-../shared}
DATA=$SHARED/metarefcard
OUT=${BENCH_OUT:-/tmp/leanpix-serve-bench}
mkdir -p "$OUT"
[ -x "$BIN" ] || { echo "serve-load: build first ($BIN missing)" >&2; exit 1; }
[ -d "$DATA" ] || { echo "serve-load: $DATA is absent" >&2; exit 1; }

# The bursts all come from 127.0.0.1: switch the per-address shares off (they are
# measured by bench/serve-attack.sh) so that this measures the server, not one address.
trap 'kill ${SERVE_PID:-} 2>/dev/null || true; kill $SAMPLER 2>/dev/null || true' EXIT
start_serve "$OUT/serve.log" "$BIN" --data "$DATA" --per-ip-connections 0 \
  --per-ip-upload-mem 1G "$@" || exit 1
PID=$SERVE_PID PORT=$SERVE_PORT
URL=http://127.0.0.1:$PORT
C() { curl --noproxy '*' -s "$@"; }

FS_ARGS=(); for f in "$DATA"/testdata/fs2020/*.xml; do FS_ARGS+=(-F "file=@$f"); done
SWS_ARGS=(-F "file=@$DATA/testdata/sws/Saitek_Pro_Flight_X-55_Rhino.profile")

rss_kib() { awk '/^VmRSS/ {print $2}' /proc/$PID/status; }
hwm_kib() { awk '/^VmHWM/ {print $2}' /proc/$PID/status; }
pct() {  # pct FILE P -> the P-th percentile (nearest rank) of column 2 of FILE, seconds
  sort -n -k2 "$1" | awk -v p="$2" '{v[NR]=$2} END {i=int((p/100)*NR+0.999); if(i<1)i=1; printf "%.3f", v[i]}'
}
codes() { awk '{c[$1]++} END {for (k in c) printf "%s:%d ", k, c[k]}' "$1"; }

# warm-up: fonts, logos and the first images decoded once; then idle
C -o /dev/null "${SWS_ARGS[@]}" "$URL/v1/cards/sws"
C -o /dev/null "${FS_ARGS[@]}" "$URL/v1/cards/fs2020"
sleep 1
IDLE_WARM=$(rss_kib)

# one fs2020 upload (18 files -> 15 cards) at a time, 10 times, both answer kinds; the
# server's CPU time per request (utime+stime from /proc) does not depend on other load
cpu_ticks() { awk '{print $14 + $15}' /proc/$PID/stat; }
: >"$OUT/single_json.txt"; : >"$OUT/single_html.txt"
CPU0=$(cpu_ticks)
for _ in $(seq 10); do
  C -o /dev/null -w "%{http_code} %{time_total}\n" "${FS_ARGS[@]}" "$URL/v1/cards/fs2020" >>"$OUT/single_json.txt"
  C -o /dev/null -w "%{http_code} %{time_total}\n" "${FS_ARGS[@]}" "$URL/api/fs2020" >>"$OUT/single_html.txt"
done

CPU_MS=$(awk -v a="$CPU0" -v b="$(cpu_ticks)" -v hz="$(getconf CLK_TCK)" 'BEGIN {printf "%.0f", (b-a)*1000/hz/20}')

# burst: N concurrent uploads; RSS sampled meanwhile (10 ms, /proc) and recorded by
# `leanpix profile --pid` (20 ms; JSON and HTML report in $OUT)
burst() {  # burst NAME N PATH ARGS...
  local name=$1 n=$2 path=$3; shift 3
  : >"$OUT/$name.txt"
  "$BIN" profile --pid $PID -o "$OUT/$name.profile.json" --html "$OUT/$name.profile.html" \
    2>"$OUT/$name.profile.txt" &
  local prof=$!
  sleep 0.2
  ( while kill -0 $PID 2>/dev/null; do rss_kib; sleep 0.01; done ) >"$OUT/$name.rss" &
  SAMPLER=$!
  local pids=()
  for i in $(seq "$n"); do
    C -o /dev/null -w "%{http_code} %{time_total}\n" "$@" "$URL$path" >>"$OUT/$name.txt" &
    pids+=($!)
  done
  wait "${pids[@]}" || true
  kill $SAMPLER 2>/dev/null || true; wait $SAMPLER 2>/dev/null || true
  kill -INT $prof 2>/dev/null || true; wait $prof 2>/dev/null || true
}
profile_peak() {  # the peak tree RSS (MiB) that leanpix profile recorded for a burst
  python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print('%.1f' % (d['summary']['peak_rss']['tree']['rss']/1048576))" "$1" 2>/dev/null || echo NA
}
sleep 1
IDLE=$(rss_kib)  # idle right before the bursts
burst sws50 50 /api/sws "${SWS_ARGS[@]}"
PEAK_SWS=$(sort -n "$OUT/sws50.rss" | tail -1)
sleep 2
AFTER_SWS=$(rss_kib)
burst fs25 25 /api/fs2020 "${FS_ARGS[@]}"
PEAK_FS=$(sort -n "$OUT/fs25.rss" | tail -1)
sleep 2
AFTER_FS=$(rss_kib)
HWM=$(hwm_kib)
C "$URL/metrics" >"$OUT/metrics.txt"

mib() { awk -v k="$1" 'BEGIN {printf "%.1f", k/1024}'; }
echo "date: $(date -u +%Y-%m-%dT%H:%MZ)  host: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "command: bench/serve-load.sh $*"
echo "idle RSS after warm-up: $(mib "$IDLE_WARM") MiB; idle right before the bursts: $(mib "$IDLE") MiB"
echo "one fs2020 upload (15 cards), JSON answer:  p50 $(pct "$OUT/single_json.txt" 50) s  min $(pct "$OUT/single_json.txt" 0) s  [$(codes "$OUT/single_json.txt")]"
echo "one fs2020 upload (15 cards), HTML answer:  p50 $(pct "$OUT/single_html.txt" 50) s  min $(pct "$OUT/single_html.txt" 0) s  [$(codes "$OUT/single_html.txt")]"
echo "server CPU time per fs2020 upload (15 cards): $CPU_MS ms"
echo "50 concurrent sws uploads:    p50 $(pct "$OUT/sws50.txt" 50) s  p99 $(pct "$OUT/sws50.txt" 99) s  [$(codes "$OUT/sws50.txt")]  peak RSS $(mib "$PEAK_SWS") MiB  RSS 2 s after $(mib "$AFTER_SWS") MiB"
echo "25 concurrent fs2020 uploads: p50 $(pct "$OUT/fs25.txt" 50) s  p99 $(pct "$OUT/fs25.txt" 99) s  [$(codes "$OUT/fs25.txt")]  peak RSS $(mib "$PEAK_FS") MiB  RSS 2 s after $(mib "$AFTER_FS") MiB"
echo "leanpix profile --pid, peak RSS: sws burst $(profile_peak "$OUT/sws50.profile.json") MiB, fs2020 burst $(profile_peak "$OUT/fs25.profile.json") MiB (reports: $OUT/*.profile.html)"
echo "VmHWM (whole run): $(mib "$HWM") MiB; RSS after the bursts vs idle before them: $(awk -v a="$AFTER_FS" -v b="$IDLE" 'BEGIN {printf "%+.1f%%", (a-b)*100/b}')"
grep -E "^leanpix_memory_counted_peak_bytes|^leanpix_rejected_total" "$OUT/metrics.txt" | tr '\n' ' '; echo
