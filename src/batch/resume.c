/*
 * resume.c - what `batch --resume` needs: is an existing output complete and current, and
 * which hidden temp files did a killed run leave behind (see leanpix/batch.h).
 *
 * Outputs are renamed into place only after fsync, so a file under an output's name was
 * complete when it got there; the checks guard against outputs that came from elsewhere
 * (another tool, a copy cut short, a disk that lost data). Each format's descriptor has
 * its check (src/formats/): the file's first and last bytes, or for AVIF a walk of the
 * top-level ISO-BMFF boxes: enough to know the file is whole without decoding it (a
 * decode of 1,200 outputs would cost more than re-encoding a few).
 *
 * Current means not older than the input, as make judges a target: a batch run every
 * night over a folder where photos are edited makes the edited ones again and skips the
 * rest. An input dated ahead of the clock would look newer than its output at every run,
 * so such an output is given the input's date once it is written.
 *
 * Two batches on the same outputs at once would each take a whole memory budget, and the
 * second's --resume would remove the first's temp files as stale: lp_batch_claim_dir
 * refuses the second. Its lock is a POSIX record lock, which the kernel drops when the
 * process ends (kill -9 included) and which NFS carries; its pid is what the message of
 * the refused batch can name. (Closing any descriptor of the lock file drops such a lock:
 * nothing else in the process opens it.)
 *
 * Memory: a few small stack buffers; the directory walk holds one DIR handle per level.
 */
#define _GNU_SOURCE
#include "leanpix/batch.h"
#include "formats/format.h"
#include "io/file_bytes.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>


bool lp_batch_output_complete(const char *path, lp_file_format expected)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    struct stat sb;
    uint8_t magic[LP_SNIFF_BYTES];
    bool ok = false;
    if (fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode) && sb.st_size >= 16) {
        uint64_t size = (uint64_t)sb.st_size;
        size_t got = size < sizeof magic ? (size_t)size : sizeof magic;
        const lp_format_desc *d =
            lp_file_read_at(fd, 0, magic, got) ? lp_format_desc_sniff(magic, got) : NULL;
        if (d && d->output_complete && (expected == LP_FILE_UNKNOWN || d->id == expected))
            ok = d->output_complete(fd, size);
    }
    close(fd);
    return ok;
}

static bool modified_at(const char *path, struct timespec *when)
{
    struct stat sb;
    if (stat(path, &sb) != 0)
        return false;
    *when = sb.st_mtim;
    return true;
}

static bool earlier(struct timespec a, struct timespec b)
{
    return a.tv_sec < b.tv_sec || (a.tv_sec == b.tv_sec && a.tv_nsec < b.tv_nsec);
}

/* FAT keeps modification times in steps of 2 s, rounded down: an output there can read up
 * to 2 s older than an input it was written after, even when given the input's time. */
#define TIME_STEP_S 2

bool lp_batch_output_up_to_date(const char *output, const char *input, lp_file_format expected)
{
    struct timespec out_time, in_time;
    if (!modified_at(output, &out_time) || !modified_at(input, &in_time))
        return false;
    out_time.tv_sec += TIME_STEP_S;
    return !earlier(out_time, in_time) && lp_batch_output_complete(output, expected);
}

void lp_batch_date_output(const char *output, const char *input)
{
    struct timespec out_time, in_time;
    if (modified_at(output, &out_time) && modified_at(input, &in_time) &&
        earlier(out_time, in_time)) {
        struct timespec times[2] = {{.tv_nsec = UTIME_OMIT}, in_time};
        utimensat(AT_FDCWD, output, times, 0);  /* best effort: at worst it is made again */
    }
}

#define CLAIM_FILE ".leanpix-batch.lock"

/* The lock file's bytes: the whole batch locks them all. Shard I of N takes a shared lock
 * on byte N (the count area, 1 .. 2^32-1) and a lock of its own on byte SHARD_AREA + I.
 * Shards are dealt round-robin (walk.c), so two shards of different counts almost always
 * share inputs (I/N and J/M do unless I and J differ modulo gcd(N, M)): a shard that finds
 * another count's lock in the count area is refused, as one that finds its own shard's. */
#define SHARD_AREA ((off_t)1 << 32)

/* The pid of a process holding a lock over [start, start + len) that conflicts with a write
 * lock of ours: 0 if none (or the range is empty), -1 if its pid is unknown; *at: where
 * its lock starts. */
static long lock_holder(int fd, off_t start, off_t len, off_t *at)
{
    struct flock probe = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = start,
                          .l_len = len};
    if (len <= 0 || fcntl(fd, F_GETLK, &probe) != 0 || probe.l_type == F_UNLCK)
        return 0;
    if (at)
        *at = probe.l_start;
    return probe.l_pid > 0 ? (long)probe.l_pid : -1;
}

/* A lock over [start, start + len) (len 0: every byte from start on): 1 taken, 0 held by
 * another process, -1 the file system has no locks (ENOLCK, EINVAL...). */
static int take_lock(int fd, short type, off_t start, off_t len)
{
    struct flock lock = {.l_type = type, .l_whence = SEEK_SET, .l_start = start, .l_len = len};
    if (fcntl(fd, F_SETLK, &lock) == 0)
        return 1;
    return errno == EACCES || errno == EAGAIN ? 0 : -1;
}

/* take_lock, and when another process holds the range, err says it is writing what and
 * *holder is its pid: 1 taken, 0 no locks here, -1 refused. */
static int lock_or_refuse(int fd, short type, off_t start, off_t len, const char *what,
                          long *holder, lp_error *err)
{
    int got = take_lock(fd, type, start, len);
    if (got != 0)
        return got < 0 ? 0 : 1;
    *holder = lock_holder(fd, start, len, NULL);
    lp_error_set(err, LP_ERR_IO, "another leanpix batch is writing %s", what);
    return -1;
}

/* Claims fd's file for shard index of count (count 0: the whole batch): 1 claimed, 0 the
 * file system has no locks, -1 refused (err says by what, *holder its pid). */
static int claim(int fd, unsigned index, unsigned count, long *holder, lp_error *err)
{
    if (!count)  /* every byte the shards lock (the area's end is past any shard's) */
        return lock_or_refuse(fd, F_WRLCK, 0, 2 * SHARD_AREA, "these outputs", holder, err);
    off_t n = count, other = 0;
    int got = lock_or_refuse(fd, F_RDLCK, n, 1, "these outputs", holder, err);
    if (got != 1)
        return got;
    if ((*holder = lock_holder(fd, 1, n - 1, &other)) != 0 ||
        (*holder = lock_holder(fd, n + 1, SHARD_AREA - n - 1, &other)) != 0) {
        lp_error_set(err, LP_ERR_IO,
                     "another leanpix batch is writing the outputs of shards of %lld (--shard "
                     "I/%lld), some of which are shard %u/%u's",
                     (long long)other, (long long)other, index, count);
        return -1;
    }
    char what[64];
    snprintf(what, sizeof what, "the outputs of shard %u/%u", index, count);
    return lock_or_refuse(fd, F_WRLCK, SHARD_AREA + index, 1, what, holder, err) < 0 ? -1 : 1;
}

lp_status lp_batch_claim_dir(const char *dir, unsigned index, unsigned count, int *claim_fd,
                             long *holder, lp_error *err)
{
    *claim_fd = -1;
    *holder = 0;
    size_t n = strlen(dir) + sizeof "/" CLAIM_FILE;
    char *path = malloc(n);
    if (!path)
        return lp_error_set(err, LP_ERR_NOMEM, "out of memory");
    snprintf(path, n, "%s/%s", dir, CLAIM_FILE);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    free(path);
    if (fd < 0)
        return lp_error_set(err, LP_ERR_IO, "cannot make %s: %s", CLAIM_FILE, strerror(errno));
    int got = claim(fd, index, count, holder, err);
    if (got < 0) {
        close(fd);
        return LP_ERR_IO;
    }
    if (got == 0)
        close(fd);  /* no locks here: the batch runs unguarded */
    else
        *claim_fd = fd;
    return LP_OK;
}

bool lp_batch_is_temp_name(const char *name, size_t *final_len)
{
    /* ".NAME.lp-XXXXXX": a dot, at least one character of NAME, ".lp-", six characters. */
    size_t len = strlen(name);
    if (len < 1 + 1 + 4 + 6 || name[0] != '.')
        return false;
    const char *suffix = name + len - 10;
    if (memcmp(suffix, ".lp-", 4))
        return false;
    for (int i = 4; i < 10; i++)
        if (suffix[i] == '/' || suffix[i] == '\0')
            return false;
    if (final_len)
        *final_len = len - 1 - 10;
    return true;
}

static lp_status walk_temps(const char *dir, bool (*mine)(void *, const char *), void *user,
                            unsigned *removed, unsigned depth, lp_error *err)
{
    if (depth > 64)
        return LP_OK;
    DIR *d = opendir(dir);
    if (!d) {
        if (errno == ENOENT)
            return LP_OK;
        return lp_error_set(err, LP_ERR_IO, "cannot read directory: %s", strerror(errno));
    }
    lp_status st = LP_OK;
    struct dirent *e;
    size_t dl = strlen(dir);
    const char *sep = dl && dir[dl - 1] == '/' ? "" : "/";
    while (st == LP_OK && (e = readdir(d)) != NULL) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        size_t nl = strlen(e->d_name);
        char *path = malloc(dl + nl + 2);
        if (!path) {
            st = lp_error_set(err, LP_ERR_NOMEM, "cannot allocate a path");
            break;
        }
        snprintf(path, dl + nl + 2, "%s%s%s", dir, sep, e->d_name);
        struct stat sb;
        size_t final_len;
        if (lstat(path, &sb) != 0) {
            /* vanished meanwhile: nothing to do */
        } else if (S_ISDIR(sb.st_mode)) {
            st = walk_temps(path, mine, user, removed, depth + 1, err);
        } else if (S_ISREG(sb.st_mode) && lp_batch_is_temp_name(e->d_name, &final_len)) {
            char *final = malloc(dl + final_len + 2);
            if (!final) {
                free(path);
                st = lp_error_set(err, LP_ERR_NOMEM, "cannot allocate a path");
                break;
            }
            snprintf(final, dl + final_len + 2, "%s%s%.*s", dir, sep, (int)final_len, e->d_name + 1);
            if (!mine || mine(user, final)) {
                if (unlink(path) == 0)
                    (*removed)++;
                else if (errno != ENOENT)
                    st = lp_error_set(err, LP_ERR_IO, "cannot remove a stale temp file: %s",
                                      strerror(errno));
            }
            free(final);
        }
        free(path);
    }
    closedir(d);
    return st;
}

lp_status lp_batch_remove_stale_temps(const char *dir, bool (*mine)(void *user, const char *final_path),
                                      void *user, unsigned *removed, lp_error *err)
{
    unsigned count = 0;
    lp_status st = walk_temps(dir, mine, user, &count, 0, err);
    if (removed)
        *removed = count;
    return st;
}
