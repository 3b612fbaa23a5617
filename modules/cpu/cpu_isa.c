/* cpu_isa.c: placeholder, being written. */
