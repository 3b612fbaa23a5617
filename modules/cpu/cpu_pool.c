/* cpu_pool.c: placeholder, being written. */
