/*
 * layout.c - fitting text into a box: the original's font-size search.
 *
 * The size is searched between the minimum (13 px) and the box height: start at the box
 * height; while too wide, step down by half the distance to the lower bound; while it
 * fits, step up by half the distance to the upper bound; stop when the step is zero or the
 * size sits at the upper bound. When nothing fits, the minimum size is used (the row may
 * overflow the box, as in the original). Heights always fit because the font's pixel size
 * is the line height and the search never goes above the box height.
 *
 * Memory: none; each probe is one HarfBuzz shaping run (mrc_text's buffer).
 */
#include "server/mrc.h"

lp_status mrc_fit_font_size(mrc_text *t, const mrc_data *d, const char *font, const char *text,
                            int target_w, int target_h, int min_size, int *size, lp_error *err)
{
    int max_size = target_h, cur = target_h;
    if (cur < 1) {
        *size = min_size;
        return LP_OK;
    }
    for (int guard = 0; guard < 64; guard++) {
        int w;
        lp_status st = mrc_text_measure(t, d, font, cur, text, &w, err);
        if (st)
            return st;
        if (w > target_w) {
            max_size = cur - 1;
            int delta = (cur - min_size) / 2;
            if (delta == 0) {
                cur = min_size;
                break;
            }
            cur -= delta;
        } else {
            if (cur == max_size || cur == max_size - 1)
                break;
            min_size = cur;
            int delta = (max_size - cur) / 2;
            if (delta == 0)
                break;
            cur += delta;
        }
    }
    *size = cur;
    return LP_OK;
}
