#!/usr/bin/env bash
# tests/test_package.sh - the Debian package builds, says what it needs, installs with
# apt-get and works once installed.
#
#  1. packaging/build-deb.sh makes a Release build configured for /usr (its own, in the
#     scratch dir: ~10 s on 2 cores) and the .deb with CPack.
#  2. dpkg-deb -I: Depends was computed by dpkg-shlibdeps (not empty; names the codec,
#     HTTP and C libraries). dpkg-deb -c: the binary, libleanpix.so, the five man pages,
#     the bash and zsh completions and the systemd unit are in it.
#  3. apt-get install ./leanpix_*.deb into a scratch root: apt and dpkg are given the
#     scratch dir as their state, cache and root, and a copy of this machine's dpkg status
#     (so Depends is resolved against the libraries installed here, nothing is downloaded:
#     the package lists are an empty scratch dir too). Maintainer scripts run chrootless
#     with a stub ldconfig first in PATH, so this machine's ld.so.cache is not touched.
#     Nothing outside the scratch dir changes (apt's own state is the scratch dir's too).
#     Not root: under fakeroot (dpkg --force-not-root), or the install is skipped.
#  4. The installed leanpix: --version, and the demo's main job (a generated photo-like
#     JPEG converted to AVIF, checked with avifdec when present).
#  5. The unit: systemd-analyze verify (when systemd-analyze exists), with its ExecStart
#     pointed at the scratch root, and systemd-analyze security: exposure at most 2.0
#     (--threshold=20: its scale is 0-100, printed divided by 10): DynamicUser, no
#     capabilities, ProtectSystem=strict, @system-service...
# Skipped in sanitizer runs (the package is the plain Release build; one run is enough)
# and when dpkg-shlibdeps or apt-get is missing (scripts/deps.sh test installs dpkg-dev).
#
# Environment (tests/CMakeLists.txt): LP_SOURCE_DIR, LP_MKSAMPLE, LP_TEST_TMP, LP_SANITIZE.
set -eu
src=${LP_SOURCE_DIR:?} tmp=${LP_TEST_TMP:?}/test_package
fail() { echo "test_package: $*"; exit 1; }
if [ -n "${LP_SANITIZE:-}" ]; then echo "test_package: skipped in a sanitizer build"; exit 0; fi
for tool in dpkg-shlibdeps dpkg-deb apt-get; do
  command -v "$tool" >/dev/null || { echo "test_package: skipped: $tool missing (scripts/deps.sh test)"; exit 0; }
done
rm -rf "$tmp"; mkdir -p "$tmp"

# 1. build
deb=$(JOBS=2 "$src/packaging/build-deb.sh" "$tmp/build" 2>"$tmp/build.log") ||
  { cat "$tmp/build.log"; fail "packaging/build-deb.sh failed"; }
[ -f "$deb" ] || fail "no .deb from packaging/build-deb.sh"

# 2. metadata and contents
info=$(dpkg-deb -I "$deb")
depends=$(printf '%s\n' "$info" | sed -n 's/^ Depends: //p')
[ -n "$depends" ] || fail "the package has no Depends (dpkg-shlibdeps not run?)"
for lib in libc6 libavif15 libjpeg62-turbo libmicrohttpd12 libspng0; do
  case ", $depends" in *", $lib "*|*", $lib,"*) ;; *) fail "Depends lacks $lib: $depends" ;; esac
done
case $depends in *libleanpix*) fail "Depends names libleanpix: the CLI links it statically" ;; esac
printf '%s\n' "$info" | grep -q '^ Package: leanpix$' || fail "package name is not leanpix"
files=$(dpkg-deb -c "$deb" | awk '{print $6}')
for f in ./usr/bin/leanpix ./usr/lib/systemd/system/leanpix-serve.service \
    ./usr/share/bash-completion/completions/leanpix ./usr/share/zsh/vendor-completions/_leanpix \
    ./usr/share/man/man1/leanpix.1 ./usr/share/man/man1/leanpix-convert.1 \
    ./usr/share/man/man1/leanpix-batch.1 ./usr/share/man/man1/leanpix-serve.1 \
    ./usr/share/man/man1/leanpix-profile.1; do
  printf '%s\n' "$files" | grep -qx "$f" || fail "the package lacks $f"
done
printf '%s\n' "$files" | grep -q '^\./usr/lib/.*/libleanpix\.so\.0$' || fail "the package lacks libleanpix.so.0"

# 3. apt-get install ./leanpix_*.deb into a scratch root
root=$tmp/root
mkdir -p "$root/var/lib/dpkg/info" "$root/var/lib/dpkg/updates" "$root/var/lib/dpkg/triggers" \
  "$root/var/cache/apt/archives/partial" "$root/var/lib/apt/lists/partial" "$root/var/log/apt" \
  "$tmp/stub"
cp /var/lib/dpkg/status "$root/var/lib/dpkg/status"
touch "$root/var/lib/dpkg/available"
printf '#!/bin/sh\necho ldconfig >> "%s/ldconfig.calls"\n' "$tmp" > "$tmp/stub/ldconfig"
chmod +x "$tmp/stub/ldconfig"
asroot=""
if [ "$(id -u)" -ne 0 ]; then
  command -v fakeroot >/dev/null || { echo "test_package: skipped the install: not root and no fakeroot"; exit 0; }
  asroot="fakeroot"
fi
($asroot apt-get install -y --no-install-recommends \
  -o Dir::State="$root/var/lib/apt" -o Dir::State::status="$root/var/lib/dpkg/status" \
  -o Dir::State::Lists="$root/var/lib/apt/lists" -o Dir::Etc::SourceList=/dev/null -o Dir::Etc::SourceParts=/nonexistent \
  -o Dir::Cache="$root/var/cache/apt" -o Dir::Log="$root/var/log/apt" -o DPkg::Path="$tmp/stub:$PATH" \
  -o DPkg::Options::=--root="$root" -o DPkg::Options::=--admindir="$root/var/lib/dpkg" \
  -o DPkg::Options::=--force-script-chrootless -o DPkg::Options::=--no-triggers \
  -o DPkg::Options::=--log="$root/var/log/dpkg.log" ${asroot:+-o DPkg::Options::=--force-not-root} \
  "$deb" >"$tmp/apt.log" 2>&1) ||
  { grep -v 'files list file for package' "$tmp/apt.log"; fail "apt-get install $deb failed"; }
grep -q '^Setting up leanpix ' "$tmp/apt.log" || fail "apt-get did not set up leanpix (see $tmp/apt.log)"
dpkg-query --admindir="$root/var/lib/dpkg" -W -f='${Status}' leanpix | grep -q 'install ok installed' ||
  fail "leanpix is not 'install ok installed' in the scratch root"
[ -s "$tmp/ldconfig.calls" ] || fail "the package's postinst did not run ldconfig for libleanpix.so"

# 4. the installed binary
bin=$root/usr/bin/leanpix
version=$("$bin" --version) || fail "the installed leanpix --version fails"
case $version in "leanpix "[0-9]*) ;; *) fail "the installed leanpix --version printed '$version'" ;; esac
"${LP_MKSAMPLE:?}" "$tmp/photo.jpg" 1600 1200 7 >/dev/null
"$bin" convert "$tmp/photo.jpg" "$tmp/photo.avif" --stats --no-progress >"$tmp/convert.log" 2>&1 ||
  { cat "$tmp/convert.log"; fail "the installed leanpix cannot convert a photo to AVIF"; }
[ -s "$tmp/photo.avif" ] || fail "the installed leanpix wrote no AVIF"
if command -v avifdec >/dev/null; then
  avifdec --info "$tmp/photo.avif" 2>&1 | grep -q 'Resolution *: *1600x1200' ||
    fail "avifdec does not read a 1600x1200 AVIF from the installed leanpix"
fi

# 5. the systemd unit
unit=$root/usr/lib/systemd/system/leanpix-serve.service
grep -qx 'ExecStart=/usr/bin/leanpix serve $LEANPIX_SERVE_ARGS' "$unit" || fail "the unit's ExecStart is not /usr/bin/leanpix serve"
for key in DynamicUser=yes MemoryMax=128M ProtectSystem=strict ProtectHome=yes PrivateTmp=yes \
    NoNewPrivileges=yes 'RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX' SystemCallFilter=@system-service; do
  grep -qx "$key" "$unit" || fail "the unit lacks $key"
done
if command -v systemd-analyze >/dev/null; then
  # The unit as installed names /usr/bin/leanpix: verify a copy pointing into the scratch root.
  mkdir -p "$tmp/unit"
  sed "s#^ExecStart=/usr/bin/leanpix#ExecStart=$bin#" "$unit" > "$tmp/unit/leanpix-serve.service"
  out=$(MANPATH=$root/usr/share/man systemd-analyze verify "$tmp/unit/leanpix-serve.service" 2>&1) ||
    fail "systemd-analyze verify: $out"
  [ -z "$out" ] || fail "systemd-analyze verify warns: $out"
  systemd-analyze security --offline=yes --threshold=20 "$tmp/unit/leanpix-serve.service" >"$tmp/security.log" 2>&1 ||
    { tail -3 "$tmp/security.log"; fail "systemd-analyze security: the unit's exposure is above 2.0"; }
  exposure=$(sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p' "$tmp/security.log")
else
  echo "test_package: systemd-analyze missing: the unit's keys were checked, not verified"
fi
echo "test_package: $(basename "$deb") ($(stat -c %s "$deb") bytes) installs with apt-get into a scratch root;" \
  "leanpix --version and a JPEG->AVIF convert run; unit verified${exposure:+, exposure $exposure}"
