/*
 * resume.c - what `batch --resume` needs: is an existing output complete, and which hidden
 * temp files did a killed run leave behind (see leanpix/batch.h).
 *
 * Outputs are renamed into place only after fsync, so a file under an output's name was
 * complete when it got there; the checks here guard against outputs that came from
 * elsewhere (another tool, a copy cut short, a disk that lost data). They read the file's
 * first and last bytes and, for AVIF, walk the top-level ISO-BMFF boxes: enough to know the
 * file is whole without decoding it (a decode of 1,200 outputs would cost more than
 * re-encoding a few). Memory: a few small stack buffers; the directory walk holds one
 * DIR handle per level.
 */
#define _GNU_SOURCE
#include "file_bytes.h"
#include "leanpix/batch.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>


static bool jpeg_complete(int fd, uint64_t size)
{
    uint8_t tail[2];
    /* EOI, possibly followed by a little padding some writers add. */
    for (uint64_t back = 2; back <= 16 && back <= size; back++) {
        if (!file_read_at(fd, size - back, tail, 2))
            return false;
        if (tail[0] == 0xFF && tail[1] == 0xD9)
            return true;
    }
    return false;
}

static bool png_complete(int fd, uint64_t size)
{
    static const uint8_t iend[12] = {0, 0, 0, 0, 'I', 'E', 'N', 'D', 0xAE, 0x42, 0x60, 0x82};
    uint8_t tail[12];
    return size >= 8 + 25 + 12 && file_read_at(fd, size - 12, tail, 12) && !memcmp(tail, iend, 12);
}

static bool webp_complete(int fd, uint64_t size)
{
    uint8_t head[12];
    if (!file_read_at(fd, 0, head, 12))
        return false;
    uint64_t riff = file_le32(head + 4);
    return riff + 8 == size || riff + 9 == size;  /* odd sizes may carry a pad byte */
}

/* Top-level boxes must tile the file exactly, with ftyp first and meta + mdat present. */
static bool avif_complete(int fd, uint64_t size)
{
    bool meta = false, mdat = false;
    uint64_t at = 0;
    for (unsigned boxes = 0; at < size && boxes < 10000; boxes++) {
        uint8_t head[16];
        if (size - at < 8 || !file_read_at(fd, at, head, 8))
            return false;
        uint64_t len = file_be32(head);
        if (len == 1) {
            if (size - at < 16 || !file_read_at(fd, at + 8, head + 8, 8))
                return false;
            len = (uint64_t)file_be32(head + 8) << 32 | file_be32(head + 12);
        } else if (len == 0) {
            len = size - at;
        }
        if (len < 8 || len > size - at)
            return false;
        if (at == 0 && memcmp(head + 4, "ftyp", 4))
            return false;
        meta |= !memcmp(head + 4, "meta", 4);
        mdat |= !memcmp(head + 4, "mdat", 4);
        at += len;
    }
    return at == size && meta && mdat;
}

bool lp_batch_output_complete(const char *path, lp_file_format expected)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    struct stat sb;
    uint8_t magic[16];
    bool ok = false;
    if (fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode) && sb.st_size >= 16 &&
        file_read_at(fd, 0, magic, sizeof magic)) {
        uint64_t size = (uint64_t)sb.st_size;
        lp_file_format f = lp_file_format_sniff(magic, sizeof magic);
        if (expected == LP_FILE_UNKNOWN || f == expected) {
            switch (f) {
            case LP_FILE_JPEG: ok = jpeg_complete(fd, size); break;
            case LP_FILE_PNG: ok = png_complete(fd, size); break;
            case LP_FILE_WEBP: ok = webp_complete(fd, size); break;
            case LP_FILE_AVIF: ok = avif_complete(fd, size); break;
            default: ok = false; break;
            }
        }
    }
    close(fd);
    return ok;
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
