/*
 * lmd_file.h -- reading a small file (a config, an index) whole.
 */

#ifndef LMD_FILE_H
#define LMD_FILE_H

#include <stddef.h>

/* Reads path (a regular file of at most max bytes) into a malloc'd,
 * NUL-terminated buffer; *len gets its size.  NULL with err "PATH: ..."
 * on failure; a file that cannot be opened leaves errno as open() set
 * it (ENOENT: absent). */
char *lmd_file_read(const char *path, size_t max, size_t *len, char *err,
    size_t errlen);

#endif /* LMD_FILE_H */
