/*
 * mrcutil.c - the server tests' shared fixture (mrcutil.h).
 */
#include "mrcutil.h"

#include "testutil.h"

#include <stdio.h>
#include <string.h>

mrc_data *lpt_mrc_demo(void)
{
    mrc_data *d = NULL;
    lp_error err = {0};
    lp_status st = mrc_data_load_demo(&d, NULL, &err);
    if (st)
        fprintf(stderr, "demo: %s\n", lp_error_message(&err));
    assert_int_equal(st, LP_OK);
    return d;
}

bool lpt_mrc_logged(const mrc_log *log, const char *text)
{
    for (size_t i = 0; i < log->count; i++)
        if (strstr(log->lines[i], text))
            return true;
    return false;
}
