#!/usr/bin/env bash
# scripts/fuzz-seeds.sh - writes the small seed corpora of the libFuzzer harnesses (fuzz/),
# one directory per harness under OUT, from nothing but this build's own tools (lp-mksample,
# leanpix convert/profile), libjpeg-turbo's cjpeg/djpeg and a few text snippets below. When
# ../shared (LP_SHARED_DIR) is there, a few of its small MetaRefCard files are copied in too
# (into OUT, a build directory: never into the repository).
#
# Usage: scripts/fuzz-seeds.sh BUILD_DIR OUT_DIR
#   BUILD_DIR holds leanpix and lp-mksample; OUT_DIR/<harness>/ is emptied and refilled.
# The inputs follow each harness's layout (see the comment at the top of fuzz/fuzz_*.c):
# image harnesses take a leading shrink byte, multi-file harnesses a separator.
set -euo pipefail

build=${1:?usage: fuzz-seeds.sh BUILD_DIR OUT_DIR}
out=${2:?usage: fuzz-seeds.sh BUILD_DIR OUT_DIR}
lp="$build/leanpix"
mksample="$build/lp-mksample"
here=$(cd "$(dirname "$0")/.." && pwd)
shared=${LP_SHARED_DIR:-$here/../shared}
mrc="$shared/metarefcard"
for tool in "$lp" "$mksample"; do
  [ -x "$tool" ] || { echo "fuzz-seeds.sh: $tool is missing (build it first)" >&2; exit 1; }
done

harnesses=(jpeg_source png_source webp_source tiff_source metadata fs2020_xml sws_profile
  yaml_config http_request profile_json batch_resume heif_source avif_source)
for h in "${harnesses[@]}"; do
  rm -rf "${out:?}/$h"
  mkdir -p "$out/$h"
done
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# ---- images: a photo-like sample in the formats and variants the decoders meet ----
"$mksample" "$tmp/s.png" 48 32 7
"$mksample" "$tmp/odd.png" 33 17 3
"$lp" convert "$tmp/s.png" "$tmp/base.jpg" --no-progress
"$lp" convert "$tmp/s.png" "$tmp/prog.jpg" --progressive --no-progress
"$lp" convert "$tmp/odd.png" "$tmp/444.jpg" --chroma 444 --quality 95 --no-progress
djpeg -pnm "$tmp/base.jpg" > "$tmp/s.ppm"
cjpeg -arithmetic "$tmp/s.ppm" > "$tmp/arith.jpg"
cjpeg -restart 1 -optimize "$tmp/s.ppm" > "$tmp/restart.jpg"
cjpeg -grayscale -progressive "$tmp/s.ppm" > "$tmp/gray.jpg"
# a JPEG with an EXIF APP1 right after SOI: big-endian TIFF, one IFD0 entry, orientation 6
exif='MM\x00\x2a\x00\x00\x00\x08\x00\x01\x01\x12\x00\x03\x00\x00\x00\x01\x00\x06\x00\x00\x00\x00\x00\x00'
printf "$exif" > "$tmp/exif.tiff"
{ printf '\xff\xd8\xff\xe1\x00\x22Exif\x00\x00'; cat "$tmp/exif.tiff"; tail -c +3 "$tmp/base.jpg"; } \
  > "$tmp/exif.jpg"
"$lp" convert "$tmp/exif.jpg" "$tmp/exif.png" --no-progress
"$lp" convert "$tmp/exif.jpg" "$tmp/exif.webp" --no-progress
"$lp" convert "$tmp/exif.jpg" "$tmp/exif.avif" --speed 10 --no-progress
"$lp" convert "$tmp/odd.png" "$tmp/small.png" --scale 0.5 --no-progress

n=0
for f in base prog 444 arith restart gray exif; do
  for shrink in '\x00' '\x03'; do
    n=$((n + 1))
    { printf "$shrink"; cat "$tmp/$f.jpg"; } > "$out/jpeg_source/seed-$f-$n"
  done
done
for f in s odd exif small; do
  { printf '\x00'; cat "$tmp/$f.png"; } > "$out/png_source/seed-$f"
done
# WebP: ours (lossy, EXIF), cwebp's lossless and alpha; TIFF: ImageMagick's variants
cwebp -quiet -lossless "$tmp/odd.png" -o "$tmp/lossless.webp"
cwebp -quiet -q 60 -alpha_q 50 "$tmp/s.png" -o "$tmp/lossy.webp"
for f in exif lossless lossy; do
  for shrink in '\x00' '\x03'; do
    { printf "$shrink"; cat "$tmp/$f.webp"; } > "$out/webp_source/seed-$f-${shrink:3}"
  done
done
im=/usr/bin/convert  # ImageMagick's (a stand-in may be first on PATH)
if [ -x "$im" ]; then
  i=0
  for args in "-compress lzw" "-compress zip -define tiff:tile-geometry=16x16" "-compress jpeg" \
      "-compress rle -colorspace gray" "-colors 16 -type palette" "-colorspace cmyk -depth 16" \
      "-alpha set -define tiff:alpha=associated" "-type bilevel -orient right-top"; do
    i=$((i + 1))
    # shellcheck disable=SC2086  # args are words
    "$im" "$tmp/odd.png" $args "$tmp/t$i.tif"
    { printf '\x00'; cat "$tmp/t$i.tif"; } > "$out/tiff_source/seed-$i"
  done
fi
for f in base.jpg exif.jpg exif.png exif.webp exif.avif small.png; do
  cp "$tmp/$f" "$out/batch_resume/seed-$f"
done
printf '.photo.avif.lp-a1B2c3\n' > "$out/batch_resume/seed-tempname"

# ---- HEIF/AVIF: our AVIF writer (one frame, grid, 10-bit, EXIF), and when installed
# heif-enc (HEIC: 8-bit, 10-bit, alpha, metadata) and avifenc (irot/imir, alpha) ----
"$lp" convert "$tmp/odd.png" "$tmp/frame.avif" --speed 10 --no-progress
"$mksample" "$tmp/wide.png" 160 96 5
"$lp" convert "$tmp/wide.png" "$tmp/grid.avif" --speed 10 --grid 64x64 --no-progress
"$lp" convert "$tmp/odd.png" "$tmp/deep.avif" --speed 10 --depth 10 --no-progress
avifs=(frame grid deep exif)
if command -v avifenc >/dev/null 2>&1; then
  avifenc -s 10 --irot 1 --imir 0 "$tmp/odd.png" "$tmp/turned.avif" >/dev/null 2>&1 && avifs+=(turned)
  avifenc -s 10 -y 444 "$tmp/s.png" "$tmp/y444.avif" >/dev/null 2>&1 && avifs+=(y444)
fi
for f in "${avifs[@]}"; do
  { printf '\x00'; cat "$tmp/$f.avif"; } > "$out/avif_source/seed-$f"
  { printf '\x00'; cat "$tmp/$f.avif"; } > "$out/heif_source/seed-avif-$f"  # libheif reads AVIF too
done
if command -v heif-enc >/dev/null 2>&1 && heif-enc --list-encoders 2>/dev/null | grep -q x265; then
  heif-enc -q 50 -o "$tmp/s.heic" "$tmp/s.png" >/dev/null 2>&1
  heif-enc -q 50 -o "$tmp/odd.heic" "$tmp/odd.png" >/dev/null 2>&1
  heif-enc -q 50 -o "$tmp/exif.heic" "$tmp/exif.jpg" >/dev/null 2>&1
  "$lp" convert "$tmp/odd.png" "$tmp/deep.png" --depth 16 --no-progress
  heif-enc -q 50 -b 10 -o "$tmp/deep.heic" "$tmp/deep.png" >/dev/null 2>&1
  for f in s odd exif deep; do
    [ -f "$tmp/$f.heic" ] && { printf '\x00'; cat "$tmp/$f.heic"; } > "$out/heif_source/seed-$f"
  done
fi

# ---- metadata: EXIF LPMETA ICC LPMETA XMP, for each output format ----
xmp='<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description xmlns:tiff="http://ns.adobe.com/tiff/1.0/" tiff:Orientation="6"/></rdf:RDF></x:xmpmeta>'
icc=$(ls /usr/share/color/icc/sRGB.icc /usr/share/color/icc/*.icc 2>/dev/null | head -1 || true)
for fmt in 0 1 2 3; do
  { printf "\\x$(printf %02x "$fmt")"; cat "$tmp/exif.tiff"; printf LPMETA;
    if [ -n "$icc" ]; then head -c 4096 "$icc"; fi; printf LPMETA; printf '%s' "$xmp"; } \
    > "$out/metadata/seed-all-$fmt"
  { printf "\\x$(printf %02x $((fmt | 4)))"; cat "$tmp/exif.tiff"; } > "$out/metadata/seed-exif-$fmt"
done

# ---- FS2020 XML (the demo data set's stick) ----
cat > "$out/fs2020_xml/seed-demo" <<'EOF'
<?xml version="1.0" encoding="UTF-8"?>
<Version Num="1"/>
<FriendlyName>Seed</FriendlyName>
<Device DeviceName="leanpix Demo Stick" GUID="{00000000-0000-0000-0000-000000000000}">
<Context ContextName="PLANE">
<Action ActionName="KEY_BRAKES" Flag="2"><Primary><KEY Information="Button3">2</KEY></Primary></Action>
<Action ActionName="KEY_GEAR_TOGGLE"><Primary><KEY Information="Button2">1</KEY></Primary><Secondary><KEY Information="Button1">0</KEY></Secondary></Action>
<Action ActionName="KEY_THROTTLE_AXIS_SET_EX1"><Primary><KEY Information="Slider X">9</KEY></Primary></Action>
<Action ActionName="KEY_AXIS_AILERONS_SET"><Primary><KEY Information="R-Axis X">9</KEY></Primary></Action>
<Action ActionName="KEY_COCKPIT_LOOK_LEFT"><Primary><KEY Information="Pov1_Left">9</KEY></Primary></Action>
</Context>
<Context ContextName="CAMERA">
<Action ActionName="KEY_PAUSE_TOGGLE"><Primary><KEY Information="Rotation Z">1</KEY></Primary></Action>
</Context>
</Device>
EOF
{ cat "$out/fs2020_xml/seed-demo"; printf '\n--LPFILE--\n';
  printf '<DefaultInput><Device DeviceName="Mystery Yoke"><Context ContextName="X"/></Device></DefaultInput>\n'; } \
  > "$out/fs2020_xml/seed-two-files"

# ---- SWS .profile ----
cat > "$out/sws_profile/seed-demo" <<'EOF'
GstInput.JoystickDevice0 leanpix Demo Stick
GstKeyBinding.IncomStarshipInputConcepts.ConceptFire.0.button 2
GstKeyBinding.IncomStarshipInputConcepts.ConceptFire.0.deviceid 0
GstKeyBinding.IncomStarshipInputConcepts.ConceptRoll.0.axis 10
GstKeyBinding.IncomStarshipInputConcepts.ConceptRoll.0.deviceid 0
GstKeyBinding.IncomDefaultInputConcepts.ConceptMenu.0.button 86
GstKeyBinding.IncomDefaultInputConcepts.ConceptMenu.0.deviceid 0
GstKeyBinding.IncomSoldierInputConcepts.ConceptThrottle.1.axis 8
GstKeyBinding.IncomSoldierInputConcepts.ConceptThrottle.1.deviceid 0
EOF
sed 's/$/\r/' "$out/sws_profile/seed-demo" > "$out/sws_profile/seed-crlf"

# ---- YAML data set: a start byte, then config #LPFILE devices #LPFILE devices #LPFILE
# fs2020 #LPFILE sws (from the start byte's file on) ----
{ printf '\x00'; cat; } > "$out/yaml_config/seed-small" <<'EOF'
Version: "0.1"
DefaultImage: { w: 3840, h: 2160 }
PixelMultiplier: 0.5
JpgQuality: 90
InputFont: DejaVuSans.ttf
InputFontSize: 40
LightColour: "#ffffffff"
AlternateColours: ["#2780e3ff", "#ff0039a6"]
#LPFILE
DeviceMap:
  DemoStick:
    1: { x: 2500, y: 400, w: 1200, h: 100 }
    XAxis: { x: 2500, y: 1400, w: 1200, h: 100 }
ImageMap: { DemoStick: demostick }
DeviceNameMap: { leanpix Demo Stick: DemoStick }
DeviceLabelsByImage: { demostick: "leanpix Demo Stick" }
#LPFILE
DeviceMap: { DemoStick: { 2: { x: 1, y: 2, w: 3, h: 4 } } }
#LPFILE
Logo: fs2020
Regexes:
  Button: Button\s*(\d+)
  Axis: (?:([R])-)?Axis\s*([XYZ])
  Pov: (?i)Pov(\d?)[\s_]([[:alpha:]]+)
  Rotation: Rotation\s*([XYZ])
  Slider: Slider\s*([XYZ])
InputMap: { DemoStick: { Slider: { X: Z } } }
InputLabels: { KEY_BRAKES: Brakes }
#LPFILE
Logo: sws
Regexes:
  Joystick: ^GstInput.JoystickDevice(\d+)(?:\s+(.*))$
  Bind: ^GstKeyBinding\.Incom(Default|Soldier|Starship)InputConcepts\.Concept(.+)\.(\d+)\.(.+)\s+(.+)$
InputMapping2: { DemoStick: { 8: { Axis: ZAxis } } }
InputLabels: { Fire: Fire }
EOF

# ---- HTTP requests, as a client sends them ----
req() {  # req NAME METHOD PATH [BODYFILE BOUNDARY]
  local f="$out/http_request/seed-$1"
  if [ $# -eq 3 ]; then
    printf '%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n' "$2" "$3" > "$f"
  else
    printf '%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: multipart/form-data; boundary=%s\r\nContent-Length: %s\r\n\r\n' \
      "$2" "$3" "$5" "$(wc -c < "$4")" > "$f"
    cat "$4" >> "$f"
  fi
}
part() {  # part BOUNDARY FILENAME CONTENTFILE...
  local b=$1 name=$2
  shift 2
  for c in "$@"; do
    printf -- '--%s\r\nContent-Disposition: form-data; name="file"; filename="%s"\r\nContent-Type: application/octet-stream\r\n\r\n' "$b" "$name"
    cat "$c"
    printf '\r\n'
  done
  printf -- '--%s--\r\n' "$b"
}
req index GET /
req healthz GET /healthz
req metrics GET /metrics
req page GET /fs2020
req card GET /v1/cards/0123456789abcdef.jpg
part XyZ demo.xml "$out/fs2020_xml/seed-demo" > "$tmp/fs.body"
req upload-fs2020 POST /api/fs2020 "$tmp/fs.body" XyZ
part b0undary demo.profile "$out/sws_profile/seed-demo" "$out/sws_profile/seed-crlf" > "$tmp/sws.body"
req upload-sws-v1 POST /v1/cards/sws "$tmp/sws.body" b0undary
printf 'POST /api/sws HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999\r\n\r\n' > "$out/http_request/seed-too-long"
printf 'POST /api/fs2020 HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Type: multipart/form-data; boundary=q\r\n\r\n5\r\n--q\r\n\r\n0\r\n\r\n' \
  > "$out/http_request/seed-chunked"

# ---- profile JSON: a real record of this build's profiler ----
"$lp" profile --quiet -o "$out/profile_json/seed-sleep.json" -- sleep 0.05 >/dev/null 2>&1 || true
printf '{"schema":"leanpix-profile","schema_version":1,"samples":[],"processes":[]}' \
  > "$out/profile_json/seed-minimal.json"

# ---- from ../shared when present: real uploads and the real data set ----
if [ -d "$mrc/testdata" ]; then
  for f in T.16000M.xml Logitech_Extreme_3D.xml T.Flight_Hotas_X.xml; do
    if [ -f "$mrc/testdata/fs2020/$f" ]; then cp "$mrc/testdata/fs2020/$f" "$out/fs2020_xml/shared-$f"; fi
  done
  for f in "$mrc"/testdata/sws/*.profile; do
    if [ -f "$f" ]; then cp "$f" "$out/sws_profile/shared-$(basename "$f")"; fi
  done
fi
if [ -d "$mrc/config" ]; then  # each file alone, with the start byte naming its kind
  i=0
  for f in config devices devices fs2020 sws; do
    if [ $i -eq 1 ]; then f=generatedDevices; fi
    if [ -f "$mrc/config/$f.yaml" ]; then
      { printf "\\x0$i"; head -c 65536 "$mrc/config/$f.yaml"; } > "$out/yaml_config/shared-$f"
    fi
    i=$((i + 1))
  done
fi
echo "fuzz-seeds.sh: $(find "$out" -type f | wc -l) seeds in $out"
