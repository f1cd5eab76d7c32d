/*
 * clock.h - the one clock of the project: monotonic seconds for durations and deadlines
 * (never the wall clock, which jumps), and the process's and the calling thread's CPU seconds for profiles.
 */
#ifndef LP_CORE_CLOCK_H
#define LP_CORE_CLOCK_H

double lp_monotonic_seconds(void);
double lp_process_cpu_seconds(void);
double lp_thread_cpu_seconds(void);

#endif
