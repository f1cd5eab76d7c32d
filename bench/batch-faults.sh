#!/usr/bin/env bash
# bench/batch-faults.sh [LEANPIX] - what fresh pages cost a batch, and what huge pages buy.
#
# Every AVIF grid cell gets a new libaom encoder (about 70 MiB for a 2176 px cell, most of
# it in blocks over the 1 MiB mmap threshold src/batch/alloc.c fixes), so each cell's
# memory is mapped, faulted in page by page, zeroed by the kernel and unmapped again; with
# two workers the unmaps also interrupt the other CPU (TLB shoot-downs, costly in a VM).
# That is system time, not memory. glibc can ask for transparent huge pages on its mmapped
# blocks (GLIBC_TUNABLES=glibc.malloc.hugetlb=1, glibc 2.35+, with THP in "madvise" or
# "always" mode): 512 times fewer faults and unmaps, at the cost of whole 2 MiB pages.
# This runs the same `leanpix batch --jobs 2 --max-mem 256M --speed 9` over the first N
# photos of the reference batch (hard links) as leanpix sets glibc up, then with huge
# pages, and prints wall, user and system seconds, minor faults and the peak RSS.
#
# Inputs: $REF_WORK/batch-1 (bench/reference-batch.sh --inputs-only). Environment:
# REF_WORK (bench/out/reference), N (40 photos), RUNS (2: each setting this many times,
# alternating). A quiet machine with 2 free CPUs: the figures are times. About 3 minutes.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=bench/lib.sh
. "$here/lib.sh"
case "${1:-}" in -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;; esac
resolve_leanpix batch-faults "${1:-}"
work=${REF_WORK:-$here/out/reference}
n=${N:-40} runs=${RUNS:-2}
[ -d "$work/batch-1" ] || { echo "batch-faults: no $work/batch-1: run bench/reference-batch.sh --inputs-only first" >&2; exit 2; }
out=$work/batch-faults
rm -rf "$out"; mkdir -p "$out/in"
awk -F'\t' -v n="$n" '$2 == "photo" && taken++ < n { print $1 }' "$work/batch-1/manifest.tsv" |
  while read -r f; do ln "$work/batch-1/$f" "$out/in/$f"; done
echo "batch-faults: $(ls "$out/in" | wc -l) photos; $(date -u +%Y-%m-%dT%H:%MZ), load $(cut -d' ' -f1 /proc/loadavg); THP $(cat /sys/kernel/mm/transparent_hugepage/enabled 2>/dev/null)"
printf "| %-32s | %6s | %6s | %6s | %10s | %12s |\n" setting "wall s" "user s" "sys s" "minor faults" "peak RSS MiB"
printf "| %-32s | %6s | %6s | %6s | %10s | %12s |\n" --- --- --- --- --- ---
one() {  # LABEL TUNABLES
  rm -rf "$out/o"
  GLIBC_TUNABLES=$2 /usr/bin/time -f "%e %U %S %R %M" -o "$out/time.txt" "$leanpix" batch --no-progress \
    --jobs 2 --max-mem 256M -q 60 --speed 9 --chroma 420 --depth 8 -o "$out/o" "$out/in" > /dev/null
  read -r wall user sys faults kib < "$out/time.txt"
  printf "| %-32s | %6.1f | %6.1f | %6.1f | %10d | %12.1f |\n" "$1" "$wall" "$user" "$sys" "$faults" "$(awk -v k="$kib" 'BEGIN { print k / 1024 }')"
}
for _ in $(seq "$runs"); do
  one "glibc as leanpix sets it" ""
  one "+ glibc.malloc.hugetlb=1" glibc.malloc.hugetlb=1
done
