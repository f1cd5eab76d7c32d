/*
 * alloc.c - allocator hygiene for processes that run batches (see docs/memory.md).
 *
 * glibc malloc serves blocks over M_MMAP_THRESHOLD (128 KiB) with mmap and unmaps them at
 * free, but the threshold is dynamic: the first time such a block is freed, the threshold
 * rises to its size (up to 32 MiB), and from then on blocks of that size come from the
 * heap arenas, where freed memory stays resident. One outlier image therefore raises the
 * process's RSS for the rest of the batch. Fixing the threshold (setting it at all turns
 * the dynamic adjustment off) keeps big pixel buffers and codec frames on mmap; capping
 * the arenas at 2 bounds how many heaps hold freed small blocks (glibc makes up to 8 per
 * core for threads); malloc_trim after a big job returns the free pages that remain in
 * the arenas (it madvises free chunks inside them, not only the top of the main heap).
 * The measurements that chose this over jemalloc and mimalloc are in docs/memory.md.
 *
 * These calls change process-wide allocator settings: that is why the library never makes
 * them on its own; the batch CLI does at start.
 */
#include "leanpix/batch.h"

#ifdef __GLIBC__
#include <malloc.h>
#endif

/* 1 MiB: strips and rows stay in the arenas (fast reuse); frames and codec buffers are mmapped. */
#ifndef LP_MMAP_THRESHOLD  /* -DLP_MMAP_THRESHOLD=N measures another (docs/benchmarks.md) */
#define LP_MMAP_THRESHOLD (1024 * 1024)
#endif
#define LP_ARENA_MAX 2

void lp_batch_tune_allocator(void)
{
#ifdef __GLIBC__
    mallopt(M_MMAP_THRESHOLD, LP_MMAP_THRESHOLD);
    mallopt(M_ARENA_MAX, LP_ARENA_MAX);
    mallopt(M_TRIM_THRESHOLD, 4 * LP_MMAP_THRESHOLD);
#endif
}

uint64_t lp_batch_heap_in_use(void)
{
#ifdef __GLIBC__
    struct mallinfo2 m = mallinfo2();
    return (uint64_t)m.uordblks + m.hblkhd;
#else
    return 0;
#endif
}

void lp_batch_release_memory(void)
{
#ifdef __GLIBC__
    malloc_trim(0);
#endif
}
