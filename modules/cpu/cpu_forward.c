/* cpu_forward.c: placeholder, being written. */
