/*
 * mrcutil.c - the server tests' shared fixture (mrcutil.h).
 */
#include "mrcutil.h"

#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void lpt_read_fs2020_set(const char *dir, const void *files[LPT_FS2020_FILES],
                         size_t sizes[LPT_FS2020_FILES])
{
    static const char *const names[LPT_FS2020_FILES] = {
        "Alpha_Flight_Controls.xml", "Joystick_-_HOTAS_Warthog.xml", "Logitech_Extreme_3D.xml",
        "Saitek_Pro_Flight_Rudder_Pedals.xml", "Saitek_Pro_Flight_X-55_Rhino_Stick.xml",
        "Saitek_Pro_Flight_X-55_Rhino_Throttle.xml", "Saitek_Pro_Flight_X-56_Rhino_Stick.xml",
        "Saitek_Pro_Flight_X-56_Rhino_Throttle.xml", "Saitek_X52_Flight_Control_System.xml",
        "Saitek_X52_Pro_Flight_Control_System.xml", "T.16000M.xml", "T.Flight_Hotas_4.xml",
        "T.Flight_Hotas_One.xml", "T.Flight_Hotas_X.xml", "T.Flight_Rudder_Pedals.xml",
        "T.Flight_Stick_X.xml", "TWCS_Throttle.xml", "Throttle_-_HOTAS_Warthog.xml"};
    for (int i = 0; i < LPT_FS2020_FILES; i++) {
        char path[1300];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        files[i] = lpt_read_file(path, &sizes[i]);
        assert_non_null(files[i]);
    }
}

double lpt_metric(const char *page, const char *name)
{
    char key[128];
    snprintf(key, sizeof key, "\n%s ", name);
    const char *p = strstr(page, key);
    assert_non_null(p);
    return strtod(p + strlen(key), NULL);
}

void lpt_free_fs2020_set(const void *files[LPT_FS2020_FILES])
{
    for (int i = 0; i < LPT_FS2020_FILES; i++)
        free((void *)files[i]);
}

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
