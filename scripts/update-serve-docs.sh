#!/usr/bin/env bash
# scripts/update-serve-docs.sh - rewrite docs/serve.md's option list from the server's
# option table (src/server/options.c), through `leanpix serve --help-markdown`.
#
# Usage: scripts/update-serve-docs.sh [LEANPIX]   (default: build/leanpix)
#
# Replaces the lines between the "serve-options" markers of docs/serve.md and nothing
# else. tests/test_serve_defaults.c fails while the committed list differs from what the
# binary prints, so run this after changing an option and commit the result.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
bin=${1:-$root/build/leanpix}
doc=$root/docs/serve.md
begin='<!-- serve-options: begin'
end='<!-- serve-options: end'

grep -q "^$begin" "$doc" && grep -q "^$end" "$doc" || {
    echo "update-serve-docs: $doc has no serve-options markers" >&2
    exit 1
}
list=$(mktemp)
out=$(mktemp)
trap 'rm -f "$list" "$out"' EXIT
"$bin" serve --help-markdown >"$list"
awk -v begin="$begin" -v end="$end" -v list="$list" '
    index($0, begin) == 1 { print; while ((getline line < list) > 0) print line; skip = 1; next }
    index($0, end) == 1 { skip = 0 }
    !skip { print }
' "$doc" >"$out"
if cmp -s "$out" "$doc"; then
    echo "docs/serve.md: option list up to date"
else
    cat "$out" >"$doc"
    echo "docs/serve.md: option list rewritten from $bin serve --help-markdown"
fi
