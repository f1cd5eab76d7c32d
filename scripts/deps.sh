#!/usr/bin/env bash
# scripts/deps.sh - install the Debian 12 packages leanpix needs, and only the missing ones.
#
# Usage: scripts/deps.sh [build|test|demo|bench|package|dist|container]...   (default: build)
#   build  compilers, CMake and the -dev packages the library links against
#   test   build + the independent decoders and tools the test suite checks outputs with
#          (groff and zsh check the man pages and completions, PyYAML the deploy/ manifests),
#          and clang 14 with its sanitizer/libFuzzer runtimes for the fuzz harnesses (fuzz/),
#          chromium and Node.js for the card pages' browser test (then `npm ci` installs
#          tests/browser's playwright-core into tests/browser/node_modules)
#   demo   build + avifdec (the demo verifies its own output)
#   bench  test + the peer tools and inputs the benchmarks compare against, and python3
#          (the bench tables and SVG charts: bench/*.py)
#   package  build + dpkg-dev and file (CPack's dpkg-shlibdeps step needs both; it computes the .deb's Depends; `make package`);
#          test includes it (tests/test_package.sh builds and installs the .deb)
#   dist   build + Slurm (controller, node daemon, client), MUNGE, avifdec and jq: the
#          single-node cluster tests/dist/test_slurm_array.sh starts (`make test-dist`)
#   container  mmdebstrap, podman, buildah and what rootless/chroot builds use (uidmap,
#          fuse-overlayfs, slirp4netns), curl for the smoke test
#          (`make container-test`, scripts/container.sh; not part of test)
#
# Idempotent and quiet when everything is present: it asks dpkg what is installed and calls
# apt-get only for what is missing (running `apt-get update` once first). Not root and
# something missing -> it uses sudo when there is one, else says what to install and fails.
set -euo pipefail

build_pkgs=(gcc make cmake pkg-config
  libjpeg62-turbo-dev libspng-dev libavif-dev libaom-dev libdav1d-dev libheif-dev libwebp-dev libyuv-dev
  libexif-dev libfreetype-dev libharfbuzz-dev libmicrohttpd-dev libyaml-dev libexpat1-dev
  libpcre2-dev libcmocka-dev libjansson-dev libtiff-dev libminizip-dev)
test_pkgs=(libavif-bin libjpeg-turbo-progs webp libheif-examples libvips-tools chromium icc-profiles-free
  fonts-dejavu-core curl imagemagick zlib1g-dev clang libclang-rt-14-dev groff-base zsh dpkg-dev file
  python3-yaml nodejs)
# npm: Debian's package, unless an npm is there already (NodeSource's nodejs ships its own and
# conflicts with Debian's npm)
command -v npm >/dev/null 2>&1 || test_pkgs+=(npm)
demo_pkgs=(libavif-bin fonts-dejavu-core)
package_pkgs=(dpkg-dev file)
dist_pkgs=(slurm-wlm slurmctld slurmd slurm-client munge libavif-bin jq)
container_pkgs=(mmdebstrap podman buildah uidmap fuse-overlayfs slirp4netns curl)
bench_pkgs=(time hyperfine wrk imagemagick mate-backgrounds libavif-bin libvips-tools
  libjemalloc2 libmimalloc2.0 python3)

want=()
[ $# -eq 0 ] && set -- build
# tests/browser's node modules (playwright-core, pinned by its package-lock.json), after the
# Debian packages; quiet when they are installed already
browser_modules() {
  local dir
  dir="$(cd "$(dirname "$0")/.." && pwd)/tests/browser"
  [ -d "$dir/node_modules/playwright-core" ] && return 0
  command -v npm >/dev/null 2>&1 || { echo "deps.sh: npm missing, cannot install $dir's modules" >&2; return 1; }
  echo "deps.sh: npm ci in $dir" >&2
  (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
}
case " $* " in *" test "*|*" bench "*) want_browser=1 ;; *) want_browser=0 ;; esac
for what in "$@"; do
  case "$what" in
    build) want+=("${build_pkgs[@]}") ;;
    test)  want+=("${build_pkgs[@]}" "${test_pkgs[@]}") ;;
    demo)  want+=("${build_pkgs[@]}" "${demo_pkgs[@]}") ;;
    bench) want+=("${build_pkgs[@]}" "${test_pkgs[@]}" "${bench_pkgs[@]}") ;;
    package) want+=("${build_pkgs[@]}" "${package_pkgs[@]}") ;;
    dist)  want+=("${build_pkgs[@]}" "${dist_pkgs[@]}") ;;
    container) want+=("${container_pkgs[@]}") ;;
    *) echo "deps.sh: unknown set '$what' (build, test, demo, bench, package, dist, container)" >&2; exit 2 ;;
  esac
done

missing=()
for p in $(printf '%s\n' "${want[@]}" | sort -u); do
  status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  [ "$status" = "install ok installed" ] || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  [ "$want_browser" = 0 ] || browser_modules || echo "deps.sh: test_browser_pages will be skipped" >&2
  exit 0
fi

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
[ "$want_browser" = 0 ] || browser_modules || echo "deps.sh: test_browser_pages will be skipped" >&2
exit 0
