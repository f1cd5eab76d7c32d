/*
 * budget.h - the memory budget and worker count a command runs with, and why: from the
 * command line when given (--max-mem, -j), else the machine's defaults (leanpix/machine.h),
 * so that convert, batch and serve decide and explain their budgets the same way.
 */
#ifndef LEANPIX_CLI_BUDGET_H
#define LEANPIX_CLI_BUDGET_H

#include "leanpix/leanpix.h"

/* The budget of kind: explicit_bytes when not 0 ("N MiB: from --max-mem"), else (also for
 * "--max-mem 0") the machine's default (cap: see lp_budget_default). */
void cli_budget(const lp_machine *machine, lp_budget_kind kind, uint64_t explicit_bytes,
                uint64_t cap, lp_budget *out);

/* The machine, read on first use. */
const lp_machine *cli_machine(void);

#endif
