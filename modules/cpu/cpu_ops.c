/* cpu_ops.c: placeholder, being written. */
