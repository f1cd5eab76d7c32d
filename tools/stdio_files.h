/*
 * stdio_files.h - `-` for stdin and stdout in the commands' file arguments.
 */
#ifndef LEANPIX_STDIO_FILES_H
#define LEANPIX_STDIO_FILES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The name "-". */
bool stdio_is_dash(const char *path);

/* Copies stdin into an unlinked temp file in temp_dir (NULL: /var/tmp), refusing more than
 * max_bytes (0: no limit), and writes into path a name that opens it
 * (/proc/self/fd/N). Returns the descriptor to close when done, or -1 after a one-line
 * error. */
int stdio_spool_stdin(const char *temp_dir, uint64_t max_bytes, char *path, size_t size);

/* What an output "-" is written to. */
#define STDIO_STDOUT_PATH "/dev/stdout"

#endif
