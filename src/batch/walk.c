/*
 * walk.c - the batch's input list: files, directories (recursed), list files; the relative
 * path each output keeps; sorting, duplicate detection and sharding (see leanpix/batch.h).
 *
 * The list is sorted by relative path before sharding so that N machines given the same
 * inputs agree on who does what without talking to each other: shard I takes the items at
 * positions I, I+N, I+2N... (modulo by index spreads a directory's big and small images
 * evenly, which hashing would only do on average). Directory entries are read with
 * opendir/readdir one directory at a time; memory is two strings per input.
 */
#define _GNU_SOURCE
#include "leanpix/batch.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

void lp_batch_list_init(lp_batch_list *list)
{
    memset(list, 0, sizeof *list);
}

void lp_batch_list_free(lp_batch_list *list)
{
    for (size_t i = 0; i < list->count; i++) {
        free(list->items[i].path);
        free(list->items[i].rel);
    }
    free(list->items);
    lp_batch_list_init(list);
}

static lp_status list_push(lp_batch_list *list, const char *path, const char *rel, bool named,
                           lp_error *err)
{
    if (list->count == list->capacity) {
        size_t cap = list->capacity ? list->capacity * 2 : 64;
        lp_batch_item *items = realloc(list->items, cap * sizeof *items);
        if (!items)
            return lp_error_set(err, LP_ERR_NOMEM, "cannot grow the input list to %zu items", cap);
        list->items = items;
        list->capacity = cap;
    }
    char *p = strdup(path);
    char *r = strdup(rel);
    if (!p || !r) {
        free(p);
        free(r);
        return lp_error_set(err, LP_ERR_NOMEM, "cannot allocate the input list");
    }
    list->items[list->count].path = p;
    list->items[list->count].rel = r;
    list->items[list->count].named = named;
    list->count++;
    return LP_OK;
}

/* "./a/./b.jpg" -> "a/b.jpg"; NULL when the path is absolute or climbs with "..". */
static char *clean_relative(const char *path)
{
    if (path[0] == '/')
        return NULL;
    char *out = malloc(strlen(path) + 1);
    if (!out)
        return NULL;
    size_t n = 0;
    const char *p = path;
    while (*p) {
        const char *end = strchr(p, '/');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len == 2 && p[0] == '.' && p[1] == '.') {
            free(out);
            return NULL;
        }
        if (len > 0 && !(len == 1 && p[0] == '.')) {
            if (n)
                out[n++] = '/';
            memcpy(out + n, p, len);
            n += len;
        }
        p += len;
        while (*p == '/')
            p++;
    }
    out[n] = '\0';
    if (n == 0) {
        free(out);
        return NULL;
    }
    return out;
}

/* A file of a format leanpix reads, by its extension (the content is checked when the
 * job is probed). */
static bool is_image_name(const char *name)
{
    return lp_file_format_readable(lp_file_format_from_path(name));
}

static lp_status add_file(lp_batch_list *list, const char *path, lp_error *err)
{
    char *rel = clean_relative(path);
    if (!rel) {
        const char *base = strrchr(path, '/');
        base = base ? base + 1 : path;
        if (!*base)
            return lp_error_set(err, LP_ERR_INVALID_ARG, "not a file name");
        return list_push(list, path, base, true, err);
    }
    lp_status st = list_push(list, path, rel, true, err);
    free(rel);
    return st;
}

static char *join(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    bool slash = la && a[la - 1] != '/' && lb;
    char *s = malloc(la + lb + 2);
    if (!s)
        return NULL;
    memcpy(s, a, la);
    if (slash)
        s[la++] = '/';
    memcpy(s + la, b, lb + 1);
    return s;
}

/* Adds the images under dir; rel_prefix is the directory's path relative to the root. */
static lp_status add_dir(lp_batch_list *list, const char *dir, const char *rel_prefix,
                         unsigned depth, lp_error *err)
{
    if (depth > 64)
        return lp_error_set(err, LP_ERR_INVALID_ARG, "directories nested deeper than 64 levels");
    DIR *d = opendir(dir);
    if (!d)
        return lp_error_set(err, LP_ERR_IO, "cannot read directory: %s", strerror(errno));
    lp_status st = LP_OK;
    struct dirent *e;
    while (st == LP_OK && (e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')  /* ".", "..", hidden files and our own temp files */
            continue;
        char *path = join(dir, e->d_name);
        char *rel = join(rel_prefix, e->d_name);
        if (!path || !rel) {
            st = lp_error_set(err, LP_ERR_NOMEM, "cannot allocate a path");
        } else {
            struct stat sb;
            if (lstat(path, &sb) != 0)
                st = lp_error_set(err, LP_ERR_IO, "cannot stat %s: %s", rel, strerror(errno));
            else if (S_ISDIR(sb.st_mode))
                st = add_dir(list, path, rel, depth + 1, err);
            else if ((S_ISREG(sb.st_mode) || S_ISLNK(sb.st_mode)) && is_image_name(e->d_name))
                st = list_push(list, path, rel, false, err);
        }
        free(path);
        free(rel);
    }
    closedir(d);
    return st;
}

lp_status lp_batch_list_add_path(lp_batch_list *list, const char *path, lp_error *err)
{
    struct stat sb;
    if (stat(path, &sb) != 0)
        return lp_error_set(err, LP_ERR_IO, "cannot stat: %s", strerror(errno));
    if (S_ISDIR(sb.st_mode))
        return add_dir(list, path, "", 0, err);
    return add_file(list, path, err);
}

lp_status lp_batch_list_add_from_file(lp_batch_list *list, const char *list_path, lp_error *err)
{
    bool use_stdin = !strcmp(list_path, "-");
    FILE *f = use_stdin ? stdin : fopen(list_path, "r");
    if (!f)
        return lp_error_set(err, LP_ERR_IO, "cannot open the list: %s", strerror(errno));
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    lp_status st = LP_OK;
    while (st == LP_OK && (len = getline(&line, &cap, f)) >= 0) {
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            line[--len] = '\0';
        if (len == 0 || line[0] == '#')
            continue;
        st = lp_batch_list_add_path(list, line, err);
        if (st != LP_OK) {
            lp_error inner = *err;
            lp_error_clear(err);
            lp_error_set(err, st, "%s: %s", line, lp_error_message(&inner));
        }
    }
    free(line);
    if (!use_stdin)
        fclose(f);
    return st;
}

static int by_rel(const void *a, const void *b)
{
    const lp_batch_item *x = a, *y = b;
    int c = strcmp(x->rel, y->rel);
    return c ? c : strcmp(x->path, y->path);
}

/* Output names ignore the extension: "a.jpg" and "a.png" would both become "a.avif". */
static size_t stem_length(const char *rel)
{
    const char *slash = strrchr(rel, '/');
    const char *dot = strrchr(rel, '.');
    return (dot && (!slash || dot > slash) && dot != rel && dot[-1] != '/') ? (size_t)(dot - rel)
                                                                           : strlen(rel);
}

lp_status lp_batch_list_sort(lp_batch_list *list, lp_error *err)
{
    if (list->count > 1)
        qsort(list->items, list->count, sizeof list->items[0], by_rel);
    /* Same stem => same output. Items with one stem are adjacent unless another name
     * sorts between "a.jpg" and "a.png" (e.g. "a.jpg.x"); compare a small window. */
    for (size_t i = 0; i < list->count; i++) {
        size_t li = stem_length(list->items[i].rel);
        for (size_t j = i + 1; j < list->count && j <= i + 8; j++) {
            size_t lj = stem_length(list->items[j].rel);
            if (li == lj && !memcmp(list->items[i].rel, list->items[j].rel, li))
                return lp_error_set(err, LP_ERR_INVALID_ARG,
                                    "%s and %s would write the same output",
                                    list->items[i].path, list->items[j].path);
        }
    }
    return LP_OK;
}

lp_status lp_batch_list_shard(lp_batch_list *list, unsigned index, unsigned count, lp_error *err)
{
    if (count == 0 || index >= count)
        return lp_error_set(err, LP_ERR_INVALID_ARG, "shard %u/%u: want 0 <= I < N", index, count);
    size_t kept = 0;
    for (size_t i = 0; i < list->count; i++) {
        if (i % count == index) {
            list->items[kept++] = list->items[i];
        } else {
            free(list->items[i].path);
            free(list->items[i].rel);
        }
    }
    list->count = kept;
    return LP_OK;
}

lp_status lp_batch_parse_shard(const char *text, unsigned *index, unsigned *count, lp_error *err)
{
    char *end;
    errno = 0;
    unsigned long i = strtoul(text, &end, 10);
    if (end == text || *end != '/' || errno)
        return lp_error_set(err, LP_ERR_INVALID_ARG, "a shard is I/N, not '%s'", text);
    const char *n_text = end + 1;
    unsigned long n = strtoul(n_text, &end, 10);
    if (end == n_text || *end || errno || n == 0 || n > 1000000 || i >= n)
        return lp_error_set(err, LP_ERR_INVALID_ARG,
                            "a shard is I/N with 0 <= I < N, not '%s'", text);
    *index = (unsigned)i;
    *count = (unsigned)n;
    return LP_OK;
}

char *lp_batch_output_path(const char *outdir, const char *rel, lp_file_format format)
{
    size_t stem = stem_length(rel);
    const char *ext = lp_file_format_extension(format);
    ext = ext ? ext : "";
    size_t lo = strlen(outdir);
    char *s = malloc(lo + 1 + stem + 1 + strlen(ext) + 1);
    if (!s)
        return NULL;
    memcpy(s, outdir, lo);
    if (lo && outdir[lo - 1] != '/')
        s[lo++] = '/';
    memcpy(s + lo, rel, stem);
    s[lo + stem] = '\0';
    if (*ext) {
        s[lo + stem] = '.';
        strcpy(s + lo + stem + 1, ext);
    }
    return s;
}

lp_status lp_batch_make_parent_dirs(const char *path, lp_error *err)
{
    char *copy = strdup(path);
    if (!copy)
        return lp_error_set(err, LP_ERR_NOMEM, "cannot allocate a path");
    char *last = strrchr(copy, '/');
    if (!last || last == copy) {
        free(copy);
        return LP_OK;
    }
    *last = '\0';
    for (char *p = copy + 1; ; p++) {
        bool end = *p == '\0';
        if (*p == '/' || end) {
            *p = '\0';
            if (mkdir(copy, 0777) != 0 && errno != EEXIST) {
                int e = errno;
                lp_status st = lp_error_set(err, LP_ERR_IO, "cannot create directory %s: %s",
                                            copy, strerror(e));
                free(copy);
                return st;
            }
            struct stat sb;
            if (stat(copy, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
                lp_status st = lp_error_set(err, LP_ERR_IO, "cannot create directory %s: %s",
                                            copy, strerror(ENOTDIR));
                free(copy);
                return st;
            }
            if (end)
                break;
            *p = '/';
        }
    }
    free(copy);
    return LP_OK;
}
