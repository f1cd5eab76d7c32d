/*
 * formats/probe.c - the header facts of an input file, read before a job is admitted.
 *
 * The batch has to know what a job will cost before it lets it start, and it must not pay
 * for that knowledge: opening a full decoder for 1,200 files up front would cost decoder
 * state per file. So the file's first bytes pick the format (its descriptor's magic) and
 * the descriptor's probe reads the few bytes that matter with small preads. Anything odd
 * is reported here; the real decoder gives the precise reason when the job runs.
 */
#include "formats/format.h"
#include "io/file_bytes.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static lp_status probe_fd(int fd, uint64_t size, lp_probe *p, lp_error *err)
{
    uint8_t magic[LP_SNIFF_BYTES];
    size_t got = size < sizeof magic ? (size_t)size : sizeof magic;
    if (size == 0)
        return lp_error_set(err, LP_ERR_CORRUPT, "empty file");
    if (size < 16 || !lp_file_read_at(fd, 0, magic, got))
        return lp_error_set(err, LP_ERR_TRUNCATED, "file too short for an image");
    const lp_format_desc *d = lp_format_desc_sniff(magic, got);
    if (!d || !d->source_new || !d->probe)
        return lp_format_unreadable(d, err);
    p->format = d->id;
    p->orientation = 1;
    return d->probe(fd, size, p, err);
}

lp_status lp_probe_file(const char *path, lp_probe *p, lp_error *err)
{
    memset(p, 0, sizeof *p);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return lp_error_set(err, LP_ERR_IO, "cannot open: %s", strerror(errno));
    struct stat sb;
    lp_status st;
    if (fstat(fd, &sb) != 0)
        st = lp_error_set(err, LP_ERR_IO, "cannot stat: %s", strerror(errno));
    else if (!S_ISREG(sb.st_mode))
        st = lp_error_set(err, LP_ERR_IO, "not a regular file");
    else {
        p->file_bytes = (uint64_t)sb.st_size;
        st = probe_fd(fd, p->file_bytes, p, err);
    }
    close(fd);
    return st;
}

lp_status lp_probe_fd(int fd, uint64_t size, lp_probe *p, lp_error *err)
{
    memset(p, 0, sizeof *p);
    p->file_bytes = size;
    return probe_fd(fd, size, p, err);
}
