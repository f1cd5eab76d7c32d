/*
 * mrcutil.h - what the server's parser and card tests share: the built-in demo data set
 * (so that they need no ../shared) and a look into a request's log.
 */
#ifndef LP_MRCUTIL_H
#define LP_MRCUTIL_H

#include <stdbool.h>
#include <stddef.h>

#include "server/mrc.h"

/* The demo data set, loaded uncounted; fails the test when it cannot be built. */
mrc_data *lpt_mrc_demo(void);
/* The 18 FS2020 binding files of ../shared's test set (the XML files of testdata/fs2020: 15 cards,
 * in the order the original renders them), read whole from dir; free with
 * lpt_free_fs2020_set. */
enum { LPT_FS2020_FILES = 18 };
void lpt_read_fs2020_set(const char *dir, const void *files[LPT_FS2020_FILES],
                         size_t sizes[LPT_FS2020_FILES]);
void lpt_free_fs2020_set(const void *files[LPT_FS2020_FILES]);
/* A metric's value from a /metrics page (fails the test when it is absent). */
double lpt_metric(const char *page, const char *name);
/* Whether a line of the log contains text. */
bool lpt_mrc_logged(const mrc_log *log, const char *text);

#endif
