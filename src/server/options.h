/*
 * options.h - the server's options as data: one table (options.c) gives each option its
 * name, kind, default, accepted range, one line of help and the field of lp_server_options
 * it is stored in. Everything that needs a default reads it from there:
 * lp_server_options_default() fills the struct from it, `leanpix serve --help` and its
 * option parsing iterate it, and docs/serve.md's option list is generated from it
 * (`leanpix serve --help-markdown`; tests/test_serve_defaults.c checks all three agree).
 *
 * Names are plain ("max-body"): how a front end spells them (the CLI: --max-body) is its
 * own business, so help texts refer to other options as {name} and the front end renders
 * the reference. The table type is generic (an offset into "the struct the table
 * describes") so that the CLI can describe its own process-wide options the same way.
 */
#ifndef LP_SERVER_OPTIONS_H
#define LP_SERVER_OPTIONS_H

#include <stddef.h>
#include <stdint.h>

#include "leanpix/server.h"

typedef enum lp_option_kind {
    LP_OPTION_TEXT,     /* const char * (an address, a directory) */
    LP_OPTION_COUNT,    /* unsigned */
    LP_OPTION_SECONDS,  /* unsigned, in seconds */
    LP_OPTION_SIZE,     /* uint64_t bytes (given as 4M, 64k, ...) */
    LP_OPTION_FLAG      /* bool, takes no value */
} lp_option_kind;

typedef struct lp_option {
    const char *name;      /* e.g. "max-body" */
    const char *section;   /* heading it is listed under (consecutive entries share one) */
    lp_option_kind kind;
    size_t offset;         /* of its field in the struct the table describes */
    const char *value;     /* how its value is written in usage text; NULL = by kind */
    uint64_t def;          /* default of a number (FLAG: 0 or 1) */
    const char *def_text;  /* default of a TEXT option (NULL = unset) */
    const char *def_note;  /* how the default is derived: with def 0 it is the default
                              ("half the budget ..."), else it follows the value ("at most
                              the effective CPUs") */
    uint64_t min, max;     /* accepted numbers; max 0 = no upper bound */
    const char *help;      /* one line; {name} refers to another option */
} lp_option;

/* A field's offset for a table entry, checked at compile time to have the size of the
 * kind's C type (an unsigned for COUNT and SECONDS, a uint64_t for SIZE, ...). */
#define LP_OPTION_AT(type, field, ctype)                                                   \
    (offsetof(type, field) +                                                               \
     0 * sizeof(char[sizeof(((type *)0)->field) == sizeof(ctype) ? 1 : -1]))

/* The options of lp_server_options, in the order help and docs list them. */
extern const lp_option lp_server_option_table[];
extern const size_t lp_server_option_count;

/* Sets every field a table describes in base to its default. */
void lp_option_set_defaults(const lp_option *table, size_t count, void *base);
/* The default as help and docs show it ("4 MiB", "15 s", "127.0.0.1:8080", with the
 * derivation note); never longer than size - 1. Returns buf. */
char *lp_option_default_text(const lp_option *opt, char *buf, size_t size);
/* An option of a table by name; NULL when none. */
const lp_option *lp_option_find(const lp_option *table, size_t count, const char *name);

/* The defaults, filled once from the table (for code that resolves a 0 field). */
const lp_server_options *lp_server_defaults(void);

#endif
