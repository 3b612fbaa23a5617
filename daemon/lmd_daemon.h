/*
 * lmd_daemon.h -- running the server on a loaded configuration.
 */

#ifndef LMD_DAEMON_H
#define LMD_DAEMON_H

#include "lmd_conf.h"

/* Serves until stopped.  conf_file and prefix are kept for reloads.
 * Returns the process exit status.  Takes over the caller's reference
 * on conf only through the cycle it builds; the caller still unrefs. */
int lmd_daemon_run(struct lmd_conf *conf, const char *conf_file,
    const char *prefix);

#endif /* LMD_DAEMON_H */
