#!/bin/sh
# scripts/gen-completions.sh - writes the bash completion (OUTDIR/leanpix) and the zsh one
# (OUTDIR/_leanpix) from the built binary's --help texts (scripts/gen-completions.awk says
# what is completed; completions/leanpix.bash.in is the bash completion function).
#
# Usage: scripts/gen-completions.sh BIN OUTDIR
# The build runs it after linking leanpix (completions/CMakeLists.txt); tests/test_man.c
# checks that every option of every --help is offered.
set -eu
[ $# -eq 2 ] || { echo "usage: $0 BIN OUTDIR" >&2; exit 2; }
bin=$1 outdir=$2
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$outdir"
LC_ALL=C awk -v bin="$bin" -v srcdir="$here/../completions" \
  -v bash_out="$outdir/leanpix" -v zsh_out="$outdir/_leanpix" \
  -f "$here/help.awk" -f "$here/gen-completions.awk"
