/*
 * lmd_cmd_serve.c -- placeholder: `lmd serve MODEL_DIR`.
 */

#include "lmd_common.h"
