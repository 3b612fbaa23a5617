/*
 * lmd_kv_cache.c -- placeholder: the KV block manager and prefix cache
 * (lmd_kv_cache.h).
 */

#include "lmd_common.h"
