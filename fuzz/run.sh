#!/usr/bin/env bash
# fuzz/run.sh - runs the libFuzzer harnesses of a fuzz build dir (see fuzz/CMakeLists.txt).
#
#   fuzz/run.sh fuzz BUILD_DIR SECONDS [HARNESS...]   fuzz each harness for SECONDS
#   fuzz/run.sh test BUILD_DIR SECONDS [HARNESS...]   replay + smoke run (make test-fuzz)
#
# fuzz: each harness runs alone (one process: the machine is shared) on its persistent
#   working corpus $LP_FUZZ_CORPUS/NAME (default BUILD_DIR/corpus/NAME; new inputs are
#   added there) plus the generated
#   seeds BUILD_DIR/seeds/NAME and the reproducers fuzz/regressions/NAME, with its
#   dictionary and limits below. Findings go to BUILD_DIR/artifacts/NAME/. One summary line
#   per harness is appended to BUILD_DIR/fuzz-summary.txt (date, seconds, executions,
#   libFuzzer's final cov: and ft:, corpus size, findings) and printed.
# test: every seed and every reproducer is run once through its harness (a crash, leak,
#   UB or timeout fails), then each harness fuzzes for SECONDS from the seeds into a
#   scratch corpus (the persistent one is left alone). Exit status 1 if anything failed.
# No HARNESS: all of them (every fuzz_* executable in BUILD_DIR/fuzz).
set -uo pipefail

mode=${1:?usage: run.sh fuzz|test BUILD_DIR SECONDS [HARNESS...]}
build=${2:?build dir}
seconds=${3:?seconds}
shift 3
src=$(cd "$(dirname "$0")" && pwd)
bin="$build/fuzz"

# name: dictionary, -max_len, -timeout (s) per input
limits() {
  case "$1" in
    jpeg_source)  echo "jpeg 16384 10" ;;
    png_source)   echo "png 16384 10" ;;
    webp_source)  echo "webp 16384 10" ;;
    tiff_source)  echo "tiff 16384 10" ;;
    heif_source)  echo "heif 65536 20" ;;
    avif_source)  echo "heif 65536 20" ;;
    metadata)     echo "metadata 16384 10" ;;
    fs2020_xml)   echo "xml 65536 10" ;;
    sws_profile)  echo "sws 65536 10" ;;
    yaml_config)  echo "yaml 65536 10" ;;
    http_request) echo "http 65536 20" ;;
    profile_json) echo "json 32768 10" ;;
    batch_resume) echo "batch 4096 10" ;;
    *)            echo "- 4096 10" ;;
  esac
}

if [ $# -eq 0 ]; then
  for f in "$bin"/fuzz_*; do
    [ -x "$f" ] && set -- "$@" "${f##*/fuzz_}"
  done
fi
[ $# -gt 0 ] || { echo "run.sh: no harnesses in $bin (build the fuzz_all target)" >&2; exit 1; }

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:allocator_may_return_null=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
# leaks inside codec libraries that we cannot fix (each one explained in the file)
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$src/lsan.supp:print_suppressions=0}
failed=0 npass=0 nfail=0
for name in "$@"; do
  exe="$bin/fuzz_$name"
  [ -x "$exe" ] || { echo "run.sh: no harness $exe" >&2; failed=1; continue; }
  read -r dict maxlen timeout <<< "$(limits "$name")"
  common=(-rss_limit_mb=2048 -max_len="$maxlen" -timeout="$timeout" -print_final_stats=1)
  [ -f "$src/dict/$dict.dict" ] && common+=(-dict="$src/dict/$dict.dict")
  seeds="$build/seeds/$name"
  regress="$src/regressions/$name"
  mkdir -p "$seeds" "$regress" "$build/artifacts/$name" "$build/logs"
  log="$build/logs/$name.$mode.log"

  if [ "$mode" = test ]; then
    # 1. replay: seeds and reproducers, each once (a directory argument with -runs=0 only
    #    loads and runs its files)
    repro=()
    for f in "$regress"/*; do [ -f "$f" ] && repro+=("$f"); done
    if ! "$exe" "${common[@]}" -runs=0 "$seeds" > "$log" 2>&1; then
      echo "FAIL fuzz_$name: a seed failed (log: $log)"; tail -30 "$log"; failed=1; nfail=$((nfail + 1)); continue
    fi
    if [ ${#repro[@]} -gt 0 ] && ! "$exe" "${common[@]}" "${repro[@]}" >> "$log" 2>&1; then
      echo "FAIL fuzz_$name: a reproducer in fuzz/regressions/$name failed (log: $log)"
      tail -30 "$log"; failed=1; nfail=$((nfail + 1)); continue
    fi
    # 2. smoke: a short run from the seeds into a scratch corpus
    scratch=$(mktemp -d)
    "$exe" "${common[@]}" -max_total_time="$seconds" -artifact_prefix="$build/artifacts/$name/" \
      "$scratch" "$seeds" >> "$log" 2>&1
    rc=$?
    rm -rf "$scratch"
    stats=$(grep -E '^#[0-9]+.*(DONE|cov:)' "$log" | tail -1)
    if [ $rc -ne 0 ]; then
      echo "FAIL fuzz_$name: smoke run found something (exit $rc; log: $log, artifacts in $build/artifacts/$name)"
      grep -E 'ERROR|SUMMARY|Test unit written' "$log" | head -5; failed=1; nfail=$((nfail + 1)); continue
    fi
    echo "ok   fuzz_$name: ${#repro[@]} reproducers, $(ls "$seeds" | wc -l) seeds, smoke ${seconds}s: $stats"
    npass=$((npass + 1))
    continue
  fi

  corpus="${LP_FUZZ_CORPUS:-$build/corpus}/$name"
  mkdir -p "$corpus"
  dirs=("$corpus" "$seeds")
  [ -n "$(ls -A "$regress" 2>/dev/null)" ] && dirs+=("$regress")
  before=$(ls "$build/artifacts/$name" | wc -l)
  start=$(date -u +%FT%TZ)
  "$exe" "${common[@]}" -max_total_time="$seconds" -artifact_prefix="$build/artifacts/$name/" \
    "${dirs[@]}" > "$log" 2>&1
  rc=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  last=$(grep -E '^#[0-9]+' "$log" | tail -1)
  cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<< "$last")
  ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<< "$last")
  found=$(( $(ls "$build/artifacts/$name" | wc -l) - before ))
  line="$start fuzz_$name seconds=$seconds execs=${execs:-?} cov=${cov:-?} ft=${ft:-?} corpus=$(ls "$corpus" | wc -l) findings=$found exit=$rc"
  echo "$line" | tee -a "$build/fuzz-summary.txt"
  if [ $rc -ne 0 ]; then
    failed=1
    grep -E 'ERROR|SUMMARY|Test unit written' "$log" | head -5
  fi
done
# the plain closing line CI reads: harnesses whose replay and smoke run passed or failed
[ "$mode" = test ] && echo "fuzz: $npass passed, $nfail failed"
exit $failed
