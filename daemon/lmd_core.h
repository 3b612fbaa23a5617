/*
 * lmd_core.h -- the umbrella header of the daemon's core layer.
 *
 * Every daemon/ file includes this first.  It pulls in the build's feature
 * header, the system headers the core uses everywhere, the closed set of
 * return codes and the small core types (strings, pools, logs, config).
 * Includes point only down: core headers never include event or http ones.
 */

#ifndef LMD_CORE_H
#define LMD_CORE_H

#include "lmd_config.h"     /* written by configure: LMD_HAVE_*, paths */

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include "lmd_common.h"  /* LMD_OK ... LMD_DONE, LMD_ERR_LEN */

#define LMD_VERSION   "0.1.0"
#define LMD_NAME      "lmd"

#define lmd_nelems(a)         (sizeof(a) / sizeof((a)[0]))
#define lmd_min(a, b)         ((a) < (b) ? (a) : (b))
#define lmd_max(a, b)         ((a) > (b) ? (a) : (b))
#define lmd_unused(x)         ((void) (x))

#if defined(__GNUC__)
#define LMD_PRINTF(f, a)      __attribute__((format(printf, f, a)))
#else
#define LMD_PRINTF(f, a)
#endif

/* A counted string that does not own its bytes and need not be
 * NUL-terminated (the HTTP parser hands out such slices). */
struct lmd_str {
    size_t       len;
    const char  *data;
};

#define lmd_string(s)   { sizeof(s) - 1, (s) }
#define lmd_null_string { 0, NULL }

#include "lmd_pool.h"
#include "lmd_strings.h"
#include "lmd_log.h"

#endif /* LMD_CORE_H */
