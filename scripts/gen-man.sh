#!/bin/sh
# scripts/gen-man.sh - writes the man pages leanpix(1), leanpix-convert(1), leanpix-batch(1),
# leanpix-serve(1) and leanpix-profile(1) into OUTDIR from the built binary's --help texts
# and the hand-written sections in man/*.1.in (scripts/gen-man.awk says how).
#
# Usage: scripts/gen-man.sh BIN OUTDIR
# The build runs it after linking leanpix (man/CMakeLists.txt), so a page cannot drift
# from --help; tests/test_man.c checks the result. The date in .TH is SOURCE_DATE_EPOCH's
# when it is set (reproducible packages), else none.
set -eu
[ $# -eq 2 ] || { echo "usage: $0 BIN OUTDIR" >&2; exit 2; }
bin=$1 outdir=$2
here=$(cd "$(dirname "$0")" && pwd)
date=""
if [ -n "${SOURCE_DATE_EPOCH:-}" ]; then
  date=$(date -u -d "@$SOURCE_DATE_EPOCH" +%Y-%m-%d)
fi
mkdir -p "$outdir"
# the help texts as a user on any terminal sees them (no locale or width effects)
LC_ALL=C awk -v bin="$bin" -v srcdir="$here/../man" -v outdir="$outdir" -v date="$date" \
  -f "$here/help.awk" -f "$here/gen-man.awk"
