/*
 * json.h - the one JSON string writer. Every JSON the project writes (convert --json, the
 * batch report, the profile record, the server's /v1 answers) quotes its strings here, so
 * that escaping is decided once: " and \ escaped, \n \r \t by name, other control bytes as
 * \u00XX, everything else (UTF-8 included) as it is; NULL is written as null.
 */
#ifndef LP_CORE_JSON_H
#define LP_CORE_JSON_H

#include <stddef.h>
#include <stdio.h>

/* Where escaped bytes go: a FILE, a growing buffer, ... */
typedef void (*lp_json_emit)(void *ctx, const char *bytes, size_t n);

void lp_json_string_to(const char *s, lp_json_emit emit, void *ctx);
void lp_json_string(FILE *f, const char *s);

#endif
