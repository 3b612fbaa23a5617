/*
 * lmd_gen.c -- placeholder: generation requests (lmd_gen.h).
 */

#include "lmd_common.h"
