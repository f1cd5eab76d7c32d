#!/usr/bin/env bash
# scripts/deps.sh - install the Debian 12 packages leanpix needs, and only the missing ones.
#
# Usage: scripts/deps.sh [build|test|demo|bench|package]...   (default: build)
#   build  compilers, CMake and the -dev packages the library links against
#   test   build + the independent decoders and tools the test suite checks outputs with
#          (groff and zsh check the man pages and completions),
#          and clang 14 with its sanitizer/libFuzzer runtimes for the fuzz harnesses (fuzz/)
#   demo   build + avifdec (the demo verifies its own output)
#   bench  test + the peer tools and inputs the benchmarks compare against, and python3
#          (the bench tables and SVG charts: bench/*.py)
#   package  build + dpkg-dev (dpkg-shlibdeps computes the .deb's Depends; `make package`);
#          test includes it (tests/test_package.sh builds and installs the .deb)
#
# Idempotent and quiet when everything is present: it asks dpkg what is installed and calls
# apt-get only for what is missing (running `apt-get update` once first). Not root and
# something missing -> it uses sudo when there is one, else says what to install and fails.
set -euo pipefail

build_pkgs=(gcc make cmake pkg-config
  libjpeg62-turbo-dev libspng-dev libavif-dev libaom-dev libdav1d-dev libheif-dev libwebp-dev libyuv-dev
  libexif-dev libfreetype-dev libharfbuzz-dev libmicrohttpd-dev libyaml-dev libexpat1-dev
  libpcre2-dev libcmocka-dev libjansson-dev libtiff-dev)
test_pkgs=(libavif-bin libjpeg-turbo-progs webp libheif-examples libvips-tools chromium icc-profiles-free
  fonts-dejavu-core curl imagemagick zlib1g-dev clang libclang-rt-14-dev groff-base zsh dpkg-dev)
demo_pkgs=(libavif-bin fonts-dejavu-core)
package_pkgs=(dpkg-dev)
bench_pkgs=(time hyperfine wrk imagemagick mate-backgrounds libavif-bin libvips-tools
  libjemalloc2 libmimalloc2.0 python3)

want=()
[ $# -eq 0 ] && set -- build
for what in "$@"; do
  case "$what" in
    build) want+=("${build_pkgs[@]}") ;;
    test)  want+=("${build_pkgs[@]}" "${test_pkgs[@]}") ;;
    demo)  want+=("${build_pkgs[@]}" "${demo_pkgs[@]}") ;;
    bench) want+=("${build_pkgs[@]}" "${test_pkgs[@]}" "${bench_pkgs[@]}") ;;
    package) want+=("${build_pkgs[@]}" "${package_pkgs[@]}") ;;
    *) echo "deps.sh: unknown set '$what' (build, test, demo, bench, package)" >&2; exit 2 ;;
  esac
done

missing=()
for p in $(printf '%s\n' "${want[@]}" | sort -u); do
  status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  [ "$status" = "install ok installed" ] || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

sudo=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then sudo="sudo"; else
    echo "deps.sh: missing packages: ${missing[*]} (run as root: apt-get install ${missing[*]})" >&2
    exit 1
  fi
fi
echo "deps.sh: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq >/dev/null
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
