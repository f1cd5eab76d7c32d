#!/usr/bin/env bash
# bench/serve-hostile-parse.sh - `leanpix serve` against the hostile uploads of issue 9
# (items 1-3), one request at a time, measuring the request's wall time (curl's
# time_total) and the server's memory (VmRSS / VmHWM from /proc):
#   - contexts: T.16000M.xml with N extra <Context>s that all bind Button1 (N = 2.5k, 10k,
#     32k by default): the card building used to be quadratic in N;
#   - nest: 1,300,000 nested <a> (3.9 MB): expat's element stack used to escape the budget;
#   - nul: an SWS .profile of 13,500 distinct binding lines and then a NUL byte, sent 30
#     times: each used to leak ~5.8 MB.
# Run it with LP_BIN pointing at an older build to get the "before" figures.
#
# Usage: bench/serve-hostile-parse.sh [extra serve options...]  (needs ../shared, curl, python3)
#   LP_BIN (default build/leanpix), LP_SHARED_DIR (default ../shared), BENCH_OUT (scratch),
#   CONTEXTS (default "2500 10000 32000"), NUL_REQUESTS (default 30).
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
BIN=${LP_BIN:-build/leanpix}
SHARED=${LP_SHARED_DIR:-../shared}
DATA=$SHARED/metarefcard
OUT=${BENCH_OUT:-/tmp/leanpix-serve-hostile}
CONTEXTS=${CONTEXTS:-2500 10000 32000}
NUL_REQUESTS=${NUL_REQUESTS:-30}
mkdir -p "$OUT"
[ -x "$BIN" ] || { echo "serve-hostile-parse: build first ($BIN missing)" >&2; exit 1; }
[ -d "$DATA" ] || { echo "serve-hostile-parse: $DATA is absent" >&2; exit 1; }

# the uploads
for n in $CONTEXTS; do
  python3 - "$DATA/testdata/fs2020/T.16000M.xml" "$n" >"$OUT/contexts-$n.xml" <<'EOF'
import sys
text = open(sys.argv[1], encoding="utf-8-sig").read()
extra = "".join(
    '<Context ContextName="CTX%06d"><Action ActionName="KEY_GEAR_TOGGLE" Flag="2"><Primary>'
    '<KEY Information="Button1">0</KEY></Primary></Action></Context>\n' % i
    for i in range(int(sys.argv[2])))
at = text.rindex("</Device>")
sys.stdout.write(text[:at] + extra + text[at:])
EOF
done
python3 -c 'import sys; sys.stdout.write("<a>" * 1300000)' >"$OUT/nest.xml"
python3 - >"$OUT/nul.profile" <<'EOF'
import sys
lines = "".join("GstKeyBinding.IncomStarshipInputConcepts.ConceptAction%05d.0.axis %d\n" % (i, i)
                for i in range(13500))
sys.stdout.buffer.write(lines.encode() + b"\0\n")
EOF

trap 'kill ${SERVE_PID:-} 2>/dev/null || true' EXIT
start_serve "$OUT/serve.log" "$BIN" --data "$DATA" --max-body 16M "$@" || exit 1
PID=$SERVE_PID PORT=$SERVE_PORT
URL=http://127.0.0.1:$PORT
C() { curl --noproxy '*' -s --max-time 300 "$@"; }
rss_mib() { awk '/^VmRSS/ {printf "%.0f", $2 / 1024}' /proc/$PID/status; }
hwm_mib() { awk '/^VmHWM/ {printf "%.0f", $2 / 1024}' /proc/$PID/status; }

C -o /dev/null -F "file=@$DATA/testdata/fs2020/T.16000M.xml" "$URL/v1/cards/fs2020"  # warm-up
echo "binary: $BIN"
echo "idle after warm-up: RSS $(rss_mib) MiB, HWM $(hwm_mib) MiB"
for n in $CONTEXTS; do
  r=$(C -o "$OUT/contexts-$n.json" -w "%{http_code} %{time_total}" -F "file=@$OUT/contexts-$n.xml" "$URL/v1/cards/fs2020")
  echo "contexts $n ($(stat -c %s "$OUT/contexts-$n.xml") bytes): HTTP ${r% *}, ${r#* } s; RSS $(rss_mib) MiB, HWM $(hwm_mib) MiB"
done
r=$(C -o "$OUT/nest.txt" -w "%{http_code} %{time_total}" -F "file=@$OUT/nest.xml" "$URL/v1/cards/fs2020")
echo "nest 1.3M <a>: HTTP ${r% *}, ${r#* } s, HWM $(hwm_mib) MiB: $(head -c 200 "$OUT/nest.txt")"
before=$(rss_mib)
for _ in $(seq "$NUL_REQUESTS"); do
  C -o "$OUT/nul.txt" -w "%{http_code}\n" -F "file=@$OUT/nul.profile" "$URL/v1/cards/sws" >>"$OUT/nul-codes.txt"
done
echo "nul x$NUL_REQUESTS: RSS $before -> $(rss_mib) MiB, HWM $(hwm_mib) MiB: $(head -c 200 "$OUT/nul.txt")"
