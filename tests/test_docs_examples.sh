#!/usr/bin/env bash
# tests/test_docs_examples.sh - every command example in README.md and docs/*.md runs as
# written.
#
# What is an example: every fenced code block whose info string is empty, sh, bash, shell
# or console. Blocks of any other language are not run: ```text for output, synopses and
# diagrams, ```json, ```yaml, ```c. An example that cannot run in a test (network, root,
# a cluster, long benchmarks, make targets) is skipped by a marker its author sees, on
# the last non-blank line before its fence:
#     <!-- example: skip (the reason) -->
# and an example whose last command is meant to fail says which exit status it ends with:
#     <!-- example: exit 3 -->
# Any other "<!-- example:" line is an error (a misspelt marker must not silently run or
# skip).
#
# How one runs: the examples of one doc file run in order, each block as one bash script
# (-e -o pipefail), in a scratch project directory of that doc: `docs` links to the
# source's docs/, `../shared` to the shared material ($LP_SHARED_DIR; blocks naming
# ../shared are skipped when it is absent), `leanpix` and `build/leanpix` are $LP_BIN.
# Inputs are made before each block: the first image name of each line (`convert IN OUT`,
# `cat IN |`, `avifenc IN OUT`) is generated with $LP_MKSAMPLE when absent (320x240; .webp,
# .avif and .tif through `leanpix convert`), and a directory that ends a `batch` line
# (`photos/`) gets three small JPEGs. `leanpix serve` starts the server in the background
# on a free port of 127.0.0.1 (replacing --listen; the doc's port is 8080), waits for its
# "listening on" line and returns; a later `serve` replaces it; `curl` waits for the
# server, talks to its real port, and fails on an HTTP error (--fail-with-body) or on a
# card request answered without a card ("cards":[], "Unsupported device" in the log).
# A failing example is reported as DOC:LINE of its failing command with its output.
#
# Usage: test_docs_examples.sh; ctest passes LP_SOURCE_DIR, LP_BIN, LP_MKSAMPLE,
# LP_TEST_TMP and LP_SHARED_DIR (tests/CMakeLists.txt).
set -u
src=${LP_SOURCE_DIR:-$(cd "$(dirname "$0")/.." && pwd)}
bin=${LP_BIN:?LP_BIN: the leanpix binary}
mksample=${LP_MKSAMPLE:?LP_MKSAMPLE: the lp-mksample binary}
shared=${LP_SHARED_DIR:-$src/../shared}
tmp=${LP_TEST_TMP:-$(mktemp -d)}
real_curl=$(command -v curl) || { echo "test_docs_examples: curl is not installed"; exit 1; }
rm -rf "$tmp/docs_examples"; mkdir -p "$tmp/docs_examples"; tmp=$tmp/docs_examples

ran=0 skipped=0 failed=0
declare -a skip_lines fail_lines

# --- the wrappers the examples find on PATH --------------------------------------------
mkdir -p "$tmp/bin"
cat > "$tmp/bin/leanpix" <<'EOF'
#!/usr/bin/env bash
# leanpix for the doc examples: `serve` starts in the background on a free port.
[ "${1:-}" = serve ] || exec "$LP_BIN" "$@"
case " $* " in *" --help "*|*" -h "*|*" --help-markdown "*) exec "$LP_BIN" "$@";; esac
shift
state=$LP_DOC_STATE
if [ -s "$state/server.pid" ]; then
  old=$(cat "$state/server.pid"); kill "$old" 2>/dev/null
  for _ in $(seq 100); do kill -0 "$old" 2>/dev/null || break; sleep 0.1; done
fi
# The old server's output goes too: the new one's redirection is made in the child, after
# the fork, so the loop below could otherwise read the old "listening on" line (and port).
rm -f "$state/server.pid" "$state/server.port" "$state/serve.out" "$state/serve.err"
args=()
while [ $# -gt 0 ]; do
  case $1 in
    --listen) shift;;
    --listen=*) ;;
    *) args+=("$1");;
  esac
  shift
done
"$LP_BIN" serve "${args[@]}" --listen 127.0.0.1:0 </dev/null >"$state/serve.out" 2>"$state/serve.err" &
pid=$!
echo "$pid" > "$state/server.pid"
for _ in $(seq 600); do
  port=$(sed -n 's|.*listening on http://[^:]*:\([0-9]*\).*|\1|p' "$state/serve.out" 2>/dev/null)
  if [ -n "$port" ]; then echo "$port" > "$state/server.port.new"; mv "$state/server.port.new" "$state/server.port"; exit 0; fi
  if ! kill -0 "$pid" 2>/dev/null; then
    wait "$pid"; rc=$?
    echo "leanpix serve exited with status $rc:" >&2; cat "$state/serve.err" >&2; exit "$rc"
  fi
  sleep 0.1
done
echo "leanpix serve: no 'listening on' line within 60 s" >&2; exit 1
EOF
cat > "$tmp/bin/curl" <<'EOF'
#!/usr/bin/env bash
# curl for the doc examples: talks to the server the doc started, fails on HTTP errors.
state=$LP_DOC_STATE
for _ in $(seq 600); do [ -s "$state/server.port" ] && break; sleep 0.1; done
port=$(cat "$state/server.port" 2>/dev/null) || { echo "curl example: no 'leanpix serve' before it in this doc" >&2; exit 1; }
args=()
for a in "$@"; do args+=("${a//:8080/:$port}"); done
answer=$(mktemp "$state/curl.XXXXXX")
"$LP_REAL_CURL" -sS --fail-with-body --max-time 120 "${args[@]}" > "$answer"; rc=$?
# Refused (7): say whether the server is still there, and what it printed.
if [ "$rc" -eq 7 ] && [ -s "$state/server.pid" ]; then
  spid=$(cat "$state/server.pid"); alive=gone; kill -0 "$spid" 2>/dev/null && alive=running
  echo "curl example: the server (pid $spid, port $port) is $alive; its output:" >&2
  cat "$state/serve.out" "$state/serve.err" >&2
fi
cat "$answer"; echo
# A card request that draws no card answers 200 all the same: its log says why.
if [ "$rc" -eq 0 ] && [[ " $* " == *"/v1/cards/"* || " $* " == *"/api/"* ]] &&
   grep -aqE '"cards":\[\]|Unsupported device|No devices? found' "$answer"; then
  echo "curl example: the server drew no card for it (see its log above)" >&2; rc=1
fi
rm -f "$answer"; exit "$rc"
EOF
chmod +x "$tmp/bin/leanpix" "$tmp/bin/curl"
# The ERR trap every block runs with (BASH_ENV): the failing line of the block.
echo 'trap '\''echo "$LINENO" > "$LP_DOC_STATE/errline"'\'' ERR' > "$tmp/bin/prelude.sh"

stop_server() {
  local state=$1 pid
  [ -s "$state/server.pid" ] || return 0
  pid=$(cat "$state/server.pid")
  kill "$pid" 2>/dev/null
  for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  rm -f "$state/server.pid" "$state/server.port"
}
current_state=
trap '[ -n "$current_state" ] && stop_server "$current_state"' EXIT

# make_image PATH: a small sample image in PATH's format.
make_image() {
  local path=$1 ext=${1##*.}
  mkdir -p "$(dirname "$path")"
  case ${ext,,} in
    jpg|jpeg|png) "$mksample" "$path" 320 240 7 >/dev/null;;
    *) "$mksample" "$path.src.png" 320 240 7 >/dev/null && "$bin" convert "$path.src.png" "$path" &&
         rm -f "$path.src.png";;
  esac
}

# make_inputs BLOCKFILE: the files and directories the block reads (see the header).
make_inputs() {
  local line word first dir
  while IFS= read -r line; do
    line=${line%%#*}
    first=$(grep -oE '(^|[[:space:]]|@)[A-Za-z0-9_][A-Za-z0-9_./-]*\.(jpe?g|png|webp|avif|tiff?)([[:space:]]|$)' <<<"$line" |
            head -n1 | tr -d '[:space:]@')
    if [ -n "$first" ] && [[ $first != ../* ]] && [ ! -e "$first" ]; then make_image "$first" || return 1; fi
    if [[ $line == *"leanpix batch"* ]]; then
      word=$(awk '{print $NF}' <<<"$line")
      if [[ $word == */ ]] && [[ $word != ../* ]] && [ ! -e "$word" ]; then
        dir=${word%/}; mkdir -p "$dir"
        for i in 1 2 3; do "$mksample" "$dir/p$i.jpg" 320 240 "$i" >/dev/null || return 1; done
      fi
    fi
  done < "$1"
}

# --- extract the blocks: one manifest line per block -----------------------------------
# DOC <TAB> FENCE_LINE <TAB> KIND (run|skip|exit|error) <TAB> ARG (- for none) <TAB> BLOCKFILE
# (no field is empty: read collapses adjacent tabs)
extract() {
  local doc=$1 out=$2
  awk -v doc="$doc" -v out="$out" '
    function trim(s) { sub(/^[ \t]+/, "", s); sub(/[ \t]+$/, "", s); return s }
    /^[ \t]*```/ {
      if (!inb) {
        inb = 1; info = trim(substr(trim($0), 4)); start = FNR; n++
        runnable = (info == "" || info == "sh" || info == "bash" || info == "shell" || info == "console")
        file = out "/" n ".sh"; printf "" > file
      } else {
        inb = 0; close(file)
        if (runnable) {
          kind = mark_kind == "" ? "run" : mark_kind
          printf "%s\t%d\t%s\t%s\t%s\n", doc, start, kind, mark_arg == "" ? "-" : mark_arg, file
        }
        mark_kind = ""; mark_arg = ""
      }
      next
    }
    inb { print > file; next }
    /^[ \t]*$/ { next }
    /<!-- *example:/ {
      m = $0; sub(/.*<!-- *example: */, "", m); sub(/ *-->.*/, "", m)
      if (m ~ /^skip *\(.+\)$/) { mark_kind = "skip"; sub(/^skip *\(/, "", m); sub(/\)$/, "", m); mark_arg = m }
      else if (m ~ /^exit [0-9]+$/) { mark_kind = "exit"; mark_arg = substr(m, 6) }
      else { printf "%s\t%d\t%s\t%s\t%s\n", doc, FNR, "error", "unknown marker: " $0, "-" }
      next
    }
    { mark_kind = ""; mark_arg = "" }
  ' "$src/$doc"
}

manifest=$tmp/manifest.tsv
: > "$manifest"
for path in "$src/README.md" "$src"/docs/*.md; do
  [ -f "$path" ] || continue
  doc=${path#"$src/"}
  d=$tmp/blocks/${doc//\//_}; mkdir -p "$d"
  (cd "$src" && extract "$doc" "$d") >> "$manifest"
done

# --- run them ---------------------------------------------------------------------------
export LP_BIN="$bin" LP_REAL_CURL="$real_curl" BASH_ENV="$tmp/bin/prelude.sh"
prev_doc=
while IFS=$'\t' read -r doc start kind arg block; do
  if [ "$doc" != "$prev_doc" ]; then
    [ -n "$current_state" ] && stop_server "$current_state"
    run=$tmp/run/${doc//\//_}
    mkdir -p "$run/proj/build" "$run/state"
    ln -sfn "$src/docs" "$run/proj/docs"
    [ -d "$shared" ] && ln -sfn "$(cd "$shared" && pwd)" "$run/shared"
    ln -sfn "$tmp/bin/leanpix" "$run/proj/build/leanpix"
    current_state=$run/state prev_doc=$doc
  fi
  case $kind in
    error) echo "FAIL $doc:$start: $arg"; failed=$((failed + 1)); fail_lines+=("$doc:$start"); continue;;
    skip) echo "skip $doc:$start ($arg)"; skipped=$((skipped + 1)); skip_lines+=("$doc:$start: $arg"); continue;;
  esac
  if grep -q '\.\./shared' "$block" && [ ! -d "$shared" ]; then
    echo "skip $doc:$start (../shared absent: set LP_SHARED_DIR)"
    skipped=$((skipped + 1)); skip_lines+=("$doc:$start: ../shared absent"); continue
  fi
  log=$run/state/block-$start.log
  rm -f "$run/state/errline"
  status=0
  (cd "$run/proj" && make_inputs "$block" && PATH="$tmp/bin:$PATH" LP_DOC_STATE="$run/state" \
     bash -eE -o pipefail "$block") < /dev/null > "$log" 2>&1 || status=$?
  want=0; [ "$kind" = exit ] && want=$arg
  if [ "$status" -eq "$want" ]; then
    echo "ok   $doc:$start"; ran=$((ran + 1)); continue
  fi
  where=$start
  if [ -s "$run/state/errline" ]; then where=$((start + $(cat "$run/state/errline"))); fi
  cmd=; [ "$where" -gt "$start" ] && cmd=$(sed -n "$((where - start))p" "$block")
  echo "FAIL $doc:$where: exit status $status (expected $want): $cmd"
  sed 's/^/    | /' "$log" | tail -n 20
  failed=$((failed + 1)); fail_lines+=("$doc:$where")
done < "$manifest"
[ -n "$current_state" ] && stop_server "$current_state"
current_state=

echo "test_docs_examples: $ran example blocks ran, $skipped skipped, $failed failed"
for s in "${skip_lines[@]+"${skip_lines[@]}"}"; do echo "  skipped $s"; done
for f in "${fail_lines[@]+"${fail_lines[@]}"}"; do echo "  FAILED  $f"; done
[ "$ran" -gt 0 ] || { echo "test_docs_examples: no example found (the extraction is broken)"; exit 1; }
[ "$failed" -eq 0 ]
