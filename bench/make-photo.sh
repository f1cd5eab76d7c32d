#!/usr/bin/env bash
# bench/make-photo.sh OUT.jpg WIDTH HEIGHT [SEED] [QUALITY]
#
# A photo-like JPEG from a real photograph in a Debian package (mate-backgrounds'
# Elephants_5640x3172.jpg), resampled to cover WIDTHxHEIGHT, cropped at a seed-dependent
# offset, with sensor-like Gaussian grain added (flat colours and smooth noise flatter
# encoders). LP_PHOTO_GRAIN sets the grain's standard deviation (default 6; 0 = none: a
# photo that compresses well; 12 = a high-ISO photo that compresses badly). Uses vips,
# streaming, so even a 216 MP output takes little memory.
set -euo pipefail
out=$1 w=$2 h=$3 seed=${4:-1} q=${5:-90}
src=${LP_PHOTO:-/usr/share/backgrounds/mate/abstract/Elephants_5640x3172.jpg}
[ -r "$src" ] || { echo "make-photo: $src missing (scripts/deps.sh bench installs mate-backgrounds)" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
sw=$(vipsheader -f width "$src"); sh=$(vipsheader -f height "$src")
# scale so that the image covers the target, with a little extra per seed for variety
scale=$(awk -v w="$w" -v h="$h" -v sw="$sw" -v sh="$sh" -v s="$seed" \
  'BEGIN { a = w / sw; b = h / sh; f = (a > b ? a : b) * (1 + (s % 7) * 0.03); printf "%.6f", f }')
vips resize "$src" "$tmp/big.v" "$scale" --kernel lanczos3
bw=$(vipsheader -f width "$tmp/big.v"); bh=$(vipsheader -f height "$tmp/big.v")
left=$(( (bw - w) * ((seed * 37) % 100) / 100 )); top=$(( (bh - h) * ((seed * 61) % 100) / 100 ))
vips crop "$tmp/big.v" "$tmp/crop.v" "$left" "$top" "$w" "$h"
grain=${LP_PHOTO_GRAIN:-6}
if [ "$grain" = 0 ]; then
  vips cast "$tmp/crop.v" "$tmp/u8.v" uchar
else
  vips gaussnoise "$tmp/noise.v" "$w" "$h" --sigma "$grain" --mean 0 --seed "$seed"
  vips add "$tmp/crop.v" "$tmp/noise.v" "$tmp/sum.v"
  vips cast "$tmp/sum.v" "$tmp/u8.v" uchar
fi
vips jpegsave "$tmp/u8.v" "$out" --Q "$q" --strip
