/*
 * profile_internal.h - what the profile's writers and readers share (internal).
 *
 * lp_prof_mem is described once as a table of named fields so that the JSON writer,
 * the JSON reader and the CSV writer cannot disagree on names or order.
 */
#ifndef LP_PROFILE_INTERNAL_H
#define LP_PROFILE_INTERNAL_H

#include "profile/profile.h"

#define LP_PROF_MEM_FIELDS 11

typedef struct lp_prof_mem_field {
    const char *name;
    size_t offset;
} lp_prof_mem_field;

extern const lp_prof_mem_field lp_prof_mem_fields[LP_PROF_MEM_FIELDS];
uint64_t lp_prof_mem_get(const lp_prof_mem *m, size_t field);
void lp_prof_mem_set(lp_prof_mem *m, size_t field, uint64_t v);

#endif
