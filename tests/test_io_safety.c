/*
 * test_io_safety.c - writing an output never destroys what was at its name, reading a
 * mapped input that shrinks is an error for that job and not a SIGBUS for the process,
 * SIGINT/SIGTERM during convert leave no temp file, and batch says when it skips a named
 * input inside OUTDIR (issue 9, items 5, 8, 10a, 10d).
 *
 * Outputs: a symlink stays a link and its target is written (also dangling), the old mode
 * (and owner, as root) is kept, a null device, a FIFO and a pipe are written directly and stay
 * what they were, a directory is refused, and writing in place over the input through
 * /proc is refused. Inputs: the file is truncated between two reads inside one checked
 * window (the SIGBUS guard itself), before a chunk (the size check), and in the middle of
 * a JPEG decode (same message as --io read); faults outside the guard still end the
 * process or reach the handler installed before ours; threads each catch their own.
 */
#define _GNU_SOURCE
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* ---- helpers ---- */

static const char *dir_path(const char *name)
{
    const char *p = lpt_path(name);
    lpt_run("rm -rf '%s' && mkdir -p '%s'", p, p);
    return p;
}

static char *join(const char *dir, const char *name)
{
    char *s = malloc(strlen(dir) + strlen(name) + 2);
    assert_non_null(s);
    sprintf(s, "%s/%s", dir, name);
    return s;
}

static void write_text(const char *path, const char *text)
{
    lpt_write_file(path, text, strlen(text));
}

static void assert_file_text(const char *path, const char *text)
{
    size_t n;
    uint8_t *data = lpt_read_file(path, &n);
    assert_non_null(data);
    assert_int_equal(n, strlen(text));
    assert_memory_equal(data, text, n);
    free(data);
}

/* A photo-like JPEG of w x h written by leanpix's own encoder. */
static void make_jpeg(const char *path, uint32_t w, uint32_t h, int quality)
{
    lp_buffer_image img;
    lpt_make_photo(&img, w, h, LP_FORMAT_RGB8, 7);
    lp_encode_options eo;
    lp_encode_options_default(&eo, LP_FILE_JPEG);
    eo.quality = quality;
    lp_stage *src;
    lp_sink *sink = NULL;
    lp_output *out = NULL;
    lp_error err = {0};
    assert_int_equal(lp_buffer_source_new(&src, &img, 0, &err), LP_OK);
    assert_int_equal(lp_output_open_file(&out, path, &err), LP_OK);
    assert_int_equal(lp_jpeg_sink_new(&sink, out, &eo, NULL, &err), LP_OK);
    assert_int_equal(lp_pipeline_run(src, sink, NULL, NULL, &err), LP_OK);
    assert_int_equal(lp_output_commit(out, &err), LP_OK);
    lp_sink_destroy(sink);
    lp_output_close(out);
    lp_stage_destroy(src);
    lp_buffer_image_free(&img);
}

/* ---- outputs ---- */

static void test_symlink_kept_and_target_written(void **state)
{
    (void)state;
    const char *dir = dir_path("links");
    char *sub = join(dir, "real");
    assert_int_equal(mkdir(sub, 0755), 0);
    char *target = join(sub, "t.bin"), *link = join(dir, "l.bin");
    write_text(target, "old");
    assert_int_equal(symlink("real/t.bin", link), 0);  /* relative, into another directory */
    assert_int_equal(lp_write_file_atomic(link, "new bytes", 9, NULL), LP_OK);
    struct stat st;
    assert_int_equal(lstat(link, &st), 0);
    assert_true(S_ISLNK(st.st_mode));
    assert_file_text(target, "new bytes");
    assert_int_equal(lpt_count_files(dir, "."), 2);  /* ".", "..": no temp beside the link */
    assert_int_equal(lpt_count_files(sub, ".t.bin.lp-"), 0);

    /* a chain of two links ends at the same target */
    char *link2 = join(dir, "l2.bin");
    assert_int_equal(symlink(link, link2), 0);  /* absolute */
    assert_int_equal(lp_write_file_atomic(link2, "third", 5, NULL), LP_OK);
    assert_int_equal(lstat(link2, &st), 0);
    assert_true(S_ISLNK(st.st_mode));
    assert_file_text(target, "third");
    free(sub), free(target), free(link), free(link2);
}

static void test_dangling_symlink_creates_its_target(void **state)
{
    (void)state;
    const char *dir = dir_path("dangling");
    char *target = join(dir, "nowhere.bin"), *link = join(dir, "d.bin");
    assert_int_equal(symlink("nowhere.bin", link), 0);
    assert_int_equal(lp_write_file_atomic(link, "made", 4, NULL), LP_OK);
    struct stat st;
    assert_int_equal(lstat(link, &st), 0);
    assert_true(S_ISLNK(st.st_mode));
    assert_file_text(target, "made");
    free(target), free(link);
}

static void test_mode_kept_and_new_files_follow_umask(void **state)
{
    (void)state;
    const char *dir = dir_path("modes");
    static const mode_t modes[] = {0600, 0640, 0444};
    for (size_t i = 0; i < 3; i++) {
        char name[32];
        snprintf(name, sizeof name, "m%zu.bin", i);
        char *path = join(dir, name);
        write_text(path, "old");
        assert_int_equal(chmod(path, modes[i]), 0);
        assert_int_equal(lp_write_file_atomic(path, "new", 3, NULL), LP_OK);
        struct stat st;
        assert_int_equal(stat(path, &st), 0);
        assert_int_equal(st.st_mode & 07777, modes[i]);
        assert_file_text(path, "new");
        free(path);
    }
    mode_t old_mask = umask(077);
    char *fresh = join(dir, "fresh.bin");
    assert_int_equal(lp_write_file_atomic(fresh, "x", 1, NULL), LP_OK);
    umask(old_mask);
    struct stat st;
    assert_int_equal(stat(fresh, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);  /* umask 077: nobody else may read it */
    free(fresh);
}

static void test_owner_kept_as_root(void **state)
{
    (void)state;
    if (geteuid() != 0) {
        fprintf(stderr, "SKIP: not root: owners cannot be given away\n");
        skip();
    }
    const char *dir = dir_path("owner");
    char *path = join(dir, "o.bin");
    write_text(path, "old");
    assert_int_equal(chown(path, 4321, 4322), 0);
    assert_int_equal(chmod(path, 0640), 0);
    assert_int_equal(lp_write_file_atomic(path, "new", 3, NULL), LP_OK);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_uid, 4321);
    assert_int_equal(st.st_gid, 4322);
    assert_int_equal(st.st_mode & 07777, 0640);
    free(path);
}

/* A null device of the test's own when root may make one (mknod): a regression must not
 * replace the machine's /dev/null (the old code did, as root). Without root /dev/null is
 * used, which a regression could not replace anyway. */
static void test_null_device_written_directly(void **state)
{
    (void)state;
    const char *dir = dir_path("device");
    char *own = join(dir, "null.jpg");
    const char *dev = mknod(own, S_IFCHR | 0666, makedev(1, 3)) == 0 ? own : "/dev/null";
    struct stat before, after;
    assert_int_equal(stat(dev, &before), 0);
    assert_true(S_ISCHR(before.st_mode));
    lp_error err = {0};
    assert_int_equal(lp_write_file_atomic(dev, "abc", 3, &err), LP_OK);
    assert_int_equal(stat(dev, &after), 0);
    assert_true(S_ISCHR(after.st_mode));
    assert_int_equal(after.st_rdev, before.st_rdev);
    assert_int_equal(after.st_ino, before.st_ino);
    assert_int_equal(lpt_count_files(dir, ".null.jpg.lp-"), 0);
    free(own);
}

typedef struct fifo_reader {
    const char *path;
    char got[64];
    size_t n;
} fifo_reader;

static void *read_fifo(void *arg)
{
    fifo_reader *r = arg;
    int fd = open(r->path, O_RDONLY);
    if (fd < 0)
        return NULL;
    ssize_t k;
    while (r->n < sizeof r->got && (k = read(fd, r->got + r->n, sizeof r->got - r->n)) > 0)
        r->n += (size_t)k;
    close(fd);
    return NULL;
}

static void test_fifo_written_directly(void **state)
{
    (void)state;
    const char *dir = dir_path("fifo");
    char *path = join(dir, "f.webp");
    assert_int_equal(mkfifo(path, 0644), 0);
    fifo_reader r = {.path = path};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, read_fifo, &r), 0);
    assert_int_equal(lp_write_file_atomic(path, "through the fifo", 16, NULL), LP_OK);
    pthread_join(t, NULL);
    assert_int_equal(r.n, 16);
    assert_memory_equal(r.got, "through the fifo", 16);
    struct stat st;
    assert_int_equal(lstat(path, &st), 0);
    assert_true(S_ISFIFO(st.st_mode));
    assert_int_equal(lpt_count_files(dir, ".f.webp.lp-"), 0);
    free(path);
}

/* "/dev/stdout" is a link to /proc/self/fd/1, itself a link to "pipe:[...]", not to a
 * path. The tests use a link of their own to /proc/self/fd/1, so that a regression
 * replaces that link and not the machine's /dev/stdout (the old code did, as root). */
static char *stdout_link(const char *dir)
{
    char *link = join(dir, "stdout");
    unlink(link);
    assert_int_equal(symlink("/proc/self/fd/1", link), 0);
    return link;
}

static void test_pipe_through_proc_fd(void **state)
{
    (void)state;
    int p[2];
    assert_int_equal(pipe(p), 0);
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", p[1]);
    lp_output *o;
    lp_error err = {0};
    assert_int_equal(lp_output_open_file(&o, path, &err), LP_OK);
    assert_int_equal(lp_output_write(o, "piped", 5, &err), LP_OK);
    assert_int_equal(lp_output_commit(o, &err), LP_OK);
    lp_output_close(o);
    close(p[1]);
    char buf[16];
    assert_int_equal(read(p[0], buf, sizeof buf), 5);
    assert_memory_equal(buf, "piped", 5);
    close(p[0]);
}

static void test_cli_stdout_through_a_pipe(void **state)
{
    (void)state;
    const char *dir = dir_path("stdout");
    char *jpg = join(dir, "small.jpg");
    make_jpeg(jpg, 64, 48, 90);
    char cmd[2048];
    char *link = stdout_link(dir);
    snprintf(cmd, sizeof cmd, "'%s' convert '%s' '%s' --format webp", lpt_bin(), jpg, link);
    FILE *f = popen(cmd, "r");
    assert_non_null(f);
    uint8_t buf[65536];
    size_t n = fread(buf, 1, sizeof buf, f);
    assert_int_equal(pclose(f), 0);
    assert_true(n > 12 && !memcmp(buf, "RIFF", 4) && !memcmp(buf + 8, "WEBP", 4));
    struct stat st;
    assert_int_equal(lstat(link, &st), 0);
    assert_true(S_ISLNK(st.st_mode));
    assert_int_equal(lpt_count_files(dir, ".stdout.lp-"), 0);
    free(jpg), free(link);
}

static void test_directory_and_input_itself_refused(void **state)
{
    (void)state;
    const char *dir = dir_path("refuse");
    char *sub = join(dir, "sub.jpg");
    assert_int_equal(mkdir(sub, 0755), 0);
    lp_output *o = NULL;
    lp_error err = {0};
    assert_int_not_equal(lp_output_open_file(&o, sub, &err), LP_OK);
    assert_non_null(strstr(err.message, "directory"));
    struct stat st;
    assert_int_equal(stat(sub, &st), 0);
    assert_true(S_ISDIR(st.st_mode));

    /* the input, opened for writing in place (a /proc link to it): refused, input intact */
    char *jpg = join(dir, "in.jpg");
    make_jpeg(jpg, 64, 48, 90);
    size_t before_size;
    uint8_t *before = lpt_read_file(jpg, &before_size);
    int fd = open(jpg, O_RDWR);
    assert_true(fd >= 0);
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    lp_input *in;
    assert_int_equal(lp_input_open_file(&in, jpg, LP_IO_READ, 0, NULL), LP_OK);
    assert_int_equal(lp_output_open_file(&o, path, &err), LP_OK);
    assert_true(lp_output_overwrites(o, in));
    lp_output_close(o);
    lp_input_close(in);
    close(fd);
    /* the CLI says so and leaves the input as it was */
    char msg[2048];
    char *link = stdout_link(dir);
    int rc = lpt_run_capture(msg, sizeof msg, "{ '%s' convert '%s' '%s' --format png >> '%s'; }",
                             lpt_bin(), jpg, link, jpg);
    assert_int_equal(rc, 1);
    assert_non_null(strstr(msg, "input file itself"));
    size_t after_size;
    uint8_t *after = lpt_read_file(jpg, &after_size);
    assert_int_equal(after_size, before_size);
    assert_memory_equal(after, before, before_size);
    free(before), free(after), free(jpg), free(sub), free(link);
}

static void test_remove_temps_for_signal_handlers(void **state)
{
    (void)state;
    const char *dir = dir_path("temps");
    char *path = join(dir, "t.avif");
    lp_output *a, *b;
    assert_int_equal(lp_output_open_file(&a, path, NULL), LP_OK);
    assert_int_equal(lp_output_open_file(&b, path, NULL), LP_OK);
    assert_int_equal(lpt_count_files(dir, ".t.avif.lp-"), 2);
    lp_output_remove_temps();
    assert_int_equal(lpt_count_files(dir, ".t.avif.lp-"), 0);
    lp_output_close(a);
    lp_output_close(b);
    free(path);
}

/* ---- mapped inputs that shrink ---- */

static uint8_t *pattern(size_t n)
{
    uint8_t *data = malloc(n);
    assert_non_null(data);
    for (size_t i = 0; i < n; i++)
        data[i] = (uint8_t)(i * 13 + i / 509);
    return data;
}

/* Truncated inside the window whose size was already checked: the copy faults, and the
 * guard turns the SIGBUS into the end of the input (the old code died of SIGBUS here). */
static void truncate_between_reads(const char *path)
{
    size_t n = 3 * LP_INPUT_CHUNK;
    uint8_t *data = pattern(n);
    lpt_write_file(path, data, n);
    lp_input *in;
    assert_int_equal(lp_input_open_file(&in, path, LP_IO_MMAP, 0, NULL), LP_OK);
    uint8_t buf[8192];
    size_t got;
    assert_int_equal(lp_input_read(in, buf, 100, &got, NULL), LP_OK);
    assert_int_equal(got, 100);
    assert_memory_equal(buf, data, 100);
    assert_int_equal(truncate(path, 0), 0);
    lp_error err = {0};
    assert_int_equal(lp_input_read(in, buf, sizeof buf, &got, &err), LP_OK);
    assert_int_equal(got, 0);  /* ends, as a short pread would */
    assert_int_equal(lp_input_size(in), 0);
    lp_input_close(in);
    free(data);
}

static void test_mmap_truncated_between_reads(void **state)
{
    (void)state;
    truncate_between_reads(lpt_path("shrink1.bin"));
}

static void test_mmap_truncated_before_a_chunk(void **state)
{
    (void)state;
    const char *path = lpt_path("shrink2.bin");
    size_t n = 4 * LP_INPUT_CHUNK, cut = LP_INPUT_CHUNK + LP_INPUT_CHUNK / 2 + 7;
    uint8_t *data = pattern(n);
    lpt_write_file(path, data, n);
    lp_input *in;
    assert_int_equal(lp_input_open_file(&in, path, LP_IO_MMAP, 0, NULL), LP_OK);
    const uint8_t *chunk;
    size_t len, total = 0;
    assert_int_equal(lp_input_next_chunk(in, &chunk, &len, NULL), LP_OK);
    assert_int_equal(len, LP_INPUT_CHUNK);
    total += len;
    assert_int_equal(truncate(path, (off_t)cut), 0);
    for (;;) {
        assert_int_equal(lp_input_next_chunk(in, &chunk, &len, NULL), LP_OK);
        if (!len)
            break;
        assert_memory_equal(chunk, data + total, len);
        total += len;
    }
    assert_int_equal(total, cut);
    lp_input_close(in);
    free(data);
}

typedef struct truncator {
    const char *path;
    off_t to;
    bool done;
} truncator;

static bool truncate_on_first_rows(void *user, uint32_t done, uint32_t total)
{
    truncator *t = user;
    (void)total;
    if (!t->done && done > 0) {
        assert_int_equal(truncate(t->path, t->to), 0);
        t->done = true;
    }
    return true;
}

/* A JPEG cut while it is decoded: both I/O modes give the same clean error. */
static void convert_while_truncated(const char *jpg, const uint8_t *bytes, size_t size,
                                    lp_io_mode mode, const char *out, lp_error *err)
{
    lpt_write_file(jpg, bytes, size);
    truncator t = {.path = jpg, .to = (off_t)(size * 2 / 5)};
    lp_convert_options opts;
    lp_convert_options_default(&opts);
    opts.io = mode;
    opts.encode.format = LP_FILE_PNG;
    opts.progress = truncate_on_first_rows;
    opts.progress_user = &t;
    lp_convert_stats stats;
    assert_int_not_equal(lp_convert_file(jpg, out, &opts, &stats, err), LP_OK);
    assert_true(t.done);
}

static void test_mmap_jpeg_truncated_while_decoded(void **state)
{
    (void)state;
    const char *dir = dir_path("cut");
    char *jpg = join(dir, "photo.jpg"), *out = join(dir, "photo.png");
    make_jpeg(jpg, 1600, 1200, 95);
    size_t size;
    uint8_t *bytes = lpt_read_file(jpg, &size);
    assert_true(size > 2 * LP_INPUT_CHUNK);  /* the cut is past the first chunk */
    lp_error by_read = {0}, by_mmap = {0};
    convert_while_truncated(jpg, bytes, size, LP_IO_READ, out, &by_read);
    convert_while_truncated(jpg, bytes, size, LP_IO_MMAP, out, &by_mmap);
    assert_int_equal(by_mmap.status, LP_ERR_TRUNCATED);
    assert_non_null(strstr(by_mmap.message, "truncated JPEG data at scanline"));
    assert_string_equal(by_mmap.message, by_read.message);
    assert_false(lpt_file_exists(out));
    assert_int_equal(lpt_count_files(dir, ".photo.png.lp-"), 0);
    free(bytes), free(jpg), free(out);
}

/* Threads catch their own faults (the guard is thread-local). */
static void *truncate_in_thread(void *arg)
{
    truncate_between_reads(arg);
    return NULL;
}

static void test_mmap_guard_per_thread(void **state)
{
    (void)state;
    enum { THREADS = 4 };
    pthread_t t[THREADS];
    char *paths[THREADS];
    for (int i = 0; i < THREADS; i++) {
        char name[32];
        snprintf(name, sizeof name, "shrink-t%d.bin", i);
        paths[i] = strdup(lpt_path(name));
        assert_int_equal(pthread_create(&t[i], NULL, truncate_in_thread, paths[i]), 0);
    }
    for (int i = 0; i < THREADS; i++) {
        pthread_join(t[i], NULL);
        free(paths[i]);
    }
}

/* A mapping of our own, truncated and touched outside any guard. */
static void fault_outside_the_guard(const char *path)
{
    uint8_t *data = pattern(65536);
    lpt_write_file(path, data, 65536);
    free(data);
    lp_input *in;  /* installs the library's handler */
    if (lp_input_open_file(&in, path, LP_IO_MMAP, 0, NULL) != LP_OK)
        _exit(90);
    int fd = open(path, O_RDONLY);
    volatile uint8_t *map = mmap(NULL, 65536, PROT_READ, MAP_PRIVATE, fd, 0);
    if (map == MAP_FAILED || truncate(path, 0) != 0)
        _exit(91);
    uint8_t x = map[8192];
    (void)x;
    _exit(92);  /* not reached: the fault is not the library's to swallow */
}

static void previous_handler(int sig)
{
    (void)sig;
    _exit(42);
}

static void test_sigbus_outside_the_guard_is_passed_on(void **state)
{
    (void)state;
    /* nobody else handles SIGBUS: the process dies of it, as without the library */
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        signal(SIGBUS, SIG_DFL);
        fault_outside_the_guard(lpt_path("outside1.bin"));
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status));
    assert_int_equal(WTERMSIG(status), SIGBUS);
    /* a handler installed before ours still gets its faults */
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        signal(SIGBUS, previous_handler);
        fault_outside_the_guard(lpt_path("outside2.bin"));
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 42);
}

/* batch --io mmap with one input truncated while its job runs: that image fails with a
 * clean error, the others are done, and no temp file is left. The cut is made as soon as
 * the job's temp file appears, i.e. while it reads; if the job was faster than that the
 * case cannot be shown and is skipped. */
static void test_batch_mmap_input_truncated_while_read(void **state)
{
    (void)state;
    const char *dir = dir_path("batchcut");
    char *in = join(dir, "in"), *out = join(dir, "out");
    assert_int_equal(mkdir(in, 0755), 0);
    char *big = join(in, "a.jpg"), *small = join(in, "b.jpg");
    make_jpeg(big, 3000, 2000, 95);
    make_jpeg(small, 64, 48, 90);
    long long size = lpt_file_size(big);
    char *errfile = join(dir, "stderr.txt");
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int fd = open(errfile, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        dup2(fd, 2);
        execl(lpt_bin(), "leanpix", "batch", "--jobs", "1", "--io", "mmap", "--no-progress",
              "--format", "png", "-o", out, in, (char *)NULL);
        _exit(127);
    }
    bool cut = false;
    for (int i = 0; i < 20000 && !cut; i++) {  /* up to 20 s */
        if (lpt_count_files(out, ".a.png.lp-") > 0) {
            assert_int_equal(truncate(big, size / 3), 0);
            cut = true;
        } else {
            usleep(1000);
        }
        int status;
        if (!cut && waitpid(pid, &status, WNOHANG) == pid)
            break;
    }
    int status;
    waitpid(pid, &status, 0);
    char text[4096] = {0};
    FILE *f = fopen(errfile, "r");
    assert_non_null(f);
    size_t n = fread(text, 1, sizeof text - 1, f);
    text[n] = '\0';
    fclose(f);
    if (!cut || (WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
        fprintf(stderr, "SKIP: the job finished before the input could be cut\n");
        skip();
    }
    assert_true(WIFEXITED(status));          /* not killed by SIGBUS (exit 135 before) */
    assert_int_equal(WEXITSTATUS(status), 3);  /* one image failed, the other was done */
    assert_non_null(strstr(text, "a.jpg: truncated"));
    char *b_out = join(out, "b.png");
    assert_true(lpt_file_exists(b_out));
    assert_int_equal(lpt_count_files(out, ".a.png.lp-"), 0);
    assert_int_equal(lpt_count_files(out, "a.png"), 0);
    free(b_out), free(errfile), free(big), free(small), free(in), free(out);
}

/* ---- convert interrupted ---- */

/* Whatever ran the tests (a script's background job ignores SIGINT; TSan's fork leaves
 * signals blocked in the child): the signal as a command started from a terminal has it. */
static void start_like_a_foreground_command(int sig)
{
    signal(sig, SIG_DFL);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
}

/* Runs sh -c script with no signal blocked (see above); returns its exit status. */
static int run_shell(const char *script)
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        execl("/bin/sh", "sh", "-c", script, (char *)NULL);
        _exit(127);
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    return WEXITSTATUS(status);
}

static void interrupt_convert(int sig)
{
    const char *dir = dir_path(sig == SIGINT ? "sigint" : "sigterm");
    char *jpg = join(dir, "big.jpg"), *avif = join(dir, "big.avif"),
         *errfile = join(dir, "stderr.txt");
    make_jpeg(jpg, 2400, 1800, 90);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int fd = open(errfile, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        dup2(fd, 2);
        start_like_a_foreground_command(sig);
        execl(lpt_bin(), "leanpix", "convert", jpg, avif, "--speed", "0", (char *)NULL);
        _exit(127);
    }
    bool seen = false;
    for (int i = 0; i < 20000 && !seen; i++) {  /* the temp file appears at once */
        seen = lpt_count_files(dir, ".big.avif.lp-") > 0;
        if (!seen)
            usleep(1000);
    }
    assert_true(seen);
    usleep(100 * 1000);  /* well inside the encode (seconds at speed 0) */
    assert_int_equal(kill(pid, sig), 0);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    /* ended by the signal itself: the shell reports 128 + signal (130, 143) */
    assert_true(WIFSIGNALED(status));
    assert_int_equal(WTERMSIG(status), sig);
    assert_int_equal(lpt_count_files(dir, ".big.avif.lp-"), 0);
    assert_false(lpt_file_exists(avif));
    char text[1024] = {0};
    FILE *f = fopen(errfile, "r");
    assert_non_null(f);
    size_t n = fread(text, 1, sizeof text - 1, f);
    text[n] = '\0';
    fclose(f);
    assert_non_null(strstr(text, sig == SIGINT ? "interrupted by SIGINT" : "interrupted by SIGTERM"));
    int lines = 0;
    for (size_t i = 0; i < n; i++)
        lines += text[i] == '\n';
    assert_int_equal(lines, 1);  /* one line, nothing else */
    free(jpg), free(avif), free(errfile);
}

static void test_convert_sigint_leaves_no_temp(void **state)
{
    (void)state;
    interrupt_convert(SIGINT);
}

static void test_convert_sigterm_leaves_no_temp(void **state)
{
    (void)state;
    interrupt_convert(SIGTERM);
}

static void test_convert_interrupted_status_in_the_shell(void **state)
{
    (void)state;
    const char *dir = dir_path("sigshell");
    char *jpg = join(dir, "big.jpg");
    make_jpeg(jpg, 2400, 1800, 90);
    /* sh reports a child killed by SIGTERM as 143 (SIGINT cannot be shown this way: a
     * script's background job starts with SIGINT ignored, and convert keeps it so) */
    char script[2048];
    snprintf(script, sizeof script,
             "cd '%s' && { '%s' convert big.jpg big.avif --speed 0 2>/dev/null & p=$!; "
             "while ! ls -a | grep -q '^\\.big\\.avif\\.lp-'; do sleep 0.01; done; "
             "kill -TERM $p; wait $p; exit $?; }",
             dir, lpt_bin());
    assert_int_equal(run_shell(script), 143);
    assert_int_equal(lpt_count_files(dir, ".big.avif.lp-"), 0);
    free(jpg);
}

/* A script's background job starts with SIGINT ignored; convert must keep it so. */
static void test_convert_keeps_an_ignored_sigint(void **state)
{
    (void)state;
    const char *dir = dir_path("sigign");
    char *jpg = join(dir, "small.jpg"), *out = join(dir, "small.webp");
    make_jpeg(jpg, 640, 480, 90);
    char script[2048];
    snprintf(script, sizeof script,
             "cd '%s' && { trap '' INT; '%s' convert small.jpg small.webp & p=$!; "
             "kill -INT $p; wait $p; exit $?; }", dir, lpt_bin());
    assert_int_equal(run_shell(script), 0);
    assert_true(lpt_file_exists(out));
    free(jpg), free(out);
}

/* ---- batch: named inputs inside OUTDIR ---- */

static void test_batch_named_input_inside_outdir(void **state)
{
    (void)state;
    const char *dir = dir_path("inside");
    char *out = join(dir, "out");
    assert_int_equal(mkdir(out, 0755), 0);
    char *x = join(out, "x.jpg"), *y = join(dir, "y.jpg"), *report = join(dir, "r.json");
    make_jpeg(x, 64, 48, 90);
    make_jpeg(y, 64, 48, 90);
    char text[4096];
    /* nothing else to do: said, and not exit 0 */
    int rc = lpt_run_capture(text, sizeof text, "'%s' batch --no-progress -o '%s' '%s' --json '%s'",
                             lpt_bin(), out, x, report);
    assert_int_equal(rc, 1);
    assert_non_null(strstr(text, "x.jpg: skipped: it is inside the output directory"));
    assert_non_null(strstr(text, "nothing to do"));
    size_t n;
    char *json = (char *)lpt_read_file(report, &n);
    assert_non_null(json);
    assert_non_null(strstr(json, "\"status\": \"excluded\""));
    free(json);
    /* with another input: that one is done, the skipped one makes the exit 3 */
    rc = lpt_run_capture(text, sizeof text, "'%s' batch --no-progress --speed 9 -o '%s' '%s' '%s'",
                         lpt_bin(), out, x, y);
    assert_int_equal(rc, 3);
    assert_non_null(strstr(text, "x.jpg: skipped"));
    char *y_out = join(out, "y.avif");
    assert_true(lpt_file_exists(y_out));
    /* found by recursing a directory that holds OUTDIR: still skipped without a fuss */
    rc = lpt_run_capture(text, sizeof text, "'%s' batch --no-progress --speed 9 -o '%s' '%s'",
                         lpt_bin(), out, dir);
    assert_int_equal(rc, 0);
    assert_null(strstr(text, "skipped"));
    free(y_out), free(x), free(y), free(out), free(report);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_symlink_kept_and_target_written),
        cmocka_unit_test(test_dangling_symlink_creates_its_target),
        cmocka_unit_test(test_mode_kept_and_new_files_follow_umask),
        cmocka_unit_test(test_owner_kept_as_root),
        cmocka_unit_test(test_null_device_written_directly),
        cmocka_unit_test(test_fifo_written_directly),
        cmocka_unit_test(test_pipe_through_proc_fd),
        cmocka_unit_test(test_cli_stdout_through_a_pipe),
        cmocka_unit_test(test_directory_and_input_itself_refused),
        cmocka_unit_test(test_remove_temps_for_signal_handlers),
        cmocka_unit_test(test_mmap_truncated_between_reads),
        cmocka_unit_test(test_mmap_truncated_before_a_chunk),
        cmocka_unit_test(test_mmap_jpeg_truncated_while_decoded),
        cmocka_unit_test(test_mmap_guard_per_thread),
        cmocka_unit_test(test_sigbus_outside_the_guard_is_passed_on),
        cmocka_unit_test(test_batch_mmap_input_truncated_while_read),
        cmocka_unit_test(test_convert_sigint_leaves_no_temp),
        cmocka_unit_test(test_convert_sigterm_leaves_no_temp),
        cmocka_unit_test(test_convert_interrupted_status_in_the_shell),
        cmocka_unit_test(test_convert_keeps_an_ignored_sigint),
        cmocka_unit_test(test_batch_named_input_inside_outdir),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
