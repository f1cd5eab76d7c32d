#!/usr/bin/env bash
# scripts/container.sh - build the leanpix container image (Containerfile) from Debian's
# packages alone and smoke-test it (`make container-test`).
#
#  1. Base: no container registry need be reachable, only Debian's archive. mmdebstrap
#     makes a minbase Debian 12 (bookworm) with this machine's apt sources (the
#     /etc/apt/sources.list* files that name a debian.org mirror, or LP_CONTAINER_SOURCES),
#     merged /usr (usr-is-merged, not the usrmerge script and its perl), and docs, man
#     pages and locales excluded as in debian:bookworm-slim; `podman import` makes it the
#     image localhost/leanpix-base:bookworm. Made once; LP_CONTAINER_REBASE=1 remakes it.
#  2. Image: `podman build --isolation chroot --format docker` (docker format keeps the
#     HEALTHCHECK) with BASE pointing at that image: localhost/leanpix:VERSION (+ :latest).
#  3. Smoke test, on the image's root file system: `podman run` cannot start containers on
#     hosts with hybrid cgroups, so the test mounts the image (`podman image mount`, read
#     only), gives it /proc, /dev, /sys (for the cgroup files) and a tmpfs /tmp, and runs
#     in it with chroot as the image's user (uid 10001) with the image's environment:
#       - leanpix --version (through the entrypoint);
#       - a convert of a generated 640x480 PNG to AVIF and to JPEG (--json);
#       - the default command (entrypoint `serve`) with PORT set, in a memory cgroup of
#         64 MiB when one can be made: it must listen on 0.0.0.0:PORT as uid 10001 and
#         take its budget from the cgroup (75% minus 16 MiB = 32 MiB, below the default
#         80 MiB, and 1 worker); then the image's HEALTHCHECK command,
#         GET /healthz, a card of the demo data set (POST /v1/cards/fs2020), and SIGTERM
#         must stop it with status 0, after which the HEALTHCHECK command must fail.
#     The image's HEALTHCHECK, user, entrypoint and PORT are checked in its config.
#  4. Prints the image's size (`podman image inspect`, uncompressed; and gzipped, as
#     registries list sizes) against the 100 MB goal.
# The build stages stay in podman's layer cache for the next run (`podman image prune`
# frees them: about 1.2 GB).
# Any failure exits non-zero. Mounts, the server, the cgroup and the image mount are
# undone on exit (trap), whatever the outcome.
#
# Usage: scripts/container.sh [--no-build]   (--no-build: test the image already built)
# Needs root (mount, chroot, cgroups; podman's root storage) and the `container` set of
# scripts/deps.sh (installed here). Environment: JOBS (build stage's make -j, default 2),
# LP_CONTAINER_SOURCES (apt sources files for the base), LP_CONTAINER_REBASE=1.
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
build=1
[ "${1:-}" = --no-build ] && build=0
say() { printf 'container.sh: %s\n' "$*" >&2; }
fail() { say "FAILED: $*"; exit 1; }
[ "$(id -u)" -eq 0 ] || { say "needs root (podman image mount, chroot, cgroups): run it with sudo"; exit 1; }
"$src/scripts/deps.sh" container

version=$(sed -n 's/^project(leanpix VERSION \([0-9.]*\).*/\1/p' "$src/CMakeLists.txt")
base=localhost/leanpix-base:bookworm
image=localhost/leanpix:$version
jobs=${JOBS:-2}
chroot=$(command -v chroot)
log=$(mktemp)
# undone on exit: the server, the cgroup, the mounts, the image mount, scratch files
root="" server="" group="" scratch=$(mktemp -d)
cleanup() {
  [ -n "$server" ] && kill "$server" 2>/dev/null && wait "$server" 2>/dev/null
  if [ -n "$root" ]; then
    for m in tmp sys dev proc; do
      mountpoint -q "$root/$m" && umount -R "$root/$m"
    done
    podman image unmount "$image" >/dev/null || true
  fi
  [ -n "$group" ] && rmdir "$group" 2>/dev/null
  rm -rf "$scratch" "$log"
  return 0
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- 1. the base image, from Debian's packages -----------------------------------------
if [ "${LP_CONTAINER_REBASE:-0}" = 1 ] || ! podman image exists "$base"; then
  if [ -n "${LP_CONTAINER_SOURCES:-}" ]; then
    read -r -a sources <<<"$LP_CONTAINER_SOURCES"
  else
    mapfile -t sources < <(grep -ls 'debian\.org' /etc/apt/sources.list /etc/apt/sources.list.d/*.list \
      /etc/apt/sources.list.d/*.sources 2>/dev/null || true)
  fi
  [ ${#sources[@]} -gt 0 ] || fail "no Debian apt sources found (set LP_CONTAINER_SOURCES)"
  say "making $base with mmdebstrap (minbase bookworm; sources: ${sources[*]})"
  nice -n 10 mmdebstrap --quiet --variant=minbase \
    --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr \
    --aptopt='APT::Install-Recommends "false"' \
    --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/doc/*' \
    --dpkgopt='path-include=/usr/share/doc/*/copyright' \
    --dpkgopt='path-exclude=/usr/share/locale/*' --dpkgopt='path-exclude=/usr/share/info/*' \
    bookworm - "${sources[@]}" 2>"$log" | podman import --quiet - "$base" >/dev/null ||
    { cat "$log" >&2; fail "mmdebstrap | podman import"; }
fi

# --- 2. the image ----------------------------------------------------------------------
if [ "$build" = 1 ]; then
  say "building $image (podman build --isolation chroot; build stage make -j$jobs)"
  start=$(date +%s)
  nice -n 10 podman build --quiet --isolation chroot --format docker --pull=never \
    --build-arg BASE="$base" --build-arg JOBS="$jobs" \
    -t "$image" -t localhost/leanpix:latest -f "$src/Containerfile" "$src" >/dev/null
  say "built in $(( $(date +%s) - start )) s"
fi
podman image exists "$image" || fail "no image $image (run without --no-build)"

# --- 3. the smoke test -----------------------------------------------------------------

config() { podman image inspect --format "$1" "$image"; }
[ "$(config '{{.Config.User}}')" = 10001:10001 ] || fail "the image's user is not 10001:10001"
config '{{json .Config.Healthcheck}}' | grep -q leanpix-healthcheck || fail "the image has no HEALTHCHECK"
config '{{json .Config.Entrypoint}}' | grep -q leanpix-entrypoint || fail "the image's entrypoint is not leanpix-entrypoint"
mapfile -t image_env < <(config '{{range .Config.Env}}{{println .}}{{end}}' | sed '/^$/d')
printf '%s\n' "${image_env[@]}" | grep -qx 'PORT=8080' || fail "the image does not set PORT=8080"

root=$(podman image mount "$image")
mount -t proc proc "$root/proc"
mount --rbind /dev "$root/dev" && mount --make-rslave "$root/dev"
mount --rbind /sys "$root/sys" && mount --make-rslave "$root/sys"
mount -t tmpfs -o size=64m,mode=1777 tmpfs "$root/tmp"

# run CMD... in the image as its user, in its environment, from its WORKDIR
in_image() {
  env -i "${image_env[@]}" "$chroot" --userspec=10001:10001 "$root" sh -c 'cd /tmp && exec "$@"' sh "$@"
}
echo "+ leanpix --version"
in_image leanpix-entrypoint --version || fail "leanpix --version"

# a 640x480 RGB gradient PNG, written with the standard library only
python3 - "$root/tmp/in.png" <<'EOF'
import struct, sys, zlib
w, h = 640, 480
rows = b"".join(b"\0" + bytes(v for x in range(w) for v in (x * 255 // w, y * 255 // h, (x ^ y) & 255))
                for y in range(h))
chunk = lambda t, d: struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d))
open(sys.argv[1], "wb").write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
                              + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))
EOF
chmod 644 "$root/tmp/in.png"
for out in out.avif out.jpg; do
  echo "+ leanpix convert in.png $out --json"
  in_image leanpix-entrypoint convert in.png "$out" --json || fail "convert in.png $out"
  echo
done
head -c 12 "$root/tmp/out.avif" | grep -q ftypavif || fail "out.avif is not an AVIF file"
[ "$(head -c 3 "$root/tmp/out.jpg" | od -An -tx1 | tr -d ' ')" = ffd8ff ] || fail "out.jpg is not a JPEG file"

# the server in a memory cgroup, as a container platform runs it, when one can be made: a
# 64 MiB limit, under which the budget must come from the cgroup (above ~128 MiB the
# default 80 MiB binds and the line only names the cgroup)
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
limit=$((64 << 20))
memory=$(awk -F: '$2 == "memory" {print $3}' /proc/self/cgroup)
if [ -n "$memory" ] && [ -d "/sys/fs/cgroup/memory$memory" ]; then     # cgroup v1
  group=/sys/fs/cgroup/memory${memory%/}/leanpix-container-$$
  mkdir "$group" && echo "$limit" > "$group/memory.limit_in_bytes" || group=""
elif [ -f "/sys/fs/cgroup$(awk -F: '$1 == "0" {print $3}' /proc/self/cgroup)/memory.max" ]; then   # v2
  group=/sys/fs/cgroup$(awk -F: '$1 == "0" {print $3}' /proc/self/cgroup)/leanpix-container-$$
  group=${group/\/\//\/}
  mkdir "$group" && echo "$limit" > "$group/memory.max" || group=""
fi
[ -n "$group" ] || say "no memory cgroup can be made here: the budget check is skipped"
echo "+ PORT=$port leanpix-entrypoint serve   (the image's default command${group:+, memory cgroup of 64 MiB})"
(
  [ -n "$group" ] && echo $BASHPID > "$group/cgroup.procs"
  exec env -i "${image_env[@]/#PORT=*/PORT=$port}" "$chroot" --userspec=10001:10001 "$root" \
    sh -c 'cd /tmp && exec leanpix-entrypoint serve'
) >"$scratch/serve.out" 2>"$scratch/serve.err" &
server=$!
for _ in $(seq 300); do
  grep -q 'listening on' "$scratch/serve.out" && break
  kill -0 "$server" 2>/dev/null || { cat "$scratch/serve.err" >&2; fail "serve exited at start-up"; }
  sleep 0.1
done
cat "$scratch/serve.out"
grep -q "listening on http://0.0.0.0:$port " "$scratch/serve.out" || fail "serve does not listen on 0.0.0.0:\$PORT"
uid=$(awk '/^Uid:/ {print $2}' "/proc/$(pgrep -P "$server" -x leanpix || echo "$server")/status")
[ "$uid" = 10001 ] || fail "serve runs as uid $uid, not 10001"
echo "serve runs as uid $uid"
if [ -n "$group" ]; then
  grep -q '1 workers, .*budget 32 MiB: cgroup v[12] memory[._a-z]* 64 MiB' "$scratch/serve.out" ||
    fail "serve's budget is not 32 MiB and 1 worker from the 64 MiB cgroup"
fi
echo "+ leanpix-healthcheck   (the image's HEALTHCHECK)"
env -i "${image_env[@]/#PORT=*/PORT=$port}" "$chroot" --userspec=10001:10001 "$root" leanpix-healthcheck ||
  fail "the HEALTHCHECK command failed"
echo ok
echo "+ curl http://127.0.0.1:$port/healthz"
curl -sS --fail --max-time 5 "http://127.0.0.1:$port/healthz" || fail "GET /healthz"
echo
echo "+ curl -F file=@docs/examples/demo-fs2020.xml http://127.0.0.1:$port/v1/cards/fs2020"
answer=$(curl -sS --fail --max-time 60 -F "file=@$src/docs/examples/demo-fs2020.xml" \
  "http://127.0.0.1:$port/v1/cards/fs2020") || fail "POST /v1/cards/fs2020"
printf '%.300s\n' "$answer"
card=$(printf '%s' "$answer" | sed -n 's|.*"\(/v1/cards/[^"]*\.jpg\)".*|\1|p' | head -n 1)
[ -n "$card" ] || fail "no card in the answer"
curl -sS --fail --max-time 10 -o "$scratch/card.jpg" "http://127.0.0.1:$port$card" || fail "GET $card"
[ "$(head -c 3 "$scratch/card.jpg" | od -An -tx1 | tr -d ' ')" = ffd8ff ] || fail "$card is not a JPEG"
echo "$card: $(stat -c %s "$scratch/card.jpg") bytes of JPEG"
if [ -n "$group" ]; then
  peak=$(cat "$group/memory.max_usage_in_bytes" 2>/dev/null || cat "$group/memory.peak" 2>/dev/null || echo 0)
  echo "memory cgroup peak: $((peak >> 20)) MiB of 64 MiB"
fi
echo "+ kill -TERM serve"
kill -TERM "$server"
rc=0; wait "$server" || rc=$?
server=""
[ "$rc" = 0 ] || fail "serve exited with status $rc after SIGTERM"
echo "serve stopped, status 0"
echo "+ leanpix-healthcheck   (no server: must fail)"
if env -i "${image_env[@]/#PORT=*/PORT=$port}" "$chroot" --userspec=10001:10001 "$root" leanpix-healthcheck; then
  fail "the HEALTHCHECK command succeeds with no server"
fi

# --- 4. the size -----------------------------------------------------------------------
size=$(config '{{.Size}}')
mb=$(awk -v s="$size" 'BEGIN {printf "%.1f", s / 1e6}')
gz=$(podman save --quiet --format docker-archive "$image" | gzip -6 | wc -c)
echo "image $image: $mb MB ($size bytes, podman image inspect .Size: uncompressed);" \
  "$(awk -v s="$gz" 'BEGIN {printf "%.1f", s / 1e6}') MB as a gzipped archive (podman save | gzip -6)"
[ "$size" -lt 100000000 ] || say "note: over the 100 MB goal"
say "smoke test passed"
