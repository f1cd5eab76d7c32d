/*
 * budget.c - a command's memory budget and the sentence explaining it (see budget.h).
 *
 * The numbers come from the library (lp_budget_default); only naming the option that
 * overrides them is the CLI's business.
 */
#include "budget.h"

#include <stdio.h>

const lp_machine *cli_machine(void)
{
    static lp_machine machine;
    static int read;
    if (!read) {
        lp_machine_read(&machine);
        read = 1;
    }
    return &machine;
}

void cli_budget(const lp_machine *machine, lp_budget_kind kind, uint64_t explicit_bytes,
                uint64_t cap, lp_budget *out)
{
    if (!explicit_bytes) {
        lp_budget_default(machine, kind, cap, out);
        return;
    }
    out->bytes = explicit_bytes;
    if (explicit_bytes % (1u << 20) == 0)
        snprintf(out->why, sizeof out->why, "%llu MiB: from --max-mem",
                 (unsigned long long)(explicit_bytes >> 20));
    else
        snprintf(out->why, sizeof out->why, "%llu bytes: from --max-mem",
                 (unsigned long long)explicit_bytes);
}
