/* lmd_model_config.c: placeholder, being written. */
