/*
 * fuzz_util.c - see fuzz_util.h.
 */
#define _GNU_SOURCE
#include "fuzz_util.h"

#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

int lp_fuzz_memfile(const uint8_t *data, size_t size, char *path, size_t path_size)
{
    int fd = memfd_create("lp-fuzz", MFD_CLOEXEC);
    if (fd < 0)
        return -1;
    size_t done = 0;
    while (done < size) {
        ssize_t n = write(fd, data + done, size - done);
        if (n <= 0) {
            close(fd);
            return -1;
        }
        done += (size_t)n;
    }
    snprintf(path, path_size, "/proc/self/fd/%d", fd);
    return fd;
}

size_t lp_fuzz_split(const uint8_t *data, size_t size, const char *sep, const uint8_t **piece,
                     size_t *piece_size, size_t max)
{
    size_t n = 0, seplen = strlen(sep);
    while (n + 1 < max) {
        const uint8_t *hit = memmem(data, size, sep, seplen);
        if (!hit)
            break;
        piece[n] = data;
        piece_size[n++] = (size_t)(hit - data);
        size -= (size_t)(hit - data) + seplen;
        data = hit + seplen;
    }
    piece[n] = data;
    piece_size[n++] = size;
    return n;
}

#include "formats/format.h"
#include "leanpix/codec.h"

void lp_fuzz_decode(const uint8_t *data, size_t size, lp_file_format format, unsigned shrink)
{
    lp_error err = {0};
    lp_input *in;
    if (lp_input_open_memory(&in, data, size, &err) != LP_OK)
        return;
    lp_limits limits;
    lp_limits_default(&limits);
    lp_mem *mem = lp_mem_new(LP_FUZZ_MEM_BUDGET, NULL);
    lp_stage *src = NULL;
    const lp_format_desc *d = lp_format_desc_of(format);
    lp_status st = d && d->source_new ? d->source_new(&src, in, &limits, mem, &err)
                                      : lp_source_open(&src, in, &limits, mem, &err);
    if (st == LP_OK && shrink > 1)
        lp_stage_shrink(src, shrink);
    uint64_t pixels = 0;
    while (st == LP_OK && pixels < LP_FUZZ_MAX_PIXELS) {
        lp_strip strip;
        st = lp_stage_next(src, &strip, &err);
        if (st != LP_OK || strip.rows == 0)
            break;
        /* touch the first and last byte of the strip so ASan checks its extent */
        size_t row = (size_t)src->info.width * lp_format_pixel_bytes(src->info.format);
        volatile uint8_t sink = strip.data[0];
        sink ^= strip.data[(size_t)(strip.rows - 1) * strip.stride + row - 1];
        (void)sink;
        pixels += (uint64_t)strip.rows * src->info.width;
    }
    lp_stage_destroy(src);
    lp_mem_free_tracker(mem);
}

#include "server/mrc.h"

#include <stdlib.h>

static mrc_data *demo_data(void)
{
    static mrc_data *demo;
    if (!demo) {
        lp_error err = {0};
        if (mrc_data_load_demo(&demo, NULL, &err) != LP_OK) {
            fprintf(stderr, "fuzz: cannot load the demo data set: %s\n", lp_error_message(&err));
            abort();
        }
    }
    return demo;
}

void lp_fuzz_bindings(const uint8_t *data, size_t size, const char *game)
{
    mrc_data *d = demo_data();
    const mrc_game *g = mrc_data_game_named(d, game, strlen(game));
    if (!g) {
        fprintf(stderr, "fuzz: no game %s in the table\n", game);
        abort();
    }
    const uint8_t *piece[LP_FUZZ_MAX_FILES];
    size_t piece_size[LP_FUZZ_MAX_FILES];
    size_t n = lp_fuzz_split(data, size, LP_FUZZ_FILE_SEP, piece, piece_size, LP_FUZZ_MAX_FILES);
    mrc_file files[LP_FUZZ_MAX_FILES];
    for (size_t i = 0; i < n; i++)
        files[i] = (mrc_file){piece[i], piece_size[i]};
    mrc_binds binds = {0};
    mrc_log log = {0};
    mrc_cards cards = {0};
    lp_error err = {0};
    lp_status st = g->desc->parse(d, files, n, &binds, &log, &err);
    if (st == LP_OK)
        mrc_build_cards(d, g, &binds, &cards, &log, &err);
    mrc_binds_free(&binds);
    mrc_cards_free(&cards);
    mrc_log_free(&log);
}
