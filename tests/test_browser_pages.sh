#!/usr/bin/env bash
# test_browser_pages.sh - leanpix serve's card pages in Debian's chromium, driven by
# tests/browser/pages.test.mjs (playwright-core from npm, installed into
# tests/browser/node_modules by `scripts/deps.sh test` with npm ci). Exit 77 (ctest: skipped)
# with the reason when node, chromium, playwright-core or ../shared is missing.
# LP_UPDATE_SCREENSHOTS=1 also writes the screenshots into docs/images/.
set -uo pipefail
src=${LP_SOURCE_DIR:-$(cd "$(dirname "$0")/.." && pwd)}
command -v node >/dev/null || { echo "SKIP: node is not installed (scripts/deps.sh test)"; exit 77; }
exec node "$src/tests/browser/pages.test.mjs"
