/* lmd_model_weights.c: placeholder, being written. */
