#!/usr/bin/env bash
# packaging/build-deb.sh - build the Debian package: a Release build of leanpix configured
# for /usr (no tests), then CPack's DEB generator (CMakeLists.txt, the CPack block), whose
# Depends line dpkg-shlibdeps computes. Prints the path of the .deb on stdout.
#
# Usage: packaging/build-deb.sh [BUILD_DIR]   (default: build-package; `make package`)
# Needs dpkg-dev (dpkg-shlibdeps): scripts/deps.sh package.
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-build-package}
jobs=${JOBS:-$(nproc)}
cmake -S "$src" -B "$build" -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX=/usr \
  -DLP_BUILD_TESTS=OFF -DLP_WERROR=ON >/dev/null
MAKEFLAGS=--no-print-directory cmake --build "$build" -j "$jobs" >/dev/null
rm -f "$build"/leanpix_*.deb
# cpack's progress and CPackDeb's notes go to a log, shown only when it fails.
(cd "$build" && cpack -G DEB >cpack.log 2>&1) || { cat "$build/cpack.log" >&2; exit 1; }
deb=$(ls "$build"/leanpix_*.deb)
echo "$(cd "$(dirname "$deb")" && pwd)/$(basename "$deb")"
