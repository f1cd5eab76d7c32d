/*
 * mrcutil.h - what the server's parser and card tests share: the built-in demo data set
 * (so that they need no ../shared) and a look into a request's log.
 */
#ifndef LP_MRCUTIL_H
#define LP_MRCUTIL_H

#include <stdbool.h>

#include "server/mrc.h"

/* The demo data set, loaded uncounted; fails the test when it cannot be built. */
mrc_data *lpt_mrc_demo(void);
/* Whether a line of the log contains text. */
bool lpt_mrc_logged(const mrc_log *log, const char *text);

#endif
