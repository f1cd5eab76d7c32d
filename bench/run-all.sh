#!/usr/bin/env bash
# bench/run-all.sh [LEANPIX] - every benchmark, one after another (long: tens of minutes).
# Each script prints its table; copy the figures with the date into docs/benchmarks.md.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
leanpix=${1:-$here/../build/leanpix}
status=0
# scripts that take the leanpix binary as their argument, then those that take none
for script in convert-vs-peers.sh png-webp-vs-peers.sh grid-vs-peers.sh batch-vs-peers.sh \
              profile-peers.sh serve-load.sh; do
  [ -x "$here/$script" ] || continue
  echo "=== $script ($(date -u +%FT%TZ))"
  "$here/$script" "$leanpix" || { echo "=== $script failed" >&2; status=1; }
done
for script in resize-vs-vips.sh yuv-convert-bench.sh avif-sink-bench.sh heif-writers.sh; do
  [ -x "$here/$script" ] || continue
  echo "=== $script ($(date -u +%FT%TZ))"
  "$here/$script" || { echo "=== $script failed" >&2; status=1; }
done
exit $status
