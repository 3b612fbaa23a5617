/*
 * lmd_cmd_tokenize.c -- `lmd tokenize` (being written).
 */

#include "lmd_core.h"
#include "lmd_cmd.h"


int
lmd_cmd_tokenize(int argc, char **argv)
{
    lmd_unused(argc);
    lmd_unused(argv);
    fprintf(stderr, "lmd: \"lmd tokenize\" is not available in this version "
            "yet\n");
    return 2;
}
