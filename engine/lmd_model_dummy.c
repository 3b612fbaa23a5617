/* lmd_model_dummy.c: placeholder, being written. */
