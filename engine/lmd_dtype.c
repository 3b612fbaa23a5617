/* lmd_dtype.c: placeholder, being written. */
