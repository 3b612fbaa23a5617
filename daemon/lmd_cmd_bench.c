/*
 * lmd_cmd_bench.c -- placeholder: `lmd bench URL`.
 */

#include "lmd_common.h"
