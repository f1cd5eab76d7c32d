/*
 * formats/tiff.c - TIFF: an input format (scans, print and archive masters).
 *
 * Read by src/codec/tiff_load.c (libtiff; strips by scanline, tiles a row of tiles at a
 * time; see its header comment for what is supported). Not written: there is no sink.
 * The probe opens libtiff over the descriptor (the first directory, strip and tile tables
 * not loaded) and the memory model is the source's own (lp_tiff_decode_bytes, defined
 * next to the buffers it describes).
 */
#include "codec/tiff_load.h"
#include "formats/format.h"

#include <string.h>

static const char *const tiff_extensions[] = {"tif", "tiff", NULL};

/* Classic TIFF (42) and BigTIFF (43), either byte order. */
static bool tiff_sniff(const uint8_t *head, size_t len)
{
    if (len < 4)
        return false;
    return (!memcmp(head, "II", 2) && (head[2] == 42 || head[2] == 43) && head[3] == 0) ||
           (!memcmp(head, "MM", 2) && head[2] == 0 && (head[3] == 42 || head[3] == 43));
}

static uint64_t tiff_decode_bytes(const lp_probe *probe, const lp_plan *plan)
{
    (void)plan;  /* no shrink-on-load: the decode is the stored size */
    return lp_tiff_decode_bytes(probe);
}

const lp_format_desc lp_format_tiff = {
    .id = LP_FILE_TIFF,
    .name = "tiff",
    .extensions = tiff_extensions,
    .sniff = tiff_sniff,
    .source_new = lp_tiff_source_new,
    .probe = lp_tiff_probe_fd,
    .decode_bytes = tiff_decode_bytes,
    .default_quality = -1,
};
