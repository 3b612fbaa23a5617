/* cpu_weight.c: placeholder, being written. */
