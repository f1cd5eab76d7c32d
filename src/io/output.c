/*
 * output.c - outputs that never leave a half-written file and never destroy what was at
 * the name (see leanpix/io.h).
 *
 * Where the bytes go is decided once, at open, from what the name is now:
 *   - nothing: a new regular file, created as a hidden temp beside it and renamed into
 *     place (mode 0666 less the umask, as any program creating a file);
 *   - a regular file: the same temp + rename, with the old file's mode, and its owner and
 *     group when we may set them (root), put on the temp before the rename so the file
 *     never appears with looser permissions;
 *   - a symbolic link (or a chain of them, even dangling): followed by hand to its final
 *     target, and the target is written as above, in the target's directory, so the link
 *     stays a link. A link inside /proc (/dev/stdout -> /proc/self/fd/1 -> "pipe:[...]")
 *     names an open file description, not a path: it is written directly;
 *   - anything else (character device, FIFO, socket, a pipe behind /dev/stdout): opened
 *     and written directly, no temp, no rename, nothing unlinked on failure. A block
 *     device or a directory is refused: an image is never written over one.
 *
 * Temp + rename: ".NAME.lp-XXXXXX" in the destination's directory (same file system, so the
 * rename is atomic). Writes are buffered in 64 KiB; commit flushes, fsyncs the file,
 * renames it over NAME and fsyncs the directory so that the rename itself survives a
 * crash. An output closed without commit removes its temp; a process killed with SIGKILL
 * leaves only the hidden temp, never a partial file under NAME (batch --resume cleans those
 * up). Every live temp path is also kept in a fixed table of slots that
 * lp_output_remove_temps() walks without locks or allocation, so that a CLI's SIGINT or
 * SIGTERM handler can remove them before the process ends (async-signal-safe).
 *
 * A memory output is a growable malloc'd buffer whose size is charged to an lp_mem.
 */
#define _GNU_SOURCE
#include "leanpix/io.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#define OUTPUT_BUFFER (64u * 1024u)
#define MAX_LINK_HOPS 40       /* the kernel's own limit on symlinks in one lookup */
#define PROC_FS_MAGIC 0x9fa0   /* statfs f_type of /proc (linux/magic.h PROC_SUPER_MAGIC) */

struct lp_output {
    bool is_file;
    bool direct;        /* written in place: no temp, no rename, nothing unlinked */
    bool truncate;      /* direct to a regular file: cut it to what was written at commit */
    int fd;
    int slot;           /* temp_slots index, -1 when not tracked */
    char *final_path;   /* the name renamed over: a symlink's target, not the link */
    char *temp_path;
    dev_t dev;          /* direct: the file written (to refuse writing over the input) */
    ino_t ino;
    bool committed;
    uint8_t *data;      /* file: write buffer; memory: the bytes */
    size_t used;
    size_t capacity;
    uint64_t total;     /* bytes written through the output */
    lp_mem *mem;        /* memory outputs: where capacity is charged */
};

/* ---- live temp files, for signal handlers ---- */

/* Each slot is free (0), being filled (1) or holds a live temp path (2). Paths are copied
 * in, not pointed at, so a handler never reads memory another thread has freed. */
typedef struct temp_slot {
    _Atomic int state;
    char path[PATH_MAX];
} temp_slot;

static temp_slot temp_slots[LP_OUTPUT_TRACKED_TEMPS];

static int track_temp(const char *path)
{
    size_t len = strlen(path);
    if (len >= PATH_MAX)
        return -1;
    for (int i = 0; i < LP_OUTPUT_TRACKED_TEMPS; i++) {
        int expected = 0;
        if (atomic_compare_exchange_strong(&temp_slots[i].state, &expected, 1)) {
            memcpy(temp_slots[i].path, path, len + 1);
            atomic_store(&temp_slots[i].state, 2);
            return i;
        }
    }
    return -1;
}

static void untrack_temp(lp_output *o)
{
    if (o->slot >= 0)
        atomic_store(&temp_slots[o->slot].state, 0);
    o->slot = -1;
}

void lp_output_remove_temps(void)
{
    for (int i = 0; i < LP_OUTPUT_TRACKED_TEMPS; i++)
        if (atomic_load(&temp_slots[i].state) == 2)
            unlink(temp_slots[i].path);
}

/* ---- where the bytes go ---- */

static char *dir_of(const char *path)
{
    char *copy = strdup(path);
    if (!copy)
        return NULL;
    char *dir = strdup(dirname(copy));
    free(copy);
    return dir;
}

static bool in_proc(const char *path)
{
    char *dir = dir_of(path);
    struct statfs fs;
    bool proc = dir && statfs(dir, &fs) == 0 && (unsigned long)fs.f_type == PROC_FS_MAGIC;
    free(dir);
    return proc;
}

/* The path a symlink at link points to (relative targets are relative to its directory). */
static lp_status follow_link(const char *link, char **next, lp_error *err)
{
    char target[PATH_MAX];
    ssize_t n = readlink(link, target, sizeof target);
    if (n < 0)
        return lp_error_set(err, LP_ERR_IO, "cannot read the symbolic link %s: %s", link,
                            strerror(errno));
    if ((size_t)n >= sizeof target)
        return lp_error_set(err, LP_ERR_IO, "the symbolic link %s is too long", link);
    target[n] = '\0';
    if (target[0] == '/') {
        *next = strdup(target);
    } else {
        char *dir = dir_of(link);
        size_t need = dir ? strlen(dir) + (size_t)n + 2 : 0;
        *next = dir ? malloc(need) : NULL;
        if (*next)
            snprintf(*next, need, "%s/%s", dir, target);
        free(dir);
    }
    return *next ? LP_OK : lp_error_set(err, LP_ERR_NOMEM, "cannot allocate an output");
}

typedef enum dest_kind { DEST_NEW, DEST_REPLACE, DEST_DIRECT } dest_kind;

/* Decides what writing to path means (see the header comment). *where (malloc'd) is the
 * name to create, replace or open; *old is what is there now (DEST_REPLACE). */
static lp_status resolve_destination(const char *path, dest_kind *kind, char **where,
                                     struct stat *old, lp_error *err)
{
    char *cur = strdup(path);
    if (!cur)
        return lp_error_set(err, LP_ERR_NOMEM, "cannot allocate an output");
    for (int hops = 0;; hops++) {
        if (lstat(cur, old) != 0) {
            if (errno != ENOENT) {
                int e = errno;
                free(cur);
                return lp_error_set(err, LP_ERR_IO, "cannot look at the output: %s", strerror(e));
            }
            *kind = DEST_NEW;
            *where = cur;
            return LP_OK;
        }
        if (!S_ISLNK(old->st_mode))
            break;
        if (hops == MAX_LINK_HOPS || in_proc(cur)) {
            /* A /proc link is followed by the kernel: stat what it opens. */
            if (hops == MAX_LINK_HOPS || stat(cur, old) != 0) {
                int e = hops == MAX_LINK_HOPS ? ELOOP : errno;
                free(cur);
                return lp_error_set(err, LP_ERR_IO, "cannot look at the output: %s", strerror(e));
            }
            break;
        }
        char *next;
        lp_status st = follow_link(cur, &next, err);
        free(cur);
        if (st != LP_OK)
            return st;
        cur = next;
    }
    if (S_ISDIR(old->st_mode) || S_ISBLK(old->st_mode)) {
        free(cur);
        return lp_error_set(err, LP_ERR_IO, "is a %s: an image is not written over it",
                            S_ISDIR(old->st_mode) ? "directory" : "block device");
    }
    *where = cur;
    /* A regular file reached through /proc is someone's open file (stdout redirected):
     * replacing its name would not reach the descriptor, so it is written in place. */
    *kind = S_ISREG(old->st_mode) && !in_proc(cur) ? DEST_REPLACE : DEST_DIRECT;
    return LP_OK;
}

/* Creates dir/.BASE.lp-XXXXXX exclusively with mode (less the umask). */
static lp_status create_temp(const char *final, mode_t mode, int *fd, char **path, lp_error *err)
{
    static const char letters[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    char *dir = dir_of(final);
    const char *base = strrchr(final, '/');
    base = base ? base + 1 : final;
    size_t need = dir ? strlen(dir) + strlen(base) + 16 : 0;
    *path = dir ? malloc(need) : NULL;
    if (!*path) {
        free(dir);
        return lp_error_set(err, LP_ERR_NOMEM, "cannot allocate an output");
    }
    int e = EEXIST;
    *fd = -1;
    for (int attempt = 0; attempt < 100 && *fd < 0 && e == EEXIST; attempt++) {
        unsigned char r[6];
        if (getrandom(r, sizeof r, 0) != (ssize_t)sizeof r)
            for (size_t i = 0; i < sizeof r; i++)  /* no entropy: O_EXCL still keeps it safe */
                r[i] = (unsigned char)(rand() ^ attempt);
        snprintf(*path, need, "%s/.%s.lp-%c%c%c%c%c%c", dir, base, letters[r[0] % 62],
                 letters[r[1] % 62], letters[r[2] % 62], letters[r[3] % 62], letters[r[4] % 62],
                 letters[r[5] % 62]);
        *fd = open(*path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
        e = *fd < 0 ? errno : 0;
    }
    free(dir);
    if (*fd >= 0)
        return LP_OK;
    free(*path);
    *path = NULL;
    return lp_error_set(err, LP_ERR_IO, "cannot create a file in the output directory: %s",
                        strerror(e));
}

/* The replaced file's owner, group and mode on the temp. Set-id bits are kept only with
 * the owner and group they were given for. */
static void copy_owner_and_mode(int fd, const struct stat *old)
{
    struct stat now;
    bool same = fstat(fd, &now) == 0 && now.st_uid == old->st_uid && now.st_gid == old->st_gid;
    if (!same)
        same = fchown(fd, old->st_uid, old->st_gid) == 0;
    if (!same)  /* not root: a member of the group may still keep the group */
        (void)fchown(fd, (uid_t)-1, old->st_gid);
    fchmod(fd, old->st_mode & (same ? 07777 : 0777));
}

static lp_status open_direct(lp_output *o, const char *path, lp_error *err)
{
    /* No O_TRUNC: a device is never truncated, and a regular file (only reached through
     * /proc) is cut at commit, after the caller had the chance to refuse it. */
    o->fd = open(path, O_WRONLY | O_CLOEXEC | O_NOCTTY);
    struct stat st;
    if (o->fd < 0 || fstat(o->fd, &st) != 0)
        return lp_error_set(err, LP_ERR_IO, "cannot open the output: %s", strerror(errno));
    if (S_ISBLK(st.st_mode) || S_ISDIR(st.st_mode))
        return lp_error_set(err, LP_ERR_IO, "is a block device: an image is not written over it");
    o->direct = true;
    o->truncate = S_ISREG(st.st_mode);
    o->dev = st.st_dev;
    o->ino = st.st_ino;
    return LP_OK;
}

lp_status lp_output_open_file(lp_output **out, const char *final_path, lp_error *err)
{
    *out = NULL;
    lp_output *o = calloc(1, sizeof *o);
    uint8_t *buffer = malloc(OUTPUT_BUFFER);
    if (!o || !buffer) {
        free(o);
        free(buffer);
        return lp_error_set(err, LP_ERR_NOMEM, "cannot allocate an output");
    }
    o->is_file = true;
    o->fd = -1;
    o->slot = -1;
    o->data = buffer;
    o->capacity = OUTPUT_BUFFER;
    dest_kind kind = DEST_NEW;
    struct stat old;
    lp_status st = resolve_destination(final_path, &kind, &o->final_path, &old, err);
    if (st == LP_OK && kind == DEST_DIRECT) {
        st = open_direct(o, o->final_path, err);
    } else if (st == LP_OK) {
        /* a replaced file's temp starts private and gets the old mode; a new file is
         * created like any other, 0666 less the umask */
        st = create_temp(o->final_path, kind == DEST_REPLACE ? 0600 : 0666, &o->fd,
                         &o->temp_path, err);
        if (st == LP_OK)
            o->slot = track_temp(o->temp_path);
        if (st == LP_OK && kind == DEST_REPLACE)
            copy_owner_and_mode(o->fd, &old);
    }
    if (st != LP_OK) {
        lp_output_close(o);
        return st;
    }
    *out = o;
    return LP_OK;
}

bool lp_output_overwrites(const lp_output *o, const lp_input *in)
{
    uint64_t dev, ino;
    return o->is_file && o->direct && lp_input_file_id(in, &dev, &ino) && dev == (uint64_t)o->dev &&
           ino == (uint64_t)o->ino;
}

lp_status lp_output_open_memory(lp_output **out, lp_mem *mem, lp_error *err)
{
    lp_output *o = calloc(1, sizeof *o);
    if (!o)
        return lp_error_set(err, LP_ERR_NOMEM, "cannot allocate an output");
    o->fd = -1;
    o->slot = -1;
    o->mem = mem;
    *out = o;
    return LP_OK;
}
static lp_status write_all(lp_output *o, const uint8_t *data, size_t size, lp_error *err)
{
    while (size > 0) {
        ssize_t n = write(o->fd, data, size);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return lp_error_set(err, LP_ERR_IO, "write failed: %s", strerror(errno));
        }
        data += n;
        size -= (size_t)n;
    }
    return LP_OK;
}

static lp_status flush_buffer(lp_output *o, lp_error *err)
{
    lp_status st = write_all(o, o->data, o->used, err);
    o->used = 0;
    return st;
}

static lp_status grow_memory(lp_output *o, size_t need, lp_error *err)
{
    size_t cap = o->capacity ? o->capacity : 64 * 1024;
    while (cap < need) {
        if (cap > SIZE_MAX / 2)
            return lp_error_set(err, LP_ERR_NOMEM, "output buffer too large");
        cap *= 2;
    }
    lp_status st = lp_mem_reserve(o->mem, cap - o->capacity, "output buffer", err);
    if (st != LP_OK)
        return st;
    uint8_t *data = realloc(o->data, cap);
    if (!data) {
        lp_mem_unreserve(o->mem, cap - o->capacity);
        return lp_error_set(err, LP_ERR_NOMEM, "cannot grow the output buffer to %zu bytes", cap);
    }
    o->data = data;
    o->capacity = cap;
    return LP_OK;
}

lp_status lp_output_write(lp_output *o, const void *data, size_t size, lp_error *err)
{
    if (o->committed)
        return lp_error_set(err, LP_ERR_INVALID_ARG, "write after commit");
    o->total += size;
    if (!o->is_file) {
        if (size > SIZE_MAX - o->used)
            return lp_error_set(err, LP_ERR_NOMEM, "output buffer too large");
        if (o->used + size > o->capacity) {
            lp_status st = grow_memory(o, o->used + size, err);
            if (st != LP_OK)
                return st;
        }
        memcpy(o->data + o->used, data, size);
        o->used += size;
        return LP_OK;
    }
    if (o->used + size > o->capacity) {
        lp_status st = flush_buffer(o, err);
        if (st != LP_OK)
            return st;
    }
    if (size >= o->capacity)
        return write_all(o, data, size, err);
    memcpy(o->data + o->used, data, size);
    o->used += size;
    return LP_OK;
}

static void fsync_dir_of(const char *path)
{
    char *dir = dir_of(path);
    if (!dir)
        return;
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
    free(dir);
}

/* Direct outputs: a pipe, FIFO or terminal cannot be fsynced; that is not an error. */
static bool sync_failed(const lp_output *o)
{
    if (fsync(o->fd) == 0)
        return false;
    return !(o->direct && (errno == EINVAL || errno == EROFS || errno == ENOTSUP));
}

lp_status lp_output_commit(lp_output *o, lp_error *err)
{
    if (!o->is_file || o->committed)
        return LP_OK;
    lp_status st = flush_buffer(o, err);
    if (st != LP_OK)
        return st;
    if (o->truncate && ftruncate(o->fd, (off_t)o->total) != 0)
        return lp_error_set(err, LP_ERR_IO, "cannot truncate the output: %s", strerror(errno));
    if (sync_failed(o))
        return lp_error_set(err, LP_ERR_IO, "fsync failed: %s", strerror(errno));
    int closed = close(o->fd);
    o->fd = -1;
    if (closed != 0)
        return lp_error_set(err, LP_ERR_IO, "close failed: %s", strerror(errno));
    if (o->direct) {
        o->committed = true;
        return LP_OK;
    }
    if (rename(o->temp_path, o->final_path) != 0)
        return lp_error_set(err, LP_ERR_IO, "cannot rename into place: %s", strerror(errno));
    o->committed = true;
    untrack_temp(o);  /* after the rename: a signal in between finds nothing to remove */
    fsync_dir_of(o->final_path);
    return LP_OK;
}

const uint8_t *lp_output_data(const lp_output *o, size_t *size)
{
    *size = o->is_file ? 0 : o->used;
    return o->is_file ? NULL : o->data;
}

uint8_t *lp_output_take(lp_output *o, size_t *size)
{
    if (o->is_file) {
        *size = 0;
        return NULL;
    }
    uint8_t *data = o->data;
    *size = o->used;
    lp_mem_unreserve(o->mem, o->capacity);
    o->data = NULL;
    o->used = o->capacity = 0;
    return data;
}

uint64_t lp_output_bytes(const lp_output *o)
{
    return o->total;
}

void lp_output_close(lp_output *o)
{
    if (!o)
        return;
    if (o->is_file) {
        if (o->fd >= 0)
            close(o->fd);
        if (!o->committed && o->temp_path)
            unlink(o->temp_path);  /* never the final name: a direct output has no temp */
        untrack_temp(o);
        free(o->temp_path);
        free(o->final_path);
        free(o->data);
    } else {
        lp_mem_unreserve(o->mem, o->capacity);
        free(o->data);
    }
    free(o);
}

lp_status lp_write_file_atomic(const char *path, const void *data, size_t size, lp_error *err)
{
    lp_output *o;
    lp_status st = lp_output_open_file(&o, path, err);
    if (st != LP_OK)
        return st;
    st = lp_output_write(o, data, size, err);
    if (st == LP_OK)
        st = lp_output_commit(o, err);
    lp_output_close(o);
    return st;
}
