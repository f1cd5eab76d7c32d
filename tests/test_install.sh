#!/usr/bin/env bash
# tests/test_install.sh - what a packager installs works for a program outside the tree.
#
# Installs the build into a scratch prefix (cmake --install), then checks that
#  - include/leanpix/ holds the image library's API only (no server or profile header),
#  - libleanpix.so needs none of the CLI products' libraries (libmicrohttpd, libyaml, expat,
#    PCRE2, FreeType, HarfBuzz, jansson), and neither does leanpix.pc,
#  - the README's example, built against the installed headers with pkg-config, links
#    with the shared library and with the static one (with leanpix.pc's Requires.private
#    and Libs.private: they are complete) and converts a JPEG to AVIF.
# In sanitizer builds the program is built with the same -fsanitize flags.
#
# Environment (tests/CMakeLists.txt): LP_BUILD_DIR, LP_MKSAMPLE, LP_TEST_TMP, LP_SANITIZE.
set -eu
build=${LP_BUILD_DIR:?} tmp=${LP_TEST_TMP:?}/test_install
rm -rf "$tmp"; mkdir -p "$tmp"
prefix=$tmp/prefix
cmake --install "$build" --prefix "$prefix" >/dev/null

fail() { echo "test_install: $*"; exit 1; }
for h in server.h profile.h serve.h; do
  [ ! -e "$prefix/include/leanpix/$h" ] || fail "include/leanpix/$h is installed: not the image library's API"
done
pc=$(find "$prefix" -name leanpix.pc | head -1)
so=$(find "$prefix" -name 'libleanpix.so' | head -1)
archive=$(find "$prefix" -name 'libleanpix.a' | head -1)
[ -n "$pc" ] && [ -n "$so" ] && [ -n "$archive" ] || fail "leanpix.pc, libleanpix.so or libleanpix.a not installed"
cli_libs='microhttpd|yaml|expat|pcre2|freetype|harfbuzz|jansson'
if readelf -d "$so" | grep NEEDED | grep -Ei "$cli_libs"; then fail "libleanpix.so needs a library of serve or profile"; fi
if grep -Ei "$cli_libs" "$pc"; then fail "leanpix.pc names a library of serve or profile"; fi

export PKG_CONFIG_PATH=$(dirname "$pc")
cflags=$(pkg-config --define-prefix --cflags leanpix)
libs=$(pkg-config --define-prefix --libs leanpix)
# libleanpix.a with the libraries leanpix.pc says it needs (Requires.private, Libs.private),
# themselves linked as shared libraries: `pkg-config --static` would ask for the static
# closure of every dependency (Debian's libheif.pc names x265's -lnuma, whose -dev package
# a static libleanpix does not need).
requires=$(pkg-config --print-requires-private leanpix)
# shellcheck disable=SC2086
static_libs="$(pkg-config --libs $requires) $(sed -n 's/^Libs.private: *//p' "$pc")"
case $cflags in *"$prefix"*) ;; *) fail "pkg-config --cflags leanpix does not point into the prefix: $cflags" ;; esac
san=${LP_SANITIZE:+-fsanitize=$LP_SANITIZE}

cat > "$tmp/example.c" <<'C'
#include <leanpix/leanpix.h>
#include <stdio.h>

int main(int argc, char **argv)
{
    lp_convert_options opts;
    lp_convert_options_default(&opts);
    opts.max_dim = 32;
    lp_convert_stats stats;
    lp_error err = {0};
    if (argc != 3 || lp_convert_file(argv[1], argv[2], &opts, &stats, &err) != LP_OK) {
        fprintf(stderr, "%s: %s\n", argc > 1 ? argv[1] : "usage: example IN OUT", lp_error_message(&err));
        return 1;
    }
    printf("%ux%u -> %ux%u\n", stats.in_width, stats.in_height, stats.out_width, stats.out_height);
    return 0;
}
C
"$LP_MKSAMPLE" "$tmp/in.jpg" 64 48 3 >/dev/null
# shellcheck disable=SC2086
cc -std=c17 -Wall -Wextra -Werror $san $cflags -o "$tmp/example-shared" "$tmp/example.c" $libs ||
  fail "the example does not build against the installed headers and libleanpix.so"
# shellcheck disable=SC2086
cc -std=c17 -Wall -Wextra -Werror $san $cflags -o "$tmp/example-static" "$tmp/example.c" \
   "$archive" $static_libs ||
  fail "the example does not link libleanpix.a with leanpix.pc's Requires.private and Libs.private"
for kind in shared static; do
  out=$(LD_LIBRARY_PATH=$(dirname "$so") "$tmp/example-$kind" "$tmp/in.jpg" "$tmp/out-$kind.avif") ||
    fail "the example linked $kind fails"
  [ "$out" = "64x48 -> 32x24" ] || fail "the example linked $kind printed '$out'"
  [ -s "$tmp/out-$kind.avif" ] || fail "the example linked $kind wrote no AVIF"
done
if ldd "$tmp/example-static" | grep -q libleanpix; then fail "the static example loads libleanpix.so"; fi
echo "test_install: installed headers, libleanpix.so/.a and leanpix.pc build and run the README example"
