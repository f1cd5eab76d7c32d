#!/usr/bin/env bash
# tests/test_layers.sh - no layer includes upward or sideways.
#
# The layers, their ranks, directories and public headers are the table under "## Layers"
# in docs/design.md: this script reads that table, so the documentation and the check
# cannot disagree. A file of layer A may include a header of layer B only when A is B or
# B's rank is lower than A's (server and profile share a rank: neither includes the other).
# Every #include "..." or <leanpix/...> of src/, tools/ and include/leanpix/ is resolved to
# a layer: "leanpix/X.h" by the table's public headers, "dir/X.h" by the directory src/dir/
# (or tools/), a bare "X.h" is the including file's own directory. A file in a directory
# or a public header missing from the table is an error too (add a row or a header to it).
#
# Usage: test_layers.sh [SOURCE_DIR]   (default: $LP_SOURCE_DIR, else the directory above
# this script)
set -u
root=${1:-${LP_SOURCE_DIR:-$(cd "$(dirname "$0")/.." && pwd)}}
cd "$root" || exit 2
table=docs/design.md

declare -A rank_of dir_layer header_layer
# Rows of the table: | rank | layer | directory | public headers | product |
while IFS='|' read -r _ rank layer dir headers _; do
  rank=${rank//[[:space:]]/}; layer=${layer//[[:space:]]/}
  dir=$(echo "$dir" | tr -d ' `'); dir=${dir%/}
  rank_of[$layer]=$rank
  dir_layer[$dir]=$layer
  for h in $(echo "$headers" | tr -d '`'); do header_layer[$h]=$layer; done
done < <(awk '/^## Layers/{on=1; next} /^## /{on=0} on && /^\| *[0-9]+ *\|/' "$table")

if [ ${#rank_of[@]} -lt 3 ]; then
  echo "test_layers: no layer table found under '## Layers' in $table" >&2
  exit 2
fi

fail=0
violation() { echo "$1"; fail=1; }

layer_of_file() {  # path of a source file -> layer (empty if its directory is not a layer)
  local d
  d=$(dirname "$1")
  if [ "$d" = include/leanpix ]; then echo "${header_layer[$(basename "$1")]:-}"; return; fi
  echo "${dir_layer[$d]:-}"
}

files=$(find src tools include/leanpix -name '*.[ch]' | sort)
for f in $files; do
  from=$(layer_of_file "$f")
  if [ -z "$from" ]; then
    violation "$f: not in a layer of the table in $table (add its directory or header)"
    continue
  fi
  while IFS=: read -r line inc; do
    case $inc in
      leanpix/*)
        to=${header_layer[${inc#leanpix/}]:-}
        [ -n "$to" ] || { violation "$f:$line: includes $inc, a public header missing from the table in $table"; continue; } ;;
      */*)
        d=${inc%/*}
        to=${dir_layer[src/$d]:-${dir_layer[$d]:-}}
        [ -n "$to" ] || { violation "$f:$line: includes $inc from a directory that is not a layer"; continue; } ;;
      *)
        to=$from ;;  # same directory
    esac
    [ "$to" = "$from" ] && continue
    if [ "${rank_of[$to]}" -ge "${rank_of[$from]}" ]; then
      if [ "${rank_of[$to]}" -eq "${rank_of[$from]}" ]; then how=sideways; else how=upward; fi
      violation "$f:$line: $from (rank ${rank_of[$from]}) includes $inc of $to (rank ${rank_of[$to]}): $how"
    fi
  done < <(grep -nE '^[[:space:]]*#[[:space:]]*include' "$f" |
           sed -nE 's/^([0-9]+):[[:space:]]*#[[:space:]]*include[[:space:]]*("([^"]+)"|<(leanpix\/[^>]+)>).*/\1:\3\4/p')
done

if [ $fail -ne 0 ]; then
  echo "test_layers: includes against the layer table in $table (see its '## Layers' section)" >&2
  exit 1
fi
echo "test_layers: $(echo "$files" | wc -l) files, ${#rank_of[@]} layers, no upward or sideways include"
