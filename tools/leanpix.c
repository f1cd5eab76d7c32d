/*
 * leanpix.c - the CLI's entry point: a table of subcommands, each in tools/cmd_NAME.c.
 *
 * `leanpix CMD --help` is handled by each command; `leanpix --help` lists the table.
 * Adding a command is one line here and one file.
 */
#include "cli.h"

#include <string.h>

static const lp_command commands[] = {
    {"convert", "re-encode one image to AVIF, JPEG, WebP or PNG, in strips", cmd_convert},
    {"batch", "re-encode many images under a memory budget", cmd_batch},
    {"serve", "render reference cards over HTTP in bounded memory", cmd_serve},
    {"profile", "record a process tree's memory over time (RSS, PSS, faults)", cmd_profile},
};

static void usage(FILE *f)
{
    fprintf(f, "usage: leanpix COMMAND [options]\n\n"
               "leanpix re-encodes images in strips with a small, predictable memory footprint.\n\n"
               "commands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %-9s %s\n", commands[i].name, commands[i].summary);
    fprintf(f, "\noptions:\n"
               "  -h, --help             this text\n"
               "  --version              print \"leanpix VERSION\"\n");
    fprintf(f, "\n`leanpix COMMAND --help` describes each command.\n"
               "`leanpix --version` prints %s.\n",
            LEANPIX_VERSION);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return LP_EXIT_USAGE;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return LP_EXIT_OK;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("leanpix %s\n", LEANPIX_VERSION);
        return LP_EXIT_OK;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (!strcmp(argv[1], commands[i].name))
            return commands[i].run(argc - 1, argv + 1);
    cli_error(NULL, "unknown command '%s' (see leanpix --help)", argv[1]);
    return LP_EXIT_USAGE;
}
