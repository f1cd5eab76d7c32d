#!/usr/bin/env bash
# tests/test_symbols.sh - libleanpix.so exports its public API and nothing else.
#
# The public API is what include/leanpix/*.h declares with LP_API (leanpix/export.h); the
# library is built with -fvisibility=hidden, so everything else stays inside it. Fails on
#  - an exported name that is not LP_API in a public header (an internal name leaking:
#    the build lost -fvisibility=hidden, or a helper is missing `static`/LP_API is misplaced),
#  - an LP_API name that libleanpix.so does not export (declared but never defined),
#  - a function of the library declared in a public header without LP_API (it would be
#    hidden: callers linking libleanpix.so could not find it).
# Names beginning with '_' belong to the toolchain (_init, sanitizer runtimes) and are not
# looked at; no public name begins with one.
#
# Usage: test_symbols.sh [LIBLEANPIX_SO LIBLEANPIX_A SOURCE_DIR]; ctest passes them in
# LP_LIBLEANPIX_SO, LP_LIBLEANPIX_A and LP_SOURCE_DIR (tests/CMakeLists.txt).
set -u
so=${1:-${LP_LIBLEANPIX_SO:?}} archive=${2:-${LP_LIBLEANPIX_A:?}} root=${3:-${LP_SOURCE_DIR:?}}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# The public headers without their comments, one string.
for h in "$root"/include/leanpix/*.h; do
  gcc -fpreprocessed -dD -E -P "$h" 2>/dev/null || { echo "test_symbols: cannot read $h" >&2; exit 2; }
done | grep -v "^[[:space:]]*#" | tr "\n" " " > "$tmp/headers"

# Names declared with LP_API: each declaration runs from LP_API to the next ';' or '{';
# a function's name is the last word before its first '(', a variable's the last word.
grep -oE 'LP_API[^;{]*' "$tmp/headers" | sed -E 's/^LP_API//' | while read -r decl; do
  case $decl in
    *'('*) decl=${decl%%(*} ;;
    *) decl=$(echo "$decl" | sed -E 's/\[.*//; s/=.*//') ;;
  esac
  echo "$decl" | grep -oE '[A-Za-z_][A-Za-z0-9_]*' | tail -1
done | sort -u > "$tmp/api"

nm -D --defined-only "$so" | awk '{print $NF}' | grep -v '^_' | sort -u > "$tmp/exported"
# Functions the library defines, whatever their visibility (the static archive).
nm -g --defined-only "$archive" 2>/dev/null | awk '$2 ~ /^[TW]$/ {print $3}' | sort -u > "$tmp/defined"
# Of those, the ones a public header declares or calls (name followed by '(').
while read -r name; do
  grep -qE "(^|[^A-Za-z0-9_])$name[[:space:]]*\\(" "$tmp/headers" && echo "$name"
done < "$tmp/defined" > "$tmp/declared"

fail=0
report() {  # title, file of names
  if [ -s "$2" ]; then
    echo "$1:"
    sed 's/^/  /' "$2"
    fail=1
  fi
}
comm -23 "$tmp/exported" "$tmp/api" > "$tmp/leaked"
comm -13 "$tmp/exported" "$tmp/api" > "$tmp/missing"
comm -23 "$tmp/declared" "$tmp/api" > "$tmp/unmarked"
report "exported by $(basename "$so") but not LP_API in include/leanpix/ (internal names must stay hidden)" "$tmp/leaked"
report "LP_API in include/leanpix/ but not exported by $(basename "$so") (declared, never defined?)" "$tmp/missing"
report "declared in include/leanpix/ without LP_API (hidden from $(basename "$so"))" "$tmp/unmarked"

if [ "$(wc -l < "$tmp/api")" -eq 0 ]; then
  echo "no LP_API declaration found in $root/include/leanpix/"
  fail=1
fi
[ $fail -eq 0 ] && echo "test_symbols: $(wc -l < "$tmp/exported") exported names, exactly the LP_API declarations"
exit $fail
