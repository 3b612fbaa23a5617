/*
 * lmd_common.h -- what every file of lmd shares, engine/ and daemon/
 * alike: the one closed set of return codes and the error buffer size.
 * daemon/lmd_core.h includes it; engine/ files include it directly (they
 * never include daemon/ headers).
 */

#ifndef LMD_COMMON_H
#define LMD_COMMON_H

/* The one closed set of return codes (STYLE.md #3).  HTTP handlers may also
 * return an HTTP status (>= 100). */
#define LMD_OK         0
#define LMD_ERROR     -1
#define LMD_AGAIN     -2    /* would block: call again when woken */
#define LMD_DECLINED  -3    /* not mine: let the next handler try */
#define LMD_DONE      -4    /* finished: nothing more to do */

/* Leaf helpers report failures into a caller's buffer of this size. */
#define LMD_ERR_LEN   512

#endif /* LMD_COMMON_H */
