/*
 * leanpix/export.h - LP_API: what libleanpix.so exports.
 *
 * The library is compiled with -fvisibility=hidden, so a name is visible outside
 * libleanpix.so only when its public declaration (include/leanpix/) carries LP_API.
 * Helpers that the library's own files share stay internal: they cannot clash with an
 * application's names or another library's, and they are free to change.
 * tests/test_symbols.sh checks that the exported names are exactly the LP_API ones.
 */
#ifndef LEANPIX_EXPORT_H
#define LEANPIX_EXPORT_H

#if defined(__GNUC__) || defined(__clang__)
#define LP_API __attribute__((visibility("default")))
#else
#define LP_API
#endif

#endif
