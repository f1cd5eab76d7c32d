/*
 * classic.c - bench-only: the classic batch's memory causes, turned on one at a time
 * (bench/classic-causes.sh), and the classic pipeline with its fixes
 * (bench/reference-batch.sh); both build and run it; never part of leanpix.
 *
 *   classic [OPTIONS] MODE JOBS HEAP_MIB OUTDIR INPUT...
 *
 * Every mode converts the inputs to AVIF (speed 6, quality 60 unless the options say
 * otherwise, one encoder thread) with
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
 *   classic  the classic pipeline of the reference batch (bench/reference-batch.sh), on
 *            libjpeg and libavif alone, no leanpix code: JOBS forked workers take the next
 *            input from a shared counter (a process pool's queue), touch the parent's heap,
 *            map the whole JPEG (mmap, no hints), decode it whole into an RGB bitmap,
 *            convert it to YUV and encode one AV1 frame (as avifenc does, whatever the
 *            size); the bitmap and the mapping stay alive until the worker's next image is
 *            decoded.
 * Whole-tree PSS is measured outside (bench/treepeak.py, `leanpix profile`).
 *
 * Options (before MODE): --speed N (default 6), --quantizer Q (default 25 = leanpix -q 60),
 * and for `classic`, --fix LIST: the classic pipeline's fixes, any of
 *   madvise  MADV_SEQUENTIAL on the mapping; MADV_DONTNEED and munmap as soon as the
 *            image is decoded
 *   stream   images of --stream-above MP or more (default 100: the outliers) are decoded
 *            row by row straight into the encoder's YUV planes (libjpeg's YCbCr output, the
 *            BT.601 full-range matrix AVIF uses here; chroma averaged 2x2): no RGB bitmap
 *   threads  workers are threads of one process: the parent's heap is not copied
 * bench/reference-batch.sh adds them one at a time (cumulative).
 */
#define _GNU_SOURCE
#include <leanpix/leanpix.h>

#include <avif/avif.h>
#include <fcntl.h>
#include <jpeglib.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
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
    _Atomic int *shared_next;  /* classic with forks: the pool's queue, in shared memory */
    int speed, quantizer;
    bool fix_madvise, fix_stream, fix_threads;
    double stream_above_px;
} work;

static int g_speed = 6, g_quantizer = 25;

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
    /* the -q whose quantizer ((100 - q) * 63 + 50) / 100 is g_quantizer (25 -> 60) */
    o->encode.quality = 100 - (g_quantizer * 100 + 31) / 63;
    o->encode.speed = g_speed;
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

/* ---- the classic pipeline: libjpeg + libavif, whole images ---------------------------- */

typedef struct kept_image {  /* what a classic worker holds until its next image is decoded */
    void *map;
    size_t map_size;
    uint8_t *rgb;
} kept_image;

static void kept_free(kept_image *k)
{
    if (k->map)
        munmap(k->map, k->map_size);
    free(k->rgb);
    memset(k, 0, sizeof *k);
}

typedef struct jpeg_fail {
    struct jpeg_error_mgr mgr;
    jmp_buf jump;
} jpeg_fail;

static void jpeg_fail_exit(j_common_ptr c)
{
    longjmp(((jpeg_fail *)c->err)->jump, 1);
}

static avifImage *new_yuv(uint32_t w, uint32_t h)
{
    avifImage *img = avifImageCreate((int)w, (int)h, 8, AVIF_PIXEL_FORMAT_YUV420);
    img->yuvRange = AVIF_RANGE_FULL;
    img->matrixCoefficients = AVIF_MATRIX_COEFFICIENTS_BT601;
    img->colorPrimaries = AVIF_COLOR_PRIMARIES_BT709;
    img->transferCharacteristics = AVIF_TRANSFER_CHARACTERISTICS_SRGB;
    return img;
}

/* JPEG rows (YCbCr, full range BT.601: what AVIF's matrix 6 full range means) straight into
 * 4:2:0 planes: luma copied, chroma averaged over 2x2. Two rows of the image at a time. */
static bool stream_to_yuv(struct jpeg_decompress_struct *d, avifImage *img)
{
    uint32_t w = d->output_width, h = d->output_height;
    uint8_t *rows = malloc((size_t)w * 3 * 2);
    if (!rows || avifImageAllocatePlanes(img, AVIF_PLANES_YUV) != AVIF_RESULT_OK) {
        free(rows);
        return false;
    }
    for (uint32_t y = 0; y < h; y += 2) {
        uint32_t n = y + 1 < h ? 2 : 1;
        for (uint32_t r = 0; r < n; r++) {
            JSAMPROW row = rows + (size_t)r * w * 3;
            jpeg_read_scanlines(d, &row, 1);
        }
        const uint8_t *a = rows, *b = rows + (size_t)(n - 1) * w * 3;
        for (uint32_t r = 0; r < n; r++) {
            uint8_t *yrow = img->yuvPlanes[0] + (size_t)(y + r) * img->yuvRowBytes[0];
            const uint8_t *src = r ? b : a;
            for (uint32_t x = 0; x < w; x++)
                yrow[x] = src[x * 3];
        }
        uint8_t *u = img->yuvPlanes[1] + (size_t)(y / 2) * img->yuvRowBytes[1];
        uint8_t *v = img->yuvPlanes[2] + (size_t)(y / 2) * img->yuvRowBytes[2];
        for (uint32_t x = 0; x < w; x += 2) {
            uint32_t x1 = x + 1 < w ? x + 1 : x;
            u[x / 2] = (uint8_t)((a[x * 3 + 1] + a[x1 * 3 + 1] + b[x * 3 + 1] + b[x1 * 3 + 1] + 2) / 4);
            v[x / 2] = (uint8_t)((a[x * 3 + 2] + a[x1 * 3 + 2] + b[x * 3 + 2] + b[x1 * 3 + 2] + 2) / 4);
        }
    }
    free(rows);
    return true;
}

static bool write_file(const char *path, const avifRWData *data)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return false;
    bool ok = fwrite(data->data, 1, data->size, f) == data->size;
    return fclose(f) == 0 && ok;
}

/* One image the classic way; *kept is the worker's previous image, freed once this one is
 * decoded (a reference replaced by the next result). */
static int convert_classic(const work *w, const char *in, const char *out, kept_image *kept)
{
    int fd = open(in, O_RDONLY);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0 || st.st_size == 0) {
        fprintf(stderr, "classic: %s: cannot open\n", in);
        if (fd >= 0)
            close(fd);
        return 1;
    }
    kept_image now = {.map_size = (size_t)st.st_size};
    now.map = mmap(NULL, now.map_size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (now.map == MAP_FAILED) {
        fprintf(stderr, "classic: %s: cannot map\n", in);
        return 1;
    }
    if (w->fix_madvise)
        madvise(now.map, now.map_size, MADV_SEQUENTIAL);

    struct jpeg_decompress_struct d;
    jpeg_fail fail;
    avifImage *volatile img = NULL;
    d.err = jpeg_std_error(&fail.mgr);
    fail.mgr.error_exit = jpeg_fail_exit;
    if (setjmp(fail.jump)) {
        fprintf(stderr, "classic: %s: not a JPEG libjpeg can decode\n", in);
        jpeg_destroy_decompress(&d);
        if (img)
            avifImageDestroy(img);
        kept_free(&now);
        return 1;
    }
    jpeg_create_decompress(&d);
    jpeg_mem_src(&d, now.map, (unsigned long)now.map_size);
    jpeg_read_header(&d, TRUE);
    bool stream = w->fix_stream && (double)d.image_width * d.image_height >= w->stream_above_px;
    d.out_color_space = stream ? JCS_YCbCr : JCS_RGB;
    jpeg_start_decompress(&d);
    uint32_t width = d.output_width, height = d.output_height;
    img = new_yuv(width, height);
    bool ok = true;
    if (stream) {
        ok = stream_to_yuv(&d, img);
    } else {
        now.rgb = malloc((size_t)width * height * 3);
        ok = now.rgb != NULL;
        while (ok && d.output_scanline < height) {
            JSAMPROW row = now.rgb + (size_t)d.output_scanline * width * 3;
            jpeg_read_scanlines(&d, &row, 1);
        }
    }
    jpeg_finish_decompress(&d);
    jpeg_destroy_decompress(&d);
    kept_free(kept);  /* the previous image dies only now */
    if (w->fix_madvise) {
        madvise(now.map, now.map_size, MADV_DONTNEED);
        munmap(now.map, now.map_size);
        now.map = NULL;
    }
    if (ok && now.rgb) {
        avifRGBImage rgb;
        avifRGBImageSetDefaults(&rgb, img);
        rgb.format = AVIF_RGB_FORMAT_RGB;
        rgb.pixels = now.rgb;
        rgb.rowBytes = width * 3;
        ok = avifImageRGBToYUV(img, &rgb) == AVIF_RESULT_OK;
    }
    avifRWData output = AVIF_DATA_EMPTY;
    if (ok) {
        avifEncoder *enc = avifEncoderCreate();
        enc->maxThreads = 1;
        enc->speed = w->speed;
        enc->minQuantizer = enc->maxQuantizer = w->quantizer;
        ok = avifEncoderWrite(enc, img, &output) == AVIF_RESULT_OK && write_file(out, &output);
        avifEncoderDestroy(enc);
    }
    avifRWDataFree(&output);
    avifImageDestroy(img);
    *kept = now;
    if (!ok)
        fprintf(stderr, "classic: %s: cannot convert\n", in);
    return ok ? 0 : 1;
}

static int next_input(work *w)
{
    return atomic_fetch_add(w->shared_next ? w->shared_next : &w->next, 1);
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
    kept_image kept = {0};
    for (int i; (i = next_input(w)) < w->count;) {
        out_path(w, w->inputs[i], out, sizeof out);
        if (!strcmp(w->mode, "classic")) {
            touch_heap(w);
            convert_classic(w, w->inputs[i], out, &kept);
        } else if (!strcmp(w->mode, "bitmap"))
            convert_bitmap(w->inputs[i], out, &bitmap);
        else
            convert_streaming(w->inputs[i], out, !strcmp(w->mode, "mmap") ? LP_IO_MMAP : LP_IO_READ);
    }
    lp_buffer_image_free(&bitmap);
    kept_free(&kept);
    return NULL;
}

static void fork_worker(work *w, int k)
{
    char out[4096];
    if (!strcmp(w->mode, "classic")) {
        thread_worker(w);
        return;
    }
    for (int i = k; i < w->count; i += w->jobs) {
        touch_heap(w);
        out_path(w, w->inputs[i], out, sizeof out);
        convert_streaming(w->inputs[i], out, LP_IO_READ);
    }
}

static bool parse_fixes(work *w, const char *list)
{
    char buf[256];
    snprintf(buf, sizeof buf, "%s", list);
    for (char *save, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        if (!strcmp(t, "madvise"))
            w->fix_madvise = true;
        else if (!strcmp(t, "stream"))
            w->fix_stream = true;
        else if (!strcmp(t, "threads"))
            w->fix_threads = true;
        else
            return false;
    }
    return true;
}

int main(int argc, char **argv)
{
    work w = {.speed = 6, .quantizer = 25, .stream_above_px = 100e6};
    int a = 1;
    for (; a + 1 < argc && !strncmp(argv[a], "--", 2); a += 2) {
        if (!strcmp(argv[a], "--speed"))
            w.speed = atoi(argv[a + 1]);
        else if (!strcmp(argv[a], "--quantizer"))
            w.quantizer = atoi(argv[a + 1]);
        else if (!strcmp(argv[a], "--stream-above"))
            w.stream_above_px = atof(argv[a + 1]) * 1e6;
        else if (strcmp(argv[a], "--fix") || !parse_fixes(&w, argv[a + 1]))
            a = argc;  /* usage */
    }
    if (argc - a < 5) {
        fprintf(stderr, "usage: classic [--speed N] [--quantizer Q] [--fix madvise,stream,threads] "
                        "[--stream-above MP] threads|bitmap|fork|mmap|classic JOBS HEAP_MIB OUTDIR INPUT...\n");
        return 2;
    }
    g_speed = w.speed;
    g_quantizer = w.quantizer;
    argv += a - 1;
    argc -= a - 1;
    w.mode = argv[1];
    w.jobs = atoi(argv[2]);
    w.outdir = argv[4];
    w.inputs = argv + 5;
    w.count = argc - 5;
    w.heap_size = (size_t)atoi(argv[3]) << 20;
    w.heap = malloc(w.heap_size ? w.heap_size : 1);
    if (!w.heap || w.jobs < 1)
        return 1;
    memset(w.heap, 1, w.heap_size);
    bool classic = !strcmp(w.mode, "classic");
    if (classic && !w.fix_threads) {
        w.shared_next = mmap(NULL, sizeof *w.shared_next, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        if (w.shared_next == MAP_FAILED)
            return 1;
        atomic_store(w.shared_next, 0);
    }
    if (!strcmp(w.mode, "fork") || (classic && !w.fix_threads)) {
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
