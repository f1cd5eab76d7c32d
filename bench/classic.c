/*
 * classic.c - bench-only: the classic batch's memory causes, turned on one at a time
 * (bench/classic-causes.sh builds and runs it; never part of leanpix).
 *
 *   classic MODE JOBS HEAP_MIB OUTDIR INPUT...
 *
 * Every mode converts the inputs to AVIF (speed 6, quality 60, one encoder thread) with
 * JOBS workers that take inputs in turn, in a process whose parent first builds a heap of
 * HEAP_MIB (the state a real pipeline's parent holds: interpreter, modules, caches):
 *   threads  workers are threads; each job streams (lp_convert_file): the leanpix way
 *   bitmap   threads, but each job decodes the whole bitmap first, encodes from it, and
 *            keeps it alive until the worker's next image is decoded (as a garbage-
 *            collected pipeline holding the last result does)
 *   fork     workers are forked processes that stream; before each image a worker writes
 *            to every page of the inherited heap once (as reference counting and garbage
 *            collection do to every object they visit), so copy-on-write gives each
 *            worker a private copy
 *   mmap     threads that stream, with --io mmap; run it under bench/shims/no_madvise.so
 *            for the whole-file mmap without hints
 * Whole-tree PSS is measured outside (bench/treepeak.py).
 */
#define _GNU_SOURCE
#include <leanpix/leanpix.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

typedef struct work {
    const char *mode;
    const char *outdir;
    char **inputs;
    int count;
    int jobs;
    _Atomic int next;
    char *heap;
    size_t heap_size;
} work;

static void out_path(const work *w, const char *in, char *buf, size_t size)
{
    const char *base = strrchr(in, '/');
    base = base ? base + 1 : in;
    snprintf(buf, size, "%s/%.*s.avif", w->outdir, (int)(strcspn(base, ".")), base);
}

static void options(lp_convert_options *o, lp_io_mode io)
{
    lp_convert_options_default(o);
    o->encode.format = LP_FILE_AVIF;
    o->encode.quality = 60;
    o->encode.speed = 6;
    o->encode.threads = 1;
    o->encode.grid = LP_GRID_OFF;  /* one frame, as the peers write */
    o->io = io;
}

static int convert_streaming(const char *in, const char *out, lp_io_mode io)
{
    lp_convert_options o;
    options(&o, io);
    lp_convert_stats stats;
    lp_error err = {0};
    if (lp_convert_file(in, out, &o, &stats, &err) != LP_OK) {
        fprintf(stderr, "classic: %s: %s\n", in, lp_error_message(&err));
        return 1;
    }
    return 0;
}

/* Decodes the whole image into *bitmap (the previous one freed only now), then encodes. */
static int convert_bitmap(const char *in, const char *out, lp_buffer_image *bitmap)
{
    lp_error err = {0};
    lp_input *input;
    lp_stage *src = NULL, *from_buffer = NULL;
    lp_sink *sink = NULL;
    lp_output *output = NULL;
    lp_buffer_image next;
    memset(&next, 0, sizeof next);
    lp_convert_options o;
    options(&o, LP_IO_READ);
    lp_encode_options enc = o.encode;
    int rc = 1;
    if (lp_input_open_file(&input, in, LP_IO_READ, 0, &err) != LP_OK ||
        lp_source_open(&src, input, &o.limits, NULL, &err) != LP_OK ||
        lp_pipeline_to_buffer(src, &next, NULL, &err) != LP_OK)
        goto done;
    lp_buffer_image_free(bitmap);  /* the previous result dies only now */
    *bitmap = next;
    memset(&next, 0, sizeof next);
    if (lp_buffer_source_new(&from_buffer, bitmap, 64, &err) != LP_OK ||
        lp_output_open_file(&output, out, &err) != LP_OK ||
        lp_sink_new(&sink, output, &enc, NULL, &err) != LP_OK ||
        lp_pipeline_run(from_buffer, sink, NULL, NULL, &err) != LP_OK ||
        lp_output_commit(output, &err) != LP_OK)
        goto done;
    rc = 0;
done:
    if (rc)
        fprintf(stderr, "classic: %s: %s\n", in, lp_error_message(&err));
    lp_buffer_image_free(&next);
    if (sink)
        lp_sink_destroy(sink);
    if (from_buffer)
        lp_stage_destroy(from_buffer);
    if (src)
        lp_stage_destroy(src);
    if (output)
        lp_output_close(output);
    return rc;
}

static void touch_heap(work *w)
{
    for (size_t i = 0; i < w->heap_size; i += 4096)
        w->heap[i]++;
}

static void *thread_worker(void *arg)
{
    work *w = arg;
    lp_buffer_image bitmap;
    memset(&bitmap, 0, sizeof bitmap);
    char out[4096];
    for (int i; (i = atomic_fetch_add(&w->next, 1)) < w->count;) {
        out_path(w, w->inputs[i], out, sizeof out);
        if (!strcmp(w->mode, "bitmap"))
            convert_bitmap(w->inputs[i], out, &bitmap);
        else
            convert_streaming(w->inputs[i], out, !strcmp(w->mode, "mmap") ? LP_IO_MMAP : LP_IO_READ);
    }
    lp_buffer_image_free(&bitmap);
    return NULL;
}

static void fork_worker(work *w, int k)
{
    char out[4096];
    for (int i = k; i < w->count; i += w->jobs) {
        touch_heap(w);
        out_path(w, w->inputs[i], out, sizeof out);
        convert_streaming(w->inputs[i], out, LP_IO_READ);
    }
}

int main(int argc, char **argv)
{
    if (argc < 6) {
        fprintf(stderr, "usage: classic threads|bitmap|fork|mmap JOBS HEAP_MIB OUTDIR INPUT...\n");
        return 2;
    }
    work w = {.mode = argv[1], .jobs = atoi(argv[2]), .outdir = argv[4], .inputs = argv + 5,
              .count = argc - 5};
    w.heap_size = (size_t)atoi(argv[3]) << 20;
    w.heap = malloc(w.heap_size ? w.heap_size : 1);
    if (!w.heap || w.jobs < 1)
        return 1;
    memset(w.heap, 1, w.heap_size);
    if (!strcmp(w.mode, "fork")) {
        for (int k = 0; k < w.jobs; k++) {
            pid_t pid = fork();
            if (pid == 0) {
                fork_worker(&w, k);
                _exit(0);
            }
        }
        while (wait(NULL) > 0) {
        }
    } else {
        pthread_t t[64];
        int n = w.jobs < 64 ? w.jobs : 64;
        for (int k = 0; k < n; k++)
            pthread_create(&t[k], NULL, thread_worker, &w);
        for (int k = 0; k < n; k++)
            pthread_join(t[k], NULL);
    }
    free(w.heap);
    return 0;
}
