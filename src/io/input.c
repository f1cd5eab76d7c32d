/*
 * input.c - sequential input without file-backed RSS growth (see leanpix/io.h).
 *
 * READ mode: one LP_INPUT_CHUNK buffer, pread at the cursor, POSIX_FADV_SEQUENTIAL up
 * front and POSIX_FADV_DONTNEED on what has been consumed, so a batch of big files does
 * not fill the page cache with data nobody will read again.
 *
 * MMAP mode: the whole file is mapped read-only with MADV_SEQUENTIAL, and every time the
 * cursor moves past a chunk the pages behind it are dropped with MADV_DONTNEED, so resident
 * file pages stay within about two chunks instead of growing to the file's size (the
 * classic "mmap without hints" cost).
 *
 * A mapped file that shrinks under us (another process truncates it) raises SIGBUS on the
 * first access past its new end, which would kill the whole process: a batch loses every
 * other job and leaves temp files. So nothing reads the mapping except copy_from_mapping(),
 * which copies under a guard: a thread-local sigjmp_buf plus the address range being
 * copied. The SIGBUS handler jumps back to the guard when the fault is inside that range on
 * that thread, and otherwise passes the signal on to the handler that was installed before
 * ours (or the default action, which ends the process as it would have). The copy then
 * re-reads the file's size: shrunk, the input simply ends there, as pread's short read ends
 * it in READ mode, and the decoder reports "truncated ... at scanline N" in its own words;
 * not shrunk (a failing device), it is an I/O error. An fstat before each chunk catches the
 * common case without a fault at all. Chunks (lp_input_next_chunk) are therefore copies
 * into the chunk buffer, as in READ mode, not pointers into the mapping: a decoder reading
 * the mapping itself could fault anywhere inside a codec library.
 *
 * Who installs the handler: the library, when an MMAP input is opened, in front of
 * whatever handles SIGBUS then (normally once per process: later opens find it in place). A guarded copy is only safe if the handler is there, and an API
 * that is safe only after a separate "please install" call is unsafe by default for every
 * other caller (tests, server, future tools); the CLI would also have to know which inputs
 * use MMAP. Installing a signal handler is not printing, exiting or reading the
 * environment, and ours changes nothing for faults that are not its own (it chains, and
 * a chain that loops back to it ends in the default action). If a program replaces the
 * handler while an input is open, the size check notices at the next chunk and reads
 * that input with pread from then on, which cannot fault; only a replacement between the
 * check and the copy of one chunk is unguarded. READ mode needs none of this.
 *
 * Memory inputs point at a caller's buffer.
 */
#define _GNU_SOURCE
#include "leanpix/io.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

typedef enum input_kind { INPUT_READ, INPUT_MMAP, INPUT_MEMORY } input_kind;

struct lp_input {
    input_kind kind;
    int fd;
    const uint8_t *base;   /* mapping or memory buffer */
    uint64_t map_size;     /* MMAP: the length mapped (size may shrink below it) */
    uint64_t size;
    uint64_t checked;      /* MMAP: the size was last checked for reads below this offset */
    bool guarded;          /* MMAP: our SIGBUS handler was in place at that check */
    uint64_t dev, ino;     /* file inputs: what was opened */
    uint64_t pos;          /* consumed bytes */
    uint64_t dropped;      /* MMAP/READ: bytes before this offset were advised away */
    uint8_t *buffer;       /* READ, MMAP: chunk buffer */
    char *name;
};

/* ---- reading the mapping under a SIGBUS guard ---- */

/* Initial-exec TLS: the handler may run on any thread, and must not make the dynamic
 * loader allocate a TLS block from inside a signal handler. */
typedef struct map_guard {
    volatile sig_atomic_t active;
    volatile sig_atomic_t chaining;  /* passing a fault on: a loop back to us must end
                                        (left set if that handler jumps away: then the
                                        next foreign fault on this thread gets the default) */
    uintptr_t lo, hi;      /* the source range of the copy in progress */
    sigjmp_buf jump;
} map_guard;
static _Thread_local map_guard guard __attribute__((tls_model("initial-exec")));

static pthread_mutex_t sigbus_lock = PTHREAD_MUTEX_INITIALIZER;
static struct sigaction previous_sigbus;  /* written under sigbus_lock */

static void on_sigbus(int sig, siginfo_t *info, void *context)
{
    uintptr_t at = (uintptr_t)info->si_addr;
    if (guard.active && info->si_code > 0 && at >= guard.lo && at < guard.hi) {
        guard.active = 0;
        siglongjmp(guard.jump, 1);
    }
    /* Not ours: what would have happened without us. A handler that came after ours and
     * passes faults back to us would loop; the second time round, the default action. */
    bool loop = guard.chaining;
    guard.chaining = 1;
    if (!loop && (previous_sigbus.sa_flags & SA_SIGINFO)) {
        previous_sigbus.sa_sigaction(sig, info, context);
    } else if (!loop && previous_sigbus.sa_handler != SIG_DFL &&
               previous_sigbus.sa_handler != SIG_IGN) {
        previous_sigbus.sa_handler(sig);
    } else if (loop || previous_sigbus.sa_handler == SIG_DFL || info->si_code > 0) {
        /* the default action (a real fault cannot be ignored either): die by SIGBUS as
         * soon as the handler returns */
        signal(sig, SIG_DFL);
        raise(sig);
    }
    guard.chaining = 0;
}

static bool guard_in_place(void)
{
    struct sigaction now;
    return sigaction(SIGBUS, NULL, &now) == 0 && (now.sa_flags & SA_SIGINFO) &&
           now.sa_sigaction == on_sigbus;
}

/* Puts our handler in front of whatever handles SIGBUS now (normally once per process;
 * again if someone replaced it since, e.g. a test framework's per-test handlers). */
static bool install_guard(void)
{
    if (guard_in_place())
        return true;
    pthread_mutex_lock(&sigbus_lock);
    bool ok = guard_in_place();
    if (!ok) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_sigaction = on_sigbus;
        sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
        sigemptyset(&sa.sa_mask);
        ok = sigaction(SIGBUS, &sa, &previous_sigbus) == 0;
    }
    pthread_mutex_unlock(&sigbus_lock);
    return ok;
}

/* Copies n bytes at src (inside the mapping); false when reading them faulted. */
static bool copy_from_mapping(void *dst, const uint8_t *src, size_t n)
{
    guard.lo = (uintptr_t)src;
    guard.hi = (uintptr_t)src + n;
    if (sigsetjmp(guard.jump, 0)) {
        /* jumped out of the handler: SIGBUS is still blocked on this thread */
        sigset_t set;
        sigemptyset(&set);
        sigaddset(&set, SIGBUS);
        pthread_sigmask(SIG_UNBLOCK, &set, NULL);
        return false;
    }
    guard.active = 1;
    atomic_signal_fence(memory_order_seq_cst);  /* no load of src moves above the guard */
    memcpy(dst, src, n);
    atomic_signal_fence(memory_order_seq_cst);
    guard.active = 0;
    return true;
}

/* Once a window: the file shrank? Then it ends at its new size, as a short pread would
 * end it. Is our handler still the one SIGBUS reaches? If someone replaced it, this
 * window is read with pread, which cannot fault. */
static void recheck_size(lp_input *in)
{
    struct stat st;
    if (fstat(in->fd, &st) == 0 && (uint64_t)st.st_size < in->size)
        in->size = (uint64_t)st.st_size;
    in->checked = in->pos + LP_INPUT_CHUNK;
    in->guarded = guard_in_place();
}

static lp_status pread_full(lp_input *in, uint8_t *buf, size_t want, uint64_t at, size_t *got,
                            lp_error *err);

/* Copies up to want bytes at offset at of a mapped input into buf. A fault past a new end
 * of file shortens the input; a fault anywhere else is an I/O error. */
static lp_status mapped_read(lp_input *in, uint8_t *buf, size_t want, uint64_t at, size_t *got,
                             lp_error *err)
{
    *got = 0;
    if (at + want > in->checked)
        recheck_size(in);
    for (int attempt = 0; attempt < 3; attempt++) {
        uint64_t left = at < in->size ? in->size - at : 0;
        size_t n = want < left ? want : (size_t)left;
        if (n > 0 && !in->guarded)
            return pread_full(in, buf, n, at, got, err);
        if (n == 0 || copy_from_mapping(buf, in->base + at, n)) {
            *got = n;
            return LP_OK;
        }
        uint64_t before = in->size;
        recheck_size(in);
        if (in->size == before)
            break;
    }
    return lp_error_set(err, LP_ERR_IO,
                        "read failed: the mapped file could not be read at offset %" PRIu64
                        " (SIGBUS: a device error, or the file changed)", at);
}

static long page_size(void)
{
    long p = sysconf(_SC_PAGESIZE);
    return p > 0 ? p : 4096;
}

lp_status lp_input_open_file(lp_input **out, const char *path, lp_io_mode mode,
                             uint64_t max_bytes, lp_error *err)
{
    *out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return lp_error_set(err, LP_ERR_IO, "cannot open: %s", strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return lp_error_set(err, LP_ERR_IO, "cannot stat: %s", strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return lp_error_set(err, LP_ERR_IO, "not a regular file");
    }
    if (max_bytes && (uint64_t)st.st_size > max_bytes) {
        close(fd);
        return lp_error_set(err, LP_ERR_LIMITS,
                            "file is %" PRIu64 " bytes, over the limit of %" PRIu64,
                            (uint64_t)st.st_size, max_bytes);
    }
    lp_input *in = calloc(1, sizeof *in);
    char *name = strdup(path);
    if (!in || !name) {
        free(in);
        free(name);
        close(fd);
        return lp_error_set(err, LP_ERR_NOMEM, "cannot allocate an input");
    }
    in->fd = fd;
    in->size = (uint64_t)st.st_size;
    in->dev = (uint64_t)st.st_dev;
    in->ino = (uint64_t)st.st_ino;
    in->name = name;
    if (mode == LP_IO_MMAP && in->size > 0) {
        if (!install_guard()) {
            lp_input_close(in);
            return lp_error_set(err, LP_ERR_IO, "cannot map: the SIGBUS guard could not be installed");
        }
        void *map = mmap(NULL, in->size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (map == MAP_FAILED) {
            int e = errno;
            lp_input_close(in);
            return lp_error_set(err, LP_ERR_IO, "cannot map: %s", strerror(e));
        }
        madvise(map, in->size, MADV_SEQUENTIAL);
        in->base = map;
        in->map_size = in->size;
        in->kind = INPUT_MMAP;
    } else {
        in->kind = INPUT_READ;
        posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
    }
    in->buffer = malloc(LP_INPUT_CHUNK);
    if (!in->buffer) {
        lp_input_close(in);
        return lp_error_set(err, LP_ERR_NOMEM, "cannot allocate the read buffer");
    }
    *out = in;
    return LP_OK;
}

lp_status lp_input_open_memory(lp_input **out, const void *data, size_t size, lp_error *err)
{
    lp_input *in = calloc(1, sizeof *in);
    if (!in)
        return lp_error_set(err, LP_ERR_NOMEM, "cannot allocate an input");
    in->kind = INPUT_MEMORY;
    in->fd = -1;
    in->base = data;
    in->size = size;
    *out = in;
    return LP_OK;
}

void lp_input_close(lp_input *in)
{
    if (!in)
        return;
    if (in->kind == INPUT_MMAP && in->base)
        munmap((void *)in->base, in->map_size);
    if (in->fd >= 0) {
        if (in->kind == INPUT_READ)
            posix_fadvise(in->fd, 0, 0, POSIX_FADV_DONTNEED);
        close(in->fd);
    }
    free(in->buffer);
    free(in->name);
    free(in);
}

/* Gives back the pages the cursor has left behind, a page-aligned range at a time. */
static void drop_behind(lp_input *in)
{
    long ps = page_size();
    uint64_t upto = in->pos / (uint64_t)ps * (uint64_t)ps;
    if (upto <= in->dropped || upto - in->dropped < LP_INPUT_CHUNK)
        return;
    if (in->kind == INPUT_MMAP)
        madvise((void *)(in->base + in->dropped), upto - in->dropped, MADV_DONTNEED);
    else if (in->kind == INPUT_READ)
        posix_fadvise(in->fd, (off_t)in->dropped, (off_t)(upto - in->dropped), POSIX_FADV_DONTNEED);
    in->dropped = upto;
}

static lp_status pread_full(lp_input *in, uint8_t *buf, size_t want, uint64_t at, size_t *got,
                            lp_error *err)
{
    size_t done = 0;
    while (done < want) {
        ssize_t n = pread(in->fd, buf + done, want - done, (off_t)(at + done));
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return lp_error_set(err, LP_ERR_IO, "read failed: %s", strerror(errno));
        }
        if (n == 0)
            break;
        done += (size_t)n;
    }
    *got = done;
    return LP_OK;
}

lp_status lp_input_read(lp_input *in, void *buf, size_t want, size_t *got, lp_error *err)
{
    *got = 0;
    uint64_t left = in->pos < in->size ? in->size - in->pos : 0;
    if (want > left)
        want = (size_t)left;
    if (want == 0)
        return LP_OK;
    if (in->kind == INPUT_READ) {
        lp_status st = pread_full(in, buf, want, in->pos, got, err);
        if (st != LP_OK)
            return st;
    } else if (in->kind == INPUT_MMAP) {
        lp_status st = mapped_read(in, buf, want, in->pos, got, err);
        if (st != LP_OK)
            return st;
    } else {
        memcpy(buf, in->base + in->pos, want);
        *got = want;
    }
    in->pos += *got;
    drop_behind(in);
    return LP_OK;
}

lp_status lp_input_next_chunk(lp_input *in, const uint8_t **data, size_t *len, lp_error *err)
{
    *data = NULL;
    *len = 0;
    uint64_t left = in->pos < in->size ? in->size - in->pos : 0;
    size_t want = left < LP_INPUT_CHUNK ? (size_t)left : LP_INPUT_CHUNK;
    if (want == 0)
        return LP_OK;
    if (in->kind != INPUT_MEMORY) {
        size_t got;
        lp_status st = in->kind == INPUT_READ
                           ? pread_full(in, in->buffer, want, in->pos, &got, err)
                           : mapped_read(in, in->buffer, want, in->pos, &got, err);
        if (st != LP_OK)
            return st;
        *data = in->buffer;
        *len = got;
    } else {
        *data = in->base + in->pos;
        *len = want;
    }
    drop_behind(in);  /* before advancing: the chunk just handed out stays resident */
    in->pos += *len;
    return LP_OK;
}

lp_status lp_input_peek(lp_input *in, void *buf, size_t len, size_t *got, lp_error *err)
{
    *got = 0;
    if (len > in->size)
        len = (size_t)in->size;
    if (in->kind == INPUT_READ)
        return pread_full(in, buf, len, 0, got, err);
    if (in->kind == INPUT_MMAP)
        return mapped_read(in, buf, len, 0, got, err);
    memcpy(buf, in->base, len);
    *got = len;
    return LP_OK;
}

lp_status lp_input_read_at(lp_input *in, uint64_t at, void *buf, size_t len, size_t *got,
                           lp_error *err)
{
    *got = 0;
    uint64_t left = at < in->size ? in->size - at : 0;
    if (len > left)
        len = (size_t)left;
    if (len == 0)
        return LP_OK;
    if (in->kind == INPUT_READ)
        return pread_full(in, buf, len, at, got, err);
    if (in->kind == INPUT_MMAP)
        return mapped_read(in, buf, len, at, got, err);
    memcpy(buf, in->base + at, len);
    *got = len;
    return LP_OK;
}

uint64_t lp_input_size(const lp_input *in) { return in->size; }
uint64_t lp_input_position(const lp_input *in) { return in->pos; }
const char *lp_input_name(const lp_input *in) { return in->name ? in->name : "(memory)"; }

int lp_input_fd(const lp_input *in)
{
    return in->kind == INPUT_MEMORY ? -1 : in->fd;
}

bool lp_input_file_id(const lp_input *in, uint64_t *dev, uint64_t *ino)
{
    *dev = in->dev;
    *ino = in->ino;
    return in->kind != INPUT_MEMORY;
}
