/*
 * memhog.c - a program of known memory behaviour for test_profile.c.
 *
 *   memhog full DIR [EXIT]   the whole scenario below, then exit with EXIT (default 0)
 *   memhog late MB           after 150 ms fork a child, which forks a grandchild; each
 *                            touches MB megabytes of anonymous memory and waits 400 ms
 *   memhog exit CODE         exit at once with CODE
 *   memhog hold MB MS        touch MB megabytes, hold them MS milliseconds, exit
 *   memhog churn MB MS       for MS milliseconds: map MB megabytes, touch, unmap, again
 *   memhog leapfrog MB MID MS  holds MID megabytes in the middle of the address space
 *                            and, for MS milliseconds, moves MB megabytes between a low
 *                            and a high address (map, touch, unmap): RSS never exceeds
 *                            MID+MB, but a smaps walk that lets the unmap and the next map
 *                            in while it crosses the middle counts the moving part twice
 *   memhog arena MB          two threads each malloc MB megabytes in 64 KB blocks (below
 *                            malloc's mmap threshold, so they land in per-thread arenas)
 *                            and touch them, then wait 400 ms
 *                            (a busy process for measuring the profiler's own cost)
 *
 * "full", in phases separated by pauses long enough for 10 ms samples to see each one:
 *   1. writes DIR/memhog-map.bin (64 MB), maps it shared and reads every page: 64 MB of
 *      file-backed RSS (its pages stay in the page cache, they are dirty);
 *   2. mmaps 96 MB anonymous and writes every page: 96 MB of anonymous RSS;
 *   3. forks a child that writes the first half of the 96 MB: the child's copies are
 *      private, the second half stays shared, so each process has RSS 96 MB and PSS
 *      48 + 48/2 = 72 MB of that mapping (the child never touches the file mapping);
 *   4. after the child is gone, writes DIR/memhog-evict.bin (16 MB), fsyncs it, drops it
 *      from the page cache with posix_fadvise(DONTNEED), maps it with MADV_RANDOM (no
 *      read-ahead) and reads it: each page is a major fault.
 * It prints what it did (its own major faults from getrusage) on stdout.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MB (1024ul * 1024ul)

static void pause_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0) {
    }
}

static void die(const char *what)
{
    perror(what);
    exit(99);
}

/* hint: where to map (NULL: anywhere); a hint, not MAP_FIXED, so that where a runtime (a
 * sanitizer's) holds the range the kernel picks another place */
static char *touch_anon_at(void *hint, size_t bytes)
{
    char *p = mmap(hint, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        die("mmap anon");
    madvise(p, bytes, MADV_NOHUGEPAGE);  /* 4 KB pages: copy-on-write page by page */
    for (size_t i = 0; i < bytes; i += 4096)
        p[i] = (char)(i >> 12 | 1);
    return p;
}

static char *touch_anon(size_t bytes)
{
    return touch_anon_at(NULL, bytes);
}

static int write_file(const char *path, size_t bytes)
{
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        die(path);
    static char block[1 << 20];
    memset(block, 0x5a, sizeof block);
    for (size_t done = 0; done < bytes; done += sizeof block)
        if (write(fd, block, sizeof block) != (ssize_t)sizeof block)
            die("write");
    return fd;
}

static unsigned long read_pages(const volatile char *p, size_t bytes)
{
    unsigned long sum = 0;
    for (size_t i = 0; i < bytes; i += 4096)
        sum += (unsigned char)p[i];
    return sum;
}

static long majflt(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_majflt;
}

static int full(const char *dir, int code)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/memhog-map.bin", dir);
    int fd = write_file(path, 64 * MB);
    char *file = mmap(NULL, 64 * MB, PROT_READ, MAP_SHARED, fd, 0);
    if (file == MAP_FAILED)
        die("mmap file");
    read_pages(file, 64 * MB);
    printf("phase 1: 64 MB file mapped and read\n");
    fflush(stdout);
    pause_ms(300);

    char *anon = touch_anon(96 * MB);
    printf("phase 2: 96 MB anonymous touched\n");
    fflush(stdout);
    pause_ms(300);

    pid_t child = fork();
    if (child < 0)
        die("fork");
    if (child == 0) {
        for (size_t i = 0; i < 48 * MB; i += 4096)
            anon[i] = 7;
        pause_ms(500);
        _exit(0);
    }
    int status;
    waitpid(child, &status, 0);
    printf("phase 3: child %d dirtied 48 MB of 96 MB\n", (int)child);
    fflush(stdout);
    pause_ms(100);

    snprintf(path, sizeof path, "%s/memhog-evict.bin", dir);
    int efd = write_file(path, 16 * MB);
    fdatasync(efd);
    posix_fadvise(efd, 0, 0, POSIX_FADV_DONTNEED);
    long before = majflt();
    char *evicted = mmap(NULL, 16 * MB, PROT_READ, MAP_SHARED, efd, 0);
    if (evicted == MAP_FAILED)
        die("mmap evicted");
    madvise(evicted, 16 * MB, MADV_RANDOM);  /* no read-ahead: each page is a major fault */
    read_pages(evicted, 16 * MB);
    printf("phase 4: read an evicted 16 MB file: %ld major faults\n", majflt() - before);
    fflush(stdout);
    pause_ms(200);
    munmap(evicted, 16 * MB);
    close(efd);
    unlink(path);
    munmap(file, 64 * MB);
    close(fd);
    snprintf(path, sizeof path, "%s/memhog-map.bin", dir);
    unlink(path);
    return code;
}

static int late(size_t mb)
{
    pause_ms(150);
    pid_t child = fork();
    if (child < 0)
        die("fork");
    if (child == 0) {
        pid_t grandchild = fork();
        touch_anon(mb * MB);
        pause_ms(400);
        if (grandchild > 0)
            waitpid(grandchild, NULL, 0);
        _exit(0);
    }
    waitpid(child, NULL, 0);
    return 0;
}

static void *arena_thread(void *arg)
{
    size_t blocks = (size_t)arg * 16;  /* 64 KB each */
    char **keep = malloc(blocks * sizeof *keep);
    for (size_t i = 0; keep && i < blocks; i++) {
        keep[i] = malloc(64 * 1024);
        if (keep[i])
            memset(keep[i], 1, 64 * 1024);
    }
    pause_ms(400);
    return keep;  /* never freed: the process ends */
}

static int arena(size_t mb)
{
    pthread_t t[2];
    for (int i = 0; i < 2; i++)
        if (pthread_create(&t[i], NULL, arena_thread, (void *)mb) != 0)
            die("pthread_create");
    for (int i = 0; i < 2; i++) {
        void *keep;
        pthread_join(t[i], &keep);
    }
    return 0;
}

static long elapsed_ms(const struct timespec *t0)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (t.tv_sec - t0->tv_sec) * 1000 + (t.tv_nsec - t0->tv_nsec) / 1000000;
}

static int leapfrog(size_t mb, size_t middle_mb, long ms)
{
    size_t bytes = mb * MB;
    /* below the binary, the middle, and above the middle but below the libraries */
    const uintptr_t low = 0x100000000ul, middle = 0x200000000000ul, high = 0x400000000000ul;
    touch_anon_at((void *)middle, middle_mb * MB);
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    long rounds = 0;
    do {
        munmap(touch_anon_at((void *)(rounds % 2 ? high : low), bytes), bytes);
        rounds++;
    } while (elapsed_ms(&t0) < ms);
    printf("leapfrog: %ld rounds\n", rounds);
    return 0;
}

/* cow MB STEPS MS: touches 2 x MB anonymous and frees half of it (so that what follows
 * makes no new peak of the tree, and a profiler's peak snapshots do not read it), then
 * forks; the child writes the first half of the rest in STEPS steps MS apart
 * (copy-on-write breaks the parent never sees as faults of its own), holds 300 ms and
 * exits. At the end each process has PSS MB/2 + MB/4 of that mapping. */
static int cow(size_t bytes, int steps, long ms)
{
    char *peak = touch_anon(bytes);
    char *anon = touch_anon(bytes);
    pause_ms(100);
    munmap(peak, bytes);
    pause_ms(100);
    pid_t child = fork();
    if (child < 0)
        die("fork");
    if (child == 0) {
        size_t step = bytes / 2 / (size_t)steps;
        for (int k = 0; k < steps; k++) {
            for (size_t i = (size_t)k * step; i < (size_t)(k + 1) * step; i += 4096)
                anon[i] = 7;
            pause_ms(ms);
        }
        pause_ms(300);
        _exit(0);
    }
    int status;
    waitpid(child, &status, 0);
    printf("cow: child %d wrote %zu MB in %d steps\n", (int)child, bytes / 2 / MB, steps);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc >= 3 && !strcmp(argv[1], "full"))
        return full(argv[2], argc >= 4 ? atoi(argv[3]) : 0);
    if (argc >= 3 && !strcmp(argv[1], "late"))
        return late((size_t)atol(argv[2]));
    if (argc >= 3 && !strcmp(argv[1], "arena"))
        return arena((size_t)atol(argv[2]));
    if (argc >= 3 && !strcmp(argv[1], "exit"))
        return atoi(argv[2]);
    if (argc >= 4 && !strcmp(argv[1], "hold")) {
        touch_anon((size_t)atol(argv[2]) * MB);
        pause_ms(atol(argv[3]));
        return 0;
    }
    if (argc >= 4 && !strcmp(argv[1], "churn")) {
        size_t bytes = (size_t)atol(argv[2]) * MB;
        struct timespec t0;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        long rounds = 0;
        do {
            char *p = touch_anon(bytes);
            munmap(p, bytes);
            rounds++;
        } while (elapsed_ms(&t0) < atol(argv[3]));
        printf("churn: %ld rounds\n", rounds);
        return 0;
    }
    if (argc >= 5 && !strcmp(argv[1], "cow"))
        return cow((size_t)atol(argv[2]) * MB, atoi(argv[3]), atol(argv[4]));
    if (argc >= 5 && !strcmp(argv[1], "leapfrog"))
        return leapfrog((size_t)atol(argv[2]), (size_t)atol(argv[3]), atol(argv[4]));
    fprintf(stderr, "usage: memhog full DIR [EXIT] | late MB | exit CODE | hold MB MS | "
                    "churn MB MS | leapfrog MB MID MS | cow MB STEPS MS | arena MB\n");
    return 2;
}
