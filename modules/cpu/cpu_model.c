/* cpu_model.c: placeholder, being written. */
