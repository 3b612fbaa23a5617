/* cpu_module.c: placeholder, being written. */
