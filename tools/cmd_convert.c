/* cmd_convert.c - placeholder; the real command lands with the foundation issue. */
#include "cli.h"

int cmd_convert(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    cli_error("convert", "not implemented yet");
    return LP_EXIT_FAILURE;
}
