/*
 * clock.c - clock.h: CLOCK_MONOTONIC and CLOCK_PROCESS_CPUTIME_ID as seconds in a double
 * (nanosecond timestamps of a process's life fit a double's 53 bits with room to spare).
 */
#include "core/clock.h"

#include <time.h>

static double seconds_of(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

double lp_monotonic_seconds(void)
{
    return seconds_of(CLOCK_MONOTONIC);
}

double lp_process_cpu_seconds(void)
{
    return seconds_of(CLOCK_PROCESS_CPUTIME_ID);
}

double lp_thread_cpu_seconds(void)
{
    return seconds_of(CLOCK_THREAD_CPUTIME_ID);
}
