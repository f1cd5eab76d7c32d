#!/bin/bash
# mkroot.sh - the runtime file system of the leanpix image (Containerfile, stage rootfs):
# copies into ROOT only what the installed leanpix runs with, for a `FROM scratch` stage.
#
#   - the programs: leanpix, dash (the entrypoint's /bin/sh) and bash (the HEALTHCHECK's
#     /dev/tcp);
#   - the shared libraries they load, as the dynamic loader resolves them (ldd: the
#     whole closure, the loader included), each under its real path with its soname
#     link, so nothing of apt, dpkg, perl or coreutils comes along;
#   - the built-in demo data set's font (fonts-dejavu-core's files);
#   - /etc/passwd and /etc/group with root and leanpix (uid/gid 10001), ld.so.cache,
#     an empty /proc, /dev, /sys and a sticky /tmp;
#   - the Debian copyright file of every package a copied file comes from.
# The Containerfile's runtime stage runs the programs from ROOT alone (RUN leanpix
# --version), which fails if a library is missing.
#
# Usage: mkroot.sh ROOT   (in a Debian 12 where leanpix and fonts-dejavu-core are installed)
set -euo pipefail
root=$1
mkdir -p "$root"/{usr/bin,usr/lib,usr/lib64,usr/local/bin,usr/share/doc,etc,proc,dev,sys,tmp}
chmod 1777 "$root/tmp"
for d in bin sbin lib lib64; do
  [ -e "$root/$d" ] || ln -s "usr/$d" "$root/$d"
done
mkdir -p "$root/usr/sbin"

packages=()
owner() {   # the packages that own a file named like $1 (merged /usr: /lib and /usr/lib)
  dpkg-query -S "*/$(basename "$1")" 2>/dev/null | sed 's/: .*//' | tr ',' '\n' | sed 's/^ *//; s/:.*//' || true
}
# copy one file: its real path, and the path asked for as a link to it when they differ
copy() {
  local path=$1 real dir
  real=$(realpath "$path")
  dir=$(realpath "$(dirname "$path")")
  if [ ! -e "$root$real" ]; then
    mkdir -p "$root$(dirname "$real")"
    cp -p "$real" "$root$real"
  fi
  if [ "$dir/$(basename "$path")" != "$real" ] && [ ! -e "$root$dir/$(basename "$path")" ]; then
    mkdir -p "$root$dir"
    ln -s "$real" "$root$dir/$(basename "$path")"
  fi
  mapfile -t -O ${#packages[@]} packages < <(owner "$real"; owner "$path")
}

programs=(/usr/bin/leanpix /usr/bin/dash /usr/bin/bash)
for p in "${programs[@]}"; do
  copy "$p"
done
ln -sf dash "$root/usr/bin/sh"
# the loader and libraries: "name => /path (addr)" and the loader's "/path (addr)" lines
ldd "${programs[@]}" | awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\// && $2 ~ /^\(0x/ {print $1}' |
  sort -u > /tmp/mkroot.libs
grep -q . /tmp/mkroot.libs || { echo "mkroot.sh: ldd found no libraries" >&2; exit 1; }
while read -r lib; do
  copy "$lib"
done < /tmp/mkroot.libs
while read -r font; do   # the font files only: leanpix reads them, not fontconfig
  case $font in *.ttf) copy "$font" ;; esac
done < <(dpkg-query -L fonts-dejavu-core)
cp -p /etc/ld.so.cache "$root/etc/"
printf 'root:x:0:0:root:/root:/usr/sbin/nologin\nleanpix:x:10001:10001:leanpix:/nonexistent:/usr/sbin/nologin\n' \
  > "$root/etc/passwd"
printf 'root:x:0:\nleanpix:x:10001:\n' > "$root/etc/group"
for pkg in $(printf '%s\n' "${packages[@]}" | sed '/^$/d' | sort -u); do
  if [ -f "/usr/share/doc/$pkg/copyright" ]; then
    mkdir -p "$root/usr/share/doc/$pkg"
    cp -p "/usr/share/doc/$pkg/copyright" "$root/usr/share/doc/$pkg/"
  fi
done
echo "mkroot.sh: $(wc -l < /tmp/mkroot.libs) libraries, $(printf '%s\n' "${packages[@]}" | sort -u | wc -l) packages' copyrights, $(du -sh "$root" | cut -f1)"
