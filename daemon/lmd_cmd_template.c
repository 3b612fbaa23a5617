/*
 * lmd_cmd_template.c -- `lmd template` (being written).
 */

#include "lmd_core.h"
#include "lmd_cmd.h"


int
lmd_cmd_template(int argc, char **argv)
{
    lmd_unused(argc);
    lmd_unused(argv);
    fprintf(stderr, "lmd: \"lmd template\" is not available in this version "
            "yet\n");
    return 2;
}
