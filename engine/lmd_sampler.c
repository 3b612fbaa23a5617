/* lmd_sampler.c: placeholder, being written. */
